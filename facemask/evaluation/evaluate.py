"""`facemask evaluate`: the whole pipeline on Pascal VOC photos, scored face by face."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from facemask.annotate import annotate
from facemask.config import CLASS_NAMES, CLASS_TITLES, DEFAULT_THRESHOLD
from facemask.errors import FacemaskError
from facemask.evaluation.dataset import images_beside, load_voc_dir
from facemask.evaluation.metrics import average_precision, detection_report, pr_curve
from facemask.export import image_record
from facemask.imageio import load_image
from facemask.vision.pipeline import Pipeline
from facemask.wording import plural


def run_pipeline(pipeline: Pipeline, annotations, progress=None):
    """Detections for every photo, with every candidate face the detector gives kept (threshold 0:
    AP needs the low scores too)."""
    results = []
    for k, ann in enumerate(annotations):
        image = load_image(ann.image_path)
        results.append((image, pipeline.detect(image, threshold=0.0)))
        if progress:
            progress(k + 1, len(annotations))
    return results


def load_predictions(path: Path) -> list[dict]:
    """The records of a detections file: a JSON list (`facemask detect --json`) or one record per line
    (`--jsonl`). Each record needs `image` and `faces`, each face `box`, `label` and `score`."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise FacemaskError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise FacemaskError(f"{path}: neither a JSON list nor JSON lines ({exc.msg}, line {exc.lineno}).") from None
    if isinstance(data, dict):
        data = [data]
    for k, rec in enumerate(data if isinstance(data, list) else [None]):
        if not isinstance(rec, dict) or "image" not in rec or not isinstance(rec.get("faces"), list):
            raise FacemaskError(f"{path}: entry {k + 1} is not a picture's record (it needs 'image' and 'faces').")
        for face in rec["faces"]:
            if not (isinstance(face, dict) and {"box", "label", "score"} <= set(face)
                    and face["label"] in CLASS_NAMES and len(face["box"]) == 4):
                raise FacemaskError(f"{path}: a face of {rec['image']} needs 'box' (4 numbers), 'score' and a "
                                    f"'label' among {', '.join(CLASS_NAMES)}.")
    return data


def _photo_key(name: str) -> str:
    return Path(str(name).replace("\\", "/")).stem


def score_records(records: list[dict], annotations, threshold: float = DEFAULT_THRESHOLD) -> dict:
    """VOC AP@0.5 per class and face size of detections records, each face ranked by its exported
    `score` under its own `label` (as any VOC evaluator does); recall, precision and mask-status
    accuracy of the faces whose P(face) (`face_probability`, else `score`) is >= threshold.

    Annotated photos missing from the records, and records of photos with no annotation, are left out
    and counted in the report."""
    by_photo = {_photo_key(rec["image"]): rec for rec in records}
    scored = [ann for ann in annotations if _photo_key(ann.image_path) in by_photo]
    gts, preds, face_probabilities, labels = [], [], [], []
    for ann in scored:
        faces = by_photo[_photo_key(ann.image_path)]["faces"]
        boxes = np.array([f["box"] for f in faces], np.float32).reshape(-1, 4)
        ids = np.array([CLASS_NAMES.index(f["label"]) for f in faces], np.int64)
        scores = np.array([f["score"] for f in faces], np.float32)
        ranking = np.zeros((len(faces), len(CLASS_NAMES)), np.float32)
        ranking[np.arange(len(faces)), ids] = scores
        gts.append((ann.xyxy, ann.class_id))
        preds.append((boxes, ranking))
        face_probabilities.append(np.array([f.get("face_probability", f["score"]) for f in faces], np.float32))
        labels.append(ids)
    report = detection_report(gts, preds, face_probabilities, labels, threshold)
    report.update({"images": len(scored), "annotated_not_predicted": len(annotations) - len(scored),
                   "predicted_not_annotated": len(set(by_photo) - {_photo_key(a.image_path) for a in annotations}),
                   "ranked_by": "score"})
    report["_curves"] = (gts, preds)
    return report


def evaluate_predictions(predictions: Path, annotations_dir: Path, split: str | None = None,
                         out_json: Path | None = None, plots_dir: Path | None = None) -> dict:
    """`facemask evaluate --predictions FILE --annotations DIR`: score any detections file of our format."""
    annotations = load_voc_dir(images_beside(annotations_dir), annotations_dir, split)
    report = score_records(load_predictions(predictions), annotations)
    report.update({"predictions": str(predictions), "annotations_dir": str(annotations_dir), "split": split or "all"})
    if report["images"] == 0:
        raise FacemaskError(f"{predictions}: none of its pictures has an annotation in {annotations_dir} "
                            "(pictures and annotation files are matched by file name).")
    _write(report, out_json, plots_dir)
    return report


def evaluate(pipeline: Pipeline, images_dir: Path, annotations_dir: Path, split: str | None = None,
             out_json: Path | None = None, plots_dir: Path | None = None, progress=None) -> dict:
    """The pipeline on annotated photos, scored the way a user's own evaluation of `facemask detect
    --threshold 0 --json` would be (`score_records`)."""
    annotations = load_voc_dir(images_dir, annotations_dir, split)
    started = time.perf_counter()
    results = run_pipeline(pipeline, annotations, progress)
    seconds = time.perf_counter() - started
    records = [image_record(str(ann.image_path), image.shape[1], image.shape[0], dets)
               for ann, (image, dets) in zip(annotations, results)]
    report = score_records(records, annotations, pipeline.threshold)
    report.update({
        "detector": pipeline.detector_name, "classifier": pipeline.classifier.path.name,
        "backend": pipeline.classifier.backend, "split": split or "all",
        "images_dir": str(images_dir), "seconds_per_image": round(seconds / max(len(annotations), 1), 4),
    })
    _write(report, out_json, plots_dir)
    if plots_dir:
        write_examples(annotations, results, pipeline.threshold, Path(plots_dir))
    return report


