"""The Monitor page in a real browser, on what a real `facemask watch` run stored: behind a password,
camera status without URLs, the compliance chart, events with snapshots, and a new event shown as it
is stored."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

import camera_kit as ck
import pytest
from browser_kit import free_port, missing, new_page, open_page, screenshot, start_video, stop_video, wait_until_idle

from facemask import config
from facemask.cameras.store import CameraStatus, EventRecord, Store

pytestmark = pytest.mark.browser
if missing():
    pytest.skip(missing(), allow_module_level=True)

PASSWORD = "open sesame"
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> str:
    """A database filled by `facemask watch`: a still video of a person without a mask ("door") and a
    camera whose URL carries a password and refuses connections ("yard")."""
    folder = tmp_path_factory.mktemp("monitor")
    clip = ck.still_clip(folder / "door.mp4", ck.WITHOUT_MASK_PHOTO, seconds=6)
    url = f"sqlite:///{folder / 'facemask.db'}"
    refused = f"rtsp://viewer:{ck.SECRET}@127.0.0.1:{free_port()}/yard"
    watch = ck.WatchProcess(str(clip), refused, "--name", "door", "--name", "yard", "--db", url,
                            "--duration", "20", "--status-every", "2")
    rc, out, err = watch.finish(timeout=300)
    assert rc == 0 and "door: " in out and "1 event" in out, err
    return url


@pytest.fixture(scope="module")
def monitor_server(recorded, tmp_path_factory):
    """The dashboard with FACEMASK_DB_URL on that database and a Monitor password set."""
    port = free_port()
    log_path = config.ROOT / "test-artifacts" / "monitor-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FACEMASK_DB_URL": recorded, config.MONITOR_PASSWORD_ENV: PASSWORD,
           "FACEMASK_RTC_CONFIGURATION": '{"iceServers": []}'}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", f"--server.port={port}",
                                 "--server.headless=true", "--browser.gatherUsageStats=false"],
                                cwd=config.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the Monitor's streamlit server did not start within 120 s; see {log_path}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def monitor(browser, monitor_server):
    page = new_page(browser, monitor_server)
    page.goto(monitor_server + "/Monitor")
    page.get_by_role("heading", name="Monitor", level=1).wait_for(timeout=WAIT_MS)
    yield page
    page.context.close()


def log_in(page, password: str) -> None:
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Open the Monitor").click()


def test_monitor_refuses_a_wrong_password_and_shows_nothing_of_the_cameras(monitor):
    log_in(monitor, "open sesame?")
    monitor.get_by_text("Wrong password.").wait_for(timeout=WAIT_MS)
    wait_until_idle(monitor)
    text = monitor.locator("body").inner_text()
    assert not re.search(r"\b(door|yard)\b", text) and "Recent events" not in text, text
    assert monitor.get_by_label("Password", exact=True).count() == 1, "no password field after a wrong password"
    screenshot(monitor, "monitor-wrong-password")


def test_monitor_shows_status_chart_and_snapshots_and_a_new_event_as_it_is_stored(monitor, recorded):
    log_in(monitor, PASSWORD)
    monitor.get_by_role("heading", name="Recent events").wait_for(timeout=WAIT_MS)
    status = monitor.locator('[data-testid="stDataFrame"]').first
    status.wait_for(timeout=WAIT_MS)
    assert int(status.locator("[aria-rowcount]").first.get_attribute("aria-rowcount")) - 1 == 2
    monitor.locator('[data-testid="stVegaLiteChart"]').first.wait_for(timeout=WAIT_MS)
    monitor.get_by_text("Without mask · door").first.wait_for(timeout=WAIT_MS)
    pictures = monitor.locator('[data-testid="stImage"] img')
    pictures.nth(2).wait_for(timeout=WAIT_MS)  # the latest event's face, then a frame and a face
    assert monitor.evaluate("() => [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
                            ".every(img => img.complete && img.naturalWidth > 0)")
    screenshot(monitor, "monitor")

    store = Store(recorded)
    [door] = store.events(camera="door", images=True)
    now = datetime.now(timezone.utc)
    store.write([EventRecord(camera="lobby", start=now, duration_s=0.4, label="mask_worn_incorrectly", score=0.77,
                             box=(1, 2, 3, 4), face_jpeg=door["face_jpeg"], frame_jpeg=door["frame_jpeg"]),
                 CameraStatus("lobby", f"rtsp://viewer:{ck.SECRET}@10.0.0.9/lobby", "connected", fps=5.0,
                              last_frame_at=now)])
    monitor.get_by_text("Mask worn incorrectly · lobby").first.wait_for(timeout=30_000)  # a few refreshes
    wait_until_idle(monitor)
    screenshot(monitor, "monitor-new-event")
    assert ck.SECRET not in monitor.content() and "10.0.0.9" not in monitor.content()


def test_live_webcam_records_into_the_store_and_counts_the_last_minutes(browser, monitor_server, recorded):
    page = new_page(browser, monitor_server)
    try:
        open_page(page, "/Live_webcam", "Live webcam")
        page.get_by_text("Record into the store").click()
        start_video(page)
        page.get_by_text("Recording into sqlite:///").wait_for(timeout=WAIT_MS)
        page.get_by_text(re.compile(r"Last 5 minutes: [1-9]\d* (person|people) seen")).wait_for(timeout=WAIT_MS)
        screenshot(page, "live-recording")
        stop_video(page)  # the stream's end closes the recording: its counts are written
        store, deadline = Store(recorded), time.monotonic() + 60
        while not sum(row["faces"] for row in store.minute_counts(camera="webcam")):
            assert time.monotonic() < deadline, "the webcam's counts never reached the store within 60 s"
            time.sleep(0.5)
        assert {s["camera"]: s["state"] for s in store.camera_statuses()}["webcam"] == "stopped"
    finally:
        page.context.close()
