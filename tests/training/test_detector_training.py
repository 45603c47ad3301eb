"""The face detector's fine-tuning (facemask/training/detector/): YuNet rebuilt in Keras from its ONNX graph
gives the stock network's outputs, its weights go back into a graph cv2.dnn reads, faces are assigned the grid
points near them, a stopped run resumes, and a model folder that carries its own detector is served with it."""

import json
import shutil

import cv2
import numpy as np
import pytest

from facemask import FacemaskError, Pipeline, config, load_image
from facemask.training.detector import base_weights
from facemask.training.detector.assign import assign, decode_boxes, grid_points
from facemask.training.detector.fit import fit_detector
from facemask.training.detector.network import OUTPUT_NAMES, build_yunet, save_for_opencv
from facemask.training.photos import training_photos
from facemask.vision.detectors import YuNetDetector

PHOTO = config.DEV_IMAGES / "maksssksksss10.jpg"  # one annotated face


def _padded(image):
    h, w = image.shape[:2]
    padded = np.zeros(((h + 31) // 32 * 32, (w + 31) // 32 * 32, 3), np.float32)
    padded[:h, :w] = image
    return padded


@pytest.fixture(scope="module")
def stock_s():
    return build_yunet(base_weights("yunet_s"))


def test_the_keras_yunet_gives_the_outputs_of_the_shipped_onnx_network(stock_s):
    image = _padded(load_image(PHOTO))
    keras_out = [np.asarray(x) for x in stock_s(image[None], training=False)]
    net = cv2.dnn.readNet(str(config.YUNET_WEIGHTS))  # the shipped YuNet is yunet_s with these weights
    net.setInput(image.transpose(2, 0, 1)[None].copy())
    for name, mine, shipped in zip(OUTPUT_NAMES, keras_out, net.forward(list(OUTPUT_NAMES))):
        if name.startswith(("cls", "obj")):
            mine = 1 / (1 + np.exp(-mine))  # the Keras model gives logits, the graph their sigmoid
        assert np.abs(mine.reshape(shipped.shape) - shipped).max() < 1e-4, name


def test_weights_written_back_for_opencv_find_the_faces_the_stock_detector_finds(stock_s, tmp_path):
    path = save_for_opencv(stock_s, base_weights("yunet_s"), tmp_path / "face_detector.onnx")
    image = load_image(config.DEV_IMAGES / "maksssksksss0.jpg")
    mine, stock = YuNetDetector(weights=path, threshold=0.05).find(image), YuNetDetector(threshold=0.05).find(image)
    assert len(stock.boxes) >= 3
    np.testing.assert_allclose(mine.boxes, stock.boxes, atol=1e-3)
    np.testing.assert_allclose(mine.scores, stock.scores, atol=1e-5)


def test_each_face_takes_points_near_it_and_no_point_serves_two_faces():
    points = grid_points(256, 256)
    faces = np.array([[20, 20, 80, 90], [150, 140, 230, 240]], np.float32)
    # every point predicts a 64 px box around its own cell, scored 0.5
    bbox = np.zeros((len(points), 4), np.float32)
    bbox[:, 2:] = np.log(64 / points[:, 2:3])
    boxes = decode_boxes(points, bbox)
    face_of, iou_of = assign(points, np.full(len(points), 0.5, np.float32), boxes, faces)
    for f, (x1, y1, x2, y2) in enumerate(faces):
        mine = points[face_of == f]
        assert len(mine) >= 1
        centre = mine[:, :2] + mine[:, 2:3] / 2
        assert ((centre[:, 0] > x1) & (centre[:, 0] < x2) & (centre[:, 1] > y1) & (centre[:, 1] < y2)).all()
    assert (iou_of[face_of >= 0] > 0).all() and (iou_of[face_of < 0] == 0).all()
    empty_of, _ = assign(points, np.full(len(points), 0.5, np.float32), boxes, np.zeros((0, 4), np.float32))
    assert (empty_of == -1).all()


def test_a_stopped_fine_tune_resumes_from_its_last_epoch_and_its_detector_finds_faces(tmp_path, capsys):
    photos = [a for a in training_photos("train", (0, 3))[0] if len(a.xyxy)][:8]
    first = fit_detector(photos, base_weights("yunet_s"), tmp_path, epochs=1)
    assert len(first["history"]) == 1 and (tmp_path / "checkpoints").is_dir()
    second = fit_detector(photos, base_weights("yunet_s"), tmp_path, epochs=2)
    assert "resuming after epoch 1" in capsys.readouterr().out
    assert len(second["history"]) == 2 and second["history"][0] == first["history"][0]
    found = YuNetDetector(weights=tmp_path / "face_detector.onnx", threshold=0.3).find(load_image(PHOTO))
    assert len(found.boxes) >= 1


def test_a_model_folder_with_its_own_face_detector_is_served_with_it(stock_s, tmp_path):
    for name in (config.TFLITE_MODEL.name, config.MODEL_INFO.name):
        shutil.copy(config.MODELS_DIR / name, tmp_path / name)
    info = json.loads((tmp_path / config.MODEL_INFO.name).read_text())
    info["face_detector"] = {"file": "face_detector.onnx", "base": "yunet_s"}
    (tmp_path / config.MODEL_INFO.name).write_text(json.dumps(info))
    with pytest.raises(FacemaskError, match="face_detector.onnx, which is missing"):
        Pipeline(model_path=tmp_path / config.TFLITE_MODEL.name)
    save_for_opencv(stock_s, base_weights("yunet_s"), tmp_path / "face_detector.onnx")
    for live in (False, True):
        pipeline = Pipeline(model_path=tmp_path / config.TFLITE_MODEL.name, live=live)
        assert pipeline.detector.weights == tmp_path / "face_detector.onnx"
    shipped = json.loads(config.MODEL_INFO.read_text()).get("face_detector")
    expected = config.MODELS_DIR / shipped["file"] if shipped else config.YUNET_WEIGHTS
    assert Pipeline().detector.weights == expected
