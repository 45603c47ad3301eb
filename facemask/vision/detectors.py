"""Face detectors behind one interface: `detect(image_bgr) -> (xyxy boxes, scores)`.

Crowd photos hold faces of 10-30 px, below what these detectors see at native size, so each
detector runs on an upscaled copy when the picture is small (`min_side`), and boxes are mapped
back to the original pixels. `box_scale` reshapes boxes to match how faces are annotated.

`find` also gives, for each face, the score-weighted mean of every raw box the detector put on it
(before its own non-maximum suppression kept one) and, for YuNet, its 5 landmarks: from these
facemask/vision/box_fit.py places the box a face is reported with. The crops keep the reshaped box the
classifier was trained on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from facemask import config
from facemask.detections import iou_matrix
from facemask.errors import FacemaskError

log = logging.getLogger(__name__)


class FaceBoxes(NamedTuple):
    """What a detector finds on one picture: one row per face candidate, in image pixels."""

    boxes: np.ndarray  # (N, 4) xyxy float32: the detector's box reshaped by box_scale; the crop is cut from it
    scores: np.ndarray  # (N,) float32: the detector's raw score
    fused: np.ndarray  # (N, 4) xyxy float32: the score-weighted mean of the raw boxes on this face (no box_scale)
    landmarks: np.ndarray  # (N, 10) float32 x, y of eyes, nose tip and mouth corners (YuNet); (N, 0) without
    scale: np.ndarray  # (N,) float32: the pass's scale factor, picture pixels -> the detector's, of each box


class NativeBoxes(NamedTuple):
    """One pass of a detector on the picture it was given: the boxes it keeps (with their landmarks, if
    any) and every raw box before its non-maximum suppression (the same boxes for detectors without)."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray
    raw_boxes: np.ndarray
    raw_scores: np.ndarray

    @classmethod
    def plain(cls, boxes: np.ndarray, scores: np.ndarray) -> NativeBoxes:
        return cls(boxes, scores, np.zeros((len(boxes), 0), np.float32), boxes, scores)


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
        found = self.find(image)
        return found.boxes, found.scores

    def find(self, image: np.ndarray) -> FaceBoxes:
        """Every face candidate scored >= threshold, with its fused box and landmarks (`FaceBoxes`)."""
        height, width = image.shape[:2]
        factors = sorted({self._factor(height, width, *sides) for sides in self.passes})
        kept, raw = [], []
        for factor in factors:
            work = image
            if factor != 1.0:
                work = cv2.resize(image, (round(width * factor), round(height * factor)),
                                  interpolation=cv2.INTER_LINEAR)
            native = self._detect_native(work)
            keep = native.scores >= self.threshold
            kept.append((native.boxes[keep] / factor, native.scores[keep], native.landmarks[keep] / factor,
                         np.full(int(keep.sum()), factor, np.float32)))
            keep = native.raw_scores >= self.threshold
            raw.append((native.raw_boxes[keep] / factor, native.raw_scores[keep]))
        boxes, scores, landmarks, scale = (np.concatenate(part) for part in zip(*kept))
        if len(factors) > 1 and len(boxes) > 1:
            keep = nms(boxes, scores, self.merge_iou)
            boxes, scores, landmarks, scale = boxes[keep], scores[keep], landmarks[keep], scale[keep]
        fused = fuse_boxes(boxes, scores, *(np.concatenate(part) for part in zip(*raw)))
        boxes = self._reshape_boxes(boxes)
        for b in (boxes, fused):
            b[:, [0, 2]] = b[:, [0, 2]].clip(0, width)
            b[:, [1, 3]] = b[:, [1, 3]].clip(0, height)
        valid = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
        return FaceBoxes(boxes[valid].astype(np.float32), scores[valid].astype(np.float32),
                         fused[valid].astype(np.float32), landmarks[valid].astype(np.float32), scale[valid])

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

    def _detect_native(self, image: np.ndarray) -> NativeBoxes:
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
            return NativeBoxes.plain(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
        rects = np.asarray(rects, np.float32)
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        # level weights are unbounded; squash to (0, 1) so one threshold fits every detector
        scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float32).reshape(-1)))
        return NativeBoxes.plain(boxes, scores.astype(np.float32))


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
        return NativeBoxes.plain(boxes[keep].astype(np.float32), scores[keep])


