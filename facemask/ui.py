"""Streamlit glue shared by every page: settings sidebar, cached pipelines, styling, small widgets.

Pages stay thin: they lay out widgets and call these helpers and the `facemask` core.
"""

from __future__ import annotations

import io
import json
import os
import re
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from facemask import config
from facemask.annotate import annotate
from facemask.config import CLASS_TITLES
from facemask.errors import FacemaskError
from facemask.export import image_record, total_counts
from facemask.imageio import decode_image
from facemask.pipeline import Pipeline

CSS_FILE = config.ROOT / "css" / "style.css"
DEFAULT_RTC_CONFIGURATION = {"iceServers": [{"urls": ["stun:stun.l.google.com:19302"]}]}

DETECTOR_LABELS = {
    "yunet": "YuNet (recommended)",
    "ssd": "SSD res10 (OpenCV DNN)",
    "haar": "Haar cascade (basic)",
}
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif"]
VIDEO_TYPES = ["mp4", "mov", "avi", "mkv", "webm", "m4v"]


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
}
DEFAULTS = {"detector": config.DEFAULT_DETECTOR, "threshold": float(config.DEFAULT_THRESHOLD), "blur": False}


def setup_page(title: str, intro: str = "") -> Settings:
    """Every page starts here: page config, styling, sidebar (navigation + settings), title."""
    st.set_page_config(page_title=f"{title} · Face-mask detector", page_icon=":material/masks:",
                       layout="wide", initial_sidebar_state="expanded")
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
        st.slider("Face confidence threshold", 0.05, 0.95, step=0.05, key="threshold", on_change=_keep,
                  args=("threshold",),
                  help="Boxes less likely than this to be on a face (the detector's score, "
                       "calibrated, and the classifier's own view of the crop) are not shown. Lower "
                       "it to find more small or turned faces, raise it to drop false alarms.")
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


@dataclass(frozen=True)
class PhotoResult:
    """One analysed picture: what the upload page shows and offers for download."""

    name: str
    record: dict  # same shape as one entry of `facemask detect --json`
    png: bytes  # annotated picture

    @property
    def counts(self) -> dict[str, int]:
        return total_counts([self.record])


@st.cache_data(max_entries=64, show_spinner=False)
def analyse_photo(data: bytes, name: str, detector: str, threshold: float, blur: bool) -> PhotoResult:
    """Decode, detect and annotate one uploaded picture; raises FacemaskError for a bad file."""
    image = decode_image(data, name)
    detections = _load(detector).detect(image, threshold=threshold)
    annotated = annotate(image, detections, blur=blur)
    height, width = image.shape[:2]
    return PhotoResult(name=name, record=image_record(name, width, height, detections),
                       png=png_bytes(annotated))


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
