"""Mask-status confusion on the faces the pipeline finds (IoU >= 0.5), split by face size.

Run: python notebooks/status_confusion.py [MODEL.tflite] [split]   (rows: true class, columns: predicted)
"""
import sys

import numpy as np

from facemask import Pipeline, config
from facemask.detections import iou_matrix
from facemask.evaluation.dataset import load_voc_dir
from facemask.imageio import load_image

pipeline = Pipeline(model_path=sys.argv[1] if len(sys.argv) > 1 else None)
split = sys.argv[2] if len(sys.argv) > 2 else "val"
matrices = {"small (<32 px)": np.zeros((3, 3), int), "large (>=32 px)": np.zeros((3, 3), int)}
for ann in load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, split):
    dets = pipeline.detect(load_image(ann.image_path))
    ious = iou_matrix(dets.xyxy, ann.xyxy)
    for i in np.argsort(-dets.face_score):
        j = int(np.argmax(ious[i])) if ious.shape[1] else -1
        if j >= 0 and ious[i, j] >= 0.5:
            width = ann.xyxy[j, 2] - ann.xyxy[j, 0]
            matrices["small (<32 px)" if width < 32 else "large (>=32 px)"][ann.class_id[j], dets.class_id[i]] += 1
            ious[:, j] = 0
print("classes:", ", ".join(config.CLASS_NAMES))
for name, m in matrices.items():
    print(f"{name}: accuracy {np.trace(m) / max(m.sum(), 1):.3f}\n{m}")
