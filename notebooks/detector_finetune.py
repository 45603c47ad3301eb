"""Does a fine-tuned face detector find the faces the stock YuNet misses, masked faces above all?

The detector alone (no classifier), on the photos of cross-validation fold I of K (both collections), which a
detector trained with `facemask train --detector-only --fold I/K` never saw. Photo mode runs the detector as
the pipeline does on photos; live mode first fits each photo into a camera frame (640x480 for the dev
collection, 1280x720 for the second: config.LIVE_FRAMES) and runs the one pass of the live source that films
such frames (config.LIVE_FRAME_MODES, sized by config.LIVE_MAX_SIDE), or of --live-side.
Per collection and mode: face AP (every annotated face, ranked by the detector's score, IoU 0.5), and recall
of each annotated class at the score where precision on these photos is still >= --precision.

Run: python notebooks/detector_finetune.py 0 3 stock .cache/det_cv/s_f0/face_detector.onnx [--live-side 640]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facemask import config  # noqa: E402
from facemask.config import CLASS_NAMES  # noqa: E402
from facemask.detections import iou_matrix  # noqa: E402
from facemask.evaluation.metrics import average_precision  # noqa: E402
from facemask.imageio import fit_into_frame, load_image  # noqa: E402
from facemask.training.photos import training_photos  # noqa: E402
from facemask.vision.detectors import YuNetDetector  # noqa: E402

FRAMES = config.LIVE_FRAMES


def detector(weights: str, live: str | None, live_side: int | None):
    settings = dict(config.DETECTOR_SETTINGS["yunet"])
    if weights != "stock":  # a fine-tuned network learns the annotated boxes' shape itself
        settings["box_scale"] = (0.0, 0.0, 1.0, 1.0)
    if live:
        settings.update(config.live_detector_settings(live))
        if live_side:
            settings["max_side"] = live_side
    return YuNetDetector(weights=None if weights == "stock" else weights, threshold=0.05, **settings)


def run(det, photos, live: bool):
    """Per photo: (annotated boxes, classes, found boxes, scores), in the photo's own pixels."""
    out = []
    for ann in photos:
        image = load_image(ann.image_path)
        factor = 1.0
        if live:
            image, factor = fit_into_frame(image, FRAMES[ann.source])
        found = det.find(image)
        out.append((ann.xyxy, ann.class_id, found.boxes / factor, found.scores))
    return out


def score(results, precision_floor: float) -> dict:
    records, totals = [], {}
    for gt, ids, boxes, scores in results:
        order = np.argsort(-scores)
        ious = iou_matrix(boxes[order], gt)
        taken = np.full(len(gt), -1.0)
        for k, i in enumerate(order):
            free = np.flatnonzero((taken < 0) & (ious[k] >= 0.5))
            if len(free):
                j = free[np.argmax(ious[k, free])]
                taken[j] = scores[i]
                records.append((scores[i], 1, j, id(gt)))
            else:
                records.append((scores[i], 0, -1, id(gt)))
        widths = gt[:, 2] - gt[:, 0]
        for j in range(len(gt)):
            totals.setdefault("faces", []).append((taken[j], int(ids[j]), widths[j]))
    records.sort(key=lambda r: -r[0])
    hits = np.array([r[1] for r in records])
    tp, fp = np.cumsum(hits), np.cumsum(1 - hits)
    n = len(totals["faces"])
    recall, precision = tp / n, tp / np.maximum(tp + fp, 1)
    faces = np.array(totals["faces"], dtype=float)
    large = faces[:, 2] >= 32
    ok = np.flatnonzero(precision >= precision_floor)
    cut = records[ok[-1]][0] if len(ok) else 1.0
    report = {"face_ap": average_precision(recall, precision), "faces": n, "threshold": float(cut)}
    # face AP of faces >= 32 px: smaller faces are neither counted nor held against
    report["recall"] = float((faces[:, 0] >= cut).mean())
    for name, mask in (("all", np.ones(len(faces), bool)), (">=32", large)):
        report[f"recall_{name}"] = {c: (float((faces[mask & (faces[:, 1] == k), 0] >= cut).mean()), int(
            (mask & (faces[:, 1] == k)).sum())) for k, c in enumerate(CLASS_NAMES) if (mask & (faces[:, 1] == k)).any()}
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("fold", type=int)
    parser.add_argument("folds", type=int)
    parser.add_argument("detectors", nargs="+", help="'stock' or a fine-tuned face_detector.onnx")
    parser.add_argument("--live-side", type=int, default=None)
    parser.add_argument("--precision", type=float, default=0.9)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    _, held_out = training_photos("train+val", (args.fold, args.folds))
    table = {}
    for weights in args.detectors:
        for mode in ("photo", "live"):
            for source in FRAMES:
                det = detector(weights, config.LIVE_FRAME_MODES[source] if mode == "live" else None, args.live_side)
                photos = [a for a in held_out if a.source == source]
                report = score(run(det, photos, mode == "live"), args.precision)
                table[f"{weights} | {mode} | {source}"] = report
                r = report["recall_>=32"]
                print(f"{weights:<45} {mode:<5} {source:<5} face AP {report['face_ap']:.3f}  recall "
                      f"{report['recall']:.3f} at score {report['threshold']:.2f}  >=32 px: " +
                      ", ".join(f"{c} {v:.3f} ({k})" for c, (v, k) in r.items()), flush=True)
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
