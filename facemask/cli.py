"""`facemask VERB ...`: detect, video, train, evaluate, benchmark."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from facemask import config
from facemask.classifier import BACKENDS
from facemask.errors import FacemaskError


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


def _pipeline(args, live: bool = False):
    from facemask.pipeline import Pipeline

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
    from facemask.imageio import load_image

    files = expand_paths(args.paths)
    if not files:
        raise FacemaskError("no pictures found in the paths given.")
    if args.ray:
        return _detect_on_ray(args, files)
    if args.jsonl:
        raise FacemaskError("--jsonl is for Ray runs (add --ray); the plain command writes --json.")
    pipeline = _pipeline(args)
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
        dets = pipeline.detect(image)
        records.append(image_record(name, image.shape[1], image.shape[0], dets))
        c = dets.counts()
        print(f"{name}: {len(dets)} faces ({c['with_mask']} with mask, {c['without_mask']} without, "
              f"{c['mask_worn_incorrectly']} worn incorrectly)")
        if args.out:
            stem = safe_filename(name)
            target, k = args.out / f"{stem}.jpg", 2
            while target in written:
                target, k = args.out / f"{stem}-{k}.jpg", k + 1
            written.add(target)
            cv2.imwrite(str(target), annotate(image, dets, blur=args.blur))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(records, indent=2))
    from facemask.export import total_counts

    total = total_counts(records)
    print(f"{len(records)} of {len(files)} pictures processed; faces: " +
          ", ".join(f"{v} {k}" for k, v in total.items()))
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
    print(f"{summary['written']} of {summary['photos']} pictures processed on Ray{skipped}; faces: " +
          ", ".join(f"{v} {k}" for k, v in summary["faces"].items()))
    return 1 if summary["failed"] else 0


def _video(args) -> int:
    from facemask.video import process_video

    pipeline = _pipeline(args, live=not args.photo_mode)
    summary = process_video(args.file, args.out, pipeline, csv_path=args.csv,
                            progress=progress_bar(f"{Path(args.file).name}"))
    print(f"{summary['frames']} frames written to {args.out}" + (f", counts in {args.csv}" if args.csv else ""))
    if summary.get("warning"):
        print(f"warning: {summary['warning']}", file=sys.stderr)
    return 0


def _evaluate(args) -> int:
    from facemask.evaluate import evaluate, format_report

    pipeline = _pipeline(args)
    split = args.split
    if split is None:
        # the shipped model trains on the train and val photos: only holdout is unseen
        split = "holdout" if Path(args.images).resolve() == config.DEV_IMAGES.resolve() else "all"
    report = evaluate(pipeline, args.images, args.annotations, None if split == "all" else split,
                      out_json=args.json, plots_dir=args.plots, progress=progress_bar("evaluating"))
    print(format_report(report))
    return 0


def _benchmark(args) -> int:
    import json

    from facemask.benchmark import format_results, run

    results = run(repeats=args.repeats, soak_frames=args.frames, naive=not args.no_naive,
                  progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_results(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _fold(text: str) -> tuple[int, int]:
    try:
        i, k = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected I/K, like 0/3") from None
    if not 0 <= i < k:
        raise argparse.ArgumentTypeError(f"{text!r}: I must be in 0..K-1")
    return i, k


def _train(args) -> int:
    from facemask.training import train

    train(out_dir=args.out, plots_dir=args.plots, closeups_dir=args.data, epochs=args.epochs,
          size=args.size, seed=args.seed, photos=args.photos, fold=args.fold)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facemask", description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    def common(p, threshold=True):
        p.add_argument("--detector", choices=config.DETECTORS, default=config.DEFAULT_DETECTOR,
                       help="face detector")
        if threshold:
            p.add_argument("--threshold", type=float, default=config.DEFAULT_THRESHOLD,
                           help="minimum face-detector score")
        p.add_argument("--model", type=Path, help="classifier file (default: the shipped one in models/)")
        p.add_argument("--backend", choices=BACKENDS, default=config.CLASSIFIER_BACKEND,
                       help="how the classifier is served")

    from facemask import distributed

    p = verbs.add_parser("detect", help="find faces and mask status in pictures", formatter_class=fmt)
    p.add_argument("paths", nargs="+", metavar="SOURCE",
                   help="pictures, folders of pictures, globs ('photos/**/*.jpg', quoted) or .txt files listing "
                        "one path a line")
    common(p)
    p.add_argument("--out", type=Path, help="folder for annotated pictures")
    p.add_argument("--json", type=Path, help="write one entry per picture to this JSON file")
    p.add_argument("--blur", action="store_true", help="pixelate faces in the annotated pictures")
    p.add_argument("--ray", action="store_true",
                   help="run on Ray: a pool of actors, each holding the models once (pip install -e '.[ray]')")
    p.add_argument("--address", help="with --ray: the cluster's head, HOST:PORT (default: a local Ray for this run)")
    p.add_argument("--jsonl", type=Path,
                   help="with --ray: append one line per picture here; a re-run skips the pictures already in it")
    p.add_argument("--workers", type=int, help="with --ray: actors in the pool (default: one per CPU of the cluster)")
    p.add_argument("--batch-size", type=int, default=distributed.BATCH_SIZE, help="with --ray: pictures per actor call")
    p.add_argument("--ray-logs", action="store_true", help="with --ray: show Ray's own logs and workers' output")
    p.set_defaults(func=_detect)

    p = verbs.add_parser("video", help="annotate a video file (H.264 MP4)", formatter_class=fmt)
    p.add_argument("file", type=Path, help="input video")
    p.add_argument("--out", type=Path, required=True, help="annotated MP4 to write")
    p.add_argument("--csv", type=Path, help="per-frame face counts")
    p.add_argument("--photo-mode", action="store_true",
                   help="also search upscaled frames for small faces (slower)")
    common(p)
    p.set_defaults(func=_video)

    p = verbs.add_parser("evaluate", help="score the pipeline on Pascal VOC photos", formatter_class=fmt)
    p.add_argument("--images", type=Path, default=config.DEV_IMAGES, help="folder of photos")
    p.add_argument("--annotations", type=Path, default=config.DEV_ANNOTATIONS, help="Pascal VOC XML folder")
    p.add_argument("--split", choices=["train", "val", "holdout", "all"], default=None,
                   help="which dev split (default: holdout for the dev photos, all for other folders)")
    p.add_argument("--json", type=Path, help="write the report as JSON here")
    p.add_argument("--plots", type=Path, help="write PR curves and example photos here")
    common(p)
    p.set_defaults(func=_evaluate)

    p = verbs.add_parser("benchmark", help="time every stage, cold start and memory", formatter_class=fmt)
    p.add_argument("--repeats", type=int, default=50, help="timed runs per frame")
    p.add_argument("--frames", type=int, default=1000, help="frames served before memory is read")
    p.add_argument("--no-naive", action="store_true", help="skip the naive SSD + predict-per-face baseline")
    p.add_argument("--json", type=Path, help="write all figures as JSON here")
    p.set_defaults(func=_benchmark)

    from facemask import training

    p = verbs.add_parser("train", help="train the mask classifier the app ships", formatter_class=fmt)
    p.add_argument("--data", type=Path, default=config.CLASSIFICATION_DIR,
                   help="folder with with_mask/ and without_mask/ close-ups")
    p.add_argument("--epochs", type=int, default=training.EPOCHS, help="training epochs")
    p.add_argument("--size", type=int, default=config.CROP_SIZE, help="crop side in pixels")
    p.add_argument("--seed", type=int, default=training.SEED, help="random seed")
    p.add_argument("--photos", default=training.TRAIN_PHOTOS,
                   help="dev splits whose faces are trained on, joined by '+'; the rest score the report")
    p.add_argument("--fold", type=_fold, default=None, metavar="I/K",
                   help="cross-validation: train on the --photos outside fold I of K, report on fold I")
    p.add_argument("--out", type=Path, default=config.MODELS_DIR, help="where the model goes")
    p.add_argument("--plots", type=Path, default=config.PLOTS_DIR, help="where the plots go")
    p.set_defaults(func=_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
