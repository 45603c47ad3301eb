"""Which of YuNet's grid points learn which annotated face: a dynamic assignment in the manner of SimOTA
(YOLOX), the one YuNet was trained with. Each face takes the points near it whose current boxes fit it
best and whose scores agree, as many as the overlap of its best few boxes says (at least one); a point
claimed by two faces goes to the cheaper one. The targets follow YuNet's head: obj 1 on the assigned
points and 0 elsewhere, cls the IoU of the point's box with its face, the box itself, and the landmarks."""

from __future__ import annotations

import numpy as np

from facemask.training.detector.network import STRIDES

CENTER_RADIUS = 2.5  # in strides: how far from a face's centre a point may still be a candidate
CANDIDATE_TOP_K = 10  # a face's number of points is the sum of the IoUs of its best this many boxes
IOU_COST_WEIGHT = 3.0
OUTSIDE_COST = 1e5


def grid_points(height: int, width: int) -> np.ndarray:
    """(N, 3) x, y, stride of every output point of a height x width input, in the order of the outputs."""
    rows = []
    for stride in STRIDES:
        ys, xs = np.mgrid[0:height // stride, 0:width // stride]
        rows.append(np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, stride)], axis=1) * [stride, stride, 1])
    return np.concatenate(rows).astype(np.float32)


def decode_boxes(points: np.ndarray, bbox: np.ndarray) -> np.ndarray:
    """YuNet's (dx, dy, log w, log h) per point -> xyxy boxes, as cv2.FaceDetectorYN decodes them."""
    stride = points[:, 2:3]
    centre = points[:, :2] + bbox[:, :2] * stride
    size = np.exp(np.clip(bbox[:, 2:4], -10, 10)) * stride
    return np.concatenate([centre - size / 2, centre + size / 2], axis=1)


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def assign(points: np.ndarray, scores: np.ndarray, boxes: np.ndarray,
           faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For one picture: (N,) index of the face each point learns (-1: background) and (N,) the IoU of the
    point's box with that face. `scores` are the points' sqrt(cls * obj), `boxes` their decoded boxes."""
    n = len(points)
    face_of, iou_of = np.full(n, -1, np.int64), np.zeros(n, np.float32)
    if not len(faces):
        return face_of, iou_of
    centre = points[:, :2] + points[:, 2:3] * 0.5  # candidates are judged at the cell's centre
    inside = ((centre[:, None, :] > faces[None, :, :2]) & (centre[:, None, :] < faces[None, :, 2:])).all(axis=2)
    face_centre = (faces[:, :2] + faces[:, 2:]) / 2
    radius = CENTER_RADIUS * points[:, 2:3]
    near = (np.abs(centre[:, None, :] - face_centre[None, :, :]) < radius[:, :, None]).all(axis=2)
    candidate = (inside | near).any(axis=1)
    idx = np.flatnonzero(candidate)
    if not len(idx):
        return face_of, iou_of
    ious = pairwise_iou(boxes[idx], faces)  # (C, F)
    p = np.clip(scores[idx, None], 1e-6, 1 - 1e-6)
    target = ious
    cls_cost = -(target * np.log(p) + (1 - target) * np.log(1 - p))
    cost = cls_cost + IOU_COST_WEIGHT * -np.log(ious + 1e-8) + OUTSIDE_COST * ~(inside[idx] & near[idx])
    matching = np.zeros_like(cost, bool)
    top = min(CANDIDATE_TOP_K, len(idx))
    dynamic_k = np.maximum(np.sort(ious, axis=0)[-top:].sum(axis=0).astype(int), 1)
    for f in range(len(faces)):
        matching[np.argsort(cost[:, f])[:dynamic_k[f]], f] = True
    claimed = matching.sum(axis=1) > 1
    if claimed.any():
        best = np.argmin(np.where(matching[claimed], cost[claimed], np.inf), axis=1)
        matching[claimed] = False
        matching[np.flatnonzero(claimed), best] = True
    rows, faces_hit = np.nonzero(matching)
    face_of[idx[rows]] = faces_hit
    iou_of[idx[rows]] = ious[rows, faces_hit]
    return face_of, iou_of
