"""The mask classifier: all face crops of a frame in one batched call -> class probabilities and,
for models trained with a not-a-face output, the chance that the crop shows a face."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from facemask import config
from facemask.errors import FacemaskError
from facemask.quiet import import_keras, native_stderr_filtered

BACKENDS = ("litert", "opencv", "keras")


class MaskClassifier:
    """Serves the trained model. `litert` (default): the TFLite file on Google's LiteRT runtime
    with XNNPACK; `opencv`: the same file through OpenCV's DNN module; `keras`: the Keras file
    (imports TensorFlow, slow to start). `facemask benchmark` measures all three."""

    def __init__(self, model_path: str | Path | None = None, backend: str = config.CLASSIFIER_BACKEND,
                 threads: int = config.CLASSIFIER_THREADS) -> None:
        if backend not in BACKENDS:
            raise FacemaskError(f"Unknown classifier backend {backend!r}; use one of {', '.join(BACKENDS)}.")
        if backend == "litert":
            try:
                from ai_edge_litert.interpreter import Interpreter
            except ImportError:  # runtime not installed: same file through OpenCV
                backend = "opencv"
        default = config.KERAS_MODEL if backend == "keras" else config.TFLITE_MODEL
        path = Path(model_path or default)
        if not path.exists():
            raise FacemaskError(f"The mask classifier {path.name} is missing from {path.parent}; "
                                "train it with `facemask train` (see README).")
        self.backend, self.path = backend, path
        info = _model_info(path)
        self.input_size = int(info.get("input_size", config.CROP_SIZE))
        # the model's outputs: the classes, then (models since the not-a-face output) not_a_face
        self.outputs: tuple[str, ...] = tuple(info.get("outputs", config.CLASS_NAMES))
        # P(face | detector score), fitted by `facemask train` on its photos for one detector (or None)
        self.face_calibration: dict | None = info.get("face_calibration")
        # the same for live mode's one pass at a camera frame's size (models since the live calibration)
        self.face_calibration_live: dict | None = info.get("face_calibration_live")
        # where a face's box is reported from the detector's fused box and landmarks (facemask/vision/box_fit.py)
        self.box_fit: dict | None = info.get("box_fit")
        # the face detector these were fitted on, when the model folder carries its own (a fine-tuned YuNet);
        # None: the stock YuNet of config.YUNET_WEIGHTS
        detector = info.get("face_detector")
        detector_file = detector.get("file") if isinstance(detector, dict) else None
        self.face_detector: Path | None = path.parent / detector_file if detector_file else None
        if self.face_detector is not None and not self.face_detector.exists():
            raise FacemaskError(f"The model in {path.parent} was trained with its own face detector, "
                                f"{detector_file}, which is missing there; copy the whole model folder.")
        if backend == "litert":
            # LiteRT prints "Created TensorFlow Lite XNNPACK delegate" from C++ when it plans the graph
            with native_stderr_filtered():
                self._interpreter = Interpreter(str(path), num_threads=threads)
                self._interpreter.allocate_tensors()
            self._input = self._interpreter.get_input_details()[0]["index"]
            self._output = self._interpreter.get_output_details()[0]["index"]
            self._batch = None
        elif backend == "opencv":
            import cv2

            self._net = cv2.dnn.readNetFromTFLite(str(path))
            self._net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        else:
            keras = import_keras()  # only this backend needs TensorFlow
            self.model = keras.models.load_model(path, compile=False)

    def predict(self, crops_rgb: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB crops -> (N, len(self.outputs)) probabilities, in one call;
        `split_outputs` turns them into class probabilities and P(face)."""
        if len(crops_rgb) == 0:
            return np.zeros((0, len(self.outputs)), np.float32)
        batch = np.ascontiguousarray(crops_rgb, dtype=np.float32)
        if len(batch) <= config.CLASSIFIER_MAX_BATCH:
            return self._run(batch)
        # a crowd photo (or every candidate, at threshold 0): equal chunks of at most CLASSIFIER_MAX_BATCH,
        # the last one padded to the same size, so the interpreter's memory stays that of one chunk (not of
        # hundreds of crops) and it is planned once per photo
        chunks = -(-len(batch) // config.CLASSIFIER_MAX_BATCH)
        size = -(-len(batch) // chunks)
        outputs = []
        for start in range(0, len(batch), size):
            chunk = batch[start:start + size]
            padded = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), np.float32)])
            outputs.append(self._run(padded)[:len(chunk)])
        return np.concatenate(outputs)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self.backend == "litert":
            if self._batch != len(batch):  # re-plan only when the number of faces changes
                self._interpreter.resize_tensor_input(self._input, batch.shape)
                self._interpreter.allocate_tensors()
                self._batch = len(batch)
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            return np.array(self._interpreter.get_tensor(self._output), np.float32)
        if self.backend == "opencv":
            # OpenCV's importer maps the TFLite graph to NCHW blobs
            self._net.setInput(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
            return np.asarray(self._net.forward(), np.float32).reshape(len(batch), -1)
        return np.asarray(self.model(batch, training=False), np.float32)


def split_outputs(outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The classifier's (N, K) outputs -> ((N, C) mask-class probabilities summing to 1, (N,) chance
    that the crop shows a face: 1 - the not-a-face output, or 1 for models without one)."""
    outputs = np.asarray(outputs, np.float32)
    n = len(config.CLASS_NAMES)
    classes = outputs[:, :n]
    if outputs.shape[1] == n:
        return classes, np.ones(len(outputs), np.float32)
    total = classes.sum(axis=1, keepdims=True)
    # a crop the model is sure shows no face keeps a defined (uniform) class distribution
    probs = np.where(total > 1e-6, classes / np.maximum(total, 1e-6), 1.0 / n).astype(np.float32)
    return probs, np.clip(total[:, 0], 0.0, 1.0)


def _model_info(model_path: Path) -> dict:
    """model_info.json beside the model (crop side, face-score calibration); {} when absent or unreadable."""
    info = model_path.parent / config.MODEL_INFO.name
    try:
        data = json.loads(info.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
