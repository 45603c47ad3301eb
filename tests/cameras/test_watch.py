"""`facemask watch` on real parts: a real RTSP server on loopback with ffmpeg pushing clips made from
dev photos, a camera that drops and comes back, two cameras at once, the webhook received by a local
HTTP server, events read back with `facemask events`, faults, a database that goes away; and no
password anywhere."""

from __future__ import annotations

import json
import re
import shutil

import camera_kit as kit
import pytest

from facemask.cameras.store import Store

pytestmark = pytest.mark.skipif(kit.missing_tools() is not None, reason=kit.missing_tools() or "")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("clips")
    return {"without": kit.still_clip(folder / "without_mask.mp4", kit.WITHOUT_MASK_PHOTO),
            "with": kit.still_clip(folder / "with_mask.mp4", kit.WITH_MASK_PHOTO),
            "short": kit.still_clip(folder / "door.mp4", kit.WITHOUT_MASK_PHOTO, seconds=6)}


@pytest.fixture(scope="module")
def rtsp(tmp_path_factory):
    server = kit.RtspServer(tmp_path_factory.mktemp("rtsp") / "server.log")
    yield server
    server.close()


@pytest.fixture
def pushers():
    started = []

    def push(*args, **kwargs) -> kit.Pusher:
        pusher = kit.Pusher(*args, **kwargs).start()
        started.append(pusher)
        return pusher

    yield push
    for pusher in started:
        pusher.stop()


def no_secret(*texts: str | bytes) -> None:
    for text in texts:
        data = text if isinstance(text, bytes) else text.encode()
        assert kit.SECRET.encode() not in data, "the camera password appeared in the output"


