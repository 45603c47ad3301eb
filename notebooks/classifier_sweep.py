"""Compare mask classifiers on the same detector boxes: the detector runs once per photo (boxes cached in
.cache/), then each classifier file scores the crops, optionally averaged with its mirror image, and ranks
them with its own face-score calibration as the pipeline does.

Run: python notebooks/classifier_sweep.py SPLIT MODEL.tflite [MODEL.tflite ...] [--flip]
"""
import sys
from pathlib import Path

import numpy as np

from facemask import config
from facemask.evaluation.dataset import load_voc_dir
from facemask.evaluation.metrics import detection_report
from facemask.imageio import load_image
from facemask.vision import calibration
from facemask.vision.classifier import MaskClassifier, split_outputs
from facemask.vision.detectors import create_detector
from facemask.vision.pipeline import Pipeline

args = [a for a in sys.argv[1:] if not a.startswith("--")]
split, models, flip = args[0], [Path(m) for m in args[1:]], "--flip" in sys.argv

anns = load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, split)
detector = create_detector(config.DEFAULT_DETECTOR, threshold=config.CANDIDATE_THRESHOLD)
cache = config.CACHE_DIR / f"sweep_boxes_{split}_{config.DEFAULT_DETECTOR}.npz"
if cache.exists():
    saved = np.load(cache)
    boxes = [saved[f"b{i}"] for i in range(len(anns))]
    scores = [saved[f"s{i}"] for i in range(len(anns))]
else:
    found = [detector.detect(load_image(a.image_path)) for a in anns]
    boxes, scores = [f[0] for f in found], [f[1] for f in found]
    np.savez(cache, **{f"b{i}": b for i, b in enumerate(boxes)}, **{f"s{i}": s for i, s in enumerate(scores)})

gts = [(a.xyxy, a.class_id) for a in anns]
for path in models:
    pipeline = Pipeline(detector, classifier=MaskClassifier(path), mirror_average=flip)
    preds, labels, faces = [], [], []
    for ann, b, s in zip(anns, boxes, scores):
        probs, crop_is_face = split_outputs(pipeline.classify(load_image(ann.image_path), b))  # 0 boxes: 0 rows
        # P(face) as Pipeline.detect makes it
        face = calibration.apply(s, pipeline.classifier.face_calibration, detector.name) * crop_is_face
        preds.append((b, probs * face[:, None]))
        labels.append(probs.argmax(1))
        faces.append(face)
    report = detection_report(gts, preds, faces, labels, config.DEFAULT_THRESHOLD)
    ap, op = report["ap"], report["operating_point"]
    mean = {bucket: ap[bucket]["mean(with,without)"] for bucket in ap}
    print(f"{path}{' +flip' if flip else ''}: mean AP {mean['all']:.3f} "
          f"(small {mean['small (<32 px)']:.3f}, large {mean['large (>=32 px)']:.3f}) "
          f"with {ap['all']['with_mask']:.3f} without {ap['all']['without_mask']:.3f} "
          f"incorrect {ap['all']['mask_worn_incorrectly']:.3f}; status {op['status_accuracy']:.3f}", flush=True)
