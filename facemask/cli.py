"""`facemask VERB ...`: find the faces in pictures and video and say whether each wears a mask."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from facemask import config
from facemask.errors import FacemaskError
from facemask.quiet import export_chatter_dropped, import_keras, quiet_environment
from facemask.redaction import redact
from facemask.vision.classifier import BACKENDS
from facemask.wording import faces_summary, plural


def progress_bar(label: str):
    """A one-line progress display on stderr (quiet when stderr is not a terminal)."""
    tty = sys.stderr.isatty()

    def update(done: int, total: int | None) -> None:
        if not tty and not (total and done == total):
            return
        width = 30
        if total:
            filled = int(width * done / total)
            text = f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
        else:
            text = f"\r{label} {done}"
        sys.stderr.write(text + ("\n" if total and done >= total else ""))
        sys.stderr.flush()

    return update


def expand_paths(paths: list[str]) -> list[str]:
    """Files as given; folders, globs and list files replaced by the pictures they name (facemask.photos)."""
    from facemask.photos import expand_sources

    return expand_sources(paths)


def _pipeline(args, live: bool | str = False):
    from facemask.vision.pipeline import Pipeline

    pipeline = Pipeline(detector=args.detector, threshold=args.threshold, live=live, model_path=args.model,
                        backend=args.backend)
    if pipeline.fallback_reason:
        print(f"warning: {pipeline.fallback_reason} Using {pipeline.detector_name}.", file=sys.stderr)
    return pipeline


def _detect(args) -> int:
    import json

    import cv2

    from facemask.annotate import annotate
    from facemask.export import image_record, safe_filename
    from facemask.imageio import IMAGE_SUFFIXES, load_image

    files = expand_paths(args.paths)
    if not files:
        raise FacemaskError(f"no pictures found in {', '.join(args.paths)} (pictures: "
                            f"{', '.join(sorted(s.lstrip('.') for s in IMAGE_SUFFIXES))}).")
    if args.ray and (args.mode != "photo" or args.frame):
        raise FacemaskError("--ray runs photo mode; leave out --mode and --frame, or --ray.")
    if args.ray:
        return _detect_on_ray(args, files)
    for given, option in ((args.jsonl, "--jsonl"), (args.address, "--address"), (args.workers, "--workers")):
        if given:
            raise FacemaskError(f"{option} is for Ray runs (add --ray); the plain command writes --json.")
    if args.frame and args.mode == "photo":
        raise FacemaskError("--frame is for a live mode (add --mode webcam, video or watch).")
    pipeline = _pipeline(args, live=False if args.mode == "photo" else args.mode)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    records, failed, written = [], 0, set()
    for name in files:
        try:
            image = load_image(name)
        except FacemaskError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        if args.frame:
            dets = hidden = pipeline.detect_in_frame(image, args.frame)
        else:  # with --blur, faces too unsure to show are hidden all the same
            dets, hidden = pipeline.detect_with_privacy(image, privacy=args.blur)
        records.append(image_record(name, image.shape[1], image.shape[0], dets))
        print(f"{name}: {faces_summary(dets.counts())}")
        if args.out:
            stem = safe_filename(name)
            target, k = args.out / f"{stem}.jpg", 2
            while target in written:
                target, k = args.out / f"{stem}-{k}.jpg", k + 1
            written.add(target)
            cv2.imwrite(str(target), annotate(image, hidden, blur=args.blur, threshold=pipeline.threshold))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(records, indent=2))
    from facemask.export import total_counts

    total = total_counts(records)
    print(f"{len(records)} of {plural(len(files), 'picture')} processed; {faces_summary(total)}")
    return 1 if failed else 0


def _detect_on_ray(args, files: list[str]) -> int:
    """`facemask detect --ray`: the same Pipeline on a pool of Ray actors (facemask.distributed)."""
    from facemask import distributed

    if args.out or args.blur:
        raise FacemaskError("--ray writes records (--json or --jsonl); annotated pictures (--out) need the plain "
                            "command.")
    if bool(args.json) == bool(args.jsonl):
        raise FacemaskError("--ray needs one output: --json FILE (one list) or --jsonl FILE (a line per photo, "
                            "for runs too big for one list).")
    settings = {"detector": args.detector, "threshold": args.threshold, "backend": args.backend,
                "model_path": str(args.model.resolve()) if args.model else None}
    distributed.connect(args.address, logs=args.ray_logs)
    run = dict(workers=args.workers, batch_size=args.batch_size, progress=progress_bar("detecting"),
               on_error=lambda message: print(f"error: {message}", file=sys.stderr, flush=True))
    if args.json:
        summary = distributed.detect_to_json(files, args.json, settings, **run)
    else:
        summary = distributed.detect_to_jsonl(files, args.jsonl, settings, **run)
    skipped = f", {summary['skipped']} already written" if summary["skipped"] else ""
    print(f"{summary['written']} of {plural(summary['photos'], 'picture')} processed on Ray{skipped}; "
          f"{faces_summary(summary['faces'])}")
    return 1 if summary["failed"] else 0


def _video(args) -> int:
    from facemask.cameras.video import process_video
    from facemask.imageio import IMAGE_SUFFIXES

    if Path(args.file).suffix.lower() in IMAGE_SUFFIXES:
        raise FacemaskError(f"{args.file} is a still picture, not a video: use `facemask detect {args.file}`.")
    pipeline = _pipeline(args, live=False if args.photo_mode else "video")
    summary = process_video(args.file, args.out, pipeline, csv_path=args.csv,
                            progress=progress_bar(f"{Path(args.file).name}"), blur=args.blur)
    print(f"{plural(summary['frames'], 'frame')} written to {args.out}"
          + (f", counts in {args.csv}" if args.csv else "")
          + f"; {summary['people']} {'person' if summary['people'] == 1 else 'people'} seen")
    if summary.get("warning"):
        print(f"warning: {summary['warning']}", file=sys.stderr)
    return 0


def _evaluate(args) -> int:
    from facemask.evaluation.evaluate import evaluate, evaluate_predictions, format_report

    if args.predictions:
        report = evaluate_predictions(args.predictions, args.annotations, None if args.split in (None, "all")
                                      else args.split, out_json=args.json, plots_dir=args.plots)
        print(format_report(report))
        return 0
    pipeline = _pipeline(args)
    split = args.split
    if split is None:
        # the shipped model trains on the train and val photos: only holdout is unseen
        known = {images.resolve() for images, _ in config.SOURCES.values()}
        split = "holdout" if Path(args.images).resolve() in known else "all"
    report = evaluate(pipeline, args.images, args.annotations, None if split == "all" else split,
                      out_json=args.json, plots_dir=args.plots, progress=progress_bar("evaluating"))
    print(format_report(report))
    return 0


def _benchmark(args) -> int:
    import json

    from facemask.evaluation import benchmark

    progress = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    if args.ray:
        results = benchmark.ray_benchmark(photos=args.photos, progress=progress)
        text = benchmark.format_ray_results(results)
    elif args.cameras:
        results = benchmark.camera_capacity(max_cameras=args.cameras, progress=progress)
        text = benchmark.format_camera_capacity(results)
    else:
        results = benchmark.run(repeats=args.repeats, soak_frames=args.frames, naive=not args.no_naive,
                                progress=progress)
        text = benchmark.format_results(results)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _watch(args) -> int:
    import json
    import signal
    import threading

    from facemask.cameras.sources import check_video_file, kind_of, read_cameras_file
    from facemask.cameras.watch import watch

    if args.cameras:  # NAME URL a line: the cameras' passwords stay out of the process list
        names, sources = read_cameras_file(args.cameras)
        if args.name:
            raise FacemaskError("--name is for SOURCE on the command line; name the cameras in the --cameras file.")
        args.name = [""] * len(args.sources) + names  # "": named after its source
        args.sources = [*args.sources, *sources]
    if not args.sources:
        raise FacemaskError("give at least one SOURCE, or --cameras FILE.")
    args.webhook = args.webhook or os.environ.get(config.WEBHOOK_ENV) or None
    for source in args.sources:
        if kind_of(source) == "file" and not Path(source).is_file():
            raise FacemaskError(f"{source}: no such video file, and not a camera URL (rtsp://, rtmp://, http://, "
                                "https://) or device (0, /dev/video0).")
        if kind_of(source) == "file":
            check_video_file(source)  # a file that cannot be decoded fails now, not after --duration
    if len(args.name) > len(args.sources):
        raise FacemaskError(f"{len(args.name)} --name for {len(args.sources)} SOURCE: give at most one per SOURCE.")
    if args.ray is not None:  # before the signal handlers: Ray's start sets its own
        from facemask import distributed

        distributed.connect(None if args.ray == "local" else args.ray, logs=args.ray_logs)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())  # stop cleanly: end the events, write what is waiting
    if args.ray is not None:
        settings = {"detector": args.detector, "threshold": args.threshold, "backend": args.backend,
                    "model_path": str(args.model.resolve()) if args.model else None}
        summary = distributed.watch_on_ray(args.sources, args.name, args.db, settings, fps=args.fps,
                                           duration_s=args.duration, webhook=args.webhook, privacy=args.privacy,
                                           retention_days=args.retention_days or None, stop=stop,
                                           status_every_s=args.status_every)
    else:
        summary = watch(args.sources, args.name, db_url=args.db, fps=args.fps, duration_s=args.duration,
                        webhook=args.webhook, privacy=args.privacy, retention_days=args.retention_days or None,
                        pipeline=_pipeline(args, live="watch"), stop=stop, status_every_s=args.status_every)
    for name, camera in summary["cameras"].items():
        print(f"{name}: {plural(camera['frames_analysed'], 'frame')} analysed, {plural(camera['people'], 'person')} "
              f"seen, {plural(camera['events'], 'event')} ({camera['state']})")
    # say which loss it was: a full buffer refused records, or the database was still away at the stop
    refused = summary.get("records_refused", summary["records_lost"])
    waiting = summary.get("records_not_written", 0)
    print(f"{plural(summary['records_written'], 'record')} written to {summary['database']}"
          + (f"; {refused} LOST (the database was away and the buffer full)" if refused else "")
          + (f"; {waiting} NOT WRITTEN (the database was still away at the stop)" if waiting else ""))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
    return 1 if summary["records_lost"] else 0


def _events(args) -> int:
    from facemask.cameras.store import Store, events_to_csv, events_to_json, to_utc
    from facemask.export import safe_filename

    store = Store(args.db)
    if args.purge_days:
        gone = store.purge(args.purge_days)
        print(f"deleted {plural(gone['events'], 'event')} and {plural(gone['minute_counts'], 'minute count')} "
              f"older than {args.purge_days:g} days", file=sys.stderr)
    since = to_utc(args.since) if args.since else None
    until = to_utc(args.until) if args.until else None
    events = store.events(camera=args.camera or None, since=since, until=until, images=bool(args.snapshots))
    if args.limit:
        events = events[-args.limit:]
    if args.snapshots:
        args.snapshots.mkdir(parents=True, exist_ok=True)
        for event in events:
            stem = safe_filename(f"{event['id']}_{event['camera']}_{event['time']}")
            for key, suffix in (("face_jpeg", "_face.jpg"), ("frame_jpeg", "_frame.jpg")):
                if event.get(key):
                    (args.snapshots / f"{stem}{suffix}").write_bytes(event[key])
    if args.json:
        text = events_to_json(events) + "\n"
    elif args.csv:
        text = events_to_csv(events)
    else:
        lines = [f"{'time (UTC)':24}  {'camera':16}  {'label':22}  score  duration  box"]
        lines += [f"{e['time']:24}  {e['camera'][:16]:16}  {e['label']:22}  {e['score']:.2f}   {e['duration_s']:6.1f} s"
                  f"  {e['box']}" for e in events]
        text = "\n".join(lines) + "\n" + f"{plural(len(events), 'event')} in {store.name}\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"{plural(len(events), 'event')} written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def positive_number(text: str) -> float:
    """argparse type: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def _fold(text: str) -> tuple[int, int]:
    try:
        i, k = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected I/K, like 0/3") from None
    if not 0 <= i < k:
        raise argparse.ArgumentTypeError(f"{text!r}: I must be in 0..K-1")
    return i, k


