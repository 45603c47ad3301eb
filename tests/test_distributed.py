"""`facemask detect --ray` on a real Ray cluster on loopback (a head and one more node, `ray_cluster` in
conftest.py): the same records as the plain command, photo for photo; a re-run skips what is written;
a Ray worker killed mid-batch loses no photo and writes none twice; Ray's own logs stay off the terminal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from facemask import config
from facemask.cli import main
from facemask.errors import FacemaskError
from facemask.export import image_record
from facemask.imageio import load_image
from facemask.photos import expand_sources

pytest.importorskip("ray", reason="Ray is the [ray] extra: bash setup.sh --dev installs it")

DEV_PHOTOS = [Path(p) for p in expand_sources([str(config.DEV_IMAGES)])]
# every 12th dev photo: 36 of 424 (the whole set takes minutes on a loaded 2-core machine)
SUBSET = DEV_PHOTOS[::12]
RUN_DEADLINE_S = 900  # one Ray run of a few dozen photos on a busy 2-core machine
OUR_STDERR_LINE = ("error: ", "detecting")  # all the CLI itself writes to stderr on a Ray run


def facemask(*args, env: dict, timeout: float = RUN_DEADLINE_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facemask.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=config.ROOT)


def assert_only_our_lines(stderr: str) -> None:
    """No Ray log line, warning or traceback reached the terminal: each line is the CLI's own."""
    for line in stderr.replace("\r", "\n").splitlines():
        assert not line.strip() or line.startswith(OUR_STDERR_LINE), f"not ours on stderr: {line!r}\n{stderr}"


def plain_records(paths: list[Path], tmp_path: Path, capsys) -> tuple[list[dict], int]:
    """The plain command's --json list and exit code for these paths, run in this process."""
    out = tmp_path / "plain.json"
    code = main(["detect", *map(str, paths), "--json", str(out)])
    capsys.readouterr()
    return json.loads(out.read_text()), code


