"""`facemask train`: folder dataset + real face crops + synthetic masks -> the shipped classifier.

Reads top to bottom: data -> augmentation -> cached backbone features -> fit the top -> evaluate
-> save model, metrics and plots. The backbone's lower blocks stay frozen, so their output is
computed once per crop and cached; only the upper blocks and the head are trained.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facemask import config
from facemask.classifier import split_outputs
from facemask.crops import crop_faces
from facemask.dataset import load_voc_dir
from facemask.detectors import YuNetDetector
from facemask.errors import FacemaskError
from facemask.imageio import load_image
from facemask.synthetic import MaskDonor, draw_synthetic_mask

# --- the numbers that matter ---
SEED = 1337
HEAD_EPOCHS = 4  # phase 1: only the new classification layer learns
EPOCHS = 6  # phase 2: the upper backbone blocks learn too, at a lower rate
BATCH_SIZE = 64
HEAD_LEARNING_RATE = 1e-3
LEARNING_RATE = 1e-4
TRAIN_PHOTOS = "train+val"  # the dev splits whose faces are trained on; holdout never is
CUT_LAYER = "block_3_expand"  # layers before it are frozen and cached; from it on are trained
CLOSEUP_VARIANTS = 2  # augmented copies per close-up photo
NOT_A_FACE = -1  # label of a detector box on no annotated face: trained towards the not-a-face output
OUTPUTS = (*config.CLASS_NAMES, config.NOT_A_FACE_OUTPUT)  # the classifier's outputs, in order
REAL_VARIANTS = {0: 2, 1: 5, 2: 20, NOT_A_FACE: 2}  # copies per real box, by class (rare classes get more)
FACE_BOX_MIN_SCORE = 0.5  # detector boxes on an annotated face are trained on from this score (its default)
NOT_A_FACE_MIN_SCORE = 0.3  # detector boxes this sure of a face, yet on none, teach the classifier junk
NOT_A_FACE_MAX_IOU = 0.3  # ... when they overlap every annotated face less than this
LABEL_SMOOTHING = 0.1
SYNTHETIC_PER_FACE = {0: 1, 2: 1}  # painted masks per unmasked close-up: correct, below the nose
TRANSPLANT_PER_FACE = {0: 1, 2: 1}  # real masks from masked close-ups, per unmasked close-up, likewise
PHOTO_MASKS_PER_FACE = {0: 2, 2: 4}  # masks drawn on each unmasked face of the training photos, likewise
LANDMARK_FACE_SIDE = 128  # a photo's face is enlarged to about this width for YuNet to find its landmarks
VAL_SHARE = 0.15  # share of near-duplicate groups of close-ups held out for validation
DHASH_RADIUS = 10  # close-ups within this many bits of difference hash are one group


@dataclass
class Sample:
    crop: np.ndarray  # (S, S, 3) uint8 RGB
    label: int  # index into config.CLASS_NAMES, or NOT_A_FACE
    source: str  # closeup | real | synthetic (painted mask) | transplant (real mask from another close-up)
    # | photo_synthetic (either kind of mask, drawn on an unmasked face of a training photo)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- data
def dhash(image_bgr: np.ndarray) -> int:
    gray = cv2.resize(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), (9, 8), interpolation=cv2.INTER_AREA)
    bits = (gray[:, 1:] > gray[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def group_near_duplicates(hashes: list[int], radius: int = DHASH_RADIUS) -> np.ndarray:
    """Union-find over pairs of images whose difference hashes differ in <= radius bits."""
    h = np.array(hashes, dtype=np.uint64)
    parent = np.arange(len(h))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(h)):
        x = np.bitwise_xor(h[i + 1:], h[i])
        dist = np.array([bin(int(v)).count("1") for v in x]) if len(x) else np.zeros(0)
        for j in np.nonzero(dist <= radius)[0] + i + 1:
            a, b = find(i), find(int(j))
            if a != b:
                parent[b] = a
    return np.array([find(i) for i in range(len(h))])


def load_closeups(folder: Path, detector: YuNetDetector, rng: np.random.Generator):
    """Close-up photos -> face crops (cut the same way as the pipeline) + landmarks + group split."""
    items = []
    for label, name in enumerate(("with_mask", "without_mask")):
        files = sorted((folder / name).glob("*"))
        if not files:
            raise FacemaskError(f"{folder / name}: no pictures found.")
        for path in files:
            try:
                image = load_image(path)
            except FacemaskError as exc:
                log(f"skipped {exc}")
                continue
            box, landmarks = main_face(image, detector)
            # keep only the face and a margin around it: thousands of full photos would not fit in memory
            side = max(box[2] - box[0], box[3] - box[1])
            x0, y0 = int(max(box[0] - side, 0)), int(max(box[1] - side, 0))
            region = image[y0:int(box[3] + side), x0:int(box[2] + side)].copy()
            offset = np.array([x0, y0], np.float32)
            box = box - np.tile(offset, 2)
            landmarks = None if landmarks is None else landmarks - offset
            items.append((region, box, landmarks, label, dhash(image)))
    groups = group_near_duplicates([it[4] for it in items])
    unique = np.unique(groups)
    val_groups = set(rng.choice(unique, size=int(len(unique) * VAL_SHARE), replace=False).tolist())
    is_val = np.array([g in val_groups for g in groups])
    log(f"close-ups: {len(items)} pictures in {len(unique)} near-duplicate groups; "
        f"{int(is_val.sum())} pictures held out for validation")
    return items, is_val


def yunet_faces(yunet, image: np.ndarray) -> np.ndarray:
    """YuNet's raw rows on the whole image (x, y, w, h, 5 landmarks, score), score >= 0.5."""
    yunet.setInputSize((image.shape[1], image.shape[0]))
    _, faces = yunet.detect(image)
    if faces is None:
        return np.zeros((0, 15), np.float32)
    # YuNet has been seen to return a row of NaN now and then
    return faces[np.isfinite(faces).all(axis=1) & (faces[:, -1] >= 0.5) & (faces[:, 2] > 1) & (faces[:, 3] > 1)]


