"""Cross-validate the training recipe over the train + val photos of every source, scored as a user would.

The photos of each source are cut into K folds by near-duplicate group (facemask/evaluation/dataset.py: cv_fold).
For each fold a model is trained with `facemask train --fold I/K` on the close-ups and the photos of the
other folds; then `facemask detect --model M --threshold 0 --json` runs on the fold's photos, so every
photo is scored by a model that never saw it. The K files of a source are joined into one and scored
by `facemask evaluate --predictions FILE --annotations DIR`: the CLI's own output, ranked by its score.

Run: python notebooks/cross_validate.py [K] [--out .cache/cv] [TRAIN OPTIONS]
Writes OUT/SOURCE.json (the detections), OUT/SOURCE_report.json, and models/eval_metrics_cv.json
(both sources' reports, read by the metrics page). Fold models already in --out are reused.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

from facemask import config
from facemask.evaluation.dataset import load_source
from facemask.training import TRAIN_PHOTOS

parser = argparse.ArgumentParser()
parser.add_argument("folds", type=int, nargs="?", default=3)
parser.add_argument("--out", type=Path, default=config.CACHE_DIR / "cv")
parser.add_argument("--json", type=Path, default=config.EVAL_METRICS_CV)
parser.add_argument("--folds-only", type=int, nargs="*", help="train and score only these folds (a partial run)")
args, train_args = parser.parse_known_args()  # the rest goes to `facemask train`
k = args.folds
folds = args.folds_only if args.folds_only else list(range(k))
cli = [sys.executable, "-m", "facemask.cli"]


def run(cmd):
    print("$", " ".join(map(str, cmd)), flush=True)
    subprocess.run(list(map(str, cmd)), check=True)


for i in folds:
    model = args.out / f"fold{i}of{k}" / config.TFLITE_MODEL.name
    if not model.exists():
        run([*cli, "train", "--photos", TRAIN_PHOTOS, "--fold", f"{i}/{k}", "--out", model.parent, *train_args])
    for source in config.SOURCES:
        listing = args.out / f"fold{i}of{k}" / f"{source}_photos.txt"
        listing.write_text("".join(f"{a.image_path}\n" for a in load_source(source, TRAIN_PHOTOS, fold=("in", i, k))))
        detections = args.out / f"fold{i}of{k}" / f"{source}.json"
        if not detections.exists():
            run([*cli, "detect", listing, "--model", model, "--threshold", "0", "--json", detections])

reports = {}
for source, (_, annotations) in config.SOURCES.items():
    joined = []
    for i in folds:
        joined += json.loads((args.out / f"fold{i}of{k}" / f"{source}.json").read_text())
    (args.out / f"{source}.json").write_text(json.dumps(joined))
    report_path = args.out / f"{source}_report.json"
    run([*cli, "evaluate", "--predictions", args.out / f"{source}.json", "--annotations", annotations,
         "--json", report_path])
    reports[source] = json.loads(report_path.read_text())
    reports[source]["split"] = f"{TRAIN_PHOTOS}, {k}-fold cross-validation" + (
        f" (folds {', '.join(map(str, folds))} only)" if len(folds) < k else "")
args.json.parent.mkdir(parents=True, exist_ok=True)
args.json.write_text(json.dumps({"sources": reports}, indent=2))
print(f"wrote {args.json}")
