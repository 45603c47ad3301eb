"""Sinks beside the core: the JSON and CSV shapes shared by the CLI and the app."""

from __future__ import annotations

import csv
import io
import re

from facemask.config import CLASS_NAMES
from facemask.detections import Detections

CSV_FIELDS = ["image", "face", "label", "score", "face_probability", "label_probability", "detector_score",
              "x1", "y1", "x2", "y2",
              *(f"p_{name}" for name in CLASS_NAMES)]


def image_record(name: str, width: int, height: int, detections: Detections) -> dict:
    """One entry of `facemask detect --json`."""
    return {"image": name, "width": int(width), "height": int(height), "faces": detections.to_records()}


def records_to_csv(records: list[dict]) -> str:
    """One CSV row per face across all images."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for rec in records:
        for k, face in enumerate(rec["faces"], start=1):
            x1, y1, x2, y2 = face["box"]
            row = {"image": rec["image"], "face": k, "x1": x1, "y1": y1, "x2": x2, "y2": y2}
            row.update({key: face[key] for key in ("label", "score", "face_probability", "label_probability",
                                                    "detector_score")})
            row.update({f"p_{name}": p for name, p in face["probabilities"].items()})
            writer.writerow(row)
    return buffer.getvalue()


def total_counts(records: list[dict]) -> dict[str, int]:
    counts = {name: 0 for name in CLASS_NAMES}
    for rec in records:
        for face in rec["faces"]:
            counts[face["label"]] += 1
    return counts


def safe_filename(name: str, suffix: str = "") -> str:
    """A download name with no path parts or odd characters."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip("._") or "image"
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    return f"{stem[:80]}{suffix}"
