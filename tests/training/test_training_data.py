"""What the classifier trains on: which photos, near-duplicate grouping, synthetic masks."""

import re

import cv2
import numpy as np
import pytest

from facemask import config
from facemask.evaluation.dataset import load_source, load_voc_dir
from facemask.imageio import load_image
from facemask.training import TRAIN_PHOTOS
from facemask.training.closeups import dhash, group_near_duplicates, main_face
from facemask.training.photos import training_photos
from facemask.training.synthetic_masks import MaskDonor, draw_synthetic_mask
from facemask.vision.detectors import YuNetDetector


def stems(annotations):
    return {a.image_path.stem for a in annotations}


def test_the_shipped_model_trains_on_train_and_val_of_every_source_and_reports_on_holdout():
    training, report = training_photos(TRAIN_PHOTOS, None)
    assert TRAIN_PHOTOS == "train+val"
    for source, (_, annotations) in config.SOURCES.items():
        holdout = stems(load_source(source, "holdout"))
        mine = [a for a in training + report if a.source == source]
        assert len(mine) == len(list(annotations.glob("*.xml"))), source
        assert stems(a for a in report if a.source == source) == holdout
        assert not stems(a for a in training if a.source == source) & holdout


@pytest.mark.parametrize("k", [3, 5])
def test_cross_validation_folds_cut_the_training_photos_into_disjoint_parts(k):
    everything = {(a.source, a.image_path.stem) for s in config.SOURCES for a in load_source(s, TRAIN_PHOTOS)}
    holdout = {(a.source, a.image_path.stem) for s in config.SOURCES for a in load_source(s, "holdout")}
    seen = set()
    for i in range(k):
        training, report = ({(a.source, a.image_path.stem) for a in part}
                            for part in training_photos(TRAIN_PHOTOS, (i, k)))
        assert training | report == everything and not training & report
        assert not (training | report) & holdout
        assert not report & seen, "a photo in two folds"
        assert len(report) > len(everything) / (2 * k), "folds of very uneven size"
        seen |= report
    assert seen == everything


def test_a_recompressed_copy_of_a_photo_lands_in_its_split_and_fold(tmp_path):
    # two copies of one scene must never straddle training and evaluation
    from facemask.evaluation.dataset import cv_fold, photo_groups, split_of

    first, other = sorted(config.EXTRA_ANNOTATIONS.glob("*.xml"))[:2]
    images, annotations = tmp_path / "images", tmp_path / "annotations"
    images.mkdir(), annotations.mkdir()
    original = load_image(config.EXTRA_IMAGES / f"{first.stem}.jpg")
    copy = cv2.convertScaleAbs(cv2.resize(original, None, fx=0.8, fy=0.8), alpha=1.05, beta=6)
    cv2.imwrite(str(images / f"{first.stem}.jpg"), original)
    cv2.imwrite(str(images / "zz_copy.jpg"), copy, [cv2.IMWRITE_JPEG_QUALITY, 60])
    cv2.imwrite(str(images / f"{other.stem}.jpg"), load_image(config.EXTRA_IMAGES / f"{other.stem}.jpg"))
    for stem, xml in ((first.stem, first), ("zz_copy", first), (other.stem, other)):
        text = re.sub(r"<filename>[^<]*</filename>", f"<filename>{stem}.jpg</filename>", xml.read_text())
        (annotations / f"{stem}.xml").write_text(text)
    groups = photo_groups(images)
    assert groups["zz_copy"] == groups[first.stem] == first.stem and groups[other.stem] == other.stem
    everything = load_voc_dir(images, annotations, "train+val+holdout")
    assert {a.image_path.stem: a.group for a in everything}["zz_copy"] == first.stem
    assert split_of(first.stem) in {"train", "val", "holdout"}
    for k in (3, 5):
        fold = cv_fold(first.stem, k)
        assert {a.image_path.stem for a in load_voc_dir(images, annotations, None, fold=("in", fold, k))} >= {
            first.stem, "zz_copy"}


