"""What are the boxes the pipeline shows that match no annotated face, and how far off are the boxes that
nearly match? Read from a detections file of `facemask detect --json` (the out-of-fold files of
notebooks/cross_validate.py, say) and the annotations of its source.

Prints, for the boxes shown at the threshold: how many overlap their best annotated face by IoU
< 0.1 (no annotated face there), 0.1-0.3, 0.3-0.5 (a box-shape miss) and >= 0.5; and, for matched
boxes, the median detected / annotated width and height and the centre's offset per face width.
With --sheet, saves a contact sheet of a random sample of the IoU < 0.1 boxes, to look at.

Run: python notebooks/unmatched_boxes.py .cache/cv/extra.json extra [--sheet .cache/unmatched.png]
         [--score detector_score --threshold 0.3]  (the boxes on no face that training teaches as not a face)
"""
import argparse
import json
import random
from pathlib import Path

import cv2
import numpy as np

from facemask import config
from facemask.detections import iou_matrix
from facemask.evaluation.dataset import load_source

parser = argparse.ArgumentParser()
parser.add_argument("detections", type=Path)
parser.add_argument("source", choices=sorted(config.SOURCES))
parser.add_argument("--threshold", type=float, default=config.DEFAULT_THRESHOLD, help="on --score")
parser.add_argument("--score", choices=["face_probability", "detector_score"], default="face_probability",
                    help="detector_score 0.3: the kind of box `facemask train` teaches as not a face")
parser.add_argument("--sheet", type=Path, help="save a contact sheet of unmatched boxes here")
parser.add_argument("--sample", type=int, default=40)
parser.add_argument("--seed", type=int, default=7)
args = parser.parse_args()

annotations = {a.image_path.name: a for a in load_source(args.source)}
best_ious, unmatched, shapes = [], [], []
for record in json.loads(args.detections.read_text()):
    truth = annotations.get(Path(record["image"]).name)
    if truth is None:
        continue
    shown = [f for f in record["faces"] if f[args.score] >= args.threshold]
    if not shown:
        continue
    boxes = np.array([f["box"] for f in shown], np.float32)
    ious = iou_matrix(boxes, truth.xyxy) if len(truth.xyxy) else np.zeros((len(boxes), 1))
    for box, face, row in zip(boxes, shown, ious):
        best = float(row.max())
        best_ious.append(best)
        if best < 0.1:
            unmatched.append((record["image"], box, face[args.score]))
        elif best >= 0.3:
            g = truth.xyxy[int(row.argmax())]
            gw, gh = g[2] - g[0], g[3] - g[1]
            shapes.append(((box[2] - box[0]) / gw, (box[3] - box[1]) / gh,
                           ((box[0] + box[2]) - (g[0] + g[2])) / 2 / gw, ((box[1] + box[3]) - (g[1] + g[3])) / 2 / gh,
                           gw))

counts = np.histogram(best_ious, [0, 0.1, 0.3, 0.5, 1.01])[0]
print(f"{len(best_ious)} boxes at {args.score} >= {args.threshold}: best IoU with an annotated face "
      f"< 0.1: {counts[0]}, 0.1-0.3: {counts[1]}, 0.3-0.5: {counts[2]}, >= 0.5: {counts[3]}")
shapes = np.array(shapes)
for low, high in [(0, 32), (32, 64), (64, 128), (128, 1e9)]:
    part = shapes[(shapes[:, 4] >= low) & (shapes[:, 4] < high)] if len(shapes) else shapes
    if len(part):
        w, h, dx, dy = np.median(part[:, :4], axis=0)
        print(f"annotated width {low:g}-{high:g} px ({len(part)} boxes): detected/annotated width {w:.3f}, "
              f"height {h:.3f}; centre offset x {dx:+.3f}, y {dy:+.3f} of the annotated size")

if args.sheet and unmatched:
    random.seed(args.seed)
    tiles = []
    for image, (x1, y1, x2, y2), p in random.sample(unmatched, min(args.sample, len(unmatched))):
        picture = cv2.imread(image)
        w, h = x2 - x1, y2 - y1
        tile = picture[max(0, int(y1 - h / 2)):int(y2 + h / 2), max(0, int(x1 - w / 2)):int(x2 + w / 2)]
        tile = cv2.resize(tile, (128, 128))
        cv2.putText(tile, f"{p:.2f}", (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1)
        tiles.append(tile)
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 8)
    args.sheet.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.sheet), np.vstack([np.hstack(tiles[i:i + 8]) for i in range(0, len(tiles), 8)]))
    print(f"wrote {args.sheet}: {len(tiles)} of the {len(unmatched)} boxes with IoU < 0.1, drawn at random")
