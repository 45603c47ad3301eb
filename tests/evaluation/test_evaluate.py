"""`facemask evaluate` as a user runs it: the pipeline on annotated photos, and a detections file scored
the same way."""

import json
import subprocess
import sys

import pytest

from facemask import config
from facemask.evaluation.dataset import split_of


def run_cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "facemask.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600, **kw)


def test_cli_evaluate_reports_ap_table_and_json(tmp_path):
    # a small folder of 6 val photos keeps this quick; the full run is in the README
    images, annotations = tmp_path / "images", tmp_path / "annotations"
    images.mkdir(), annotations.mkdir()
    stems = [p.stem for p in sorted(config.DEV_ANNOTATIONS.glob("*.xml")) if split_of(p.stem) == "val"][:6]
    for s in stems:
        (images / f"{s}.jpg").symlink_to(config.DEV_IMAGES / f"{s}.jpg")
        (annotations / f"{s}.xml").symlink_to(config.DEV_ANNOTATIONS / f"{s}.xml")
    result = run_cli("evaluate", "--images", images, "--annotations", annotations, "--json", tmp_path / "e.json")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["images"] == 6
    assert 0.3 <= report["ap"]["all"]["with_mask"] <= 1.0
    assert "mean(with,without)" in result.stdout


def test_evaluate_predictions_scores_the_detect_json_as_the_pipeline_evaluation_does(tmp_path):
    # what users get is what we measure: `detect --threshold 0 --json` scored by `evaluate --predictions`
    # gives the report `evaluate` gives by running the pipeline itself
    images, annotations = tmp_path / "images", tmp_path / "annotations"
    images.mkdir(), annotations.mkdir()
    stems = [p.stem for p in sorted(config.DEV_ANNOTATIONS.glob("*.xml")) if split_of(p.stem) == "val"][6:11]
    for s in stems:
        (images / f"{s}.jpg").symlink_to(config.DEV_IMAGES / f"{s}.jpg")
        (annotations / f"{s}.xml").symlink_to(config.DEV_ANNOTATIONS / f"{s}.xml")
    detect = run_cli("detect", images, "--threshold", "0", "--json", tmp_path / "d.json")
    assert detect.returncode == 0, detect.stderr
    scored = run_cli("evaluate", "--predictions", tmp_path / "d.json", "--annotations", annotations,
                     "--json", tmp_path / "p.json")
    assert scored.returncode == 0, scored.stderr
    ran = run_cli("evaluate", "--images", images, "--annotations", annotations, "--json", tmp_path / "e.json")
    assert ran.returncode == 0, ran.stderr
    from_file, from_pipeline = (json.loads((tmp_path / f).read_text()) for f in ("p.json", "e.json"))
    assert from_file["images"] == from_pipeline["images"] == len(stems)
    assert from_file["ap"] == from_pipeline["ap"] and from_file["ranked_by"] == "score"
    assert from_file["operating_point"]["recall"] == pytest.approx(from_pipeline["operating_point"]["recall"])
    # a face ranked by its label's probability alone would not be what is exported
    faces = [f for rec in json.loads((tmp_path / "d.json").read_text()) for f in rec["faces"]]
    assert any(f["score"] < f["label_probability"] - 0.05 for f in faces)


def test_evaluate_predictions_refuses_a_file_that_is_not_detections(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image": "a.jpg", "faces": [{"box": [1, 2, 3], "label": "hat", "score": 1}]}]))
    result = run_cli("evaluate", "--predictions", bad)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "needs 'box' (4 numbers)" in result.stderr
    nothing = tmp_path / "none.json"
    nothing.write_text(json.dumps([{"image": "not_annotated.jpg", "faces": []}]))
    result = run_cli("evaluate", "--predictions", nothing)
    assert result.returncode == 2 and "none of its pictures has an annotation" in result.stderr


def test_recall_is_reported_for_each_annotated_class_so_a_mask_bias_shows():
    import numpy as np

    from facemask.evaluation.evaluate import format_report
    from facemask.evaluation.metrics import detection_report

    # two masked faces (one 40 px, found; one 20 px, missed) and one bare 50 px face, found
    gts = [(np.array([[0, 0, 40, 40], [100, 0, 120, 20], [200, 0, 250, 50]], np.float32), np.array([0, 0, 1]))]
    boxes = np.array([[0, 0, 40, 40], [200, 0, 250, 50]], np.float32)
    scores = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]], np.float32)
    report = detection_report(gts, [(boxes, scores)], [np.array([0.9, 0.8])], [np.array([0, 1])], threshold=0.3)
    op = report["operating_point"]
    assert op["recall_by_class"]["all"] == {"with_mask": 0.5, "without_mask": 1.0, "mask_worn_incorrectly": None}
    assert op["recall_by_class"]["large (>=32 px)"]["with_mask"] == 1.0
    assert op["faces_by_class"]["all"] == {"with_mask": 2, "without_mask": 1, "mask_worn_incorrectly": 0}
    report.update(images=1, split="all", predictions="d.json")
    assert "all faces:" in format_report(report) and "with mask 0.500 (2)" in format_report(report)
