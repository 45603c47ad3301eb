"""The real app in a real browser: `streamlit run app.py` driven by headless Chromium.

Run with `pytest -m browser`. Needs Chromium at /usr/bin/chromium and the trained classifier.
Full-page screenshots land in test-artifacts/screenshots/ for a person to look at.
"""

import base64
import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from facemask import config

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("FACEMASK_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = config.ROOT / "test-artifacts" / "screenshots"
GOOD_PHOTO = config.DEV_IMAGES / "maksssksksss0.jpg"  # 3 faces: 2 without mask, 1 with
SLOW = 240_000  # ms: first model load and detection on two shared cores
FRAME_W, FRAME_H, FPS = 640, 480, 15

if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)
if not config.TFLITE_MODEL.exists():
    pytest.skip("mask classifier not trained yet", allow_module_level=True)


# --- fixtures: one server, one browser, one fake camera for the session ---------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    port = free_port()
    log_path = config.ROOT / "test-artifacts" / "streamlit-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FACEMASK_RTC_CONFIGURATION": '{"iceServers": []}'}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", f"--server.port={port}",
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
                raise RuntimeError(f"streamlit did not start; see {log_path}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = FPS) -> None:
    """Uncompressed YUV4MPEG2 (4:2:0): the format Chromium's fake camera plays in a loop."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())


def letterbox(image: np.ndarray, zoom: float = 1.0) -> np.ndarray:
    """Fit a photo into 640x480 on grey; zoom > 1 crops the centre a little (so frames differ)."""
    h, w = image.shape[:2]
    ch, cw = int(h / zoom), int(w / zoom)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crop = image[y0:y0 + ch, x0:x0 + cw]
    scale = min(FRAME_W / cw, FRAME_H / ch)
    resized = cv2.resize(crop, (int(cw * scale), int(ch * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.full((FRAME_H, FRAME_W, 3), 60, np.uint8)
    top, left = (FRAME_H - resized.shape[0]) // 2, (FRAME_W - resized.shape[1]) // 2
    canvas[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return canvas


def photos_with_large_faces(count: int = 3) -> list[Path]:
    """Dev photos whose faces stay big once the picture is fitted into 640x480."""
    scored = []
    for xml in sorted(config.DEV_ANNOTATIONS.glob("*.xml")):
        root = ET.parse(xml).getroot()
        w, h = int(root.findtext("size/width")), int(root.findtext("size/height"))
        scale = min(FRAME_W / w, FRAME_H / h)
        sides = [min(int(b.findtext("xmax")) - int(b.findtext("xmin")),
                     int(b.findtext("ymax")) - int(b.findtext("ymin"))) * scale
                 for b in root.iter("bndbox")]
        big = sum(side >= 45 for side in sides)
        image = config.DEV_IMAGES / (xml.stem + ".jpg")
        if big >= 2 and image.exists():
            scored.append((big, image))
    scored.sort(key=lambda item: (-item[0], item[1].name))
    return [path for _, path in scored[:count]]


@pytest.fixture(scope="session")
def fake_camera(tmp_path_factory) -> dict:
    photos = photos_with_large_faces()
    assert photos, "no dev photo with large faces"
    frames = []
    for photo in photos:
        image = cv2.imread(str(photo))
        frames += [letterbox(image, 1.0 + 0.01 * k) for k in range(10)]
    path = tmp_path_factory.mktemp("camera") / "faces.y4m"
    write_y4m(path, frames)
    return {"path": path, "frames": frames, "photos": photos}


@pytest.fixture(scope="session")
def browser(fake_camera):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={fake_camera['path']}"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(SLOW)
    page.base_url = server
    yield page
    context.close()


# --- helpers ------------------------------------------------------------------------------------

def open_page(page, path: str, title: str) -> None:
    page.goto(page.base_url + path)
    page.get_by_role("heading", name=title, level=1).wait_for()
    wait_until_idle(page)


def wait_until_idle(page, quiet_s: float = 1.0) -> None:
    """Until Streamlit's "Running…" indicator has been gone for `quiet_s`."""
    deadline = time.monotonic() + SLOW / 1000
    quiet_since = None
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').filter(has_text="Running").count()
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        time.sleep(0.2)
    raise AssertionError("the app kept running")


def screenshot(page, name: str) -> Path:
    """Full-page picture, including what the app's scrolling container hides."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        return Math.max(document.body.scrollHeight, main ? main.scrollHeight : 0);
    }""")
    viewport = page.viewport_size
    page.set_viewport_size({"width": viewport["width"], "height": min(max(viewport["height"], height + 40), 8000)})
    page.wait_for_timeout(600)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(viewport)
    return path


