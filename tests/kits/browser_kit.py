"""Helpers for the browser tests: the fake camera's frames, page helpers, and the server's threads.

The fixtures that use them (server, fake_camera, browser, page) live in tests/conftest.py.
"""

import base64
import io
import os
import socket
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from facemask import config

CHROMIUM = Path(os.environ.get("FACEMASK_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = config.ROOT / "test-artifacts" / "screenshots"
GOOD_PHOTO = config.DEV_IMAGES / "maksssksksss0.jpg"  # 3 faces: 2 without mask, 1 with
SLOW = 240_000  # ms: first model load and detection on two shared cores
SERVER_START_S = 120  # streamlit's health check must answer within this, on a loaded machine
LAUNCH_MS = 120_000  # Chromium start
FRAME_W, FRAME_H, FPS = 640, 480, 30
LIVE_PAGE, LIVE_TITLE = "/Live_webcam", "Live webcam"


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM}"
    if not config.TFLITE_MODEL.exists():
        return "mask classifier not trained yet"
    return None


def free_port() -> int:
    """A port nobody listens on now; `listening_pid` then checks that our server got it (another
    process may take it before the server binds)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_pid(port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the listening TCP socket on `port`, or None: a health check that
    answers "ok" may come from another test session's server that took the port first."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(fields[9])
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        if any(link[8:-1] in inodes for link in links if link.startswith("socket:[")):
            return pid
    return None


def wait_for_js(page, expression: str, what: str, arg=None, timeout_ms: float = SLOW):
    """page.wait_for_function with a failure that says what was awaited, and for how long."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        return page.wait_for_function(expression, arg=arg, timeout=timeout_ms)
    except PlaywrightTimeout:
        raise AssertionError(f"waited {timeout_ms / 1000:.0f} s for {what}") from None


# --- the fake camera --------------------------------------------------------------------------

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


TICK_BAND = 40  # px at the bottom of each camera frame that carry the frame counter


def stamp_tick(frame: np.ndarray, index: int, positions: int = 8) -> np.ndarray:
    """A copy of the frame with a white block in a grey band at the bottom, at a place that moves
    with `index`: every camera frame then differs clearly from the one before it, so the browser can
    tell a new annotated frame from a repeat (the server re-sends its last one while it is busy)."""
    out = frame.copy()
    height, width = out.shape[:2]
    out[height - TICK_BAND:] = 60
    step = width // positions
    x = (index % positions) * step
    out[height - TICK_BAND:, x:x + step] = 255
    return out


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


def class_pixels(rgb: np.ndarray, tolerance: int = 40) -> dict[str, int]:
    """Pixels close to each class's box colour."""
    counts = {}
    for name, (b, g, r) in config.CLASS_COLORS.items():
        distance = np.abs(rgb.astype(int) - np.array([r, g, b])).max(axis=2)
        counts[name] = int(np.sum(distance <= tolerance))
    return counts


BOX_MARGIN = 150  # box-coloured pixels beyond the camera's own before a frame counts as annotated


def camera_colours(frames_bgr: list[np.ndarray]) -> dict[str, int]:
    """Box-colour pixels already in the camera's most colourful frame (not drawn by the app)."""
    return max((class_pixels(f[:, :, ::-1]) for f in frames_bgr), key=lambda c: sum(c.values()))


def boxes_added(seen: dict[str, int], source: dict[str, int]) -> bool:
    """Whether a returned frame has clearly more box-coloured pixels than the camera's own picture."""
    return any(seen[name] > source[name] + BOX_MARGIN for name in seen)


# --- pages ------------------------------------------------------------------------------------

def new_page(browser, base_url: str):
    """A page in a context of its own (its own Streamlit session); close it with page.context.close()."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(SLOW)
    page.base_url = base_url
    return page


def open_page(page, path: str, title: str) -> None:
    page.goto(page.base_url + path)
    page.get_by_role("heading", name=title, level=1).wait_for()
    wait_until_idle(page)


# Streamlit's running-man icon, shown once a run has lasted 0.5 s (its "Running..." is an aria-label,
# not text: a has_text="Running" filter never matches, and the wait it guarded was a bare 1 s sleep)
RUNNING_ICON = '[data-testid="stStatusWidgetRunningIcon"]'


def wait_until_idle(page, quiet_s: float = 1.0) -> None:
    """Until Streamlit's running indicator has been gone for `quiet_s` (more than the 0.5 s it waits
    before it shows, so a run that starts in the quiet window is seen)."""
    deadline = time.monotonic() + SLOW / 1000
    quiet_since = None
    while time.monotonic() < deadline:
        if page.locator(RUNNING_ICON).count():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        time.sleep(0.1)
    raise AssertionError(f"the app was still running after {SLOW / 1000:.0f} s (never idle for {quiet_s} s)")


_TWO_FRAMES = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


def screenshot(page, name: str) -> Path:
    """Full-page picture, including what the app's scrolling container hides."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        return Math.max(document.body.scrollHeight, main ? main.scrollHeight : 0);
    }""")
    viewport = page.viewport_size
    page.set_viewport_size({"width": viewport["width"], "height": min(max(viewport["height"], height + 40), 8000)})
    page.evaluate(_TWO_FRAMES)  # the resized layout has been painted
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


def upload(page, *files) -> None:
    """Paths, or Playwright file payloads ({"name", "mimeType", "buffer"}) for names no disk allows."""
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        [f if isinstance(f, dict) else str(f) for f in files])


_GRAB_VIDEO = """(video) => {
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0);
    return canvas.toDataURL('image/png');
}"""


def grab_video(handle) -> np.ndarray:
    """The picture a <video> element shows now, as RGB."""
    data = handle.evaluate(_GRAB_VIDEO)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1]))).convert("RGB"))


COUNT_FRAMES = """async (video, seconds) => {
    // frames presented, how many of them differ from the one before (a repeated frame is not new),
    // and the longest wait for a new one; ends after `seconds` even if no frame ever comes
    const canvas = document.createElement('canvas');
    canvas.width = 64; canvas.height = 48;
    const ctx = canvas.getContext('2d', {willReadFrequently: true});
    let presented = 0, distinct = 0, previous = null, gap = 0;
    const quality = () => video.getVideoPlaybackQuality();
    const before = quality();
    const start = performance.now(), end = start + seconds * 1000;
    let last = start;
    await new Promise(resolve => {
        const tick = () => {
            const now = performance.now();
            if (now >= end) return;
            presented += 1;
            ctx.drawImage(video, 0, 0, 64, 48);
            const data = ctx.getImageData(0, 0, 64, 48).data;
            if (previous) {
                let diff = 0;
                for (let i = 0; i < data.length; i += 4) diff += Math.abs(data[i + 1] - previous[i + 1]);
                if (diff / (data.length / 4) > 1.5) {
                    distinct += 1; gap = Math.max(gap, now - last); last = now;
                }
            }
            previous = data.slice();
            video.requestVideoFrameCallback(tick);
        };
        video.requestVideoFrameCallback(tick);
        setTimeout(resolve, seconds * 1000);
    });
    gap = Math.max(gap, end - last);
    const after = quality();
    return {presented: presented / seconds, distinct: distinct / seconds, gap: gap / 1000,
            decoded: (after.totalVideoFrames - before.totalVideoFrames) / seconds,
            dropped: (after.droppedVideoFrames - before.droppedVideoFrames) / seconds};
}"""

LIVE_FACES = """() => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m =>
    m.innerText.startsWith('Faces')
    && parseInt(m.querySelector('[data-testid="stMetricValue"]').innerText) >= 1)"""

VIDEO_PLAYING = "v => v.readyState >= 2 && v.videoWidth > 0 && v.currentTime > 0"


# --- the live page's stream ---------------------------------------------------------------------

def webrtc(page):
    """The streamlit-webrtc component's iframe."""
    return page.frame_locator('iframe[title*="webrtc_streamer"]')


