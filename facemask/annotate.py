"""Drawing, kept apart from detection: boxes coloured by class with label and confidence.

Lines and text scale with the picture, so a 300 px and a 4000 px photo read the same once shown at
screen size; each label goes where it does not cover an earlier one (above, below or inside its box).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from facemask.config import BLUR_BLOCKS, BLUR_MARGIN, CLASS_COLORS, CLASS_NAMES
from facemask.detections import Detections

LABEL_TEXT = {"with_mask": "mask", "without_mask": "no mask", "mask_worn_incorrectly": "mask worn wrong"}
FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT_COLOR = (255, 255, 255)
# label text height as a share of the picture's long side, and its floor in pixels
TEXT_SHARE, MIN_TEXT_PX = 1 / 50, 8
FACE_SHARE = 0.6  # ... and at most this share of its face's height (crowds of small faces), not under the floor
LINE_SHARE = 1 / 450  # box line width as a share of the long side (at least 1 px)
SHRINK = (1.0, 0.75, 0.55)  # text sizes tried, in turn, when a label has no free place ...
SMALLEST_TEXT_PX = 6  # ... never under this
_UNIT_HEIGHT = cv2.getTextSize("Mg", FONT, 1.0, 1)[0][1]  # text height at font scale 1


@dataclass(frozen=True)
class Label:
    """Where one face's label goes: its background rectangle (x1, y1, x2, y2) and text."""

    rect: tuple[int, int, int, int]
    text: str
    font_scale: float
    thickness: int


def style(height: int, width: int) -> tuple[float, int]:
    """(font scale, box line width) for a picture of this size."""
    long_side = max(height, width)
    text_px = max(long_side * TEXT_SHARE, MIN_TEXT_PX)
    return text_px / _UNIT_HEIGHT, max(1, round(long_side * LINE_SHARE))


