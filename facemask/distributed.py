"""Ray for the work: `facemask detect --ray` runs the same `Pipeline` on a pool of Ray actors, each holding
the models once (Ray Data: read -> decode -> map_batches(actors) -> write on the driver).

Ray is an optional extra (`pip install -e '.[ray]'`): nothing here imports it until a Ray run starts.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from facemask.config import CLASS_NAMES
from facemask.errors import FacemaskError
from facemask.export import image_record
from facemask.imageio import load_image

RAY_MISSING = "Ray is not installed: `pip install -e '.[ray]'` (or `bash setup.sh --dev`) adds it."
BATCH_SIZE = 4  # photos per actor call: small, so a lost actor redoes little and the bar moves
NO_IMAGE = np.zeros((0, 0, 3), np.uint8)  # the decoded picture of a file that failed to decode


def import_ray():
    """Ray, quiet (usage stats off, its Data logs at ERROR), or one clear FacemaskError if it is missing."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")
    try:
        import ray
    except ImportError:
        raise FacemaskError(RAY_MISSING) from None
    return ray


def quiet_native_stderr() -> Path:
    """Send what Ray's C++ core writes to file descriptor 2 to a log file, for the rest of this process,
    while Python's `sys.stderr` (our messages, the progress bar) stays on the terminal. Returns the log."""
    log = Path(tempfile.gettempdir()) / f"facemask-ray-driver-{os.getuid()}.log"
    sys.stderr.flush()
    terminal = os.dup(2)
    with open(log, "w") as handle:
        os.dup2(handle.fileno(), 2)
    sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
    return log


def connect(address: str | None = None, logs: bool = False, num_cpus: int | None = None):
    """Join the Ray cluster at `address`, or start a local one for this run (address None). No dashboard;
    workers' output and Ray's own messages reach the terminal only when `logs` is true."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    if not logs:
        quiet_native_stderr()
        warnings.filterwarnings("ignore", module=r"ray(\.|$)")
    try:
        ray.init(address=address or "local", num_cpus=None if address else num_cpus, include_dashboard=False,
                 log_to_driver=logs, logging_level=logging.WARNING if logs else logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise FacemaskError(f"cannot start or reach {where} ({first}). Check the address (`ray status` on "
                            "the head node prints it) and that this machine can reach the head.") from None
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the CLI draws its own bar
    context.print_on_execution_start = False
    context.verbose_stats_logs = False
    return ray


def read_photo(row: dict) -> dict:
    """Ray Data's decode step: {"path"} -> the upright BGR picture, or the one-line reason it failed."""
    try:
        return {"path": row["path"], "image": load_image(row["path"]), "error": ""}
    except FacemaskError as exc:
        return {"path": row["path"], "image": NO_IMAGE, "error": str(exc)}


class PhotoDetector:
    """One `Pipeline`, loaded once; called with a batch of decoded photos, it returns each photo's record
    (`facemask.export.image_record`, as JSON text) or error. Runs in a Ray actor, or in process."""

    def __init__(self, settings: dict | None = None) -> None:
        from facemask.pipeline import Pipeline

        self.pipeline = Pipeline(**(settings or {}))

    def __call__(self, batch: dict) -> dict:
        records, errors = [], []
        for path, image, error in zip(batch["path"], batch["image"], batch["error"]):
            record = ""
            if not error:
                try:
                    # photo by photo, as the plain command calls it: the same classifier batches, the same numbers
                    dets = self.pipeline.detect(image)
                    record = json.dumps(image_record(str(path), image.shape[1], image.shape[0], dets))
                except Exception as exc:  # one photo's bug never costs the batch its other photos
                    error = f"{path}: unexpected {type(exc).__name__} ({exc})."
            records.append(record)
            errors.append(error)
        return {"path": np.asarray(batch["path"]), "record": np.asarray(records, dtype=object),
                "error": np.asarray(errors, dtype=object)}


def written_images(jsonl: Path) -> set[str]:
    """The photos a JSONL output already holds. A last line cut short (a run killed while writing) is
    removed, so the re-run writes that photo again, once."""
    if not jsonl.exists():
        return set()
    data = jsonl.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(jsonl, "r+b") as handle:
            handle.truncate(cut)
        data = data[:cut]
    done = set()
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            done.add(json.loads(line)["image"])
        except (ValueError, KeyError, TypeError):
            raise FacemaskError(f"{jsonl}: line {number} is not a record of `facemask detect` "
                                "(write to a new file, or remove that line).") from None
    return done


