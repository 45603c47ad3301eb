"""Cross-validate the training recipe on the dev photos the shipped model trains on (train + val).

The photos are cut into K folds by file name (facemask/dataset.py: cv_fold). For each fold, a model
is trained with `facemask train --fold I/K` on the close-ups and the faces of the other folds; then
the whole pipeline scores every photo with the model that never saw it, and the K parts are pooled
into one report (AP per class and size, status accuracy), written where the metrics page reads it.

Run: python notebooks/cross_validate.py [K] [--out .cache/cv] [--json models/eval_metrics_cv.json] [TRAIN OPTIONS]
Options it does not know (--size 96, --epochs 8) go to every `facemask train` it runs.
Fold models already in --out are reused; delete them after changing the recipe.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from facemask import config
from facemask.classifier import MaskClassifier
from facemask.dataset import load_voc_dir, split_of
from facemask.detectors import create_detector
from facemask.evaluate import format_report, run_pipeline
from facemask.metrics import detection_report
from facemask.pipeline import Pipeline
from facemask.training import TRAIN_PHOTOS

parser = argparse.ArgumentParser()
parser.add_argument("folds", type=int, nargs="?", default=3)
parser.add_argument("--out", type=Path, default=config.CACHE_DIR / "cv")
parser.add_argument("--json", type=Path, default=config.EVAL_METRICS_CV)
args, train_args = parser.parse_known_args()  # the rest goes to `facemask train` (e.g. --size 96)
k = args.folds

for i in range(k):
    model = args.out / f"fold{i}of{k}" / config.TFLITE_MODEL.name
    if not model.exists():
        cmd = [sys.executable, "-m", "facemask.cli", "train", "--photos", TRAIN_PHOTOS, "--fold", f"{i}/{k}",
               "--out", str(model.parent), "--plots", str(model.parent / "plots"), *train_args]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)

started = time.perf_counter()
detector = create_detector(config.DEFAULT_DETECTOR, threshold=config.CANDIDATE_THRESHOLD)
gts, preds, face_scores, face_probabilities, labels, probabilities, fold_of, split_of_photo, photos = \
    [], [], [], [], [], [], [], [], 0
for i in range(k):
    anns = load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, TRAIN_PHOTOS, fold=("in", i, k))
    model = args.out / f"fold{i}of{k}" / config.TFLITE_MODEL.name
    pipeline = Pipeline(detector, classifier=MaskClassifier(model))
    for ann, (_, dets) in zip(anns, run_pipeline(pipeline, anns)):
        gts.append((ann.xyxy, ann.class_id))
        preds.append((dets.xyxy, dets.class_scores))
        face_scores.append(dets.face_score)
        face_probabilities.append(dets.face_probability)
        labels.append(dets.class_id)
        probabilities.append(dets.probabilities)
        fold_of.append(i)
        split_of_photo.append(split_of(ann.image_path.stem))
    photos += len(anns)
    print(f"fold {i}: {len(anns)} photos scored by {model}", flush=True)

# every candidate face with its out-of-fold probabilities, so that decision rules can be compared
# later without training again (notebooks/decision_rule.py)
np.savez(args.out / "out_of_fold.npz",
         gt_photo=np.concatenate([np.full(len(g[0]), i) for i, g in enumerate(gts)]),
         gt_xyxy=np.concatenate([g[0] for g in gts]), gt_class=np.concatenate([g[1] for g in gts]),
         det_photo=np.concatenate([np.full(len(fs), i) for i, fs in enumerate(face_scores)]),
         det_xyxy=np.concatenate([p[0] for p in preds]), det_face_score=np.concatenate(face_scores),
         det_face_probability=np.concatenate(face_probabilities),
         det_probs=np.concatenate(probabilities), photo_fold=np.array(fold_of))
report = detection_report(gts, preds, face_probabilities, labels, config.DEFAULT_THRESHOLD)
report.update({"detector": detector.name, "classifier": f"{k} fold models ({args.out})",
               "backend": config.CLASSIFIER_BACKEND, "images": photos,
               "split": f"{TRAIN_PHOTOS}, {k}-fold cross-validation",
               "images_dir": str(config.DEV_IMAGES),
               "seconds_per_image": round((time.perf_counter() - started) / max(photos, 1), 4)})
args.json.parent.mkdir(parents=True, exist_ok=True)
args.json.write_text(json.dumps(report, indent=2))
print(format_report(report))
# the same per fold, to show how much the figures move from one set of photos to another, and per
# split: on the val photos it compares with a model trained on the train photos alone
parts = {f"fold {i}": [j for j, f in enumerate(fold_of) if f == i] for i in range(k)}
parts.update({split: [j for j, s in enumerate(split_of_photo) if s == split] for split in TRAIN_PHOTOS.split("+")})
for name, sel in parts.items():
    r = detection_report(*([x[j] for j in sel] for x in (gts, preds, face_probabilities, labels)),
                         config.DEFAULT_THRESHOLD)
    print(f"{name} ({len(sel)} photos): mean AP {r['ap']['all']['mean(with,without)']:.3f}, large "
          f"{r['ap']['large (>=32 px)']['mean(with,without)']:.3f}, incorrect "
          f"{r['ap']['all']['mask_worn_incorrectly'] or 0:.3f} ({r['n_gt']['all']['mask_worn_incorrectly']} faces), "
          f"status {r['operating_point']['status_accuracy']:.3f}", flush=True)
