"""The live webcam as a watched camera: its faces tracked, counted over the last minutes (what the live
page shows instead of one frame's counts) and, when recording is on, events and per-minute counts
written to the same store as `facemask watch`, through the same buffer."""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import datetime, timezone

import numpy as np

from facemask import config
from facemask.cameras.events import EventRecorder
from facemask.cameras.store import CameraStatus, MinuteCounts, Record, Store, minute_of
from facemask.cameras.tracking import FaceTracker
from facemask.cameras.watch import RecordWriter
from facemask.detections import Detections


class LiveRecorder:
    """Takes the live page's annotated frames (from the webcam thread) at up to `fps` a second.
    `recent()` gives faces per class and people (tracks) over the last `window_s`; `start(url)` /
    `stop()` turn recording into the store on and off. Thread-safe."""

    def __init__(self, camera: str = config.WEBCAM_CAMERA_NAME, fps: float = config.WATCH_FPS,
                 window_s: float = config.LIVE_COUNTS_WINDOW_S, privacy: bool = False) -> None:
        self.camera, self.fps, self.window_s, self.privacy = camera, fps, window_s, privacy
        self._lock = threading.Lock()
        self._tracker = FaceTracker(fps=fps)
        self._events = EventRecorder(camera, privacy=privacy)
        self._samples: deque[tuple[float, dict[str, int], set[int]]] = deque()
        self._next = 0.0
        self._writer: RecordWriter | None = None
        self._store: Store | None = None
        self._counts: dict[str, int] = {}
        self._minute: datetime | None = None

    @property
    def recording(self) -> bool:
        return self._writer is not None

    @property
    def store_name(self) -> str | None:
        return None if self._store is None else self._store.name

    def start(self, url: str | None = None) -> None:
        """Record into the store at `url` (config.DEFAULT_DB_URL by default) from the next frame."""
        with self._lock:
            if self._writer is None:
                self._store = Store(url, create=False)
                self._writer = RecordWriter(self._store)
                self._events = EventRecorder(self.camera, privacy=self.privacy)

    def stop(self) -> None:
        """Stop recording: open events are written with their durations, then the store is let go."""
        with self._lock:
            writer, store, self._writer, self._store = self._writer, self._store, None, None
            if writer is None:
                return
            _, ended = self._events.update([], self._tracker.finish(), None, Detections.empty(), time.time())
            records: list[Record] = [*ended, *self._flush_counts(),
                                     CameraStatus(self.camera, "browser webcam", "stopped", "recording stopped")]
        writer.put(records)
        writer.close()
        store.close()

    def add(self, image_bgr: np.ndarray, detections: Detections, now: float | None = None) -> bool:
        """One annotated frame; taken when a sample is due (`fps`), else ignored. Whether it was taken."""
        now = time.time() if now is None else now
        with self._lock:
            if now < self._next - 0.1 / self.fps:  # a little early still counts: frames come with jitter
                return False
            self._next = max(self._next + 1 / self.fps, now) if self._next else now + 1 / self.fps
            tracks = self._tracker.update(detections, timestamp=now)
            ended = self._tracker.pop_ended()
            self._samples.append((now, detections.counts(), {t.id for t in tracks}))
            while self._samples and self._samples[0][0] < now - self.window_s:
                self._samples.popleft()
            if self._writer is None:
                return True
            began, rewritten = self._events.update(tracks, ended, image_bgr, detections, now)
            records: list[Record] = [*began, *rewritten, *self._count(now, detections)]
            writer = self._writer
        writer.put(records)
        return True

    def _count(self, now: float, detections: Detections) -> list[Record]:
        minute = minute_of(datetime.fromtimestamp(now, timezone.utc))
        out = self._flush_counts() if self._minute is not None and minute != self._minute else []
        self._minute = minute
        for key, value in [("frames", 1), ("faces", len(detections)), *detections.counts().items()]:
            self._counts[key] = self._counts.get(key, 0) + value
        if self._counts["frames"] >= self.fps * config.COUNTS_FLUSH_S:
            out += self._flush_counts()
            out.append(CameraStatus(self.camera, "browser webcam", "connected", fps=self.fps,
                                    last_frame_at=datetime.fromtimestamp(now, timezone.utc),
                                    people=self._tracker.people_seen, events=self._events.count))
        return out

    def _flush_counts(self) -> list[Record]:
        if not self._counts or self._minute is None:
            return []
        record, self._counts = MinuteCounts(self.camera, self._minute, self._counts), {}
        return [record]

    def recent(self, now: float | None = None) -> dict:
        """Over the last `window_s`: faces seen per class (summed over the sampled frames), `people`
        (distinct tracks), `samples` (frames taken) and `events` recorded since recording began."""
        now = time.time() if now is None else now
        with self._lock:
            samples = [s for s in self._samples if s[0] >= now - self.window_s]
            events = self._events.count if self._writer is not None else 0
        counts = {name: sum(s[1].get(name, 0) for s in samples) for name in config.CLASS_NAMES}
        people = len(set().union(*(s[2] for s in samples))) if samples else 0
        return {"counts": counts, "people": people, "samples": len(samples), "events": events}