def photo_results(files: list[str], settings: dict, workers: int | None = None,
                  batch_size: int = BATCH_SIZE) -> Iterator[dict]:
    """Each photo's {"path", "record", "error"} as Ray finishes it (any order), on the connected cluster:
    the paths are spread over blocks, decoded by tasks, detected by `workers` actors (default: one per CPU)."""
    ray = import_ray()
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    workers = max(1, min(workers, -(-len(files) // batch_size)))  # no more actors than batches
    blocks = max(1, min(len(files), workers * 4, len(files) // batch_size + 1))
    dataset = (ray.data.from_items([{"path": name} for name in files], override_num_blocks=blocks)
               # decoding is light beside detection: it rides along without holding a CPU of its own
               .map(read_photo, num_cpus=0)
               .map_batches(PhotoDetector, fn_constructor_kwargs={"settings": settings}, batch_size=batch_size,
                            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1))
    yield from dataset.iter_rows()


def detect_to_jsonl(files: list[str], jsonl: Path, settings: dict, workers: int | None = None,
                    batch_size: int = BATCH_SIZE, progress: Callable[[int, int], None] | None = None,
                    on_error: Callable[[str], None] | None = None) -> dict:
    """Append one line per photo to `jsonl`, skipping the photos it already holds; each photo is written
    exactly once, even when Ray redoes a batch after losing a worker. Returns the run's counts."""
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    done = written_images(jsonl)
    todo = list(dict.fromkeys(name for name in files if name not in done))
    summary = {"photos": len(files), "skipped": len(set(files) & done), "written": 0, "failed": 0,
               "faces": {name: 0 for name in CLASS_NAMES}}
    if not todo:
        return summary
    seen: set[str] = set()
    with open(jsonl, "a", encoding="utf-8") as out:
        if progress:
            progress(0, len(todo))
        for row in photo_results(todo, settings, workers, batch_size):
            name = str(row["path"])
            if name in seen:  # a batch Ray ran twice: the first answer stands
                continue
            seen.add(name)
            if row["error"]:
                summary["failed"] += 1
                if on_error:
                    on_error(str(row["error"]))
            else:
                out.write(row["record"] + "\n")
                out.flush()
                summary["written"] += 1
                for face in json.loads(row["record"])["faces"]:
                    summary["faces"][face["label"]] += 1
            if progress:
                progress(len(seen), len(todo))
    return summary


def read_jsonl(jsonl: Path) -> list[dict]:
    return [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines() if line.strip()]


def detect_to_json(files: list[str], json_path: Path, settings: dict, **kwargs) -> dict:
    """`detect_to_jsonl` into a working file beside `json_path`, then one JSON list in the order of `files`
    (photos already in `json_path` are kept and not redone)."""
    earlier: list[dict] = []
    if json_path.exists():
        try:
            earlier = json.loads(json_path.read_text(encoding="utf-8"))
            assert isinstance(earlier, list) and all("image" in r for r in earlier)
        except (ValueError, AssertionError, TypeError):
            raise FacemaskError(f"{json_path}: exists and is not a `facemask detect --json` list "
                                "(name a new file).") from None
    partial = json_path.with_name(json_path.name + ".partial.jsonl")
    partial.parent.mkdir(parents=True, exist_ok=True)
    have = {r["image"] for r in earlier}
    if have:  # earlier photos count as written: a re-run does not redo them
        known = written_images(partial)
        with open(partial, "a", encoding="utf-8") as out:
            out.writelines(json.dumps(r) + "\n" for r in earlier if r["image"] not in known)
    summary = detect_to_jsonl(files, partial, settings, **kwargs)
    by_name = {r["image"]: r for r in read_jsonl(partial)}
    ordered = [by_name.pop(name) for name in dict.fromkeys(files) if name in by_name]
    records = ordered + list(by_name.values())  # photos of earlier runs outside this one stay
    tmp = json_path.with_name(json_path.name + ".tmp")
    tmp.write_text(json.dumps(records, indent=2))
    tmp.replace(json_path)
    partial.unlink()
    summary["records"] = records
    return summary