def jsonl_images(path: Path) -> list[str]:
    return [json.loads(line)["image"] for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def bad_photo(tmp_path) -> Path:
    bad = tmp_path / "not-a-photo.jpg"
    bad.write_bytes(b"this is not a picture")
    return bad


def test_sources_expand_folders_globs_and_list_files_in_order(tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    for name in ("b.jpg", "a.png", "notes.xml"):
        (folder / name).write_bytes(b"x")
    (folder / "deeper").mkdir()
    (folder / "deeper" / "c.jpg").write_bytes(b"x")
    listing = tmp_path / "list.txt"
    listing.write_text("# the night shift\nshots/b.jpg\n\n/elsewhere/missing.jpg\n")
    got = expand_sources([str(folder), str(tmp_path / "shots" / "**" / "*.jpg"), str(listing)])
    assert got == [str(folder / "a.png"), str(folder / "b.jpg"),  # the folder: pictures only, sorted
                   str(folder / "b.jpg"), str(folder / "deeper" / "c.jpg"),  # the glob, ** reaching down
                   str(tmp_path / "shots" / "b.jpg"), "/elsewhere/missing.jpg"]  # the list, from its folder
    with pytest.raises(FacemaskError, match="no picture matches"):
        expand_sources([str(tmp_path / "*.gif")])


def test_plain_detect_reads_a_list_file_like_its_paths(tmp_path, capsys):
    listing = tmp_path / "photos.txt"
    listing.write_text("".join(f"{p}\n" for p in SUBSET[:3]))
    by_list, _ = plain_records([listing], tmp_path, capsys)
    by_path, _ = plain_records(SUBSET[:3], tmp_path, capsys)
    assert by_list == by_path and len(by_list) == 3


def test_ray_cluster_gives_the_plain_commands_faces_photo_for_photo(ray_cluster, tmp_path, capsys, bad_photo):
    photos = [*SUBSET, bad_photo]
    expected, plain_code = plain_records(photos, tmp_path, capsys)
    out = tmp_path / "ray.json"
    result = facemask("detect", *photos, "--ray", "--address", ray_cluster.address, "--json", out,
                      env=ray_cluster.env)
    assert result.returncode == plain_code == 1, result.stderr  # one bad file: exit 1 both ways
    assert json.loads(out.read_text()) == expected  # same photos, same order, same faces and numbers
    assert len(expected) == len(SUBSET) and sum(len(r["faces"]) for r in expected) > len(SUBSET)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {bad_photo}: not a picture this tool can read (JPEG, PNG, WebP, BMP, GIF, TIFF)."]
    assert_only_our_lines(result.stderr)
    assert "Traceback" not in result.stderr
    assert not out.with_name(out.name + ".partial.jsonl").exists()  # the working file is gone


def test_rerun_skips_the_photos_already_written(ray_cluster, tmp_path):
    out = tmp_path / "run.jsonl"
    first = facemask("detect", *SUBSET[:4], "--ray", "--address", ray_cluster.address, "--jsonl", out,
                     env=ray_cluster.env)
    assert first.returncode == 0, first.stderr
    written = out.read_text()
    second = facemask("detect", *SUBSET[:6], "--ray", "--address", ray_cluster.address, "--jsonl", out,
                      env=ray_cluster.env)
    assert second.returncode == 0, second.stderr
    assert "2 of 6 pictures processed on Ray, 4 already written" in second.stdout, second.stdout
    assert out.read_text().startswith(written)  # appended, the first run's lines untouched
    assert Counter(jsonl_images(out)) == Counter(str(p) for p in SUBSET[:6])


def test_killed_ray_worker_mid_batch_loses_no_photo_and_writes_none_twice(ray_cluster, tmp_path, pipeline):
    out = tmp_path / "run.jsonl"
    photos = [str(p) for p in SUBSET[:24]]
    run = subprocess.Popen([sys.executable, "-m", "facemask.cli", "detect", *photos, "--ray", "--address",
                            ray_cluster.address, "--jsonl", str(out), "--batch-size", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ray_cluster.env,
                           cwd=config.ROOT)
    try:
        # mid-batch: the pool is up and some photos are written, not all
        deadline = time.monotonic() + RUN_DEADLINE_S
        while not (out.exists() and len(jsonl_images(out)) >= 2):
            assert run.poll() is None, f"the run ended before a worker could be killed: {run.communicate()}"
            assert time.monotonic() < deadline, "waited for the Ray run to write its first 2 photos"
            time.sleep(0.2)
        victim = ray_cluster.wait_for_actors("PhotoDetector", 1, 120, "the pool's actors")[0]
        written_at_kill = len(jsonl_images(out))
        os.kill(victim, signal.SIGKILL)
        assert run.poll() is None and written_at_kill < len(photos), "the kill came after the run's end"
        stdout, stderr = run.communicate(timeout=RUN_DEADLINE_S)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, stderr
    assert victim not in ray_cluster.actor_pids("PhotoDetector")
    assert Counter(jsonl_images(out)) == Counter(photos)  # each photo exactly once: none lost, none twice
    records = {json.loads(line)["image"]: json.loads(line) for line in out.read_text().splitlines()}
    for name in photos[::6]:  # the redone batches hold the same numbers as the in-process pipeline's
        image = load_image(name)
        assert records[name] == image_record(name, image.shape[1], image.shape[0], pipeline.detect(image))
    assert_only_our_lines(stderr)


def test_ray_without_address_starts_a_quiet_local_ray_for_the_run(tmp_path, capsys):
    expected, _ = plain_records(SUBSET[:2], tmp_path, capsys)
    out = tmp_path / "local.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    result = facemask("detect", *SUBSET[:2], "--ray", "--workers", "1", "--json", out, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text()) == expected
    assert_only_our_lines(result.stderr)
    assert result.stdout.splitlines()[-1].startswith("2 of 2 pictures processed on Ray")


def test_a_cluster_joined_without_its_token_is_refused_in_one_line(ray_cluster, tmp_path):
    env = {k: v for k, v in ray_cluster.env.items() if k != "RAY_AUTH_TOKEN_PATH"}
    env["RAY_AUTH_TOKEN_PATH"] = str(tmp_path / "no-such-token")
    result = facemask("detect", SUBSET[0], "--ray", "--address", ray_cluster.address, "--json", tmp_path / "x.json",
                      env=env, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: cannot start or reach the Ray cluster at {ray_cluster.address}")
    assert "token" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "x.json").exists()


def test_ray_refuses_annotated_pictures_and_a_missing_output_in_one_line(tmp_path):
    for args, says in ((["--out", str(tmp_path)], "--out"), ([], "--json FILE")):
        result = facemask("detect", SUBSET[0], "--ray", *args, env=dict(os.environ), timeout=120)
        assert result.returncode == 2
        assert result.stderr.startswith("error: ") and says in result.stderr and "Traceback" not in result.stderr
