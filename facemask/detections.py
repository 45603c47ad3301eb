"""`Detections`: the one result type every stage returns and every consumer takes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facemask.config import CLASS_NAMES


@dataclass
class Detections:
    """Faces found in one image, as parallel arrays (one row per face).

    xyxy: (N, 4) float boxes in pixel coordinates of the image given to the pipeline.
    confidence: (N,) probability of the predicted mask class, given that the box is a face.
    class_id: (N,) index into CLASS_NAMES.
    face_score: (N,) score of the face detector.
    face_probability: (N,) chance that the box is on a face: the detector's score calibrated on the
        training photos (as it is where no calibration applies) times the classifier's chance that
        the crop shows a face (1 - its not_a_face output; 1 for older models). A face's score for
        class c, which ranks faces across photos in `facemask evaluate`, is
        face_probability * probabilities[:, c].
    probabilities: (N, C) classifier output for every class.
    """

    xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    class_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    face_score: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    face_probability: np.ndarray | None = None
    probabilities: np.ndarray = field(
        default_factory=lambda: np.zeros((0, len(CLASS_NAMES)), np.float32)
    )
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.confidence = np.asarray(self.confidence, np.float32).reshape(n)
        self.class_id = np.asarray(self.class_id, np.int64).reshape(n)
        self.face_score = np.asarray(self.face_score, np.float32).reshape(n)
        if self.face_probability is None:
            self.face_probability = self.face_score.copy()
        self.face_probability = np.asarray(self.face_probability, np.float32).reshape(n)
        self.probabilities = np.asarray(self.probabilities, np.float32).reshape(n, len(CLASS_NAMES))

    @classmethod
    def empty(cls) -> Detections:
        return cls()

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> Detections:
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            face_score=self.face_score[index],
            face_probability=self.face_probability[index],
            probabilities=self.probabilities[index],
            data=dict(self.data),
        )

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.to_records())

    @property
    def labels(self) -> list[str]:
        return [CLASS_NAMES[i] for i in self.class_id]

    def counts(self) -> dict[str, int]:
        """Faces per class, every class present (zero when none)."""
        return {name: int(np.sum(self.class_id == i)) for i, name in enumerate(CLASS_NAMES)}

    @property
    def class_scores(self) -> np.ndarray:
        """(N, C) score of each face for each class: face_probability * class probability."""
        return self.probabilities * self.face_probability[:, None]

    @property
    def scores(self) -> np.ndarray:
        """(N,) each face's detection confidence: P(face) x P(its label | face). What `score` holds in
        every export, and what a person sorts by or an evaluator ranks by."""
        return self.face_probability * self.confidence

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per face: the `faces` entries of `facemask detect --json` (config.RECORD_FIELDS)."""
        return [
            {
                "box": [int(round(float(v))) for v in box],
                "label": CLASS_NAMES[int(cid)],
                "score": round(float(score), 4),
                "face_probability": round(float(fp), 4),
                "label_probability": round(float(conf), 4),
                "detector_score": round(float(fs), 4),
                "probabilities": {name: round(float(p), 4) for name, p in zip(CLASS_NAMES, probs)},
            }
            for box, cid, score, fp, conf, fs, probs in zip(self.xyxy, self.class_id, self.scores,
                                                            self.face_probability, self.confidence,
                                                            self.face_score, self.probabilities)
        ]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N,4) and (M,4) xyxy boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
