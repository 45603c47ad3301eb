"""Median offset and scale from YuNet's boxes to the annotated face boxes, on the dev *train* split.

Sets `box_scale` for yunet in facemask/config.py. Run: python notebooks/box_calibration.py
"""
import numpy as np

from facemask import config
from facemask.dataset import load_voc_dir
from facemask.detectors import create_detector
from facemask.imageio import load_image
from facemask.metrics import iou_matrix

annotations = load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, "train")
detector = create_detector("yunet", fallback=False, min_side=720, threshold=0.5, box_scale=(0, 0, 1, 1))
rows = []
for ann in annotations:
    boxes, _ = detector.detect(load_image(ann.image_path))
    ious = iou_matrix(boxes, ann.xyxy)
    for i, det in enumerate(boxes):
        j = int(np.argmax(ious[i])) if ious.shape[1] else -1
        if j < 0 or ious[i, j] <= 0.3:
            continue
        gt = ann.xyxy[j]
        w, h = det[2] - det[0], det[3] - det[1]
        rows.append([((gt[0] + gt[2]) - (det[0] + det[2])) / 2 / w, ((gt[1] + gt[3]) - (det[1] + det[3])) / 2 / h,
                     (gt[2] - gt[0]) / w, (gt[3] - gt[1]) / h, ious[i, j]])
rows = np.array(rows)
print(f"{len(rows)} matched faces; median (dx, dy, sw, sh) = {np.round(np.median(rows[:, :4], 0), 3).tolist()}; "
      f"mean IoU before calibration {rows[:, 4].mean():.3f}")
