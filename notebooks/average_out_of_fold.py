"""What averaging several recipes' models would give: pool their saved out-of-fold probabilities.

Every out_of_fold.npz given must come from the same folds and detector (same boxes); each photo's
probabilities are averaged over the files and scored like notebooks/cross_validate.py does.
Run: python notebooks/average_out_of_fold.py A/out_of_fold.npz B/out_of_fold.npz [...]
"""
import sys

import numpy as np

from facemask import config
from facemask.metrics import detection_report

runs = [np.load(path) for path in sys.argv[1:]]
data = runs[0]
for other in runs[1:]:
    if not np.allclose(other["det_xyxy"], data["det_xyxy"]):
        sys.exit("These files hold different boxes: they come from different folds or detectors.")
photos = int(data["gt_photo"].max()) + 1
in_photo = [data["det_photo"] == i for i in range(photos)]
gts = [(data["gt_xyxy"][data["gt_photo"] == i], data["gt_class"][data["gt_photo"] == i]) for i in range(photos)]


def row(name: str, p: np.ndarray) -> str:
    preds = [(data["det_xyxy"][s], p[s] * data["det_face_score"][s][:, None]) for s in in_photo]
    r = detection_report(gts, preds, [data["det_face_score"][s] for s in in_photo],
                         [p[s].argmax(axis=1) for s in in_photo], config.DEFAULT_THRESHOLD)
    ap, large = r["ap"]["all"], r["ap"]["large (>=32 px)"]
    return (f"| {name} | {ap['mean(with,without)']:.3f} | {large['mean(with,without)']:.3f} | "
            f"{ap['mask_worn_incorrectly']:.3f} | {r['operating_point']['status_accuracy']:.3f} |")


print("| models | mean AP | mean AP >= 32 px | AP worn incorrectly | status accuracy |\n|---|---|---|---|---|")
for path, run in zip(sys.argv[1:], runs):
    print(row(path, run["det_probs"]))
print(row("average", np.mean([run["det_probs"] for run in runs], axis=0)))
