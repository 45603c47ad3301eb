"""Counts and class names in the words people read (CLI lines, reports); files keep config.CLASS_NAMES."""

from __future__ import annotations

from facemask import config


def plural(count: int, noun: str) -> str:
    """'1 face', '2 faces', '0 faces'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def faces_summary(counts: dict[str, int]) -> str:
    """'3 faces: 1 with mask, 2 without mask' from counts per class (classes seen 0 times left out)."""
    total = sum(counts.values())
    parts = [f"{n} {config.CLASS_TITLES[name].lower()}" for name, n in counts.items() if n]
    return plural(total, "face") + (": " + ", ".join(parts) if parts else "")