def test_near_duplicate_close_ups_fall_in_one_group():
    files = sorted((config.CLASSIFICATION_DIR / "with_mask").glob("*"))[:2]
    a, b = (load_image(f) for f in files)
    ok, jpeg = cv2.imencode(".jpg", a, [cv2.IMWRITE_JPEG_QUALITY, 40])
    recompressed = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    brighter = cv2.convertScaleAbs(a, alpha=1.0, beta=12)
    groups = group_near_duplicates([dhash(x) for x in (a, recompressed, brighter, b)])
    assert groups[0] == groups[1] == groups[2]
    assert groups[3] != groups[0]


def mask_donors(detector, count=6):
    """Masked close-ups whose face YuNet finds with landmarks: the real masks transplanted in training."""
    donors = []
    for path in sorted((config.CLASSIFICATION_DIR / "with_mask").glob("*"))[:30]:
        image = load_image(path)
        box, landmarks = main_face(image, detector)
        if landmarks is not None and box[2] - box[0] >= 60:
            donors.append(MaskDonor(image, box, landmarks))
    assert len(donors) >= count
    return donors[:count]


def changed(before, after, where) -> float:
    """Mean absolute change of the pixels at `where`."""
    return float(np.abs(after[where].astype(int) - before[where]).mean())


@pytest.mark.parametrize("rendering", ["painted", "transplanted"])
def test_synthetic_masks_cover_the_nose_only_when_worn_correctly(rendering):
    detector = YuNetDetector(threshold=0.5)
    donors = mask_donors(detector) if rendering == "transplanted" else [None]
    checked = 0
    for path in sorted((config.CLASSIFICATION_DIR / "without_mask").glob("*"))[:12]:
        image = load_image(path)
        box, landmarks = main_face(image, detector)
        if landmarks is None or box[2] - box[0] < 60:
            continue
        nose = landmarks[2].astype(int)
        patch = np.s_[nose[1] - 4:nose[1] + 1, nose[0] - 2:nose[0] + 3]  # the nose tip and just above
        mouth = landmarks[3:5].mean(axis=0).astype(int)
        for seed in range(4):
            donor = donors[seed % len(donors)]
            right = draw_synthetic_mask(image, box, landmarks, np.random.default_rng(seed), donor=donor)
            wrong = draw_synthetic_mask(image, box, landmarks, np.random.default_rng(seed), worn_incorrectly=True,
                                        donor=donor)
            assert changed(image, right, patch) > 10, "a correctly worn mask leaves the nose bare"
            assert changed(image, wrong, patch) < 3, "a mask worn incorrectly covers the nose"
            below = int(min((mouth[1] + box[3]) / 2, image.shape[0] - 3))  # between mouth and chin
            chin = np.s_[below - 2:below + 3, mouth[0] - 2:mouth[0] + 3]
            assert min(changed(image, right, chin), changed(image, wrong, chin)) > 4, "no mask drawn below the mouth"
        checked += 1
    assert checked >= 5


def test_a_mask_pulled_down_keeps_its_length_and_hangs_below_the_chin():
    """Real masks worn under the nose or on the chin reach past the chin; a painted one squeezed
    between the mouth and the chin would teach a shape no one wears."""
    from facemask.training.synthetic_masks import WORN_TOP, _face_lines, place_mask

    detector = YuNetDetector(threshold=0.5)
    checked = 0
    for path in sorted((config.CLASSIFICATION_DIR / "without_mask").glob("*"))[:12]:
        box, landmarks = main_face(load_image(path), detector)
        if landmarks is None:
            continue
        eyes_y, nose, _, chin_y, _, _ = _face_lines(box, landmarks)
        worn_length = chin_y - (eyes_y + WORN_TOP * (nose[1] - eyes_y))
        rng = np.random.default_rng(checked)
        for _ in range(20):
            right = place_mask(box, landmarks, rng)
            wrong = place_mask(box, landmarks, rng, worn_incorrectly=True)
            assert right.anchors[2, 1] == pytest.approx(chin_y), "a mask worn correctly ends at the chin"
            assert wrong.anchors[2, 1] > chin_y, "a mask pulled down still ends at the chin"
            assert wrong.anchors[2, 1] - wrong.top >= 0.3 * worn_length, "a mask pulled down shrank"
        checked += 1
    assert checked >= 5


@pytest.fixture(scope="module")
def train_photo_boxes():
    """YuNet's candidate boxes, as serving scores them, on 20 train photos."""
    from facemask.training.photos import detector_boxes
    from facemask.vision.detectors import create_detector

    annotations = load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, "train")[:20]
    detector = create_detector("yunet", fallback=False, threshold=config.CANDIDATE_THRESHOLD)
    return annotations, detector_boxes(annotations, detector)


