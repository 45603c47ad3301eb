"""Every bad or awkward picture of the corpus through all three doors at once: the Python API,
`facemask detect` and the upload page. They must agree file by file: a result, or one clear
sentence naming the file; the good files of the same batch still come through; no traceback."""

import json
import subprocess
import sys

import corpus
import pytest
from streamlit.testing.v1 import AppTest

from facemask import FacemaskError, config, decode_image
from facemask.app import ui

GOOD_PHOTO = config.DEV_IMAGES / "maksssksksss0.jpg"


def batch() -> dict[str, bytes]:
    files = {
        "empty.jpg": corpus.empty_file(), "notes.jpg": corpus.text_file(), "phone.heic": corpus.heic_like(),
        "truncated.jpg": corpus.truncated_jpeg(), "truncated.png": corpus.truncated_png(),
        "corrupt_body.jpg": corpus.corrupt_jpeg_body(), "bad_exif.jpg": corpus.broken_exif_jpeg(),
        "one_pixel.png": corpus.tiny_png(1), "eight_pixels.png": corpus.tiny_png(8),
        "bomb.png": corpus.png_bomb(), "gray16.png": corpus.png_16bit_gray(), "rgb16.png": corpus.png_16bit_rgb(),
        "gray.jpg": corpus.grayscale_jpeg(), "rgba.png": corpus.rgba_png(),
        "palette.png": corpus.palette_png_transparent(), "cmyk.jpg": corpus.cmyk_jpeg(),
        "animated.gif": corpus.animated_gif(), "png_inside.jpg": corpus.png_as_jpg(),
        "good.jpg": GOOD_PHOTO.read_bytes(),
    }
    for orientation in (3, 6, 8):
        files[f"exif_{orientation}.jpg"] = corpus.exif_jpeg(orientation)[0]
    return files


def api_outcomes(files: dict[str, bytes]) -> dict[str, str | None]:
    """name -> the API's error message, or None when the picture decodes."""
    out = {}
    for name, data in files.items():
        try:
            decode_image(data, name)
            out[name] = None
        except FacemaskError as exc:
            out[name] = str(exc)
    return out


@pytest.fixture(scope="module")
def files():
    return batch()


@pytest.fixture(scope="module")
def outcomes(files):
    result = api_outcomes(files)
    assert any(v is None for v in result.values()) and any(v for v in result.values())
    return result


def test_cli_reports_each_bad_file_once_and_keeps_the_good_ones(tmp_path, files, outcomes):
    folder = tmp_path / "batch"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    paths = [str(folder / name) for name in files]  # named one by one: .heic is not a picture suffix
    result = subprocess.run([sys.executable, "-m", "facemask.cli", "detect", *paths, "--json",
                             str(tmp_path / "out.json")], capture_output=True, text=True, timeout=600)
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    records = {rec["image"].rsplit("/", 1)[-1]: rec for rec in json.loads((tmp_path / "out.json").read_text())}
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    for name, message in outcomes.items():
        if message is None:
            assert name in records, f"{name} decoded in the API but not in the CLI"
        else:
            assert name not in records
            assert sum(f"/{name}:" in line for line in errors) == 1, f"{name}: {errors}"
    assert records["good.jpg"]["faces"], "the good photo's faces must still come through"


def test_upload_page_shows_each_bad_file_in_place_and_the_good_ones(files, outcomes):
    # the browser's file picker only offers the uploader's types, so only those can arrive
    files = {n: d for n, d in files.items() if n.rsplit(".", 1)[-1] in ui.UPLOAD_TYPES}
    outcomes = {n: outcomes[n] for n in files}
    at = AppTest.from_file(str(config.ROOT / "app.py"), default_timeout=600)
    at.run()
    at.switch_page("pages/1_Photos_and_video.py")
    at.run()
    at.file_uploader[0].set_value([(name, data, "application/octet-stream") for name, data in files.items()])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown_errors = [e.value for e in at.error]
    bad = [name for name, message in outcomes.items() if message]
    assert len(shown_errors) == len(bad)
    for name in bad:
        assert any(ui.plain(name) in text for text in shown_errors), f"no error names {name}"
    # every file has its row in the summary; the pictures that decode are there with their faces
    rows = {row["Photo"]: row["Status"] for row in at.dataframe[0].value.to_dict("records")}
    assert set(rows) == set(files)
    for name, message in outcomes.items():
        assert rows[name].startswith("not read: ") == bool(message), (name, rows[name])
    good = len(files) - len(bad)
    assert len(at.image) == min(good, 3) + (good > 3), "three shown in full, one more picked from the rest"
