"""The display threshold: face-level precision, recall, F1 and mask-status accuracy with the threshold
on the detector's raw score (the rule before this release, 0.7) or on P(face)
(`Detections.face_probability`, the rule now). No photo of the holdout is read.

- On the saved out-of-fold detections of notebooks/cross_validate.py (YuNet, sets DEFAULT_THRESHOLD
  in facemask/config.py by the F1 peak):
  python notebooks/threshold_sweep.py .cache/cv/out_of_fold.npz [more out_of_fold.npz ...]
- For another detector, with the shipped model, on the first 120 photos of the train split (which
  that model trained on, so its status accuracy there is optimistic; the two rules share it):
  python notebooks/threshold_sweep.py --detector ssd
Run from notebooks/ (or with notebooks/ on the path).
"""
import sys

import numpy as np
from out_of_fold import OutOfFold

from facemask import config
from facemask.evaluation.metrics import detection_report

RAW_THRESHOLDS = np.arange(0.5, 0.86, 0.05)
FACE_THRESHOLDS = np.arange(0.1, 0.56, 0.05)


def sweep(title, gts, preds, labels, raw_scores, face_probabilities) -> None:
    print(f"{title}\n| rule | threshold | precision | recall | F1 | status accuracy | boxes shown |\n"
          "|---|---|---|---|---|---|---|")
    for rule, scores, thresholds in (("detector score", raw_scores, RAW_THRESHOLDS),
                                     ("P(face)", face_probabilities, FACE_THRESHOLDS)):
        for t in thresholds:
            op = detection_report(gts, preds, scores, labels, float(t))["operating_point"]
            f1 = 2 * op["precision"] * op["recall"] / max(op["precision"] + op["recall"], 1e-9)
            print(f"| {rule} | {t:.2f} | {op['precision']:.3f} | {op['recall']:.3f} | {f1:.3f} | "
                  f"{op['status_accuracy']:.3f} | {op['detections']} |", flush=True)


if "--detector" in sys.argv:
    from facemask.evaluation.dataset import load_voc_dir
    from facemask.evaluation.evaluate import run_pipeline
    from facemask.vision.pipeline import Pipeline

    name = sys.argv[sys.argv.index("--detector") + 1]
    photos = load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, "train")[:120]
    found = [dets for _, dets in run_pipeline(Pipeline(name), photos)]
    sweep(f"{name}, {len(photos)} train photos", [(a.xyxy, a.class_id) for a in photos],
          [(d.xyxy, d.class_scores) for d in found], [d.class_id for d in found],
          [d.face_score for d in found], [d.face_probability for d in found])
for path in (a for a in sys.argv[1:] if a.endswith(".npz")):
    saved = OutOfFold(path)
    data = saved.data
    rows = [saved.in_photo[p] for p in range(saved.photos)]
    sweep(path, saved.gts, [(data["det_xyxy"][r], data["det_probs"][r]) for r in rows],
          [data["det_probs"][r].argmax(axis=1) for r in rows],
          [data["det_face_score"][r] for r in rows], [data["det_face_probability"][r] for r in rows])