def _write(report: dict, out_json: Path | None, plots_dir: Path | None) -> None:
    gts, preds = report.pop("_curves")
    if out_json:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(out_json).write_text(json.dumps(report, indent=2))
    if plots_dir:
        from facemask.evaluation.report import write_pr_curves

        curves = {}
        for cid, name in enumerate(CLASS_NAMES):
            rec, prec, _, _ = pr_curve(gts, preds, cid)
            curves[name] = (rec, prec, average_precision(rec, prec) if len(rec) else 0.0)
        Path(plots_dir).mkdir(parents=True, exist_ok=True)
        write_pr_curves(curves, Path(plots_dir) / "pr_curves.png")


def write_examples(annotations, results, threshold: float, plots_dir: Path, count: int = 3) -> None:
    """Side-by-side ground truth / pipeline for the best and worst photos (by face-level errors)."""
    import cv2

    from facemask.detections import iou_matrix

    scored = []
    for ann, (image, dets) in zip(annotations, results):
        dets = dets[dets.face_probability >= threshold]
        ious = iou_matrix(dets.xyxy, ann.xyxy)
        correct = 0
        for i in range(len(dets)):
            j = int(np.argmax(ious[i])) if ious.shape[1] else -1
            correct += int(j >= 0 and ious[i, j] >= 0.5 and dets.class_id[i] == ann.class_id[j])
        errors = len(ann.xyxy) + len(dets) - 2 * correct
        if len(ann.xyxy) >= 2:
            scored.append((errors / len(ann.xyxy), ann, image, dets))
    scored.sort(key=lambda s: s[0])
    from facemask.detections import Detections

    for kind, picks in (("right", scored[:count]), ("wrong", scored[-count:][::-1])):
        rows = []
        for _, ann, image, dets in picks:
            truth = Detections(xyxy=ann.xyxy, confidence=np.ones(len(ann.xyxy)), class_id=ann.class_id,
                               face_score=np.ones(len(ann.xyxy)),
                               probabilities=np.eye(len(CLASS_NAMES))[ann.class_id])
            left, right = annotate(image, truth), annotate(image, dets)
            scale = 420 / image.shape[1]
            pair = np.concatenate([left, np.full((image.shape[0], 8, 3), 255, np.uint8), right], axis=1)
            rows.append(cv2.resize(pair, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
        if rows:
            width = max(r.shape[1] for r in rows)
            rows = [cv2.copyMakeBorder(r, 0, 8, 0, width - r.shape[1], cv2.BORDER_CONSTANT, value=(255,) * 3)
                    for r in rows]
            cv2.imwrite(str(plots_dir / f"eval_examples_{kind}.png"), np.concatenate(rows))


def format_report(report: dict) -> str:
    """A plain-text table of the report."""
    source = (f"detector {report['detector']}, classifier {report['classifier']} ({report['backend']})"
              if "detector" in report else f"detections from {report['predictions']}")
    lines = [f"{plural(report['images'], 'photo')} ({report['split']}), {source}, ranked by score",
             "", f"{'AP@0.5':<22}" + "".join(f"{b:>18}" for b in report["ap"])]
    for key in list(CLASS_NAMES) + ["mean(with,without)"]:
        cells = []
        for bucket in report["ap"]:
            v = report["ap"][bucket][key]
            n = report["n_gt"][bucket].get(key)
            cells.append(f"{'-' if v is None else f'{v:.3f}'}{'' if n is None else f' ({n})':>8}".rjust(18))
        lines.append(f"{CLASS_TITLES.get(key, key):<22}" + "".join(cells))
    op = report["operating_point"]
    lines += ["", f"at threshold {op['threshold']}: recall {op['recall']:.3f} (faces < 32 px: "
              f"{op['recall_small']:.3f}), precision {op['precision']:.3f}, "
              f"mask-status accuracy on {plural(op['matched_faces'], 'matched face')} {op['status_accuracy']:.3f}",
              ]
    if "recall_by_class" in op:  # reports written before it was measured have no such row
        lines.append(f"recall by annotated class at threshold {op['threshold']}:")
        for bucket, recalls in op["recall_by_class"].items():
            counts = op["faces_by_class"][bucket]
            lines.append(f"  {bucket + ' faces:':<24}" + ", ".join(
                f"{CLASS_TITLES.get(name, name).lower()} {'-' if r is None else f'{r:.3f}'} ({counts[name]})"
                for name, r in recalls.items()))
    if "seconds_per_image" in report:
        lines.append(f"{report['seconds_per_image'] * 1000:.0f} ms per photo")
    if report.get("annotated_not_predicted"):
        lines.append(f"{plural(report['annotated_not_predicted'], 'annotated photo')} not in the detections: "
                     "not scored")
    return "\n".join(lines)
