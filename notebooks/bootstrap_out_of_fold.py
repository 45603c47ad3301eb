"""How far the cross-validated figures could move with other photos of the same kind: resample the
photos with replacement and score the saved out-of-fold detections again; with two files, the
same resamples score both, so the spread of the difference says whether a change beats the luck of
the photos. (It does not cover the luck of training: compare seeds for that.)
--first-by-detector-score ranks the first file by the raw detector score, as releases before the
face-score calibration did; given one file, it is then compared with itself ranked by P(face).
Run: python notebooks/bootstrap_out_of_fold.py A/out_of_fold.npz [B/out_of_fold.npz] [--draws 200]
     [--first-by-detector-score]
"""
import argparse

import numpy as np
from out_of_fold import OutOfFold

parser = argparse.ArgumentParser()
parser.add_argument("files", nargs="+")
parser.add_argument("--draws", type=int, default=200)
parser.add_argument("--first-by-detector-score", action="store_true")
args = parser.parse_args()
if args.first_by_detector_score and len(args.files) == 1:
    args.files.append(args.files[0])
runs = [OutOfFold(path) for path in args.files[:2]]
# what ranks each run's boxes with the class probabilities: None is the file's own P(face)
rankings = [runs[0].data["det_face_score"] if args.first_by_detector_score else None] + [None] * (len(runs) - 1)
if len(runs) == 2 and runs[0].photos != runs[1].photos:
    raise SystemExit("These files score different photos.")


def figures(run: OutOfFold, ranking, photos) -> np.ndarray:
    r = run.report(run.data["det_probs"], photos=photos, face_probability=ranking)
    return np.array([r["ap"]["all"]["mean(with,without)"], r["ap"]["large (>=32 px)"]["mean(with,without)"],
                     r["ap"]["all"]["mask_worn_incorrectly"] or 0.0, r["operating_point"]["status_accuracy"]])


rng = np.random.default_rng(0)
draws = [rng.integers(0, runs[0].photos, runs[0].photos) for _ in range(args.draws)]
scores = np.array([[figures(run, rank, photos) for photos in draws]
                   for run, rank in zip(runs, rankings)])  # (runs, draws, figures)
names = ("mean AP", "mean AP >= 32 px", "AP worn incorrectly", "status accuracy")
rows = [(path + (" (detector score)" if rank is not None else ""), scores[i], figures(run, rank, None))
        for i, (path, run, rank) in enumerate(zip(args.files, runs, rankings))]
if len(runs) == 2:
    rows.append(("second minus first", scores[1] - scores[0], rows[1][2] - rows[0][2]))
print(f"{args.draws} resamples of {runs[0].photos} photos: the figure on all photos, and 2.5-97.5 % of the resamples\n")
print("| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
for name, values, whole in rows:
    low, high = np.percentile(values, [2.5, 97.5], axis=0)
    cells = [f"{w:+.3f} ({lo:+.3f} to {hi:+.3f})" if name == "second minus first" else f"{w:.3f} ({lo:.3f}-{hi:.3f})"
             for w, lo, hi in zip(whole, low, high)]
    print(f"| {name} | " + " | ".join(cells) + " |")
    if name == "second minus first":
        print("\nshare of resamples where the second is better: "
              + ", ".join(f"{n} {np.mean(values[:, j] > 0):.2f}" for j, n in enumerate(names)))
