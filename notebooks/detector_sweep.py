"""Face-only AP and recall of each detector at several upscale settings, on the dev *train* split.

Run: python notebooks/detector_sweep.py train yunet ssd [--single]
(used to pick DETECTOR_SETTINGS in facemask/config.py)
"""
import sys
import time

import numpy as np

from facemask import config
from facemask.evaluation.dataset import load_voc_dir
from facemask.evaluation.metrics import average_precision, pr_curve
from facemask.imageio import load_image
from facemask.vision.detectors import create_detector

split = sys.argv[1] if len(sys.argv) > 1 else "train"
anns = load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, split)
images = [load_image(a.image_path) for a in anns]
gts = [(a.xyxy, np.zeros(len(a.xyxy), np.int64)) for a in anns]
# --single: the first sweep, one scale each and raw boxes; default: two or three scales, calibrated boxes
single = "--single" in sys.argv
names = [a for a in sys.argv[2:] if not a.startswith("--")] or ["yunet"]
box_scale = (0.0, 0.0, 1.0, 1.0) if single else (0.025, 0.133, 1.046, 0.916)
scales = [0, 480, 720, 960] if single else [(0, 720), (0, 960), (480, 960), (0, 480, 960)]
trials = [(name, dict(min_side=ms, threshold=0.05, box_scale=box_scale)) for name in names for ms in scales]
for name, kw in trials:
    det = create_detector(name, fallback=False, **kw)
    preds, t0 = [], time.perf_counter()
    for img in images:
        b, s = det.detect(img)
        preds.append((b, s[:, None]))
    ms = (time.perf_counter() - t0) / len(images) * 1000
    row = [name, str(kw)]
    for size in [(0, 1e9), (0, 32), (32, 1e9)]:
        rec, prec, sc, n = pr_curve(gts, preds, 0, 0.5, size)
        row.append(f"AP={average_precision(rec, prec):.3f} R={rec[-1] if len(rec) else 0:.3f}")
    print(" | ".join(row), f"| {ms:.0f} ms/img", flush=True)
