"""Give a trained model live mode's own face-score calibration (model_info.json `face_calibration_live`), as
`facemask train` now fits it: on the model's training photos fitted into camera frames (config.LIVE_FRAMES),
the detector's one pass at each live source's size. Models trained before it borrowed photo mode's.

Run: python notebooks/refit_live_calibration.py [MODEL_DIR] [--photos train+val] [--fold I/K]
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facemask import config  # noqa: E402
from facemask.training.photos import live_face_calibration  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", nargs="?", type=Path, default=config.MODELS_DIR)
    parser.add_argument("--photos", default="train+val")
    parser.add_argument("--fold", default=None, help="I/K: the photos outside fold I of K, as the model trained")
    args = parser.parse_args()
    fold = tuple(int(x) for x in args.fold.split("/")) if args.fold else None
    info_path = args.model_dir / config.MODEL_INFO.name
    info = json.loads(info_path.read_text())
    detector = info.get("face_detector", {}).get("file")
    fitted = live_face_calibration(args.photos, fold, args.model_dir / detector if detector else None)
    print(f"photo mode: {info.get('face_calibration')}\nlive mode:  {fitted}")
    info["face_calibration_live"] = fitted
    info_path.write_text(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