def test_detector_boxes_on_no_annotated_face_are_taught_as_not_a_face(train_photo_boxes):
    from facemask.detections import iou_matrix
    from facemask.training.photos import load_real_faces
    from facemask.training.recipe import FACE_BOX_MIN_SCORE, NOT_A_FACE, NOT_A_FACE_MAX_IOU, NOT_A_FACE_MIN_SCORE

    annotations, detections = train_photo_boxes
    boxes = load_real_faces(annotations, detections)
    by_photo = {}
    for image, box, label in boxes:
        by_photo.setdefault(id(image), []).append((box, label))
    assert len(by_photo) == len(annotations)
    junk = 0
    for ann, candidates, rows in zip(annotations, detections, by_photo.values()):
        found, scores = candidates.boxes, candidates.scores
        labelled = [(b, lab) for b, lab in rows if lab != NOT_A_FACE]
        # every annotated face is there with its label, then the detector's boxes on faces
        assert [lab for _, lab in labelled[:len(ann.class_id)]] == ann.class_id.tolist()
        for box, label in rows[len(ann.class_id):]:
            score = scores[np.flatnonzero((found == box).all(axis=1))[0]]
            ious = iou_matrix(box[None], ann.xyxy)[0]
            if label == NOT_A_FACE:
                junk += 1
                assert ious.max() < NOT_A_FACE_MAX_IOU and score >= NOT_A_FACE_MIN_SCORE
            else:
                assert ann.class_id[int(np.argmax(ious))] == label and ious.max() >= 0.5
                assert score >= FACE_BOX_MIN_SCORE
    assert junk >= 20, "the detector's false alarms on these photos should be found"


def test_face_score_calibration_matches_how_often_boxes_land_on_faces(train_photo_boxes):
    from facemask.detections import iou_matrix
    from facemask.training.photos import calibrate_face_scores
    from facemask.vision import calibration

    annotations, detections = train_photo_boxes
    fitted = calibrate_face_scores(annotations, detections)
    assert fitted["detector"] == "yunet" and fitted["slope"] > 0
    scores = np.concatenate([found.scores for found in detections])
    on_face = np.concatenate([iou_matrix(found.boxes, a.xyxy).max(axis=1) >= 0.5
                              for a, found in zip(annotations, detections)])
    assert fitted["boxes"] == len(scores) and fitted["boxes_on_faces"] == on_face.sum()
    predicted = calibration.apply(scores, fitted, "yunet")
    assert np.all(np.diff(predicted[np.argsort(scores)]) >= 0), "a higher score is never a smaller chance"
    # in each quarter of the boxes by score, the predicted chance is the share that lies on a face
    for part in np.array_split(np.argsort(scores), 4):
        assert abs(predicted[part].mean() - on_face[part].mean()) < 0.1
    # the raw score overstates it in the middle: most boxes scored 0.4-0.8 lie on no annotated face
    middle = (scores >= 0.4) & (scores < 0.8)
    assert middle.sum() >= 10 and on_face[middle].mean() < scores[middle].mean() - 0.2
    assert predicted[middle].mean() < scores[middle].mean() - 0.2
    assert np.array_equal(calibration.apply(scores, fitted, "ssd"), scores), "another detector's scores stay"


def test_the_box_fit_moves_the_boxes_it_was_fitted_on_towards_their_annotated_faces(train_photo_boxes):
    from facemask.detections import iou_matrix
    from facemask.training.photos import fit_face_boxes
    from facemask.vision import box_fit

    annotations, detections = train_photo_boxes
    fitted = fit_face_boxes(annotations, detections)
    assert fitted["detector"] == "yunet" and np.array(fitted["coefficients"]).shape == (14, 4)
    before, after = [], []
    for ann, found in zip(annotations, detections):
        reported = box_fit.apply(found, fitted, "yunet", 10_000, 10_000)
        assert reported.shape == found.boxes.shape and np.all(reported[:, 2:] > reported[:, :2])
        ious = iou_matrix(found.boxes, ann.xyxy)
        on_face = ious.max(axis=1) > box_fit.MATCH_IOU  # the boxes the fit saw, each with its face
        faces = ann.xyxy[ious.argmax(axis=1)[on_face]]
        before += [iou_matrix(b[None], f[None])[0, 0] for b, f in zip(found.boxes[on_face], faces)]
        after += [iou_matrix(b[None], f[None])[0, 0] for b, f in zip(reported[on_face], faces)]
    assert len(before) >= 50 and np.mean(after) > np.mean(before) + 0.01, (np.mean(before), np.mean(after))
    found = detections[0]
    assert np.array_equal(box_fit.apply(found, fitted, "ssd", 10_000, 10_000), found.boxes), "another detector's stay"
    assert np.array_equal(box_fit.apply(found, None, "yunet", 10_000, 10_000), found.boxes), "no fit: boxes stay"


