"""process_video's summary: people (tracks) rather than face-frames, counts per second, blur."""

from __future__ import annotations

import csv

import av
import corpus
import numpy as np
import pytest

from facemask import CLASS_NAMES, config
from facemask.cameras.video import per_second, process_video

FRAMES, FPS = 20, 10  # four dev photos, five frames each


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return corpus.write_video(tmp_path_factory.mktemp("summary") / "clip.mp4", corpus.dev_video_frames(FRAMES), fps=FPS)


def frames_of(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(container.streams.video[0])]


def test_people_are_counted_once_per_person_not_once_per_frame(clip, live_pipeline, tmp_path):
    summary = process_video(clip, tmp_path / "out.mp4", live_pipeline, csv_path=tmp_path / "c.csv")
    rows = list(csv.DictReader((tmp_path / "c.csv").open()))
    face_frames = sum(int(r["faces"]) for r in rows)
    # each still is on screen for 5 frames: its faces are its people
    most_per_still = [max(int(r["faces"]) for r in rows[k:k + 5]) for k in range(0, FRAMES, 5)]
    assert face_frames >= 2 * summary["people"] > 0, (face_frames, summary["people"])
    assert summary["max_faces"] <= summary["people"] <= sum(most_per_still)
    assert sum(summary["people_per_class"].values()) == summary["people"]
    assert set(summary["people_per_class"]) == set(CLASS_NAMES)


def test_per_second_counts_are_the_mean_faces_of_each_second(clip, live_pipeline, tmp_path):
    summary = process_video(clip, tmp_path / "out.mp4", live_pipeline, csv_path=tmp_path / "c.csv")
    rows = list(csv.DictReader((tmp_path / "c.csv").open()))
    seconds = summary["per_second"]
    assert [s["second"] for s in seconds] == [0, 1]
    first = [r for r in rows if float(r["time_s"]) < 1]
    for name in CLASS_NAMES:
        assert seconds[0][name] == pytest.approx(sum(int(r[name]) for r in first) / len(first), abs=0.01)


def test_per_second_puts_each_frame_in_its_whole_second():
    rows = [{"time_s": t, "with_mask": w, "without_mask": 0, "mask_worn_incorrectly": 0}
            for t, w in ((0.0, 1), (0.5, 3), (1.2, 4), (3.9, 0))]
    assert per_second(rows) == [{"second": 0, "with_mask": 2.0, "without_mask": 0.0, "mask_worn_incorrectly": 0.0},
                                {"second": 1, "with_mask": 4.0, "without_mask": 0.0, "mask_worn_incorrectly": 0.0},
                                {"second": 3, "with_mask": 0.0, "without_mask": 0.0, "mask_worn_incorrectly": 0.0}]


def test_blur_pixelates_the_faces_of_the_video_and_nothing_else(clip, live_pipeline, tmp_path):
    process_video(clip, tmp_path / "plain.mp4", live_pipeline, max_frames=5)
    process_video(clip, tmp_path / "blurred.mp4", live_pipeline, max_frames=5, blur=True)
    plain, blurred = frames_of(tmp_path / "plain.mp4")[0], frames_of(tmp_path / "blurred.mp4")[0]
    source = frames_of(clip)[0]
    shown, hidden = live_pipeline.detect_with_privacy(source, privacy=True)
    assert len(shown), "the first still shows a face"
    inside = np.zeros(source.shape[:2], bool)
    for x1, y1, x2, y2 in hidden.xyxy:  # every candidate down to the privacy threshold, its margin, box and label
        grow = config.BLUR_MARGIN * max(x2 - x1, y2 - y1) + 20
        inside[int(max(y1 - grow, 0)):int(y2 + grow), int(max(x1 - grow, 0)):int(x2 + grow)] = True
    diff = np.abs(plain.astype(int) - blurred.astype(int)).max(axis=2)
    assert diff[inside].mean() > 5, "the faces look the same blurred and not"
    assert diff[~inside].mean() < 2, "blur changed the picture away from the faces"