def start_video(page):
    """Press START and wait until the returned video plays; the <video> element's handle."""
    webrtc(page).get_by_role("button", name="Start").click()
    handle = webrtc(page).locator("video").first.element_handle()
    wait_for_js(page, VIDEO_PLAYING, "the returned video to play after START", arg=handle)
    page.locator(".fm-status").filter(has_not_text="Camera off").wait_for()  # the app knows it plays
    return handle


def stop_video(page) -> None:
    """Press STOP and wait until the app has handled it: the live panel says "Camera off" only once
    a run after the stream's teardown has finished (the START button is back at once, before that)."""
    webrtc(page).get_by_role("button", name="Stop").click()
    webrtc(page).get_by_role("button", name="Start").wait_for()
    page.locator(".fm-status", has_text="Camera off").wait_for()
    wait_until_idle(page)


# --- the server process -------------------------------------------------------------------------

@dataclass(frozen=True)
class Server:
    """The streamlit process the browser tests drive (started by tests/kits/serve_app.py)."""

    url: str
    pid: int
    thread_log: Path  # "<native id> <name>" for every Python thread the server has started
    log: Path | None = None  # the server's stdout and stderr

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log, for failure messages."""
        if self.log is None or not self.log.exists():
            return "(no server log)"
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def os_threads(self) -> Counter:
        """Every OS thread of the server, by OS name (15 characters; native threads inherit their
        parent's)."""
        names = Counter()
        for comm in Path(f"/proc/{self.pid}/task").glob("*/comm"):
            try:
                names[comm.read_text().strip()] += 1
            except OSError:  # the thread ended while we looked
                pass
        return names

    def python_threads(self) -> list[str]:
        """Names of the server's Python threads that are still running."""
        alive = []
        for line in self.thread_log.read_text(encoding="utf-8").splitlines():
            native_id, name = line.split(" ", 1)
            try:
                comm = Path(f"/proc/{self.pid}/task/{native_id}/comm").read_text().strip()
            except OSError:  # ended
                continue
            if comm == name[:15]:  # not a later thread that got the same id
                alive.append(name)
        return alive


def launch_chromium(browser_type, camera: Path):
    """Debian's headless Chromium with a fake camera that plays `camera` (a .y4m file) in a loop."""
    return browser_type.launch(executable_path=str(CHROMIUM), args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={camera}"], timeout=LAUNCH_MS)


# --- the photo page's detector runs (tests/conftest.py points the server's FACEMASK_DETECT_LOG here) ---

# one file per test session (the pytest process): sessions running side by side keep their own counts
DETECT_LOG = Path(tempfile.gettempdir()) / f"facemask-photo-detections-{os.getpid()}.log"


def detector_runs(name: str) -> int:
    """How many times the server has run the face detector on an uploaded photo called `name`."""
    lines = DETECT_LOG.read_text(encoding="utf-8").splitlines() if DETECT_LOG.exists() else []
    return sum(line.split(" ", 1)[1] == name for line in lines)
