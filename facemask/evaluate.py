"""`facemask evaluate`: the whole pipeline on Pascal VOC photos, scored face by face."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from facemask.annotate import annotate
from facemask.config import CLASS_NAMES
from facemask.dataset import load_voc_dir
from facemask.imageio import load_image
from facemask.metrics import average_precision, detection_report, pr_curve
from facemask.pipeline import Pipeline


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


def evaluate(pipeline: Pipeline, images_dir: Path, annotations_dir: Path, split: str | None = None,
             out_json: Path | None = None, plots_dir: Path | None = None, progress=None) -> dict:
    """AP@0.5 per class and size, recall/precision at the operating threshold, status accuracy."""
    annotations = load_voc_dir(images_dir, annotations_dir, split)
    started = time.perf_counter()
    results = run_pipeline(pipeline, annotations, progress)
    seconds = time.perf_counter() - started
    gts = [(a.xyxy, a.class_id) for a in annotations]
    # ranking score of a face for class c: P(face), the calibrated detector score, x P(c) (Detections.class_scores)
    preds = [(d.xyxy, d.class_scores) for _, d in results]
    report = detection_report(gts, preds, [d.face_probability for _, d in results],
                              [d.class_id for _, d in results], pipeline.threshold)
    report.update({
        "detector": pipeline.detector_name, "classifier": pipeline.classifier.path.name,
        "backend": pipeline.classifier.backend, "images": len(annotations), "split": split or "all",
        "images_dir": str(images_dir), "seconds_per_image": round(seconds / max(len(annotations), 1), 4),
    })
    if out_json:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(out_json).write_text(json.dumps(report, indent=2))
    if plots_dir:
        from facemask.report import write_pr_curves

        curves = {}
        for cid, name in enumerate(CLASS_NAMES):
            rec, prec, _, _ = pr_curve(gts, preds, cid)
            curves[name] = (rec, prec, average_precision(rec, prec) if len(rec) else 0.0)
        write_pr_curves(curves, Path(plots_dir) / "pr_curves.png")
        write_examples(annotations, results, pipeline.threshold, Path(plots_dir))
    return report


def write_examples(annotations, results, threshold: float, plots_dir: Path, count: int = 3) -> None:
    """Side-by-side ground truth / pipeline for the best and worst photos (by face-level errors)."""
    import cv2

    from facemask.metrics import iou_matrix

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
    lines = [f"{report['images']} photos ({report['split']}), detector {report['detector']}, "
             f"classifier {report['classifier']} ({report['backend']})",
             "", f"{'AP@0.5':<20}" + "".join(f"{b:>18}" for b in report["ap"])]
    for key in list(CLASS_NAMES) + ["mean(with,without)"]:
        cells = []
        for bucket in report["ap"]:
            v = report["ap"][bucket][key]
            n = report["n_gt"][bucket].get(key)
            cells.append(f"{'-' if v is None else f'{v:.3f}'}{'' if n is None else f' ({n})':>8}".rjust(18))
        lines.append(f"{key:<20}" + "".join(cells))
    op = report["operating_point"]
    lines += ["", f"at threshold {op['threshold']}: recall {op['recall']:.3f} (faces < 32 px: "
              f"{op['recall_small']:.3f}), precision {op['precision']:.3f}, "
              f"mask-status accuracy on {op['matched_faces']} matched faces {op['status_accuracy']:.3f}",
              f"{report['seconds_per_image'] * 1000:.0f} ms per photo"]
    return "\n".join(lines)
