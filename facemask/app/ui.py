"""Streamlit glue shared by every page: settings sidebar, cached pipelines, styling, small widgets.

Pages stay thin: they lay out widgets and call these helpers and the `facemask` core.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import string
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import streamlit as st
from PIL import Image

from facemask import config
from facemask.annotate import annotate
from facemask.config import CLASS_TITLES
from facemask.detections import Detections
from facemask.errors import FacemaskError
from facemask.export import image_record, safe_filename
from facemask.imageio import IMAGE_SUFFIXES, decode_image
from facemask.vision.pipeline import Pipeline

CSS_FILE = config.ROOT / "css" / "style.css"
DEFAULT_RTC_CONFIGURATION = {"iceServers": [{"urls": ["stun:stun.l.google.com:19302"]}]}

DETECTOR_LABELS = {
    "yunet": "YuNet (recommended)",
    "ssd": "SSD res10 (OpenCV DNN)",
    "haar": "Haar cascade (basic)",
}
# what the uploaders accept: the photo list is the one decode_image reads (imageio.IMAGE_SUFFIXES)
UPLOAD_TYPES = [suffix.lstrip(".") for suffix in IMAGE_SUFFIXES]
VIDEO_TYPES = ["mp4", "mov", "avi", "mkv", "webm", "m4v"]
TYPE_NAMES = {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF", "tiff": "TIFF", "webp": "WebP", "webm": "WebM"}


def type_names(types: list[str]) -> str:
    """'JPEG, PNG, … or TIFF': the accepted types as people name them, for help and error texts."""
    names = list(dict.fromkeys(TYPE_NAMES.get(t, t.upper()) for t in types))
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


PHOTO_HELP = f"{type_names(UPLOAD_TYPES)}, up to {config.MAX_UPLOAD_MB} MB each."
VIDEO_HELP = f"{type_names(VIDEO_TYPES)}, up to {config.MAX_UPLOAD_MB} MB."


@dataclass(frozen=True)
class Settings:
    """The sidebar choices every page shares."""

    detector: str
    threshold: float
    blur: bool


# --- page frame: config, styling, navigation and the shared settings -----------------------------

PAGES = {  # file (relative to app.py) -> label and icon in the sidebar
    "app.py": ("Home", ":material/home:"),
    "pages/1_Photos_and_video.py": ("Photos & video", ":material/photo_library:"),
    "pages/2_Live_webcam.py": ("Live webcam", ":material/videocam:"),
    "pages/3_Model_metrics.py": ("Model metrics", ":material/monitoring:"),
    "pages/4_Monitor.py": ("Monitor", ":material/camera_outdoor:"),
}
THRESHOLD_RANGE, THRESHOLD_STEP = (0.05, 0.95), 0.05  # the sidebar slider's
DEFAULTS = {"detector": config.DEFAULT_DETECTOR, "threshold": float(config.DEFAULT_THRESHOLD), "blur": False}


APP_TITLE = "Face-mask detector"


def page_title(title: str) -> str:
    """The browser tab's title: the page's, then the app's (the home page is the app: its name once)."""
    return title if title == APP_TITLE else f"{title} · {APP_TITLE}"


def setup_page(title: str, intro: str = "") -> Settings:
    """Every page starts here: page config, styling, sidebar (navigation + settings), title."""
    st.set_page_config(page_title=page_title(title), page_icon=":material/masks:",
                       layout="wide", initial_sidebar_state="auto")  # "auto": closed on phones
    load_css()
    current = sidebar()
    st.title(title)
    if intro:
        st.markdown(f'<p class="fm-intro">{intro}</p>', unsafe_allow_html=True)
    return current


def settings() -> Settings:
    """Current shared settings (defaults before the sidebar has been drawn)."""
    state = st.session_state
    detector = state.get("_detector", DEFAULTS["detector"])
    if detector not in config.DETECTORS:
        detector = config.DEFAULT_DETECTOR
    return Settings(detector=detector, threshold=float(state.get("_threshold", DEFAULTS["threshold"])),
                    blur=bool(state.get("_blur", DEFAULTS["blur"])))


