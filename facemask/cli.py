"""`facemask VERB ...`: detect, video, train, evaluate, benchmark."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from facemask import config
from facemask.errors import FacemaskError


def _train(args) -> int:
    from facemask.train import train

    train(out_dir=args.out, plots_dir=args.plots, closeups_dir=args.data, epochs=args.epochs,
          size=args.size, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facemask", description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    from facemask import train as training

    p = verbs.add_parser("train", help="train the mask classifier the app ships", formatter_class=fmt)
    p.add_argument("--data", type=Path, default=config.CLASSIFICATION_DIR,
                   help="folder with with_mask/ and without_mask/ close-ups")
    p.add_argument("--epochs", type=int, default=training.EPOCHS, help="training epochs")
    p.add_argument("--size", type=int, default=config.CROP_SIZE, help="crop side in pixels")
    p.add_argument("--seed", type=int, default=training.SEED, help="random seed")
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


if __name__ == "__main__":
    sys.exit(main())
