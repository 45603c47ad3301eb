"""How much of the AP is lost to box placement? The CLI's detections of each source scored at IoU 0.5
(the figure reported), 0.4 and 0.3, and each annotated face's best IoU with any candidate box.

Run: python notebooks/ap_by_iou.py .cache/cv/dev.json:dev .cache/cv/extra.json:extra
"""
import functools
import sys

import numpy as np

import facemask.evaluation.evaluate as evaluate
from facemask.detections import iou_matrix
from facemask.evaluation.dataset import load_source
from facemask.evaluation.metrics import detection_report

for argument in sys.argv[1:]:
    path, source = argument.rsplit(":", 1)
    annotations = load_source(source)
    records = evaluate.load_predictions(path)
    by_photo = {evaluate._photo_key(r["image"]): r for r in records}
    best, widths = [], []
    for ann in annotations:
        record = by_photo.get(evaluate._photo_key(ann.image_path))
        if record is None or not len(ann.xyxy):
            continue
        boxes = np.array([f["box"] for f in record["faces"]], np.float32).reshape(-1, 4)
        best += list(iou_matrix(ann.xyxy, boxes).max(axis=1) if len(boxes) else np.zeros(len(ann.xyxy)))
        widths += list(ann.xyxy[:, 2] - ann.xyxy[:, 0])
    best, widths = np.array(best), np.array(widths)
    print(f"{source}: {len(best)} annotated faces; best IoU with any candidate: "
          + ", ".join(f"{lo}-{hi}: {np.mean((best >= lo) & (best < hi)):.3f}"
                      for lo, hi in ((0, 0.1), (0.1, 0.3), (0.3, 0.5), (0.5, 1.01))))
    for iou in (0.5, 0.4, 0.3):
        evaluate.detection_report = functools.partial(detection_report, iou=iou)
        ap = evaluate.score_records(records, annotations)["ap"]
        large, small = ap["large (>=32 px)"], ap["small (<32 px)"]
        print(f"  IoU {iou}: mean AP {ap['all']['mean(with,without)']:.3f}, >= 32 px "
              f"{large['mean(with,without)']:.3f}, < 32 px {small['mean(with,without)']:.3f}, "
              f"worn incorrectly {ap['all']['mask_worn_incorrectly']:.3f}")
