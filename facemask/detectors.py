"""Face detectors behind one interface: `detect(image_bgr) -> (xyxy boxes, scores)`.

Crowd photos hold faces of 10-30 px, below what these detectors see at native size, so each
detector runs on an upscaled copy when the picture is small (`min_side`), and boxes are mapped
back to the original pixels. `box_scale` reshapes boxes to match how faces are annotated.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from facemask import config
from facemask.errors import FacemaskError

log = logging.getLogger(__name__)


class FaceDetector:
    """Base class: subclasses implement `_detect_native` on an image already rescaled."""

    name = "base"

    def __init__(self, threshold: float = 0.5, min_side: int | tuple[int, ...] = 0,
                 max_upscale: float = 3.0, max_side: int | tuple[int, ...] = 0, merge_iou: float = 0.4,
                 box_scale: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)) -> None:
        self.threshold = threshold
        # one pass per entry of min_side, with the max_side of the same place (or the only one):
        # a picture whose short side is under min_side is upscaled until it reaches it (at most
        # max_upscale times); else one whose long side is over max_side is shrunk to it (0: never)
        self.min_sides = tuple(min_side) if isinstance(min_side, (tuple, list)) else (min_side,)
        max_sides = tuple(max_side) if isinstance(max_side, (tuple, list)) else (max_side,) * len(self.min_sides)
        if len(max_sides) != len(self.min_sides):
            raise ValueError("min_side and max_side need one entry per pass")
        self.passes = tuple(zip(self.min_sides, max_sides))
        self.max_upscale = max_upscale
        self.merge_iou = merge_iou
        # (dx, dy, sw, sh): centre shift as a fraction of the box size, then width/height factors
        self.box_scale = box_scale

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (N,4) float32 xyxy boxes in image pixels and (N,) scores >= threshold."""
        height, width = image.shape[:2]
        factors = sorted({self._factor(height, width, *sides) for sides in self.passes})
        all_boxes, all_scores = [], []
        for factor in factors:
            work = image
            if factor != 1.0:
                work = cv2.resize(image, (round(width * factor), round(height * factor)),
                                  interpolation=cv2.INTER_LINEAR)
            boxes, scores = self._detect_native(work)
            keep = scores >= self.threshold
            all_boxes.append(boxes[keep] / factor)
            all_scores.append(scores[keep])
        boxes, scores = np.concatenate(all_boxes), np.concatenate(all_scores)
        if len(factors) > 1 and len(boxes) > 1:
            boxes, scores = nms(boxes, scores, self.merge_iou)
        boxes = self._reshape_boxes(boxes)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        valid = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
        return boxes[valid].astype(np.float32), scores[valid].astype(np.float32)

    def _factor(self, height: int, width: int, min_side: int, max_side: int) -> float:
        if min_side and min(height, width) < min_side:
            return min(min_side / min(height, width), self.max_upscale)
        if max_side and max(height, width) > max_side:
            return max_side / max(height, width)
        return 1.0

    def _reshape_boxes(self, boxes: np.ndarray) -> np.ndarray:
        dx, dy, sw, sh = self.box_scale
        if (dx, dy, sw, sh) == (0.0, 0.0, 1.0, 1.0) or len(boxes) == 0:
            return boxes
        w = boxes[:, 2] - boxes[:, 0]
        h = boxes[:, 3] - boxes[:, 1]
        cx = (boxes[:, 0] + boxes[:, 2]) / 2 + dx * w
        cy = (boxes[:, 1] + boxes[:, 3]) / 2 + dy * h
        w, h = w * sw, h * sh
        return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)

    def _detect_native(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class HaarDetector(FaceDetector):
    """OpenCV's frontal-face Haar cascade: always available, weakest on masks and small faces."""

    name = "haar"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise FacemaskError(f"OpenCV's Haar cascade could not be loaded from {path}.")

    def _detect_native(self, image):
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        gray = cv2.equalizeHist(gray)
        rects, _, weights = self.cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=4, minSize=(12, 12), outputRejectLevels=True)
        if len(rects) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        rects = np.asarray(rects, np.float32)
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        # level weights are unbounded; squash to (0, 1) so one threshold fits every detector
        scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float32).reshape(-1)))
        return boxes, scores


