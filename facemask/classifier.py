"""The mask classifier: all face crops of a frame in one batched call -> class probabilities."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facemask import config
from facemask.errors import FacemaskError


class MaskClassifier:
    """Serves the trained model: TFLite through OpenCV's DNN module (no TensorFlow import),
    or the Keras file (imports TensorFlow) with `backend="keras"`."""

    def __init__(self, model_path: str | Path | None = None, backend: str = "tflite") -> None:
        self.backend = backend
        if backend == "tflite":
            path = Path(model_path or config.TFLITE_MODEL)
            _require(path)
            self.net = cv2.dnn.readNetFromTFLite(str(path))
            self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        elif backend == "keras":
            path = Path(model_path or config.KERAS_MODEL)
            _require(path)
            import keras  # imported here: only this backend needs TensorFlow

            self.model = keras.models.load_model(path, compile=False)
        else:
            raise FacemaskError(f"Unknown classifier backend {backend!r}; use 'tflite' or 'keras'.")
        self.path = path
        self.input_size = config.CROP_SIZE

    def predict(self, crops_rgb: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB crops -> (N, n_classes) probabilities, in one call."""
        if len(crops_rgb) == 0:
            return np.zeros((0, len(config.CLASS_NAMES)), np.float32)
        batch = np.ascontiguousarray(crops_rgb, dtype=np.float32)
        if self.backend == "keras":
            return np.asarray(self.model(batch, training=False), np.float32)
        self.net.setInput(batch)
        return np.asarray(self.net.forward(), np.float32).reshape(len(batch), -1)


def _require(path: Path) -> None:
    if not path.exists():
        raise FacemaskError(
            f"The mask classifier {path.name} is missing from {path.parent}; "
            "train it with `facemask train` (see README).")
