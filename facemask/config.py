"""Paths and defaults: the one place that spells a file name, a threshold or a colour."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FACEMASK_SHARED", ROOT.parent / "shared"))

# --- data (read from ../shared, never copied into git) ---
CLASSIFICATION_DIR = SHARED / "data" / "mask_classification"
DEV_DIR = SHARED / "data" / "mask_detection_dev"
DEV_IMAGES = DEV_DIR / "images"
DEV_ANNOTATIONS = DEV_DIR / "annotations"
# a second collection of photos (another annotation team, larger pictures, 5x the faces worn incorrectly)
EXTRA_DIR = SHARED / "data" / "mask_detection_extra"
EXTRA_IMAGES = EXTRA_DIR / "images"
EXTRA_ANNOTATIONS = EXTRA_DIR / "annotations"
# the annotated collections, by name: (images, Pascal VOC annotations); training and evaluation use both
SOURCES = {"dev": (DEV_IMAGES, DEV_ANNOTATIONS), "extra": (EXTRA_IMAGES, EXTRA_ANNOTATIONS)}

# --- third-party weights: manifest committed, files placed in a git-ignored folder ---
WEIGHTS_MANIFEST = ROOT / "face_detector" / "manifest.json"
WEIGHTS_DIR = Path(os.environ.get("FACEMASK_WEIGHTS_DIR", ROOT / "face_detector" / "weights"))
SSD_PROTOTXT = WEIGHTS_DIR / "deploy.prototxt"
SSD_WEIGHTS = WEIGHTS_DIR / "res10_300x300_ssd_iter_140000_fp16.caffemodel"
YUNET_WEIGHTS = WEIGHTS_DIR / "face_detection_yunet_2026may.onnx"
BACKBONE_WEIGHTS = WEIGHTS_DIR / "mobilenet_v2_1.0_224_no_top_tfslim_converted.h5"

# --- our model and its reports ---
MODELS_DIR = ROOT / "models"
KERAS_MODEL = MODELS_DIR / "mask_classifier.keras"
TFLITE_MODEL = MODELS_DIR / "mask_classifier.tflite"
MODEL_INFO = MODELS_DIR / "model_info.json"
TRAIN_METRICS = MODELS_DIR / "train_metrics.json"
EVAL_METRICS = MODELS_DIR / "eval_metrics.json"  # `facemask evaluate`: the shipped model on the holdout photos
EVAL_METRICS_EXTRA = MODELS_DIR / "eval_metrics_extra.json"  # the same on the second source's holdout photos
EVAL_METRICS_CV = MODELS_DIR / "eval_metrics_cv.json"  # notebooks/cross_validate.py: the recipe, k-fold
PLOTS_DIR = ROOT / "plots"
CACHE_DIR = ROOT / ".cache"
# where `facemask train` writes by default (git-ignored): replacing the shipped model in MODELS_DIR takes --ship
TRAINED_DIR = ROOT / "build" / "model"

# --- classes: index order is the classifier's output order ---
CLASS_NAMES = ("with_mask", "without_mask", "mask_worn_incorrectly")
# the one spelling of each class in text people read (app, CLI); files (JSON, CSV) keep CLASS_NAMES
CLASS_TITLES = {
    "with_mask": "With mask",
    "without_mask": "Without mask",
    "mask_worn_incorrectly": "Mask worn incorrectly",
}
# the classifier's extra output after the classes: the crop shows no face (a detector's false alarm)
NOT_A_FACE_OUTPUT = "not_a_face"
# Pascal VOC spelling in the dev annotations -> our spelling
VOC_CLASS_MAP = {
    "with_mask": "with_mask",
    "without_mask": "without_mask",
    "mask_weared_incorrect": "mask_worn_incorrectly",
}
# BGR colours for drawing
CLASS_COLORS = {
    "with_mask": (80, 175, 76),
    "without_mask": (54, 67, 244),
    "mask_worn_incorrectly": (0, 152, 255),
}

# --- pipeline defaults ---
DETECTORS = ("yunet", "ssd", "haar")
DEFAULT_DETECTOR = "yunet"
FALLBACK_DETECTOR = "haar"
# minimum P(face) shown (Detections.face_probability): the face-level F1 peak of the 3-fold
# cross-validation's out-of-fold detections, under two seeds (notebooks/threshold_sweep.py)
DEFAULT_THRESHOLD = 0.3
# the one sentence that says what the threshold means: the README, the sidebar, the home page and --help use it
THRESHOLD_HELP = ("Show a face when P(face), the chance that the box is a real face (0 to 1), is at least this. "
                  "Lower finds more faces and more false alarms; 0 keeps every candidate.")
# the fields of each face in `facemask detect --json`, the CSV and the app's tables, and what each means
RECORD_FIELDS = {
    "box": "x1, y1, x2, y2 in pixels of the picture",
    "label": "with_mask | without_mask | mask_worn_incorrectly",
    "score": "the detection's confidence, P(face) x P(label | face): sort or rank by this",
    "face_probability": "P(face): the chance that the box is a real face; the threshold applies to it",
    "label_probability": "P(label | face): the classifier's probability of the label",
    "detector_score": "the face detector's raw score, before calibration",
    "probabilities": "P(class | face) for every class",
}
# classifier input side in pixels (64 vs 96 measured in docs/research_log.md); a trained model's own size,
# from its model_info.json, wins at serving time
CROP_SIZE = 64
CLASSIFIER_BACKEND = "litert"  # litert | opencv | keras: see facemask/vision/classifier.py
CLASSIFIER_THREADS = 2
CROP_PADDING = 0.15  # extra margin around the face box, fraction of its side

# --- input limits ---
MAX_IMAGE_PIXELS = 50_000_000  # beyond any camera photo: refuse as a decompression bomb
MIN_IMAGE_SIDE = 16
MAX_UPLOAD_MB = 25
DISPLAY_MAX_SIDE = 2048  # the app shows (and offers as "Picture") annotated photos at most this long

# Per-detector settings, chosen by measurement on the training photos (see docs/research_log.md):
# min_side: upscale small pictures until their short side reaches this many pixels.
# box_scale: (dx, dy, sw, sh) reshapes the detector's box to the annotated face box.
DETECTOR_SETTINGS: dict[str, dict] = {
    # box_scale measured by notebooks/box_calibration.py on the train photos of both sources (the median over
# both annotation styles); min_side by notebooks/detector_sweep.py
    # passes: the picture as it is (shrunk to a long side of 1280 px if larger: the large faces of phone
    # photos), and one upscaled to a short side of 720 px (small photos) or shrunk to a long side of 1920
    # (the small faces of large crowds). On 12 MP pictures (notebooks/large_photos.py), 1280 + 1920 beat
    # 1280 alone, 1280 + 2048 and 1920 alone, and matched 1280 + 2560 at two thirds of its pixels
    "yunet": {"min_side": (0, 720), "max_side": (1280, 1920), "box_scale": (0.013, 0.088, 1.029, 0.943)},
    "ssd": {"min_side": 0},
    "haar": {"min_side": 0, "max_side": 1280},
}
# Live video: a single pass per frame, downscaled so the long side is at most LIVE_MAX_SIDE[source] pixels.
# Each live source has its own frame budget (docs/research_log.md, "Live sizes"): the browser webcam
# (24 fps on 2 cores shared with the browser: a 640x480 frame with 4 faces takes 9-12 ms at 640 px), `facemask
# video` (every frame of a file) and `facemask watch` (5 fps per camera, many cameras per box; 1280x720 door
# cameras, whose faces the old 320 px pass shrank four times: 960 px gains little over 640 for 25 % more time).
# `Pipeline(live=SOURCE)`; live=True is the webcam.
LIVE_MAX_SIDE = {"webcam": 640, "video": 640, "watch": 640}
LIVE_SOURCES = tuple(LIVE_MAX_SIDE)
# Live mode is calibrated (facemask train) and measured on each collection's photos fitted into the frame
# of the camera that films such scenes: close groups in a webcam's 640x480, door scenes in 1280x720
LIVE_FRAMES = {"dev": (640, 480), "extra": (1280, 720)}
LIVE_FRAME_MODES = {"dev": "webcam", "extra": "watch"}  # and the live source that runs on such frames


def live_detector_settings(source: str) -> dict:
    """The detector's options for one live source: one pass, its long side at most LIVE_MAX_SIDE[source]."""
    return {"min_side": 0, "max_side": LIVE_MAX_SIDE[source]}

