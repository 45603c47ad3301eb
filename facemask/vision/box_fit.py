"""The box a face is reported with: its fused box (facemask/vision/detectors.py) moved and resized by a linear
fit on where its landmarks sit in it and how large it is.

People box faces differently: one collection takes in more forehead, another more chin, and a turned
face's box follows its eyes and mouth. `facemask train` fits, on every candidate box of its training
photos that overlaps an annotated face (IoU > 0.3), the annotated box's centre shift and log size
(relative to the fused box) on the fused box's features; it is stored in model_info.json, and the
pipeline applies it. The crop stays the detector's reshaped box, the one the classifier was trained on.
"""

from __future__ import annotations

import numpy as np

from facemask.errors import FacemaskError

RIDGE = 1e-2  # a little shrinkage: a few thousand faces fit 4 x 14 coefficients
MATCH_IOU = 0.3  # a candidate box is fitted to the annotated face it overlaps most, when by more than this
FEATURES = ("1, landmark x and y (each over the box, from its centre), log2 of the width the detector saw "
            "(clipped to the training photos' 1st-99th percentile), its square, log(height / width)")


def features(fused: np.ndarray, landmarks: np.ndarray, scale: np.ndarray,
             size_range: tuple[float, float] | None = None) -> np.ndarray:
    """(N, 14) features of fused xyxy boxes, their (N, 10) landmarks (x, y of 5 points) and the scale of the
    pass that found each. The size is the width in the detector's own pixels (a phone photo's face is seen
    shrunk), clipped to `size_range`: a face larger or smaller than any the fit saw is placed as the
    largest or smallest it saw, never by a curve followed beyond its data."""
    fused = np.asarray(fused, np.float64).reshape(-1, 4)
    landmarks = np.asarray(landmarks, np.float64).reshape(len(fused), -1)
    w = np.maximum(fused[:, 2] - fused[:, 0], 1.0)
    h = np.maximum(fused[:, 3] - fused[:, 1], 1.0)
    cx, cy = (fused[:, 0] + fused[:, 2]) / 2, (fused[:, 1] + fused[:, 3]) / 2
    lx = (landmarks[:, 0::2] - cx[:, None]) / w[:, None]
    ly = (landmarks[:, 1::2] - cy[:, None]) / h[:, None]
    size = np.log2(np.maximum(w * np.asarray(scale, np.float64).reshape(-1), 1.0))
    if size_range is not None:
        size = np.clip(size, *size_range)
    return np.column_stack([np.ones(len(fused)), lx, ly, size, size ** 2, np.log(h / w)])


def targets(fused: np.ndarray, annotated: np.ndarray) -> np.ndarray:
    """(N, 4): the annotated box's centre shift over the fused box's width and height, and its log width
    and height ratios."""
    w, h = fused[:, 2] - fused[:, 0], fused[:, 3] - fused[:, 1]
    aw, ah = annotated[:, 2] - annotated[:, 0], annotated[:, 3] - annotated[:, 1]
    return np.column_stack([((annotated[:, 0] + annotated[:, 2]) - (fused[:, 0] + fused[:, 2])) / 2 / w,
                            ((annotated[:, 1] + annotated[:, 3]) - (fused[:, 1] + fused[:, 3])) / 2 / h,
                            np.log(np.maximum(aw, 1.0) / w), np.log(np.maximum(ah, 1.0) / h)])


def fit(fused: np.ndarray, landmarks: np.ndarray, scale: np.ndarray, annotated: np.ndarray, detector: str) -> dict:
    """Ridge least squares of `targets` on `features`, over candidate boxes paired with their annotated face."""
    fused = np.asarray(fused, np.float64).reshape(-1, 4)
    if len(fused) < 50 or np.asarray(landmarks).reshape(len(fused), -1).shape[1] != 10:
        raise FacemaskError("Too few detector boxes with landmarks on the annotated faces of the training photos "
                            "to fit where a face's box is reported.")
    seen = np.maximum((fused[:, 2] - fused[:, 0]) * np.asarray(scale, np.float64).reshape(-1), 1.0)
    size_range = [round(float(v), 4) for v in np.percentile(np.log2(seen), [1, 99])]
    x = features(fused, landmarks, scale, size_range)
    y = targets(fused, np.asarray(annotated, np.float64))
    coefficients = np.linalg.solve(x.T @ x + RIDGE * np.eye(x.shape[1]), x.T @ y)
    return {"detector": detector, "features": FEATURES, "coefficients": np.round(coefficients, 5).tolist(),
            "log2_width_range": size_range, "boxes": int(len(fused))}


def apply(found, box_fit: dict | None, detector: str, width: int, height: int) -> np.ndarray:
    """The reported xyxy boxes of a detector's `FaceBoxes`: the fit applied to its fused boxes, clipped to
    the picture; its crop boxes unchanged when the fit is missing, for another detector, or the detector
    gives no landmarks."""
    if (not box_fit or box_fit.get("detector") != detector or not len(found.boxes)
            or found.landmarks.shape[1] != 10):
        return found.boxes
    fused = found.fused.astype(np.float64)
    shift = (features(fused, found.landmarks, found.scale, box_fit.get("log2_width_range"))
             @ np.asarray(box_fit["coefficients"], np.float64))
    w, h = fused[:, 2] - fused[:, 0], fused[:, 3] - fused[:, 1]
    cx = (fused[:, 0] + fused[:, 2]) / 2 + shift[:, 0] * w
    cy = (fused[:, 1] + fused[:, 3]) / 2 + shift[:, 1] * h
    w, h = w * np.exp(shift[:, 2]) / 2, h * np.exp(shift[:, 3]) / 2
    boxes = np.column_stack([cx - w, cy - h, cx + w, cy + h])
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    # a box clipped to nothing (a face at the very edge) keeps the detector's
    empty = (boxes[:, 2] - boxes[:, 0] < 1) | (boxes[:, 3] - boxes[:, 1] < 1)
    boxes[empty] = found.boxes[empty]
    return boxes.astype(np.float32)
