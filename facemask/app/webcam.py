"""Live webcam frames for streamlit-webrtc: newest frame -> Pipeline -> annotated frame.

The processor runs on streamlit-webrtc's worker thread; the page reads its results through
`VideoTransformer.stats()`, a snapshot taken under a lock (never through st.session_state).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field, replace

import aioice.stun
import av
import cv2
import numpy as np
from streamlit_webrtc import VideoProcessorBase

from facemask import config
from facemask.annotate import annotate
from facemask.cameras.recording import LiveRecorder
from facemask.detections import Detections
from facemask.vision.pipeline import Pipeline

ALERT_CLASSES = ("without_mask", "mask_worn_incorrectly")
SMOOTHING = 0.2  # weight of the newest frame in the running fps / latency averages

# aioice checks ICE consent every ~5 s with one STUN request that must be answered within RETRY_RTO
# (0.5 s) and closes the stream after 6 misses in a row. On a starved server a reply often takes longer:
# under load two of three live streams were closed at once ("Consent to send expired") while both ends
# still played. 2.5 s (half the check interval) lets a late reply count; a lost packet is retried later.
STUN_RTO_S = 2.5
aioice.stun.RETRY_RTO = max(aioice.stun.RETRY_RTO, STUN_RTO_S)

_LOAD_LOCK = threading.Lock()
_LIVE_PIPELINES: dict[str, Pipeline] = {}


def live_pipeline(detector: str = config.DEFAULT_DETECTOR) -> Pipeline:
    """The single-scale pipeline for `detector`, loaded once and shared by every webcam session.

    Raises FacemaskError when the mask classifier is missing.
    """
    with _LOAD_LOCK:
        if detector not in _LIVE_PIPELINES:
            _LIVE_PIPELINES[detector] = Pipeline(detector=detector, live="webcam")
        return _LIVE_PIPELINES[detector]


def video_frame(image_bgr: np.ndarray) -> av.VideoFrame:
    """A yuv420p frame, the format the VP8 encoder takes, converted by OpenCV: about 0.5 ms for
    640x480 against 2.7 ms for PyAV's bgr24 frame plus the encoder's own conversion (same BT.601
    limited range, within one level)."""
    height, width = image_bgr.shape[:2]
    if height % 2 or width % 2:  # I420 needs even sides
        return av.VideoFrame.from_ndarray(image_bgr, format="bgr24")
    return av.VideoFrame.from_ndarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2YUV_I420), format="yuv420p")


@dataclass(frozen=True)
class LiveStats:
    """What the page shows beside the video: one consistent snapshot."""

    counts: dict[str, int] = field(default_factory=lambda: {name: 0 for name in config.CLASS_NAMES})
    fps: float = 0.0  # annotated frames out per second, smoothed
    latency_ms: float = 0.0  # frame arrival -> annotated frame out (queue wait included), smoothed
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
        # wall clock minus frame timestamp, smallest seen: maps a frame's pts to its arrival time
        self._clock_offset: float | None = None
        # counts over the last minutes, and the store when the page's "Record" toggle is on
        self.recorder = LiveRecorder()

    def on_ended(self) -> None:
        """The stream stopped: a recording ends, its open events written with their durations."""
        self.recorder.stop()

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

    def _arrival(self, frame: av.VideoFrame, now: float) -> float:
        """When the frame reached the server: its timestamp on the wall clock, aligned on the frame
        that waited least. Falls back to `now` for frames without a timestamp."""
        stamp = frame.time if frame.pts is not None and frame.time_base is not None else None
        if stamp is None or not math.isfinite(stamp):
            return now
        offset = now - float(stamp)
        if self._clock_offset is None or offset < self._clock_offset:
            self._clock_offset = offset
        return float(stamp) + self._clock_offset

    def recv(self, frame: av.VideoFrame) -> av.VideoFrame:
        """Annotate one frame; on any error return it untouched and record the message."""
        start = self._arrival(frame, time.perf_counter())
        pipeline, threshold, blur = self.pipeline, float(self.threshold), bool(self.blur)
        try:
            image = frame.to_ndarray(format="bgr24")
            detections, hidden = pipeline.detect_with_privacy(image, threshold, privacy=blur)
            self.recorder.add(image, detections)
            out = video_frame(annotate(image, hidden, blur=blur, threshold=threshold))
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

