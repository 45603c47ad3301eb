"""Pascal VOC face annotations and the fixed split of the dev photos (train / val / holdout)."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facemask.config import CLASS_NAMES, VOC_CLASS_MAP
from facemask.errors import FacemaskError

# Share of photos per split, decided by a hash of the file name so it never depends on order.
# The shipped classifier trains on the faces of train + val; cross-validation over those photos
# (notebooks/cross_validate.py) scores the recipe, and holdout scores the shipped model.
SPLIT_BOUNDS = {"train": (0, 50), "val": (50, 85), "holdout": (85, 100)}


@dataclass
class Annotation:
    image_path: Path
    xyxy: np.ndarray  # (N, 4) float32
    class_id: np.ndarray  # (N,) int64


def read_voc(xml_path: Path, images_dir: Path) -> Annotation:
    """Parse one Pascal VOC file; class names are mapped to ours."""
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        raise FacemaskError(f"{xml_path}: not a valid Pascal VOC file ({exc}).") from None
    filename = root.findtext("filename") or (xml_path.stem + ".jpg")
    image_path = images_dir / filename
    if not image_path.exists():
        matches = sorted(images_dir.glob(xml_path.stem + ".*"))
        image_path = matches[0] if matches else image_path
    boxes, ids = [], []
    for obj in root.findall("object"):
        name = VOC_CLASS_MAP.get((obj.findtext("name") or "").strip())
        if name is None:
            continue
        bb = obj.find("bndbox")
        boxes.append([float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")])
        ids.append(CLASS_NAMES.index(name))
    return Annotation(image_path, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(ids, np.int64))


def load_voc_dir(images_dir: Path, annotations_dir: Path, split: str | None = None,
                 fold: tuple[str, int, int] | None = None) -> list[Annotation]:
    """All annotated photos of a folder pair, optionally only some splits of them ("train+val").

    fold: ("in" | "out", i, k) keeps only the photos in (or out of) cross-validation fold i of k.
    """
    images_dir, annotations_dir = Path(images_dir), Path(annotations_dir)
    if not annotations_dir.is_dir():
        raise FacemaskError(f"{annotations_dir}: annotations folder not found.")
    files = sorted(annotations_dir.glob("*.xml"), key=lambda p: p.stem)
    if split:
        wanted = set(split.split("+"))
        unknown = wanted - set(SPLIT_BOUNDS)
        if unknown:
            raise FacemaskError(f"Unknown split {', '.join(sorted(unknown))}; use {', '.join(SPLIT_BOUNDS)}.")
        files = [f for f in files if split_of(f.stem) in wanted]
    if fold:
        side, i, k = fold
        files = [f for f in files if (cv_fold(f.stem, k) == i) == (side == "in")]
    return [read_voc(f, images_dir) for f in files]


def split_of(stem: str) -> str:
    """Which split a dev photo belongs to: a stable function of its file name."""
    bucket = int(hashlib.sha1(stem.encode()).hexdigest(), 16) % 100
    for name, (lo, hi) in SPLIT_BOUNDS.items():
        if lo <= bucket < hi:
            return name
    raise AssertionError(bucket)


def cv_fold(stem: str, folds: int) -> int:
    """Cross-validation fold of a dev photo: a stable function of its file name, independent of the split."""
    return int(hashlib.sha1(f"fold:{stem}".encode()).hexdigest(), 16) % folds
