"""Which display threshold on P(face) gives the best face-level F1, on detections files scored by a model
that never saw their photos (the out-of-fold files of notebooks/cross_validate.py)?

Run: python notebooks/threshold_from_detections.py .cache/cv/fold0of3/dev.json:dev .cache/cv/fold0of3/extra.json:extra
(each FILE:SOURCE; the photos of every file are pooled, and each source is shown on its own too)
"""
import sys

import numpy as np

from facemask import config
from facemask.evaluation.dataset import load_source
from facemask.evaluation.evaluate import load_predictions, score_records

THRESHOLDS = np.round(np.arange(0.1, 0.65, 0.05), 2)
runs = []
for arg in sys.argv[1:]:
    path, source = arg.rsplit(":", 1)
    runs.append((source, load_predictions(path), load_source(source)))


def point(records, annotations, threshold):
    op = score_records(records, annotations, threshold)["operating_point"]
    return op["recall"], op["precision"], op["status_accuracy"], op["faces"], op["detections"], op["matched_faces"]


print(f"{'threshold':>9}  " + "  ".join(f"{name:>28}" for name in [s for s, _, _ in runs] + ["pooled"]))
for t in THRESHOLDS:
    cells, totals = [], np.zeros(3)
    for _, records, annotations in runs:
        r, p, s, faces, dets, matched = point(records, annotations, t)
        totals += (faces, dets, matched)
        cells.append(f"R {r:.3f} P {p:.3f} F1 {2 * r * p / max(r + p, 1e-9):.3f} S {s:.3f}")
    faces, dets, matched = totals
    r, p = matched / faces, matched / max(dets, 1)
    cells.append(f"R {r:.3f} P {p:.3f} F1 {2 * r * p / max(r + p, 1e-9):.3f}       ")
    print(f"{t:>9}  " + "  ".join(f"{c:>28}" for c in cells), flush=True)
print(f"(current default {config.DEFAULT_THRESHOLD})")