def _frame_size(text: str) -> tuple[int, int]:
    """argparse type: WIDTHxHEIGHT, like 1280x720."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT, like 1280x720") from None
    if min(width, height) < 32:
        raise argparse.ArgumentTypeError(f"{text!r}: each side must be at least 32 pixels")
    return width, height


def probability(text: str) -> float:
    """argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:  # NaN fails here too
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def whole_number(minimum: int = 1, why: str = ""):
    """argparse type: a whole number of at least `minimum` (`why` says where the limit comes from)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}{why}, got {value}")
        return value

    return parse


positive_int = whole_number(1)


class Parser(argparse.ArgumentParser):
    """argparse that says a bad value in one sentence: '--threshold must be between 0 and 1, got 5'."""

    def error(self, message: str):
        message = re.sub(r"^argument (\S+): must ", r"\1 must ", message)
        unknown = re.match(r"^unrecognized arguments: (.*)$", message)
        if unknown:  # a misspelt option gets the nearest real one
            import difflib

            known = {option for parser in _parsers(self) for action in parser._actions
                     for option in action.option_strings if option.startswith("--")}
            hints = [f"{word} (did you mean {close[0]}?)" for word in unknown.group(1).split()
                     if word.startswith("--")
                     and (close := difflib.get_close_matches(word.split("=")[0], known, 1, 0.75))]
            if hints:
                message = f"unrecognized arguments: {', '.join(hints)}"
        super().error(message)


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser and every verb's parser under it."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _parsers(sub)
    return found


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """--help that names each option's default where it has one (never "default: None") and keeps
    the examples' lines."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or "default" in text or default in (None, False, argparse.SUPPRESS)
                or text == argparse.SUPPRESS):
            return text
        if isinstance(default, Path):
            default = _short_path(default)
        return f"{text} (default: {str(default).replace('%', '%%')})"

    def add_argument(self, action: argparse.Action) -> None:
        if isinstance(action, argparse._SubParsersAction) and action.choices:
            # argparse measures the verbs one indent short: room for the longest, so each help stays on its line
            longest = max(map(len, action.choices))
            self._action_max_length = max(self._action_max_length,
                                          self._current_indent + 2 * self._indent_increment + longest)
        super().add_argument(action)


