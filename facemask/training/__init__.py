"""`facemask train`: close-ups + real faces of the annotated photos (config.SOURCES) + synthetic masks
-> the shipped classifier.

One file per stage, in the order they run: closeups (the close-up photos, split by near-duplicate
groups) -> photos (the dev photos' faces, detector boxes and face-score calibration) -> samples
(augmented crops and drawn masks) -> features (the frozen lower backbone's output, cached) -> fit
(the upper blocks and head) -> save (held-out scores, model, metrics, plots). The numbers that
matter are in recipe.py. The backbone's lower blocks stay frozen, so their output is computed once
per crop and cached; only the upper blocks and the head are trained.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from facemask import config
from facemask.training.backbone import build_backbone, split_backbone
from facemask.training.detector import DEFAULT_DETECTOR_BASE, DETECTOR_EPOCHS, fine_tuned_detector
from facemask.training.features import cached, closeup_features, closeup_key, real_features, real_key
from facemask.training.fit import fit_classifier
from facemask.training.log import log
from facemask.training.photos import face_box_fit, live_face_calibration
from facemask.training.recipe import (
    BATCH_SIZE,
    CUT_LAYER,
    EPOCHS,
    HEAD_EPOCHS,
    LABEL_SMOOTHING,
    NOT_A_FACE,
    OUTPUTS,
    SEED,
    TRAIN_PHOTOS,
)
from facemask.training.samples import label_counts
from facemask.training.save import held_out_results, save_model, save_reports

__all__ = ["BATCH_SIZE", "CUT_LAYER", "EPOCHS", "HEAD_EPOCHS", "NOT_A_FACE", "OUTPUTS", "SEED", "TRAIN_PHOTOS",
           "train"]


def train(out_dir: Path = config.MODELS_DIR, plots_dir: Path = config.PLOTS_DIR,
          closeups_dir: Path = config.CLASSIFICATION_DIR, epochs: int = EPOCHS,
          size: int = config.CROP_SIZE, seed: int = SEED, photos: str = TRAIN_PHOTOS,
          fold: tuple[int, int] | None = None, detector_epochs: int = DETECTOR_EPOCHS,
          detector_base: str = DEFAULT_DETECTOR_BASE) -> dict:
    """Train the classifier on the close-ups and on the faces of the dev photos `photos` (minus
    cross-validation fold i of k when fold=(i, k)); write model, metrics and plots. First the face detector is
    fine-tuned on the same photos (detector_epochs=0: the stock YuNet): the classifier then learns from its
    boxes, and the model folder carries it (face_detector.onnx)."""
    import keras

    started = time.time()
    keras.utils.set_random_seed(seed)
    out_dir, plots_dir = Path(out_dir), Path(plots_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # 0. the face detector: the stock YuNet, or one fine-tuned on the training photos' faces (cached)
    detector = fine_tuned_detector(out_dir, photos, fold, detector_epochs, detector_base, seed) \
        if detector_epochs else None
    weights = out_dir / detector["file"] if detector else None
    _, _, base = build_backbone(size)
    lower, _ = split_backbone(base)
    lower.trainable = False

    # 1-4. data, augmentation (done once, offline) and the frozen lower backbone's features, cached
    # in two parts: the close-ups are the same for every run, the dev photos differ between folds
    close = cached(config.CACHE_DIR / f"train_closeups_{closeup_key(seed, size)}.npz",
                   lambda: closeup_features(lower, Path(closeups_dir), seed, size))
    real = cached(config.CACHE_DIR / f"train_real_{real_key(seed, size, photos, fold, weights)}.npz",
                  lambda: real_features(lower, photos, fold, seed, size, weights))
    y_train = np.concatenate([close["y_train"], real["y_train"]])
    f_train = np.concatenate([close["f_train"], real["f_train"]])
    f_val = {"closeups": close["f_val_closeups"], "real_photos": real["f_val_real_photos"]}
    y_val = {"closeups": close["y_val_closeups"], "real_photos": real["y_val_real_photos"]}
    report_photos = f"fold {fold[0]} of {fold[1]} of {photos}" if fold else "the other splits"
    collections = ", ".join(config.SOURCES[s][0].parent.name for s in config.SOURCES)
    sources = {"closeups": str(closeups_dir),
               "real_photos": f"{collections}: {photos}" + (f" minus fold {fold[0]} of {fold[1]}" if fold else ""),
               "real_photo_report": f"{collections}: {report_photos}"}
    face_calibration = json.loads(str(real["face_calibration"]))
    # where a face's box is reported: a fit on the detector's boxes alone (no classifier), so not cached with it
    box_fit = face_box_fit(photos, fold, weights)
    live_calibration = live_face_calibration(photos, fold, weights)
    log(f"live-mode face-score calibration on {live_calibration['boxes']} boxes: P(face) = "
        f"sigmoid({live_calibration['intercept']} + {live_calibration['slope']} logit(score))")
    log(f"box fit on {box_fit['boxes']} candidate boxes of annotated faces")

    # 5. fit the upper blocks + head
    base, upper, history, class_weight = fit_classifier(f_train, y_train, f_val["real_photos"],
                                                        y_val["real_photos"], epochs, size, seed)

    # 6. evaluate on held-out crops, save model, metrics and plots
    results = held_out_results(upper, f_val, y_val)
    save_model(base, upper, size, out_dir)
    info = {
        "classes": list(config.CLASS_NAMES), "outputs": list(OUTPUTS), "input_size": size,
        "input": "RGB uint8 crop, square, padded",
        "crop_padding": config.CROP_PADDING, "backbone": "MobileNetV2 alpha 1.0 (ImageNet)",
        "trained_from_layer": CUT_LAYER, "epochs": epochs, "seed": seed, "train_counts": label_counts(y_train),
        "class_weight": class_weight, "head_epochs": HEAD_EPOCHS, "label_smoothing": LABEL_SMOOTHING,
        "training_minutes": round((time.time() - started) / 60, 1),
        "sources": sources,
    }
    if face_calibration:  # read by MaskClassifier, used by Pipeline for Detections.face_probability
        info["face_calibration"] = face_calibration
    info["box_fit"] = box_fit  # read by MaskClassifier, used by Pipeline for Detections.xyxy
    info["face_calibration_live"] = live_calibration  # the same as face_calibration, for Pipeline(live=...)
    if detector:  # read by MaskClassifier: the Pipeline runs this detector with this model
        info["face_detector"] = {k: detector[k] for k in ("file", "base", "epochs", "seed", "photos", "faces",
                                                          "photos_trained", "crop_side", "long_side_range")}
    metrics = save_reports(info, history, results, out_dir, plots_dir)
    return {"info": info, "metrics": metrics}