def blur_faces(image: np.ndarray, detections: Detections) -> np.ndarray:
    """Hide every face given (privacy), on a copy: its box grown by config.BLUR_MARGIN, brought down to
    config.BLUR_BLOCKS blocks across whatever its size, and smoothed, so nothing of the face is left to
    recognise or to detect again."""
    out = image.copy()
    height, width = out.shape[:2]
    for x1, y1, x2, y2 in detections.xyxy:
        grow_x, grow_y = BLUR_MARGIN * (x2 - x1), BLUR_MARGIN * (y2 - y1)
        x1, y1 = int(max(x1 - grow_x, 0)), int(max(y1 - grow_y, 0))
        x2, y2 = int(min(x2 + grow_x, width)), int(min(y2 + grow_y, height))
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        side = max(x2 - x1, y2 - y1)
        blocks = (max(1, round((x2 - x1) * BLUR_BLOCKS / side)), max(1, round((y2 - y1) * BLUR_BLOCKS / side)))
        small = cv2.resize(out[y1:y2, x1:x2], blocks, interpolation=cv2.INTER_AREA)
        big = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
        kernel = max(3, (side // BLUR_BLOCKS) | 1)
        out[y1:y2, x1:x2] = cv2.GaussianBlur(big, (kernel, kernel), 0)
    return out


def _free(rects: np.ndarray, obstacles: np.ndarray) -> np.ndarray:
    """Which of the (K, 4) rectangles touch none of the (M, 4) obstacles (x1, y1, x2, y2, ends excluded)."""
    if not len(obstacles):
        return np.ones(len(rects), bool)
    hit = ((rects[:, None, 0] < obstacles[None, :, 2]) & (obstacles[None, :, 0] < rects[:, None, 2])
           & (rects[:, None, 1] < obstacles[None, :, 3]) & (obstacles[None, :, 1] < rects[:, None, 3]))
    return ~hit.any(axis=1)


def _places(box: np.ndarray, w: int, h: int, width: int, height: int, gap: int) -> list[tuple[int, int, int, int]]:
    """Candidate label rectangles for one box, best first: above, below, inside top, inside bottom;
    each left- then right-aligned with the box, shifted to lie inside the picture."""
    x1, y1, x2, y2 = (int(v) for v in box)
    places = []
    above, below = y1 - h - gap, y2 + gap
    outside = [top for top in (above, below) if 0 <= top <= height - h]  # only where it fits whole
    for top in (*outside, y1 + gap, y2 - h - gap):
        top = min(max(top, 0), max(height - h, 0))
        for left in (x1, x2 - w):
            left = min(max(left, 0), max(width - w, 0))
            places.append((left, top, left + w, top + h))
    return places


@lru_cache(maxsize=4096)
def _text_size(text: str, scale: float, thickness: int) -> tuple[int, int, int]:
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
    return tw, th, base


def layout_labels(detections: Detections, height: int, width: int) -> list[Label | None]:
    """One label per face, in order: the first place and size where it covers neither a label placed
    before it nor another face's box. None where nothing fits even shrunk and shortened: that face
    keeps its box (its colour says the class) without text."""
    base_scale, line = style(height, width)
    boxes = detections.xyxy.astype(int)
    placed: list[tuple[int, int, int, int]] = []
    labels: list[Label | None] = []
    for k, (box, cid, conf) in enumerate(zip(boxes, detections.class_id, detections.confidence)):
        name = CLASS_NAMES[int(cid)]
        face_px = max((box[3] - box[1]) * FACE_SHARE, MIN_TEXT_PX)
        options, rects = [], []  # every (text, size) in order of preference, with its places
        for shrink in SHRINK:
            scale = round(max(min(base_scale * _UNIT_HEIGHT, face_px) * shrink, SMALLEST_TEXT_PX) / _UNIT_HEIGHT, 3)
            thickness = max(1, round(scale * 1.6))
            for text in (f"{LABEL_TEXT[name]} {conf:.0%}", LABEL_TEXT[name]):
                tw, th, base = _text_size(text, scale, thickness)
                pad = max(1, th // 4)
                for rect in _places(box, tw + 2 * pad, th + base + pad, width, height, gap=line // 2):
                    options.append((text, scale, thickness))
                    rects.append(rect)
        avoid = np.concatenate([np.asarray(placed, int).reshape(-1, 4), boxes[:k], boxes[k + 1:]])
        free = np.flatnonzero(_free(np.asarray(rects), avoid))
        choice = Label(rects[free[0]], *options[free[0]]) if len(free) else None
        labels.append(choice)
        if choice:
            placed.append(choice.rect)
    return labels


def annotate(image: np.ndarray, detections: Detections, blur: bool = False,
             threshold: float | None = None) -> np.ndarray:
    """Return a copy of the BGR image with one box per face, coloured by class, and its label. With
    `threshold`, only the faces whose P(face) reaches it are drawn, and `blur` hides every face given: give
    it every candidate down to config.PRIVACY_THRESHOLD (`Pipeline.detect_with_privacy`), so a face too unsure to show
    is hidden all the same."""
    out = blur_faces(image, detections) if blur else image.copy()
    if threshold is not None:
        detections = detections[detections.face_probability >= threshold]
    height, width = out.shape[:2]
    _, line = style(height, width)
    colors = [CLASS_COLORS[CLASS_NAMES[int(cid)]] for cid in detections.class_id]
    for (x1, y1, x2, y2), color in zip(detections.xyxy.astype(int), colors):
        cv2.rectangle(out, (x1, y1), (x2, y2), color, line, cv2.LINE_8)  # crisp, exact colour
    for label, color in zip(layout_labels(detections, height, width), colors):  # on top of every box
        if label is None:
            continue
        x1, y1, x2, y2 = label.rect
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), color, -1)
        (_, th), base = cv2.getTextSize(label.text, FONT, label.font_scale, label.thickness)
        pad = max(1, th // 4)
        cv2.putText(out, label.text, (x1 + pad, y1 + pad + th), FONT, label.font_scale, TEXT_COLOR,
                    label.thickness, cv2.LINE_AA)
    return out