class YuNetDetector(FaceDetector):
    """OpenCV Zoo's YuNet (cv2.FaceDetectorYN): small, fast, and good on small faces."""

    name = "yunet"

    def __init__(self, nms_threshold: float = 0.3, top_k: int = 5000, weights=None, **kwargs) -> None:
        super().__init__(**kwargs)
        # the stock network, or a fine-tuned one in the same form (`facemask train`, training/detector/)
        self.weights = Path(weights) if weights else config.YUNET_WEIGHTS
        _require_files(self.name, self.weights)
        self.nms_threshold, self.top_k = nms_threshold, top_k
        self._model = None
        # one network per input size, most recently used last: a photo's passes alternate between two sizes,
        # and resizing a network re-allocates its buffers (about 100 ms a photo at 1920 px)
        self._networks: dict[tuple[int, int], object] = {}

    @property
    def model(self):
        """A network of its own for callers that set their input size themselves (training's landmark
        search), with YuNet's own non-maximum suppression; made on first use, so serving never builds it."""
        if self._model is None:
            self._model = cv2.FaceDetectorYN.create(str(self.weights), "", (320, 320), 0.05,
                                                    self.nms_threshold, self.top_k)
        return self._model

    def _create(self, size: tuple[int, int]):
        return RawYuNet(self.weights, score_threshold=0.05)

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
            faces = np.zeros((0, 15), np.float32)  # no face: still 10 landmark columns, as the passes that find some
        faces = faces.astype(np.float32)
        scores = faces[:, -1]
        keep = np.arange(len(faces))
        if len(faces) > 1:  # YuNet's own suppression, as cv2.FaceDetectorYN does it: on integer x, y, w, h
            keep = np.asarray(cv2.dnn.NMSBoxes(faces[:, :4].astype(np.int32).tolist(), scores.tolist(), 0.05,
                                               self.nms_threshold, 1.0, self.top_k), np.int64).reshape(-1)
        boxes = np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:4]], axis=1)
        return NativeBoxes(boxes[keep], scores[keep], faces[keep, 4:14], boxes, scores)


