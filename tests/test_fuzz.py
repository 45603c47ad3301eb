"""Fuzzing decode_image: whatever the bytes, a uint8 HxWx3 picture or a FacemaskError, nothing else."""

from __future__ import annotations

import corpus
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facemask import FacemaskError, decode_image

SEEDS = corpus.small_files()
FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def decode_or_refuse(data: bytes) -> None:
    try:
        image = decode_image(data, "fuzz.jpg")
    except FacemaskError as exc:
        message = str(exc)
        assert message.startswith("fuzz.jpg: ") and "\n" not in message
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert min(image.shape[:2]) >= 1


@st.composite
def mutated_files(draw) -> bytes:
    """A small real picture (JPEG with EXIF, PNG, GIF, BMP, TIFF, WebP) with a few bytes flipped,
    inserted or deleted, or the tail cut off."""
    kind = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[kind])
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        # half the edits land in the first 300 bytes, where the headers are
        limit = len(data) - 1 if draw(st.booleans()) else min(len(data) - 1, 300)
        pos = draw(st.integers(0, max(limit, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01]))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos: pos + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[pos:]
    if kind == "png" and draw(st.booleans()):
        return corpus.fix_png_crcs(bytes(data))  # get past the checksums into the decoder
    return bytes(data)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_decode_or_raise_facemask_error(data):
    decode_or_refuse(data)


@FUZZ
@given(st.sampled_from(sorted(SEEDS)), st.binary(max_size=512))
def test_real_header_with_random_body_decodes_or_raises_facemask_error(kind, tail):
    decode_or_refuse(SEEDS[kind][:64] + tail)


@FUZZ
@given(mutated_files())
def test_mutated_real_files_decode_or_raise_facemask_error(data):
    decode_or_refuse(data)