def test_training_targets_weigh_the_classes_alike_and_send_junk_to_the_not_a_face_output():
    from facemask.training.fit import training_targets
    from facemask.training.recipe import NOT_A_FACE

    labels = np.array([0] * 60 + [1] * 30 + [2] * 10 + [NOT_A_FACE] * 5)
    targets, weights, class_weight = training_targets(labels)
    totals = [weights[labels == c].sum() for c in range(3)]
    assert np.allclose(totals, totals[0])
    assert targets.shape == (len(labels), 4) and np.allclose(targets.sum(axis=1), 1)
    assert np.all(targets[labels == NOT_A_FACE].argmax(axis=1) == 3) and np.all(weights[labels == NOT_A_FACE] == 1)
    assert np.array_equal(targets[labels != NOT_A_FACE].argmax(axis=1), labels[labels != NOT_A_FACE])
    assert class_weight[2] > class_weight[1] > class_weight[0]


def test_masks_are_drawn_on_the_unmasked_faces_of_the_training_photos():
    from facemask.training.photos import photo_face_landmarks
    from facemask.training.recipe import PHOTO_MASKS_PER_FACE
    from facemask.training.samples import photo_mask_samples

    annotations = load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, "train")[:40]
    yunet = YuNetDetector(threshold=0.5).model
    unmasked = found = 0
    for ann in annotations:
        image = load_image(ann.image_path)
        for box in ann.xyxy[ann.class_id == 1]:
            unmasked += 1
            hit = photo_face_landmarks(image, box, yunet)
            if hit is None:
                continue
            found += 1
            _, _, offset, scale, _, landmarks = hit
            # the landmarks, back in the photo's pixels, lie on the annotated face
            eyes_nose_mouth = landmarks / scale + offset
            assert np.all(eyes_nose_mouth >= box[:2] - 0.2 * (box[2] - box[0]))
            assert np.all(eyes_nose_mouth <= box[2:] + 0.2 * (box[2] - box[0]))
    assert unmasked >= 20 and found >= 0.7 * unmasked, "YuNet should find most unmasked faces, small ones too"
    samples = photo_mask_samples(annotations, np.random.default_rng(0), config.CROP_SIZE)
    labels = np.array([s.label for s in samples])
    assert len(samples) == found * sum(PHOTO_MASKS_PER_FACE.values())
    for label, count in PHOTO_MASKS_PER_FACE.items():
        assert np.sum(labels == label) == found * count
    assert all(s.crop.shape == (config.CROP_SIZE, config.CROP_SIZE, 3) for s in samples)


def test_live_mode_is_calibrated_on_the_photos_as_a_camera_films_them():
    from facemask.detections import iou_matrix
    from facemask.training.photos import calibrate_face_scores, live_passes, training_photos

    photos = [a for a in training_photos("train", (0, 3))[0] if a.source == "extra" and len(a.xyxy)][:12]
    pairs = live_passes(photos)
    assert len(pairs) == len(photos) * len(set(config.LIVE_MAX_SIDE.values()))
    overlaps = []
    for ann, found in pairs:  # boxes come back in the photo's own pixels, on its annotated faces
        if len(found.boxes):
            overlaps += list(iou_matrix(ann.xyxy, found.boxes).max(axis=1))
    assert np.mean(np.array(overlaps) >= 0.5) > 0.5
    fitted = calibrate_face_scores([a for a, _ in pairs], [f for _, f in pairs])
    assert fitted["detector"] == "yunet" and fitted["boxes"] == sum(len(f.boxes) for _, f in pairs)
