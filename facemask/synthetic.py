"""Synthetic masks of varied colours and shapes, drawn on unmasked faces from their landmarks.

Worn correctly, the mask's top edge rides the nose bridge; worn incorrectly, it sits below the
nose tip (nose out) or under the mouth (chin mask), as people actually get it wrong.
"""

from __future__ import annotations

import cv2
import numpy as np

# BGR: surgical blues and greens, white, black, greys, pinks, navy, beige, red
MASK_COLORS = [
    (230, 200, 150), (235, 215, 175), (200, 220, 190), (245, 245, 245), (225, 225, 220),
    (30, 30, 30), (60, 60, 60), (140, 140, 140), (190, 170, 240), (110, 50, 30), (170, 200, 225),
    (40, 40, 180), (120, 160, 60),
]
SHAPES = ("surgical", "cloth", "n95")


def draw_synthetic_mask(image: np.ndarray, box: np.ndarray, landmarks: np.ndarray,
                        rng: np.random.Generator, worn_incorrectly: bool = False) -> np.ndarray:
    """A copy of the BGR image with a mask drawn on the face at `box` (xyxy) with YuNet landmarks."""
    out = image.copy()
    right_eye, left_eye, nose, mouth_r, mouth_l = landmarks.astype(np.float32)
    eyes_y = (right_eye[1] + left_eye[1]) / 2
    mouth_y = (mouth_r[1] + mouth_l[1]) / 2
    face_w = box[2] - box[0]
    chin_y = min(box[3] + 0.05 * (box[3] - box[1]), mouth_y + 1.1 * (mouth_y - nose[1]) + 0.1 * face_w)
    if worn_incorrectly:
        if rng.random() < 0.8:  # nose out: top edge between nose tip and mouth
            top = nose[1] + rng.uniform(0.15, 0.5) * (mouth_y - nose[1])
        else:  # chin mask: mouth out too
            top = mouth_y + rng.uniform(0.1, 0.4) * (chin_y - mouth_y)
    else:
        top = eyes_y + rng.uniform(0.3, 0.55) * (nose[1] - eyes_y)
    left = box[0] + rng.uniform(0.0, 0.08) * face_w
    right = box[2] - rng.uniform(0.0, 0.08) * face_w
    centre_x = (nose[0] + (mouth_r[0] + mouth_l[0]) / 2) / 2
    shape = SHAPES[rng.integers(len(SHAPES))]
    bottom = chin_y
    if shape == "surgical":
        pts = [(left, top + 0.05 * face_w), (right, top + 0.05 * face_w),
               (right - 0.05 * face_w, bottom - 0.1 * face_w), (centre_x, bottom),
               (left + 0.05 * face_w, bottom - 0.1 * face_w)]
    elif shape == "n95":
        pts = [(left + 0.05 * face_w, top + 0.12 * face_w), (centre_x, top - 0.03 * face_w),
               (right - 0.05 * face_w, top + 0.12 * face_w), (right - 0.08 * face_w, bottom - 0.15 * face_w),
               (centre_x, bottom), (left + 0.08 * face_w, bottom - 0.15 * face_w)]
    else:  # cloth: rounded
        ts = np.linspace(0, np.pi, 12)
        half_w = (right - left) / 2
        pts = [(left, top + 0.04 * face_w)] + [
            (centre_x - np.cos(t) * half_w, top + 0.04 * face_w + np.sin(t) * (bottom - top)) for t in ts
        ] + [(right, top + 0.04 * face_w), (centre_x, top)]
    polygon = np.round(np.array(pts, np.float32)).astype(np.int32)
    color = np.array(MASK_COLORS[rng.integers(len(MASK_COLORS))], np.float32)
    color = np.clip(color * rng.uniform(0.8, 1.1), 0, 255)

    layer = np.zeros_like(out)
    cv2.fillPoly(layer, [polygon], color.tolist(), cv2.LINE_AA)
    mask = np.zeros(out.shape[:2], np.uint8)
    cv2.fillPoly(mask, [polygon], 255, cv2.LINE_AA)
    if shape == "surgical":  # pleats
        for k in range(1, 4):
            y = int(top + k * (bottom - top) / 4.5)
            cv2.line(layer, (int(left + 0.08 * face_w), y), (int(right - 0.08 * face_w), y),
                     (color * 0.8).tolist(), max(1, int(face_w / 60)), cv2.LINE_AA)
    # shading: darker towards the bottom, plus a little noise, so the mask is not a flat sticker
    ys = np.linspace(1.0, rng.uniform(0.65, 0.9), out.shape[0])[:, None, None]
    shaded = layer.astype(np.float32) * ys + rng.normal(0, 4, layer.shape)
    alpha = cv2.GaussianBlur(mask, (0, 0), max(face_w / 150, 0.6)).astype(np.float32)[..., None] / 255.0
    blended = out.astype(np.float32) * (1 - alpha) + shaded * alpha
    out = np.clip(blended, 0, 255).astype(np.uint8)
    # ear straps
    strap = (color * 0.9).tolist()
    thickness = max(1, int(face_w / 45))
    y_top = int(top + 0.1 * face_w)
    cv2.line(out, (int(left), y_top), (int(box[0] - 0.02 * face_w), int(eyes_y)), strap, thickness, cv2.LINE_AA)
    cv2.line(out, (int(right), y_top), (int(box[2] + 0.02 * face_w), int(eyes_y)), strap, thickness, cv2.LINE_AA)
    return out
