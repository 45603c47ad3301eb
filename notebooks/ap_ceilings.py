"""What limits the cross-validated figures: the boxes on no annotated face, the classifier's labels, or the
face detector's scores? Read from the CLI's own out-of-fold detections (notebooks/cross_validate.py), per source:

- AP ceilings: the same file scored again with every box on no annotated face removed (IoU < 0.1 or < 0.3
  with every face: what no real filter reaches), with every box on a face given that face's annotated label
  (a perfect classifier, ranked by P(face)), and with both;
- mask status by face size: the confusion of the annotated label with the shown one, at the threshold;
- the hidden faces: annotated faces with a candidate box (IoU >= 0.5) whose P(face) is under the threshold,
  split by what put them there, the detector's calibrated score or the classifier's not-a-face factor
  (P(face) = calibrated score x (1 - not_a_face)); needs the fold models' model_info.json;
- optionally, the range of the exported figures over resamples of the photos (--bootstrap N): how far
  other photos of the same kind could move them, before the luck of training;
- optionally a contact sheet of the faces shown with another label than their annotated one, drawn at
  random (seeded), each tile marked TRUE>SHOWN and the shown label's probability (W, N, I: with mask,
  without mask, worn incorrectly); with --every-face, annotated faces drawn at random and their annotated
  label, to see how often the annotation itself is wrong.

Run: python notebooks/ap_ceilings.py .cache/cv/dev.json:dev .cache/cv/extra.json:extra
         [--cv .cache/cv --folds 3] [--bootstrap 200]
         [--sheet OUT_DIR --min-width 64 --tiles 48 --seed 5 --only LABEL --every-face]
"""
import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from facemask import config
from facemask.detections import iou_matrix
from facemask.evaluation.dataset import load_source
from facemask.evaluation.evaluate import _photo_key, load_predictions, score_records
from facemask.imageio import load_image
from facemask.vision.calibration import apply as calibrate

parser = argparse.ArgumentParser()
parser.add_argument("files", nargs="+", help="PATH:SOURCE, e.g. .cache/cv/dev.json:dev")
parser.add_argument("--threshold", type=float, default=config.DEFAULT_THRESHOLD)
parser.add_argument("--cv", type=Path, default=config.CACHE_DIR / "cv", help="folder of the fold models")
parser.add_argument("--folds", type=int, default=3)
parser.add_argument("--sheet", type=Path, help="write SOURCE_status_errors.png here")
parser.add_argument("--min-width", type=float, default=64, help="faces on the sheet: at least this wide (px)")
parser.add_argument("--tiles", type=int, default=48)
parser.add_argument("--every-face", action="store_true",
                    help="on the sheet: annotated faces drawn at random, not only those shown with another label")
parser.add_argument("--only", choices=config.CLASS_NAMES, help="on the sheet: only faces annotated or shown as this")
parser.add_argument("--seed", type=int, default=5)
parser.add_argument("--bootstrap", type=int, default=0,
                    help="also resample the photos this many times: the 2.5-97.5 %% range of each figure")
args = parser.parse_args()
SHORT = {"with_mask": "W", "without_mask": "N", "mask_worn_incorrectly": "I"}
SIZES = ((0, 32), (32, 64), (64, 128), (128, 1e9))


def figures(records, annotations) -> str:
    report = score_records(records, annotations, args.threshold)
    ap, op = report["ap"], report["operating_point"]
    return (f"mean AP {ap['all']['mean(with,without)']:.3f}, "
            f">= 32 px {ap['large (>=32 px)']['mean(with,without)']:.3f}, "
            f"worn incorrectly {ap['all']['mask_worn_incorrectly']:.3f}; at {args.threshold}: recall "
            f"{op['recall']:.3f}, precision {op['precision']:.3f}, status {op['status_accuracy']:.3f}")