def _keep(key: str) -> None:
    st.session_state[f"_{key}"] = st.session_state[key]


def sidebar() -> Settings:
    """Navigation and the shared settings. Widget values live in `_name` keys, which Streamlit
    does not clear when another page (without that widget yet) runs, so choices follow the user."""
    state = st.session_state
    for key, default in DEFAULTS.items():
        state[key] = state.setdefault(f"_{key}", default)
    with st.sidebar:
        for path, (label, icon) in PAGES.items():
            st.page_link(path, label=label, icon=icon)
        st.divider()
        st.markdown("### Settings")
        st.selectbox("Face detector", config.DETECTORS, key="detector", on_change=_keep, args=("detector",),
                     format_func=lambda name: DETECTOR_LABELS.get(name, name),
                     help="Finds the faces; the mask classifier then labels each one.")
        st.slider("Face confidence threshold", *THRESHOLD_RANGE, step=THRESHOLD_STEP, key="threshold",
                  on_change=_keep, args=("threshold",), help=config.THRESHOLD_HELP)
        st.checkbox("Blur faces (privacy)", key="blur", on_change=_keep, args=("blur",),
                    help="Pixelate every face in the annotated pictures and video.")
        st.caption("Settings apply to every page, including a running webcam stream.")
    return settings()


def load_css() -> None:
    if CSS_FILE.exists():
        st.markdown(f"<style>{CSS_FILE.read_text(encoding='utf-8')}</style>", unsafe_allow_html=True)


# --- pipelines --------------------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading the face detector and mask classifier…")
def _load(detector: str) -> Pipeline:
    return Pipeline(detector=detector)  # thread-safe: Pipeline.detect holds its own lock


def pipeline(detector: str) -> Pipeline | None:
    """The photo pipeline for `detector`, loaded once per server; None (and an error shown) if it cannot load."""
    try:
        return _load(detector)
    except FacemaskError as exc:
        st.error(f"The models could not be loaded. {exc}", icon=":material/error:")
        return None


def fallback_warning(pipe: Pipeline) -> None:
    if pipe.fallback_reason:
        st.warning(f"{pipe.fallback_reason} The app is using the **{pipe.detector_name}** detector "
                   "instead, which misses more faces.", icon=":material/warning:")


# --- uploaded photos: detected once per file, filtered and drawn per threshold ------------------

MIN_FACE_PX = 16  # about the smallest face the detectors find (config.MIN_IMAGE_SIDE)


def digest(data: bytes) -> str:
    """The cache key of an uploaded file: its content, whatever its name."""
    return hashlib.sha256(data).hexdigest()


def rejection(name: str, size: int) -> str | None:
    """Why an upload is refused before it is decoded (too big, not a photo type), or None."""
    if size > config.MAX_UPLOAD_MB * 1024 * 1024:
        return f"{name}: the file is {size / 1024 / 1024:.1f} MB; photos can be up to {config.MAX_UPLOAD_MB} MB."
    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix not in UPLOAD_TYPES:
        kind = f"a .{suffix} file" if suffix else "a file without a type"
        return f"{name}: {kind} is not a photo this app reads ({type_names(UPLOAD_TYPES)})."
    return None


