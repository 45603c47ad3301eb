"""Camera sources through PyAV: rtsp://, rtmp://, http(s):// (MJPEG or HLS), a video file (read at its own
frame rate, ending where it ends) or a local camera device. One reader thread per camera keeps only
the newest frame (stale frames are dropped, never queued) and reconnects with backoff; `status()`
says what it is doing. Every text it gives out passes through `redact`."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from facemask import config
from facemask.errors import FacemaskError
from facemask.redaction import redact

NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt")
# what PyAV/FFmpeg raise on a source that fails (its errors subclass OSError, ValueError or EOFError)
AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError, MemoryError)


class SourceProblem(Exception):
    """Why a source gave no frames this time (shown in its status, then retried)."""


@dataclass
class Frame:
    """One decoded picture: `image` (BGR) is made on first use, so dropped frames cost no conversion."""

    seq: int
    time: float  # epoch seconds when it was read
    _frame: av.VideoFrame
    _image: np.ndarray | None = None

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            self._image = self._frame.to_ndarray(format="bgr24")
        return self._image


@dataclass
class SourceStatus:
    """A camera's state: connecting | connected | reconnecting | ended | stopped, why, and how well."""

    camera: str
    source: str  # redacted
    state: str
    reason: str = ""
    fps: float = 0.0
    last_frame_at: float | None = None  # epoch seconds
    frames: int = 0
    reconnects: int = 0
    retry_in_s: float | None = None

    @property
    def last_frame_age_s(self) -> float | None:
        return None if self.last_frame_at is None else max(0.0, time.time() - self.last_frame_at)

    def line(self) -> str:
        """The one status line of this camera (stderr of `facemask watch`)."""
        age = self.last_frame_age_s
        parts = [f"[{self.camera}] {self.state}", f"{self.fps:.1f} fps",
                 "no frame yet" if age is None else f"last frame {age:.1f} s ago"]
        if self.reconnects:
            parts.append(f"{self.reconnects} reconnects")
        if self.reason:
            retry = "" if self.retry_in_s is None else (
                f", retry in {self.retry_in_s:.0f} s" if self.retry_in_s > 0 else ", trying again now")
            parts.append(f"{self.reason}{retry}")
        return redact(" | ".join(parts))


def kind_of(source: str) -> str:
    """'network', 'device' or 'file'."""
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if scheme in NETWORK_SCHEMES:
        return "network"
    if re.fullmatch(r"\d+", source) or source.startswith("/dev/video") or scheme in ("v4l2", "device"):
        return "device"
    return "file"


def read_cameras_file(path: Path) -> tuple[list[str], list[str]]:
    """(names, sources) of a cameras file: one camera a line, `NAME SOURCE` or `SOURCE` alone (named by
    `camera_name`); blank lines and lines starting with # skipped. A wrong line is named with its number."""
    names, sources = [], []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FacemaskError(f"--cameras {path}: can't read it ({getattr(exc, 'strerror', None) or exc}).") from None
    for number, line in enumerate(lines, 1):
        parts = line.split()  # a # inside a line stays: a camera's password may hold one
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) > 2:
            raise FacemaskError(f"{path}:{number}: expected NAME SOURCE or SOURCE, found {len(parts)} words "
                                f"({redact(line.strip())}).")
        names.append(parts[0] if len(parts) == 2 else "")
        sources.append(parts[-1])
    if not sources:
        raise FacemaskError(f"--cameras {path}: no camera in it (one a line: NAME SOURCE).")
    return names, sources


def check_video_file(path: str) -> None:
    """Raise FacemaskError at once when a file source is not a video PyAV can decode (a camera is retried;
    a file that cannot be read never gets better)."""
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise FacemaskError(f"{path}: no video stream in it (is it an audio or a picture file?).")
            next(container.decode(video=0))
    except FacemaskError:
        raise
    except (av.FFmpegError, StopIteration, OSError, ValueError) as exc:
        reason = "no frame could be decoded" if isinstance(exc, StopIteration) else \
            (getattr(exc, "strerror", None) or str(exc)).split(";")[0].lower()
        raise FacemaskError(f"{path}: not a video that can be read ({reason}).") from None


def camera_name(source: str) -> str:
    """A readable name for a source with no --name: its host and path or file name, no credentials."""
    if kind_of(source) == "network":
        rest = redact(source).split("://", 1)[1].split("?", 1)[0]
        rest = rest.split("@", 1)[-1]
        return re.sub(r"[^A-Za-z0-9._-]+", "_", rest).strip("_")[:80] or "camera"
    if kind_of(source) == "device":
        return "device" + re.sub(r"\D", "", source) if re.search(r"\d", source) else "device"
    return Path(source).stem[:80] or "video"


def _open_arguments(source: str) -> tuple[str, dict]:
    """(what to give av.open, its keyword arguments) for a source."""
    kind = kind_of(source)
    if kind == "device":
        number = re.sub(r"\D", "", source) or "0"
        path = source if source.startswith("/dev/") else f"/dev/video{number}"
        device_format = {"darwin": "avfoundation", "win32": "dshow"}.get(sys.platform, "v4l2")
        if device_format != "v4l2":
            path = number if device_format == "avfoundation" else f"video={number}"
        return path, {"format": device_format}
    if kind == "network":
        # live: no input buffering, so the newest frame is as new as it can be
        return source, {"options": {"fflags": "nobuffer", "flags": "low_delay"}}
    return source, {}


