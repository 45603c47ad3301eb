"""What averaging several recipes' models would give: pool their saved out-of-fold probabilities.

Every out_of_fold.npz given must come from the same folds and detector (same boxes); each box's
class probabilities and P(face) are averaged over the files (the face-score calibration depends
only on the folds, so the average P(face) is that of the averaged not_a_face output) and scored
like notebooks/cross_validate.py does; each file alone is scored with its own P(face).
Run: python notebooks/average_out_of_fold.py A/out_of_fold.npz B/out_of_fold.npz [...]
"""
import sys

import numpy as np
from out_of_fold import OutOfFold, table_head

runs = [OutOfFold(path) for path in sys.argv[1:]]
first = runs[0]
for other in runs[1:]:
    if not first.same_boxes(other):
        sys.exit("These files hold different boxes: they come from different folds or detectors.")

print(table_head("models"))
for path, run in zip(sys.argv[1:], runs):
    print(first.table_row(path, run.data["det_probs"], face_probability=run.data["det_face_probability"]))
print(first.table_row("average", np.mean([run.data["det_probs"] for run in runs], axis=0),
                      face_probability=np.mean([run.data["det_face_probability"] for run in runs], axis=0)))
