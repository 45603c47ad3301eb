"""Synthetic masks of varied colours and shapes, drawn on unmasked faces from their landmarks.

Worn correctly, the mask's top edge rides the nose bridge; worn incorrectly, it sits below the
nose tip (nose out) or under the mouth (chin mask), as people actually get it wrong. Pulled down,
a mask keeps its length and hangs below the chin.

Two renderings share that one placement rule: a painted mask (flat colour, pleats, shading), or
the real mask of a masked close-up (the donor) cut out and warped into place. Both are drawn at
both heights, so what tells the classes apart is where the mask sits, never how it was made.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# BGR: surgical blues and greens, white, black, greys, pinks, navy, beige, red
MASK_COLORS = [
    (230, 200, 150), (235, 215, 175), (200, 220, 190), (245, 245, 245), (225, 225, 220),
    (30, 30, 30), (60, 60, 60), (140, 140, 140), (190, 170, 240), (110, 50, 30), (170, 200, 225),
    (40, 40, 180), (120, 160, 60),
]
SHAPES = ("surgical", "cloth", "n95")
WORN_TOP = 0.45  # a real mask worn correctly: its top edge this far from the eyes' line to the nose tip


@dataclass
class MaskDonor:
    """A close-up of a face wearing a real mask correctly: its picture, face box and 5 landmarks."""
    image: np.ndarray
    box: np.ndarray
    landmarks: np.ndarray


@dataclass
class MaskPlacement:
    """Where a mask sits on one face: its outline and three anchor points (top-left, top-right,
    bottom-centre) that map one placement onto another."""
    polygon: np.ndarray  # (P, 2) int32
    anchors: np.ndarray  # (3, 2) float32
    top: float
    left: float
    right: float
    eyes_y: float
    face_w: float
    shape: str


def _face_lines(box: np.ndarray, landmarks: np.ndarray):
    right_eye, left_eye, nose, mouth_r, mouth_l = np.asarray(landmarks, np.float32)
    eyes_y = (right_eye[1] + left_eye[1]) / 2
    mouth_y = (mouth_r[1] + mouth_l[1]) / 2
    face_w = box[2] - box[0]
    chin_y = min(box[3] + 0.05 * (box[3] - box[1]), mouth_y + 1.1 * (mouth_y - nose[1]) + 0.1 * face_w)
    centre_x = (nose[0] + (mouth_r[0] + mouth_l[0]) / 2) / 2
    return eyes_y, nose, mouth_y, chin_y, centre_x, face_w


def place_mask(box: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator,
               worn_incorrectly: bool = False) -> MaskPlacement:
    """Choose a mask's height, width and shape on the face at `box` (xyxy) from its landmarks."""
    eyes_y, nose, mouth_y, chin_y, centre_x, face_w = _face_lines(box, landmarks)
    worn_top = eyes_y + WORN_TOP * (nose[1] - eyes_y)  # where this mask's top would sit worn correctly
    if worn_incorrectly:
        if rng.random() < 0.8:  # nose out: top edge just under the nose, above the mouth
            top = nose[1] + rng.uniform(0.0, 0.3) * (mouth_y - nose[1])
        else:  # chin mask: mouth out too
            top = mouth_y + rng.uniform(0.1, 0.4) * (chin_y - mouth_y)
    else:
        top = eyes_y + rng.uniform(0.3, 0.55) * (nose[1] - eyes_y)
    left = box[0] + rng.uniform(0.0, 0.08) * face_w
    right = box[2] - rng.uniform(0.0, 0.08) * face_w
    shape = SHAPES[rng.integers(len(SHAPES))]
    bottom = chin_y
    if worn_incorrectly:
        # however it is shaped, the outline stays under the nose tip
        rise = {"surgical": -0.05, "n95": 0.03, "cloth": 0.0}[shape] * face_w  # outline's reach above `top`
        top = max(top, nose[1] + 0.1 * (mouth_y - nose[1]) + rise)
        # a mask pulled down keeps its length: it hangs below the chin, part folded under
        bottom += rng.uniform(0.3, 1.0) * max(top - worn_top, 0.0)
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
    anchors = np.array([(left, top), (right, top), (centre_x, bottom)], np.float32)
    return MaskPlacement(polygon, anchors, float(top), float(left), float(right), float(eyes_y), float(face_w), shape)


