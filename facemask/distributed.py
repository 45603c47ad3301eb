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
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from facemask import config
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
    except Exception as exc:  # Ray raises several kinds here (connection, auth, version): one line for each
        from facemask.redaction import redact

        where = f"the Ray cluster at {address}" if address else "a local Ray"
        first = redact((str(exc).strip().splitlines() or [type(exc).__name__])[0][:200])
        raise FacemaskError(f"cannot start or reach {where} ({type(exc).__name__}: {first}). Check the address "
                            "(`ray status` on the head prints it), that this machine reaches the head, and that it "
                            "has the cluster's token (~/.ray/auth_token or RAY_AUTH_TOKEN_PATH).") from None
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
        from facemask.vision.pipeline import Pipeline

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
               "faces": {name: 0 for name in config.CLASS_NAMES}}
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


# --- cameras on Ray: each camera an actor with one CPU, all writing to one store -------------------------

CAMERA_MAX_RESTARTS = -1  # a camera actor whose process dies is started again, with its camera, every time
POLL_S = 0.5  # how often the driver collects the cameras' status lines


class CameraActor:
    """One camera on a Ray worker: its own live `Pipeline`, the watcher's `CameraWatcher` (facemask.cameras.watch)
    and a `RecordWriter` into the shared store. Its lines wait here for the driver to print them."""

    def __init__(self, source: str, name: str, db_url: str | None, settings: dict, fps: float, privacy: bool,
                 webhook: str | None, retention_days: float | None, status_every_s: float) -> None:
        import ray

        from facemask.cameras.alerts import WebhookAlerter
        from facemask.cameras.store import Store
        from facemask.cameras.watch import CameraWatcher, RecordWriter
        from facemask.vision.pipeline import Pipeline

        self.name, self.status_every_s = name, status_every_s
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.store = Store(db_url, create=False)
        self.writer = RecordWriter(self.store, retention_days=retention_days, say=self.say)
        self.alerter = WebhookAlerter(webhook, say=self.say) if webhook else None
        self.pipeline = Pipeline(live="watch", **settings)
        self.camera = CameraWatcher(source, name, fps=fps, privacy=privacy)
        context = ray.get_runtime_context()
        again = " again after its worker was lost" if context.was_current_actor_reconstructed else ""
        self.say(f"[{name}] running on Ray{again} (node {ray.util.get_node_ip_address()}, pid {os.getpid()})")

    def say(self, message: str) -> None:
        from facemask.redaction import redact

        with self._lock:
            self._lines.append(redact(message))

    def take_lines(self) -> list[str]:
        with self._lock:
            lines, self._lines = self._lines, []
        return lines

    def stop(self) -> None:
        self._stop.set()

    def run(self, until: float | None) -> dict:
        """Watch until the wall-clock time `until` (the same end after a restart), or `stop`; a summary."""
        duration = None if until is None else max(0.0, until - time.time())
        try:
            self.camera.run(self.pipeline, self.writer.put, alerts=self.alerter.send if self.alerter else None,
                            duration_s=duration, stop=self._stop, status_every_s=self.status_every_s, say=self.say)
        finally:
            if self.alerter:
                self.alerter.close()
            self.writer.close()
            self.store.close()
        camera, alerter = self.camera, self.alerter
        return {"frames_analysed": camera.processed, "people": camera.tracker.people_seen,
                "events": camera.recorder.count, "state": camera.status().state,
                "records_written": self.writer.written, "records_lost": self.writer.lost,
                "alerts_sent": alerter.sent if alerter else 0, "alerts_failed": alerter.failed if alerter else 0,
                "alerts_held_back": alerter.held_back if alerter else 0}


def unique_names(sources: list[str], names: list[str] | None) -> list[str]:
    """Each camera's name: its --name, else one made from its source; repeats get -2, -3."""
    from facemask.cameras.sources import camera_name

    names = list(names or [])
    out, seen = [], {}
    for k, source in enumerate(sources):
        name = names[k] if k < len(names) and names[k] else camera_name(source)
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return out