def main_face(image: np.ndarray, detector: YuNetDetector):
    """The largest face YuNet finds in a close-up, with its 5 landmarks; else the whole picture."""
    height, width = image.shape[:2]
    faces = yunet_faces(detector.model, image)
    detector._size = (width, height)  # the input size yunet_faces set
    if len(faces) == 0:
        side = min(height, width)
        return np.array([(width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2],
                        np.float32), None
    f = faces[np.argmax(faces[:, 2] * faces[:, 3])]
    box = np.array([f[0], f[1], f[0] + f[2], f[1] + f[3]], np.float32)
    return box, f[4:14].reshape(5, 2)


def detector_boxes(annotations, detector) -> list[tuple[np.ndarray, np.ndarray]]:
    """The detector's (boxes, scores) on each photo, run once and shared by the training crops and
    the face-score calibration."""
    return [detector.detect(load_image(ann.image_path)) for ann in annotations]


def load_real_faces(annotations, detections=None):
    """Faces of some dev photos as (image, box, label): the annotated boxes and, with the detector's
    boxes on those photos (`detector_boxes`), these too: those that match an annotated face (IoU >=
    0.5, score >= FACE_BOX_MIN_SCORE) with that face's label, the crops serving will see; and those
    on no annotated face (background, a hand, half a face) as NOT_A_FACE, the junk serving will also
    send."""
    from facemask.metrics import iou_matrix

    out = []
    for k, ann in enumerate(annotations):
        image = load_image(ann.image_path)
        for box, label in zip(ann.xyxy, ann.class_id):
            out.append((image, box, int(label)))
        if detections is None:
            continue
        boxes, scores = detections[k]
        ious = iou_matrix(boxes, ann.xyxy) if len(ann.xyxy) else np.zeros((len(boxes), 1))
        for i in range(len(boxes)):
            j = int(np.argmax(ious[i]))
            if ious[i, j] >= 0.5 and scores[i] >= FACE_BOX_MIN_SCORE:
                out.append((image, boxes[i], int(ann.class_id[j])))
            elif ious[i, j] < NOT_A_FACE_MAX_IOU and scores[i] >= NOT_A_FACE_MIN_SCORE:
                out.append((image, boxes[i], NOT_A_FACE))
    return out


def calibrate_face_scores(annotations, detections) -> dict:
    """The detector's score as P(on a face) (facemask/calibration.py), fitted on every candidate box
    of these photos: on a face when it overlaps an annotated one with IoU >= 0.5."""
    from facemask import calibration
    from facemask.metrics import iou_matrix

    scores, on_face = [], []
    for ann, (boxes, box_scores) in zip(annotations, detections):
        scores.append(box_scores)
        best = iou_matrix(boxes, ann.xyxy).max(axis=1) if len(ann.xyxy) and len(boxes) else np.zeros(len(boxes))
        on_face.append(best >= 0.5)
    return calibration.fit(np.concatenate(scores), np.concatenate(on_face), config.DEFAULT_DETECTOR)


def dev_photos(photos: str, fold: tuple[int, int] | None):
    """(training photos, report photos): the dev photos whose faces are trained on, and those that
    score the classifier in the training report, never one of the training photos.

    Without a fold: the splits named in `photos` train, the other splits report. With fold (i, k):
    the photos of `photos` outside fold i train, those in it report.
    """
    from facemask.dataset import SPLIT_BOUNDS

    if fold:
        i, k = fold
        return (load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, photos, fold=("out", i, k)),
                load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, photos, fold=("in", i, k)))
    rest = "+".join(s for s in SPLIT_BOUNDS if s not in photos.split("+"))
    return (load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, photos),
            load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, rest) if rest else [])