def database_bytes(path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_still_video_of_one_person_gives_one_event_read_back_by_facemask_events(tmp_path, clips):
    db = tmp_path / "facemask.db"
    watch = kit.WatchProcess(str(clips["short"]), "--name", "door", "--db", f"sqlite:///{db}", "--status-every", "2")
    rc, out, err = watch.finish(timeout=240)
    watch.save("watch-still-video")
    assert rc == 0, err
    assert re.search(r"^door: \d+ frames analysed, 1 person seen, 1 event \(ended\)$", out, re.M), out + err
    events = json.loads(kit.run_cli("events", "--db", f"sqlite:///{db}", "--json").stdout)
    assert len(events) == 1, events
    [event] = events
    assert event["camera"] == "door" and event["label"] == "without_mask" and event["score"] > 0.5
    assert event["time"].endswith("Z") and 3.6 < event["duration_s"] < 9.0, event  # the clip lasts 6 s
    x1, y1, x2, y2 = event["box"]
    assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
    csv_text = kit.run_cli("events", "--db", f"sqlite:///{db}", "--csv").stdout
    assert csv_text.splitlines()[0].startswith("id,camera,time,label,score,duration_s")
    face, frame = Store(f"sqlite:///{db}").event_images(event["id"])
    assert face[:2] == b"\xff\xd8" and frame[:2] == b"\xff\xd8", "snapshots are JPEGs"


def test_two_rtsp_cameras_one_drops_and_comes_back_alerts_reach_the_webhook(tmp_path, rtsp, clips, pushers):
    door = pushers(rtsp, "door", clips["without"], log=tmp_path / "door-ffmpeg.log")
    pushers(rtsp, "hall", clips["with"], log=tmp_path / "hall-ffmpeg.log")
    hook = kit.Webhook()
    db = tmp_path / "facemask.db"
    watch = kit.WatchProcess(rtsp.url("door"), rtsp.url("hall"), "--name", "door", "--name", "hall",
                             "--db", f"sqlite:///{db}", "--webhook", hook.url, "--status-every", "2")
    try:
        first = watch.wait_for(r"^\[door\] EVENT without_mask", 240, "the door camera's first event")
        watch.wait_for(r"^\[hall\] connected", 120, "the hall camera to connect")
        [alert] = hook.wait_for(1, 60, "the webhook POST of the door event")
        assert alert["camera"] == "door" and alert["label"] == "without_mask" and alert["time"].endswith("Z")
        held = watch.wait_for(r"^\[door\] connected", 60, "a door status line after its event", after=first + 1)
        door.stop()  # the camera drops
        dropped = watch.wait_for(r"^\[door\] reconnecting", 120, "the watcher to see the door camera drop",
                                 after=held + 1)
        assert len(watch.matching(r"^\[door\] EVENT", before=dropped)) == 1, "one person in view gave several events"
        watch.wait_for(r"^\[hall\] connected .*last frame 0\.\d s ago", 60,
                       "the hall camera to go on while the door one is down", after=dropped + 1)
        door.start()  # ... and comes back
        back = watch.wait_for(r"^\[door\] connected", 180, "the door camera to reconnect", after=dropped)
        watch.wait_for(r"^\[door\] EVENT without_mask", 120, "an event from the door camera after it came back",
                       after=back)
    finally:
        rc, out, err = watch.stop()
        watch.save("watch-two-cameras")
        hook.close()
    assert rc == 0, err
    events = json.loads(kit.run_cli("events", "--db", f"sqlite:///{db}", "--json").stdout)
    door_events = [e for e in events if e["camera"] == "door"]
    assert len(door_events) == 2 and {e["label"] for e in door_events} == {"without_mask"}, events
    assert not [e for e in events if e["camera"] == "hall"], "a face with a mask made an event"
    store = Store(f"sqlite:///{db}")
    hall = store.minute_counts(camera="hall")
    assert sum(r["with_mask"] for r in hall) > 0 and sum(r["without_mask"] for r in hall) < sum(
        r["with_mask"] for r in hall)
    statuses = {s["camera"]: s for s in store.camera_statuses()}
    assert set(statuses) == {"door", "hall"} and statuses["door"]["source"].startswith("rtsp://***@")
    no_secret(out, err, kit.run_cli("events", "--db", f"sqlite:///{db}", "--csv").stdout,
              database_bytes(db), *hook.raw)


def test_broken_cameras_each_get_a_status_line_and_retries_while_a_good_one_records(tmp_path, rtsp, clips,
                                                                                       pushers):
    pushers(rtsp, "door", clips["without"])
    pushers(rtsp, "radio", args=["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-c:a", "aac"])
    silent, garbage = kit.FakeCamera("silent"), kit.FakeCamera("garbage")
    db = tmp_path / "facemask.db"
    names = ["door", "silent", "radio", "garbage"]
    sources = [rtsp.url("door"), silent.url("rtsp"), rtsp.url("radio"), garbage.url()]
    watch = kit.WatchProcess(*sources, *[arg for name in names for arg in ("--name", name)],
                             "--db", f"sqlite:///{db}", "--status-every", "2")
    try:
        expected = {
            "silent": r"^\[silent\] reconnecting .*no answer within \d+ s",
            "radio": r"^\[radio\] reconnecting .*the stream has no video \(it carries audio\)",
            "garbage": r"^\[garbage\] reconnecting .*not a video stream",
        }
        seen = {name: watch.wait_for(pattern, 180, f"the {name} camera's fault in its status line")
                for name, pattern in expected.items()}
        watch.wait_for(r"^\[door\] EVENT without_mask", 240, "the good camera's event beside the broken ones")
        for name, index in seen.items():  # each is tried again, with a growing wait
            watch.wait_for(rf"^\[{name}\] reconnecting .*[2-9]\d* reconnects", 180, f"the {name} camera retried",
                           after=index + 1)
    finally:
        rc, out, err = watch.stop()
        watch.save("watch-faults")
        silent.close()
        garbage.close()
    assert rc == 0, err
    assert "Traceback" not in err
    assert [e["camera"] for e in Store(f"sqlite:///{db}").events()] == ["door"]
    no_secret(out, err, database_bytes(db))


def test_a_video_file_that_cannot_be_decoded_fails_at_once_like_a_missing_one(tmp_path):
    import subprocess

    garbage = tmp_path / "camera.mp4"
    garbage.write_bytes(bytes(range(256)) * 64)  # named like a video, not one
    codec = kit.unknown_codec_avi(tmp_path / "codec.avi")
    for source, reason in ((garbage, "invalid data"), (codec, "decoder not found"),
                           (tmp_path / "missing.mp4", "no such video file")):
        # a camera is retried until --duration ends; a file that cannot be read never gets better
        result = subprocess.run([*kit.FACEMASK, "watch", str(source), "--duration", "3600", "--db",
                                 f"sqlite:///{tmp_path / 'facemask.db'}"], capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"error: {source}: ") and reason in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_events_wait_in_memory_while_the_database_is_away_and_are_written_when_it_is_back(tmp_path, rtsp, clips,
                                                                                          pushers):
    folder = tmp_path / "db"
    db = folder / "facemask.db"
    watch = kit.WatchProcess(rtsp.url("door"), "--name", "door", "--db", f"sqlite:///{db}", "--status-every", "2")
    try:
        watch.wait_for(r"^watching 1 camera", 180, "the watcher to start (its database made)")
        assert db.exists()
        shutil.move(folder, tmp_path / "away")  # the database goes away before anyone is seen
        folder.write_text("the database's folder is gone")
        down = watch.wait_for(r"^database unavailable: ", 120, "the watcher to say the database is unavailable")
        pushers(rtsp, "door", clips["without"])
        watch.wait_for(r"^\[door\] EVENT without_mask", 240, "an event while the database is away")
        watch.wait_for(r"^\[database\] unavailable .* [1-9]\d* records? waiting", 60,
                       "the database status line with records waiting", after=down)
        folder.unlink()
        shutil.move(tmp_path / "away", folder)
        watch.wait_for(r"^database .* is back after \d+ s: [1-9]\d* records? that waited written", 120,
                       "the records to be written once the database is back", after=down)
    finally:
        rc, out, err = watch.stop()
        watch.save("watch-database-outage")
    assert rc == 0, err
    [event] = Store(f"sqlite:///{db}").events()
    assert event["camera"] == "door" and event["label"] == "without_mask"
    assert "LOST" not in out and "NOT KEPT" not in err


def test_cameras_and_the_webhook_can_come_from_a_file_and_the_environment_off_the_command_line(tmp_path, clips):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    secret = "s3c/r?t#@:x"
    got = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cameras = tmp_path / "cameras.txt"
    cameras.write_text(f"# the door camera\ndoor {clips['short']}\n")
    db = tmp_path / "facemask.db"
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook/{secret}"
    try:
        watch = kit.WatchProcess("--cameras", str(cameras), "--db", f"sqlite:///{db}",
                                 env={"FACEMASK_WEBHOOK": hook})
        assert secret not in " ".join(watch.proc.args), "the webhook's token is on the command line"
        rc, out, err = watch.finish(timeout=240)
        watch.save("watch-cameras-file")
    finally:
        server.shutdown()
        server.server_close()
    assert rc == 0, err
    assert re.search(r"^door: \d+ frames analysed, 1 person seen, 1 event", out, re.M), out + err
    assert re.search(r"alerts to http://127\.0\.0\.1:\d+/hook/\*\*\*", err), err
    assert got and json.loads(got[0])["camera"] == "door", "the alert did not reach the webhook from the environment"
    assert secret not in out + err and secret.encode() not in database_bytes(db)
    cameras.write_text("door rtsp://cam/live extra words\n")
    wrong = kit.run_cli("watch", "--cameras", cameras)
    assert wrong.returncode == 2 and f"{cameras}:1: expected NAME SOURCE" in wrong.stderr, wrong.stderr
