"""The Streamlit pages, run in-process with AppTest (no browser): what each page shows and when."""

import json

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from facemask import config
from facemask.app import ui

APP = str(config.ROOT / "app.py")
TIMEOUT = 240  # model load and detection on two shared cores
GOOD_PHOTO = config.DEV_IMAGES / "maksssksksss0.jpg"  # 3 faces: 2 without mask, 1 with
needs_model = pytest.mark.skipif(not config.TFLITE_MODEL.exists(), reason="mask classifier not trained yet")


@pytest.fixture(autouse=True)
def fresh_caches():
    """Each test decides which model files exist, so no pipeline may leak between tests."""
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def run_page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


@needs_model
def test_home_page_names_the_loaded_detector_and_classifier():
    at = run_page()
    assert at.title[0].value == "Face-mask detector"
    body = texts(at.markdown)
    assert f"`{config.DEFAULT_DETECTOR}`" in body
    assert config.TFLITE_MODEL.name in body
    assert not at.error and not at.warning
    assert at.sidebar.selectbox(key="detector").value == config.DEFAULT_DETECTOR
    assert at.sidebar.slider(key="threshold").value == pytest.approx(config.DEFAULT_THRESHOLD)


@needs_model
def test_home_page_warns_when_the_detector_fell_back_to_haar(monkeypatch, tmp_path, model_on_stock_detector):
    monkeypatch.setattr(config, "TFLITE_MODEL", model_on_stock_detector)
    monkeypatch.setattr(config, "YUNET_WEIGHTS", tmp_path / "missing.onnx")
    at = run_page()
    warning = texts(at.warning)
    assert "missing.onnx" in warning and "haar" in warning
    assert "`haar`" in texts(at.markdown)


def test_missing_classifier_is_explained_not_a_traceback(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "TFLITE_MODEL", tmp_path / "mask_classifier.tflite")
    at = run_page()
    assert "mask_classifier.tflite" in texts(at.error)
    at = run_page("pages/1_Photos_and_video.py")
    assert "mask_classifier.tflite" in texts(at.error)
    assert not at.file_uploader, "no upload offered without a model"


def test_metrics_page_says_what_is_missing_before_training(monkeypatch, tmp_path):
    for name in ("TRAIN_METRICS", "EVAL_METRICS", "EVAL_METRICS_EXTRA", "EVAL_METRICS_CV", "MODEL_INFO"):
        monkeypatch.setattr(config, name, tmp_path / f"{name.lower()}.json")
    monkeypatch.setattr(config, "PLOTS_DIR", tmp_path)
    monkeypatch.setattr(config, "MODELS_DIR", tmp_path)
    at = run_page("pages/3_Model_metrics.py")
    notes = texts(at.info)
    assert "facemask train" in notes and "facemask evaluate" in notes
    assert not at.image and not at.dataframe