# ----------------------------------------------------------------------------- augmentation
def jitter_box(box: np.ndarray, rng: np.random.Generator, amount: float = 0.08) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    dx, dy = rng.uniform(-amount, amount, 2) * (w, h)
    s = rng.uniform(1 - amount, 1 + amount)
    cx, cy = (box[0] + box[2]) / 2 + dx, (box[1] + box[3]) / 2 + dy
    return np.array([cx - w * s / 2, cy - h * s / 2, cx + w * s / 2, cy + h * s / 2], np.float32)


def degrade(crop: np.ndarray, rng: np.random.Generator, small_face_p: float) -> np.ndarray:
    """Photometric changes and, often, the blur of a small far-away face."""
    out = crop
    if rng.random() < 0.5:
        out = out[:, ::-1]
    angle = rng.uniform(-12, 12)
    size = out.shape[0]
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
    out = cv2.warpAffine(np.ascontiguousarray(out), matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
    out = out.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30)
    if rng.random() < 0.3:  # colour cast
        out = out * rng.uniform(0.85, 1.15, 3)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < small_face_p:
        side = int(rng.integers(12, 40))
        out = cv2.resize(cv2.resize(out, (side, side), interpolation=cv2.INTER_AREA), (size, size),
                         interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.2:
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 80))])
        out = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
    return out


def closeup_samples(closeups, is_val, rng: np.random.Generator, size: int) -> list[Sample]:
    """Augmented copies of the training close-ups, plus masks drawn on their unmasked faces: painted,
    and real ones transplanted from the masked training close-ups (never from validation ones)."""
    donors = [MaskDonor(image, box, landmarks) for (image, box, landmarks, label, _), val in zip(closeups, is_val)
              if label == 0 and landmarks is not None and not val]
    samples: list[Sample] = []
    for (image, box, landmarks, label, _), val in zip(closeups, is_val):
        if val:
            continue
        for _ in range(CLOSEUP_VARIANTS):
            crop = crop_faces(image, jitter_box(box, rng)[None], size)[0]
            samples.append(Sample(degrade(crop, rng, 0.5), label, "closeup"))
        if label != 1 or landmarks is None:
            continue
        # unmasked face: draw masks on it, each rendering at both heights
        for per_face, source in ((SYNTHETIC_PER_FACE, "synthetic"), (TRANSPLANT_PER_FACE, "transplant")):
            for target, count in per_face.items():
                for _ in range(count):
                    donor = donors[rng.integers(len(donors))] if source == "transplant" and donors else None
                    masked = draw_synthetic_mask(image, box, landmarks, rng, worn_incorrectly=(target == 2),
                                                 donor=donor)
                    crop = crop_faces(masked, jitter_box(box, rng)[None], size)[0]
                    samples.append(Sample(degrade(crop, rng, 0.5), target, source))
    return samples


def real_samples(real_train, rng: np.random.Generator, size: int) -> list[Sample]:
    samples: list[Sample] = []
    for image, box, label in real_train:
        for _ in range(REAL_VARIANTS[label]):
            crop = crop_faces(image, jitter_box(box, rng)[None], size)[0]
            samples.append(Sample(degrade(crop, rng, 0.15), label, "real"))
    return samples


