"""FaceTracker on real dev photos: one person in view is one track, labelled by the vote over its frames."""

from __future__ import annotations

import av
import browser_kit as kit
import corpus
import cv2
import numpy as np
import pytest

from facemask import Detections, config
from facemask.cameras.tracking import FaceTracker

WITHOUT_MASK_PHOTO = config.DEV_IMAGES / "maksssksksss660.jpg"  # one face, no mask, large at 640x480
FPS = 5


def still_clip(tmp_path, photo, count: int) -> list[np.ndarray]:
    """`count` frames of an H.264 clip made from one dev photo, decoded back (what a camera sends)."""
    frame = kit.letterbox(cv2.imread(str(photo)))
    path = corpus.write_video(tmp_path / f"{photo.stem}.mp4", [frame] * count, fps=FPS)
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def run(tracker: FaceTracker, pipeline, frames, start: float = 0.0) -> list[set[int]]:
    """Track ids alive after each frame (frames FPS apart from `start`)."""
    ids = []
    for k, found in enumerate(pipeline.detect_many(frames)):
        ids.append({t.id for t in tracker.update(found, timestamp=start + k / FPS)})
    return ids


def test_still_clip_of_one_person_is_one_track_with_the_voted_label(tmp_path, live_pipeline):
    frames = still_clip(tmp_path, WITHOUT_MASK_PHOTO, 20)
    tracker = FaceTracker(fps=FPS)
    ids = run(tracker, live_pipeline, frames)
    assert len(ids[-1]) == 1 and set().union(*ids) == ids[-1], ids
    assert tracker.people_seen == 1
    [track] = tracker.finish()
    assert track.label == "without_mask"
    assert track.frames == len(frames)
    assert track.duration_s == pytest.approx((len(frames) - 1) / FPS)
    assert 0.5 < track.score <= 1.0


def test_person_who_leaves_and_comes_back_is_two_tracks(tmp_path, live_pipeline):
    person = still_clip(tmp_path, WITHOUT_MASK_PHOTO, 8)
    empty = [np.zeros_like(person[0])] * round(config.TRACK_FORGET_S * FPS + 3)
    tracker = FaceTracker(fps=FPS)
    run(tracker, live_pipeline, person + empty)
    first = tracker.pop_ended()
    assert len(first) == 1 and first[0].frames == len(person), first
    run(tracker, live_pipeline, person, start=100.0)
    [second] = tracker.finish()
    assert second.id != first[0].id
    assert tracker.people_seen == 2


def test_each_face_of_a_group_photo_is_its_own_track(tmp_path, live_pipeline):
    photo = kit.photos_with_large_faces(1)[0]
    frames = still_clip(tmp_path, photo, 10)
    found = live_pipeline.detect_many(frames)
    counts = [len(d) for d in found]
    assert min(counts) >= 2, f"{photo.name}: the live pipeline should find several faces"
    tracker = FaceTracker(fps=FPS)
    for k, dets in enumerate(found):
        tracks = tracker.update(dets, timestamp=k / FPS)
    # every face of the last frame is on a track of its own, and no face was split into two tracks
    # (a face near the threshold may be found from a later frame on: a new person, not a split one)
    rows = [t.row for t in tracks if t.row is not None]
    assert sorted(rows) == list(range(counts[-1])), (rows, counts)
    assert counts[-1] <= tracker.people_seen <= max(counts), (tracker.people_seen, counts)


def face(label: str, box=(100, 100, 200, 220)) -> Detections:
    c = config.CLASS_NAMES.index(label)
    probs = np.full((1, len(config.CLASS_NAMES)), 0.1, np.float32)
    probs[0, c] = 0.8
    return Detections(xyxy=[box], confidence=[0.8], class_id=[c], face_score=[0.9], probabilities=probs)


def test_track_label_is_the_majority_of_its_frames_labels():
    tracker = FaceTracker(fps=FPS)
    for label in ["with_mask", "without_mask", "with_mask", "without_mask", "without_mask"]:
        tracker.update(face(label))
    [track] = tracker.finish()
    assert track.votes == {"with_mask": 2, "without_mask": 3, "mask_worn_incorrectly": 0}
    assert track.label == "without_mask"


def test_a_face_seen_on_one_frame_only_is_no_track():
    tracker = FaceTracker(fps=FPS)
    assert tracker.update(face("without_mask")) == []
    for _ in range(20):
        tracker.update(Detections.empty())
    assert tracker.finish() == [] and tracker.people_seen == 0
