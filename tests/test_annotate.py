"""annotate: lines and labels that scale with the picture, labels that never cover each other."""

import numpy as np
import pytest

from facemask import config
from facemask.annotate import annotate, layout_labels, style
from facemask.detections import Detections


def faces(boxes, class_id=None) -> Detections:
    n = len(boxes)
    class_id = np.arange(n) % 3 if class_id is None else class_id
    return Detections(xyxy=boxes, confidence=np.full(n, 0.93), class_id=class_id, face_score=np.ones(n),
                      probabilities=np.full((n, 3), 1 / 3))


def intersect(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_labels_of_adjacent_small_faces_do_not_intersect():
    # eight 18 px faces side by side, 4 px apart, in a 300 px photo: a full label is wider than a face
    boxes = [(10 + 22 * k, 120, 28 + 22 * k, 138) for k in range(8)]
    labels = layout_labels(faces(boxes), 200, 300)
    rects = [label.rect for label in labels if label]
    assert len(rects) >= 4, "most faces keep a label"
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not intersect(a, b), (a, b)
    for k, label in enumerate(labels):  # a label never hides another face
        if label:
            assert not any(intersect(label.rect, box) for j, box in enumerate(boxes) if j != k)


def test_a_crowd_too_dense_for_text_keeps_every_box():
    rng = np.random.default_rng(3)
    corners = rng.integers(0, 280, (60, 2))
    boxes = np.c_[corners, corners + 14]
    image = np.zeros((300, 300, 3), np.uint8)
    out = annotate(image, faces(boxes, class_id=np.zeros(60, int)))
    green = np.all(out == config.CLASS_COLORS["with_mask"], axis=2)
    for x1, y1, x2, y2 in boxes:  # its outline is there, apart from its own label's white text
        outline = np.r_[green[y1, x1:x2], green[y2, x1:x2], green[y1:y2, x1], green[y1:y2, x2]]
        assert outline.mean() > 0.5, (x1, y1)
    labels = layout_labels(faces(boxes), 300, 300)
    rects = [label.rect for label in labels if label]
    assert any(label is None for label in labels), "this crowd has no room for 60 labels"
    assert all(not intersect(a, b) for i, a in enumerate(rects) for b in rects[i + 1:])


@pytest.mark.parametrize("side", [300, 1000, 4000])
def test_text_and_lines_are_the_same_share_of_small_and_large_pictures(side):
    """A face a third of the picture wide gets a label 2 to 5 % of the picture's height: readable at
    screen size whatever the camera's resolution; lines thicken with the picture."""
    box = [(side * 0.35, side * 0.4, side * 0.65, side * 0.7)]
    label = layout_labels(faces(box), side, side)[0]
    height = label.rect[3] - label.rect[1]
    assert 0.02 * side <= height <= 0.05 * side, height
    _, line = style(side, side)
    assert line == max(1, round(side / 450))


def test_label_stays_inside_the_picture_for_a_face_at_its_edge():
    box = [(250, 0, 300, 40)]  # top right corner: no room above
    label = layout_labels(faces(box), 200, 300)[0]
    x1, y1, x2, y2 = label.rect
    assert 0 <= x1 < x2 <= 300 and 0 <= y1 < y2 <= 200
    assert y1 >= 40 - 1 or x2 <= 250, "below the face or beside it, not off the picture"


def test_drawing_is_deterministic_and_leaves_the_input_alone():
    image = np.random.default_rng(5).integers(0, 256, (240, 320, 3), np.uint8)
    before = image.copy()
    detections = faces([(20, 30, 60, 80), (64, 30, 104, 80), (200, 100, 260, 170)])
    first, second = annotate(image, detections), annotate(image, detections, blur=False)
    assert np.array_equal(first, second) and np.array_equal(image, before)
    assert not np.array_equal(first, image)


def test_privacy_blur_hides_every_candidate_so_well_the_detector_finds_none_of_them_again(pipeline):
    from facemask import blur_faces, load_image
    from facemask.detections import iou_matrix
    from facemask.evaluation.dataset import load_source

    photos = [a for a in load_source("dev", "holdout") if len(a.xyxy)][:24] + \
        [a for a in load_source("extra", "holdout") if len(a.xyxy)][:12]
    hidden_faces = found_again = unsure_hidden = 0
    for ann in photos:
        image = load_image(ann.image_path)
        shown, hidden = pipeline.detect_with_privacy(image, privacy=True)
        assert len(hidden) >= len(shown) and (hidden.face_probability >= config.PRIVACY_THRESHOLD).all()
        unsure_hidden += len(hidden) - len(shown)  # too unsure to show, hidden all the same
        if not len(hidden):
            continue
        again = pipeline.detect(blur_faces(image, hidden), threshold=0.1)
        hidden_faces += len(hidden)
        if len(again):
            found_again += int((iou_matrix(hidden.xyxy, again.xyxy).max(axis=1) >= 0.3).sum())
        drawn = annotate(image, hidden, blur=True, threshold=pipeline.threshold)
        assert drawn.shape == image.shape and not np.array_equal(drawn, image)
    assert hidden_faces >= 100 and unsure_hidden >= 3
    assert found_again == 0, f"{found_again} of {hidden_faces} blurred faces found again at P(face) >= 0.1"
