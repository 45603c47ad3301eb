"""The dashboard in a real browser (Streamlit server + headless Chromium): phone layout, rejected
uploads, many photos, the threshold slider, the video summary.

Fixtures (server, browser, page) are in tests/conftest.py, helpers in tests/kits/browser_kit.py.
Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import io
import zipfile

import corpus
import numpy as np
import pytest
from browser_kit import (
    DETECT_LOG,
    GOOD_PHOTO,
    SLOW,
    detector_runs,
    metric_value,
    missing,
    open_page,
    screenshot,
    table_rows,
    upload,
    wait_until_idle,
)
from PIL import Image

from facemask import config
from facemask.imageio import load_image

pytestmark = pytest.mark.browser

if missing():
    pytest.skip(missing(), allow_module_level=True)

PHOTOS_PAGE, PHOTOS_TITLE = "/Photos_and_video", "Photos & video"
DEV_PHOTOS = sorted(config.DEV_IMAGES.glob("*.jpg"))
MANY = DEV_PHOTOS[:5]
SLIDER_PHOTOS = DEV_PHOTOS[5:7]  # no other test uploads these: the server has not seen them before


def sidebar_expanded(page) -> bool:
    """Whether the sidebar is open: Streamlit's flag, and the sidebar really on screen."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    box = sidebar.bounding_box()
    flag = sidebar.get_attribute("data-collapsed") == "false"
    assert flag == (box["width"] > 100 and box["x"] >= 0), (flag, box)
    return flag


def body_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


@pytest.mark.parametrize("width, height, expanded", [(390, 844, False), (1400, 1000, True)],
                         ids=["phone", "desktop"])
def test_the_sidebar_starts_closed_on_a_phone_and_open_on_a_desktop(browser, server, width, height, expanded):
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.set_default_timeout(SLOW)
        page.base_url = server.url
        open_page(page, PHOTOS_PAGE, PHOTOS_TITLE)
        assert sidebar_expanded(page) is expanded
        screenshot(page, f"sidebar_{'phone' if not expanded else 'desktop'}")
    finally:
        context.close()


def test_rejected_uploads_say_why_on_the_page(page):
    open_page(page, PHOTOS_PAGE, PHOTOS_TITLE)
    notes = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo"}
    too_big = {"name": "huge.jpg", "mimeType": "image/jpeg",
               "buffer": GOOD_PHOTO.read_bytes() + bytes((config.MAX_UPLOAD_MB + 1) * 1024 * 1024)}
    good = {"name": GOOD_PHOTO.name, "mimeType": "image/jpeg", "buffer": GOOD_PHOTO.read_bytes()}
    broken = {"name": "holiday.jpg", "mimeType": "image/jpeg",
              "buffer": np.random.default_rng(7).integers(0, 256, 5000, np.uint8).tobytes()}
    upload(page, broken, notes, too_big, good)
    page.locator('[data-testid="stImage"] img').first.wait_for()
    wait_until_idle(page)
    screenshot(page, "upload_rejected")
    # refused by the uploader itself, its reason shown in the file's chip (css/style.css)
    reasons = {name: page.locator('[data-testid="stFileChip"][aria-invalid="true"]').filter(has_text=name)
               .locator('[role="alert"]') for name in ("notes.txt", "huge.jpg")}
    assert "text/plain files are not allowed" in reasons["notes.txt"].inner_text()
    assert f"{config.MAX_UPLOAD_MB}.0MB or smaller" in reasons["huge.jpg"].inner_text()
    assert all(reason.is_visible() and reason.bounding_box()["height"] > 8 for reason in reasons.values())
    # read by the app and refused: its reason in an error box
    error = page.locator('[data-testid="stAlert"]').filter(has_text="holiday.jpg")
    assert "holiday.jpg: not a picture this tool can read" in error.inner_text()
    assert page.get_by_role("heading", name=GOOD_PHOTO.name).count() == 1


