"""Face by face, how two recipes' fold models judge the annotated faces of one class.

For every annotated face of the class (in one fold, or all), the probability of that class each
recipe's model gave the detector box that fits it best (IoU >= 0.5, highest detector score), and
the class AP of each recipe over the same photos. Both files must hold the same boxes.
Run: python notebooks/compare_out_of_fold.py A/out_of_fold.npz B/out_of_fold.npz [--class NAME] [--fold I]
"""
import argparse

import numpy as np
from out_of_fold import OutOfFold

from facemask import config
from facemask.detections import iou_matrix

parser = argparse.ArgumentParser()
parser.add_argument("before")
parser.add_argument("after")
parser.add_argument("--class", dest="name", default="mask_worn_incorrectly", choices=config.CLASS_NAMES)
parser.add_argument("--fold", type=int, default=None)
args = parser.parse_args()
cid = config.CLASS_NAMES.index(args.name)
runs = [OutOfFold(args.before), OutOfFold(args.after)]
first = runs[0].data
if not runs[0].same_boxes(runs[1]):
    raise SystemExit("These files hold different boxes: they come from different folds or detectors.")
photos = [p for p in range(runs[0].photos) if args.fold is None or first["photo_fold"][p] == args.fold]

print(f"| face width | {args.before} | {args.after} |\n|---|---|---|")
rose = boxed = 0
for p in photos:
    boxes, classes = runs[0].gts[p]
    dets = np.where(runs[0].in_photo[p])[0]
    for box in boxes[classes == cid]:
        ious = iou_matrix(first["det_xyxy"][dets], box[None])[:, 0] if len(dets) else np.zeros(0)
        fits = dets[ious >= 0.5]
        if not len(fits):
            print(f"| {box[2] - box[0]:.0f} px | no box | no box |")
            continue
        best = fits[np.argmax(first["det_face_score"][fits])]
        before, after = (run.data["det_probs"][best, cid] for run in runs)
        boxed += 1
        rose += int(after > before)
        print(f"| {box[2] - box[0]:.0f} px | {before:.2f} | {after:.2f} |")

before_ap, after_ap = (run.report(run.data["det_probs"], photos=photos)["ap"]["all"][args.name] for run in runs)

print(f"\nprobability rose on {rose} of {boxed} boxed faces; AP {before_ap:.3f} -> {after_ap:.3f}")