@dataclass(frozen=True)
class PhotoFaces:
    """Every face of one photo that some slider position shows (found at the slider's lowest value),
    so that moving the slider only filters."""

    name: str
    width: int
    height: int
    candidates: Detections

    def shown(self, threshold: float) -> Detections:
        return self.candidates[self.candidates.face_probability >= threshold]

    def drawn(self, threshold: float, blur: bool) -> Detections:
        """What the picture is drawn from (`annotate(..., threshold=threshold)`): the faces shown, and with blur
        every candidate down to the privacy threshold too, hidden though not shown."""
        return self.shown(min(threshold, config.PRIVACY_THRESHOLD) if blur else threshold)

    def record(self, threshold: float) -> dict:
        """The photo's entry of `facemask detect --json` at this threshold."""
        return image_record(self.name, self.width, self.height, self.shown(threshold))

    def no_face_advice(self, threshold: float) -> str:
        """What to try when no face passes the threshold: only suggests lowering it when that would
        show a face (a candidate between the slider's lowest value and the threshold)."""
        p_face = self.candidates.face_probability
        below = p_face[(p_face >= THRESHOLD_RANGE[0]) & (p_face < threshold)]
        if len(below):
            best = float(below.max())
            lower = max(np.floor(round(best / THRESHOLD_STEP, 6)) * THRESHOLD_STEP, THRESHOLD_RANGE[0])
            others = f" ({len(below)} in all)" if len(below) > 1 else ""
            return (f"No face at this threshold. The likeliest box below it has P(face) {best:.2f}{others}: "
                    f"lower the threshold in the sidebar to {lower:.2f} to see it.")
        return (f"No face found. The photo is {self.width}×{self.height} px; a face must be at least about "
                f"{MIN_FACE_PX} px across and turned mostly towards the camera: try a closer or larger photo.")


def _note_detection(key: str, name: str) -> None:
    """Tests only: FACEMASK_DETECT_LOG names a file that gets a line per photo the detector ran on."""
    path = os.environ.get("FACEMASK_DETECT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{key[:16]} {name}\n")


@st.cache_data(max_entries=256, show_spinner=False)
def detect_photo(key: str, _data: bytes, name: str, detector: str) -> PhotoFaces:
    """Decode and detect one uploaded photo once (cached by content `key`, see `digest`); raises
    FacemaskError for a file that is not a readable picture."""
    image = decode_image(_data, name)
    # P(face) <= the calibrated detector score, which the pipeline checks before classifying: at the
    # slider's lowest value it classifies every box any slider position can show, and no other
    # (maksssksksss518: 105 of its 1057 boxes, 1.2 s; at threshold 0 all 1057, ~10 s, the rest never shown)
    candidates = _load(detector).detect(image, threshold=THRESHOLD_RANGE[0])
    _note_detection(key, name)
    height, width = image.shape[:2]
    return PhotoFaces(name=name, width=width, height=height, candidates=candidates)


@st.cache_data(max_entries=32, show_spinner=False)
def annotated_png(key: str, _data: bytes, name: str, detector: str, threshold: float, blur: bool) -> bytes:
    """The photo with the faces that pass `threshold` drawn on it, as PNG, shrunk to a long side of
    config.DISPLAY_MAX_SIDE (a 12 MP PNG would take seconds to encode and send; the ZIP keeps full size)."""
    faces = detect_photo(key, _data, name, detector)
    drawn = annotate(decode_image(_data, name), faces.drawn(threshold, blur), blur=blur, threshold=threshold)
    scale = config.DISPLAY_MAX_SIDE / max(drawn.shape[:2])
    if scale < 1:
        drawn = cv2.resize(drawn, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return png_bytes(drawn)


def annotated_zip(photos: list[tuple[str, bytes, Detections]], blur: bool, threshold: float | None = None) -> bytes:
    """One ZIP of the annotated photos (JPEG, named after each upload): the many-photos download."""
    buffer = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data, detections in photos:
            image = annotate(decode_image(data, name), detections, blur=blur, threshold=threshold)
            entry, k = safe_filename(name, "_annotated.jpg"), 1
            while entry in used:  # two uploads with one name
                k += 1
                entry = safe_filename(name, f"_annotated_{k}.jpg")
            used.add(entry)
            jpeg = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(image[:, :, ::-1])).save(jpeg, format="JPEG", quality=90)
            archive.writestr(entry, jpeg.getvalue())
    return buffer.getvalue()


