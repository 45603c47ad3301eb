"""Compare decision rules on the out-of-fold detections that notebooks/cross_validate.py saves.

The classifier trains on a mix far from real photos: class weights make the three classes count
alike, while in the dev photos about 79 % of faces wear a mask, 18 % none and 3 % wear it wrongly.
Bayes' rule says to multiply each class probability by (real prior / training prior) and
renormalise; `strength` goes from 0 (the raw output) to 1 (the full correction). Every photo is
scored by a fold model that never saw it, so the chosen strength is not fitted to the scored faces'
own model.

Run: python notebooks/decision_rule.py [.cache/cv/out_of_fold.npz]
"""
import sys
from pathlib import Path

import numpy as np

from facemask import config
from facemask.metrics import detection_report

path = Path(sys.argv[1] if len(sys.argv) > 1 else config.CACHE_DIR / "cv" / "out_of_fold.npz")
data = np.load(path)
photos = int(max(data["gt_photo"].max(), data["det_photo"].max())) + 1
in_photo = [data["det_photo"] == i for i in range(photos)]
gts = [(data["gt_xyxy"][data["gt_photo"] == i], data["gt_class"][data["gt_photo"] == i]) for i in range(photos)]
prior = np.bincount(data["gt_class"], minlength=len(config.CLASS_NAMES)) / len(data["gt_class"])
print(f"{path}: {photos} photos, {len(data['gt_class'])} faces, prior of the annotated faces {prior.round(3)}")


def score(weights: np.ndarray) -> dict:
    probs = data["det_probs"] * weights
    probs /= probs.sum(axis=1, keepdims=True)
    preds = [(data["det_xyxy"][s], probs[s] * data["det_face_score"][s][:, None]) for s in in_photo]
    return detection_report(gts, preds, [data["det_face_score"][s] for s in in_photo],
                            [probs[s].argmax(axis=1) for s in in_photo], config.DEFAULT_THRESHOLD)


print("| rule | mean AP | mean AP >= 32 px | AP worn incorrectly | status accuracy |")
print("|---|---|---|---|---|")
rules = {f"prior correction, strength {s}": prior ** s for s in (0.0, 0.25, 0.5, 0.75, 1.0)}
rules.update({f"worn-incorrectly weight {w} only": np.array([1.0, 1.0, w]) for w in (0.5, 0.25)})
for name, weights in rules.items():
    r = score(np.asarray(weights, np.float64))
    ap, large = r["ap"]["all"], r["ap"]["large (>=32 px)"]
    print(f"| {name} | {ap['mean(with,without)']:.3f} | {large['mean(with,without)']:.3f} | "
          f"{ap['mask_worn_incorrectly']:.3f} | {r['operating_point']['status_accuracy']:.3f} |", flush=True)