def _short_path(path: Path) -> str:
    """A path as a person would type it: relative to the working folder when inside it."""
    path = path.resolve()
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


def examples(*lines: str) -> str:
    """A verb's --help epilog: a few command lines to copy."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _train(args) -> int:
    from facemask.training import train

    out, plots, ships = _training_folders(args)
    import_keras()  # TensorFlow's start-up lines stay off the terminal; the run's own progress lines show
    if args.detector_only:
        from facemask.training.detector import train_detector

        if ships:  # a shipped model folder names the detector its classifier was trained on
            raise FacemaskError("--detector-only does not ship: leave out --ship (the detector goes with a "
                                "classifier trained on its boxes: `facemask train --ship`).")

        info = train_detector(out, photos=args.photos, fold=args.fold, epochs=args.detector_epochs,
                              base=args.detector_base, seed=args.seed)
        print(f"face detector fine-tuned from {info['base']} on {info['photos']} photos ({info['faces']} faces): "
              f"{_short_path(out / info['file'])}")
        return 0
    with export_chatter_dropped():
        train(out_dir=out, plots_dir=plots, closeups_dir=args.data, epochs=args.epochs,
              size=args.size, seed=args.seed, photos=args.photos, fold=args.fold,
              detector_epochs=0 if args.stock_detector else args.detector_epochs,
              detector_base=args.detector_base)
    if not ships:
        print(f"try it: facemask detect --model {_short_path(out / config.TFLITE_MODEL.name)} PHOTO "
              "(the shipped model is unchanged: train with --ship to replace it)")
    return 0


def _training_folders(args) -> tuple[Path, Path, bool]:
    """(model folder, plots folder, whether that is the shipped model's folder): models/ only with --ship."""
    out = args.out or (config.MODELS_DIR if args.ship else config.TRAINED_DIR)
    ships = _inside(out, config.MODELS_DIR)
    if ships and not args.ship:
        raise FacemaskError(f"--out {args.out} is in the shipped model's folder ({_short_path(config.MODELS_DIR)}/): "
                            "add --ship to replace the shipped model, or leave out --out to write to "
                            f"{_short_path(config.TRAINED_DIR)}/.")
    plots = args.plots or (config.PLOTS_DIR if ships else out / "plots")
    return out, plots, ships


def _inside(path: Path, folder: Path) -> bool:
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="facemask", description=__doc__, formatter_class=HelpFormatter,
                    epilog=examples("facemask detect photo.jpg",
                                    "facemask VERB --help    (a verb's options and examples)"))
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    fmt = HelpFormatter

    def common(p, threshold=True):
        p.add_argument("--detector", choices=config.DETECTORS, default=config.DEFAULT_DETECTOR,
                       help="face detector")
        if threshold:
            p.add_argument("--threshold", type=probability, default=config.DEFAULT_THRESHOLD,
                           help=config.THRESHOLD_HELP)
        p.add_argument("--model", type=Path, help="classifier file (default: the shipped one in models/)")
        p.add_argument("--backend", choices=BACKENDS, default=config.CLASSIFIER_BACKEND,
                       help="how the classifier is served")

    from facemask import distributed

    p = verbs.add_parser("detect", help="find faces and mask status in pictures", formatter_class=fmt,
                         epilog=examples("facemask detect photo.jpg",
                                         "facemask detect photos/ --out annotated/ --json faces.json",
                                         "facemask detect crowd.jpg --threshold 0.5 --blur --out annotated/",
                                         "facemask detect photos/ --mode watch --frame 1280x720 --json cam.json"))
    p.add_argument("paths", nargs="+", metavar="SOURCE",
                   help="pictures, folders of pictures, globs ('photos/**/*.jpg', quoted) or .txt files listing "
                        "one path a line")
    common(p)
    p.add_argument("--mode", choices=("photo", *config.LIVE_SOURCES), default="photo",
                   help="photo: every pass photos get; webcam, video, watch: the one pass that live source runs "
                        "on each frame")
    p.add_argument("--frame", type=_frame_size, metavar="WxH",
                   help="with a live --mode: see each picture as a camera of this frame size films it (fitted "
                        "into the frame); boxes stay in the picture's pixels")
    p.add_argument("--out", type=Path, help="folder for annotated pictures")
    p.add_argument("--json", type=Path, help="write one entry per picture to this JSON file")
    p.add_argument("--blur", action="store_true", help="pixelate faces in the annotated pictures")
    p.add_argument("--ray", action="store_true",
                   help="run on Ray: a pool of actors, each holding the models once (pip install -e '.[ray]')")
    p.add_argument("--address", help="with --ray: the cluster's head, HOST:PORT (default: a local Ray for this run)")
    p.add_argument("--jsonl", type=Path,
                   help="with --ray: append one line per picture here; a re-run skips the pictures already in it")
    p.add_argument("--workers", type=positive_int,
                   help="with --ray: actors in the pool (default: one per CPU of the cluster)")
    p.add_argument("--batch-size", type=positive_int, default=distributed.BATCH_SIZE,
                   help="with --ray: pictures per actor call")
    p.add_argument("--ray-logs", action="store_true", help="with --ray: show Ray's own logs and workers' output")
    p.set_defaults(func=_detect)

    p = verbs.add_parser("video", help="annotate a video file (H.264 MP4)", formatter_class=fmt,
                         epilog=examples("facemask video clip.mp4 --out annotated.mp4",
                                         "facemask video clip.mp4 --out annotated.mp4 --csv counts.csv"))
    p.add_argument("file", type=Path, help="input video")
    p.add_argument("--out", type=Path, required=True, help="annotated MP4 to write")
    p.add_argument("--csv", type=Path, help="per-frame face counts")
    p.add_argument("--blur", action="store_true", help="pixelate faces in the annotated video")
    p.add_argument("--photo-mode", action="store_true",
                   help="also search upscaled frames for small faces (slower)")
    common(p)
    p.set_defaults(func=_video)

    p = verbs.add_parser("evaluate", help="score the pipeline on Pascal VOC photos", formatter_class=fmt,
                         epilog=examples("facemask evaluate    (the shipped model on the holdout dev photos)",
                                         "facemask evaluate --images photos/ --annotations xml/ --json report.json"))
    p.add_argument("--images", type=Path, default=config.DEV_IMAGES, help="folder of photos")
    p.add_argument("--annotations", type=Path, default=config.DEV_ANNOTATIONS, help="Pascal VOC XML folder")
    p.add_argument("--predictions", type=Path, metavar="FILE",
                   help="score this detections file (`facemask detect --threshold 0 --json FILE`, or another tool's "
                        "in the same format) against --annotations, ranked by each face's score, instead of running "
                        "the pipeline")
    p.add_argument("--split", choices=["train", "val", "holdout", "all"], default=None,
                   help="which split (default: holdout for the photos of ../shared, all for other folders)")
    p.add_argument("--json", type=Path, help="write the report as JSON here")
    p.add_argument("--plots", type=Path, help="write PR curves and example photos here")
    common(p)
    p.set_defaults(func=_evaluate)

    p = verbs.add_parser("benchmark", help="time every stage, cold start and memory", formatter_class=fmt,
                         epilog=examples("facemask benchmark --json benchmark.json",
                                         "facemask benchmark --repeats 5 --frames 100 --no-naive    (a quick look)"))
    p.add_argument("--repeats", type=positive_int, default=50, help="timed runs per frame")
    p.add_argument("--frames", type=whole_number(2, " (memory is read half-way and at the end)"), default=1000,
                   help="frames served before memory is read")
    p.add_argument("--no-naive", action="store_true", help="skip the naive SSD + predict-per-face baseline")
    p.add_argument("--cameras", type=positive_int, metavar="N",
                   help="instead: how many 640x480 cameras at 5 fps this machine keeps up with, every frame analysed "
                        "and annotated (1, 2, ... up to N cameras at once through the watcher)")
    p.add_argument("--json", type=Path, help="write all figures as JSON here")
    p.add_argument("--ray", action="store_true",
                   help="instead: dev photos per second in process against a local Ray with 1 and 2 workers, Ray's "
                        "start-up cost and overhead per photo, and the job size where Ray pays off")
    p.add_argument("--photos", type=whole_number(16), default=64, help="with --ray: dev photos per timed job")
    p.set_defaults(func=_benchmark)

    p = verbs.add_parser("watch", help="watch cameras: record every face without a mask, alert", formatter_class=fmt,
                         epilog=examples("facemask watch rtsp://user:pass@10.0.0.5/stream --name door",
                                         "facemask watch rtsp://cam1/live rtsp://cam2/live --name door --name hall "
                                         "--webhook https://hooks.example/mask",
                                         "facemask watch entrance.mp4 --duration 60 --db sqlite:///entrance.db",
                                         "facemask events --since 2026-12-01T08:00Z    (what it recorded)"))
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="rtsp://, rtmp:// or http(s):// (MJPEG or HLS) stream, a video file (read at its own frame "
                        "rate, ending where it ends) or a camera device (0, /dev/video0)")
    p.add_argument("--cameras", type=Path, metavar="FILE",
                   help="cameras from a file, one a line: NAME SOURCE (or SOURCE alone; # starts a comment): their "
                        "passwords stay off the command line and out of the process list")
    p.add_argument("--name", action="append", default=[], metavar="NAME",
                   help="a camera's name, once per SOURCE in order (default: its host and path or file name)")
    p.add_argument("--db", metavar="URL",
                   help=f"SQLAlchemy database URL, e.g. postgresql+psycopg://user:pass@host/facemask "
                        f"(default: FACEMASK_DB_URL, else {redact(config.DEFAULT_DB_URL)})")
    p.add_argument("--fps", type=positive_number, default=config.WATCH_FPS,
                   help="frames analysed per second per camera")
    p.add_argument("--duration", type=positive_number, metavar="S", help="stop after S seconds (default: run until "
                   "stopped with Ctrl-C or SIGTERM)")
    p.add_argument("--webhook", metavar="URL", help="POST each new event as JSON to this URL (retried, at most one "
                   f"per camera every {config.ALERT_MIN_INTERVAL_S:g} s; default: {config.WEBHOOK_ENV}, which keeps "
                   "its token out of the process list)")
    p.add_argument("--privacy", "--blur", dest="privacy", action="store_true",
                   help="pixelate the faces in the stored snapshots")
    p.add_argument("--retention-days", type=float, default=config.RETENTION_DAYS, metavar="DAYS",
                   help="delete events and counts older than this many days (0: keep everything)")
    p.add_argument("--status-every", type=positive_number, default=config.STATUS_INTERVAL_S, metavar="S",
                   help="print each camera's status line this often (and whenever it changes)")
    p.add_argument("--json", type=Path, help="write the run's summary as JSON here")
    p.add_argument("--ray", metavar="ADDR",
                   help="each camera a Ray actor with one CPU, restarted with its camera if it fails, on the cluster "
                        "whose head is ADDR (HOST:PORT, or 'local' for a Ray on this machine); give all one --db "
                        "(PostgreSQL)")
    p.add_argument("--ray-logs", action="store_true", help="with --ray: show Ray's own logs and workers' output")
    common(p)
    p.set_defaults(func=_watch)

    p = verbs.add_parser("events", help="print the events `facemask watch` stored (JSON, CSV, snapshots)",
                         formatter_class=fmt,
                         epilog=examples("facemask events",
                                         "facemask events --camera door --since 2026-12-01T08:00Z --json",
                                         "facemask events --csv --out events.csv --snapshots snapshots/",
                                         "facemask events --purge-days 30    (delete older events and counts first)"))
    p.add_argument("--db", metavar="URL", help=f"SQLAlchemy database URL (default: {config.DEFAULT_DB_URL})")
    p.add_argument("--camera", action="append", default=[], metavar="NAME", help="only this camera (repeatable)")
    p.add_argument("--since", metavar="ISO", help="only events that began at or after this time (ISO 8601; "
                   "no zone = UTC)")
    p.add_argument("--until", metavar="ISO", help="only events that began before this time")
    p.add_argument("--limit", type=positive_int, help="only the newest N events")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true",
                      help="a JSON list: camera, time, label, score, box, duration_s ...")
    form.add_argument("--csv", action="store_true", help="CSV, one row per event")
    p.add_argument("--out", type=Path, help="write to this file instead of the terminal")
    p.add_argument("--snapshots", type=Path, metavar="DIR", help="also write each event's face and frame JPEGs here")
    p.add_argument("--purge-days", type=positive_number, metavar="DAYS",
                   help="first delete events and counts older than DAYS (the retention)")
    p.set_defaults(func=_events)

    from facemask import training

    p = verbs.add_parser("train", help="train the mask classifier (the shipped one is replaced only with --ship)",
                         formatter_class=fmt,
                         epilog=examples(f"facemask train    (writes {_short_path(config.TRAINED_DIR)}/)",
                                         "facemask train --epochs 2 --out /tmp/quick-model",
                                         "facemask train --detector-only --out /tmp/detector",
                                         "facemask train --ship    (replaces the shipped model in models/)"))
    p.add_argument("--data", type=Path, default=config.CLASSIFICATION_DIR,
                   help="folder with with_mask/ and without_mask/ close-ups")
    p.add_argument("--epochs", type=positive_int, default=training.EPOCHS, help="training epochs")
    p.add_argument("--size", type=whole_number(32, " (MobileNetV2's smallest input)"), default=config.CROP_SIZE,
                   help="crop side in pixels")
    p.add_argument("--seed", type=int, default=training.SEED, help="random seed")
    p.add_argument("--photos", default=training.TRAIN_PHOTOS,
                   help="dev splits whose faces are trained on, joined by '+'; the rest score the report")
    p.add_argument("--fold", type=_fold, default=None, metavar="I/K",
                   help="cross-validation: train on the --photos outside fold I of K, report on fold I")
    p.add_argument("--out", type=Path,
                   help=f"where the model goes (default: {_short_path(config.TRAINED_DIR)}; with --ship, models/)")
    p.add_argument("--plots", type=Path, help="where the plots go (default: OUT/plots; with --ship, plots/)")
    p.add_argument("--ship", action="store_true",
                   help="replace the shipped model in models/ (the one the app and the CLI use) and its plots")
    from facemask.training.detector import DEFAULT_DETECTOR_BASE, DETECTOR_BASES, DETECTOR_EPOCHS

    p.add_argument("--stock-detector", action="store_true",
                   help="train the classifier on the stock YuNet's boxes, without first fine-tuning the face "
                        "detector on the photos' faces (the model folder then carries no detector of its own)")
    p.add_argument("--detector-only", action="store_true",
                   help="fine-tune only the face detector (YuNet) on the photos' faces, into OUT/face_detector.onnx; "
                        "a stopped run resumes from its last epoch")
    p.add_argument("--detector-epochs", type=positive_int, default=DETECTOR_EPOCHS,
                   help="the face detector's fine-tuning epochs")
    p.add_argument("--detector-base", choices=DETECTOR_BASES, default=DEFAULT_DETECTOR_BASE,
                   help="the pretrained YuNet the face detector starts from")
    p.set_defaults(func=_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet_environment()  # before anything imports TensorFlow
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except FacemaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, not the user's fault: one line, traceback only on request
        if os.environ.get("FACEMASK_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (set FACEMASK_DEBUG=1 for details)",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
