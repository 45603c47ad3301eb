"""process_video on a real clip made from dev photos, and on every broken video a user can send."""

from __future__ import annotations

import csv

import av
import corpus
import numpy as np
import pytest

from facemask import CLASS_NAMES, FacemaskError
from facemask.cameras.video import CSV_FIELDS, iter_video_frames, process_video

FRAMES = 20


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return corpus.dev_video_frames(FRAMES, (640, 480))


@pytest.fixture(scope="module")
def clip(frames, tmp_path_factory):
    return corpus.write_video(tmp_path_factory.mktemp("video") / "clip.mp4", frames, fps=10)


def decoded(path) -> tuple[str, list[np.ndarray], float]:
    """("codec/pixel format", BGR frames, frame rate) read back with plain PyAV, not facemask.cameras.video."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        images = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
        codec = f"{stream.codec_context.name}/{stream.codec_context.pix_fmt}"
        return codec, images, float(stream.average_rate)


def test_clip_comes_out_as_h264_with_every_frame_counted(clip, live_pipeline, tmp_path):
    out, counts = tmp_path / "annotated.mp4", tmp_path / "counts.csv"
    seen = []
    summary = process_video(clip, out, live_pipeline, csv_path=counts, progress=lambda d, t: seen.append((d, t)))

    codec, images, fps = decoded(out)
    assert codec == "h264/yuv420p" and len(images) == FRAMES and images[0].shape == (480, 640, 3)
    assert fps == pytest.approx(10)
    rows = list(csv.DictReader(counts.open()))
    assert list(rows[0]) == CSV_FIELDS and len(rows) == FRAMES
    assert [int(r["frame"]) for r in rows] == list(range(FRAMES))
    assert float(rows[-1]["time_s"]) == pytest.approx((FRAMES - 1) / 10, abs=0.01)
    assert all(int(r["faces"]) == sum(int(r[c]) for c in CLASS_NAMES) for r in rows)
    assert sum(int(r["faces"]) for r in rows) >= FRAMES // 2  # every photo holds a large face

    assert summary["frames"] == FRAMES and summary["fps"] == pytest.approx(10)
    assert summary["seconds"] == pytest.approx(2.0)
    assert summary["max_faces"] == max(int(r["faces"]) for r in rows) >= 1
    assert summary["counts_per_class_total"] == {c: sum(int(r[c]) for r in rows) for c in CLASS_NAMES}
    assert summary["out"] == str(out) and summary["csv"] == str(counts) and "warning" not in summary
    assert seen == [(k, FRAMES) for k in range(1, FRAMES + 1)]


def test_annotated_frames_are_the_source_frames_with_boxes(clip, frames, live_pipeline, tmp_path):
    process_video(clip, tmp_path / "a.mp4", live_pipeline)
    _, images, _ = decoded(tmp_path / "a.mp4")
    # boxes cover a small part of each frame: the rest must still be the source picture
    assert np.median(np.abs(images[0].astype(int) - frames[0])) <= 3


def test_max_frames_stops_early(clip, live_pipeline, tmp_path):
    summary = process_video(clip, tmp_path / "a.mp4", live_pipeline, max_frames=5)
    assert summary["frames"] == 5 and len(decoded(tmp_path / "a.mp4")[1]) == 5
    assert "warning" not in summary


def test_phone_portrait_video_is_turned_upright(live_pipeline, tmp_path):
    portrait = corpus.dev_video_frames(6, (480, 640))  # upright, 480 wide x 640 high
    src = corpus.phone_portrait_video(tmp_path / "phone.mp4", portrait)
    with av.open(str(src)) as container:  # the file really stores sideways pixels plus a rotation
        first = next(container.decode(video=0))
        assert (first.width, first.height) == (640, 480) and first.rotation == -90

    summary = process_video(src, tmp_path / "upright.mp4", live_pipeline)
    _, images, _ = decoded(tmp_path / "upright.mp4")
    assert summary["frames"] == 6 and images[0].shape == (640, 480, 3)
    upright_error = np.abs(images[0].astype(int) - portrait[0]).mean()
    upside_down_error = np.abs(images[0].astype(int) - portrait[0][::-1, ::-1]).mean()
    assert upright_error < 8 and upright_error < upside_down_error / 3
    assert summary["max_faces"] >= 1
    assert next(iter_video_frames(src))[1].shape == (640, 480, 3)


def test_old_style_rotate_tag_is_honoured(live_pipeline, tmp_path):
    portrait = corpus.dev_video_frames(3, (480, 640))
    src = corpus.rotate_tagged_mkv(tmp_path / "remuxed.mkv", portrait)
    process_video(src, tmp_path / "upright.mp4", live_pipeline)
    _, images, _ = decoded(tmp_path / "upright.mp4")
    assert images[0].shape == (640, 480, 3)
    assert np.abs(images[0].astype(int) - portrait[0]).mean() < 8


def test_odd_sized_video_is_written_with_even_sides(frames, live_pipeline, tmp_path):
    odd = [np.ascontiguousarray(f[:241, :321]) for f in frames[:3]]
    src = corpus.write_video(tmp_path / "odd.mp4", odd, pix_fmt="yuv444p")
    summary = process_video(src, tmp_path / "out.mp4", live_pipeline)
    _, images, _ = decoded(tmp_path / "out.mp4")
    assert summary["frames"] == 3 and images[0].shape == (240, 320, 3)


def test_video_cut_in_the_middle_keeps_what_decoded_and_warns(frames, live_pipeline, tmp_path):
    src = corpus.cut_mp4(tmp_path / "cut.mp4", frames, keep=0.5)
    summary = process_video(src, tmp_path / "out.mp4", live_pipeline, csv_path=tmp_path / "c.csv")
    assert 0 < summary["frames"] < FRAMES
    assert len(decoded(tmp_path / "out.mp4")[1]) == summary["frames"]
    assert summary["warning"].startswith(f"{src}: part of the video is damaged (")
    assert summary["warning"].endswith(f"kept the {summary['frames']} frames that decoded.")
    with pytest.raises(FacemaskError, match="cut.mp4: part of the video is damaged"):
        list(iter_video_frames(src))


def test_damaged_frame_in_the_middle_is_skipped_and_the_rest_kept(frames, live_pipeline, tmp_path):
    src = corpus.mp4_with_damaged_packet(tmp_path / "scratched.mp4", frames, index=7)
    summary = process_video(src, tmp_path / "out.mp4", live_pipeline)
    assert 8 < summary["frames"] < FRAMES  # frames after the bad one still came through
    assert len(decoded(tmp_path / "out.mp4")[1]) == summary["frames"]
    assert summary["warning"].startswith(f"{src}: part of the video is damaged (")


BAD_VIDEOS = {
    "notes.mp4": (corpus.text_as_mp4, "not a video"),
    "empty.mp4": (lambda p: p.write_bytes(b"") and p, "not a video"),
    "header_only.mp4": (corpus.header_only_mp4, "no video stream"),
    "voice_memo.mp4": (corpus.audio_only_mp4, "no video stream"),
    "index_lost.mp4": (lambda p: corpus.cut_mp4_index_at_end(p, corpus.dev_video_frames(6)), "not a video"),
    "no_frames.mp4": (lambda p: corpus.cut_mp4(p, corpus.dev_video_frames(6), keep="header"),
                      "no frame could be decoded"),
}


@pytest.mark.parametrize("name", BAD_VIDEOS)
def test_bad_video_raises_one_sentence_naming_the_file(name, live_pipeline, tmp_path):
    make, reason = BAD_VIDEOS[name]
    src = tmp_path / name
    make(src)
    out = tmp_path / "out.mp4"
    with pytest.raises(FacemaskError) as caught:
        process_video(src, out, live_pipeline, csv_path=tmp_path / "c.csv")
    message = str(caught.value)
    assert name in message and reason in message, message
    assert "\n" not in message
    assert not out.exists()
    with pytest.raises(FacemaskError):
        list(iter_video_frames(src))


def test_missing_video_and_unwritable_output_name_the_path(clip, live_pipeline, tmp_path):
    with pytest.raises(FacemaskError, match="missing.mp4: no such file"):
        process_video(tmp_path / "missing.mp4", tmp_path / "o.mp4", live_pipeline)
    with pytest.raises(FacemaskError, match="o.mp4: cannot write the video there"):
        process_video(clip, tmp_path / "no_such_dir" / "o.mp4", live_pipeline, max_frames=1)