def photo_face_landmarks(image: np.ndarray, box: np.ndarray, yunet):
    """The neighbourhood of the annotated face at `box`, as cut from the photo and enlarged so that
    a small face is seen, with YuNet's box and 5 landmarks of that face in the enlarged copy:
    (region, enlarged, offset, scale, box, landmarks), or None when YuNet finds no face on the
    annotated one."""
    from facemask.metrics import iou_matrix

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


def photo_mask_samples(annotations, rng: np.random.Generator, size: int) -> list[Sample]:
    """Masks drawn on the unmasked faces of the training photos, as on the close-ups (correct and below
    the nose, painted or transplanted), with donors from the masked faces of the same photos: street
    light, blur and small faces as serving sees them. Each is drawn on the enlarged face, then brought
    back to the face's own resolution before it is cropped."""
    yunet = YuNetDetector(threshold=0.5).model
    unmasked, donors = [], []
    for ann in annotations:
        image = None
        for box, label in zip(ann.xyxy, ann.class_id):
            if label not in (0, 1) or (label == 0 and box[2] - box[0] < 32):
                continue
            image = load_image(ann.image_path) if image is None else image
            found = photo_face_landmarks(image, box, yunet)
            if found is None:
                continue
            region, big, offset, _, face_box, landmarks = found
            if label == 0:
                donors.append(MaskDonor(big, face_box, landmarks))
            else:
                unmasked.append((region, box - np.tile(offset, 2), big, face_box, landmarks))
    samples: list[Sample] = []
    for region, box, big, face_box, landmarks in unmasked:
        for target, count in PHOTO_MASKS_PER_FACE.items():
            for _ in range(count):
                donor = donors[rng.integers(len(donors))] if donors and rng.random() < 0.5 else None
                masked = draw_synthetic_mask(big, face_box, landmarks, rng, worn_incorrectly=(target == 2),
                                             donor=donor)
                if masked.shape[:2] != region.shape[:2]:
                    masked = cv2.resize(masked, (region.shape[1], region.shape[0]), interpolation=cv2.INTER_AREA)
                crop = crop_faces(masked, jitter_box(box, rng)[None], size)[0]
                samples.append(Sample(degrade(crop, rng, 0.15), target, "photo_synthetic"))
    log(f"photo faces: masks drawn on {len(unmasked)} unmasked faces, {len(donors)} masked donors "
        f"-> {len(samples)} crops")
    return samples


# ----------------------------------------------------------------------------- model
def build_backbone(size: int):
    import keras

    weights = str(config.BACKBONE_WEIGHTS) if config.BACKBONE_WEIGHTS.exists() else "imagenet"
    if weights == "imagenet":
        log("backbone weights not found locally; Keras will download the ImageNet weights")
    inputs = keras.Input((size, size, 3), name="face_rgb")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(inputs)
    base = keras.applications.MobileNetV2(input_shape=(size, size, 3), include_top=False, weights=weights)
    return inputs, x, base


def split_backbone(base):
    """Frozen lower part (cached) and trainable upper part + head, as two Keras models."""
    import keras

    cut = base.get_layer(CUT_LAYER)
    lower = keras.Model(base.input, cut.input, name="lower")
    upper_in = keras.Input(cut.input.shape[1:], name="lower_features")
    # rebuild the upper layers on a fresh input (same layer objects, same weights)
    tensors = {id(cut.input): upper_in}
    for layer in base.layers[base.layers.index(cut):]:
        inbound = layer._inbound_nodes[0].input_tensors
        args = [tensors[id(t)] for t in inbound]
        out = layer(args[0] if len(args) == 1 else args)
        tensors[id(layer.output)] = out
    x = keras.layers.GlobalAveragePooling2D(name="pool")(out)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    probs = keras.layers.Dense(len(OUTPUTS), activation="softmax", name="mask_class")(x)
    upper = keras.Model(upper_in, probs, name="upper")
    return lower, upper


def features(lower, crops: np.ndarray) -> np.ndarray:
    if len(crops) == 0:
        return np.zeros((0, *lower.output.shape[1:]), np.float32)
    out = []
    for i in range(0, len(crops), 256):
        batch = crops[i:i + 256].astype(np.float32) / 127.5 - 1.0
        out.append(np.asarray(lower(batch, training=False)))
    return np.concatenate(out)