class CameraReader:
    """A reader thread for one source. `latest(after)` gives the newest frame newer than `after`
    (None when there is none yet); older ones are gone. `status()` is safe to call from any thread."""

    def __init__(self, source: str, name: str | None = None,
                 open_timeout_s: float = config.SOURCE_OPEN_TIMEOUT_S,
                 read_timeout_s: float = config.SOURCE_READ_TIMEOUT_S,
                 backoff_s: tuple[float, float] = config.RECONNECT_BACKOFF_S) -> None:
        self.source = source
        self.name = name or camera_name(source)
        self.kind = kind_of(source)
        self.open_timeout_s, self.read_timeout_s = open_timeout_s, read_timeout_s
        self.backoff_s = backoff_s
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._seq = 0
        self._times: deque[float] = deque(maxlen=50)
        self._status = SourceStatus(self.name, redact(source), "connecting")
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)

    # --- for the watcher ---
    def start(self) -> CameraReader:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait for it (a read in progress ends within its timeout)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._set(state="stopped" if self._status.state != "ended" else "ended", retry_in_s=None)

    @property
    def ended(self) -> bool:
        """A video file that has been read to its end (live sources never end: they reconnect)."""
        return self._status.state == "ended"

    def latest(self, after: int = 0) -> Frame | None:
        with self._cond:
            frame = self._latest
        return frame if frame is not None and frame.seq > after else None

    def wait(self, after: int = 0, timeout: float = 1.0) -> Frame | None:
        """The newest frame newer than `after`, waiting up to `timeout` seconds for one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (self._latest is not None and self._latest.seq > after):
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set() or self.ended:
                    break
                self._cond.wait(left)
            frame = self._latest
        return frame if frame is not None and frame.seq > after else None

    def status(self) -> SourceStatus:
        with self._cond:
            status = SourceStatus(**self._status.__dict__)
            recent = [t for t in self._times if t > time.time() - config.FPS_WINDOW_S]
        status.fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
        if status.state == "connected" and status.last_frame_age_s is not None \
                and status.last_frame_age_s > config.FPS_WINDOW_S:
            status.fps = 0.0
        return status

    # --- the thread ---
    def _set(self, **changes) -> None:
        with self._cond:
            for key, value in changes.items():
                setattr(self._status, key, value)
            self._cond.notify_all()

    def _publish(self, frame: av.VideoFrame) -> None:
        now = time.time()
        with self._cond:
            self._seq += 1
            self._latest = Frame(self._seq, now, frame)
            self._times.append(now)
            self._status.frames += 1
            self._status.last_frame_at = now
            if self._status.state != "connected":
                self._status.state, self._status.reason, self._status.retry_in_s = "connected", "", None
            self._cond.notify_all()

    def _run(self) -> None:
        delay = self.backoff_s[0]
        while not self._stop.is_set():
            frames_before = self._status.frames
            try:
                got_frames = self._read_once()
                if self._stop.is_set():
                    return
                if self.kind == "file":
                    if got_frames:
                        self._set(state="ended", reason="end of the video", retry_in_s=None)
                        return
                    raise SourceProblem("the video has no frame that decodes")
                raise SourceProblem("the stream ended")
            except SourceProblem as exc:
                reason = str(exc)
            except AV_ERRORS as exc:
                reason = self._explain(exc)
            except Exception as exc:  # noqa: BLE001 - a camera must never stop the watcher
                reason = f"unexpected {type(exc).__name__}: {exc}"
            if self._stop.is_set():
                return
            if self._status.frames > frames_before:  # it worked for a while: start the backoff again
                delay = self.backoff_s[0]
            with self._cond:
                self._status.reconnects += 1
            self._set(state="reconnecting", reason=redact(reason)[:300], retry_in_s=delay)
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.backoff_s[1])

    def _explain(self, exc: BaseException) -> str:
        if isinstance(exc, av.error.ExitError):
            return f"no answer within {self.read_timeout_s:g} s"
        text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
        if isinstance(exc, av.error.InvalidDataError):
            return f"not a video stream ({text})"
        return text.splitlines()[0]

    def _read_once(self) -> bool:
        """Open the source and publish its frames until it ends, fails or we stop; True if any decoded."""
        if self._status.state == "reconnecting":
            self._set(retry_in_s=0.0)  # shown as "trying now"
        target, kwargs = _open_arguments(self.source)
        opening = time.monotonic()
        try:
            container = av.open(target, timeout=(self.open_timeout_s, self.read_timeout_s),
                                metadata_errors="ignore", **kwargs)
        except AV_ERRORS:
            if time.monotonic() - opening >= 0.9 * self.open_timeout_s:  # FFmpeg's words for a timeout vary
                raise SourceProblem(f"no answer within {self.open_timeout_s:g} s") from None
            raise
        try:
            if not container.streams.video:
                kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
                raise SourceProblem(f"the stream has no video (it carries {kinds})")
            stream = container.streams.video[0]
            codec = getattr(stream.codec_context, "name", None)
            if stream.codec_context is None or not codec or codec == "none":
                raise SourceProblem("can't decode its video: its codec is unknown to FFmpeg")
            return self._decode(container, stream)
        finally:
            container.close()

    def _decode(self, container, stream) -> bool:
        paced = self.kind == "file"
        start_wall = start_pts = None
        bad, decoded = 0, False
        for packet in container.demux(stream):
            if self._stop.is_set():
                break
            try:
                frames = packet.decode()
            except AV_ERRORS as exc:
                bad += 1
                if bad >= config.SOURCE_MAX_BAD_PACKETS:
                    raise SourceProblem(f"can't decode its {stream.codec_context.name} video "
                                        f"({bad} bad packets in a row: {self._explain(exc)})") from None
                continue
            for frame in frames:
                bad = 0
                decoded = True
                if paced and frame.time is not None:
                    start_wall, start_pts = (time.monotonic(), frame.time) if start_wall is None else (start_wall,
                                                                                                    start_pts)
                    if self._stop.wait(max(0.0, start_wall + (frame.time - start_pts) - time.monotonic())):
                        return decoded
                self._publish(frame)
        return decoded

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
