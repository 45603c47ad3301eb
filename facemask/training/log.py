"""Timestamped progress lines for a training run of several minutes."""

from __future__ import annotations

import time


def log(msg: str) -> None:
    """Print one progress line with the time, flushed so that a piped run shows it at once."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