def test_metrics_page_shows_plots_then_tables_from_the_report_files(monkeypatch, tmp_path):
    per_class = {name: {"precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 10 + k, "roc_auc": 0.95}
                 for k, name in enumerate(config.CLASS_NAMES)}
    report = {"accuracy": 0.87, "per_class": per_class, "confusion_matrix": [[9, 1, 0], [1, 9, 1], [0, 2, 10]]}
    (tmp_path / "train.json").write_text(json.dumps(
        {"history": {"loss": [1.0, 0.5]}, "closeups": report, "real_photos": report}))
    ap = {"with_mask": 0.8, "without_mask": 0.6, "mask_worn_incorrectly": 0.2, "mean(with,without)": 0.7}
    evaluation = {
        "ap": {"all": ap, "small (<32 px)": ap, "large (>=32 px)": ap},
        "n_gt": {"all": {"with_mask": 100, "without_mask": 20, "mask_worn_incorrectly": 5}},
        "operating_point": {"threshold": 0.5, "faces": 125, "detections": 120, "recall": 0.81,
                            "precision": 0.9, "recall_small": 0.6, "status_accuracy": 0.88, "matched_faces": 101},
        "detector": "yunet", "images": 40, "split": "holdout"}
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    (tmp_path / "extra.json").write_text(json.dumps(evaluation))
    cv = {**evaluation, "split": "train+val, 3-fold cross-validation"}
    (tmp_path / "cv.json").write_text(json.dumps({"sources": {"dev": cv, "extra": cv}}))
    (tmp_path / "info.json").write_text(json.dumps({"backbone": "MobileNetV2", "input_size": 96,
                                                    "classes": list(config.CLASS_NAMES),
                                                    "train_counts": {"with_mask": 5}}))
    (tmp_path / "MODEL_CARD.md").write_text("## Intended use\nCounting masks in crowds.\n")
    for name in ("training_curves", "confusion_matrix_real_photos", "roc_real_photos", "pr_curves"):
        Image.new("RGB", (40, 30), "white").save(tmp_path / f"{name}.png")
    monkeypatch.setattr(config, "TRAIN_METRICS", tmp_path / "train.json")
    monkeypatch.setattr(config, "EVAL_METRICS", tmp_path / "eval.json")
    monkeypatch.setattr(config, "EVAL_METRICS_EXTRA", tmp_path / "extra.json")
    monkeypatch.setattr(config, "EVAL_METRICS_CV", tmp_path / "cv.json")
    monkeypatch.setattr(config, "MODEL_INFO", tmp_path / "info.json")
    monkeypatch.setattr(config, "PLOTS_DIR", tmp_path)
    monkeypatch.setattr(config, "MODELS_DIR", tmp_path)

    at = run_page("pages/3_Model_metrics.py")
    assert len(at.image) == 4
    tables = [t.value for t in at.dataframe]
    reports = [t for t in tables if "ROC AUC" in t.columns]
    assert len(reports) == 2 and list(reports[0]["Support"]) == [10, 11, 12]
    # AP tables: the shipped model on each source's holdout, then the recipe's cross-validation per source
    assert sum("Mean (with, without)" in t.columns for t in tables) == 4
    assert "Cross-validation on the training photos" in [h.value for h in at.subheader]
    assert {"Recall", "Status accuracy"} <= {m.label for m in at.metric}
    assert "Counting masks in crowds." in texts(at.markdown)
    # the closeups plots are absent: a note says so instead of a broken image
    assert "facemask train" in texts(at.info)


@needs_model
def test_upload_shows_faces_for_a_good_photo_and_names_a_broken_one():
    at = run_page("pages/1_Photos_and_video.py")
    broken = np.random.default_rng(1).integers(0, 256, 4000, np.uint8).tobytes()
    at.file_uploader[0].set_value([("maksssksksss0.jpg", GOOD_PHOTO.read_bytes(), "image/jpeg"),
                                   ("broken.jpg", broken, "image/jpeg")])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1 and ui.plain("broken.jpg") in at.error[0].value  # escaped markdown
    summary, faces = at.dataframe[0].value, at.dataframe[1].value  # one row per photo, then its faces
    assert list(summary["Photo"]) == ["maksssksksss0.jpg", "broken.jpg"]
    assert summary["Status"][1].startswith("not read: ") and int(summary["Faces"][0]) == len(faces)
    metrics = {m.label: m.value for m in at.metric}
    assert len(faces) >= 2, "the ground truth has 3 faces"
    assert int(metrics["Faces"]) == len(faces)
    assert int(metrics["Without mask"]) >= 1
    assert set(faces["Label"]) <= set(config.CLASS_TITLES.values())
    assert len(at.image) == 1


def test_sidebar_settings_follow_the_user_to_other_pages():
    at = run_page()
    at.sidebar.slider(key="threshold").set_value(0.55).run()
    at.sidebar.checkbox(key="blur").check().run()
    at.sidebar.selectbox(key="detector").set_value("haar").run()
    at.switch_page("pages/3_Model_metrics.py").run()
    assert not at.exception
    assert at.sidebar.slider(key="threshold").value == pytest.approx(0.55)
    assert at.sidebar.checkbox(key="blur").value is True
    assert at.sidebar.selectbox(key="detector").value == "haar"
    at.switch_page("app.py").run()
    assert at.sidebar.slider(key="threshold").value == pytest.approx(0.55)


def small_video(path, frames: int = 6) -> bytes:
    import cv2

    image = cv2.resize(cv2.imread(str(GOOD_PHOTO)), (320, 240))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (320, 240))
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return path.read_bytes()


@needs_model
def test_video_tab_annotates_a_clip_and_offers_it_for_download(tmp_path):
    at = run_page("pages/1_Photos_and_video.py")
    at.file_uploader(key="video").set_value(("clip.avi", small_video(tmp_path / "clip.avi"), "video/x-msvideo"))
    at.run()
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    assert len(at.get("video")) == 1
    assert any("6 frames" in str(p.proto.text) for p in at.get("progress"))


@needs_model
def test_video_tab_names_a_broken_video(tmp_path):
    at = run_page("pages/1_Photos_and_video.py")
    at.file_uploader(key="video").set_value(("holiday.mp4", b"\x00not a video" * 50, "video/mp4"))
    at.run()
    at.button[0].click().run()
    assert not at.exception
    assert ui.plain("holiday.mp4") in at.error[0].value and "tmp" not in at.error[0].value



@needs_model
def test_the_app_never_imports_tensorflow():
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({APP!r}, default_timeout={TIMEOUT})\n"
        "at.run()\n"
        "for page in ('pages/1_Photos_and_video.py', 'pages/3_Model_metrics.py'):\n"
        "    at.switch_page(page).run()\n"
        "assert not at.exception\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT,
                         cwd=config.ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_phone_size_photo_is_shown_shrunk_with_its_faces_found_at_full_size():
    import io

    import cv2

    image = cv2.imread(str(config.DEV_IMAGES / "maksssksksss260.jpg"))
    factor = (12e6 / (image.shape[0] * image.shape[1])) ** 0.5
    big = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    data = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    key = ui.digest(data)
    faces = ui.detect_photo(key, data, "phone.jpg", config.DEFAULT_DETECTOR)
    assert (faces.width, faces.height) == (big.shape[1], big.shape[0])
    shown = faces.shown(config.DEFAULT_THRESHOLD)
    assert len(shown) >= 20 and shown.xyxy[:, 2].max() > image.shape[1]  # boxes in the full picture's pixels
    png = Image.open(io.BytesIO(ui.annotated_png(key, data, "phone.jpg", config.DEFAULT_DETECTOR,
                                                 config.DEFAULT_THRESHOLD, False)))
    assert max(png.size) == config.DISPLAY_MAX_SIDE