def test_many_photos_give_a_summary_table_and_one_zip_of_valid_pictures(page):
    open_page(page, PHOTOS_PAGE, PHOTOS_TITLE)
    upload(page, *MANY)
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    page.locator('[data-testid="stImage"] img').nth(3).wait_for()
    wait_until_idle(page)
    screenshot(page, "upload_many")
    assert table_rows(page, 0) == len(MANY), "one summary row per photo"
    # three photos in full and one more picked in the selectbox, not five pictures in a row
    assert page.locator('[data-testid="stImage"] img').count() == 4
    with page.expect_download() as caught:
        page.get_by_role("button", name=f"Annotated pictures (ZIP, {len(MANY)})").click()
    data = caught.value.path().read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        sizes = [Image.open(io.BytesIO(archive.read(name))).size for name in names]
    assert sorted(names) == sorted(f"{p.stem}_annotated.jpg" for p in MANY)
    originals = {f"{p.stem}_annotated.jpg": Image.open(p).size for p in MANY}
    assert sizes == [originals[name] for name in names], "each entry is the whole annotated photo"


def test_moving_the_threshold_filters_the_faces_without_detecting_again(page, pipeline):
    open_page(page, PHOTOS_PAGE, PHOTOS_TITLE)
    photos = SLIDER_PHOTOS
    upload(page, *photos)
    page.locator('[data-testid="stImage"] img').nth(1).wait_for()
    wait_until_idle(page)
    runs = {p.name: detector_runs(p.name) for p in photos}
    assert runs == {p.name: 1 for p in photos}, DETECT_LOG.read_text()
    candidates = [pipeline.detect(load_image(p), threshold=0.0) for p in photos]
    shown = sum(int((c.face_probability >= config.DEFAULT_THRESHOLD).sum()) for c in candidates)
    assert int(metric_value(page, "Faces in 2 photos")) == shown

    slider = page.locator('[data-testid="stSidebar"] [data-testid="stSlider"] input[type="range"]').first
    slider.focus()
    slider.press("End")  # the slider's top value, 0.95
    page.locator('[data-testid="stSidebar"] [data-testid="stSliderThumbValue"]', has_text="0.95").wait_for()
    wait_until_idle(page)
    expected = sum(int((c.face_probability >= 0.95).sum()) for c in candidates)
    assert expected != shown, "pick photos whose count changes with the threshold"
    assert int(metric_value(page, "Faces in 2 photos")) == expected
    if expected == 0:  # the advice names the likeliest box the threshold now hides
        assert page.get_by_text("No face at this threshold").count() == len(photos)
    assert {p.name: detector_runs(p.name) for p in photos} == runs, "the slider ran the detector again"
    screenshot(page, "upload_threshold_moved")


def test_video_summary_counts_people_charts_faces_and_shows_no_server_path(page, tmp_path):
    # an 8 s clip at 5 fps: four dev photos, 2 s each (40 frames, a face on most)
    frames = corpus.dev_video_frames(20, (480, 360))
    clip = corpus.write_video(tmp_path / "walk.mp4", [f for k in range(0, 20, 5) for f in frames[k:k + 5] * 2], fps=5)
    open_page(page, PHOTOS_PAGE, PHOTOS_TITLE)
    page.get_by_role("tab", name="Video").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').nth(1).set_input_files(str(clip))
    page.get_by_role("button", name="Annotate video").click()
    page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
    page.locator('[data-testid="stVideo"]').first.wait_for()
    wait_until_idle(page)
    people = int(metric_value(page, "People"))
    assert 2 <= people <= 10, f"{people} people in four photos of one to three faces (40 frames)"
    html = page.content()
    assert "/tmp" not in html and str(tmp_path) not in html and "annotated.mp4" not in body_text(page)
    assert "walk.mp4" in body_text(page)
    screenshot(page, "video_summary")


def test_one_photo_is_shown_annotated_with_its_faces_table(page):
    """Also the README's picture: test-artifacts/screenshots/photos_page.png (docs/screenshot.png)."""
    open_page(page, PHOTOS_PAGE, PHOTOS_TITLE)
    upload(page, GOOD_PHOTO)
    page.locator('[data-testid="stImage"] img').first.wait_for()
    wait_until_idle(page)
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    assert page.get_by_role("heading", name=GOOD_PHOTO.name).count() == 1
    assert table_rows(page, 0) == int(metric_value(page, "Faces")) >= 2
    assert page.locator('[data-testid="stDataFrame"]').count() == 1, "one photo: no summary table"
    screenshot(page, "photos_page")
