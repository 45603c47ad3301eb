"""Videos: every upright frame through the one Pipeline, out as an H.264 MP4 plus per-frame face counts."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
from fractions import Fraction
from itertools import islice
from pathlib import Path

import av
import cv2
import numpy as np

from facemask.annotate import annotate
from facemask.cameras.tracking import FaceTracker
from facemask.config import CLASS_NAMES
from facemask.errors import FacemaskError

CSV_FIELDS = ["frame", "time_s", *CLASS_NAMES, "faces"]
DEFAULT_FPS = 25  # when a file does not say its frame rate
# everything PyAV/FFmpeg raise on bad input (its errors subclass OSError, ValueError or EOFError)
AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError, MemoryError)


class VideoReader:
    """Upright BGR frames of a file's first video stream.

    Damaged packets are skipped and the first reason is kept in `damage`, so callers keep every
    frame that decodes; a file that is not a video raises FacemaskError when opened.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.container = av.open(str(self.path), metadata_errors="ignore")
        except IsADirectoryError:
            raise FacemaskError(f"{self.path}: is a folder, not a video.") from None
        except FileNotFoundError:
            raise FacemaskError(f"{self.path}: no such file.") from None
        except AV_ERRORS as exc:
            raise FacemaskError(f"{self.path}: not a video this tool can read ({_short(exc)}).") from None
        if not self.container.streams.video:
            self.container.close()
            raise FacemaskError(f"{self.path}: contains no video stream, so there are no pictures to check.")
        self.stream = self.container.streams.video[0]
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = Fraction(rate).limit_denominator(1001) if rate and 0 < rate <= 240 else Fraction(DEFAULT_FPS)
        self.expected_frames = self.stream.frames or None  # from the container index; None if unknown
        self.damage: str | None = None  # the first decoding error, if frames were lost to one

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        """(seconds since the first frame, upright BGR frame) for each frame that decodes."""
        done, start = 0, None
        try:
            for packet in self.container.demux(self.stream):  # ends with an empty packet that flushes
                try:
                    frames = packet.decode()
                except AV_ERRORS as exc:  # one damaged packet: note it and go on with the next
                    self.damage = self.damage or _short(exc)
                    continue
                for frame in frames:
                    time_s = float(frame.time) if frame.time is not None else done / self.fps
                    start = time_s if start is None else start
                    yield time_s - start, _upright(frame, self.stream)
                    done += 1
        except AV_ERRORS as exc:  # the container cannot be read any further
            self.damage = self.damage or _short(exc)

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def iter_video_frames(path: str | Path, max_frames: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """(time_s, upright BGR frame) pairs; raises FacemaskError if the file is unreadable or damaged."""
    done = 0
    with VideoReader(path) as reader:
        for item in islice(reader, max_frames):
            done += 1
            yield item
        if not done:
            raise FacemaskError(f"{reader.path}: no frame could be decoded ({reader.damage or 'no frames'}).")
        if reader.damage:
            raise FacemaskError(f"{reader.path}: part of the video is damaged ({reader.damage}).")


def process_video(src_path: str | Path, out_path: str | Path, pipeline, csv_path: str | Path | None = None,
                  progress: Callable[[int, int | None], None] | None = None,
                  max_frames: int | None = None, blur: bool = False) -> dict:
    """Annotate every frame into an H.264 MP4 (sound is dropped; faces pixelated with `blur`), count
    faces per class per frame, and follow them (facemask.cameras.tracking) to count people.

    Returns {frames, fps, seconds, max_faces, people, people_per_class, counts_per_class_total,
    per_second, out, csv} and a "warning" when part of the source is damaged (every frame that
    decodes is kept). `per_second` holds the mean faces per class on screen in each second.
    """
    out_path = Path(out_path)
    rows: list[dict] = []
    writer = None
    with VideoReader(src_path) as reader:
        total = reader.expected_frames
        if max_frames is not None:
            total = min(total or max_frames, max_frames)
        tracker = FaceTracker(fps=float(reader.fps))
        try:
            for index, (time_s, image) in enumerate(islice(reader, max_frames)):
                detections, hidden = pipeline.detect_with_privacy(image, privacy=blur)
                tracker.update(detections, timestamp=time_s)
                if writer is None:
                    writer = _Mp4Writer(out_path, reader.fps, image.shape[1], image.shape[0])
                writer.write(annotate(image, hidden, blur=blur, threshold=pipeline.threshold))
                counts = detections.counts()
                rows.append({"frame": index, "time_s": round(time_s, 3), **counts, "faces": len(detections)})
                if progress is not None:
                    progress(index + 1, total)
        finally:
            if writer is not None:
                writer.close()
        if not rows:
            raise FacemaskError(f"{reader.path}: no frame could be decoded ({reader.damage or 'no frames'}).")
    if csv_path is not None:
        _write_csv(Path(csv_path), rows)
    fps = float(reader.fps)
    people = people_per_class(tracker)
    summary = {
        "frames": len(rows),
        "fps": round(fps, 3),
        "seconds": round(len(rows) / fps, 3),
        "max_faces": max(row["faces"] for row in rows),
        "people": sum(people.values()),
        "people_per_class": people,
        "counts_per_class_total": {name: sum(row[name] for row in rows) for name in CLASS_NAMES},
        "per_second": per_second(rows),
        "out": str(out_path),
        "csv": str(csv_path) if csv_path is not None else None,
    }
    if reader.damage:
        summary["warning"] = (f"{reader.path}: part of the video is damaged ({reader.damage}); "
                              f"kept the {len(rows)} frames that decoded.")
    return summary


def people_per_class(tracker: FaceTracker) -> dict[str, int]:
    """People seen in the whole video, by the label each one's track voted for (ends the tracks)."""
    votes = Counter(track.label for track in tracker.finish())
    return {name: votes[name] for name in CLASS_NAMES}


def per_second(rows: list[dict]) -> list[dict]:
    """Mean faces per class per frame in each whole second of the video: what the page charts."""
    seconds: dict[int, list[dict]] = {}
    for row in rows:
        seconds.setdefault(int(row["time_s"]), []).append(row)
    return [{"second": second, **{name: round(sum(r[name] for r in group) / len(group), 2) for name in CLASS_NAMES}}
            for second, group in sorted(seconds.items())]


class _Mp4Writer:
    """H.264 (libx264, yuv420p) in MP4, moov first so browsers can play it while loading."""

    def __init__(self, path: Path, fps: Fraction, width: int, height: int) -> None:
        self.path = path
        # yuv420p needs even sides: drop the last row/column of odd-sized frames
        self.width, self.height = max(width - width % 2, 2), max(height - height % 2, 2)
        try:
            self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
            self.stream = self.container.add_stream("libx264", rate=fps,
                                                    options={"preset": "veryfast", "crf": "23"})
            self.stream.width, self.stream.height = self.width, self.height
            self.stream.pix_fmt = "yuv420p"
            self.container.start_encoding()  # opens the file now, so a bad path fails here
        except AV_ERRORS as exc:
            raise FacemaskError(f"{path}: cannot write the video there ({_short(exc)}).") from None
        self.count = 0

    def write(self, image: np.ndarray) -> None:
        image = image[: self.height, : self.width]
        if image.shape[:2] != (self.height, self.width):  # a stream that changes size part-way
            image = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_AREA)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts = self.count
        self.count += 1
        self._encode(frame)

    def close(self) -> None:
        try:
            self._encode(None)  # flush the encoder
        finally:
            self.container.close()

    def _encode(self, frame: av.VideoFrame | None) -> None:
        try:
            self.container.mux(self.stream.encode(frame))
        except AV_ERRORS as exc:
            raise FacemaskError(f"{self.path}: writing the video failed ({_short(exc)}).") from None


def _upright(frame: av.VideoFrame, stream) -> np.ndarray:
    """BGR pixels turned the way the file says to show them (phones store portrait video sideways)."""
    image = frame.to_ndarray(format="bgr24")
    # display matrix: counter-clockwise degrees; old files: 'rotate' tag, clockwise degrees
    tags = {key.lower(): value for key, value in stream.metadata.items()}
    degrees = frame.rotation or -_number(tags.get("rotate"))
    turns = round(degrees / 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def _write_csv(path: Path, rows: list[dict]) -> None:
    try:
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise FacemaskError(f"{path}: cannot write the counts CSV ({exc.strerror or exc}).") from None


def _number(text: str | None) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0


def _short(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:120]
