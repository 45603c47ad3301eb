"""The live webcam's recorder on real dev-photo frames and a real SQLite store: counts over the last
minutes (not one frame), and recording into the store `facemask watch` writes."""

from __future__ import annotations

import time

import camera_kit as kit
import cv2
import numpy as np
from browser_kit import letterbox

from facemask.cameras.recording import LiveRecorder
from facemask.cameras.store import Store


def frames(live_pipeline):
    person = letterbox(cv2.imread(str(kit.WITHOUT_MASK_PHOTO)))
    empty = np.zeros_like(person)
    return (person, live_pipeline.detect(person)), (empty, live_pipeline.detect(empty))


def test_live_counts_cover_the_last_minutes_not_the_last_frame(live_pipeline):
    (person, found), (empty, nothing) = frames(live_pipeline)
    recorder = LiveRecorder(fps=5, window_s=60)
    t0 = time.time()
    for k in range(10):
        assert recorder.add(person, found, now=t0 + k / 5)
    assert not recorder.add(person, found, now=t0 + 9 / 5 + 0.05), "a frame between samples was taken"
    for k in range(10, 20):
        recorder.add(empty, nothing, now=t0 + k / 5)
    recent = recorder.recent(now=t0 + 4)
    assert recent["counts"]["without_mask"] == 10 and recent["people"] == 1 and recent["samples"] == 20
    assert recorder.recent(now=t0 + 120)["samples"] == 0, "samples older than the window still counted"


def test_recording_writes_the_webcam_events_and_counts_to_the_store(tmp_path, live_pipeline):
    (person, found), (empty, nothing) = frames(live_pipeline)
    url = f"sqlite:///{tmp_path / 'facemask.db'}"
    recorder = LiveRecorder(fps=5)
    recorder.start(url)
    assert recorder.recording
    t0 = time.time()
    for k in range(15):
        recorder.add(person, found, now=t0 + k / 5)
    assert recorder.recent(now=t0 + 3)["events"] == 1
    recorder.stop()
    assert not recorder.recording
    store = Store(url)
    [event] = store.events(camera="webcam")
    assert event["label"] == "without_mask" and event["duration_s"] == 2.8 and event["frames"] == 15
    assert sum(row["faces"] for row in store.minute_counts(camera="webcam")) == 15
    assert store.camera_statuses()[0]["state"] == "stopped"