# The webcam page asks the browser for at most this many frames per second: on 2 cores shared with
# the browser the server annotates nearly every one of them (docs/research_log.md, Speed).
LIVE_CAMERA_FPS = 24
LIVE_STATS_REFRESH_S = 1.0  # the live page's counts, speed and alert are redrawn this often
# Photos (not live video): each face is classified as seen and mirrored, in the same batched call,
# and the two probability vectors are averaged (docs/research_log.md, Results: +0.7 mean AP on val).
MIRROR_AVERAGE_PHOTOS = True
CANDIDATE_THRESHOLD = 0.05  # detectors keep boxes down to this score; the pipeline filters later
# Privacy blur hides every candidate whose P(face) is at least PRIVACY_THRESHOLD, shown or not (a missed face
# is the failure that matters there), over its box grown by BLUR_MARGIN of its size on each side, down to
# BLUR_BLOCKS blocks across and smoothed: on blurred holdout photos the detector finds none of them again at
# P(face) >= 0.1 (docs/research_log.md; 8 px blocks left a 200 px face a recognisable 25 x 25 mosaic)
PRIVACY_THRESHOLD = 0.1
BLUR_MARGIN = 0.25
BLUR_BLOCKS = 2
# A face's fused box (facemask/vision/detectors.py: fuse_boxes) averages, weighted by score, the raw boxes that
# overlap the one kept by at least this IoU and score at least this fraction of its score
BOX_FUSION_IOU = 0.5
BOX_FUSION_MIN_SCORE = 0.5
# the classifier runs at most this many crops at once (more go in chunks): bounds its memory on crowds
CLASSIFIER_MAX_BATCH = 64

