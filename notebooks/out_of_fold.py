"""The out-of-fold detections notebooks/cross_validate.py saves, scored again with any class
probabilities for the same boxes (shared by decision_rule.py, average_out_of_fold.py and
test_time_crops.py, which import it from this folder)."""
from pathlib import Path

import numpy as np

from facemask import config
from facemask.metrics import detection_report


def table_head(first_column: str) -> str:
    return (f"| {first_column} | mean AP | mean AP >= 32 px | AP worn incorrectly | status accuracy |\n"
            "|---|---|---|---|---|")


class OutOfFold:
    """One out_of_fold.npz: its arrays in `data`, its photos' annotated faces, its boxes per photo."""

    def __init__(self, path: Path) -> None:
        self.data = data = np.load(path)
        self.photos = int(max(data["gt_photo"].max(), data["det_photo"].max())) + 1
        self.in_photo = [data["det_photo"] == i for i in range(self.photos)]
        self.gts = [(data["gt_xyxy"][data["gt_photo"] == i], data["gt_class"][data["gt_photo"] == i])
                    for i in range(self.photos)]

    def report(self, probs: np.ndarray) -> dict:
        """The pooled report of the saved boxes with these class probabilities, one row per box."""
        boxes, face_scores = self.data["det_xyxy"], self.data["det_face_score"]
        preds = [(boxes[s], probs[s] * face_scores[s][:, None]) for s in self.in_photo]
        return detection_report(self.gts, preds, [face_scores[s] for s in self.in_photo],
                                [probs[s].argmax(axis=1) for s in self.in_photo], config.DEFAULT_THRESHOLD)

    def table_row(self, name: str, probs: np.ndarray) -> str:
        r = self.report(probs)
        ap, large = r["ap"]["all"], r["ap"]["large (>=32 px)"]
        return (f"| {name} | {ap['mean(with,without)']:.3f} | {large['mean(with,without)']:.3f} | "
                f"{ap['mask_worn_incorrectly']:.3f} | {r['operating_point']['status_accuracy']:.3f} |")
