"""Tracks -> events: a tracked face whose vote says without_mask or mask_worn_incorrectly is one event
(one person in view, one event), opened with a snapshot when the track first says so and written
again with its duration and final vote when the track ends."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import cv2
import numpy as np

from facemask import config
from facemask.annotate import annotate, blur_faces
from facemask.cameras.store import EventRecord
from facemask.cameras.tracking import Track
from facemask.detections import Detections

PRIVATE_FACE_BLOCKS = 8  # with privacy on, the face picture is this many blocks wide


def jpeg(image: np.ndarray, long_side: int) -> bytes:
    """`image` (BGR) scaled down to `long_side` at most, as JPEG bytes."""
    scale = min(1.0, long_side / max(image.shape[:2]))
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, config.SNAPSHOT_JPEG_QUALITY])
    return data.tobytes() if ok else b""


def snapshots(frame: np.ndarray, detections: Detections, row: int, privacy: bool,
              hidden: Detections | None = None) -> tuple[bytes, bytes]:
    """(the face, padded, as JPEG; the annotated frame as a thumbnail JPEG); when `privacy`, every face blurred,
    and every one of `hidden` (candidates too unsure to track, down to the privacy threshold)."""
    picture = blur_faces(frame, detections if hidden is None else hidden) if privacy else frame
    x1, y1, x2, y2 = detections.xyxy[row]
    pad = 0.25 * max(x2 - x1, y2 - y1)
    height, width = frame.shape[:2]
    left, top = int(max(0, x1 - pad)), int(max(0, y1 - pad))
    right, bottom = int(min(width, x2 + pad)), int(min(height, y2 + pad))
    face = picture[top:bottom, left:right] if right > left and bottom > top else picture
    if privacy:  # the face picture is all face and margin: pixelate all of it, coarsely
        height, width = face.shape[:2]
        small = cv2.resize(face, (PRIVATE_FACE_BLOCKS, max(1, round(PRIVATE_FACE_BLOCKS * height / width))),
                           interpolation=cv2.INTER_AREA)
        face = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
    return (jpeg(face, config.SNAPSHOT_FACE_SIDE),
            jpeg(annotate(picture, detections), config.SNAPSHOT_FRAME_SIDE))


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


class EventRecorder:
    """The events of one camera's tracks. `update` after each frame gives (events that just began,
    events written again: ended, or still going after config.EVENT_REWRITE_S)."""

    def __init__(self, camera: str, privacy: bool = False, labels: tuple[str, ...] = config.EVENT_LABELS) -> None:
        self.camera = camera
        self.privacy = privacy
        self.labels = labels
        self._open: dict[int, EventRecord] = {}
        self._written: dict[int, float] = {}
        self.count = 0  # events begun

    def _record(self, event: EventRecord, track: Track) -> EventRecord:
        label = track.label if track.label in self.labels else event.label  # the last vote for an event label
        score = track.score if track.label in self.labels else event.score
        return replace(event, duration_s=track.duration_s, frames=track.frames, label=label, score=score,
                       box=tuple(int(round(float(v))) for v in track.box))

    def update(self, tracks: list[Track], ended: list[Track], frame: np.ndarray | None,
               detections: Detections, now: float,
               hidden: Detections | None = None) -> tuple[list[EventRecord], list[EventRecord]]:
        began, rewritten = [], []
        for track in tracks:
            event = self._open.get(track.id)
            if event is None and track.label in self.labels and track.row is not None and frame is not None:
                face, thumbnail = snapshots(frame, detections, track.row, self.privacy, hidden)
                event = EventRecord(camera=self.camera, start=_utc(track.first_seen), duration_s=track.duration_s,
                                    label=track.label, score=track.score, frames=track.frames,
                                    box=tuple(int(round(float(v))) for v in track.box), track_id=track.id,
                                    face_jpeg=face, frame_jpeg=thumbnail, blurred=self.privacy)
                self._open[track.id], self._written[track.id] = event, now
                self.count += 1
                began.append(event)
            elif event is not None and now - self._written[track.id] >= config.EVENT_REWRITE_S:
                self._open[track.id] = event = self._record(event, track)
                self._written[track.id] = now
                rewritten.append(event)
        for track in ended:
            event = self._open.pop(track.id, None)
            self._written.pop(track.id, None)
            if event is not None:
                rewritten.append(self._record(event, track))
        return began, rewritten