# ----------------------------------------------------------------------------- main
def train(out_dir: Path = config.MODELS_DIR, plots_dir: Path = config.PLOTS_DIR,
          closeups_dir: Path = config.CLASSIFICATION_DIR, epochs: int = EPOCHS,
          size: int = config.CROP_SIZE, seed: int = SEED, photos: str = TRAIN_PHOTOS,
          fold: tuple[int, int] | None = None) -> dict:
    """Train the classifier on the close-ups and on the faces of the dev photos `photos` (minus
    cross-validation fold i of k when fold=(i, k)); write model, metrics and plots."""
    import keras

    started = time.time()
    keras.utils.set_random_seed(seed)
    out_dir, plots_dir = Path(out_dir), Path(plots_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _, _, base = build_backbone(size)
    lower, _ = split_backbone(base)
    lower.trainable = False

    # 1-3. data, augmentation (done once, offline) and the frozen lower backbone's features, cached
    # in two parts: the close-ups are the same for every run, the dev photos differ between folds
    close = cached(config.CACHE_DIR / f"train_closeups_{closeup_key(seed, size)}.npz",
                   lambda: closeup_features(lower, Path(closeups_dir), seed, size))
    real = cached(config.CACHE_DIR / f"train_real_{real_key(seed, size, photos, fold)}.npz",
                  lambda: real_features(lower, photos, fold, seed, size))
    data = {"y_train": np.concatenate([close["y_train"], real["y_train"]]),
            "f_train": np.concatenate([close["f_train"], real["f_train"]]),
            **{k: v for k, v in close.items() if k.endswith("_closeups")},
            **{k: v for k, v in real.items() if k.endswith("_real_photos")}}
    report_photos = f"fold {fold[0]} of {fold[1]} of {photos}" if fold else "the other dev splits"
    sources = {"closeups": str(closeups_dir),
               "real_photos": f"mask_detection_dev, {photos}" + (f" minus fold {fold[0]} of {fold[1]}" if fold else ""),
               "real_photo_report": f"mask_detection_dev, {report_photos}"}
    return fit_and_save(data, out_dir, plots_dir, sources, epochs, size, seed, started,
                        json.loads(str(real["face_calibration"])))


def cached(path: Path, make) -> dict:
    if path.exists():
        log(f"reusing cached crops and features from {path}")
        with np.load(path) as saved:
            return dict(saved)
    data = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    return data


def closeup_features(lower, closeups_dir: Path, seed: int, size: int) -> dict:
    rng = np.random.default_rng(seed)
    closeups, is_val = load_closeups(closeups_dir, YuNetDetector(threshold=0.5), rng)
    samples = closeup_samples(closeups, is_val, rng, size)
    y_train = np.array([s.label for s in samples])
    log(f"close-up training crops: {len(samples)} {label_counts(y_train)}")
    x_val = crop_faces_list([(it[0], it[1]) for it, v in zip(closeups, is_val) if v], size)
    t0 = time.time()
    out = {"y_train": y_train, "f_train": features(lower, np.stack([s.crop for s in samples])),
           "x_val_closeups": x_val, "y_val_closeups": np.array([it[3] for it, v in zip(closeups, is_val) if v]),
           "f_val_closeups": features(lower, x_val)}
    log(f"close-up backbone features {out['f_train'].shape} in {time.time() - t0:.0f} s")
    return out


def real_features(lower, photos: str, fold, seed: int, size: int) -> dict:
    from facemask.detectors import create_detector

    rng = np.random.default_rng([seed, 1])
    train_photos, report_photos = dev_photos(photos, fold)
    # every candidate box serving would score, down to CANDIDATE_THRESHOLD: the calibration sees them
    # all, the training crops only those above their own minimum scores
    detector = create_detector(config.DEFAULT_DETECTOR, fallback=False, threshold=config.CANDIDATE_THRESHOLD)
    detections = detector_boxes(train_photos, detector)
    face_score_calibration = calibrate_face_scores(train_photos, detections)
    log(f"face-score calibration on {face_score_calibration['boxes']} boxes: P(face) = "
        f"sigmoid({face_score_calibration['intercept']} + {face_score_calibration['slope']} logit(score))")
    real_train = load_real_faces(train_photos, detections)
    real_val = load_real_faces(report_photos)
    samples = real_samples(real_train, rng, size) + photo_mask_samples(train_photos, rng, size)
    y_train = np.array([s.label for s in samples])
    log(f"real faces: {len(real_train)} boxes from {len(train_photos)} training photos -> {len(samples)} crops "
        f"{label_counts(y_train)}; {len(real_val)} faces of {len(report_photos)} other photos for the report")
    x_val = crop_faces_list([(img, box) for img, box, _ in real_val], size)
    return {"y_train": y_train, "f_train": features(lower, np.stack([s.crop for s in samples])),
            "x_val_real_photos": x_val, "y_val_real_photos": np.array([lab for _, _, lab in real_val], np.int64),
            "f_val_real_photos": features(lower, x_val),
            "face_calibration": np.array(json.dumps(face_score_calibration))}


def label_counts(labels: np.ndarray) -> dict[str, int]:
    counts = {name: int(np.sum(labels == c)) for c, name in enumerate(config.CLASS_NAMES)}
    if np.any(labels == NOT_A_FACE):
        counts["not_a_face"] = int(np.sum(labels == NOT_A_FACE))
    return counts


def training_targets(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[int, float]]:
    """One-hot targets over OUTPUTS (NOT_A_FACE on the last one) and per-sample weights that give
    each mask class the same total weight (capped at 5x); NOT_A_FACE samples weigh 1."""
    n_classes = len(config.CLASS_NAMES)
    labelled = labels[labels != NOT_A_FACE]
    freq = np.bincount(labelled, minlength=n_classes) / len(labelled)
    class_weight = {c: float(min(1.0 / (n_classes * freq[c]), 5.0)) for c in range(n_classes)}
    output = np.where(labels == NOT_A_FACE, len(OUTPUTS) - 1, labels)
    targets = np.eye(len(OUTPUTS), dtype=np.float32)[output]
    weights = np.ones(len(labels), np.float32)
    for c in range(n_classes):
        weights[labels == c] = class_weight[c]
    return targets, weights, class_weight


def _code_digest(*parts) -> str:
    import hashlib

    digest = hashlib.sha1(repr(parts).encode())
    for module in ("synthetic.py", "crops.py", "train.py"):  # the code that draws and cuts the crops
        digest.update((Path(__file__).parent / module).read_bytes())
    return digest.hexdigest()[:12]


def closeup_key(seed: int, size: int) -> str:
    """Close-up crops and features depend only on these: a new key whenever one of them changes."""
    return _code_digest(seed, size, CLOSEUP_VARIANTS, SYNTHETIC_PER_FACE, TRANSPLANT_PER_FACE, CUT_LAYER,
                        DHASH_RADIUS, VAL_SHARE, config.CROP_PADDING)


def real_key(seed: int, size: int, photos: str, fold) -> str:
    return _code_digest(seed, size, photos, fold, REAL_VARIANTS, PHOTO_MASKS_PER_FACE, LANDMARK_FACE_SIDE,
                        FACE_BOX_MIN_SCORE, NOT_A_FACE_MIN_SCORE,
                        NOT_A_FACE_MAX_IOU, CUT_LAYER, config.CROP_PADDING, config.CANDIDATE_THRESHOLD,
                        config.DETECTOR_SETTINGS[config.DEFAULT_DETECTOR])


def fit_and_save(data, out_dir, plots_dir, sources, epochs, size, seed, started,
                 face_calibration: dict | None = None) -> dict:
    import keras

    from facemask.report import write_training_plots

    keras.utils.set_random_seed(seed)
    y_train, f_train = data["y_train"], data["f_train"]
    counts = label_counts(y_train)
    val_names = ("closeups", "real_photos")
    f_val = {k: data[f"f_val_{k}"] for k in val_names}
    y_val = {k: data[f"y_val_{k}"] for k in val_names}
    inputs, scaled, base = build_backbone(size)
    lower, upper = split_backbone(base)
    lower.trainable = False

    # 4. fit the upper blocks + head
    y_onehot, sample_weight, class_weight = training_targets(y_train)
    one_hot = np.eye(len(OUTPUTS), dtype=np.float32)
    fit_args = dict(batch_size=BATCH_SIZE, sample_weight=sample_weight, shuffle=True, verbose=2)
    if len(f_val["real_photos"]):  # logged per epoch for the curves; nothing is chosen by it
        fit_args["validation_data"] = (f_val["real_photos"], one_hot[y_val["real_photos"]])
    # phase 1: the new head alone, so its random start does not wreck the pretrained blocks
    for layer in upper.layers:
        layer.trainable = layer.name == "mask_class"
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=LABEL_SMOOTHING)
    upper.compile(optimizer=keras.optimizers.Adam(HEAD_LEARNING_RATE), loss=loss, metrics=["accuracy"])
    log("phase 1: head only")
    first = upper.fit(f_train, y_onehot, epochs=HEAD_EPOCHS, **fit_args).history
    # phase 2: upper blocks too (BatchNorm stays frozen, in inference mode)
    for layer in upper.layers:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    steps = epochs * int(np.ceil(len(f_train) / BATCH_SIZE))
    upper.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps)),
                  loss=loss, metrics=["accuracy"])
    log("phase 2: upper blocks + head")
    second = upper.fit(f_train, y_onehot, epochs=epochs, **fit_args).history
    history = {k: first[k] + second[k] for k in first}

    # 5. evaluate on held-out crops
    results = {}
    for name in val_names:
        if not len(f_val[name]):
            continue
        probs, _ = split_outputs(upper.predict(f_val[name], verbose=0))  # held-out crops are all faces
        results[name] = {"y_true": y_val[name].tolist(), "probs": probs.round(5).tolist()}

    # 6. save: one Keras model (rescaling + backbone + head), its TFLite twin, metrics, plots
    model = export_model(base, upper, size)
    model.save(out_dir / config.KERAS_MODEL.name)
    tflite = keras_to_tflite(model)
    (out_dir / config.TFLITE_MODEL.name).write_bytes(tflite)
    minutes = (time.time() - started) / 60
    metrics = write_training_plots(history, results, plots_dir)
    info = {
        "classes": list(config.CLASS_NAMES), "outputs": list(OUTPUTS), "input_size": size,
        "input": "RGB uint8 crop, square, padded",
        "crop_padding": config.CROP_PADDING, "backbone": "MobileNetV2 alpha 1.0 (ImageNet)",
        "trained_from_layer": CUT_LAYER, "epochs": epochs, "seed": seed, "train_counts": counts,
        "class_weight": class_weight, "head_epochs": HEAD_EPOCHS, "label_smoothing": LABEL_SMOOTHING,
        "training_minutes": round(minutes, 1),
        "sources": sources,
    }
    if face_calibration:  # read by MaskClassifier, used by Pipeline for Detections.face_probability
        info["face_calibration"] = face_calibration
    (out_dir / config.MODEL_INFO.name).write_text(json.dumps(info, indent=2))
    (out_dir / config.TRAIN_METRICS.name).write_text(json.dumps(
        {"history": {k: [float(v) for v in vals] for k, vals in history.items()}, **metrics}, indent=2))
    log(f"done in {minutes:.1f} min; model in {out_dir}, plots in {plots_dir}")
    return {"info": info, "metrics": metrics}


def export_model(base, upper, size: int):
    """One clean graph (rescaling -> MobileNetV2 -> pooling -> softmax) holding the trained weights.

    `lower` and `upper` share layers with `base`, so base's weights are the trained ones.
    """
    import keras

    inputs = keras.Input((size, size, 3), name="face_rgb")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(inputs)
    backbone = keras.applications.MobileNetV2(input_shape=(size, size, 3), include_top=False, weights=None)
    backbone.set_weights(base.get_weights())
    x = keras.layers.GlobalAveragePooling2D(name="pool")(backbone(x))
    head = keras.layers.Dense(len(OUTPUTS), activation="softmax", name="mask_class")
    outputs = head(x)
    head.set_weights(upper.get_layer("mask_class").get_weights())
    return keras.Model(inputs, outputs, name="mask_classifier")


def crop_faces_list(pairs, size: int) -> np.ndarray:
    if not pairs:
        return np.zeros((0, size, size, 3), np.uint8)
    return np.stack([crop_faces(img, box[None], size)[0] for img, box in pairs])


def keras_to_tflite(model) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return converter.convert()
