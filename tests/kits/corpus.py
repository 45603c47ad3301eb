"""Bad and awkward inputs, generated at test time from the dev photos: nothing binary is committed."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import av
import numpy as np
from PIL import Image

from facemask import config
from facemask.evaluation.dataset import read_voc

EXIF_PHOTO = "maksssksksss140"  # 400x267 (landscape, so a wrong rotation shows), two faces >= 120 px
VIDEO_PHOTOS = ("maksssksksss446", "maksssksksss106", "maksssksksss592", "maksssksksss140")
ORIENTATION_TAG = 0x0112


# --- real pictures -------------------------------------------------------------------------------

def dev_photo(stem: str = EXIF_PHOTO) -> tuple[np.ndarray, np.ndarray]:
    """(RGB pixels, annotated face boxes xyxy) of one dev photo."""
    ann = read_voc(config.DEV_ANNOTATIONS / f"{stem}.xml", config.DEV_IMAGES)
    with Image.open(ann.image_path) as img:
        return np.asarray(img.convert("RGB")), ann.xyxy


def encode(rgb: np.ndarray | Image.Image, fmt: str, **options) -> bytes:
    img = rgb if isinstance(rgb, Image.Image) else Image.fromarray(rgb)
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def small_files() -> dict[str, bytes]:
    """A 96x64 crop of a real photo in every format decode_image accepts: the seeds the fuzzer mutates."""
    rgb = _small_rgb()
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    return {
        "jpeg": encode(rgb, "JPEG", quality=85, exif=exif.tobytes()),
        "png": encode(rgb, "PNG"),
        "gif": encode(rgb, "GIF"),
        "bmp": encode(rgb, "BMP"),
        "tiff": encode(rgb, "TIFF", compression="tiff_lzw"),
        "webp": encode(rgb, "WEBP", quality=80),
    }


def _small_rgb() -> np.ndarray:
    rgb, _ = dev_photo()
    return np.asarray(Image.fromarray(rgb).resize((96, 64), Image.BILINEAR))


# --- broken or hostile image files ---------------------------------------------------------------

def empty_file() -> bytes:
    return b""


def text_file() -> bytes:
    return b"Meeting notes: bring masks on Monday.\n" * 20


def heic_like() -> bytes:
    """The first bytes of an iPhone HEIC photo: a format this tool does not read."""
    return struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00mif1heic" + b"\x00" * 200


def truncated_jpeg() -> bytes:
    data = encode(dev_photo()[0], "JPEG", quality=90)
    return data[: len(data) // 2]


def truncated_png() -> bytes:
    data = encode(dev_photo()[0], "PNG")
    return data[: len(data) // 2]


def corrupt_jpeg_body() -> bytes:
    """Valid JPEG headers, random bytes (no markers) where the compressed picture should be."""
    data = bytearray(encode(dev_photo()[0], "JPEG", quality=90))
    start = data.index(b"\xff\xda") + 20  # inside the scan, after the start-of-scan header
    noise = np.random.default_rng(0).integers(0, 255, len(data) - start - 2, dtype=np.uint8)
    data[start:-2] = noise.tobytes().replace(b"\xff", b"\x00")
    return bytes(data)


def broken_exif_jpeg() -> bytes:
    """A good JPEG whose EXIF block is garbage after its header."""
    exif = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08" + b"\xff\x13" * 40
    return encode(dev_photo()[0], "JPEG", exif=exif)


def tiny_png(side: int) -> bytes:
    return encode(np.full((side, side, 3), 128, np.uint8), "PNG")


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG whose header claims width x height gray pixels; a few hundred bytes on disk."""
    rows = zlib.compress(b"\x00" * (width + 1) * 4)  # only the first rows: nobody should decode further
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) \
        + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def png_16bit_gray() -> bytes:
    gray = np.asarray(Image.fromarray(dev_photo()[0]).convert("L"), np.uint16) * 257
    return encode(Image.fromarray(gray), "PNG")  # Pillow writes uint16 arrays as 16-bit PNG


def png_16bit_rgb() -> bytes:
    import cv2

    rgb = dev_photo()[0].astype(np.uint16) * 257
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    assert ok
    return data.tobytes()


def grayscale_jpeg() -> bytes:
    return encode(Image.fromarray(dev_photo()[0]).convert("L"), "JPEG")


