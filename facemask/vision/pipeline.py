"""The one flow: image -> face boxes -> crops -> one batched classifier call -> Detections."""

from __future__ import annotations

import threading

import numpy as np

from facemask import config
from facemask.detections import Detections
from facemask.imageio import fit_into_frame
from facemask.vision import box_fit, calibration
from facemask.vision.classifier import MaskClassifier, split_outputs
from facemask.vision.crops import crop_faces
from facemask.vision.detectors import FaceDetector, create_detector


class Pipeline:
    """Face detector + mask classifier. `Pipeline()` loads the shipped defaults."""

    def __init__(self, detector: str | FaceDetector = config.DEFAULT_DETECTOR,
                 threshold: float = config.DEFAULT_THRESHOLD,
                 classifier: MaskClassifier | None = None, backend: str = config.CLASSIFIER_BACKEND,
                 live: bool | str = False, model_path: str | None = None, mirror_average: bool | None = None) -> None:
        # live: False for photo mode, else the live source whose frame budget sizes the detector's one pass
        # ("webcam", "video", "watch": config.LIVE_MAX_SIDE; True is the webcam)
        self.live_source = ("webcam" if live is True else live) or None
        if self.live_source and self.live_source not in config.LIVE_SOURCES:
            raise ValueError(f"live must be one of {config.LIVE_SOURCES}, not {live!r}")
        self.classifier = classifier or MaskClassifier(model_path, backend=backend)
        if isinstance(detector, FaceDetector):
            self.detector = detector
        else:
            # live video: one cheap pass (faces near a webcam are large); photos: extra upscaled pass
            extra = config.live_detector_settings(self.live_source) if self.live_source else {}
            # a model folder may carry the fine-tuned YuNet its calibration and box fit were fitted on
            self.detector = create_detector(detector, threshold=config.CANDIDATE_THRESHOLD,
                                            weights=self.classifier.face_detector, **extra)
        self.threshold = threshold
        # photos: average each face's probabilities with its mirror image's (one call, twice the crops)
        self.mirror_average = (config.MIRROR_AVERAGE_PHOTOS and not self.live_source) if mirror_average is None \
            else mirror_average
        # one pipeline serves every browser session; its models keep per-call state
        self._lock = threading.RLock()  # detect() holds it across detection and classify()

    @property
    def face_calibration(self) -> dict | None:
        """How the detector's score becomes P(face) in this mode: live mode's one pass scores faces lower than
        photo mode's passes, so a model fitted on both carries one for each (older models: the photo one)."""
        live = getattr(self.classifier, "face_calibration_live", None) if self.live_source else None
        return live or self.classifier.face_calibration

    @property
    def detector_name(self) -> str:
        return self.detector.name

    @property
    def fallback_reason(self) -> str | None:
        """Why the requested detector was replaced by haar, or None."""
        return getattr(self.detector, "fallback_reason", None)

    def classify(self, image_bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """The classifier's (N, K) outputs for the faces at `boxes` (xyxy), in one call
        (`split_outputs` gives the class probabilities and P(face))."""
        with self._lock:
            return self._predict(crop_faces(image_bgr, boxes, self.classifier.input_size))

    def _predict(self, crops: np.ndarray) -> np.ndarray:
        """One classifier call; photos: each crop and its mirror image, their outputs averaged."""
        if not self.mirror_average:
            return self.classifier.predict(crops)
        both = self.classifier.predict(np.concatenate([crops, crops[:, :, ::-1]]))
        return (both[:len(crops)] + both[len(crops):]) / 2

    def detect(self, image_bgr: np.ndarray, threshold: float | None = None) -> Detections:
        """Faces whose P(face) (`Detections.face_probability`) is >= threshold, each with its mask
        class and confidence."""
        return self.detect_many([image_bgr], threshold)[0]

    def detect_with_privacy(self, image_bgr: np.ndarray, threshold: float | None = None,
                            privacy: bool = False) -> tuple[Detections, Detections]:
        """(the faces to show: P(face) >= threshold; the faces the picture must hide): with privacy, every
        candidate down to config.PRIVACY_THRESHOLD, shown or not, for `annotate(..., blur=True, threshold=)`."""
        threshold = self.threshold if threshold is None else threshold
        if not privacy:
            shown = self.detect(image_bgr, threshold)
            return shown, shown
        every = self.detect(image_bgr, min(threshold, config.PRIVACY_THRESHOLD))
        return every[every.face_probability >= threshold], every

    def detect_in_frame(self, image_bgr: np.ndarray, frame_size: tuple[int, int],
                        threshold: float | None = None) -> Detections:
        """`detect` on the picture as a camera of frame_size (width, height) films it: fitted into the frame with
        its aspect kept, detected there, the boxes given back in the picture's own pixels (how live mode is
        measured on photos)."""
        frame, factor = fit_into_frame(image_bgr, frame_size)
        found = self.detect(frame, threshold)
        found.xyxy = found.xyxy / np.float32(factor)
        return found

    def detect_many(self, images_bgr: list[np.ndarray], threshold: float | None = None) -> list[Detections]:
        """`detect` for several frames (one per camera, say): one detector pass per frame, then the faces
        of all of them in one batched classifier call."""
        threshold = self.threshold if threshold is None else threshold
        with self._lock:
            found = []
            for image in images_bgr:
                candidates = self.detector.find(image)
                # P(face) = the detector's calibrated score x the classifier's view of the crop (<= 1), so
                # a box whose calibrated score is under the threshold is dropped before it is classified
                detector_says = calibration.apply(candidates.scores, self.face_calibration, self.detector_name)
                keep = detector_says >= threshold
                kept = type(candidates)(*(column[keep] for column in candidates))
                # the crop is cut from the detector's box (as in training); the face is reported at its fitted box
                reported = box_fit.apply(kept, self.classifier.box_fit, self.detector_name,
                                         image.shape[1], image.shape[0])
                found.append((kept.boxes, reported, kept.scores, detector_says[keep]))
            crops = [crop_faces(image, boxes, self.classifier.input_size)
                     for image, (boxes, _, _, _) in zip(images_bgr, found) if len(boxes)]
            if crops:
                outputs = self._predict(np.concatenate(crops))
        results, start = [], 0
        for _, boxes, face_scores, detector_says in found:
            if len(boxes) == 0:
                results.append(Detections.empty())
                continue
            probs, crop_is_face = split_outputs(outputs[start:start + len(boxes)])
            start += len(boxes)
            face_probability = detector_says * crop_is_face
            class_id = probs.argmax(axis=1)
            results.append(Detections(xyxy=boxes, confidence=probs[np.arange(len(probs)), class_id],
                                      class_id=class_id, face_score=face_scores,
                                      face_probability=face_probability,
                                      probabilities=probs)[face_probability >= threshold])
        return results