def bootstrap(records, annotations) -> str:
    rng = np.random.default_rng(args.seed)
    rows = []
    for _ in range(args.bootstrap):
        drawn = [annotations[i] for i in rng.integers(0, len(annotations), len(annotations))]
        report = score_records(records, drawn, args.threshold)
        ap, op = report["ap"], report["operating_point"]
        rows.append((ap["all"]["mean(with,without)"], ap["large (>=32 px)"]["mean(with,without)"],
                     ap["all"]["mask_worn_incorrectly"], op["recall"], op["precision"], op["status_accuracy"]))
    lo, hi = np.percentile(np.array(rows), [2.5, 97.5], axis=0)
    names = ("mean AP", ">= 32 px", "worn incorrectly", "recall", "precision", "status")
    return ", ".join(f"{n} {a:.3f}-{b:.3f}" for n, a, b in zip(names, lo, hi))


def rewritten(records, annotations, change):
    """`records` with change(face, its IoU with every annotated face, the annotation) applied to each face;
    a face it returns None for is dropped."""
    by_photo = {_photo_key(a.image_path): a for a in annotations}
    out = []
    for rec in records:
        ann = by_photo.get(_photo_key(rec["image"]))
        faces = rec["faces"]
        if ann is None or not faces:
            out.append(rec)
            continue
        ious = (iou_matrix(np.array([f["box"] for f in faces], np.float64), np.asarray(ann.xyxy, np.float64))
                if len(ann.xyxy) else np.zeros((len(faces), 1)))
        kept = [change(f, ious[i], ann) for i, f in enumerate(faces)]
        out.append({**rec, "faces": [f for f in kept if f is not None]})
    return out


def true_label(face, ious, ann):
    if ious.max() < 0.5:
        return face
    label = config.CLASS_NAMES[int(ann.class_id[int(ious.argmax())])]
    return {**face, "label": label, "score": face.get("face_probability", face["score"])}


def fold_calibrations(source):
    """{photo key: that photo's fold model's face calibration}, or {} without the fold models."""
    out = {}
    for i in range(args.folds):
        info = args.cv / f"fold{i}of{args.folds}" / config.MODEL_INFO.name
        if not info.exists():
            return {}
        calibration = json.loads(info.read_text())["face_calibration"]
        for ann in load_source(source, "train+val", fold=("in", i, args.folds)):
            out[_photo_key(ann.image_path)] = calibration
    return out


def faces_matched(records, annotations):
    """(annotation, index of the face in it, its candidate or None) for each annotated face: the candidate of
    highest P(face) among those that overlap it by IoU >= 0.5."""
    by_photo = {_photo_key(r["image"]): r for r in records}
    for ann in annotations:
        rec = by_photo.get(_photo_key(ann.image_path))
        faces = rec["faces"] if rec else []
        boxes = np.array([f["box"] for f in faces], np.float64).reshape(-1, 4)
        ious = iou_matrix(np.asarray(ann.xyxy, np.float64), boxes) if len(boxes) and len(ann.xyxy) else None
        for g in range(len(ann.xyxy)):
            on = np.flatnonzero(ious[g] >= 0.5) if ious is not None else []
            best = max(on, key=lambda j: faces[j]["face_probability"]) if len(on) else None
            yield ann, g, (faces[best] if best is not None else None)


def status_by_size(records, annotations):
    shown = rewritten(records, annotations, lambda f, i, a: f if f["face_probability"] >= args.threshold else None)
    confusion = {size: np.zeros((3, 3), int) for size in SIZES}
    errors = []
    for ann, g, face in faces_matched(shown, annotations):
        width = ann.xyxy[g][2] - ann.xyxy[g][0]
        if args.every_face and width >= args.min_width:
            errors.append((ann, g, face))
        if face is None:
            continue
        size = next(s for s in SIZES if s[0] <= width < s[1])
        true = int(ann.class_id[g])
        confusion[size][true, config.CLASS_NAMES.index(face["label"])] += 1
        pair = (config.CLASS_NAMES[true], face["label"])
        if (not args.every_face and pair[0] != pair[1] and width >= args.min_width
                and (args.only is None or args.only in pair)):
            errors.append((ann, g, face))
    return confusion, errors