def metric_value(page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=label)).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def table_rows(page, index: int = 0) -> int:
    """Rows of the n-th st.dataframe: the grid reports them in aria-rowcount (header included)."""
    grid = page.locator('[data-testid="stDataFrame"]').nth(index).locator('[aria-rowcount]').first
    return int(grid.get_attribute("aria-rowcount")) - 1


def upload(page, *files: Path) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files([str(f) for f in files])


# --- tests --------------------------------------------------------------------------------------

def test_home_page_shows_the_loaded_detector(page):
    open_page(page, "/", "Face-mask detector")
    page.get_by_text(config.TFLITE_MODEL.name).first.wait_for()
    assert page.locator('[data-testid="stSidebar"]').get_by_text("Face detector").count()
    screenshot(page, "home")


def test_upload_a_photo_gives_an_annotated_picture_and_a_matching_table(page):
    open_page(page, "/Photos_and_video", "Photos & video")
    upload(page, GOOD_PHOTO)
    page.locator('[data-testid="stImage"] img').first.wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    wait_until_idle(page)
    total = int(metric_value(page, "Faces"))
    assert total >= 2, "the ground truth has 3 faces"
    assert table_rows(page) == total
    assert int(metric_value(page, "Without mask")) >= 1
    assert page.evaluate("() => document.querySelector('[data-testid=\"stImage\"] img').naturalWidth") > 0
    screenshot(page, "upload_photo")


