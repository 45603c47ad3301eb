"""`facemask watch --ray ADDR --db postgresql://...` on the loopback Ray cluster and the tests' PostgreSQL
server, a camera made of a dev photo (tests/kits/camera_kit.py): the camera's actor killed comes back and its
events continue in PostgreSQL; no password shows anywhere."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from datetime import datetime, timezone

import camera_kit as kit
import pytest
import sqlalchemy as sa

from facemask.cameras.store import Store

pytest.importorskip("ray", reason="Ray is the [ray] extra: bash setup.sh --dev installs it")
pytest.importorskip("psycopg", reason="the PostgreSQL driver is the [postgres] extra: bash setup.sh --dev")

import postgres_kit  # noqa: E402  (after the skip: it needs psycopg)

DEADLINE_S = 420  # a camera actor's start on a loaded 2-core machine: Ray worker, models, stream


def wait_until(check, deadline_s: float, what: str, watch: kit.WatchProcess):
    deadline = time.monotonic() + deadline_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, (f"waited {deadline_s:g} s for {what}; the watcher's last lines:\n"
                                             + "\n".join(watch.lines[-30:]))
        time.sleep(0.5)


@pytest.fixture
def database(postgres):
    """A fresh database on the session's PostgreSQL server: its URL (password in it)."""
    name = f"w{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    yield postgres.url().rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def door_camera(tmp_path) -> str:
    """A camera that films one person without a mask for 8 minutes: a video file, read at its own frame rate
    like a live stream. (Not the RTSP server: rtsp-server-perl falls back to UDP port 20000 between streams,
    so two test runs on one machine at once collide there; the restart under test is the actor's.)"""
    if reason := kit.missing_tools():
        pytest.fail(reason)
    short = kit.still_clip(tmp_path / "door-4s.mp4", kit.WITHOUT_MASK_PHOTO, seconds=4, fps=5)
    clip = tmp_path / "door.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-stream_loop", "119", "-i", str(short),
                    "-c", "copy", str(clip)], check=True, timeout=300)
    return str(clip)


def test_a_killed_camera_actor_comes_back_and_its_events_continue_in_postgresql(ray_cluster, database, door_camera):
    watch = kit.WatchProcess(door_camera, "--name", "door", "--ray", ray_cluster.address, "--db", database,
                             "--status-every", "2", env=ray_cluster.env)
    store = Store(database, create=False)
    try:
        started = watch.wait_for(r"^\[door\] running on Ray \(node", DEADLINE_S, "the camera actor's start")
        first = wait_until(lambda: store.events(camera="door"), DEADLINE_S, "the first event in PostgreSQL",
                           watch)
        [victim] = ray_cluster.wait_for_actors("CameraActor", 1, 60, "the camera's actor process")
        killed_at = datetime.now(timezone.utc)
        os.kill(victim, signal.SIGKILL)
        watch.wait_for(r"^\[door\] running on Ray again after its worker was lost", DEADLINE_S,
                       "the camera actor's restart", after=started + 1)
        assert victim not in ray_cluster.actor_pids("CameraActor")
        later = wait_until(lambda: [e for e in store.events(camera="door")
                                    if datetime.fromisoformat(e["time"].replace("Z", "+00:00")) > killed_at],
                           DEADLINE_S, "an event after the restart in PostgreSQL", watch)
        assert {e["label"] for e in first + later} <= {"without_mask", "mask_worn_incorrectly"}
        code, stdout, stderr = watch.stop(120)
    finally:
        if watch.proc.poll() is None:
            watch.proc.kill()
        store.close()
    assert code == 0, stderr
    assert "door:" in stdout and "written to postgresql://***@127.0.0.1" in stdout, stdout
    everything = stdout + stderr
    assert kit.SECRET not in everything.replace("***", "") and postgres_kit.PASSWORD not in everything
    assert "Traceback" not in everything
