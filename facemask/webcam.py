"""Live webcam frames for streamlit-webrtc: newest frame -> Pipeline -> annotated frame.

The processor runs on streamlit-webrtc's worker thread; the page reads its results through
`VideoTransformer.stats()`, a snapshot taken under a lock (never through st.session_state).
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field, replace

import av
from streamlit_webrtc import VideoProcessorBase

from facemask import config
from facemask.annotate import annotate
from facemask.detections import Detections
from facemask.pipeline import Pipeline

ALERT_CLASSES = ("without_mask", "mask_worn_incorrectly")
SMOOTHING = 0.2  # weight of the newest frame in the running fps / latency averages

_LOAD_LOCK = threading.Lock()
_LIVE_PIPELINES: dict[str, Pipeline] = {}
# cv2.dnn nets and YuNet's input size are not safe to share between threads at once
_RUN_LOCKS: weakref.WeakKeyDictionary[Pipeline, threading.Lock] = weakref.WeakKeyDictionary()


def live_pipeline(detector: str = config.DEFAULT_DETECTOR) -> Pipeline:
    """The single-scale pipeline for `detector`, loaded once and shared by every webcam session.

    Raises FacemaskError when the mask classifier is missing.
    """
    with _LOAD_LOCK:
        if detector not in _LIVE_PIPELINES:
            _LIVE_PIPELINES[detector] = Pipeline(detector=detector, live=True)
        return _LIVE_PIPELINES[detector]


def run_lock(pipeline: Pipeline) -> threading.Lock:
    """The lock that serialises `pipeline.detect` calls across threads."""
    with _LOAD_LOCK:
        lock = _RUN_LOCKS.get(pipeline)
        if lock is None:
            lock = _RUN_LOCKS[pipeline] = threading.Lock()
        return lock


@dataclass(frozen=True)
class LiveStats:
    """What the page shows beside the video: one consistent snapshot."""

    counts: dict[str, int] = field(default_factory=lambda: {name: 0 for name in config.CLASS_NAMES})
    fps: float = 0.0  # annotated frames out per second, smoothed
    latency_ms: float = 0.0  # frame in -> annotated frame out, smoothed
    frames: int = 0  # frames annotated so far
    dropped: int = 0  # stale frames skipped because a newer one was waiting
    detector: str = ""
    error: str | None = None  # last error, cleared by the next good frame

    @property
    def faces(self) -> int:
        return sum(self.counts.values())

    @property
    def alert(self) -> bool:
        """True while a face without a mask, or with a mask worn wrongly, is in view."""
        return any(self.counts.get(name, 0) for name in ALERT_CLASSES)


class VideoTransformer(VideoProcessorBase):
    """Annotates webcam frames. `threshold`, `blur` and `set_detector()` may be changed from the
    page thread while streaming; they apply from the next frame."""

    def __init__(self, pipeline: Pipeline | None = None, threshold: float = config.DEFAULT_THRESHOLD,
                 blur: bool = False) -> None:
        self.pipeline = pipeline if pipeline is not None else live_pipeline()
        self.threshold = threshold
        self.blur = blur
        self._requested_detector = self.pipeline.detector_name
        self._lock = threading.Lock()
        self._stats = LiveStats(detector=self.pipeline.detector_name)
        self._last_out: float | None = None

    def set_detector(self, name: str) -> None:
        """Swap in the shared live pipeline of another detector (raises FacemaskError if it cannot load)."""
        if name != self._requested_detector:
            self.pipeline = live_pipeline(name)
            self._requested_detector = name

    def stats(self) -> LiveStats:
        with self._lock:
            return self._stats

    async def recv_queued(self, frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
        """Only the newest frame is worth annotating: the others are already stale."""
        if len(frames) > 1:
            with self._lock:
                self._stats = replace(self._stats, dropped=self._stats.dropped + len(frames) - 1)
        return [self.recv(frames[-1])]

    def recv(self, frame: av.VideoFrame) -> av.VideoFrame:
        """Annotate one frame; on any error return it untouched and record the message."""
        start = time.perf_counter()
        pipeline, threshold, blur = self.pipeline, float(self.threshold), bool(self.blur)
        try:
            image = frame.to_ndarray(format="bgr24")
            with run_lock(pipeline):
                detections = pipeline.detect(image, threshold=threshold)
            out = av.VideoFrame.from_ndarray(annotate(image, detections, blur=blur), format="bgr24")
            out.pts = frame.pts
            if frame.time_base is not None:
                out.time_base = frame.time_base
        except Exception as exc:  # noqa: BLE001 - a bad frame must never stop the stream
            with self._lock:
                self._stats = replace(self._stats, error=f"{type(exc).__name__}: {exc}")
            return frame
        self._record(detections, pipeline.detector_name, start)
        return out

    def _record(self, detections: Detections, detector: str, start: float) -> None:
        now = time.perf_counter()
        latency = (now - start) * 1000.0
        with self._lock:
            old = self._stats
            fps = old.fps
            if self._last_out is not None and now > self._last_out:
                rate = 1.0 / (now - self._last_out)
                fps = rate if old.frames <= 1 else (1 - SMOOTHING) * old.fps + SMOOTHING * rate
            self._last_out = now
            smooth_latency = latency if old.frames == 0 else (1 - SMOOTHING) * old.latency_ms + SMOOTHING * latency
            self._stats = LiveStats(counts=detections.counts(), fps=fps, latency_ms=smooth_latency,
                                    frames=old.frames + 1, dropped=old.dropped, detector=detector, error=None)

