"""Shared fixtures. Bad-input generators live in tests/kits/corpus.py (imported as `corpus`); helpers for
the browser tests in tests/kits/browser_kit.py."""

import os
import subprocess
import sys
import time
import urllib.request

import browser_kit as kit
import cv2
import pytest

from facemask import Pipeline, config


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    """The shipped pipeline (photo mode), loaded once; fails, never skips, when the model is missing."""
    return Pipeline()


@pytest.fixture
def model_on_stock_detector(tmp_path):
    """A copy of the shipped classifier that names no face detector of its own (as models before the
    fine-tuned one): served with the stock YuNet of config.YUNET_WEIGHTS. The path of its .tflite."""
    import json
    import shutil

    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(config.TFLITE_MODEL, folder / config.TFLITE_MODEL.name)
    info = json.loads(config.MODEL_INFO.read_text())
    info.pop("face_detector", None)
    (folder / config.MODEL_INFO.name).write_text(json.dumps(info))
    return folder / config.TFLITE_MODEL.name


@pytest.fixture(scope="session")
def live_pipeline() -> Pipeline:
    """The pipeline as video and webcam run it: one pass at native size."""
    return Pipeline(live=True)


# --- a real Ray cluster on loopback: a head and one more node (tests/kits/ray_kit.py) ---------------------

@pytest.fixture(scope="session")
def ray_cluster():
    import shutil
    import tempfile

    import ray_kit

    base = tempfile.mkdtemp(prefix="fmray")  # short: Ray's socket paths must stay under ~107 characters
    cluster = ray_kit.start_cluster(base)
    try:
        yield cluster
    finally:
        ray_kit.stop_cluster(cluster)
        shutil.rmtree(base, ignore_errors=True)


# --- a real PostgreSQL server on 127.0.0.1, run as nobody (tests/kits/postgres_kit.py) ---------------------

@pytest.fixture(scope="session")
def postgres():
    import shutil
    import tempfile

    import postgres_kit

    base = tempfile.mkdtemp(prefix="fmpg")
    server = postgres_kit.start_postgres(base)
    try:
        yield server
    finally:
        postgres_kit.stop_postgres(server)
        shutil.rmtree(base, ignore_errors=True)


# --- browser tests: one server, one browser, one fake camera for the session ----------------------

@pytest.fixture(scope="session")
def server(tmp_path_factory) -> kit.Server:
    port = kit.free_port()
    folder = tmp_path_factory.mktemp("server")  # this session's own: other sessions may run beside it
    log_path = folder / "streamlit.log"
    thread_log = folder / "threads.txt"
    thread_log.touch()
    kit.DETECT_LOG.write_text("")  # the server adds a line per photo it runs the detector on
    env = {**os.environ, "FACEMASK_RTC_CONFIGURATION": '{"iceServers": []}', "FACEMASK_THREAD_LOG": str(thread_log),
           "FACEMASK_DETECT_LOG": str(kit.DETECT_LOG)}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(config.ROOT / "tests" / "kits" / "serve_app.py"), "run", "app.py",
             f"--server.port={port}", "--server.headless=true", "--browser.gatherUsageStats=false"],
            cwd=config.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    server = kit.Server(url, proc.pid, thread_log, log_path)
    try:
        deadline = time.monotonic() + kit.SERVER_START_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited ({proc.returncode}) before it answered on port {port}:\n"
                                   + server.log_tail())
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as response:
                    healthy = response.read().strip() == b"ok"
            except OSError:
                healthy = False
            if healthy and kit.listening_pid(port, [proc.pid]) == proc.pid:
                break  # the answer came from our server, not from another that took the port first
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer its health check on port {port} within "
                                   f"{kit.SERVER_START_S} s:\n" + server.log_tail())
            time.sleep(0.5)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(scope="session")
def fake_camera(tmp_path_factory) -> dict:
    photos = kit.photos_with_large_faces()
    assert photos, "no dev photo with large faces"
    frames = []
    for photo in photos:
        image = cv2.imread(str(photo))
        frames += [kit.letterbox(image, 1.0 + 0.01 * k) for k in range(10)]
    frames = [kit.stamp_tick(frame, k) for k, frame in enumerate(frames)]
    path = tmp_path_factory.mktemp("camera") / "faces.y4m"
    kit.write_y4m(path, frames)
    return {"path": path, "frames": frames, "photos": photos}


@pytest.fixture(scope="session")
def browser(fake_camera):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = kit.launch_chromium(playwright.chromium, fake_camera['path'])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    page = kit.new_page(browser, server.url)
    yield page
    page.context.close()
