"""The watcher: cameras -> one shared Pipeline (the faces of every camera in one classifier call) ->
a tracker per camera -> events and per-minute counts -> the store, through a bounded buffer that
outlives a database outage. `CameraWatcher` is one camera (its own `run` loop serves one camera
alone, e.g. in a Ray actor); `Watcher` runs several on one Pipeline."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from facemask import config
from facemask.cameras.alerts import WebhookAlerter
from facemask.cameras.events import EventRecorder
from facemask.cameras.sources import CameraReader, Frame, SourceStatus, camera_name
from facemask.cameras.store import (
    CameraStatus,
    EventRecord,
    MinuteCounts,
    Record,
    Store,
    StoreUnavailable,
    iso,
    minute_of,
    records_text,
)
from facemask.cameras.tracking import FaceTracker
from facemask.detections import Detections
from facemask.redaction import redact
from facemask.vision.pipeline import Pipeline


def say(message: str) -> None:
    """One line on stderr, credentials hidden."""
    print(redact(message), file=sys.stderr, flush=True)


# --- the record buffer between the cameras and the database ---------------------------------------

class RecordWriter:
    """Takes records from the cameras without ever blocking them and writes them to the store from a
    thread of its own. While the database is away they wait here (an event written again replaces
    its older self, counts of one camera and minute add up, a status replaces the older one), up to
    `capacity` entries; beyond that new records are refused, counted and reported on stderr."""

    def __init__(self, store: Store, capacity: int = config.WRITE_BUFFER, say: Callable[[str], None] = say,
                 interval_s: float = config.WRITE_INTERVAL_S, retention_days: float | None = config.RETENTION_DAYS,
                 backoff_s: tuple[float, float] = config.RECONNECT_BACKOFF_S) -> None:
        self.store, self.capacity, self.say, self.interval_s = store, capacity, say, interval_s
        self.retention_days, self.backoff_s = retention_days, backoff_s
        self._pending: dict[tuple, Record] = {}
        self.schema_ready = False  # made on the first write that reaches the database
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.written = 0
        self.lost = 0  # records refused because the buffer was full
        self.lost_events = 0
        self.down_since: float | None = None
        self.down_reason = ""
        self._last_full_message = 0.0
        self._next_purge = 0.0
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    @staticmethod
    def _key(record: Record) -> tuple:
        if isinstance(record, EventRecord):
            return ("event", record.uid)
        if isinstance(record, MinuteCounts):
            return ("counts", record.camera, minute_of(record.minute))
        return ("status", record.camera)

    def _merge(self, record: Record, old: Record | None) -> Record:
        if isinstance(record, MinuteCounts) and old is not None:
            counts = {k: old.counts.get(k, 0) + record.counts.get(k, 0) for k in {*old.counts, *record.counts}}
            return MinuteCounts(record.camera, record.minute, counts)
        return record

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def put(self, records: list[Record]) -> None:
        """Keep `records` for writing; never blocks. Refused when full (reported on stderr)."""
        refused: list[Record] = []
        with self._lock:
            for record in records:
                key = self._key(record)
                if key not in self._pending and len(self._pending) >= self.capacity:
                    refused.append(record)
                    continue
                self._pending[key] = self._merge(record, self._pending.get(key))
        if refused:
            self._refused(refused)
        self._wake.set()

    def _refused(self, refused: list[Record]) -> None:
        events = [r for r in refused if isinstance(r, EventRecord)]
        self.lost += len(refused)
        self.lost_events += len(events)
        now = time.monotonic()
        if events or now - self._last_full_message > config.STATUS_INTERVAL_S:
            self._last_full_message = now
            lost = "; ".join(f"event {e.label} on {e.camera} at {iso(e.start)}" for e in events[:3])
            self.say(f"DATABASE BUFFER FULL ({self.capacity} records waiting, database {self.store.name} "
                     f"{'down: ' + self.down_reason if self.down_since else 'too slow'}): {records_text(len(refused))} "
                     f"NOT KEPT{': ' + lost if lost else ''}; {self.lost} lost so far ({self.lost_events} events)")

    def _take(self) -> dict[tuple, Record]:
        with self._lock:
            batch, self._pending = self._pending, {}
        return batch

    def _give_back(self, batch: dict[tuple, Record]) -> None:
        with self._lock:
            for key, record in batch.items():
                newer = self._pending.get(key)
                if newer is None:
                    self._pending[key] = record
                elif isinstance(record, MinuteCounts):
                    self._pending[key] = self._merge(newer, record)
                # events and statuses: the newer one stays

    def flush(self) -> bool:
        """Write everything pending now; False (and kept) if the database is unavailable."""
        batch = self._take()
        if not batch:
            return True
        try:
            if not self.schema_ready:
                self.store.ensure_schema()
                self.schema_ready = True
            remade = self.store.tables_remade
            self.store.write(batch.values())
            if self.store.tables_remade > remade:
                self.say(f"database {self.store.name}: its tables were gone (the file deleted?); made them again "
                         "and wrote what was waiting")
        except StoreUnavailable as exc:
            self._give_back(batch)
            if self.down_since is None:
                self.down_since = time.time()
                self.say(f"database unavailable: {exc} {records_text(len(batch))} wait in memory "
                         f"(up to {self.capacity}) and are written when it is back")
            self.down_reason = str(exc)
            return False
        self.written += len(batch)
        if self.down_since is not None:
            self.say(f"database {self.store.name} is back after {time.time() - self.down_since:.0f} s: "
                     f"{records_text(len(batch))} that waited written")
            self.down_since, self.down_reason = None, ""
        return True

    def _purge(self) -> None:
        if not self.retention_days or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + config.PURGE_INTERVAL_S
        try:
            gone = self.store.purge(self.retention_days)
            if any(gone.values()):
                self.say(f"retention {self.retention_days:g} days: deleted {gone['events']} events and "
                         f"{gone['minute_counts']} minute counts")
        except StoreUnavailable:
            self._next_purge = time.monotonic() + self.backoff_s[1]

    def _run(self) -> None:
        delay = self.backoff_s[0]
        while not self._stop.is_set():
            self._wake.wait(self.interval_s if self.down_since is None else delay)
            self._wake.clear()
            if self._stop.is_set():
                break
            if self.flush():
                delay = self.backoff_s[0]
                self._purge()
                if self.down_since is None:
                    self._stop.wait(self.interval_s)  # gather records into fewer transactions
            else:
                delay = min(delay * 2, self.backoff_s[1])

    def status_line(self) -> str | None:
        """A line about the database when it is down or records were lost, else None."""
        if self.down_since is None and not self.lost:
            return None
        state = (f"unavailable for {time.time() - self.down_since:.0f} s ({self.down_reason})"
                 if self.down_since is not None else "ok")
        return (f"[database] {state} | {records_text(self.pending)} waiting (max {self.capacity}) | "
                f"{self.lost} lost ({self.lost_events} events)")

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread and write what is pending (trying until `timeout`); says what could not be written."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        while not self.flush() and time.monotonic() < deadline:
            time.sleep(0.5)
        if self.pending:
            self.say(f"database {self.store.name} still unavailable: {records_text(self.pending)} NOT WRITTEN "
                     f"({self.down_reason})")


# --- one camera ----------------------------------------------------------------------------------

@dataclass
class CameraOutput:
    """What one processed frame gives: records for the store and the events that just began (alerts)."""

    records: list[Record] = field(default_factory=list)
    began: list[EventRecord] = field(default_factory=list)


class CameraWatcher:
    """One camera: its reader thread, tracker, events and per-minute counts. Frames are sampled at
    `fps`; the caller detects the faces (`Watcher` batches cameras) and hands them to `process`, or
    `run` does the whole loop for this camera alone."""

    def __init__(self, source: str, name: str | None = None, fps: float = config.WATCH_FPS,
                 privacy: bool = False, reader: CameraReader | None = None) -> None:
        self.name = name or camera_name(source)
        self.source = redact(source)
        self.fps = fps
        self.reader = reader or CameraReader(source, self.name)
        self.tracker = FaceTracker(fps=fps)
        self.recorder = EventRecorder(self.name, privacy=privacy)
        self._last_seq = 0
        self._next_sample = 0.0
        self._counts: dict[str, int] = {}
        self._counts_minute: datetime | None = None
        self._counts_flushed = time.monotonic()
        self._last_processed = time.time()
        self._silence_ended = False
        self.processed = 0
        self._analysed: list[float] = []

    def start(self) -> CameraWatcher:
        self.reader.start()
        return self

    @property
    def finished(self) -> bool:
        """A video file read to its end, its last frame processed."""
        return self.reader.ended and self.reader.latest(self._last_seq) is None

    def next_frame(self, now: float | None = None) -> Frame | None:
        """The newest frame not yet processed, when this camera is due for a sample (else None)."""
        now = time.monotonic() if now is None else now
        if now < self._next_sample - 0.1 / self.fps:  # a little early still counts: frames come with jitter
            return None
        frame = self.reader.latest(self._last_seq)
        if frame is not None:
            self._last_seq = frame.seq
            self._next_sample = max(self._next_sample + 1 / self.fps, now) if self._next_sample else now + 1 / self.fps
        return frame

    def process(self, frame: Frame, detections: Detections, threshold: float | None = None) -> CameraOutput:
        """Track this frame's faces, make events and counts; the records to store. With `threshold`, the faces
        under it are not tracked or counted, only hidden in a private snapshot (given down to the privacy one)."""
        out = CameraOutput()
        hidden = detections
        if threshold is not None:
            detections = detections[detections.face_probability >= threshold]
        tracks = self.tracker.update(detections, timestamp=frame.time)
        began, rewritten = self.recorder.update(tracks, self.tracker.pop_ended(), frame.image, detections, frame.time,
                                                hidden=hidden)
        out.began, out.records = began, [*began, *rewritten]
        self._count(frame.time, detections, out)
        self._last_processed, self._silence_ended = frame.time, False
        self.processed += 1
        self._analysed = [t for t in self._analysed if t > frame.time - config.FPS_WINDOW_S] + [frame.time]
        return out

    def _count(self, moment: float, detections: Detections, out: CameraOutput) -> None:
        minute = minute_of(datetime.fromtimestamp(moment, timezone.utc))
        if self._counts_minute is not None and minute != self._counts_minute:
            out.records += self.flush_counts()
        self._counts_minute = minute
        counts = detections.counts()
        for key, value in [("frames", 1), ("faces", len(detections)), *counts.items()]:
            self._counts[key] = self._counts.get(key, 0) + value
        if time.monotonic() - self._counts_flushed >= config.COUNTS_FLUSH_S:
            out.records += self.flush_counts()

    def flush_counts(self) -> list[Record]:
        """The counts gathered since the last flush, as a record to add to the minute's row."""
        self._counts_flushed = time.monotonic()
        if not self._counts or self._counts_minute is None:
            return []
        record, self._counts = MinuteCounts(self.name, self._counts_minute, self._counts), {}
        return [record]

    def idle(self, now: float | None = None) -> list[Record]:
        """Call when no frame came: a camera that is reconnecting, or silent for config.SOURCE_READ_TIMEOUT_S
        (not a short stall of a busy machine), ends its tracks, so their events get their durations."""
        now = time.time() if now is None else now
        silent = now - self._last_processed
        if self._silence_ended or silent < config.TRACK_FORGET_S or (
                self.reader.status().state == "connected" and silent < config.SOURCE_READ_TIMEOUT_S):
            return []
        self._silence_ended = True
        return self.end_tracks()

    def end_tracks(self) -> list[Record]:
        """End every track (camera gone silent, stream ended, stopping): their events written with final durations."""
        _, rewritten = self.recorder.update([], self.tracker.finish(), None, Detections.empty(), time.time())
        return list(rewritten)

    def status(self) -> SourceStatus:
        return self.reader.status()

    @property
    def analysed_fps(self) -> float:
        recent = [t for t in self._analysed if t > time.time() - config.FPS_WINDOW_S]
        return (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0

    def status_record(self) -> CameraStatus:
        status = self.status()
        last = None if status.last_frame_at is None else datetime.fromtimestamp(status.last_frame_at, timezone.utc)
        return CameraStatus(camera=self.name, source=self.source, state=status.state, reason=status.reason,
                            fps=round(status.fps, 2), last_frame_at=last, people=self.tracker.people_seen,
                            events=self.recorder.count)

    def status_line(self) -> str:
        people, events = self.tracker.people_seen, self.recorder.count
        return (f"{self.status().line()} | analysed {self.analysed_fps:.1f} fps | "
                f"{people} {'person' if people == 1 else 'people'}, {events} event{'' if events == 1 else 's'}")

    def stop(self) -> list[Record]:
        """Stop the reader; the records that finish this camera (ended events, counts, final status)."""
        self.reader.stop()
        return [*self.end_tracks(), *self.flush_counts(), self.status_record()]

    def run(self, pipeline: Pipeline, sink: Callable[[list[Record]], None],
            alerts: Callable[[EventRecord], object] | None = None, duration_s: float | None = None,
            stop: threading.Event | None = None, status_every_s: float = config.STATUS_INTERVAL_S,
            say: Callable[[str], None] = say) -> None:
        """This camera alone, until `duration_s`, `stop` or the end of its video: frames through `pipeline`,
        records to `sink`, new events to `alerts`, a status line every `status_every_s`."""
        Watcher([self], pipeline, sink, alerts=alerts, status_every_s=status_every_s, say=say).run(duration_s, stop)


# --- several cameras on one Pipeline -------------------------------------------------------------

class Watcher:
    """Runs cameras on one shared Pipeline: each tick, the due frame of every camera goes through
    `detect_many` together (one classifier call for all their faces)."""

    def __init__(self, cameras: list[CameraWatcher], pipeline: Pipeline, sink: Callable[[list[Record]], None],
                 alerts: Callable[[EventRecord], object] | None = None,
                 status_every_s: float = config.STATUS_INTERVAL_S, say: Callable[[str], None] = say,
                 extra_status: Callable[[], str | None] | None = None,
                 on_frame: Callable[[CameraWatcher, Frame, Detections], None] | None = None) -> None:
        self.cameras, self.pipeline, self.sink, self.alerts = cameras, pipeline, sink, alerts
        self.on_frame = on_frame  # called with each analysed frame and its faces (drawing, streaming)
        self.status_every_s, self.say, self.extra_status = status_every_s, say, extra_status
        self._states: dict[str, tuple[str, str]] = {}

    def _report(self, force: bool, store_all: bool = False) -> None:
        """Status lines of the cameras that changed (all of them when `force`); their statuses to the
        store, and every camera's when `store_all` (the Monitor page tells a live watcher by them)."""
        records = []
        for camera in self.cameras:
            status = camera.status()
            changed = self._states.get(camera.name) != (status.state, status.reason)
            if force or changed:
                self.say(camera.status_line())
                self._states[camera.name] = (status.state, status.reason)
            if force or changed or store_all:
                records.append(camera.status_record())
        if force and self.extra_status and (line := self.extra_status()):
            self.say(line)
        if records:
            self.sink(records)

    def run(self, duration_s: float | None = None, stop: threading.Event | None = None) -> None:
        """Until `duration_s` seconds have passed, `stop` is set, or every camera is a video read to its end."""
        stop = stop or threading.Event()
        for camera in self.cameras:
            if not camera.reader.alive:
                camera.start()
        begin = time.monotonic()
        next_status = begin + self.status_every_s
        next_stored = begin + min(self.status_every_s, config.STATUS_INTERVAL_S)
        # look for due frames often, so a frame is taken soon after it arrives (each camera keeps its own pace)
        tick = min(config.WATCH_TICK_S, 1 / max(camera.fps for camera in self.cameras)) if self.cameras else 1.0
        active = list(self.cameras)
        try:
            while active and not stop.is_set():
                now = time.monotonic()
                if duration_s is not None and now - begin >= duration_s:
                    break
                due = [(camera, frame) for camera in active if (frame := camera.next_frame(now)) is not None]
                for (camera, frame), detections in zip(due, self._detect([frame for _, frame in due])):
                    self._handle(camera.process(frame, detections, self.pipeline.threshold))
                    detections = detections[detections.face_probability >= self.pipeline.threshold]
                    if self.on_frame is not None:
                        self.on_frame(camera, frame, detections)
                waiting = {camera.name for camera, _ in due}
                for camera in active:
                    if camera.name not in waiting and (records := camera.idle()):
                        self.sink(records)
                for camera in [c for c in active if c.finished]:
                    active.remove(camera)
                    self.sink(camera.stop())
                force, store_all = time.monotonic() >= next_status, time.monotonic() >= next_stored
                self._report(force, store_all)
                if force:
                    next_status = time.monotonic() + self.status_every_s
                if force or store_all:
                    next_stored = time.monotonic() + min(self.status_every_s, config.STATUS_INTERVAL_S)
                stop.wait(max(0.0, tick - (time.monotonic() - now)))
        finally:
            for camera in active:
                self.sink(camera.stop())
            for camera in active:
                self.say(camera.status_line())

    def _detect(self, frames: list[Frame]) -> list[Detections]:
        """Faces of every frame in one call; if that fails, frame by frame, so one camera's bad frame
        costs only that frame (reported) and never the others'."""
        if not frames:
            return []
        # with privacy on, every candidate down to the privacy threshold, so a private snapshot hides it too
        threshold = min(self.pipeline.threshold, config.PRIVACY_THRESHOLD) \
            if any(camera.recorder.privacy for camera in self.cameras) else None
        try:
            return self.pipeline.detect_many([frame.image for frame in frames], threshold)
        except Exception:  # noqa: BLE001 - find the frame at fault below
            pass
        found = []
        for frame in frames:
            try:
                found.append(self.pipeline.detect(frame.image, threshold))
            except Exception as exc:  # noqa: BLE001 - a frame that can't be analysed is skipped, said
                self.say(f"a frame could not be analysed ({type(exc).__name__}: {exc}); skipped")
                found.append(Detections.empty())
        return found

    def _handle(self, out: CameraOutput) -> None:
        if out.records:
            self.sink(out.records)
        for event in out.began:
            self.say(f"[{event.camera}] EVENT {event.label} score {event.score:.2f} at {iso(event.start)} "
                     f"box {list(event.box)}")
            if self.alerts is not None:
                self.alerts(event)


def watch(sources: list[str], names: list[str] | None = None, db_url: str | None = None,
          fps: float = config.WATCH_FPS, duration_s: float | None = None, webhook: str | None = None,
          privacy: bool = False, retention_days: float | None = config.RETENTION_DAYS,
          pipeline: Pipeline | None = None, stop: threading.Event | None = None,
          status_every_s: float = config.STATUS_INTERVAL_S) -> dict:
    """`facemask watch`: every source on one live Pipeline, records into the store at `db_url`; a summary."""
    names = list(names or [])
    cameras_names = [names[k] if k < len(names) and names[k] else camera_name(source)
                     for k, source in enumerate(sources)]
    seen: dict[str, int] = {}
    for k, name in enumerate(cameras_names):  # two sources with the same name would mix their records
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            cameras_names[k] = f"{name}-{seen[name]}"
    store = Store(db_url, create=False)
    writer = RecordWriter(store, retention_days=retention_days)
    try:
        store.ensure_schema()
        writer.schema_ready = True
    except StoreUnavailable as exc:  # start anyway: records wait in memory until it answers
        say(f"database unavailable at start: {exc} Records wait in memory (up to {writer.capacity}).")
        writer.down_since, writer.down_reason = time.time(), str(exc)
    alerter = WebhookAlerter(webhook) if webhook else None
    pipeline = pipeline or Pipeline(live="watch")
    cameras = [CameraWatcher(source, name, fps=fps, privacy=privacy) for source, name in zip(sources, cameras_names)]
    say(f"watching {len(cameras)} camera(s) at {fps:g} fps into {store.name}"
        + (f", alerts to {alerter.name}" if alerter else "") + (", privacy on" if privacy else ""))
    watcher = Watcher(cameras, pipeline, writer.put, alerts=alerter.send if alerter else None,
                      status_every_s=status_every_s, extra_status=writer.status_line)
    try:
        watcher.run(duration_s, stop)
    finally:
        if alerter:
            alerter.close()
        writer.close()
        store.close()
    summary = {"cameras": {c.name: {"frames_analysed": c.processed, "people": c.tracker.people_seen,
                                    "events": c.recorder.count, "state": c.status().state} for c in cameras},
               "database": store.name, "records_written": writer.written,
               "records_lost": writer.lost + writer.pending,  # refused when full, or never written
               "records_refused": writer.lost,  # the buffer was full while the database was away
               "records_not_written": writer.pending,  # still waiting when the run stopped
               "alerts_sent": alerter.sent if alerter else 0, "alerts_failed": alerter.failed if alerter else 0,
               "alerts_held_back": alerter.held_back if alerter else 0}
    return summary
