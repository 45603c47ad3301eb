"""The upload page's helpers in facemask/app/ui.py: one list of accepted types, reasons for refusals,
advice that fits the photo, the summary row and the ZIP (no browser; see test_dashboard.py)."""

import io
import re
import zipfile

import numpy as np
import pytest
from PIL import Image

from facemask import FacemaskError, config
from facemask.app import ui
from facemask.detections import Detections
from facemask.imageio import IMAGE_SUFFIXES, decode_image


def candidates(probabilities) -> Detections:
    n = len(probabilities)
    return Detections(xyxy=np.tile([10, 10, 40, 40], (n, 1)), confidence=np.full(n, 0.9),
                      class_id=np.zeros(n, int), face_score=np.ones(n), face_probability=probabilities,
                      probabilities=np.full((n, 3), 1 / 3))


def test_the_uploader_help_and_the_decoder_name_the_same_types():
    assert ui.UPLOAD_TYPES == [s.lstrip(".") for s in IMAGE_SUFFIXES]
    with pytest.raises(FacemaskError) as caught:
        decode_image(b"plain text, not a picture", "notes.jpg")
    named = re.search(r"\(([^)]*)\)", str(caught.value)).group(1).split(", ")
    assert ui.type_names(ui.UPLOAD_TYPES) == ", ".join(named[:-1]) + " or " + named[-1]
    assert ui.PHOTO_HELP.startswith(ui.type_names(ui.UPLOAD_TYPES)) and f"{config.MAX_UPLOAD_MB} MB" in ui.PHOTO_HELP


def test_refusals_say_why():
    assert "30.0 MB" in ui.rejection("big.jpg", 30 * 1024 * 1024) and "25 MB" in ui.rejection("big.jpg", 30 << 20)
    assert ui.rejection("notes.txt", 10).startswith("notes.txt: a .txt file is not a photo")
    assert ui.rejection("photo.JPG", 10) is None and ui.rejection("scan.tiff", 10) is None


def test_no_face_advice_suggests_a_lower_threshold_only_when_it_hides_a_face():
    hidden = ui.PhotoFaces("crowd.jpg", 800, 600, candidates([0.20, 0.12, 0.01]))
    advice = hidden.no_face_advice(0.3)
    assert "P(face) 0.20 (2 in all)" in advice and "to 0.20 to see it" in advice  # 0.01: no slider value shows it
    assert "to 0.05" in ui.PhotoFaces("a.jpg", 800, 600, candidates([0.07])).no_face_advice(0.3)
    junk = ui.PhotoFaces("a.jpg", 800, 600, candidates([0.01])).no_face_advice(0.3)
    assert "threshold" not in junk
    nothing = ui.PhotoFaces("wall.jpg", 120, 90, Detections.empty())
    advice = nothing.no_face_advice(0.3)
    assert "threshold" not in advice and "120×90 px" in advice and f"{ui.MIN_FACE_PX} px" in advice


def test_summary_row_counts_the_faces_over_the_threshold_and_names_a_refusal():
    faces = ui.PhotoFaces("a.jpg", 100, 100, candidates([0.9, 0.5, 0.1]))
    row = ui.summary_row("a.jpg", faces, 0.3)
    assert row["Faces"] == 2 and row["With mask"] == 2 and row["Status"] == "analysed"
    assert ui.summary_row("a.jpg", faces, 0.95)["Status"] == "no face found"
    refused = ui.summary_row("b.jpg", FacemaskError("b.jpg: the file is empty."), 0.3)
    assert refused["Status"] == "not read: the file is empty." and refused["Faces"] is None
    shown = ui.summary_table([row, refused])
    assert shown[0]["Faces"] == "2" and shown[1]["Faces"] == "–" and shown[1]["Status"] == refused["Status"]
    assert ui.summary_table([row]) == [row], "all read: the counts stay numbers"


def test_the_zip_holds_one_valid_picture_per_photo_even_with_one_name_twice():
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(buffer, format="PNG")
    data = buffer.getvalue()
    archive = ui.annotated_zip([("a.png", data, candidates([0.9])), ("a.png", data, Detections.empty())], blur=False)
    with zipfile.ZipFile(io.BytesIO(archive)) as unzipped:
        assert unzipped.namelist() == ["a_annotated.jpg", "a_annotated_2.jpg"]
        first = np.asarray(Image.open(io.BytesIO(unzipped.read("a_annotated.jpg"))))
    assert first.shape == (48, 64, 3) and first.min() < 200, "the box is drawn"


def test_the_tab_title_names_the_app_once():
    assert ui.page_title(ui.APP_TITLE) == "Face-mask detector"
    assert ui.page_title("Monitor") == "Monitor · Face-mask detector"
