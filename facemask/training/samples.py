"""Stage 3: face regions -> augmented training crops (`Sample`): the close-ups, the real faces and
detector boxes of the dev photos, and masks drawn on unmasked faces of both (painted, or a real
mask transplanted from a masked face). Made once, offline, with one seeded generator per source."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facemask import config
from facemask.imageio import load_image
from facemask.training.log import log
from facemask.training.photos import photo_face_landmarks
from facemask.training.recipe import (
    CLOSEUP_VARIANTS,
    NOT_A_FACE,
    PHOTO_MASKS_PER_FACE,
    REAL_VARIANTS,
    SYNTHETIC_PER_FACE,
    TRANSPLANT_PER_FACE,
)
from facemask.training.synthetic_masks import MaskDonor, draw_synthetic_mask
from facemask.vision.crops import crop_faces
from facemask.vision.detectors import YuNetDetector


@dataclass
class Sample:
    crop: np.ndarray  # (S, S, 3) uint8 RGB
    label: int  # index into config.CLASS_NAMES, or NOT_A_FACE
    source: str  # closeup | real | synthetic (painted mask) | transplant (real mask from another close-up)
    # | photo_synthetic (either kind of mask, drawn on an unmasked face of a training photo)


def label_counts(labels: np.ndarray) -> dict[str, int]:
    """How many samples of each class (and of not_a_face, when there are any), for logs and model_info."""
    counts = {name: int(np.sum(labels == c)) for c, name in enumerate(config.CLASS_NAMES)}
    if np.any(labels == NOT_A_FACE):
        counts["not_a_face"] = int(np.sum(labels == NOT_A_FACE))
    return counts


def jitter_box(box: np.ndarray, rng: np.random.Generator, amount: float = 0.08) -> np.ndarray:
    """The box shifted and rescaled a little, as a detector's box on the same face would be."""
    w, h = box[2] - box[0], box[3] - box[1]
    dx, dy = rng.uniform(-amount, amount, 2) * (w, h)
    s = rng.uniform(1 - amount, 1 + amount)
    cx, cy = (box[0] + box[2]) / 2 + dx, (box[1] + box[3]) / 2 + dy
    return np.array([cx - w * s / 2, cy - h * s / 2, cx + w * s / 2, cy + h * s / 2], np.float32)


def degrade(crop: np.ndarray, rng: np.random.Generator, small_face_p: float) -> np.ndarray:
    """Photometric changes and, often, the blur of a small far-away face."""
    out = crop
    if rng.random() < 0.5:
        out = out[:, ::-1]
    angle = rng.uniform(-12, 12)
    size = out.shape[0]
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
    out = cv2.warpAffine(np.ascontiguousarray(out), matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
    out = out.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30)
    if rng.random() < 0.3:  # colour cast
        out = out * rng.uniform(0.85, 1.15, 3)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < small_face_p:
        side = int(rng.integers(12, 40))
        out = cv2.resize(cv2.resize(out, (side, side), interpolation=cv2.INTER_AREA), (size, size),
                         interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.2:
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 80))])
        out = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
    return out


def closeup_samples(closeups, is_val, rng: np.random.Generator, size: int) -> list[Sample]:
    """Augmented copies of the training close-ups, plus masks drawn on their unmasked faces: painted,
    and real ones transplanted from the masked training close-ups (never from validation ones)."""
    donors = [MaskDonor(image, box, landmarks) for (image, box, landmarks, label, _), val in zip(closeups, is_val)
              if label == 0 and landmarks is not None and not val]
    samples: list[Sample] = []
    for (image, box, landmarks, label, _), val in zip(closeups, is_val):
        if val:
            continue
        for _ in range(CLOSEUP_VARIANTS):
            crop = crop_faces(image, jitter_box(box, rng)[None], size)[0]
            samples.append(Sample(degrade(crop, rng, 0.5), label, "closeup"))
        if label != 1 or landmarks is None:
            continue
        # unmasked face: draw masks on it, each rendering at both heights
        for per_face, source in ((SYNTHETIC_PER_FACE, "synthetic"), (TRANSPLANT_PER_FACE, "transplant")):
            for target, count in per_face.items():
                for _ in range(count):
                    donor = donors[rng.integers(len(donors))] if source == "transplant" and donors else None
                    masked = draw_synthetic_mask(image, box, landmarks, rng, worn_incorrectly=(target == 2),
                                                 donor=donor)
                    crop = crop_faces(masked, jitter_box(box, rng)[None], size)[0]
                    samples.append(Sample(degrade(crop, rng, 0.5), target, source))
    return samples


def real_samples(real_train, rng: np.random.Generator, size: int) -> list[Sample]:
    """Augmented copies of the dev photos' faces and detector boxes, REAL_VARIANTS of each by class."""
    samples: list[Sample] = []
    for image, box, label in real_train:
        for _ in range(REAL_VARIANTS[label]):
            crop = crop_faces(image, jitter_box(box, rng)[None], size)[0]
            samples.append(Sample(degrade(crop, rng, 0.15), label, "real"))
    return samples


def photo_mask_samples(annotations, rng: np.random.Generator, size: int) -> list[Sample]:
    """Masks drawn on the unmasked faces of the training photos, as on the close-ups (correct and below
    the nose, painted or transplanted), with donors from the masked faces of the same photos: street
    light, blur and small faces as serving sees them. Each is drawn on the enlarged face, then brought
    back to the face's own resolution before it is cropped."""
    yunet = YuNetDetector(threshold=0.5).model
    unmasked, donors = [], []
    for ann in annotations:
        image = None
        for box, label in zip(ann.xyxy, ann.class_id):
            if label not in (0, 1) or (label == 0 and box[2] - box[0] < 32):
                continue
            image = load_image(ann.image_path) if image is None else image
            found = photo_face_landmarks(image, box, yunet)
            if found is None:
                continue
            region, big, offset, _, face_box, landmarks = found
            if label == 0:
                donors.append(MaskDonor(big, face_box, landmarks))
            else:
                unmasked.append((region, box - np.tile(offset, 2), big, face_box, landmarks))
    samples: list[Sample] = []
    for region, box, big, face_box, landmarks in unmasked:
        for target, count in PHOTO_MASKS_PER_FACE.items():
            for _ in range(count):
                donor = donors[rng.integers(len(donors))] if donors and rng.random() < 0.5 else None
                masked = draw_synthetic_mask(big, face_box, landmarks, rng, worn_incorrectly=(target == 2),
                                             donor=donor)
                if masked.shape[:2] != region.shape[:2]:
                    masked = cv2.resize(masked, (region.shape[1], region.shape[0]), interpolation=cv2.INTER_AREA)
                crop = crop_faces(masked, jitter_box(box, rng)[None], size)[0]
                samples.append(Sample(degrade(crop, rng, 0.15), target, "photo_synthetic"))
    log(f"photo faces: masks drawn on {len(unmasked)} unmasked faces, {len(donors)} masked donors "
        f"-> {len(samples)} crops")
    return samples
