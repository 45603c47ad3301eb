"""The watcher's parts in-process, on real files and real local servers: the record buffer when the
database is away or full, webhook retries and rate limit, privacy blur, redaction, a video file source."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import camera_kit as kit
import cv2
import numpy as np
import pytest
from browser_kit import letterbox

from facemask.cameras.alerts import WebhookAlerter
from facemask.cameras.events import EventRecorder
from facemask.cameras.sources import CameraReader
from facemask.cameras.store import EventRecord, MinuteCounts, Store
from facemask.cameras.tracking import FaceTracker
from facemask.cameras.watch import RecordWriter
from facemask.detections import Detections
from facemask.redaction import redact

T0 = datetime(2026, 12, 1, 10, 0, 5, tzinfo=timezone.utc)


def event(camera: str = "door") -> EventRecord:
    return EventRecord(camera=camera, start=T0, duration_s=1.0, label="without_mask", score=0.9, box=(1, 2, 30, 40))


@pytest.fixture
def away_db(tmp_path):
    """A store whose folder is gone (a file stands in its place); `back()` restores it."""
    folder = tmp_path / "db"
    store = Store(f"sqlite:///{folder / 'facemask.db'}")
    shutil.move(folder, tmp_path / "away")
    folder.write_text("gone")

    def back() -> None:
        folder.unlink()
        shutil.move(tmp_path / "away", folder)

    store.back = back
    yield store
    store.close()


def test_full_buffer_refuses_new_records_and_says_so_loudly(away_db):
    messages: list[str] = []
    writer = RecordWriter(away_db, capacity=3, say=messages.append, interval_s=60, retention_days=None)
    try:
        writer.put([event() for _ in range(5)])
        assert writer.lost == 2 and writer.lost_events == 2
        assert any("DATABASE BUFFER FULL" in m and "NOT KEPT" in m and "event without_mask on door" in m
                   for m in messages), messages
        assert not writer.flush() and writer.pending == 3
        assert "unavailable" in writer.status_line() and "2 lost (2 events)" in writer.status_line()
        away_db.back()
        assert writer.flush()
        assert len(away_db.events()) == 3
        assert any("is back" in m for m in messages), messages
    finally:
        writer.close()


def test_counts_and_rewritten_events_waiting_for_the_database_merge_instead_of_piling_up(away_db):
    writer = RecordWriter(away_db, capacity=10, say=lambda m: None, interval_s=60, retention_days=None)
    try:
        first = event()
        counts = {"frames": 5, "faces": 5, "without_mask": 5}
        writer.put([first, MinuteCounts("door", T0, counts)])
        assert not writer.flush()
        first.duration_s = 9.0
        writer.put([first, MinuteCounts("door", T0, counts)])
        assert writer.pending == 2
        away_db.back()
        assert writer.flush()
        [stored] = away_db.events()
        assert stored["duration_s"] == 9.0
        [row] = away_db.minute_counts()
        assert row["faces"] == 10 and row["frames"] == 10
    finally:
        writer.close()


class Hook:
    """A webhook that answers the first `failures` POSTs with HTTP 500."""

    def __init__(self, failures: int = 0) -> None:
        self.failures, self.bodies, self.calls, self.keys = failures, [], 0, []
        self.delivered = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.calls += 1
                hook.keys.append((self.headers["Idempotency-Key"], body["idempotency_key"]))
                if hook.calls <= hook.failures:
                    self.send_response(500)
                else:
                    hook.bodies.append(body)
                    self.send_response(200)
                    hook.delivered.set()
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhook_is_retried_after_server_errors_until_delivered():
    hook, messages = Hook(failures=2), []
    alerter = WebhookAlerter(hook.url, backoff_s=0.05, say=messages.append)
    try:
        assert alerter.send(event())
        assert hook.delivered.wait(30), f"no delivery after retries: {messages}"
        assert hook.calls == 3 and hook.bodies[0]["camera"] == "door" and hook.bodies[0]["label"] == "without_mask"
        assert sum("HTTP 500; retry" in m for m in messages) == 2, messages
        # every try carries the event's id, so a receiver can drop a duplicate of a try it already has
        assert hook.keys == [(hook.bodies[0]["event"], hook.bodies[0]["event"])] * 3
    finally:
        alerter.close()
        hook.close()


def test_webhook_sends_at_most_one_alert_per_camera_per_interval_and_counts_the_rest():
    hook, now = Hook(), [0.0]
    alerter = WebhookAlerter(hook.url, min_interval_s=30, say=lambda m: None, clock=lambda: now[0])
    try:
        assert alerter.send(event("door")) and not alerter.send(event("door")) and not alerter.send(event("door"))
        assert alerter.send(event("hall")), "another camera's alert was held back"
        now[0] = 31.0
        assert alerter.send(event("door"))
    finally:
        alerter.close()
        hook.close()
    assert [(b["camera"], b["held_back_since_last"]) for b in hook.bodies] == [("door", 0), ("hall", 0), ("door", 2)]


def test_a_webhook_that_never_answers_does_not_hold_up_the_caller():
    silent = kit.FakeCamera("silent")
    messages = []
    alerter = WebhookAlerter(f"http://127.0.0.1:{silent.port}/hook", retries=0, timeout_s=2, say=messages.append)
    try:
        assert alerter.send(event())  # returned while the POST hangs on a server that never answers
        alerter.close(timeout=30)
        assert silent.connections == 1 and alerter.failed == 1
        assert any("not delivered after 1 tries" in m for m in messages), messages
    finally:
        silent.close()


def test_privacy_blurs_the_stored_face_snapshot(live_pipeline):
    frame = letterbox(cv2.imread(str(kit.WITHOUT_MASK_PHOTO)))
    detections = live_pipeline.detect(frame)
    faces = {}
    for privacy in (False, True):
        tracker, recorder = FaceTracker(fps=5), EventRecorder("door", privacy=privacy)
        for k in range(4):
            tracks = tracker.update(detections, timestamp=k / 5)
            began, _ = recorder.update(tracks, [], frame, detections, k / 5)
            if began:
                break
        [opened] = began
        assert opened.blurred == privacy
        face = cv2.imdecode(np.frombuffer(opened.face_jpeg, np.uint8), cv2.IMREAD_GRAYSCALE).astype(np.float64)
        faces[privacy] = face - cv2.GaussianBlur(face, (0, 0), 3)  # the fine detail that tells people apart
    assert faces[True].shape == faces[False].shape
    kept = np.corrcoef(faces[True].ravel(), faces[False].ravel())[0, 1]
    assert kept < 0.3, f"the private snapshot keeps the face's detail (correlation {kept:.2f})"


def test_a_private_snapshot_also_hides_faces_too_unsure_to_track(live_pipeline):
    from facemask.cameras.events import snapshots

    frame = letterbox(cv2.imread(str(kit.WITHOUT_MASK_PHOTO)))
    shown = live_pipeline.detect(frame)
    frame[8:88, 8:72] = (np.indices((80, 64)).sum(axis=0) // 4 % 2 * 200)[..., None]  # detail in the corner
    unsure = Detections(xyxy=[[8, 8, 72, 88]], confidence=[0.5], class_id=[0], face_score=[0.2],
                        face_probability=[0.12], probabilities=[[0.5, 0.3, 0.2]])  # a face the threshold drops
    hidden = Detections(xyxy=np.concatenate([shown.xyxy, unsure.xyxy]),
                        confidence=np.concatenate([shown.confidence, unsure.confidence]),
                        class_id=np.concatenate([shown.class_id, unsure.class_id]),
                        face_score=np.concatenate([shown.face_score, unsure.face_score]),
                        face_probability=np.concatenate([shown.face_probability, unsure.face_probability]),
                        probabilities=np.concatenate([shown.probabilities, unsure.probabilities]))
    thumbnails = {}
    for privacy, extra in ((False, None), (True, None), (True, hidden)):
        _, thumbnail = snapshots(frame, shown, 0, privacy, extra)
        thumbnails[(privacy, extra is not None)] = cv2.imdecode(np.frombuffer(thumbnail, np.uint8), cv2.IMREAD_COLOR)
    scale = thumbnails[(False, False)].shape[1] / frame.shape[1]
    corner = (slice(int(12 * scale), int(80 * scale)), slice(int(12 * scale), int(64 * scale)))
    plain, face_only, both = (thumbnails[k][corner].astype(int) for k in ((False, False), (True, False), (True, True)))
    assert np.abs(plain - face_only).mean() < 3, "the corner was blurred though no face was there"
    assert np.abs(plain - both).mean() > 8, "the unsure face in the corner was left as it was"


@pytest.mark.parametrize("text, shown", [
    ("rtsp://admin:secret@10.1.2.3:554/Streaming/101", "rtsp://***@10.1.2.3:554/Streaming/101"),
    ("can't open rtsp://admin:p@ss:secret@cam/x: 401", "can't open rtsp://***@cam/x: 401"),
    ("http://cam/mjpg?user=admin&password=secret&fps=5", "http://cam/mjpg?user=***&password=***&fps=5"),
    ("postgresql+psycopg://facemask:secret@db:5432/facemask", "postgresql+psycopg://***@db:5432/facemask"),
    ("/dev/video0", "/dev/video0"),
    # passwords with / ? # : @ unescaped, which SQLAlchemy and cameras accept
    ("Database: postgresql+psycopg://fm1:s3cret/PW@127.0.0.1:5432/fm", "Database: postgresql+psycopg://***@127.0.0.1:5432/fm"),
    ("rtsp://admin:s3cret?PW@10.0.0.5:554/stream", "rtsp://***@10.0.0.5:554/stream"),
    ("rtsp://admin:s3c#re/t?@x:y@cam:554/s down", "rtsp://***@cam:554/s down"),
    ("postgresql://fm@db/fm?sslpassword=abc&application_name=fm", "postgresql://***@db/fm?sslpassword=***&application_name=fm"),
    ("https://h/x?api_key=A&apikey=B&access_token=C&pw=D&fps=5", "https://h/x?api_key=***&apikey=***&access_token=***&pw=***&fps=5"),
    ("sqlite:////var/lib/facemask/facemask.db", "sqlite:////var/lib/facemask/facemask.db"),
])
def test_redact_hides_every_credential_in_urls_and_messages(text, shown):
    assert redact(text) == shown


def test_a_webhook_is_shown_without_its_path_token_or_query_and_a_camera_named_without_its_password():
    from facemask.cameras.sources import camera_name
    from facemask.redaction import redact_webhook

    assert redact_webhook("https://hooks.slack.com/services/T000/B000/SECRET") == "https://hooks.slack.com/services/***"
    assert redact_webhook("http://127.0.0.1:8080/hook?pw=s3cret") == "http://127.0.0.1:8080/hook?***"
    assert redact_webhook("http://127.0.0.1:9/hook/s3c/r?t#@:x") == "http://127.0.0.1:9/hook/***"
    assert redact_webhook("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"
    assert camera_name("rtsp://admin:s3cret?PW@10.0.0.5:554/stream") == "10.0.0.5_554_stream"


def test_video_file_source_is_read_to_its_end_and_keeps_only_the_newest_frame(tmp_path):
    clip = kit.still_clip(tmp_path / "clip.mp4", kit.WITHOUT_MASK_PHOTO, seconds=2, fps=10)
    reader = CameraReader(str(clip), "clip").start()
    try:
        first = reader.wait(0, timeout=60)
        assert first is not None, f"no frame from a video file: {reader.status().line()}"
        reader._thread.join(60)
        assert reader.ended, reader.status().line()
        last = reader.latest(first.seq)
        assert last.seq == 20 and reader.latest(last.seq) is None, "frames were queued, not replaced"
        assert last.image.shape == (480, 640, 3)
        assert reader.status().line().startswith("[clip] ended")
    finally:
        reader.stop()


@pytest.mark.skipif(kit.missing_tools() is not None, reason=kit.missing_tools() or "")
@pytest.mark.parametrize("kind", ["mjpeg", "hls"])
def test_http_cameras_mjpeg_and_hls_give_frames(tmp_path, kind):
    if kind == "mjpeg":
        camera = kit.MjpegCamera(kit.WITHOUT_MASK_PHOTO)
    else:
        camera = kit.HlsCamera(kit.still_clip(tmp_path / "clip.mp4", kit.WITHOUT_MASK_PHOTO, seconds=6),
                               tmp_path / "hls")
    reader = CameraReader(camera.url(), kind).start()
    try:
        frame = reader.wait(0, timeout=60)
        assert frame is not None, f"no frame from the {kind} camera: {reader.status().line()}"
        assert frame.image.shape == (480, 640, 3)
        later = reader.wait(frame.seq, timeout=30)
        assert later is not None and later.seq > frame.seq, reader.status().line()
        line = reader.status().line()
        assert line.startswith(f"[{kind}] connected") and kit.SECRET not in line + reader.status().source
    finally:
        reader.stop()
        camera.close()


def test_one_camera_runs_alone_through_its_own_loop(tmp_path, live_pipeline):
    """CameraWatcher.run: the per-camera loop a Ray actor (or any process) runs for one camera."""
    from facemask.cameras.watch import CameraWatcher

    clip = kit.still_clip(tmp_path / "door.mp4", kit.WITHOUT_MASK_PHOTO, seconds=4)
    records, alerts, lines = [], [], []
    camera = CameraWatcher(str(clip), "door", fps=5)
    camera.run(live_pipeline, records.extend, alerts=alerts.append, duration_s=120, say=lines.append)
    events = [r for r in records if isinstance(r, EventRecord)]
    assert len(alerts) == 1 and alerts[0].label == "without_mask"
    assert {e.uid for e in events} == {alerts[0].uid}, "one person gave more than one event"
    assert events[-1].duration_s > events[0].duration_s
    assert sum(r.counts["faces"] for r in records if isinstance(r, MinuteCounts)) == camera.processed > 0
    assert lines[-1].startswith("[door] ended") and camera.finished
