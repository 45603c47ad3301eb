"""Face-level recall, precision and F1 of the default detector per score threshold, on the dev *train*
split (sets DEFAULT_THRESHOLD in facemask/config.py). Run: python notebooks/threshold_sweep.py"""
import numpy as np

from facemask import config
from facemask.dataset import load_voc_dir
from facemask.detectors import create_detector
from facemask.imageio import load_image
from facemask.metrics import iou_matrix

anns = load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, "train")
detector = create_detector(config.DEFAULT_DETECTOR, threshold=0.05)
runs = []
for a in anns:
    boxes, scores = detector.detect(load_image(a.image_path))
    runs.append((boxes, scores, a.xyxy))
for t in np.arange(0.3, 0.95, 0.05):
    tp = n_det = n_gt = 0
    for boxes, scores, gt in runs:
        keep = scores >= t
        b = boxes[keep][np.argsort(-scores[keep])]
        ious, taken = iou_matrix(b, gt), np.zeros(len(gt), bool)
        for i in range(len(b)):
            cand = np.where(~taken & (ious[i] >= 0.5))[0]
            if len(cand):
                taken[cand[np.argmax(ious[i, cand])]] = True
        tp += int(taken.sum())
        n_det += len(b)
        n_gt += len(gt)
    r, p = tp / n_gt, tp / max(n_det, 1)
    print(f"threshold {t:.2f}: recall {r:.3f} precision {p:.3f} F1 {2 * p * r / max(p + r, 1e-9):.3f}")
