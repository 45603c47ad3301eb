"""Pascal VOC face annotations and the fixed split of the dev photos (train / val / holdout)."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facemask.config import CACHE_DIR, CLASS_NAMES, SOURCES, VOC_CLASS_MAP
from facemask.errors import FacemaskError

# Share of photos per split, decided by a hash of the photo's near-duplicate group (the file name of
# its first member) so it never depends on order, and copies of one scene never straddle two splits.
# The shipped classifier trains on the faces of train + val; cross-validation over those photos
# (notebooks/cross_validate.py) scores the recipe, and holdout scores the shipped model.
SPLIT_BOUNDS = {"train": (0, 50), "val": (50, 85), "holdout": (85, 100)}


NEAR_DUPLICATE_BITS = 12  # photos whose 256-bit difference hashes differ in at most this many bits are one group


@dataclass
class Annotation:
    image_path: Path
    xyxy: np.ndarray  # (N, 4) float32
    class_id: np.ndarray  # (N,) int64
    group: str = ""  # near-duplicate group: the stem of its first photo (photo_groups)
    source: str = ""  # which collection (config.SOURCES), when loaded by load_source


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
    Splits and folds keep each near-duplicate group together (photo_groups).
    """
    images_dir, annotations_dir = Path(images_dir), Path(annotations_dir)
    if not annotations_dir.is_dir():
        raise FacemaskError(f"{annotations_dir}: annotations folder not found.")
    files = sorted(annotations_dir.glob("*.xml"), key=lambda p: p.stem)
    groups = photo_groups(images_dir) if (split or fold) else {}
    group_of = {f.stem: groups.get(f.stem, f.stem) for f in files}
    if split:
        wanted = set(split.split("+"))
        unknown = wanted - set(SPLIT_BOUNDS)
        if unknown:
            raise FacemaskError(f"Unknown split {', '.join(sorted(unknown))}; use {', '.join(SPLIT_BOUNDS)}.")
        files = [f for f in files if split_of(group_of[f.stem]) in wanted]
    if fold:
        side, i, k = fold
        files = [f for f in files if (cv_fold(group_of[f.stem], k) == i) == (side == "in")]
    annotations = [read_voc(f, images_dir) for f in files]
    for f, ann in zip(files, annotations):
        ann.group = group_of[f.stem]
    return annotations


def load_source(source: str, split: str | None = None, fold: tuple[str, int, int] | None = None) -> list[Annotation]:
    """The annotated photos of one collection of config.SOURCES ("dev", "extra"), tagged with it."""
    if source not in SOURCES:
        raise FacemaskError(f"Unknown photo source {source!r}; use {', '.join(SOURCES)}.")
    annotations = load_voc_dir(*SOURCES[source], split, fold)
    for ann in annotations:
        ann.source = source
    return annotations


def images_beside(annotations_dir: Path) -> Path:
    """The photos of an annotations folder: a known source's, else an `images` folder beside it, else
    the folder itself (where Pascal VOC files often sit next to their pictures)."""
    annotations_dir = Path(annotations_dir)
    for images, xml_dir in SOURCES.values():
        if annotations_dir.resolve() == Path(xml_dir).resolve():
            return Path(images)
    beside = annotations_dir.parent / "images"
    return beside if beside.is_dir() else annotations_dir


def difference_hash(image_bgr: np.ndarray, side: int = 16) -> np.ndarray:
    """A side x side-bit difference hash (packed): near-identical pictures differ in few bits."""
    import cv2

    gray = cv2.resize(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), (side + 1, side), interpolation=cv2.INTER_AREA)
    return np.packbits((gray[:, 1:] > gray[:, :-1]).flatten())


def photo_groups(images_dir: Path) -> dict[str, str]:
    """Each photo's near-duplicate group, named by the stem of its first member (sorted by name): photos
    within NEAR_DUPLICATE_BITS of one another, chained. Computed once per folder and kept in .cache."""
    import cv2

    files = sorted(p for p in Path(images_dir).glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:  # no pictures to compare: each photo is its own group
        return {}
    key = hashlib.sha1("\n".join(f"{p.name}:{p.stat().st_size}" for p in files).encode()).hexdigest()[:16]
    cache = CACHE_DIR / "photo_groups" / f"{Path(images_dir).parent.name}-{key}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    hashes = []
    for p in files:
        image = cv2.imread(str(p), cv2.IMREAD_REDUCED_COLOR_4)
        hashes.append(np.zeros(32, np.uint8) if image is None else difference_hash(image))
    bits = np.unpackbits(np.array(hashes).reshape(len(files), -1), axis=1).astype(bool)
    parent = list(range(len(files)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(files)):
        close = np.nonzero((bits[i + 1:] != bits[i]).sum(axis=1) <= NEAR_DUPLICATE_BITS)[0] + i + 1
        for j in close:
            a, b = sorted((root(i), root(int(j))))
            parent[b] = a
    groups = {p.stem: files[root(i)].stem for i, p in enumerate(files)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(groups))
    return groups


def split_of(stem: str) -> str:
    """Which split a photo belongs to: a stable function of its group's name (its own, for most photos)."""
    bucket = int(hashlib.sha1(stem.encode()).hexdigest(), 16) % 100
    for name, (lo, hi) in SPLIT_BOUNDS.items():
        if lo <= bucket < hi:
            return name
    raise AssertionError(bucket)


def cv_fold(stem: str, folds: int) -> int:
    """Cross-validation fold of a photo: a stable function of its group's name, independent of the split."""
    return int(hashlib.sha1(f"fold:{stem}".encode()).hexdigest(), 16) % folds