def worn_mask_anchors(donor: MaskDonor) -> np.ndarray:
    """The anchors of the real mask a donor wears correctly: from the middle of eyes-to-nose down
    to the chin, across the face box less a small margin."""
    eyes_y, nose, _, chin_y, centre_x, face_w = _face_lines(donor.box, donor.landmarks)
    top = eyes_y + WORN_TOP * (nose[1] - eyes_y)
    return np.array([(donor.box[0] + 0.04 * face_w, top), (donor.box[2] - 0.04 * face_w, top),
                     (centre_x, chin_y)], np.float32)


def draw_synthetic_mask(image: np.ndarray, box: np.ndarray, landmarks: np.ndarray,
                        rng: np.random.Generator, worn_incorrectly: bool = False,
                        donor: MaskDonor | None = None) -> np.ndarray:
    """A copy of the BGR image with a mask drawn on the face at `box` (xyxy) with YuNet landmarks:
    painted, or, with a donor, the donor's own mask warped into the same place."""
    out = image.copy()
    where = place_mask(box, landmarks, rng, worn_incorrectly)
    face_w = where.face_w
    mask = np.zeros(out.shape[:2], np.uint8)
    cv2.fillPoly(mask, [where.polygon], 255, cv2.LINE_AA)
    alpha = cv2.GaussianBlur(mask, (0, 0), max(face_w / 150, 0.6)).astype(np.float32)[..., None] / 255.0
    if donor is None:
        color = np.array(MASK_COLORS[rng.integers(len(MASK_COLORS))], np.float32)
        color = np.clip(color * rng.uniform(0.8, 1.1), 0, 255)
        layer = np.zeros_like(out)
        cv2.fillPoly(layer, [where.polygon], color.tolist(), cv2.LINE_AA)
        if where.shape == "surgical":  # pleats
            bottom = where.anchors[2, 1]
            for k in range(1, 4):
                y = int(where.top + k * (bottom - where.top) / 4.5)
                cv2.line(layer, (int(where.left + 0.08 * face_w), y), (int(where.right - 0.08 * face_w), y),
                         (color * 0.8).tolist(), max(1, int(face_w / 60)), cv2.LINE_AA)
        # shading: darker towards the bottom, plus a little noise, so the mask is not a flat sticker
        ys = np.linspace(1.0, rng.uniform(0.65, 0.9), out.shape[0])[:, None, None]
        layer = layer.astype(np.float32) * ys + rng.normal(0, 4, layer.shape)
    else:
        matrix = cv2.getAffineTransform(worn_mask_anchors(donor), where.anchors)
        layer = cv2.warpAffine(donor.image, matrix, (out.shape[1], out.shape[0]), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        # the donor's light is not this face's: bring the mask's brightness part of the way over
        inside = mask > 127
        x0, y0, x1, y1 = (int(v) for v in box)
        face = image[max(y0, 0):max(y1, 1), max(x0, 0):max(x1, 1)]
        if inside.any() and face.size:
            layer = layer * np.clip((face.mean() + 1) / (layer[inside].mean() + 1), 0.75, 1.33) ** 0.5
        color = layer[inside].mean(axis=0) if inside.any() else np.full(3, 200, np.float32)
    blended = out.astype(np.float32) * (1 - alpha) + layer * alpha
    out = np.clip(blended, 0, 255).astype(np.uint8)
    # ear straps
    strap = (np.asarray(color) * 0.9).tolist()
    thickness = max(1, int(face_w / 45))
    y_top = int(where.top + 0.1 * face_w)
    cv2.line(out, (int(where.left), y_top), (int(box[0] - 0.02 * face_w), int(where.eyes_y)), strap, thickness,
             cv2.LINE_AA)
    cv2.line(out, (int(where.right), y_top), (int(box[2] + 0.02 * face_w), int(where.eyes_y)), strap, thickness,
             cv2.LINE_AA)
    return out
