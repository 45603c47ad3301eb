"""The real app in a real browser: `streamlit run app.py` driven by headless Chromium.

Run with `pytest -m browser`. Needs Chromium at /usr/bin/chromium and the trained classifier.
Full-page screenshots land in test-artifacts/screenshots/ for a person to look at.
The fixtures (server, fake_camera, browser, page) are in tests/conftest.py, the helpers in tests/kits/browser_kit.py.
"""

import time

import numpy as np
import pytest
from browser_kit import (
    COUNT_FRAMES,
    GOOD_PHOTO,
    LIVE_FACES,
    SCREENSHOTS,
    boxes_added,
    camera_colours,
    class_pixels,
    grab_video,
    metric_value,
    missing,
    open_page,
    screenshot,
    start_video,
    stop_video,
    table_rows,
    upload,
    wait_for_js,
    wait_until_idle,
)
from PIL import Image

from facemask import config

pytestmark = pytest.mark.browser

if missing():
    pytest.skip(missing(), allow_module_level=True)


VISIBLE_IMAGES_LOADED = """n => {
    const imgs = [...document.querySelectorAll('[data-testid="stImage"] img')].filter(i => i.offsetParent);
    return imgs.length >= n && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""


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


def test_live_webcam_returns_annotated_frames_and_counts(page, fake_camera):
    open_page(page, "/Live_webcam", "Live webcam")
    handle = start_video(page)

    source = camera_colours(fake_camera["frames"])
    best, deadline = None, time.monotonic() + 120
    while time.monotonic() < deadline:
        rgb = grab_video(handle)
        seen = class_pixels(rgb)
        if best is None or sum(seen.values()) > sum(best[0].values()):
            best = (seen, rgb)
        if boxes_added(seen, source):
            break
        time.sleep(1)
    seen, rgb = best
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(SCREENSHOTS / "live_frame.png")
    assert boxes_added(seen, source), f"no box colours in the returned video: {seen} vs {source}"

    wait_for_js(page, LIVE_FACES, "a Faces count of 1 or more beside the live video", timeout_ms=120_000)
    page.wait_for_timeout(3000)  # the link's bitrate and the camera settle in the first seconds
    rates = handle.evaluate(COUNT_FRAMES, 10)
    server_fps = metric_value(page, "FPS")
    print(f"\nlive video in the browser: {rates['decoded']:.1f} frames/s decoded ({rates['dropped']:.1f} dropped), "
          f"{rates['presented']:.1f} presented, {rates['distinct']:.1f} new annotated frames/s; "
          f"server: {server_fps} frames/s annotated, latency {metric_value(page, 'Latency')}")
    assert rates["presented"] > 0
    screenshot(page, "live")
    stop_video(page)  # the next test starts with no stream still closing


def test_metrics_page_pictures_load(page):
    open_page(page, "/Model_metrics", "Model metrics")
    expected = [p for p in ("training_curves.png", "confusion_matrix_real_photos.png", "roc_real_photos.png",
                            "confusion_matrix_closeups.png", "roc_closeups.png") if (config.PLOTS_DIR / p).exists()]
    assert expected, "training plots are missing"
    wait_for_js(page, VISIBLE_IMAGES_LOADED, f"{len(expected)} training plots to load", arg=len(expected))
    screenshot(page, "metrics")
    for tab in ("Detection on real photos", "Model card"):
        page.get_by_role("tab", name=tab).click()
        page.get_by_role("tab", name=tab, selected=True).wait_for()
        wait_for_js(page, VISIBLE_IMAGES_LOADED, f"the pictures of the {tab!r} tab to load", arg=0)
        screenshot(page, "metrics_" + tab.split()[0].lower())
