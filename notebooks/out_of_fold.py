"""The out-of-fold detections notebooks/cross_validate.py saves, scored again with any class
probabilities, or moved boxes (shared by the notebooks of this folder that reread
out_of_fold.npz, which import it from here)."""
from pathlib import Path

import numpy as np

from facemask import config
from facemask.evaluation.metrics import detection_report


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

    def same_boxes(self, other: "OutOfFold") -> bool:
        """Whether the two files hold the same boxes (same folds and detector)."""
        return bool(np.allclose(self.data["det_xyxy"], other.data["det_xyxy"]))

    def report(self, probs: np.ndarray, boxes: np.ndarray | None = None, photos=None,
               face_probability: np.ndarray | None = None) -> dict:
        """The pooled report with these class probabilities, one row per saved box, over all photos
        or the photo indices `photos`; `boxes` replaces the saved boxes (same rows), and
        `face_probability` the saved P(face) that ranks them with the class probabilities and that
        the operating threshold applies to (files saved before the face-score calibration use the
        detector score for both)."""
        boxes = self.data["det_xyxy"] if boxes is None else boxes
        face_scores = self.data["det_face_score"]
        if face_probability is None:
            face_probability = self.data.get("det_face_probability", face_scores)
        photos = range(self.photos) if photos is None else photos
        rows = [self.in_photo[p] for p in photos]
        preds = [(boxes[s], probs[s] * face_probability[s][:, None]) for s in rows]
        return detection_report([self.gts[p] for p in photos], preds, [face_probability[s] for s in rows],
                                [probs[s].argmax(axis=1) for s in rows], config.DEFAULT_THRESHOLD)

    def table_row(self, name: str, probs: np.ndarray, boxes: np.ndarray | None = None,
                  face_probability: np.ndarray | None = None) -> str:
        r = self.report(probs, boxes, face_probability=face_probability)
        ap, large = r["ap"]["all"], r["ap"]["large (>=32 px)"]
        return (f"| {name} | {ap['mean(with,without)']:.3f} | {large['mean(with,without)']:.3f} | "
                f"{ap['mask_worn_incorrectly']:.3f} | {r['operating_point']['status_accuracy']:.3f} |")
