"""Score the saved out-of-fold boxes again with shifted, tighter or looser crops (no detector run).

Reads DIR/out_of_fold.npz and the fold models in DIR (notebooks/cross_validate.py writes both);
each crop variant is classified as seen and mirrored, as photo mode does, and scored alone and
averaged with the others (ranked by the saved P(face), that of the crop as served).
Run: python notebooks/test_time_crops.py [.cache/cv]
"""
import sys
from pathlib import Path

import numpy as np
from out_of_fold import OutOfFold, table_head

from facemask import config
from facemask.evaluation.dataset import load_voc_dir
from facemask.imageio import load_image
from facemask.training import TRAIN_PHOTOS
from facemask.vision.classifier import MaskClassifier, split_outputs
from facemask.vision.crops import crop_faces

cv = Path(sys.argv[1] if len(sys.argv) > 1 else config.CACHE_DIR / "cv")
saved = OutOfFold(cv / "out_of_fold.npz")
data = saved.data
k = int(data["photo_fold"].max()) + 1
photos = []
for i in range(k):
    photos += load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, TRAIN_PHOTOS, fold=("in", i, k))
models = [MaskClassifier(cv / f"fold{i}of{k}" / config.TFLITE_MODEL.name) for i in range(k)]
# (dx, dy, scale) of each crop variant, as fractions of the box
VARIANTS = {"as detected": (0, 0, 1), "up 6 %": (0, -0.06, 1), "down 6 %": (0, 0.06, 1),
            "left 6 %": (-0.06, 0, 1), "right 6 %": (0.06, 0, 1), "12 % looser": (0, 0, 1.12),
            "10 % tighter": (0, 0, 0.9)}


def moved(boxes: np.ndarray, dx: float, dy: float, scale: float) -> np.ndarray:
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2 + dx * w, (boxes[:, 1] + boxes[:, 3]) / 2 + dy * h
    return np.stack([cx - w * scale / 2, cy - h * scale / 2, cx + w * scale / 2, cy + h * scale / 2], axis=1)


probs = {name: np.zeros_like(data["det_probs"]) for name in VARIANTS}
for p, ann in enumerate(photos):
    rows = np.where(data["det_photo"] == p)[0]
    if not len(rows):
        continue
    image, model = load_image(ann.image_path), models[data["photo_fold"][p]]
    for name, shift in VARIANTS.items():
        crops = crop_faces(image, moved(data["det_xyxy"][rows], *shift), model.input_size)
        both = model.predict(np.concatenate([crops, crops[:, :, ::-1]]))
        probs[name][rows] = split_outputs((both[:len(rows)] + both[len(rows):]) / 2)[0]

print(table_head("crop"))
for name in VARIANTS:
    print(saved.table_row(name, probs[name]))
print(saved.table_row("all averaged", np.mean(list(probs.values()), axis=0)))
