"""Stage 2: the annotated photos of every source -> their annotated faces, the detector's boxes on them (faces and
not-a-face junk), the detector score's calibration as P(face), the fit of where a face's box is reported,
and the landmarks of their faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facemask import config
from facemask.errors import FacemaskError
from facemask.evaluation.dataset import load_source
from facemask.imageio import fit_into_frame, load_image
from facemask.training.closeups import yunet_faces
from facemask.training.recipe import (
    FACE_BOX_MIN_SCORE,
    LANDMARK_FACE_SIDE,
    NOT_A_FACE,
    NOT_A_FACE_MAX_IOU,
    NOT_A_FACE_MIN_SCORE,
)


def training_photos(photos: str, fold: tuple[int, int] | None, sources=tuple(config.SOURCES)):
    """(training photos, report photos) over every photo source: those whose faces are trained on,
    and those that score the classifier in the training report, never one of the training photos.

    Without a fold: the splits named in `photos` train, the other splits report. With fold (i, k):
    the photos of `photos` outside fold i train, those in it report. Each source is cut the same way.
    """
    from facemask.evaluation.dataset import SPLIT_BOUNDS

    training, report = [], []
    for source in sources:
        if fold:
            i, k = fold
            training += load_source(source, photos, fold=("out", i, k))
            report += load_source(source, photos, fold=("in", i, k))
            continue
        rest = "+".join(s for s in SPLIT_BOUNDS if s not in photos.split("+"))
        training += load_source(source, photos)
        report += load_source(source, rest) if rest else []
    return training, report


def serving_detector(weights=None):
    """The detector serving runs in photo mode, every candidate down to CANDIDATE_THRESHOLD: the stock YuNet,
    or the fine-tuned one at `weights`."""
    from facemask.vision.detectors import create_detector

    return create_detector(config.DEFAULT_DETECTOR, fallback=False, threshold=config.CANDIDATE_THRESHOLD,
                           weights=weights)


def weights_digest(weights) -> str:
    """A short digest of a detector weights file ('' for the stock detector), for cache keys."""
    import hashlib

    return hashlib.sha1(Path(weights).read_bytes()).hexdigest()[:12] if weights else ""


def detector_boxes(annotations, detector) -> list:
    """The detector's `FaceBoxes` on each photo, shared by the training crops, the face-score calibration
    and the box fit; kept in .cache per photo and detector setting, so folds and re-runs detect once."""
    import hashlib

    from facemask.vision.detectors import FaceBoxes

    settings = hashlib.sha1(repr(("fused, scale", detector.name, detector.passes, detector.threshold,
                                  detector.box_scale, detector.max_upscale, detector.merge_iou,
                                  config.BOX_FUSION_IOU, config.BOX_FUSION_MIN_SCORE)).encode()).hexdigest()[:12]
    if getattr(detector, "weights", config.YUNET_WEIGHTS) != config.YUNET_WEIGHTS:  # a fine-tuned network
        settings += "-" + weights_digest(detector.weights)
    folder = config.CACHE_DIR / "detector_boxes" / settings
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for ann in annotations:
        path = folder / f"{ann.source or 'photo'}-{ann.image_path.stem}.npz"
        if path.exists():
            with np.load(path) as saved:
                out.append(FaceBoxes(*(saved[name] for name in FaceBoxes._fields)))
            continue
        found = detector.find(load_image(ann.image_path))
        np.savez(path, **found._asdict())
        out.append(found)
    return out


def fit_face_boxes(annotations, detections) -> dict:
    """Where a face's box is reported (facemask/vision/box_fit.py), fitted on every candidate box of these photos
    that overlaps an annotated face by IoU > box_fit.MATCH_IOU, paired with the face it overlaps most."""
    from facemask.detections import iou_matrix
    from facemask.vision import box_fit

    fused, landmarks, scale, annotated = [], [], [], []
    for ann, found in zip(annotations, detections):
        if not len(ann.xyxy) or not len(found.boxes):
            continue
        ious = iou_matrix(found.boxes, ann.xyxy)
        on_face = ious.max(axis=1) > box_fit.MATCH_IOU
        fused.append(found.fused[on_face])
        landmarks.append(found.landmarks[on_face])
        scale.append(found.scale[on_face])
        annotated.append(np.asarray(ann.xyxy, np.float64)[ious.argmax(axis=1)[on_face]])
    if not fused:
        raise FacemaskError("No detector box overlaps an annotated face of the training photos: "
                            "the box fit has nothing to learn from.")
    return box_fit.fit(np.concatenate(fused), np.concatenate(landmarks), np.concatenate(scale),
                       np.concatenate(annotated), config.DEFAULT_DETECTOR)


def face_box_fit(photos: str, fold, detector_weights=None) -> dict:
    """`fit_face_boxes` on the training photos of `photos` and `fold` (`training_photos`), with the
    detector serving uses; its boxes come from the cache `detector_boxes` keeps."""
    train_photos, _ = training_photos(photos, fold)
    detector = serving_detector(detector_weights)
    return fit_face_boxes(train_photos, detector_boxes(train_photos, detector))


def load_real_faces(annotations, detections=None):
    """Faces of some dev photos as (image, box, label): the annotated boxes and, with the detector's
    boxes on those photos (`detector_boxes`), these too: those that match an annotated face (IoU >=
    0.5, score >= FACE_BOX_MIN_SCORE) with that face's label, the crops serving will see; and those
    on no annotated face (background, a hand, half a face) as NOT_A_FACE, the junk serving will also
    send."""
    from facemask.detections import iou_matrix

    out = []
    for k, ann in enumerate(annotations):
        image = load_image(ann.image_path)
        for box, label in zip(ann.xyxy, ann.class_id):
            out.append((image, box, int(label)))
        if detections is None:
            continue
        boxes, scores = detections[k].boxes, detections[k].scores
        ious = iou_matrix(boxes, ann.xyxy) if len(ann.xyxy) else np.zeros((len(boxes), 1))
        for i in range(len(boxes)):
            j = int(np.argmax(ious[i]))
            if ious[i, j] >= 0.5 and scores[i] >= FACE_BOX_MIN_SCORE:
                out.append((image, boxes[i], int(ann.class_id[j])))
            elif ious[i, j] < NOT_A_FACE_MAX_IOU and scores[i] >= NOT_A_FACE_MIN_SCORE:
                out.append((image, boxes[i], NOT_A_FACE))
    return out


def calibrate_face_scores(annotations, detections) -> dict:
    """The detector's score as P(on a face) (facemask/vision/calibration.py), fitted on every candidate box
    of these photos: on a face when it overlaps an annotated one with IoU >= 0.5."""
    from facemask.detections import iou_matrix
    from facemask.vision import calibration

    scores, on_face = [], []
    for ann, found in zip(annotations, detections):
        boxes = found.boxes
        scores.append(found.scores)
        best = iou_matrix(boxes, ann.xyxy).max(axis=1) if len(ann.xyxy) and len(boxes) else np.zeros(len(boxes))
        on_face.append(best >= 0.5)
    return calibration.fit(np.concatenate(scores), np.concatenate(on_face), config.DEFAULT_DETECTOR)


def live_passes(annotations, detector_weights=None) -> list:
    """Live mode's candidates on each photo as a camera would film it: the photo fitted into its collection's
    frame (config.LIVE_FRAMES), then the detector's one pass at each live source's size (config.LIVE_MAX_SIDE);
    `FaceBoxes` in the photo's pixels, one list per distinct size, photo by photo."""
    from facemask.vision.detectors import FaceBoxes, create_detector

    sizes = sorted(set(config.LIVE_MAX_SIDE.values()))
    detectors = [create_detector(config.DEFAULT_DETECTOR, fallback=False, threshold=config.CANDIDATE_THRESHOLD,
                                 weights=detector_weights, min_side=0, max_side=side) for side in sizes]
    out = []
    for ann in annotations:
        image = load_image(ann.image_path)
        frame, factor = fit_into_frame(image, config.LIVE_FRAMES.get(ann.source, config.LIVE_FRAMES["dev"]))
        for detector in detectors:
            found = detector.find(frame)
            out.append((ann, FaceBoxes(found.boxes / factor, found.scores, found.fused / factor,
                                       found.landmarks / factor, found.scale * factor)))
    return out


