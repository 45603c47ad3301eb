"""Median offset and scale from YuNet's boxes to the annotated face boxes, on the *train* split of each
photo source and of both together (the two collections were boxed by different people).

Sets `box_scale` for yunet in facemask/config.py. Run: python notebooks/box_calibration.py
"""
import numpy as np

from facemask import config
from facemask.detections import iou_matrix
from facemask.evaluation.dataset import load_source
from facemask.imageio import load_image
from facemask.vision.detectors import create_detector

detector = create_detector("yunet", fallback=False, threshold=0.5, box_scale=(0, 0, 1, 1))
rows = {}
for source in config.SOURCES:
    rows[source] = []
    for ann in load_source(source, "train"):
        boxes, _ = detector.detect(load_image(ann.image_path))
        ious = iou_matrix(boxes, ann.xyxy)
        for i, det in enumerate(boxes):
            j = int(np.argmax(ious[i])) if ious.shape[1] else -1
            if j < 0 or ious[i, j] <= 0.3:
                continue
            gt = ann.xyxy[j]
            w, h = det[2] - det[0], det[3] - det[1]
            rows[source].append([((gt[0] + gt[2]) - (det[0] + det[2])) / 2 / w,
                                 ((gt[1] + gt[3]) - (det[1] + det[3])) / 2 / h,
                                 (gt[2] - gt[0]) / w, (gt[3] - gt[1]) / h, ious[i, j]])
rows = {name: np.array(r) for name, r in rows.items()}
rows["both"] = np.concatenate(list(rows.values()))


def iou_after(r, scale):
    """Mean IoU of the detector boxes with their annotated faces once reshaped by scale."""
    dx, dy, sw, sh = scale
    # in units of the detector box: detector box (0,0)-(1,1) -> moved/scaled box; the face box from the row
    cx, cy, w, h = 0.5 + dx, 0.5 + dy, sw, sh
    gcx, gcy, gw, gh = 0.5 + r[:, 0], 0.5 + r[:, 1], r[:, 2], r[:, 3]
    ix = np.clip(np.minimum(cx + w / 2, gcx + gw / 2) - np.maximum(cx - w / 2, gcx - gw / 2), 0, None)
    iy = np.clip(np.minimum(cy + h / 2, gcy + gh / 2) - np.maximum(cy - h / 2, gcy - gh / 2), 0, None)
    inter = ix * iy
    return float(np.mean(inter / (w * h + gw * gh - inter)))


fits = {name: np.round(np.median(r[:, :4], 0), 3).tolist() for name, r in rows.items()}
for name, r in rows.items():
    print(f"{name}: {len(r)} matched faces; median (dx, dy, sw, sh) = {fits[name]}; mean IoU: raw "
          f"{iou_after(r, (0, 0, 1, 1)):.3f}, " + ", ".join(f"with the {k} fit {iou_after(r, f):.3f}"
                                                          for k, f in fits.items()))