def rgba_png() -> bytes:
    """Transparent top half: should come out white there, the photo below."""
    rgba = np.dstack([dev_photo()[0], np.full(dev_photo()[0].shape[:2], 255, np.uint8)])
    rgba[: rgba.shape[0] // 2, :, 3] = 0
    return encode(rgba, "PNG")


def palette_png_transparent() -> bytes:
    img = Image.fromarray(dev_photo()[0]).quantize(64)
    return encode(img, "PNG", transparency=0)


def cmyk_jpeg() -> bytes:
    return encode(Image.fromarray(dev_photo()[0]).convert("CMYK"), "JPEG", quality=95)


def animated_gif() -> bytes:
    rgb = dev_photo()[0]
    frames = [Image.fromarray(np.roll(rgb, 40 * k, axis=1)) for k in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def png_as_jpg() -> bytes:
    """A PNG that someone renamed .jpg: decoding goes by content, not by name."""
    return encode(dev_photo()[0], "PNG")


# --- EXIF orientation ----------------------------------------------------------------------------

def stored_for_orientation(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels a camera stores so that a viewer applying EXIF `orientation` shows `upright`.

    Written from the EXIF spec (where row 0 and column 0 of the stored picture sit visually),
    independently of Pillow's exif_transpose.
    """
    transforms = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],  # row 0 = top, column 0 = right side
        3: lambda a: a[::-1, ::-1],  # row 0 = bottom, column 0 = right side
        4: lambda a: a[::-1],  # row 0 = bottom, column 0 = left side
        5: lambda a: a.transpose(1, 0, 2),  # row 0 = left side, column 0 = top
        6: lambda a: np.rot90(a, 1),  # row 0 = right side, column 0 = top (phone held upright)
        7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),  # row 0 = right side, column 0 = bottom
        8: lambda a: np.rot90(a, -1),  # row 0 = left side, column 0 = bottom
    }
    return np.ascontiguousarray(transforms[orientation](upright))


def exif_jpeg(orientation: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(JPEG bytes tagged with `orientation`, upright RGB it must decode to, face boxes in upright pixels)."""
    upright, boxes = dev_photo(EXIF_PHOTO)
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    data = encode(stored_for_orientation(upright, orientation), "JPEG", quality=95, exif=exif.tobytes())
    return data, upright, boxes


# --- videos --------------------------------------------------------------------------------------

def dev_video_frames(count: int = 20, size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    """`count` BGR frames of `size` (w, h): dev photos with large faces, letterboxed, a few frames each."""
    width, height = size
    stills = []
    for stem in VIDEO_PHOTOS:
        rgb, _ = dev_photo(stem)
        scale = min(width / rgb.shape[1], height / rgb.shape[0])
        resized = np.asarray(Image.fromarray(rgb).resize((round(rgb.shape[1] * scale),
                                                          round(rgb.shape[0] * scale)), Image.BILINEAR))
        canvas = np.zeros((height, width, 3), np.uint8)
        top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
        canvas[top: top + resized.shape[0], left: left + resized.shape[1]] = resized
        stills.append(np.ascontiguousarray(canvas[:, :, ::-1]))
    return [stills[k * len(stills) // count] for k in range(count)]


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10, rotation: int | None = None,
                faststart: bool = False, pix_fmt: str = "yuv420p", fmt: str = "mp4",
                tags: dict[str, str] | None = None) -> Path:
    """Encode BGR frames to H.264; `rotation` (counter-clockwise degrees) goes in the display matrix."""
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format=fmt, options=options) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = pix_fmt
        stream.metadata.update(tags or {})
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode(None))
    return path


def phone_portrait_video(path: Path, frames: list[np.ndarray]) -> Path:
    """What a phone held upright records: pixels stored sideways plus a display matrix saying
    "turn 90 degrees clockwise" (the tkhd matrix iPhones write; FFmpeg reads it as rotation -90)."""
    sideways = [np.ascontiguousarray(np.rot90(f, 1)) for f in frames]  # upright turned counter-clockwise
    return write_video(path, sideways, rotation=-90)


def rotate_tagged_mkv(path: Path, frames: list[np.ndarray]) -> Path:
    """Sideways pixels with the old-style 'rotate=90' tag (clockwise degrees), as older FFmpeg remuxes
    of phone videos carry it; current FFmpeg still writes this tag into Matroska (not into MP4)."""
    sideways = [np.ascontiguousarray(np.rot90(f, 1)) for f in frames]
    return write_video(path, sideways, fmt="matroska", tags={"rotate": "90"})


def header_only_mp4(path: Path) -> Path:
    """An MP4 whose header was written but no frame ever was (a recording that never started)."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        container.start_encoding()
    return path


def cut_mp4(path: Path, frames: list[np.ndarray], keep: float | str) -> Path:
    """A faststart MP4 (index first) cut off: at a fraction of its length, or "header" where the frames start."""
    write_video(path, frames, faststart=True)
    data = path.read_bytes()
    end = data.index(b"mdat") + 4 if keep == "header" else int(len(data) * keep)
    path.write_bytes(data[:end])
    return path


def mp4_with_damaged_packet(path: Path, frames: list[np.ndarray], index: int) -> Path:
    """A whole MP4 whose `index`-th compressed frame has its first bytes overwritten (a bad sector)."""
    write_video(path, frames)
    with av.open(str(path)) as container:
        positions = [packet.pos for packet in container.demux(video=0) if packet.size]
    data = bytearray(path.read_bytes())
    data[positions[index]: positions[index] + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    return path


def cut_mp4_index_at_end(path: Path, frames: list[np.ndarray]) -> Path:
    """The usual MP4 layout (index written last) cut in the middle: the index is gone."""
    write_video(path, frames)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def audio_only_mp4(path: Path) -> Path:
    """An MP4 with sound and no pictures (a voice memo renamed .mp4)."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 16000), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def text_as_mp4(path: Path) -> Path:
    path.write_bytes(text_file())
    return path


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk CRC, so mutated PNG chunks get past the checksum into the decoder."""
    out, pos = bytearray(data[:8]), 8
    while pos + 8 <= len(data):
        length = struct.unpack(">I", data[pos: pos + 4])[0]
        end = pos + 8 + length
        if end + 4 > len(data):
            break
        out += data[pos:end] + struct.pack(">I", zlib.crc32(data[pos + 4: end]))
        pos = end + 4
    return bytes(out + data[pos:])
