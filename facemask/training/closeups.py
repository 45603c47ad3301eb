"""Stage 1: the close-up photos (with_mask/, without_mask/) -> face regions with landmarks, split
into training and validation by groups of near-duplicates (difference hash), so that no copy of a
validation picture is trained on."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facemask.errors import FacemaskError
from facemask.imageio import load_image
from facemask.training.log import log
from facemask.training.recipe import DHASH_RADIUS, VAL_SHARE
from facemask.vision.detectors import YuNetDetector


def dhash(image_bgr: np.ndarray) -> int:
    """64-bit difference hash: near-identical pictures (resized, recompressed) differ in few bits."""
    gray = cv2.resize(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), (9, 8), interpolation=cv2.INTER_AREA)
    bits = (gray[:, 1:] > gray[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def group_near_duplicates(hashes: list[int], radius: int = DHASH_RADIUS) -> np.ndarray:
    """Union-find over pairs of images whose difference hashes differ in <= radius bits."""
    h = np.array(hashes, dtype=np.uint64)
    parent = np.arange(len(h))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(h)):
        x = np.bitwise_xor(h[i + 1:], h[i])
        dist = np.array([bin(int(v)).count("1") for v in x]) if len(x) else np.zeros(0)
        for j in np.nonzero(dist <= radius)[0] + i + 1:
            a, b = find(i), find(int(j))
            if a != b:
                parent[b] = a
    return np.array([find(i) for i in range(len(h))])


def load_closeups(folder: Path, detector: YuNetDetector, rng: np.random.Generator):
    """Close-up photos -> face crops (cut the same way as the pipeline) + landmarks + group split."""
    items = []
    for label, name in enumerate(("with_mask", "without_mask")):
        files = sorted((folder / name).glob("*"))
        if not files:
            raise FacemaskError(f"{folder / name}: no pictures found.")
        for path in files:
            try:
                image = load_image(path)
            except FacemaskError as exc:
                log(f"skipped {exc}")
                continue
            box, landmarks = main_face(image, detector)
            # keep only the face and a margin around it: thousands of full photos would not fit in memory
            side = max(box[2] - box[0], box[3] - box[1])
            x0, y0 = int(max(box[0] - side, 0)), int(max(box[1] - side, 0))
            region = image[y0:int(box[3] + side), x0:int(box[2] + side)].copy()
            offset = np.array([x0, y0], np.float32)
            box = box - np.tile(offset, 2)
            landmarks = None if landmarks is None else landmarks - offset
            items.append((region, box, landmarks, label, dhash(image)))
    groups = group_near_duplicates([it[4] for it in items])
    unique = np.unique(groups)
    val_groups = set(rng.choice(unique, size=int(len(unique) * VAL_SHARE), replace=False).tolist())
    is_val = np.array([g in val_groups for g in groups])
    log(f"close-ups: {len(items)} pictures in {len(unique)} near-duplicate groups; "
        f"{int(is_val.sum())} pictures held out for validation")
    return items, is_val


def yunet_faces(yunet, image: np.ndarray) -> np.ndarray:
    """YuNet's raw rows on the whole image (x, y, w, h, 5 landmarks, score), score >= 0.5."""
    yunet.setInputSize((image.shape[1], image.shape[0]))
    _, faces = yunet.detect(image)
    if faces is None:
        return np.zeros((0, 15), np.float32)
    # YuNet has been seen to return a row of NaN now and then
    return faces[np.isfinite(faces).all(axis=1) & (faces[:, -1] >= 0.5) & (faces[:, 2] > 1) & (faces[:, 3] > 1)]


def main_face(image: np.ndarray, detector: YuNetDetector):
    """The largest face YuNet finds in a close-up, with its 5 landmarks; else the whole picture."""
    height, width = image.shape[:2]
    faces = yunet_faces(detector.model, image)
    detector._size = (width, height)  # the input size yunet_faces set
    if len(faces) == 0:
        side = min(height, width)
        return np.array([(width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2],
                        np.float32), None
    f = faces[np.argmax(faces[:, 2] * faces[:, 3])]
    box = np.array([f[0], f[1], f[0] + f[2], f[1] + f[3]], np.float32)
    return box, f[4:14].reshape(5, 2)
