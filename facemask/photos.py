"""Which photos a batch covers: `facemask detect SOURCE...` takes files, folders, globs and list files,
in process or on Ray alike."""

from __future__ import annotations

import glob
from pathlib import Path

from facemask.errors import FacemaskError
from facemask.imageio import IMAGE_SUFFIXES

# a SOURCE with one of these suffixes lists photos, one path a line (blank lines and # comments skipped)
LIST_SUFFIXES = (".txt", ".lst", ".list")
GLOB_CHARACTERS = "*?["


def expand_sources(sources: list[str]) -> list[str]:
    """Photo paths in order: a file as given, a folder's pictures (sorted), a glob's pictures (sorted,
    `**` reaches into subfolders), a list file's lines (relative ones from the list's folder)."""
    out: list[str] = []
    for source in sources:
        path = Path(source)
        if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            for entry in _list_entries(path):
                out += _expand_one(entry)
        else:
            out += _expand_one(source)
    return out


def _expand_one(source: str) -> list[str]:
    path = Path(source)
    if path.is_dir():
        return [str(path / p.name) for p in sorted(path.iterdir())
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not path.exists() and any(c in source for c in GLOB_CHARACTERS):
        found = [p for p in sorted(glob.glob(source, recursive=True))
                 if Path(p).is_file() and Path(p).suffix.lower() in IMAGE_SUFFIXES]
        if not found:
            raise FacemaskError(f"{source}: no picture matches this pattern.")
        return found
    return [source]  # a file, or a missing one: reading it reports the problem, the batch goes on


def _list_entries(list_file: Path) -> list[str]:
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FacemaskError(f"{list_file}: cannot be read as a list of paths ({exc}).") from None
    entries = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry = Path(line).expanduser()
        entries.append(line if entry.is_absolute() else str(list_file.parent / entry))
    return entries