# --- watching cameras (`facemask watch`, the Monitor page): tracks, events, the store ---
WATCH_FPS = 5.0  # frames per second each camera is sampled at (--fps)
TRACK_FORGET_S = 2.0  # a face unseen this long ends its track: one person in view is one event
TRACK_CONFIRM_FRAMES = 3  # a face becomes a track once seen on this many frames: a one-frame false alarm never does
TRACK_MAX_DISTANCE = 0.8  # 1 - IoU: a box further than this from a track's is another face
# The record of what the cameras saw: any SQLAlchemy URL (postgresql+psycopg://... to share it between
# machines); by default a SQLite file in the user's data folder, made on first use
DATA_DIR = Path(os.environ.get("FACEMASK_DATA_DIR", Path.home() / ".local" / "share" / "facemask"))
DEFAULT_DB_URL = os.environ.get("FACEMASK_DB_URL", f"sqlite:///{DATA_DIR / 'facemask.db'}")
RETENTION_DAYS = 30  # events and counts older than this many days are deleted by the watcher
SNAPSHOT_FACE_SIDE = 160  # px: the stored face picture's long side
SNAPSHOT_FRAME_SIDE = 320  # px: the stored frame thumbnail's long side
SNAPSHOT_JPEG_QUALITY = 85
SOURCE_OPEN_TIMEOUT_S = 15.0  # a camera that has not opened by then is retried (a URL that never answers can't hang)
SOURCE_READ_TIMEOUT_S = 10.0  # a camera that sends nothing for this long is reconnected
RECONNECT_BACKOFF_S = (1.0, 30.0)  # first wait before a reconnection, doubled after each failure up to the second
SOURCE_MAX_BAD_PACKETS = 50  # this many undecodable packets in a row: the stream is garbage, reconnect
FPS_WINDOW_S = 3.0  # a camera's fps is measured over its frames of the last this many seconds
EVENT_LABELS = ("without_mask", "mask_worn_incorrectly")  # a track voted one of these is an event
EVENT_REWRITE_S = 10.0  # an event still going is written again this often (its duration grows on the page)
ALERT_MIN_INTERVAL_S = 30.0  # at most one webhook alert per camera this often; the ones held back are counted
ALERT_RETRIES = 3  # a webhook POST that fails is tried again this many times ...
ALERT_BACKOFF_S = 1.0  # ... after 1, 2, 4 ... seconds
ALERT_TIMEOUT_S = 5.0
ALERT_QUEUE = 100  # alerts waiting to be posted at most (beyond: reported, the event stays in the store)
STATUS_INTERVAL_S = 10.0  # `facemask watch` prints each camera's status line this often (and on every change)
COUNTS_FLUSH_S = 10.0  # per-minute counts are sent to the store at least this often (the chart's delay)
WRITE_INTERVAL_S = 1.0  # the store writer gathers records this long into one transaction
WRITE_BUFFER = 10_000  # records kept in memory while the database is away; beyond, new ones are refused (loudly)
PURGE_INTERVAL_S = 3600.0  # the watcher deletes records past the retention period this often
# The Monitor page: asks for a password when one is set, in Streamlit's secrets (.streamlit/secrets.toml,
# key MONITOR_PASSWORD_SECRET) or in the environment variable MONITOR_PASSWORD_ENV
MONITOR_PASSWORD_SECRET = "monitor_password"
MONITOR_PASSWORD_ENV = "FACEMASK_MONITOR_PASSWORD"
# secrets kept off the command line (and so out of `ps`): the webhook from the environment, like the database
# (FACEMASK_DB_URL above); cameras from a file (`facemask watch --cameras FILE`)
WEBHOOK_ENV = "FACEMASK_WEBHOOK"
MONITOR_REFRESH_S = 2.0  # the page redraws status, chart and events this often (a new event shows as an alert)
MONITOR_STALE_S = 60.0  # a camera status older than this: no watcher is running for it
WATCH_TICK_S = 0.05  # the watcher looks for new frames this often
WEBCAM_CAMERA_NAME = "webcam"  # the live page's camera name in the store when it records
LIVE_COUNTS_WINDOW_S = 300.0  # the live page's counts cover this many seconds, not one frame
