"""Contact sheets of the worn-incorrectly errors in the saved out-of-fold detections.

Writes two pictures into OUT (default .cache/sheets):
- faces_worn_incorrectly.png: every annotated face worn incorrectly, as its best detector box
  (IoU >= 0.5) crops it, ordered by its worn-incorrectly score (P(face) x P(worn incorrectly));
  under each: the probabilities of with / without / worn incorrectly, P(face), the photo and the
  face's width. Faces no box
  finds are marked MISSED.
- ranked_above_as_worn_incorrectly.png: the boxes that are not on a face worn incorrectly with the
  highest worn-incorrectly scores, with what they are (with / without = the annotated class of the
  face they lie on, none = no annotated face), larger and with more context.
Run: python notebooks/worn_incorrectly_sheets.py .cache/cv/out_of_fold.npz [OUT]
"""
import sys
from pathlib import Path

import cv2
import numpy as np
from out_of_fold import OutOfFold

from facemask import config
from facemask.detections import iou_matrix
from facemask.evaluation.dataset import load_voc_dir
from facemask.imageio import load_image
from facemask.training import TRAIN_PHOTOS
from facemask.vision.crops import crop_faces

WORN_INCORRECTLY = config.CLASS_NAMES.index("mask_worn_incorrectly")
NAMES = ["with", "without", "worn incorrectly", "none"]

saved = OutOfFold(Path(sys.argv[1]))
out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else config.CACHE_DIR / "sheets"
out_dir.mkdir(parents=True, exist_ok=True)
data = saved.data
k = int(data["photo_fold"].max()) + 1
photos = []
for i in range(k):  # the photo order of notebooks/cross_validate.py
    photos += load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, TRAIN_PHOTOS, fold=("in", i, k))
score = data["det_probs"][:, WORN_INCORRECTLY] * data["det_face_probability"]

# the annotated class of the face each box lies on (IoU >= 0.5), or 3 (none)
box_class = np.full(len(score), 3)
for p in range(len(photos)):
    rows, faces = np.where(data["det_photo"] == p)[0], np.where(data["gt_photo"] == p)[0]
    if len(rows) and len(faces):
        ious = iou_matrix(data["det_xyxy"][rows], data["gt_xyxy"][faces])
        box_class[rows] = np.where(ious.max(axis=1) >= 0.5, data["gt_class"][faces][ious.argmax(axis=1)], 3)


def tile(photo: int, box: np.ndarray, lines: list[str], size: int = 128, padding: float = config.CROP_PADDING,
         color=(0, 0, 0)) -> np.ndarray:
    crop = crop_faces(load_image(photos[photo].image_path), box[None], size, padding)[0][:, :, ::-1]
    out = np.full((size + 14 * len(lines) + 4, size, 3), 255, np.uint8)
    out[:size] = crop
    for i, line in enumerate(lines):
        cv2.putText(out, line, (2, size + 12 + 14 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.36, color, 1)
    return out


def sheet(tiles: list[np.ndarray], columns: int = 10) -> np.ndarray:
    tiles = tiles + [np.full_like(tiles[0], 255)] * (-len(tiles) % columns)
    return np.vstack([np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)])


faces = []
for g in np.where(data["gt_class"] == WORN_INCORRECTLY)[0]:
    p, box = data["gt_photo"][g], data["gt_xyxy"][g]
    rows = np.where(data["det_photo"] == p)[0]
    ious = iou_matrix(box[None], data["det_xyxy"][rows])[0] if len(rows) else np.zeros(0)
    name = photos[p].image_path.stem
    if not len(ious) or ious.max() < 0.5:
        faces.append((-1.0, tile(p, box, ["MISSED", "", name], color=(0, 0, 255))))
        continue
    j = rows[ious.argmax()]
    w, wo, wi = data["det_probs"][j]
    lines = [f"{w:.2f} {wo:.2f} {wi:.2f}", f"face {data['det_face_probability'][j]:.2f}",
             f"{name[-6:]} {int(box[2] - box[0])} px"]
    faces.append((score[j], tile(p, data["det_xyxy"][j], lines)))
faces.sort(key=lambda f: -f[0])
cv2.imwrite(str(out_dir / "faces_worn_incorrectly.png"), sheet([t for _, t in faces]))

above = [j for j in np.argsort(-score) if box_class[j] != WORN_INCORRECTLY][:30]
cv2.imwrite(str(out_dir / "ranked_above_as_worn_incorrectly.png"), sheet(
    [tile(data["det_photo"][j], data["det_xyxy"][j],
          [f"{NAMES[box_class[j]]}: worn incorrectly {data['det_probs'][j][WORN_INCORRECTLY]:.2f}",
           photos[data["det_photo"][j]].image_path.stem], size=192, padding=0.4) for j in above], columns=6))
print(f"{len(faces)} faces worn incorrectly, {sum(f[0] < 0 for f in faces)} never boxed; sheets in {out_dir}")
print("the 30 highest-scored boxes on no face worn incorrectly: " + ", ".join(
    f"{NAMES[c]} {int(np.sum(box_class[above] == c))}" for c in range(4)))
