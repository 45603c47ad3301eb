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
from out_of_fold import OutOfFold, table_head

from facemask import config

path = Path(sys.argv[1] if len(sys.argv) > 1 else config.CACHE_DIR / "cv" / "out_of_fold.npz")
saved = OutOfFold(path)
data = saved.data
prior = np.bincount(data["gt_class"], minlength=len(config.CLASS_NAMES)) / len(data["gt_class"])
print(f"{path}: {saved.photos} photos, {len(data['gt_class'])} faces, prior of the annotated faces {prior.round(3)}")


def corrected(weights: np.ndarray) -> np.ndarray:
    probs = data["det_probs"] * weights
    return probs / probs.sum(axis=1, keepdims=True)


print(table_head("rule"))
rules = {f"prior correction, strength {s}": prior ** s for s in (0.0, 0.25, 0.5, 0.75, 1.0)}
rules.update({f"worn-incorrectly weight {w} only": np.array([1.0, 1.0, w]) for w in (0.5, 0.25)})
for name, weights in rules.items():
    print(saved.table_row(name, corrected(np.asarray(weights, np.float64))), flush=True)
