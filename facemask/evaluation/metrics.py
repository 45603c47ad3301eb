"""Face-level detection metrics: VOC AP@IoU per class, recall/precision, mask-status accuracy."""

from __future__ import annotations

import numpy as np

from facemask.config import CLASS_NAMES
from facemask.detections import iou_matrix

SIZE_BUCKETS = {"all": (0, 1e9), "small (<32 px)": (0, 32), "large (>=32 px)": (32, 1e9)}
RECALL_BUCKETS = {"all": (0, 1e9), "large (>=32 px)": (32, 1e9)}


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point interpolated area under the precision/recall curve."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    idx = np.where(r[1:] != r[:-1])[0]
    return float(np.sum((r[idx + 1] - r[idx]) * p[idx + 1]))


def pr_curve(gts, preds, class_id, iou=0.5, size=(0, 1e9)):
    """Precision/recall of one class. gts/preds: per image (xyxy, class_id[, scores (N,C)])."""
    records, n_gt = [], 0
    for (g_boxes, g_ids), (p_boxes, p_scores) in zip(gts, preds):
        g_w = g_boxes[:, 2] - g_boxes[:, 0]
        g_mask = g_ids == class_id
        g_in = g_mask & (g_w >= size[0]) & (g_w < size[1])
        n_gt += int(g_in.sum())
        if len(p_boxes) == 0:
            continue
        scores = p_scores[:, class_id]
        order = np.argsort(-scores, kind="stable")
        ious = iou_matrix(p_boxes[order], g_boxes[g_mask])
        ignore_gt = ~g_in[g_mask]
        taken = np.zeros(int(g_mask.sum()), bool)
        p_w = p_boxes[order, 2] - p_boxes[order, 0]
        for k, det in enumerate(order):
            if scores[det] <= 0:
                continue
            best, best_iou = -1, iou
            for j in range(ious.shape[1]):
                if not taken[j] and ious[k, j] >= best_iou:
                    best, best_iou = j, ious[k, j]
            if best >= 0:
                taken[best] = True
                if ignore_gt[best]:
                    continue
                records.append((scores[det], 1))
            elif size[0] <= p_w[k] < size[1]:
                records.append((scores[det], 0))
    if not records:
        return np.zeros(0), np.zeros(0), np.zeros(0), n_gt
    records.sort(key=lambda r: -r[0])
    s = np.array([r[0] for r in records])
    tp = np.cumsum([r[1] for r in records])
    fp = np.cumsum([1 - r[1] for r in records])
    return tp / max(n_gt, 1), tp / np.maximum(tp + fp, 1e-9), s, n_gt


def detection_report(gts, preds, face_scores, labels, threshold: float, iou: float = 0.5) -> dict:
    """Everything `facemask evaluate` prints: AP per class and size, recall/precision, status accuracy.

    gts: list of (xyxy, class_id); preds: list of (xyxy, class scores (N,C) used for AP ranking);
    face_scores/labels: per image, the scores the threshold applies to (P(face) in the pipeline) and the
    predicted class ids, for the operating point.
    """
    report: dict = {"ap": {}, "n_gt": {}}
    for bucket, size in SIZE_BUCKETS.items():
        report["ap"][bucket], report["n_gt"][bucket] = {}, {}
        for cid, name in enumerate(CLASS_NAMES):
            rec, prec, _, n_gt = pr_curve(gts, preds, cid, iou, size)
            report["ap"][bucket][name] = average_precision(rec, prec) if n_gt else None
            report["n_gt"][bucket][name] = n_gt
        pair = [report["ap"][bucket][c] for c in ("with_mask", "without_mask")]
        report["ap"][bucket]["mean(with,without)"] = float(np.mean(pair)) if None not in pair else None
    # operating point: class-agnostic face matching at the threshold
    found = total = tp = n_pred = correct = 0
    small = {"found": 0, "total": 0}
    # recall of each annotated class, all faces and faces >= 32 px: a detector that misses masked faces
    # more often than bare ones shows here, not in the mean
    by_class = {bucket: np.zeros((2, len(CLASS_NAMES)), np.int64) for bucket in RECALL_BUCKETS}
    for (g_boxes, g_ids), (p_boxes, _), fs, lab in zip(gts, preds, face_scores, labels):
        keep = fs >= threshold
        p_boxes, lab, fs = p_boxes[keep], lab[keep], fs[keep]
        total += len(g_boxes)
        n_pred += len(p_boxes)
        small["total"] += int(np.sum(g_boxes[:, 2] - g_boxes[:, 0] < 32))
        ious = iou_matrix(p_boxes[np.argsort(-fs)], g_boxes)
        lab = lab[np.argsort(-fs)]
        taken = np.zeros(len(g_boxes), bool)
        for k in range(len(p_boxes)):
            cand = np.where(~taken & (ious[k] >= iou))[0]
            if len(cand) == 0:
                continue
            j = cand[np.argmax(ious[k, cand])]
            taken[j] = True
            tp += 1
            correct += int(lab[k] == g_ids[j])
            if g_boxes[j, 2] - g_boxes[j, 0] < 32:
                small["found"] += 1
        found += int(taken.sum())
        widths = g_boxes[:, 2] - g_boxes[:, 0]
        for bucket, (lo, hi) in RECALL_BUCKETS.items():
            inside = (widths >= lo) & (widths < hi)
            np.add.at(by_class[bucket][0], g_ids[inside & taken], 1)
            np.add.at(by_class[bucket][1], g_ids[inside], 1)
    report["operating_point"] = {
        "threshold": threshold,
        "faces": total,
        "detections": n_pred,
        "recall": found / max(total, 1),
        "precision": tp / max(n_pred, 1),
        "recall_small": small["found"] / max(small["total"], 1),
        "status_accuracy": correct / max(tp, 1),
        "matched_faces": tp,
        "recall_by_class": {bucket: {name: (float(hit / n) if n else None) for name, hit, n in
                                     zip(CLASS_NAMES, *counts)} for bucket, counts in by_class.items()},
        "faces_by_class": {bucket: dict(zip(CLASS_NAMES, counts[1].tolist())) for bucket, counts in by_class.items()},
    }
    return report
