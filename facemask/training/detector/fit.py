"""Fine-tuning YuNet on the annotated photos: random crops at the scales the product runs the detector at,
one batched step per crop batch (the assignment of faces to points inside the step), the landmarks taught
by the network as it was before fine-tuning, and a checkpoint after every epoch so a stopped run resumes."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import cv2
import numpy as np

from facemask.imageio import load_image
from facemask.training.detector.assign import assign, grid_points
from facemask.training.detector.network import OUTPUT_NAMES, STRIDES, build_yunet, save_for_opencv
from facemask.training.log import log

CROP_SIDE = 512  # training crops are this square (a multiple of 32)
LONG_SIDE_RANGE = (320, 1920)  # a photo is resized so its long side falls here (log-uniform): live to photo mode
MIN_FACE_SIDE = 6  # px after resizing: smaller annotated faces are dropped from a crop
MIN_FACE_INSIDE = 0.6  # a face cut by the crop's edge stays when this share of it is inside
BATCH_SIZE = 8
LEARNING_RATE = 5e-4
WEIGHT_DECAY = 5e-4
BOX_WEIGHT = 5.0  # YuNet's head: IoU loss x 5, obj and cls x 1
LANDMARK_WEIGHT = 0.1
MAX_FACES = 128  # per crop, for the padded face tensor
FACE_CENTRED_SHARE = 0.8  # of the crops are placed to hold a randomly chosen face; the rest anywhere


def random_crop(image: np.ndarray, faces: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A CROP_SIDE square of the photo resized to a random long side, flipped half the time, with light
    changes of brightness and contrast; the faces that stay in it, in its pixels."""
    height, width = image.shape[:2]
    lo, hi = LONG_SIDE_RANGE
    scale = math.exp(rng.uniform(math.log(lo), math.log(hi))) / max(height, width)
    resized = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    rh, rw = resized.shape[:2]
    boxes = faces * scale
    if rng.random() < 0.5:
        resized = resized[:, ::-1]
        boxes = np.stack([rw - boxes[:, 2], boxes[:, 1], rw - boxes[:, 0], boxes[:, 3]], axis=1)
    x0 = int(rng.integers(0, max(rw - CROP_SIDE, 0) + 1))
    y0 = int(rng.integers(0, max(rh - CROP_SIDE, 0) + 1))
    if len(boxes) and rng.random() < FACE_CENTRED_SHARE:  # a crop around one face, wherever it lies in it
        cx, cy = (boxes[int(rng.integers(len(boxes)))].reshape(2, 2).mean(axis=0)).tolist()
        x0 = int(np.clip(cx - rng.uniform(0, CROP_SIDE), 0, max(rw - CROP_SIDE, 0)))
        y0 = int(np.clip(cy - rng.uniform(0, CROP_SIDE), 0, max(rh - CROP_SIDE, 0)))
    crop = np.zeros((CROP_SIDE, CROP_SIDE, 3), np.float32)  # zeros beyond the photo, as YuNet's padding
    part = resized[y0:y0 + CROP_SIDE, x0:x0 + CROP_SIDE]
    crop[:part.shape[0], :part.shape[1]] = part
    boxes = boxes - [x0, y0, x0, y0]
    inner = np.concatenate([boxes[:, :2].clip(0, [part.shape[1], part.shape[0]]),
                            boxes[:, 2:].clip(0, [part.shape[1], part.shape[0]])], axis=1)
    area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 1e-6, None), axis=1)
    inside = np.prod(np.clip(inner[:, 2:] - inner[:, :2], 0, None), axis=1) / area
    keep = (inside >= MIN_FACE_INSIDE) & ((inner[:, 2:] - inner[:, :2]).min(axis=1) >= MIN_FACE_SIDE)
    boxes = inner[keep]
    alpha, beta = rng.uniform(0.75, 1.25), rng.uniform(-25, 25)
    crop[:part.shape[0], :part.shape[1]] = np.clip(crop[:part.shape[0], :part.shape[1]] * alpha + beta, 0, 255)
    return crop, boxes.astype(np.float32)[:MAX_FACES]


