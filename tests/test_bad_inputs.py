"""Every bad or awkward picture a user can send: a correct upright result, or one FacemaskError
sentence that names the file and the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import corpus
import numpy as np
import pytest
from PIL import Image

from facemask import FacemaskError, decode_image, load_image
from facemask.config import ROOT
from facemask.detections import iou_matrix

LARGE_FACE = 60  # px: faces this big must be found whatever the orientation


@dataclass
class Case:
    name: str  # the file name the user sends
    make: Callable[[], bytes]
    error: str | None = None  # words the message must hold; None: the picture decodes
    reference: str | None = None  # what it must decode to: "photo", "gray", or None (shape only)
    tolerance: float = 4.0  # mean absolute difference to the reference, 0-255
    faces: bool = False  # the photo is intact: the pipeline must find its large faces


CASES = [
    Case("empty.jpg", corpus.empty_file, error="is empty"),
    Case("notes.jpg", corpus.text_file, error="not a picture"),
    Case("iphone.heic", corpus.heic_like, error="not a picture"),
    Case("truncated.jpg", corpus.truncated_jpeg, error="truncated"),
    Case("truncated.png", corpus.truncated_png, error="truncated"),
    Case("one_pixel.png", lambda: corpus.tiny_png(1), error="only 1x1 px"),
    Case("eight_pixels.png", lambda: corpus.tiny_png(8), error="only 8x8 px"),
    Case("bomb.png", corpus.png_bomb, error="50,000,000 pixels"),
    Case("bomb_8000.png", lambda: corpus.png_bomb(8000, 8000), error="50,000,000 pixels"),
    # libjpeg conceals a scrambled body: the user gets a garbled picture, not a crash
    Case("corrupt_body.jpg", corpus.corrupt_jpeg_body),
    Case("broken_exif.jpg", corpus.broken_exif_jpeg, reference="photo", faces=True),
    Case("sixteen_bit_gray.png", corpus.png_16bit_gray, reference="gray", tolerance=1.0, faces=True),
    Case("sixteen_bit_rgb.png", corpus.png_16bit_rgb, reference="photo", tolerance=1.0, faces=True),
    Case("grayscale.jpg", corpus.grayscale_jpeg, reference="gray", faces=True),
    Case("cmyk.jpg", corpus.cmyk_jpeg, reference="photo", faces=True),
    Case("palette.png", corpus.palette_png_transparent, reference="photo", tolerance=8.0),
    Case("animated.gif", corpus.animated_gif, reference="photo", tolerance=12.0, faces=True),
    Case("really_a_png.jpg", corpus.png_as_jpg, reference="photo", tolerance=0.0, faces=True),
    Case("min_side_16.png", lambda: corpus.tiny_png(16)),
]
BY_NAME = {case.name: case for case in CASES}


def _decoders(case: Case, tmp_path):
    data = case.make()
    path = tmp_path / case.name
    path.write_bytes(data)
    return {"decode_image": (lambda: decode_image(data, case.name)), "load_image": (lambda: load_image(path))}


def _reference(kind: str) -> np.ndarray:
    rgb, _ = corpus.dev_photo()
    if kind == "gray":
        gray = np.asarray(Image.fromarray(rgb).convert("L"))
        return np.repeat(gray[:, :, None], 3, axis=2)
    return rgb


def _assert_bgr(image: np.ndarray) -> None:
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[2] == 3 and image.flags.c_contiguous


@pytest.mark.parametrize("name", [c.name for c in CASES if c.error])
def test_bad_picture_raises_one_sentence_naming_file_and_reason(name, tmp_path):
    case = BY_NAME[name]
    for how, decode in _decoders(case, tmp_path).items():
        with pytest.raises(FacemaskError) as caught:
            decode()
        message = str(caught.value)
        assert name in message, how
        assert case.error in message, (how, message)
        assert "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize("name", [c.name for c in CASES if not c.error])
def test_awkward_picture_decodes_to_upright_bgr(name, tmp_path):
    case = BY_NAME[name]
    for decode in _decoders(case, tmp_path).values():
        image = decode()
        _assert_bgr(image)
        if case.reference:
            expected = _reference(case.reference)
            assert image.shape == expected.shape
            assert np.abs(image[:, :, ::-1].astype(int) - expected).mean() <= case.tolerance


def test_transparent_pixels_come_out_white():
    image = decode_image(corpus.rgba_png(), "rgba.png")
    photo = _reference("photo")
    half = image.shape[0] // 2
    assert (image[:half] == 255).all()
    assert np.abs(image[half:, :, ::-1].astype(int) - photo[half:]).mean() < 1


def test_folder_and_missing_file_name_the_path(tmp_path):
    with pytest.raises(FacemaskError, match="is a folder"):
        load_image(tmp_path)
    with pytest.raises(FacemaskError, match="missing.jpg: cannot be read"):
        load_image(tmp_path / "missing.jpg")


# --- the same inputs through the pipeline -----------------------------------------------------

@pytest.mark.parametrize("name", [c.name for c in CASES if not c.error])
def test_pipeline_on_awkward_pictures_returns_boxes_inside_the_picture(name, pipeline):
    case = BY_NAME[name]
    image = decode_image(case.make(), case.name)
    detections = pipeline.detect(image)
    height, width = image.shape[:2]
    assert (detections.xyxy[:, [0, 2]] >= 0).all() and (detections.xyxy[:, [0, 2]] <= width).all()
    assert (detections.xyxy[:, [1, 3]] >= 0).all() and (detections.xyxy[:, [1, 3]] <= height).all()
    assert ((detections.probabilities >= 0) & (detections.probabilities <= 1)).all()
    if case.faces:
        _, boxes = corpus.dev_photo()
        large = boxes[np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= LARGE_FACE]
        assert (iou_matrix(large, detections.xyxy).max(axis=1, initial=0) >= 0.5).all()


def test_pipeline_on_blank_frame_finds_nothing(pipeline):
    assert len(pipeline.detect(np.zeros((480, 640, 3), np.uint8))) == 0


# --- EXIF orientation -------------------------------------------------------------------------

@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_oriented_photo_decodes_upright(orientation):
    data, upright, _ = corpus.exif_jpeg(orientation)
    image = decode_image(data, f"orientation_{orientation}.jpg")
    assert image.shape == upright.shape
    assert np.abs(image[:, :, ::-1].astype(int) - upright).mean() < 3


@pytest.mark.parametrize("orientation", range(1, 9))
def test_rotated_exif_photo_boxes_land_on_the_faces(orientation, pipeline):
    """The upright picture is the annotated photo, so boxes must match its annotations as they are."""
    data, upright, boxes = corpus.exif_jpeg(orientation)
    detections = pipeline.detect(decode_image(data, f"orientation_{orientation}.jpg"))
    large = boxes[np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= LARGE_FACE]
    assert len(large) >= 2
    best = iou_matrix(large, detections.xyxy).max(axis=1, initial=0)
    assert (best >= 0.5).all(), best


# --- batch through the CLI --------------------------------------------------------------------

def test_cli_batch_keeps_good_files(tmp_path):
    good, broken, out = tmp_path / "good.jpg", tmp_path / "broken.jpg", tmp_path / "out.json"
    good.write_bytes(corpus.exif_jpeg(1)[0])
    broken.write_bytes(corpus.truncated_jpeg())
    result = subprocess.run(
        [sys.executable, "-m", "facemask.cli", "detect", str(good), str(broken), "--json", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    naming = [line for line in result.stderr.splitlines() if "broken.jpg" in line]
    assert len(naming) == 1 and "truncated" in naming[0], result.stderr
    records = json.loads(out.read_text())
    records = records["images"] if isinstance(records, dict) else records
    by_name = {os.path.basename(r["image"]): r for r in records}
    assert "broken.jpg" not in by_name
    assert len(by_name["good.jpg"]["faces"]) >= 2


def test_cli_benchmark_without_its_pictures_says_where_it_looked(tmp_path):
    (tmp_path / "data" / "mask_detection_dev" / "annotations").mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-m", "facemask.cli", "benchmark"], capture_output=True, text=True, cwd=ROOT,
        timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "FACEMASK_SHARED": str(tmp_path)},
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert str(tmp_path / "data") in result.stderr and "FACEMASK_SHARED" in result.stderr


def test_weights_placement_without_shared_fails_only_for_what_serving_needs(tmp_path):
    # no ../shared and no network: the detectors' weights already placed are enough to serve; the
    # training backbone (no download address) is named, not fatal; a missing detector file is fatal
    import shutil

    from facemask import config

    weights = tmp_path / "weights"
    weights.mkdir()
    for path in config.WEIGHTS_DIR.iterdir():
        if not path.name.startswith("mobilenet"):
            shutil.copyfile(path, weights / path.name)
    env = {**os.environ, "FACEMASK_SHARED": str(tmp_path / "no_shared"), "FACEMASK_WEIGHTS_DIR": str(weights)}
    place = [sys.executable, str(config.ROOT / "face_detector" / "place_weights.py")]
    done = subprocess.run(place, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MISSING mobilenet" in done.stdout and "only `facemask train` needs it" in done.stdout
    (weights / "face_detection_yunet_2026may.onnx").unlink()
    # the download goes to a closed port on loopback, never out
    done = subprocess.run(place, capture_output=True, text=True, env={**env, "https_proxy": "http://127.0.0.1:9"},
                          timeout=120)
    assert done.returncode == 1 and "MISSING face_detection_yunet" in done.stdout