class RawYuNet:
    """YuNet's network and the decoding of cv2.FaceDetectorYN, without its suppression: `detect(image)` gives
    every box scored >= score_threshold as rows of x, y, w, h, 5 landmarks (x, y), score, in the order
    FaceDetectorYN ranks them before its suppression (`YuNetDetector._detect_native` then suppresses as it
    does). Its cost is the network's alone: FaceDetectorYN told to keep every box compares each with all
    the others."""

    OUTPUTS = ("cls_8", "cls_16", "cls_32", "obj_8", "obj_16", "obj_32",
               "bbox_8", "bbox_16", "bbox_32", "kps_8", "kps_16", "kps_32")
    STRIDES = (8, 16, 32)

    def __init__(self, weights, score_threshold: float) -> None:
        self.net = cv2.dnn.readNet(str(weights))
        self.score_threshold = score_threshold
        self._blob, self._size = None, None

    def detect(self, image: np.ndarray):
        height, width = image.shape[:2]
        padded_w, padded_h = (width - 1) // 32 * 32 + 32, (height - 1) // 32 * 32 + 32
        # the network's input: the picture as float planes, padded with zeros to a multiple of 32 (what
        # blobFromImage gives for the padded picture), in a buffer kept for the next picture of this size:
        # a fresh 33 MB buffer per pass costs more than the copy on this kind of machine
        if self._size != (height, width):
            self._blob, self._size = np.zeros((1, 3, padded_h, padded_w), np.float32), (height, width)
        for channel, plane in enumerate(cv2.split(image)):
            self._blob[0, channel, :height, :width] = plane
        self.net.setInput(self._blob)
        outputs = self.net.forward(self.OUTPUTS)
        rows = []
        for i, stride in enumerate(self.STRIDES):
            cls = np.clip(outputs[i].reshape(-1), 0, 1)
            obj = np.clip(outputs[i + 3].reshape(-1), 0, 1)
            score = np.sqrt(cls * obj)
            at = np.flatnonzero(score >= self.score_threshold)
            box, points = outputs[i + 6].reshape(-1, 4)[at], outputs[i + 9].reshape(-1, 10)[at].copy()
            row = (at // (padded_w // stride)).astype(np.float32)[:, None]
            col = (at % (padded_w // stride)).astype(np.float32)[:, None]
            step = np.float32(stride)
            centre = np.hstack([col + box[:, :1], row + box[:, 1:2]]) * step
            size = np.exp(box[:, 2:4]) * step
            points[:, 0::2] = (points[:, 0::2] + col) * step
            points[:, 1::2] = (points[:, 1::2] + row) * step
            rows.append(np.hstack([centre - size / np.float32(2), size, points, score[at, None]]).astype(np.float32))
        return 1, np.concatenate(rows)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression, used to merge the passes of a multi-scale detection: the indices
    of the boxes kept, best score first."""
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
    return np.array(keep, np.int64)


def fuse_boxes(boxes: np.ndarray, scores: np.ndarray, raw_boxes: np.ndarray, raw_scores: np.ndarray,
               iou: float = config.BOX_FUSION_IOU, min_score: float = config.BOX_FUSION_MIN_SCORE) -> np.ndarray:
    """For each kept box, the score-weighted mean of the raw boxes (every pass, before suppression) that
    overlap it by IoU >= iou and score at least min_score times its score: one box from the many the
    detector put on a face, steadier than the one suppression kept."""
    fused = boxes.astype(np.float64)
    if not len(boxes) or not len(raw_boxes):
        return fused
    # a raw box overlapping a kept one of width w by IoU >= iou starts at most (1 - iou) / iou * w to its
    # left and (1 - iou) * w to its right: with both sorted by x1, each block of kept boxes is compared
    # with the raw boxes of its own stretch of the picture only
    by_x1 = np.argsort(raw_boxes[:, 0], kind="stable")
    raw_boxes, raw_scores = raw_boxes[by_x1], raw_scores[by_x1]
    order = np.argsort(boxes[:, 0], kind="stable")
    for start in range(0, len(order), 64):
        part = order[start:start + 64]
        x1, width = boxes[part, 0], boxes[part, 2] - boxes[part, 0]
        lo = np.searchsorted(raw_boxes[:, 0], (x1 - (1 - iou) / iou * width).min(), "left")
        hi = np.searchsorted(raw_boxes[:, 0], (x1 + (1 - iou) * width).max(), "right")
        near, near_scores = raw_boxes[lo:hi], raw_scores[lo:hi]
        weights = (iou_matrix(boxes[part], near) >= iou) * near_scores[None, :]
        weights *= near_scores[None, :] >= min_score * scores[part, None]
        total = weights.sum(axis=1)
        has = total > 0
        fused[part[has]] = (weights[has] @ near.astype(np.float64)) / total[has, None]
    return fused


_DETECTORS = {cls.name: cls for cls in (HaarDetector, SSDDetector, YuNetDetector)}


def _require_files(name: str, *paths) -> None:
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise FacemaskError(
            f"The {name} face detector's files are missing ({', '.join(missing)}); "
            "run `python face_detector/place_weights.py` to place them.")


def create_detector(name: str, fallback: bool = True, weights=None, **kwargs) -> FaceDetector:
    """Build a detector by name; when its files are missing, warn once and fall back to haar. `weights`: a
    fine-tuned YuNet (`facemask train`, a model folder's face_detector.onnx) instead of the stock one; it
    learnt the annotated boxes' shape itself, so its boxes are not reshaped by the stock network's box_scale."""
    if name not in _DETECTORS:
        raise FacemaskError(f"Unknown face detector {name!r}; choose one of {', '.join(config.DETECTORS)}.")
    options = dict(config.DETECTOR_SETTINGS.get(name, {}))
    if weights is not None and name == "yunet":
        options.update(weights=weights, box_scale=(0.0, 0.0, 1.0, 1.0))
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