class SSDDetector(FaceDetector):
    """OpenCV's res10 SSD (Caffe), run at `input_size` instead of the usual 300x300."""

    name = "ssd"

    def __init__(self, input_size: int = 300, **kwargs) -> None:
        super().__init__(**kwargs)
        _require_files(self.name, config.SSD_PROTOTXT, config.SSD_WEIGHTS)
        self.net = cv2.dnn.readNetFromCaffe(str(config.SSD_PROTOTXT), str(config.SSD_WEIGHTS))
        self.input_size = input_size

    def _detect_native(self, image):
        height, width = image.shape[:2]
        if self.input_size:
            size = (self.input_size, self.input_size)
            blob = cv2.dnn.blobFromImage(cv2.resize(image, size), 1.0, size, (104.0, 177.0, 123.0))
        else:
            blob = cv2.dnn.blobFromImage(image, 1.0, (width, height), (104.0, 177.0, 123.0))
        self.net.setInput(blob)
        out = self.net.forward().reshape(-1, 7)
        scores = out[:, 2].astype(np.float32)
        boxes = out[:, 3:7] * np.array([width, height, width, height], np.float32)
        keep = scores > 0.05
        return boxes[keep].astype(np.float32), scores[keep]


class YuNetDetector(FaceDetector):
    """OpenCV Zoo's YuNet (cv2.FaceDetectorYN): small, fast, and good on small faces."""

    name = "yunet"

    def __init__(self, nms_threshold: float = 0.3, top_k: int = 5000, **kwargs) -> None:
        super().__init__(**kwargs)
        _require_files(self.name, config.YUNET_WEIGHTS)
        self.nms_threshold, self.top_k = nms_threshold, top_k
        self._model = None
        # one network per input size, most recently used last: a photo's passes alternate between two sizes,
        # and resizing a network re-allocates its buffers (about 100 ms a photo at 1920 px)
        self._networks: dict[tuple[int, int], object] = {}

    @property
    def model(self):
        """A network of its own for callers that set their input size themselves (training's landmark
        search); made on first use, so serving never builds it."""
        if self._model is None:
            self._model = self._create((320, 320))
        return self._model

    def _create(self, size: tuple[int, int]):
        return cv2.FaceDetectorYN.create(str(config.YUNET_WEIGHTS), "", size, 0.05, self.nms_threshold, self.top_k)

    def _network(self, size: tuple[int, int]):
        network = self._networks.pop(size, None) or self._create(size)
        self._networks[size] = network
        while len(self._networks) > max(2, len(self.passes)):
            del self._networks[next(iter(self._networks))]
        return network

    def _detect_native(self, image):
        height, width = image.shape[:2]
        _, faces = self._network((width, height)).detect(image)
        if faces is not None:  # YuNet returns a row of NaN now and then
            faces = faces[np.isfinite(faces).all(axis=1)]
        if faces is None or len(faces) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        boxes = np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:4]], axis=1)
        return boxes.astype(np.float32), faces[:, -1].astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy non-maximum suppression, used to merge the passes of a multi-scale detection."""
    order = np.argsort(-scores)
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap < iou]
    return boxes[keep], scores[keep]


_DETECTORS = {cls.name: cls for cls in (HaarDetector, SSDDetector, YuNetDetector)}


def _require_files(name: str, *paths) -> None:
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise FacemaskError(
            f"The {name} face detector's files are missing ({', '.join(missing)}); "
            "run `python face_detector/place_weights.py` to place them.")


def create_detector(name: str, fallback: bool = True, **kwargs) -> FaceDetector:
    """Build a detector by name; when its files are missing, warn once and fall back to haar."""
    if name not in _DETECTORS:
        raise FacemaskError(f"Unknown face detector {name!r}; choose one of {', '.join(config.DETECTORS)}.")
    options = dict(config.DETECTOR_SETTINGS.get(name, {}))
    options.update(kwargs)
    try:
        return _DETECTORS[name](**options)
    except FacemaskError as exc:
        if not fallback or name == config.FALLBACK_DETECTOR:
            raise
        log.warning("%s Falling back to %s.", exc, config.FALLBACK_DETECTOR)
        detector = _DETECTORS[config.FALLBACK_DETECTOR](
            **{k: v for k, v in config.DETECTOR_SETTINGS.get(config.FALLBACK_DETECTOR, {}).items()})
        detector.fallback_reason = str(exc)
        return detector