def hidden_faces(records, annotations, calibrations):
    rows = []
    for ann, g, face in faces_matched(records, annotations):
        if face is None or face["face_probability"] >= args.threshold:
            continue
        calibrated = float(calibrate(np.array([face["detector_score"]], np.float32),
                                     calibrations[_photo_key(ann.image_path)], config.DEFAULT_DETECTOR)[0])
        rows.append((ann.xyxy[g][2] - ann.xyxy[g][0], calibrated))
    rows = np.array(rows).reshape(-1, 2)
    by_detector = int((rows[:, 1] < args.threshold).sum())
    return (f"{len(rows)} faces boxed but under {args.threshold} ({int((rows[:, 0] < 32).sum())} under 32 px): "
            f"{by_detector} by the detector's calibrated score alone, "
            f"{len(rows) - by_detector} by the not-a-face factor")


def sheet(errors, path):
    rng = np.random.default_rng(args.seed)
    pick = sorted(rng.choice(len(errors), min(args.tiles, len(errors)), replace=False))
    tiles = []
    for k in pick:
        ann, g, face = errors[k]
        x1, y1, x2, y2 = ann.xyxy[g]
        side, cx, cy = max(x2 - x1, y2 - y1) * 1.3, (x1 + x2) / 2, (y1 + y2) / 2
        image = load_image(ann.image_path)
        crop = image[int(max(cy - side / 2, 0)):int(cy + side / 2), int(max(cx - side / 2, 0)):int(cx + side / 2)]
        tile = cv2.resize(crop, (128, 128), interpolation=cv2.INTER_AREA)
        true = SHORT[config.CLASS_NAMES[int(ann.class_id[g])]]
        text = (f"{len(tiles)} {true}" if args.every_face else
                f"{len(tiles)} {true}>{SHORT[face['label']]} {face['label_probability']:.2f}")
        cv2.putText(tile, text, (2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 255, 255), 1)
        tiles.append(tile)
    while len(tiles) % 8:
        tiles.append(np.zeros((128, 128, 3), np.uint8))
    cv2.imwrite(str(path), np.vstack([np.hstack(tiles[i:i + 8]) for i in range(0, len(tiles), 8)]))


for argument in args.files:
    path, source = argument.rsplit(":", 1)
    annotations = load_source(source)
    records = load_predictions(Path(path))
    print(f"== {source} ({path})")
    print(f"  as exported:                                   {figures(records, annotations)}")
    for iou in (0.1, 0.3):
        gone = rewritten(records, annotations, lambda f, i, a, iou=iou: f if i.max() >= iou else None)
        print(f"  boxes under IoU {iou} with every face removed:  {figures(gone, annotations)}")
    if args.bootstrap:
        print(f"  {args.bootstrap} resamples of the photos, 2.5-97.5 %: {bootstrap(records, annotations)}")
    relabelled = rewritten(records, annotations, true_label)
    print(f"  every box on a face given its annotated label: {figures(relabelled, annotations)}")
    both = rewritten(relabelled, annotations, lambda f, i, a: f if i.max() >= 0.1 else None)
    print(f"  both:                                          {figures(both, annotations)}")
    confusion, errors = status_by_size(records, annotations)
    for (lo, hi), m in confusion.items():
        name = f"{lo}-{hi:.0f} px" if hi < 1e9 else f">= {lo} px"
        print(f"  status {name:>11}: {m.sum():4d} faces, accuracy {np.trace(m) / max(m.sum(), 1):.3f}; "
              f"annotated (W, N, I) x shown (W, N, I) {m.tolist()}")
    calibrations = fold_calibrations(source)
    if calibrations:
        print("  " + hidden_faces(records, annotations, calibrations))
    if args.sheet:
        args.sheet.mkdir(parents=True, exist_ok=True)
        out = args.sheet / f"{source}_{'faces' if args.every_face else 'status_errors'}.png"
        sheet(errors, out)
        what = "annotated" if args.every_face else "shown with another label"
        print(f"  {len(errors)} faces >= {args.min_width:.0f} px {what}; "
              f"{min(args.tiles, len(errors))} drawn (seed {args.seed}) in {out}")
