"""Faces followed across the frames of one camera (Norfair), each track labelled by a vote over its
frames: one person in view is one track, whatever single frames say."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import norfair
import numpy as np

from facemask import config
from facemask.detections import Detections


@dataclass
class Track:
    """One face followed over frames. `label` is the vote over its frames; `score` the mean
    P(face) x P(label) of that label over them; `row` its row in the latest frame's Detections
    (None when it was not seen in that frame)."""

    id: int
    box: np.ndarray
    label: str
    score: float
    frames: int
    votes: dict[str, int]
    first_seen: float
    last_seen: float
    row: int | None = None

    @property
    def duration_s(self) -> float:
        return self.last_seen - self.first_seen


@dataclass
class _State:
    """What a Norfair object has gathered: the per-frame labels and class scores, its times."""

    first_seen: float
    last_seen: float = 0.0
    box: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    votes: Counter = field(default_factory=Counter)
    class_score_sum: np.ndarray = field(default_factory=lambda: np.zeros(len(config.CLASS_NAMES)))
    frames: int = 0
    id: int | None = None
    row: int | None = None

    def track(self) -> Track:
        # majority of the per-frame labels; a tie goes to the larger summed class score
        best = max(range(len(config.CLASS_NAMES)),
                   key=lambda c: (self.votes[config.CLASS_NAMES[c]], self.class_score_sum[c]))
        return Track(id=int(self.id), box=self.box.copy(), label=config.CLASS_NAMES[best],
                     score=float(self.class_score_sum[best] / max(self.frames, 1)), frames=self.frames,
                     votes={name: self.votes[name] for name in config.CLASS_NAMES},
                     first_seen=self.first_seen, last_seen=self.last_seen, row=self.row)


class FaceTracker:
    """Tracks of one camera's faces. Call `update` once per sampled frame (also with no faces);
    `pop_ended` gives the tracks that ended since it was last called, `finish` ends them all."""

    def __init__(self, fps: float = config.WATCH_FPS, forget_s: float = config.TRACK_FORGET_S,
                 confirm_frames: int = config.TRACK_CONFIRM_FRAMES,
                 max_distance: float = config.TRACK_MAX_DISTANCE) -> None:
        # Norfair counts in frames: a hit adds 2, a frame without one takes 1, the object dies below 0
        forget_frames = max(1, round(forget_s * fps))
        self._settings = {"distance_function": "iou", "distance_threshold": max_distance,
                          "hit_counter_max": forget_frames,
                          "initialization_delay": min(max(confirm_frames - 1, 0), forget_frames - 1)}
        self._tracker = norfair.Tracker(**self._settings)
        self._states: dict[int, _State] = {}
        self._ended: list[Track] = []
        self._frame = 0
        self._confirmed = 0

    @property
    def people_seen(self) -> int:
        """Distinct tracks (people) confirmed since the tracker was made."""
        return self._confirmed

    def update(self, detections: Detections, timestamp: float | None = None) -> list[Track]:
        """The live tracks after this frame's faces (a confirmed track that was not seen in this frame
        stays, with row None, until it has been unseen for `forget_s`)."""
        now = time.time() if timestamp is None else timestamp
        self._frame += 1
        found = [norfair.Detection(points=box.reshape(2, 2).astype(np.float64),
                                   data={"frame": self._frame, "row": row})
                 for row, box in enumerate(detections.xyxy)]
        self._tracker.update(found)
        class_scores = detections.class_scores
        alive: dict[int, _State] = {}
        for obj in self._tracker.tracked_objects:
            if not obj.hit_counter_is_positive:
                continue
            state = self._states.get(obj.initializing_id) or _State(first_seen=now)
            seen = obj.last_detection.data["frame"] == self._frame
            state.row = obj.last_detection.data["row"] if seen else None
            if seen:
                state.last_seen = now
                state.box = detections.xyxy[state.row].copy()
                state.votes[detections.labels[state.row]] += 1
                state.class_score_sum += class_scores[state.row]
                state.frames += 1
            if obj.id is not None and state.id is None:
                state.id = obj.id
                self._confirmed += 1
            alive[obj.initializing_id] = state
        self._ended += [state.track() for key, state in self._states.items()
                        if key not in alive and state.id is not None]
        self._states = alive
        return [state.track() for state in alive.values() if state.id is not None]

    def pop_ended(self) -> list[Track]:
        """The confirmed tracks that ended (face unseen for `forget_s`) since the last call."""
        ended, self._ended = self._ended, []
        return ended

    def finish(self) -> list[Track]:
        """End every track (the stream ended): the ones not yet popped plus the live confirmed ones."""
        ended = self.pop_ended() + [state.track() for state in self._states.values() if state.id is not None]
        self._states = {}
        self._tracker = norfair.Tracker(**self._settings)
        return ended
