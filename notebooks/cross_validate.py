"""Cross-validate the training recipe over the train + val photos of every source, scored as a user would.

The photos of each source are cut into K folds by near-duplicate group (facemask/evaluation/dataset.py: cv_fold).
For each fold a model is trained with `facemask train --fold I/K` on the close-ups and the photos of the
other folds; then `facemask detect --model M --threshold 0 --json` runs on the fold's photos, so every
photo is scored by a model that never saw it. The K files of a source are joined into one and scored
by `facemask evaluate --predictions FILE --annotations DIR`: the CLI's own output, ranked by its score.

Live mode is scored the same way: `facemask detect --mode MODE --frame WxH` sees each photo as a camera
films it (config.LIVE_FRAMES: the dev photos in a webcam's 640x480, the second collection's in a door
camera's 1280x720; config.LIVE_FRAME_MODES says which live source runs each).

Run: python notebooks/cross_validate.py [K] [--out .cache/cv] [TRAIN OPTIONS, e.g. --stock-detector]
Writes OUT/SOURCE.json and OUT/SOURCE_live.json (the detections), OUT/SOURCE_report.json and
OUT/SOURCE_live_report.json, and models/eval_metrics_cv.json (both sources' reports, photo and live mode,
read by the metrics page). Fold models and detections already in --out are reused.
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
MODES = {"": [], "_live": None}  # suffix of the files -> extra `detect` options (live: per source, below)


def detect_options(suffix: str, source: str) -> list[str]:
    if not suffix:
        return []
    width, height = config.LIVE_FRAMES[source]
    return ["--mode", config.LIVE_FRAME_MODES[source], "--frame", f"{width}x{height}"]


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
        for suffix in MODES:
            detections = args.out / f"fold{i}of{k}" / f"{source}{suffix}.json"
            if not detections.exists():
                run([*cli, "detect", listing, "--model", model, "--threshold", "0", "--json", detections,
                     *detect_options(suffix, source)])

reports = {}
for source, (_, annotations) in config.SOURCES.items():
    for suffix in MODES:
        joined = []
        for i in folds:
            joined += json.loads((args.out / f"fold{i}of{k}" / f"{source}{suffix}.json").read_text())
        (args.out / f"{source}{suffix}.json").write_text(json.dumps(joined))
        report_path = args.out / f"{source}{suffix}_report.json"
        run([*cli, "evaluate", "--predictions", args.out / f"{source}{suffix}.json", "--annotations", annotations,
             "--json", report_path])
        report = json.loads(report_path.read_text())
        report["split"] = f"{TRAIN_PHOTOS}, {k}-fold cross-validation" + (
            f" (folds {', '.join(map(str, folds))} only)" if len(folds) < k else "")
        if suffix:
            width, height = config.LIVE_FRAMES[source]
            report["mode"] = f"live ({config.LIVE_FRAME_MODES[source]}), photos fitted into {width}x{height} frames"
            reports[source]["live"] = report
        else:
            reports[source] = report
args.json.parent.mkdir(parents=True, exist_ok=True)
args.json.write_text(json.dumps({"sources": reports}, indent=2))
print(f"wrote {args.json}")
