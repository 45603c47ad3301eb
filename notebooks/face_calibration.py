"""What the face-score calibration (facemask/vision/calibration.py) does to a recipe's cross-validated
figures, from its saved out-of-fold detections, without training again.

For each fold, the calibration is fitted on the other folds' boxes, which are the boxes `facemask
train --fold` fits it on (the same detector on the same training photos), and ranks that fold's
boxes by P(face) x class probability instead of detector score x class probability.
Run: python notebooks/face_calibration.py [.cache/cv/out_of_fold.npz]
"""
import sys

import numpy as np
from out_of_fold import OutOfFold, table_head

from facemask import config
from facemask.detections import iou_matrix
from facemask.vision import calibration

oof = OutOfFold(sys.argv[1] if len(sys.argv) > 1 else config.CACHE_DIR / "cv" / "out_of_fold.npz")
boxes, scores, probs = oof.data["det_xyxy"], oof.data["det_face_score"], oof.data["det_probs"]
on_face = np.zeros(len(boxes), bool)
for photo in range(oof.photos):
    dets = np.where(oof.in_photo[photo])[0]
    if len(dets) and len(oof.gts[photo][0]):
        on_face[dets] = iou_matrix(boxes[dets], oof.gts[photo][0]).max(axis=1) >= 0.5
fold_of_box = oof.data["photo_fold"][oof.data["det_photo"]]
face_probability = np.zeros(len(boxes), np.float32)
print("| fold | P(face) = sigmoid(a + b logit(score)) | boxes it is fitted on |\n|---|---|---|")
for fold in np.unique(fold_of_box):
    fitted = calibration.fit(scores[fold_of_box != fold], on_face[fold_of_box != fold], config.DEFAULT_DETECTOR)
    face_probability[fold_of_box == fold] = calibration.apply(scores[fold_of_box == fold], fitted,
                                                              config.DEFAULT_DETECTOR)
    print(f"| {fold} | a = {fitted['intercept']:.2f}, b = {fitted['slope']:.2f} | "
          f"{fitted['boxes']} ({fitted['boxes_on_faces']} on faces) |")
print()
print(table_head("ranking"))
print(oof.table_row("detector score x class probability", probs, face_probability=scores))
print(oof.table_row("P(face) x class probability", probs, face_probability=face_probability))
