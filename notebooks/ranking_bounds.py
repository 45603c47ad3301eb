"""How much the boxes on no annotated face cost, and what removing them or re-fitting boxes could
win, on saved out-of-fold detections (no training).

Rows: the detections as they are; every box off an annotated face (best IoU < 0.5) removed, the
most any junk filter could give; those boxes at a uniform 1/3 per class, what the not-a-face
training aims at; boxes lying mostly inside a higher-scored box dropped; each class probability
scaled by how far the largest one is above 1/3, a crude "is this a face" from the classifier;
boxes moved by the median offset between detector and annotated boxes of each class (YuNet's
boxes are too short on masks worn incorrectly and too low on unmasked faces), learned on the
other folds and weighted by the class probabilities.
Run: python notebooks/ranking_bounds.py [.cache/cv/out_of_fold.npz]
"""
import sys

import numpy as np
from out_of_fold import OutOfFold, table_head

from facemask import config
from facemask.detections import iou_matrix

oof = OutOfFold(sys.argv[1] if len(sys.argv) > 1 else config.CACHE_DIR / "cv" / "out_of_fold.npz")
boxes, scores, probs = oof.data["det_xyxy"], oof.data["det_face_score"], oof.data["det_probs"]
best_iou = np.zeros(len(boxes))
inside_higher = np.zeros(len(boxes), bool)
for photo in range(oof.photos):
    dets = np.where(oof.in_photo[photo])[0]
    if not len(dets):
        continue
    if len(oof.gts[photo][0]):
        best_iou[dets] = iou_matrix(boxes[dets], oof.gts[photo][0]).max(axis=1)
    b = boxes[dets]
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    for a in range(len(dets)):
        higher = scores[dets] > scores[dets[a]]
        w = np.clip(np.minimum(b[a, 2], b[:, 2]) - np.maximum(b[a, 0], b[:, 0]), 0, None)
        h = np.clip(np.minimum(b[a, 3], b[:, 3]) - np.maximum(b[a, 1], b[:, 1]), 0, None)
        inside_higher[dets[a]] = bool(np.any(higher & (w * h > 0.7 * max(area[a], 1e-9))))

off_face = best_iou < 0.5
rows = [("as saved", probs)]
rows.append((f"boxes off every annotated face removed ({off_face.sum()} boxes; a bound)", probs * ~off_face[:, None]))
rows.append(("those boxes at 1/3 per class", np.where(off_face[:, None], 1 / 3, probs)))
rows.append((f"boxes 70 % inside a higher-scored box dropped ({inside_higher.sum()})", probs * ~inside_higher[:, None]))
face_like = np.clip((probs.max(axis=1) - 1 / 3) / (2 / 3), 0, 1)
rows.append(("probabilities x (largest - 1/3) / (2/3)", probs * face_like[:, None]))
print(table_head("detections"))
for name, p in rows:
    print(oof.table_row(name, p))


def median_offsets(folds) -> np.ndarray:
    """Per annotated class, the median (x0, y0, x1, y1) from detector box to annotated box, in
    units of the detector box, over boxes scoring >= 0.5 that overlap a face with IoU >= 0.25."""
    moves = {c: [] for c in range(len(config.CLASS_NAMES))}
    for photo in np.where(np.isin(oof.data["photo_fold"], folds))[0]:
        dets = np.where(oof.in_photo[photo] & (scores >= 0.5))[0]
        faces, classes = oof.gts[photo]
        if not len(dets) or not len(faces):
            continue
        ious = iou_matrix(boxes[dets], faces)
        for a, k in enumerate(dets):
            j = int(np.argmax(ious[a]))
            if ious[a, j] >= 0.25:
                w, h = boxes[k, 2] - boxes[k, 0], boxes[k, 3] - boxes[k, 1]
                moves[classes[j]].append((faces[j] - boxes[k]) / (w, h, w, h))
    return np.array([np.median(moves[c], axis=0) for c in sorted(moves)])


fold_of_box = oof.data["photo_fold"][oof.data["det_photo"]]
moved = boxes.copy()
for fold in np.unique(oof.data["photo_fold"]):
    sel = fold_of_box == fold
    move = probs[sel] @ median_offsets(np.setdiff1d(oof.data["photo_fold"], [fold]))
    w, h = boxes[sel, 2] - boxes[sel, 0], boxes[sel, 3] - boxes[sel, 1]
    moved[sel] = boxes[sel] + move * np.stack([w, h, w, h], axis=1)
print(oof.table_row("boxes moved by their classes' median offsets", probs, boxes=moved))
