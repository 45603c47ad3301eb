"""`facemask` as a person runs it: real subprocesses on real dev photos. Each verb prints its own lines
and nothing of the libraries' start-up chatter; --help has examples and no "(default: None)"; bad
values stop at the parser with one sentence; `train` never touches the shipped model unless told to."""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys

import corpus
import pytest

from facemask import config
from facemask.cli import _training_folders, build_parser

ONE_FACE_PHOTO = config.DEV_IMAGES / "maksssksksss10.jpg"  # one annotated face, 300 px wide
EVAL_PHOTOS = ("maksssksksss0", "maksssksksss10", "maksssksksss100")  # 7 annotated faces in all
# what the libraries print on every start when left alone (TensorFlow, oneDNN, absl, LiteRT, CUDA)
NOISE = re.compile(r"XNNPACK|oneDNN|absl|InitializeLog|cuda|^[IW]\d{4} \d\d:\d\d|tensorflow|deprecat",
                   re.IGNORECASE | re.MULTILINE)


def facemask(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    """One run of the installed-style entry point, with the user's environment (no log settings of ours)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "FACEMASK_DEBUG")}
    return subprocess.run([sys.executable, "-m", "facemask.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=config.ROOT)


def assert_quiet(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        found = NOISE.findall(text)
        assert not found, f"library chatter on {name}: {found}\n{text}"
    assert "Traceback" not in result.stderr


def verbs() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_detect_says_1_face_singular_and_nothing_from_the_libraries():
    result = facemask("detect", ONE_FACE_PHOTO)
    assert_quiet(result)
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == f"{ONE_FACE_PHOTO}: 1 face: 1 {config.CLASS_TITLES['with_mask'].lower()}", result.stdout
    assert lines[-1].startswith("1 of 1 picture processed; 1 face"), result.stdout
    assert "faces" not in result.stdout and "with_mask" not in result.stdout  # snake_case stays in the files


def test_detect_in_a_live_mode_sees_the_photo_as_a_camera_films_it(tmp_path):
    import json

    photo = config.DEV_IMAGES / "maksssksksss0.jpg"  # the README's photo: 1 with a mask, 2 without
    result = facemask("detect", photo, "--mode", "watch", "--frame", "1280x720", "--json", tmp_path / "d.json")
    assert_quiet(result)
    assert "3 faces: 1 with mask, 2 without mask" in result.stdout
    record = json.loads((tmp_path / "d.json").read_text())[0]
    assert (record["width"], record["height"]) == (512, 366)  # boxes in the photo's pixels, not the frame's
    assert all(0 <= f["box"][0] < f["box"][2] <= 512 and 0 <= f["box"][1] < f["box"][3] <= 366 for f in record["faces"])
    for wrong, sentence in ((["--frame", "1280x720"], "--frame is for a live mode"),
                            (["--mode", "watch", "--frame", "wide"], "expected WIDTHxHEIGHT")):
        refused = facemask("detect", photo, *wrong)
        assert refused.returncode == 2 and sentence in refused.stderr and "Traceback" not in refused.stderr


def test_evaluate_on_three_annotated_photos_prints_only_its_report(tmp_path):
    images, annotations = tmp_path / "images", tmp_path / "annotations"
    images.mkdir(), annotations.mkdir()
    for stem in EVAL_PHOTOS:
        (images / f"{stem}.jpg").symlink_to(config.DEV_IMAGES / f"{stem}.jpg")
        (annotations / f"{stem}.xml").symlink_to(config.DEV_ANNOTATIONS / f"{stem}.xml")
    result = facemask("evaluate", "--images", images, "--annotations", annotations)
    assert_quiet(result)
    assert result.stderr.strip() == "evaluating [" + "#" * 30 + "] 3/3"  # its progress line, nothing else
    assert "3 photos" in result.stdout and "mean(with,without)" in result.stdout


def test_video_prints_its_frame_count_and_nothing_from_the_libraries(tmp_path):
    clip = corpus.write_video(tmp_path / "clip.mp4", corpus.dev_video_frames(4, (320, 240)), fps=4)
    out, counts = tmp_path / "annotated.mp4", tmp_path / "counts.csv"
    result = facemask("video", clip, "--out", out, "--csv", counts)
    assert_quiet(result)
    assert result.stderr.strip() == "clip.mp4 [" + "#" * 30 + "] 4/4"  # its progress line, nothing else
    assert result.stdout.startswith(f"4 frames written to {out}, counts in {counts}"), result.stdout
    assert out.stat().st_size > 0 and len(counts.read_text().splitlines()) == 5


def test_benchmark_with_keras_loaded_prints_its_figures_and_nothing_from_the_libraries(tmp_path):
    # --no-naive keeps it short; the Keras backend is still timed, so TensorFlow is imported
    result = facemask("benchmark", "--repeats", 1, "--frames", 2, "--no-naive", "--json", tmp_path / "b.json")
    assert_quiet(result)
    assert "cold start" in result.stdout and "keras model(x)" in result.stdout, result.stdout


def test_tflite_conversion_under_the_train_settings_prints_no_export_listing():
    # what `facemask train` does at its end, on a tiny model: Keras import and TFLite export, with the
    # CLI's guards; the run's own lines (here "converted") still show
    code = """
import numpy as np
from facemask.quiet import export_chatter_dropped, import_keras, quiet_environment
quiet_environment()
keras = import_keras()
import tensorflow as tf
model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
with export_chatter_dropped():
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
print("converted", len(data) > 0)
"""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert_quiet(result)
    assert result.stdout == "converted True\n", result.stdout


def test_native_stderr_filter_drops_chatter_and_passes_real_errors():
    code = r"""
import os
from facemask.quiet import native_stderr_filtered
with native_stderr_filtered():
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    os.write(2, b"I0000 00:00:1796116042.829678   12731 port.cc:153] oneDNN custom operations are on.\n")
    os.write(2, b"E0000 00:00:1796116042.829678   12731 loader.cc:1] the model file is damaged\n")
    os.write(2, b"a message of our own\n")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    real_error = "E0000 00:00:1796116042.829678   12731 loader.cc:1] the model file is damaged"
    assert result.stderr.splitlines() == [real_error, "a message of our own"]


def test_classifiers_built_in_parallel_threads_leave_stderr_where_it_was():
    # the app and the watcher build pipelines in threads: fd 2 is held one thread at a time
    code = """
import os, sys, threading
from facemask.vision.classifier import MaskClassifier
before = os.readlink("/proc/self/fd/2")
threads = [threading.Thread(target=MaskClassifier) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
print("same" if os.readlink("/proc/self/fd/2") == before else "moved")
print("still here", file=sys.stderr)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert (result.returncode, result.stdout, result.stderr) == (0, "same\n", "still here\n"), result.stderr


@pytest.mark.parametrize("args, sentence", [
    (("detect", ONE_FACE_PHOTO, "--threshold", "5"), "--threshold must be between 0 and 1, got 5"),
    (("video", "clip.mp4", "--out", "x.mp4", "--threshold", "-0.1"), "--threshold must be between 0 and 1, got -0.1"),
    (("evaluate", "--threshold", "high"), "--threshold must be a number between 0 and 1, got 'high'"),
    (("benchmark", "--repeats", "0"), "--repeats must be at least 1, got 0"),
    (("benchmark", "--frames", "1"), "--frames must be at least 2"),
    (("train", "--epochs", "-3"), "--epochs must be at least 1, got -3"),
    (("train", "--size", "2.5"), "--size must be a whole number, got '2.5'"),
])
def test_an_out_of_range_value_stops_at_the_parser_with_one_sentence(args, sentence):
    result = facemask(*args, timeout=120)
    assert result.returncode == 2
    assert f"error: {sentence}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not result.stdout


def test_every_verb_help_has_examples_and_says_defaults_but_never_none():
    names = list(verbs())
    assert {"detect", "video", "evaluate", "benchmark", "train"} <= set(names)
    top = facemask("--help", timeout=120)
    assert top.returncode == 0
    for name in names:  # `facemask --help`: each verb on one line with its summary
        assert re.search(rf"^\s+{name}\s+\S", top.stdout, re.MULTILINE), f"{name} not on its own line:\n{top.stdout}"
    for name in names:
        result = facemask(name, "--help", timeout=120)
        assert result.returncode == 0, result.stderr
        assert "(default: None)" not in result.stdout, f"{name}:\n{result.stdout}"
        assert "examples:\n  facemask " in result.stdout, f"{name} --help shows no example:\n{result.stdout}"
        flat = " ".join(result.stdout.split())
        if "--threshold" in flat:
            assert " ".join(config.THRESHOLD_HELP.split()) + f" (default: {config.DEFAULT_THRESHOLD})" in flat


def test_train_into_models_without_ship_is_refused_before_any_training():
    shipped = config.TFLITE_MODEL.read_bytes()
    for out in (config.MODELS_DIR, config.MODELS_DIR / "retrained", "models"):
        result = facemask("train", "--out", out, timeout=120)
        assert result.returncode == 2, result.stderr
        assert "--ship" in result.stderr and "Traceback" not in result.stderr
        assert result.stdout == ""  # not one progress line: training never began
    assert hashlib.sha256(config.TFLITE_MODEL.read_bytes()).digest() == hashlib.sha256(shipped).digest()


def test_train_writes_outside_models_by_default_and_into_models_only_with_ship(tmp_path):
    train = verbs()["train"]
    assert _training_folders(train.parse_args([])) == (config.TRAINED_DIR, config.TRAINED_DIR / "plots", False)
    assert not str(config.TRAINED_DIR.resolve()).startswith(str(config.MODELS_DIR.resolve()))
    assert _training_folders(train.parse_args(["--ship"])) == (config.MODELS_DIR, config.PLOTS_DIR, True)
    fold = tmp_path / "fold0of3"  # how notebooks/cross_validate.py calls it
    args = train.parse_args(["--out", str(fold), "--plots", str(fold / "plots"), "--fold", "0/3"])
    assert _training_folders(args) == (fold, fold / "plots", False)


def test_benchmark_prints_each_figure_once_and_says_on_stderr_what_it_measures(tmp_path):
    result = facemask("benchmark", "--repeats", 1, "--frames", 2, "--no-naive")
    assert result.returncode == 0, result.stderr
    assert "measuring default photo (yunet, 2 scales) ..." in result.stderr
    assert " ms" not in result.stderr, "figures on stderr as well as in the table"
    assert result.stdout.count("cold start (import + load + first frame)") == 1


def test_a_misspelt_option_an_empty_folder_and_a_still_picture_as_video_each_get_one_sentence(tmp_path):
    misspelt = facemask("detect", ONE_FACE_PHOTO, "--treshold", "0.5")
    assert misspelt.returncode == 2 and "--treshold (did you mean --threshold?)" in misspelt.stderr
    empty = tmp_path / "holiday"
    empty.mkdir()
    nothing = facemask("detect", empty)
    assert nothing.returncode == 2 and f"no pictures found in {empty}" in nothing.stderr, nothing.stderr
    still = facemask("video", ONE_FACE_PHOTO, "--out", tmp_path / "y.mp4")
    assert still.returncode == 2 and "is a still picture, not a video" in still.stderr, still.stderr
    assert not (tmp_path / "y.mp4").exists()
    for result in (misspelt, nothing, still):
        assert "Traceback" not in result.stderr