def summary_row(name: str, result: PhotoFaces | FacemaskError, threshold: float) -> dict:
    """One row of the many-photos table: the faces per class and what happened to the photo."""
    row = {"Photo": name, "Faces": None, **{CLASS_TITLES[c]: None for c in config.CLASS_NAMES}}
    if isinstance(result, FacemaskError):
        return {**row, "Status": "not read: " + str(result).removeprefix(f"{name}: ")}
    counts = result.shown(threshold).counts()
    row.update({"Faces": sum(counts.values()), **{CLASS_TITLES[c]: n for c, n in counts.items()}})
    return {**row, "Status": "analysed" if row["Faces"] else "no face found"}


def summary_table(rows: list[dict]) -> list[dict]:
    """The rows as shown: a photo that was not read gets a dash, not a count (Streamlit writes None)."""
    if all(row["Faces"] is not None for row in rows):
        return rows
    return [{key: ("–" if value is None else str(value)) if key not in ("Photo", "Status") else value
             for key, value in row.items()} for row in rows]


def png_bytes(image_bgr: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image_bgr[:, :, ::-1])).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


FIELD_HELP = {key: text[0].upper() + text[1:] for key, text in config.RECORD_FIELDS.items()}


def faces_table(record: dict) -> list[dict]:
    """Rows for the faces table of one picture."""
    return [{"#": k, "Label": CLASS_TITLES[face["label"]], "Score": face["score"],
             "P(face)": face["face_probability"], "P(label)": face["label_probability"],
             "Box (x1, y1, x2, y2)": ", ".join(map(str, face["box"]))}
            for k, face in enumerate(record["faces"], start=1)]


def count_metrics(counts: dict[str, int], total_label: str = "Faces", per_row: int | None = None) -> None:
    """One st.metric for the total and one per class, `per_row` to a row (all in one row by default)."""
    tiles = [(total_label, sum(counts.values()))] + [(CLASS_TITLES[n], c) for n, c in counts.items()]
    per_row = per_row or len(tiles)
    for start in range(0, len(tiles), per_row):
        for column, (label, value) in zip(st.columns(per_row), tiles[start:start + per_row]):
            column.metric(label, value)


def legend() -> None:
    """Colour chips matching the boxes drawn on pictures."""
    chips = "".join(
        f'<span class="fm-chip"><span class="fm-dot" style="background:{rgb_hex(name)}"></span>'
        f"{CLASS_TITLES[name]}</span>" for name in config.CLASS_NAMES)
    st.markdown(f'<div class="fm-legend">{chips}</div>', unsafe_allow_html=True)


# GFM links bare www.…, http(s)://… and a@b.c in plain text, escaped or not: a word joiner (U+2060,
# invisible) after "www" / "http(s)" and before "@" keeps them text
_AUTOLINK = re.compile(r"www(?=\.)|https?(?=:)|(?=@)", re.IGNORECASE)


def plain(text: object) -> str:
    """`text` escaped so that Streamlit's markdown shows it exactly as typed: for file names and error
    messages, which come from users and must never become links, pictures or HTML."""
    text = _AUTOLINK.sub(lambda match: match.group(0) + "\u2060", str(text))
    return "".join("\\" + char if char in string.punctuation else char for char in text)


def rgb_hex(class_name: str) -> str:
    b, g, r = config.CLASS_COLORS[class_name]
    return f"#{r:02x}{g:02x}{b:02x}"


# --- files written by training / evaluation ------------------------------------------------------

def read_json(path: Path) -> dict | None:
    """A report file, or None when it has not been written yet (or is unreadable)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def rtc_configuration() -> dict:
    """ICE servers for WebRTC: FACEMASK_RTC_CONFIGURATION (JSON), else st.secrets, else Google's STUN."""
    raw = os.environ.get("FACEMASK_RTC_CONFIGURATION")
    if raw:
        try:
            value = json.loads(raw)
            if isinstance(value, dict):
                return value
        except ValueError:
            pass
        st.warning("FACEMASK_RTC_CONFIGURATION is not a JSON object; using the default STUN server.")
    try:
        secret = st.secrets.get("rtc_configuration")
        if secret:
            return dict(secret)
    except Exception:  # noqa: BLE001 - no secrets file is the normal case
        pass
    return DEFAULT_RTC_CONFIGURATION
