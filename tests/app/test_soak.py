"""Long use: the webcam processor annotates thousands of real frames without leaking memory or drifting."""

import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from browser_kit import FRAME_H, FRAME_W, letterbox

from facemask import VideoTransformer, config

FRAMES = 3_000
CHECKPOINTS = (1_000, 2_000, 3_000)
MAX_GROWTH_MB = 30.0  # resident memory allowed to grow between frame 1,000 and frame 3,000
# webcam-like scenes: a group photo, a two-person photo, and one close-up from each classifier class
SOURCES = [
    config.DEV_IMAGES / "maksssksksss0.jpg",
    config.DEV_IMAGES / "maksssksksss114.jpg",
    config.CLASSIFICATION_DIR / "with_mask" / "0129.jpg",
    config.CLASSIFICATION_DIR / "without_mask" / "0_0_aidai_0014.jpg",
]
ZOOMS = (1.0, 1.02, 1.04, 1.06, 1.08)  # small crops so consecutive frames of one photo differ

pytestmark = pytest.mark.skipif(not config.TFLITE_MODEL.exists(), reason="mask classifier not trained yet")


def rss_mb() -> float:
    """This process's resident memory (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def camera_frames() -> list[np.ndarray]:
    missing = [str(p) for p in SOURCES if not p.exists()]
    assert not missing, f"soak photos missing: {missing}"
    return [letterbox(cv2.imread(str(path)), zoom) for path in SOURCES for zoom in ZOOMS]


def test_three_thousand_frames_stay_annotated_without_memory_growth():
    images = camera_frames()
    transformer = VideoTransformer()  # the shared live pipeline, as the webcam page uses it
    first_counts: list[dict] = []
    for image in images:  # every picture must show a face, or "annotated" could not be told apart
        detections = transformer.pipeline.detect(image, threshold=transformer.threshold)
        assert len(detections), "a soak picture shows no face at the live threshold"
        first_counts.append(detections.counts())

    rss, unannotated, resized, drifted = {}, [], [], []
    start = time.perf_counter()
    for index in range(FRAMES):
        k = index % len(images)
        frame = av.VideoFrame.from_ndarray(images[k], format="bgr24")
        frame.pts, frame.time_base = index * 3000, Fraction(1, 90_000)  # a 30 fps RTP clock
        out = transformer.recv(frame)
        if (out.width, out.height) != (FRAME_W, FRAME_H):
            resized.append(index)
        if out is frame or np.array_equal(out.to_ndarray(format="bgr24"), images[k]):
            unannotated.append(index)
        if transformer.stats().counts != first_counts[k]:
            drifted.append(index)
        if index + 1 in CHECKPOINTS:
            rss[index + 1] = rss_mb()
    seconds = time.perf_counter() - start

    stats = transformer.stats()
    growth = rss[CHECKPOINTS[-1]] - rss[CHECKPOINTS[0]]
    print(f"\nsoak: {FRAMES} frames in {seconds:.0f} s ({FRAMES / seconds:.1f} frames/s); RSS "
          + ", ".join(f"{mb:.1f} MB at {n:,}" for n, mb in rss.items()) + f"; growth 1k->3k {growth:+.1f} MB")
    assert stats.frames == FRAMES and stats.error is None, stats
    assert not resized, f"frames came back at another size: {resized[:10]}"
    assert not unannotated, f"{len(unannotated)} frames came back without boxes, first {unannotated[:10]}"
    assert not drifted, f"{len(drifted)} frames got other labels than the first pass, first {drifted[:10]}"
    assert growth < MAX_GROWTH_MB, f"resident memory grew {growth:.1f} MB between frame 1,000 and 3,000"
