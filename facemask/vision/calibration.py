"""The face detector's score as a probability: P(a box lies on a face | its score).

A detector's score is not a chance: of YuNet's boxes scored 0.7-0.8 on the training photos, about
half lie on an annotated face, of those scored 0.5-0.6 one in seven, while above 0.9 nearly all
do. Ranked by the raw score, a mid-scored box with a confident class outranks a surer face with a
less confident one. `facemask train` fits a logistic curve in logit(score) on every candidate
box of its training photos (on a face = IoU >= 0.5 with an annotated face) and stores it in
model_info.json; the pipeline applies it, and a face's score for a class, which ranks faces across
photos, is that probability times the classifier's.
"""

from __future__ import annotations

import numpy as np

from facemask.errors import FacemaskError


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def fit(scores: np.ndarray, on_face: np.ndarray, detector: str) -> dict:
    """Maximum-likelihood logistic fit of on_face (bool) on logit(scores), by Newton's method."""
    x, y = logit(scores), np.asarray(on_face, np.float64)
    if len(y) < 10 or y.min() == y.max():
        raise FacemaskError("Too few detector boxes both on and off the annotated faces of the training "
                            "photos to calibrate the face score.")
    design = np.stack([np.ones_like(x), x], axis=1)
    coef = np.zeros(2)
    for _ in range(50):
        p = 1 / (1 + np.exp(-design @ coef))
        hessian = (design * (p * (1 - p))[:, None]).T @ design + 1e-6 * np.eye(2)  # tiny ridge: stable
        coef -= np.linalg.solve(hessian, design.T @ (p - y))
    return {"detector": detector, "intercept": round(float(coef[0]), 4), "slope": round(float(coef[1]), 4),
            "boxes": int(len(y)), "boxes_on_faces": int(y.sum())}


def apply(scores: np.ndarray, calibration: dict | None, detector: str) -> np.ndarray:
    """P(face) for these scores of `detector`; the scores unchanged when the calibration is for
    another detector or missing."""
    scores = np.asarray(scores, np.float32)
    if not calibration or calibration.get("detector") != detector:
        return scores
    z = calibration["intercept"] + calibration["slope"] * logit(scores)
    return (1 / (1 + np.exp(-z))).astype(np.float32)
