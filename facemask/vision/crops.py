"""Square, padded, fixed-size face crops: the same geometry for training and for serving."""

from __future__ import annotations

import cv2
import numpy as np

from facemask.config import CROP_PADDING, CROP_SIZE


def square_boxes(xyxy: np.ndarray, padding: float = CROP_PADDING) -> np.ndarray:
    """Square boxes centred on each face, side = longest side * (1 + 2 * padding)."""
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    cx = (xyxy[:, 0] + xyxy[:, 2]) / 2
    cy = (xyxy[:, 1] + xyxy[:, 3]) / 2
    side = np.maximum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]) * (1 + 2 * padding)
    side = np.maximum(side, 2)
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)


def crop_faces(image_bgr: np.ndarray, xyxy: np.ndarray, size: int = CROP_SIZE,
               padding: float = CROP_PADDING) -> np.ndarray:
    """(N, size, size, 3) uint8 RGB crops; parts outside the picture repeat its edge pixels."""
    boxes = square_boxes(xyxy, padding)
    out = np.empty((len(boxes), size, size, 3), np.uint8)
    height, width = image_bgr.shape[:2]
    for i, (x1, y1, x2, _) in enumerate(boxes):
        # affine map from the square box to the crop: one warp, border handled by OpenCV
        scale = size / (x2 - x1)
        matrix = np.array([[scale, 0, -x1 * scale], [0, scale, -y1 * scale]], np.float32)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        crop = cv2.warpAffine(image_bgr, matrix, (size, size), flags=interp,
                              borderMode=cv2.BORDER_REPLICATE)
        out[i] = crop[:, :, ::-1]
    return out
