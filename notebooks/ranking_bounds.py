"""How much the boxes on no annotated face cost, and what removing them could win, on saved
out-of-fold detections (no training).

Rows: the detections as they are; every box off an annotated face (best IoU < 0.5) removed, the
most any junk filter could give; those boxes at a uniform 1/3 per class, what the not-a-face
training aims at; boxes lying mostly inside a higher-scored box dropped; each class probability
scaled by how far the largest one is above 1/3, a crude "is this a face" from the classifier.
Run: python notebooks/ranking_bounds.py [.cache/cv/out_of_fold.npz]
"""
import sys

import numpy as np
from out_of_fold import OutOfFold, table_head

from facemask import config
from facemask.metrics import iou_matrix

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
