"""Place third-party weights: copy from ../shared, else download and check the SHA-256."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import urllib.request
from pathlib import Path

from facemask.config import SHARED, WEIGHTS_DIR, WEIGHTS_MANIFEST


def manifest() -> list[dict]:
    return json.loads(WEIGHTS_MANIFEST.read_text())["files"]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def place_weights(download: bool = True, log=print) -> dict[str, bool]:
    """Make sure each manifest file sits in WEIGHTS_DIR with the right checksum; return name -> present."""
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    present: dict[str, bool] = {}
    for entry in manifest():
        target = WEIGHTS_DIR / entry["name"]
        if target.exists() and sha256(target) == entry["sha256"]:
            present[entry["name"]] = True
            continue
        source = SHARED / entry["shared"]
        if source.exists():
            shutil.copyfile(source, target)
            log(f"copied {entry['name']} from {source}")
        elif download and entry.get("url"):
            log(f"downloading {entry['name']} from {entry['url']}")
            try:
                tmp = target.with_suffix(target.suffix + ".part")
                urllib.request.urlretrieve(entry["url"], tmp)
                tmp.replace(target)
            except OSError as exc:
                log(f"could not download {entry['name']}: {exc}")
        ok = target.exists() and sha256(target) == entry["sha256"]
        if target.exists() and not ok:
            log(f"{entry['name']}: checksum mismatch, file removed")
            target.unlink()
        present[entry["name"]] = ok
    return present


def main() -> int:
    """Exit 0 when every file the app and the CLI serve with is in place; a file only training needs
    (the ImageNet backbone, which has no download address) is reported but does not fail set-up."""
    present = place_weights()
    serving = {entry["name"]: entry.get("serving", True) for entry in manifest()}
    for name, ok in present.items():
        note = "" if ok or serving[name] else " (only `facemask train` needs it: place ../shared beside the repo)"
        print(f"{'ok     ' if ok else 'MISSING'} {name}{note}")
    return 0 if all(ok for name, ok in present.items() if serving[name]) else 1


if __name__ == "__main__":
    sys.exit(main())
