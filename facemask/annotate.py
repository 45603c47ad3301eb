"""Drawing, kept apart from detection: boxes coloured by class with label and confidence."""

from __future__ import annotations

import cv2
import numpy as np

from facemask.config import CLASS_COLORS, CLASS_NAMES
from facemask.detections import Detections

LABEL_TEXT = {"with_mask": "mask", "without_mask": "no mask", "mask_worn_incorrectly": "mask worn wrong"}


def blur_faces(image: np.ndarray, detections: Detections) -> np.ndarray:
    """Pixelate every detected face (privacy), on a copy."""
    out = image.copy()
    height, width = out.shape[:2]
    for x1, y1, x2, y2 in detections.xyxy.astype(int):
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        face = out[y1:y2, x1:x2]
        small = cv2.resize(face, (max(1, (x2 - x1) // 8), max(1, (y2 - y1) // 8)), interpolation=cv2.INTER_AREA)
        out[y1:y2, x1:x2] = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    return out


def annotate(image: np.ndarray, detections: Detections, blur: bool = False) -> np.ndarray:
    """Return a copy of the BGR image with one labelled box per face."""
    out = blur_faces(image, detections) if blur else image.copy()
    height, width = out.shape[:2]
    scale = max(min(height, width) / 900.0, 0.35)
    thickness = max(1, int(round(scale * 2)))
    for (x1, y1, x2, y2), cid, conf in zip(detections.xyxy.astype(int), detections.class_id,
                                           detections.confidence):
        name = CLASS_NAMES[int(cid)]
        color = CLASS_COLORS[name]
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        text = f"{LABEL_TEXT[name]} {conf:.0%}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, 1)
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else min(y2 + th + 2, height - base)
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 2, ty + base // 2), color, -1)
        cv2.putText(out, text, (x1 + 1, ty - base // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return out
