"""Stage 5: cached features -> the trained upper backbone and head, in two phases: the new head
alone first (so its random start does not wreck the pretrained blocks), then the upper blocks too."""

from __future__ import annotations

import numpy as np

from facemask import config
from facemask.training.backbone import build_backbone, split_backbone
from facemask.training.log import log
from facemask.training.recipe import (
    BATCH_SIZE,
    HEAD_EPOCHS,
    HEAD_LEARNING_RATE,
    LABEL_SMOOTHING,
    LEARNING_RATE,
    NOT_A_FACE,
    OUTPUTS,
)


def training_targets(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[int, float]]:
    """One-hot targets over OUTPUTS (NOT_A_FACE on the last one) and per-sample weights that give
    each mask class the same total weight (capped at 5x); NOT_A_FACE samples weigh 1."""
    n_classes = len(config.CLASS_NAMES)
    labelled = labels[labels != NOT_A_FACE]
    freq = np.bincount(labelled, minlength=n_classes) / len(labelled)
    class_weight = {c: float(min(1.0 / (n_classes * freq[c]), 5.0)) for c in range(n_classes)}
    output = np.where(labels == NOT_A_FACE, len(OUTPUTS) - 1, labels)
    targets = np.eye(len(OUTPUTS), dtype=np.float32)[output]
    weights = np.ones(len(labels), np.float32)
    for c in range(n_classes):
        weights[labels == c] = class_weight[c]
    return targets, weights, class_weight


def fit_classifier(f_train: np.ndarray, y_train: np.ndarray, f_report: np.ndarray, y_report: np.ndarray,
                   epochs: int, size: int, seed: int):
    """Fit a fresh upper part on the training features: HEAD_EPOCHS for the head, then `epochs` for
    the upper blocks and head. The report photos' loss is logged per epoch; nothing is chosen by it.
    Returns (backbone, upper, history, class_weight); the backbone holds the trained weights."""
    import keras

    keras.utils.set_random_seed(seed)
    _, _, base = build_backbone(size)
    lower, upper = split_backbone(base)
    lower.trainable = False

    y_onehot, sample_weight, class_weight = training_targets(y_train)
    one_hot = np.eye(len(OUTPUTS), dtype=np.float32)
    fit_args = dict(batch_size=BATCH_SIZE, sample_weight=sample_weight, shuffle=True, verbose=2)
    if len(f_report):  # logged per epoch for the curves; nothing is chosen by it
        fit_args["validation_data"] = (f_report, one_hot[y_report])
    # phase 1: the new head alone, so its random start does not wreck the pretrained blocks
    for layer in upper.layers:
        layer.trainable = layer.name == "mask_class"
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=LABEL_SMOOTHING)
    upper.compile(optimizer=keras.optimizers.Adam(HEAD_LEARNING_RATE), loss=loss, metrics=["accuracy"])
    log("phase 1: head only")
    first = upper.fit(f_train, y_onehot, epochs=HEAD_EPOCHS, **fit_args).history
    # phase 2: upper blocks too (BatchNorm stays frozen, in inference mode)
    for layer in upper.layers:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    steps = epochs * int(np.ceil(len(f_train) / BATCH_SIZE))
    upper.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps)),
                  loss=loss, metrics=["accuracy"])
    log("phase 2: upper blocks + head")
    second = upper.fit(f_train, y_onehot, epochs=epochs, **fit_args).history
    history = {k: first[k] + second[k] for k in first}
    return base, upper, history, class_weight
