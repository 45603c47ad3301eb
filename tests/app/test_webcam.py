"""The webcam processor: annotates the newest frame, reports stats, never raises out of recv."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import av
import cv2
import numpy as np
import pytest

from facemask import config
from facemask.app.webcam import VideoTransformer, video_frame
from facemask.detections import Detections


class StubPipeline:
    """Finds one face without a mask in the middle of every frame; records the thresholds it got."""

    detector_name = "stub"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.thresholds: list[float] = []
        self.shapes: list[tuple] = []

    def detect(self, image, threshold=None):
        if self.fail:
            raise RuntimeError("detector exploded")
        self.thresholds.append(threshold)
        self.shapes.append(image.shape)
        h, w = image.shape[:2]
        return Detections(xyxy=[[w / 4, h / 4, w * 3 / 4, h * 3 / 4]], confidence=[0.9], class_id=[1],
                          face_score=[0.8], probabilities=[[0.05, 0.9, 0.05]])

    def detect_with_privacy(self, image, threshold=None, privacy=False):
        found = self.detect(image, threshold)  # the stub's one face is sure: shown and hidden alike
        return found, found


def frame(value: int = 90, width: int = 160, height: int = 120, pts: int = 7) -> av.VideoFrame:
    out = av.VideoFrame.from_ndarray(np.full((height, width, 3), value, np.uint8), format="bgr24")
    out.pts = pts
    return out


def test_recv_draws_boxes_and_publishes_counts_and_alert():
    processor = VideoTransformer(StubPipeline(), threshold=0.3)
    out = processor.recv(frame())
    image = out.to_ndarray(format="bgr24")
    assert out.pts == 7
    assert (image != 90).any(), "the returned frame carries the drawn box"
    stats = processor.stats()
    assert stats.counts["without_mask"] == 1 and stats.faces == 1
    assert stats.alert and stats.frames == 1 and stats.error is None
    assert stats.latency_ms > 0


def test_threshold_and_blur_set_from_the_page_apply_to_the_next_frame():
    pipeline = StubPipeline()
    processor = VideoTransformer(pipeline)
    processor.recv(frame())
    processor.threshold = 0.8
    processor.blur = True
    noisy = av.VideoFrame.from_ndarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8),
                                       format="bgr24")
    out = processor.recv(noisy).to_ndarray(format="bgr24")
    assert pipeline.thresholds == [config.DEFAULT_THRESHOLD, 0.8]
    inner = out[40:80, 50:110]
    assert np.unique(inner.reshape(-1, 3), axis=0).shape[0] < 200, "the face area is pixelated"


def test_an_error_returns_the_frame_unannotated_and_is_recorded():
    processor = VideoTransformer(StubPipeline(fail=True))
    original = frame()
    assert processor.recv(original) is original
    stats = processor.stats()
    assert "detector exploded" in stats.error and stats.frames == 0


def test_only_the_newest_of_queued_frames_is_processed():
    pipeline = StubPipeline()
    processor = VideoTransformer(pipeline)
    frames = [frame(value=v, width=100 + v, pts=v) for v in (10, 20, 30)]
    # streamlit-webrtc awaits it on its own worker thread; so do we (the test thread may own a loop)
    with ThreadPoolExecutor(1) as worker:
        out = worker.submit(asyncio.run, processor.recv_queued(frames)).result(timeout=60)
    assert len(out) == 1 and out[0].pts == 30
    assert pipeline.shapes == [(120, 130, 3)]
    assert processor.stats().dropped == 2


def test_fps_is_measured_over_consecutive_frames():
    processor = VideoTransformer(StubPipeline())
    for _ in range(5):
        processor.recv(frame())
    stats = processor.stats()
    assert stats.frames == 5 and stats.fps > 0


@pytest.mark.skipif(not config.TFLITE_MODEL.exists(), reason="mask classifier not trained yet")
def test_set_detector_swaps_in_the_shared_live_pipeline():
    from facemask.app.webcam import live_pipeline

    processor = VideoTransformer(live_pipeline("yunet"))
    processor.set_detector("haar")
    assert processor.pipeline is live_pipeline("haar")
    assert processor.pipeline.detector_name == "haar"


@pytest.mark.parametrize("shape", [(480, 640), (241, 319)])
def test_outgoing_frames_keep_the_picture_in_the_encoders_format(shape):
    # a real photo, so the colours are those of a face, not noise
    photo = cv2.imread(str(config.DEV_IMAGES / "maksssksksss0.jpg"))
    image = cv2.resize(photo, shape[::-1], interpolation=cv2.INTER_AREA)
    frame = video_frame(image)
    even = shape[0] % 2 == 0 and shape[1] % 2 == 0
    assert frame.format.name == ("yuv420p" if even else "bgr24")
    assert (frame.height, frame.width) == shape
    back = frame.to_ndarray(format="bgr24").astype(int)
    reference = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
    reference = reference.to_ndarray(format="bgr24").astype(int)
    # no worse than PyAV's own conversion (BT.601, limited range) on the way to the encoder
    assert np.abs(back - image).mean() <= np.abs(reference - image).mean() + 0.5
