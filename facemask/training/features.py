"""Stage 4: training crops -> the frozen lower backbone's features, cached on disk in two parts:
the close-ups (the same for every run) and the dev photos (which differ between folds). A cache
file's name holds a digest of everything its arrays depend on, code included."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from facemask import config
from facemask.training.closeups import load_closeups
from facemask.training.log import log
from facemask.training.photos import (
    calibrate_face_scores,
    detector_boxes,
    load_real_faces,
    serving_detector,
    training_photos,
    weights_digest,
)
from facemask.training.recipe import (
    CLOSEUP_VARIANTS,
    CUT_LAYER,
    DHASH_RADIUS,
    FACE_BOX_MIN_SCORE,
    LANDMARK_FACE_SIDE,
    NOT_A_FACE_MAX_IOU,
    NOT_A_FACE_MIN_SCORE,
    PHOTO_MASKS_PER_FACE,
    REAL_VARIANTS,
    SYNTHETIC_PER_FACE,
    TRANSPLANT_PER_FACE,
    VAL_SHARE,
)
from facemask.training.samples import closeup_samples, label_counts, photo_mask_samples, real_samples
from facemask.vision.crops import crop_faces
from facemask.vision.detectors import YuNetDetector

# the code that draws and cuts the crops and computes their features: a change to it is a new cache file
CACHED_CODE = ("training/recipe.py", "training/closeups.py", "training/photos.py", "training/samples.py",
               "training/synthetic_masks.py", "training/backbone.py", "training/features.py", "vision/crops.py")


def features(lower, crops: np.ndarray) -> np.ndarray:
    """The frozen lower backbone's output for uint8 RGB crops, in batches of 256."""
    if len(crops) == 0:
        return np.zeros((0, *lower.output.shape[1:]), np.float32)
    out = []
    for i in range(0, len(crops), 256):
        batch = crops[i:i + 256].astype(np.float32) / 127.5 - 1.0
        out.append(np.asarray(lower(batch, training=False)))
    return np.concatenate(out)


def crop_faces_list(pairs, size: int) -> np.ndarray:
    """(image, box) pairs -> one array of square crops, cut as the pipeline cuts them."""
    if not pairs:
        return np.zeros((0, size, size, 3), np.uint8)
    return np.stack([crop_faces(img, box[None], size)[0] for img, box in pairs])


def cached(path: Path, make) -> dict:
    """The arrays saved at `path`, or make() them and save them there."""
    if path.exists():
        log(f"reusing cached crops and features from {path}")
        with np.load(path) as saved:
            return dict(saved)
    data = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    return data


def _code_digest(*parts) -> str:
    import hashlib

    digest = hashlib.sha1(repr(parts).encode())
    for module in CACHED_CODE:
        digest.update((Path(__file__).parent.parent / module).read_bytes())
    return digest.hexdigest()[:12]


def closeup_key(seed: int, size: int) -> str:
    """Close-up crops and features depend only on these: a new key whenever one of them changes."""
    return _code_digest(seed, size, CLOSEUP_VARIANTS, SYNTHETIC_PER_FACE, TRANSPLANT_PER_FACE, CUT_LAYER,
                        DHASH_RADIUS, VAL_SHARE, config.CROP_PADDING)


def real_key(seed: int, size: int, photos: str, fold, detector_weights=None) -> str:
    """Likewise for the dev photos' crops, features and face-score calibration."""
    return _code_digest(seed, size, photos, fold, REAL_VARIANTS, PHOTO_MASKS_PER_FACE, LANDMARK_FACE_SIDE,
                        FACE_BOX_MIN_SCORE, NOT_A_FACE_MIN_SCORE,
                        NOT_A_FACE_MAX_IOU, CUT_LAYER, config.CROP_PADDING, config.CANDIDATE_THRESHOLD,
                        config.DETECTOR_SETTINGS[config.DEFAULT_DETECTOR], tuple(config.SOURCES),
                        *([weights_digest(detector_weights)] if detector_weights else []))


def closeup_features(lower, closeups_dir: Path, seed: int, size: int) -> dict:
    """The close-ups' training labels and features, and their validation crops, labels and features."""
    rng = np.random.default_rng(seed)
    closeups, is_val = load_closeups(closeups_dir, YuNetDetector(threshold=0.5), rng)
    samples = closeup_samples(closeups, is_val, rng, size)
    y_train = np.array([s.label for s in samples])
    log(f"close-up training crops: {len(samples)} {label_counts(y_train)}")
    x_val = crop_faces_list([(it[0], it[1]) for it, v in zip(closeups, is_val) if v], size)
    t0 = time.time()
    out = {"y_train": y_train, "f_train": features(lower, np.stack([s.crop for s in samples])),
           "x_val_closeups": x_val, "y_val_closeups": np.array([it[3] for it, v in zip(closeups, is_val) if v]),
           "f_val_closeups": features(lower, x_val)}
    log(f"close-up backbone features {out['f_train'].shape} in {time.time() - t0:.0f} s")
    return out


def real_features(lower, photos: str, fold, seed: int, size: int, detector_weights=None) -> dict:
    """The dev photos' training labels and features, the report photos' crops, labels and features,
    and the face-score calibration fitted on the training photos (with the stock detector, or the fine-tuned
    one at detector_weights)."""
    rng = np.random.default_rng([seed, 1])
    train_photos, report_photos = training_photos(photos, fold)
    # every candidate box serving would score, down to CANDIDATE_THRESHOLD: the calibration sees them
    # all, the training crops only those above their own minimum scores
    detections = detector_boxes(train_photos, serving_detector(detector_weights))
    face_score_calibration = calibrate_face_scores(train_photos, detections)
    log(f"face-score calibration on {face_score_calibration['boxes']} boxes: P(face) = "
        f"sigmoid({face_score_calibration['intercept']} + {face_score_calibration['slope']} logit(score))")
    real_train = load_real_faces(train_photos, detections)
    real_val = load_real_faces(report_photos)
    samples = real_samples(real_train, rng, size) + photo_mask_samples(train_photos, rng, size)
    y_train = np.array([s.label for s in samples])
    log(f"real faces: {len(real_train)} boxes from {len(train_photos)} training photos -> {len(samples)} crops "
        f"{label_counts(y_train)}; {len(real_val)} faces of {len(report_photos)} other photos for the report")
    x_val = crop_faces_list([(img, box) for img, box, _ in real_val], size)
    return {"y_train": y_train, "f_train": features(lower, np.stack([s.crop for s in samples])),
            "x_val_real_photos": x_val, "y_val_real_photos": np.array([lab for _, _, lab in real_val], np.int64),
            "f_val_real_photos": features(lower, x_val),
            "face_calibration": np.array(json.dumps(face_score_calibration))}