def test_a_broken_file_is_named_and_the_good_photo_still_shows(page, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(np.random.default_rng(7).integers(0, 256, 5000, np.uint8).tobytes())
    open_page(page, "/Photos_and_video", "Photos & video")
    upload(page, broken, GOOD_PHOTO)
    page.locator('[data-testid="stAlert"]').filter(has_text="broken.jpg").first.wait_for()
    page.locator('[data-testid="stImage"] img').first.wait_for()
    wait_until_idle(page)
    assert page.locator('[data-testid="stImage"] img').count() == 1
    assert page.get_by_role("heading", name="maksssksksss0.jpg").count() == 1
    assert int(metric_value(page, "Faces")) >= 2
    screenshot(page, "upload_broken_and_good")


def class_pixels(rgb: np.ndarray, tolerance: int = 40) -> dict[str, int]:
    """Pixels close to each class's box colour."""
    counts = {}
    for name, (b, g, r) in config.CLASS_COLORS.items():
        distance = np.abs(rgb.astype(int) - np.array([r, g, b])).max(axis=2)
        counts[name] = int(np.sum(distance <= tolerance))
    return counts


GRAB_VIDEO = """(video) => {
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0);
    return canvas.toDataURL('image/png');
}"""

COUNT_FRAMES = """async (video, seconds) => {
    // frames presented, and how many of them differ from the one before (a repeated frame is not new)
    const canvas = document.createElement('canvas');
    canvas.width = 64; canvas.height = 48;
    const ctx = canvas.getContext('2d', {willReadFrequently: true});
    let presented = 0, distinct = 0, previous = null;
    const quality = () => video.getVideoPlaybackQuality();
    const before = quality();
    const end = performance.now() + seconds * 1000;
    await new Promise(resolve => {
        const tick = () => {
            presented += 1;
            ctx.drawImage(video, 0, 0, 64, 48);
            const data = ctx.getImageData(0, 0, 64, 48).data;
            if (previous) {
                let diff = 0;
                for (let i = 0; i < data.length; i += 4) diff += Math.abs(data[i + 1] - previous[i + 1]);
                if (diff / (data.length / 4) > 1.5) distinct += 1;
            }
            previous = data.slice();
            if (performance.now() < end) video.requestVideoFrameCallback(tick); else resolve();
        };
        video.requestVideoFrameCallback(tick);
    });
    const after = quality();
    return {presented: presented / seconds, distinct: distinct / seconds,
            decoded: (after.totalVideoFrames - before.totalVideoFrames) / seconds,
            dropped: (after.droppedVideoFrames - before.droppedVideoFrames) / seconds};
}"""


LIVE_FACES = """() => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m =>
    m.innerText.startsWith('Faces')
    && parseInt(m.querySelector('[data-testid="stMetricValue"]').innerText) >= 1)"""


def test_live_webcam_returns_annotated_frames_and_counts(page, fake_camera):
    open_page(page, "/Live_webcam", "Live webcam")
    frame = page.frame_locator('iframe[title*="webrtc_streamer"]')
    frame.get_by_role("button", name="Start").click()
    video = frame.locator("video").first
    video.wait_for()
    handle = video.element_handle()
    page.wait_for_function("v => v.readyState >= 2 && v.videoWidth > 0 && v.currentTime > 0", arg=handle,
                           timeout=SLOW)

    source = max((class_pixels(f[:, :, ::-1]) for f in fake_camera["frames"]), key=lambda c: sum(c.values()))
    best, deadline = None, time.monotonic() + 120
    while time.monotonic() < deadline:
        data = handle.evaluate(GRAB_VIDEO)
        rgb = np.asarray(Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1]))).convert("RGB"))
        seen = class_pixels(rgb)
        if best is None or sum(seen.values()) > sum(best[0].values()):
            best = (seen, rgb)
        if any(seen[n] > source[n] + 150 for n in seen):
            break
        time.sleep(1)
    seen, rgb = best
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(SCREENSHOTS / "live_frame.png")
    assert any(seen[n] > source[n] + 150 for n in seen), f"no box colours in the returned video: {seen} vs {source}"

    page.wait_for_function(LIVE_FACES, timeout=120_000)
    rates = handle.evaluate(COUNT_FRAMES, 5)
    server_fps = metric_value(page, "Speed")
    print(f"\nlive video in the browser: {rates['decoded']:.1f} frames/s decoded ({rates['dropped']:.1f} dropped), "
          f"{rates['presented']:.1f} presented, {rates['distinct']:.1f} new annotated frames/s; "
          f"server: {server_fps} annotated, latency {metric_value(page, 'Latency')}")
    assert rates["presented"] > 0
    screenshot(page, "live")
    frame.get_by_role("button", name="Stop").click()


def test_metrics_page_pictures_load(page):
    open_page(page, "/Model_metrics", "Model metrics")
    expected = [p for p in ("training_curves.png", "confusion_matrix_real_photos.png", "roc_real_photos.png",
                            "confusion_matrix_closeups.png", "roc_closeups.png") if (config.PLOTS_DIR / p).exists()]
    assert expected, "training plots are missing"
    page.wait_for_function("""n => {
        const imgs = [...document.querySelectorAll('[data-testid="stImage"] img')].filter(i => i.offsetParent);
        return imgs.length >= n && imgs.every(i => i.complete && i.naturalWidth > 0);
    }""", arg=len(expected))
    screenshot(page, "metrics")
    for tab in ("Detection on real photos", "Model card"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(800)
        screenshot(page, "metrics_" + tab.split()[0].lower())