def _train_step_fn(network, teacher, optimizer, points: np.ndarray):
    import tensorflow as tf

    pts = tf.constant(points)
    stride = pts[:, 2:3]

    def concat(outputs):
        by_head = [tf.concat(outputs[i * 3:(i + 1) * 3], axis=1) for i in range(4)]
        return by_head[0][..., 0], by_head[1][..., 0], by_head[2], by_head[3]

    def assign_batch(scores, boxes, faces, counts):
        face_of, iou_of = zip(*(assign(points, s, b, f[:c]) for s, b, f, c in zip(scores, boxes, faces, counts)))
        return np.stack(face_of), np.stack(iou_of).astype(np.float32)

    @tf.function(reduce_retracing=True)
    def step(images, faces, counts):
        teacher_cls, teacher_obj, _, teacher_kps = concat(teacher(images, training=False))
        teacher_score = tf.sqrt(tf.sigmoid(teacher_cls) * tf.sigmoid(teacher_obj))
        with tf.GradientTape() as tape:
            cls, obj, bbox, kps = concat(network(images, training=True))
            centre = pts[None, :, :2] + bbox[..., :2] * stride
            size = tf.exp(tf.clip_by_value(bbox[..., 2:4], -10.0, 10.0)) * stride
            boxes = tf.concat([centre - size / 2, centre + size / 2], axis=-1)
            scores = tf.sqrt(tf.sigmoid(cls) * tf.sigmoid(obj))
            face_of, iou_of = tf.numpy_function(assign_batch, [tf.stop_gradient(scores), tf.stop_gradient(boxes),
                                                               faces, counts], [tf.int64, tf.float32])
            face_of.set_shape(cls.shape)
            iou_of.set_shape(cls.shape)
            positive = tf.cast(face_of >= 0, tf.float32)
            count = tf.maximum(tf.reduce_sum(positive), 1.0)
            target = tf.gather(faces, tf.maximum(face_of, 0), batch_dims=1)
            lt = tf.maximum(boxes[..., :2], target[..., :2])
            rb = tf.minimum(boxes[..., 2:], target[..., 2:])
            inter = tf.reduce_prod(tf.maximum(rb - lt, 0.0), axis=-1)
            union = (tf.reduce_prod(boxes[..., 2:] - boxes[..., :2], axis=-1) +
                     tf.reduce_prod(target[..., 2:] - target[..., :2], axis=-1) - inter)
            iou = inter / tf.maximum(union, 1e-9)
            loss_box = BOX_WEIGHT * tf.reduce_sum(positive * (1 - iou ** 2)) / count
            loss_obj = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(positive, obj)) / count
            loss_cls = tf.reduce_sum(positive * tf.nn.sigmoid_cross_entropy_with_logits(iou_of, cls)) / count
            kps_weight = positive * teacher_score
            diff = tf.abs(kps - teacher_kps)
            smooth = tf.where(diff < 1 / 9, 4.5 * diff ** 2, diff - 1 / 18)
            loss_kps = LANDMARK_WEIGHT * tf.reduce_sum(kps_weight[..., None] * smooth) / tf.maximum(
                tf.reduce_sum(kps_weight), 1.0)
            loss = loss_box + loss_obj + loss_cls + loss_kps
        grads = tape.gradient(loss, network.trainable_variables)
        optimizer.apply_gradients(zip(grads, network.trainable_variables))
        return tf.stack([loss, loss_box, loss_obj, loss_cls, loss_kps, tf.reduce_sum(positive)])

    return step


def fit_detector(annotations, onnx_path: Path, out_dir: Path, epochs: int, seed: int = 0) -> dict:
    """Fine-tune the network of `onnx_path` on the faces of `annotations`; checkpoints in out_dir/checkpoints
    (a re-run resumes from the last epoch saved), the result as out_dir/face_detector.onnx for cv2.dnn."""
    import keras
    import tensorflow as tf

    out_dir = Path(out_dir)
    keras.utils.set_random_seed(seed)
    network, teacher = build_yunet(onnx_path), build_yunet(onnx_path)
    teacher.trainable = False
    photos = [a for a in annotations if len(a.xyxy)]
    steps_per_epoch = math.ceil(len(photos) / BATCH_SIZE)
    schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, max(epochs * steps_per_epoch, 1), alpha=0.05)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=WEIGHT_DECAY)
    optimizer.build(network.trainable_variables)
    epoch_done = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(network=network, optimizer=optimizer, epoch=epoch_done)
    manager = tf.train.CheckpointManager(checkpoint, str(out_dir / "checkpoints"), max_to_keep=2)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).expect_partial()
        log(f"detector: resuming after epoch {int(epoch_done.numpy())} ({manager.latest_checkpoint})")
    step = _train_step_fn(network, teacher, optimizer, grid_points(CROP_SIDE, CROP_SIDE))
    history_path = out_dir / "detector_history.json"
    history = json.loads(history_path.read_text()) if history_path.exists() and manager.latest_checkpoint else []
    images = {}
    for epoch in range(int(epoch_done.numpy()), epochs):
        started, rng = time.time(), np.random.default_rng([seed, epoch])
        order = rng.permutation(len(photos))
        totals = np.zeros(6)
        for start in range(0, len(order), BATCH_SIZE):
            batch = [photos[i] for i in order[start:start + BATCH_SIZE]]
            crops, faces = [], np.zeros((len(batch), MAX_FACES, 4), np.float32)
            counts = np.zeros(len(batch), np.int64)
            for j, ann in enumerate(batch):
                if ann.image_path not in images:
                    images[ann.image_path] = load_image(ann.image_path)
                crop, boxes = random_crop(images[ann.image_path], ann.xyxy.astype(np.float32), rng)
                crops.append(crop)
                faces[j, :len(boxes)], counts[j] = boxes, len(boxes)
            totals += step(np.stack(crops), faces, counts).numpy()
        steps = math.ceil(len(order) / BATCH_SIZE)
        row = {"epoch": epoch + 1, "seconds": round(time.time() - started, 1),
               **{k: round(float(v / steps), 4) for k, v in zip(("loss", "box", "obj", "cls", "landmarks"), totals)},
               "points_per_face": round(float(totals[5] / max(sum(len(p.xyxy) for p in photos), 1)), 2)}
        history.append(row)
        epoch_done.assign(epoch + 1)
        manager.save()
        history_path.write_text(json.dumps(history, indent=1))
        log(f"detector epoch {epoch + 1}/{epochs}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "epoch"))
    path = save_for_opencv(network, onnx_path, out_dir / "face_detector.onnx")
    return {"file": path.name, "trained_from": Path(onnx_path).name, "epochs": epochs, "seed": seed,
            "photos": len(photos), "faces": int(sum(len(p.xyxy) for p in photos)), "history": history,
            "strides": list(STRIDES), "outputs": list(OUTPUT_NAMES), "crop_side": CROP_SIDE,
            "long_side_range": list(LONG_SIDE_RANGE)}
