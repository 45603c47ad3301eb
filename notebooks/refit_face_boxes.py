"""Add the box fit (facemask/vision/box_fit.py) to a model trained before `facemask train` made one, without
retraining its classifier: the fit uses the detector's boxes alone, on the same training photos.

    python notebooks/refit_face_boxes.py models                      # the shipped model: train + val photos
    python notebooks/refit_face_boxes.py .cache/cv/fold0of3 --fold 0/3   # a cross-validation fold's model

Writes `box_fit` into DIR/model_info.json, as `facemask train` would for the same photos and fold.
"""
import argparse
import json
from pathlib import Path

from facemask.training import TRAIN_PHOTOS
from facemask.training.photos import face_box_fit

parser = argparse.ArgumentParser()
parser.add_argument("model_dir", type=Path)
parser.add_argument("--fold", help="I/K: the fold the model was trained without")
parser.add_argument("--photos", default=TRAIN_PHOTOS)
args = parser.parse_args()

fold = tuple(int(v) for v in args.fold.split("/")) if args.fold else None
info_path = args.model_dir / "model_info.json"
info = json.loads(info_path.read_text())
info["box_fit"] = face_box_fit(args.photos, fold)
info_path.write_text(json.dumps(info, indent=2))
print(f"{info_path}: box fit on {info['box_fit']['boxes']} candidate boxes ({args.photos}"
      + (f", without fold {fold[0]} of {fold[1]})" if fold else ")"))
