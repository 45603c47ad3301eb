"""Which detector passes find the faces of phone-size photos, and at what cost in time and memory?

Two sets of 12 MP pictures, saved as JPEG:
- enlarged: dev and second-source photos enlarged to a long side of 4032 px (large faces, soft pixels);
- mosaic: 3 x 3 second-source photos side by side at their own resolution, 3840 x 2880 px: the small,
  sharp faces of a crowd photographed by a phone.
The whole pipeline (load, detect, classify) runs on them with each candidate set of passes, each in its
own process so that its peak RSS is its own. Recall and precision are at the default threshold, IoU 0.5.

Run: python notebooks/large_photos.py [--set enlarged|mosaic] [--photos 30] [--passes "0:1280,720:2560" ...] [--native]
(--native: the photos each set is made of, at their own size: the recall its 12 MP pictures can be held to)
"""
import argparse
import json
import resource
import subprocess
import sys
import time

import cv2
import numpy as np

from facemask import config
from facemask.evaluation.dataset import load_voc_dir

parser = argparse.ArgumentParser()
parser.add_argument("--set", choices=["enlarged", "mosaic"], default="enlarged")
parser.add_argument("--photos", type=int, default=30, help="photos per source (enlarged), or mosaics")
parser.add_argument("--long-side", type=int, default=4032)
parser.add_argument("--passes", nargs="+", default=["0:0,720:0", "0:1280", "0:1280,720:2048", "0:1280,720:2560"],
                    help="MIN_SIDE:MAX_SIDE per pass, comma-separated (0:0 = native size)")
parser.add_argument("--native", action="store_true",
                    help="run on the photos the set is made of, at their own size, instead of the 12 MP pictures")
parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one set of passes, print JSON
args = parser.parse_args()
out = config.CACHE_DIR / (f"large_{args.long_side}" if args.set == "enlarged" else "large_mosaic")
CELL = (1280, 960)  # mosaic cell (width, height): each photo letterboxed into it at its own scale or smaller


def mosaic_photos():
    """(path of a 3 x 3 mosaic JPEG, its faces' boxes and classes), made once into .cache."""
    out.mkdir(parents=True, exist_ok=True)
    anns = mosaic_selection()
    items = []
    for m in range(len(anns) // 9):
        target = out / f"mosaic{args.photos}_{m:02d}.jpg"  # the selection depends on --photos
        canvas = np.zeros((3 * CELL[1], 3 * CELL[0], 3), np.uint8)
        boxes, classes = [], []
        for cell, ann in enumerate(anns[9 * m:9 * m + 9]):
            image = cv2.imread(str(ann.image_path))
            scale = min(1.0, CELL[0] / image.shape[1], CELL[1] / image.shape[0])
            if scale < 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            x0, y0 = (cell % 3) * CELL[0], (cell // 3) * CELL[1]
            canvas[y0:y0 + image.shape[0], x0:x0 + image.shape[1]] = image
            boxes.append(ann.xyxy * scale + np.array([x0, y0, x0, y0], np.float32))
            classes.append(ann.class_id)
        if not target.exists():
            cv2.imwrite(str(target), canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
        items.append((target, np.concatenate(boxes), np.concatenate(classes)))
    return items


def mosaic_selection():
    """The second-source photos the mosaics are made of, nine a mosaic."""
    anns = [a for a in load_voc_dir(config.EXTRA_IMAGES, config.EXTRA_ANNOTATIONS) if len(a.xyxy)]
    step = max(len(anns) // (9 * args.photos), 1)
    return anns[::step][:9 * args.photos]


def enlarged_selection():
    """The dev and second-source photos that are enlarged, args.photos of each."""
    chosen = []
    for images, annotations in ((config.DEV_IMAGES, config.DEV_ANNOTATIONS),
                                (config.EXTRA_IMAGES, config.EXTRA_ANNOTATIONS)):
        anns = load_voc_dir(images, annotations)
        step = max(len(anns) // args.photos, 1)
        chosen += anns[::step][:args.photos]
    return chosen


def photos():
    if args.native:  # the same photos at their own size: what the 12 MP versions can be held to
        chosen = enlarged_selection() if args.set == "enlarged" else mosaic_selection()
        return [(a.image_path, a.xyxy, a.class_id) for a in chosen]
    return enlarged_photos() if args.set == "enlarged" else mosaic_photos()


def enlarged_photos():
    """(path of the enlarged JPEG, its annotation scaled the same way), made once into .cache."""
    out.mkdir(parents=True, exist_ok=True)
    items = []
    for ann in enlarged_selection():
        target = out / f"{ann.image_path.stem}.jpg"
        image = cv2.imread(str(ann.image_path))
        factor = args.long_side / max(image.shape[:2])
        if not target.exists():
            big = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
            cv2.imwrite(str(target), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
        items.append((target, ann.xyxy * factor, ann.class_id))
    return items


def run_one(passes: str) -> dict:
    from facemask.evaluation.metrics import detection_report
    from facemask.imageio import load_image
    from facemask.vision.detectors import create_detector
    from facemask.vision.pipeline import Pipeline

    sides = [tuple(int(v) for v in p.split(":")) for p in passes.split(",")]
    detector = create_detector("yunet", threshold=config.CANDIDATE_THRESHOLD,
                               min_side=tuple(s[0] for s in sides), max_side=tuple(s[1] for s in sides))
    pipeline = Pipeline(detector)
    gts, preds, fps, labels, seconds = [], [], [], [], []
    for path, xyxy, class_id in photos():
        started = time.perf_counter()
        dets = pipeline.detect(load_image(path), threshold=0.0)
        seconds.append(time.perf_counter() - started)
        gts.append((xyxy, class_id))
        preds.append((dets.xyxy, dets.class_scores))
        fps.append(dets.face_probability)
        labels.append(dets.class_id)
    report = detection_report(gts, preds, fps, labels, config.DEFAULT_THRESHOLD)
    op = report["operating_point"]
    return {"passes": passes, "recall": round(op["recall"], 3), "precision": round(op["precision"], 3),
            "mean_ap": round(report["ap"]["all"]["mean(with,without)"], 3),
            "median_s": round(float(np.median(seconds)), 3), "max_s": round(float(np.max(seconds)), 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


if args.one:
    print(json.dumps(run_one(args.one)))
    sys.exit()
made = photos()
native = " (their photos at their own size)" if args.native else ""
print(f"{len(made)} {args.set}{native} pictures, {sum(len(m[1]) for m in made)} faces")
print(f"{'passes':<22}{'recall':>8}{'precision':>10}{'mean AP':>9}{'median s':>10}{'max s':>7}{'peak RSS MB':>13}")
for passes in args.passes:
    cmd = [sys.executable, __file__, "--set", args.set, "--photos", str(args.photos), "--long-side",
           str(args.long_side), "--one", passes] + (["--native"] if args.native else [])
    r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    print(f"{r['passes']:<22}{r['recall']:>8.3f}{r['precision']:>10.3f}{r['mean_ap']:>9.3f}{r['median_s']:>10.3f}"
          f"{r['max_s']:>7.2f}{r['peak_rss_mb']:>13}", flush=True)