def live_face_calibration(photos: str, fold, detector_weights=None) -> dict:
    """P(face) for live mode (`Pipeline(live=...)`), fitted as photo mode's is but on live mode's own passes
    over the training photos (`live_passes`): one pass at a frame's size scores faces lower than photo mode's."""
    train_photos, _ = training_photos(photos, fold)
    pairs = live_passes(train_photos, detector_weights)
    return calibrate_face_scores([ann for ann, _ in pairs], [found for _, found in pairs])


def photo_face_landmarks(image: np.ndarray, box: np.ndarray, yunet):
    """The neighbourhood of the annotated face at `box`, as cut from the photo and enlarged so that
    a small face is seen, with YuNet's box and 5 landmarks of that face in the enlarged copy:
    (region, enlarged, offset, scale, box, landmarks), or None when YuNet finds no face on the
    annotated one."""
    from facemask.detections import iou_matrix

    side = float(max(box[2] - box[0], box[3] - box[1], 1))
    x0, y0 = int(max(box[0] - side, 0)), int(max(box[1] - side, 0))
    region = image[y0:int(box[3] + side) + 1, x0:int(box[2] + side) + 1]
    scale = max(1.0, LANDMARK_FACE_SIDE / side)
    big = cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else region
    faces = yunet_faces(yunet, big)
    if len(faces) == 0:
        return None
    offset = np.array([x0, y0], np.float32)
    target = (np.asarray(box, np.float32) - np.tile(offset, 2)) * scale
    found = np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:4]], axis=1)
    ious = iou_matrix(found, target[None])[:, 0]
    j = int(np.argmax(ious))
    if ious[j] < 0.4:
        return None
    return region, big, offset, scale, found[j], faces[j, 4:14].reshape(5, 2)
