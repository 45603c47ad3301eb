"""The first stage of `facemask train` (alone: `--detector-only`): YuNet fine-tuned on the
annotated photos of every source, from the pretrained weights of `../shared/weights/yunet_train/`.
Takes the photos' face boxes (every class: a mask must not hide a face); gives `face_detector.onnx`, which
`cv2.dnn` runs as it runs the stock YuNet. network (the Keras model from the ONNX graph and back) ->
assign (which points learn which face) -> fit (crops, loss, checkpoints)."""

from __future__ import annotations

import json
from pathlib import Path

from facemask import config
from facemask.training.detector.fit import fit_detector
from facemask.training.log import log

DETECTOR_EPOCHS = 12
DETECTOR_BASES = ("yunet_s", "yunet_n")  # the stock YuNet is yunet_s; yunet_n is its larger sibling
# yunet_n, chosen by cross-validation (docs/research_log.md, 2026-12-08): face AP fold 0, photo / live,
# dev 0.923 / 0.912 and second source 0.822 / 0.822, against yunet_s fine-tuned 0.913 / 0.863, 0.775 / 0.788
DEFAULT_DETECTOR_BASE = "yunet_n"


def base_weights(base: str) -> Path:
    """The pretrained ONNX graph a fine-tune starts from (../shared/weights/yunet_train/)."""
    from facemask.errors import FacemaskError

    path = config.SHARED / "weights" / "yunet_train" / f"{base}_dynamic.onnx"
    if base not in DETECTOR_BASES:
        raise FacemaskError(f"Unknown detector base {base!r}; choose one of {', '.join(DETECTOR_BASES)}.")
    if not path.exists():
        raise FacemaskError(f"The pretrained {base} weights are missing ({path}); the face detector is trained "
                            "from ../shared/weights/yunet_train/ (set FACEMASK_SHARED to where it is).")
    return path


def fine_tuned_detector(out_dir: Path, photos: str, fold, epochs: int, base: str, seed: int) -> dict:
    """`train_detector` for `facemask train`: trained once per recipe in .cache/detector/KEY (a stopped run
    resumes there), its face_detector.onnx copied into out_dir beside the classifier."""
    import hashlib
    import shutil

    code = b"".join(p.read_bytes() for p in sorted(Path(__file__).parent.glob("*.py")))
    key = hashlib.sha1(repr((photos, fold, epochs, base, seed, tuple(config.SOURCES))).encode() + code).hexdigest()[:12]
    work = config.CACHE_DIR / "detector" / key
    if (work / "face_detector.json").exists():
        info = json.loads((work / "face_detector.json").read_text())
        log(f"detector: reusing the fine-tuned {base} in {work}")
    else:
        info = train_detector(work, photos, fold, epochs, base, seed)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    shutil.copy(work / info["file"], Path(out_dir) / info["file"])
    return info


def train_detector(out_dir: Path, photos: str, fold: tuple[int, int] | None = None,
                   epochs: int = DETECTOR_EPOCHS, base: str = DEFAULT_DETECTOR_BASE, seed: int = 0) -> dict:
    """Fine-tune YuNet on the faces of the training photos (those `facemask train` trains the classifier on,
    fold i of k left out when fold=(i, k)); writes out_dir/face_detector.onnx and face_detector.json."""
    from facemask.training.photos import training_photos

    training, _ = training_photos(photos, fold)
    onnx_path = base_weights(base)
    log(f"detector: fine-tuning {base} on {len(training)} photos for {epochs} epochs")
    info = fit_detector(training, onnx_path, Path(out_dir), epochs, seed)
    info.update(base=base, photos_trained=photos + (f" minus fold {fold[0]} of {fold[1]}" if fold else ""))
    (Path(out_dir) / "face_detector.json").write_text(json.dumps(info, indent=1))
    return info