def watch_on_ray(sources: list[str], names: list[str] | None, db_url: str | None, settings: dict,
                 fps: float, duration_s: float | None = None, webhook: str | None = None, privacy: bool = False,
                 retention_days: float | None = None, stop: threading.Event | None = None,
                 status_every_s: float = config.STATUS_INTERVAL_S, say: Callable[[str], None] | None = None) -> dict:
    """`facemask watch --ray`: every camera a Ray actor holding one CPU, restarted with its camera when its
    process dies, all writing to the store at `db_url` (PostgreSQL when the actors run on several machines).
    Needs `connect` first. The same summary as `facemask.cameras.watch.watch`."""
    from facemask.cameras.store import Store, StoreUnavailable
    from facemask.redaction import redact

    ray = import_ray()
    say = say or (lambda line: print(redact(line), file=sys.stderr, flush=True))
    stop = stop or threading.Event()
    db_url = db_url or config.DEFAULT_DB_URL  # this machine's default, not each worker's own
    store = Store(db_url, create=False)
    if store.engine.dialect.name == "sqlite" and len(ray.nodes()) > 1:
        say(f"warning: {store.name} is a file: cameras placed on other machines write to their own copy. "
            "Give every camera one database: --db postgresql://...")
    try:  # made once here, not by every actor at the same moment
        store.ensure_schema()
    except StoreUnavailable as exc:
        say(f"database unavailable at start: {exc} Each camera keeps its records in memory until it answers.")
    finally:
        store.close()
    remote = ray.remote(CameraActor).options(num_cpus=1, max_restarts=CAMERA_MAX_RESTARTS, max_task_retries=-1,
                                             max_concurrency=4)
    cameras = unique_names(sources, names)
    actors = {name: remote.remote(source, name, db_url, settings, fps, privacy, webhook,
                                  retention_days if k == 0 else None, status_every_s)  # one camera purges
              for k, (source, name) in enumerate(zip(sources, cameras))}
    say(f"watching {len(actors)} camera(s) on Ray at {fps:g} fps into {store.name}")
    until = None if duration_s is None else time.time() + duration_s
    runs = {actor.run.remote(until): name for name, actor in actors.items()}
    lines = {actor.take_lines.remote(): actor for actor in actors.values()}
    results: dict[str, dict] = {}
    stopping = False
    try:
        while len(results) < len(runs):
            if stop.is_set() and not stopping:
                stopping = True
                for actor in actors.values():
                    actor.stop.remote()
            ready, _ = ray.wait(list(lines), num_returns=len(lines), timeout=POLL_S)
            for ref in ready:
                actor = lines.pop(ref)
                for line in _get(ray, ref, []):
                    say(line)
                lines[actor.take_lines.remote()] = actor
            done, _ = ray.wait([r for r, n in runs.items() if n not in results], num_returns=1, timeout=0)
            for ref in done:
                results[runs[ref]] = _get(ray, ref, None) or {"frames_analysed": 0, "people": 0, "events": 0,
                                                              "state": "failed", "records_written": 0,
                                                              "records_lost": 0}
    finally:
        for ref in list(lines):
            for line in _get(ray, ref, [], timeout=5):
                say(line)
        for line in (line for actor in actors.values() for line in _get(ray, actor.take_lines.remote(), [], 5)):
            say(line)  # the cameras' last lines, said as their runs ended
        for actor in actors.values():
            ray.kill(actor, no_restart=True)
    total = {key: sum(r.get(key, 0) for r in results.values())
             for key in ("records_written", "records_lost", "alerts_sent", "alerts_failed", "alerts_held_back")}
    return {"cameras": {name: {k: results[name][k] for k in ("frames_analysed", "people", "events", "state")}
                        for name in cameras if name in results},
            "database": store.name, **total}


def _get(ray, ref, default, timeout: float | None = None):
    """`ray.get`, or `default` (the reason said on stderr) when the actor or its call failed for good."""
    try:
        return ray.get(ref, timeout=timeout)
    except ray.exceptions.GetTimeoutError:
        return default
    except ray.exceptions.RayError as exc:
        from facemask.redaction import redact

        print(f"error: a camera on Ray failed: {redact(str(exc).strip().splitlines()[0])[:300]}", file=sys.stderr)
        return default
