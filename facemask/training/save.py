"""Stage 6: the trained network -> its scores on the held-out crops, and the files the app reads:
one Keras model (rescaling + backbone + head), its TFLite twin, model_info.json, train_metrics.json
and the plots of the metrics page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from facemask import config
from facemask.training.log import log
from facemask.training.recipe import OUTPUTS
from facemask.vision.classifier import split_outputs


def held_out_results(upper, f_val: dict[str, np.ndarray], y_val: dict[str, np.ndarray]) -> dict:
    """{name: {y_true, probs}} for each held-out set of crops that has any (all of them faces)."""
    results = {}
    for name in f_val:
        if not len(f_val[name]):
            continue
        probs, _ = split_outputs(upper.predict(f_val[name], verbose=0))  # held-out crops are all faces
        results[name] = {"y_true": y_val[name].tolist(), "probs": probs.round(5).tolist()}
    return results


def export_model(base, upper, size: int):
    """One clean graph (rescaling -> MobileNetV2 -> pooling -> softmax) holding the trained weights.

    `lower` and `upper` share layers with `base`, so base's weights are the trained ones.
    """
    import keras

    inputs = keras.Input((size, size, 3), name="face_rgb")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(inputs)
    backbone = keras.applications.MobileNetV2(input_shape=(size, size, 3), include_top=False, weights=None)
    backbone.set_weights(base.get_weights())
    x = keras.layers.GlobalAveragePooling2D(name="pool")(backbone(x))
    head = keras.layers.Dense(len(OUTPUTS), activation="softmax", name="mask_class")
    outputs = head(x)
    head.set_weights(upper.get_layer("mask_class").get_weights())
    return keras.Model(inputs, outputs, name="mask_classifier")


def keras_to_tflite(model) -> bytes:
    """The same model as a TFLite flatbuffer, for the lighter serving backend."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return converter.convert()


def save_model(base, upper, size: int, out_dir: Path) -> None:
    """Write the Keras model and its TFLite twin to out_dir."""
    model = export_model(base, upper, size)
    model.save(out_dir / config.KERAS_MODEL.name)
    tflite = keras_to_tflite(model)
    (out_dir / config.TFLITE_MODEL.name).write_bytes(tflite)


def save_reports(info: dict, history: dict, results: dict, out_dir: Path, plots_dir: Path) -> dict:
    """Write the plots, model_info.json (`info`) and train_metrics.json; return the plotted metrics."""
    from facemask.evaluation.report import write_training_plots

    metrics = write_training_plots(history, results, plots_dir)
    (out_dir / config.MODEL_INFO.name).write_text(json.dumps(info, indent=2))
    (out_dir / config.TRAIN_METRICS.name).write_text(json.dumps(
        {"history": {k: [float(v) for v in vals] for k, vals in history.items()}, **metrics}, indent=2))
    log(f"done in {info['training_minutes']:.1f} min; model in {out_dir}, plots in {plots_dir}")
    return metrics
