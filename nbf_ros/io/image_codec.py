"""sensor_msgs image payloads <-> RGB uint8 arrays, working on plain fields so that both the
rclpy node and the bag reader (whose message classes differ) share one decoder."""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
from PIL import Image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ENCODABLE_ENCODINGS",
    "SUPPORTED_ENCODINGS",
    "ImageError",
    "decode_compressed",
    "decode_image",
    "encode_compressed",
    "encode_image",
]

# Refuses corrupt or hostile headers (e.g. height = 2**31) before anything is allocated, and
# frames no pose pipeline should take (8000 x 6000 = 48 MP; 8K video is 33 MP).
DEFAULT_MAX_PIXELS = 20_000_000

# Longest side over shortest side of an image anyone could mean: a 360 degree panorama strip
# is about 10:1. Beyond it a frame is a corrupt header or a line-scan readout, and at 512:1 the
# detector's downscaled frame would have a side of no pixels.
MAX_ASPECT_RATIO = 50

# encoding -> (channels, bytes per channel)
_LAYOUTS: dict[str, tuple[int, int]] = {
    "rgb8": (3, 1),
    "bgr8": (3, 1),
    "rgba8": (4, 1),
    "bgra8": (4, 1),
    "mono8": (1, 1),
    "mono16": (1, 2),
    "16UC1": (1, 2),
}
SUPPORTED_ENCODINGS = tuple(_LAYOUTS)
ENCODABLE_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8")
_COMPRESSED_KINDS = ("jpeg", "jpg", "png")
# The first bytes of each file type: only PNG and JPEG are decoded, the others are named in
# the refusal (image_transport's compressed plugin sends nothing else).
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"), (b"%!PS", "PostScript/EPS"), (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"BM", "BMP"), (b"RIFF", "RIFF/WebP"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"%PDF", "PDF"),
)
# JPEG frame markers that carry the image size (SOF0..SOF15 less DHT, JPG and DAC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


_SIZE_KINDS = ("empty", "too many pixels", "strip")  # ImageError kinds of _check_size


class ImageError(ValueError):
    """An image message that cannot be turned into an RGB array; ``kind`` is a stable key
    for the problem (the message holds numbers that vary), e.g. for log throttling."""

    def __init__(self, message: str, kind: str = "undecodable") -> None:
        super().__init__(message)
        self.kind = kind


def _check_size(height: int, width: int, max_pixels: int) -> None:
    """Positive dimensions whose product is within max_pixels, not a long strip."""
    if height <= 0 or width <= 0:
        raise ImageError(f"image has no pixels: {width} x {height} (width x height)", "empty")
    if height * width > max_pixels:
        raise ImageError(f"image of {width} x {height} = {height * width} pixels is larger "
                         f"than the limit of {max_pixels} pixels", "too many pixels")
    if max(height, width) > MAX_ASPECT_RATIO * min(height, width):
        raise ImageError(f"image of {width} x {height} pixels is a strip: its sides differ "
                         f"by more than {MAX_ASPECT_RATIO}:1", "strip")


def _byte_view(data: Any) -> np.ndarray:
    """data (bytes, memoryview, array.array, numpy array) as a flat uint8 array, not copied."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def decode_image(
    height: int,
    width: int,
    encoding: str,
    step: int,
    data: Any,
    is_bigendian: int = 0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """A new H x W x 3 RGB uint8 array from the fields of a sensor_msgs/Image."""
    # Plain ints: numpy uint32 fields would wrap around in height * width.
    height, width, step = int(height), int(width), int(step)
    if encoding not in _LAYOUTS:
        raise ImageError(f"unsupported image encoding {encoding!r}; supported: "
                         f"{', '.join(SUPPORTED_ENCODINGS)}", "encoding")
    channels, depth = _LAYOUTS[encoding]
    _check_size(height, width, max_pixels)
    row_bytes = width * channels * depth
    if step < row_bytes:
        raise ImageError(f"step {step} is smaller than one row of {width} {encoding} pixels "
                         f"({row_bytes} bytes)", "step")
    buffer = _byte_view(data)
    if buffer.size != step * height:
        raise ImageError(f"image data has {buffer.size} bytes, expected step x height = "
                         f"{step} x {height} = {step * height}", "data size")

    # Drop the padding at the end of each row; a copy only happens when there is padding.
    rows = np.ascontiguousarray(buffer.reshape(height, step)[:, :row_bytes])
    if depth == 2:
        dtype = np.dtype(">u2" if is_bigendian else "<u2")
        # 16-bit to 8-bit keeps the high byte: a fixed scale, the same for every frame.
        pixels = (rows.view(dtype) >> 8).astype(np.uint8).reshape(height, width, channels)
    else:
        pixels = rows.reshape(height, width, channels)

    if channels == 1:
        return np.repeat(pixels, 3, axis=2)
    if encoding.startswith("bgr"):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    return np.array(pixels[:, :, :3])  # always a copy: the caller may own or write to it


def _checked_rgb(rgb: np.ndarray) -> np.ndarray:
    """rgb if it is a non-empty H x W x 3 uint8 array."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageError(f"expected an H x W x 3 RGB array, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ImageError(f"expected a uint8 RGB array, got dtype {rgb.dtype}")
    return rgb


def encode_image(rgb: np.ndarray, encoding: str = "rgb8") -> tuple[int, int, str, int, bytes]:
    """(height, width, encoding, step, data) of a sensor_msgs/Image holding the RGB array."""
    rgb = _checked_rgb(rgb)
    if encoding not in ENCODABLE_ENCODINGS:
        raise ImageError(f"cannot encode to {encoding!r}; encodable: "
                         f"{', '.join(ENCODABLE_ENCODINGS)}")
    pixels = rgb[:, :, ::-1] if encoding.startswith("bgr") else rgb
    if encoding.endswith("a8"):
        alpha = np.full(rgb.shape[:2] + (1,), 255, dtype=np.uint8)
        pixels = np.concatenate((pixels, alpha), axis=2)
    height, width, channels = pixels.shape
    return height, width, encoding, width * channels, np.ascontiguousarray(pixels).tobytes()


def _compressed_kind(fmt: str) -> str:
    """'jpeg' or 'png' from a CompressedImage format such as 'rgb8; jpeg compressed bgr8'."""
    text = fmt.lower()
    # compressedDepth packs a private header before the PNG: not a plain image file.
    if "compresseddepth" not in text:
        for kind in _COMPRESSED_KINDS:
            if kind in text:
                return "png" if kind == "png" else "jpeg"
    raise ImageError(f"unsupported compressed image format {fmt!r}; supported: jpeg, png",
                     "format")


def _file_type(head: bytes) -> str:
    """What the first bytes of an image file say it is ('png', 'jpeg', 'GIF', ...; '' for
    none of these)."""
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    return ""


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, which the format puts first."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ImageError("PNG data has no IHDR header", "undecodable")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's frame header (SOFn), found by walking the segments."""
    at = 2  # after SOI
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            break
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            at += 2
            continue
        if marker == 0xDA:  # start of scan before any frame header
            break
        if marker in _JPEG_SOF:
            if at + 9 > len(data):
                break
            return (int.from_bytes(data[at + 7:at + 9], "big"),
                    int.from_bytes(data[at + 5:at + 7], "big"))
        at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
    raise ImageError("JPEG data has no frame header (truncated or not a JPEG)", "undecodable")


def decode_compressed(fmt: str, data: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A new H x W x 3 RGB uint8 array from the format and data of a CompressedImage.

    Only PNG and JPEG are decoded, and only as the format field names them: the file's own
    first bytes must agree, so no other Pillow plugin (GIF, TIFF, EPS through Ghostscript)
    ever reads network data. The size is read from the header and checked first.
    """
    kind = _compressed_kind(fmt)
    raw = _byte_view(data).tobytes()
    found = _file_type(raw[:16])
    if found != kind:
        looks = f"it is {found} data" if found else "its first bytes match no image file type"
        raise ImageError(f"cannot decode {fmt!r} image data: the format says {kind} but "
                         f"{looks}; only PNG and JPEG are decoded", "format mismatch")
    try:
        width, height = _png_size(raw) if kind == "png" else _jpeg_size(raw)
        _check_size(height, width, max_pixels)
        # Our own size limit has been applied; Pillow's warning for images above its limit
        # would only repeat it on stderr (its error for twice that is still caught below).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw), formats=[kind.upper()]) as image:
                _check_size(image.height, image.width, max_pixels)
                image.load()
                if image.mode.startswith("I"):
                    # 16-bit grey: same fixed >> 8 scale as mono16 in decode_image.
                    grey = (np.asarray(image).astype(np.uint32) >> 8).clip(0, 255)
                    return np.repeat(grey.astype(np.uint8)[:, :, None], 3, axis=2)
                return np.array(image.convert("RGB"))
    except ImageError as exc:
        if exc.kind in _SIZE_KINDS:
            raise
        raise ImageError(f"cannot decode {fmt!r} image data: {exc}", exc.kind) from exc
    # Pillow reports truncated or garbage data as OSError, some decoders as ValueError or
    # SyntaxError; a decompression bomb has its own. Their text may hold an object's address,
    # so the kind, not the text, identifies the problem.
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageError(f"cannot decode {fmt!r} image data: {exc}", "undecodable") from exc


def encode_compressed(rgb: np.ndarray, kind: str = "jpeg", quality: int = 95) -> bytes:
    """JPEG or PNG file bytes of an H x W x 3 RGB uint8 array."""
    rgb = _checked_rgb(rgb)
    if kind not in ("jpeg", "png"):
        raise ImageError(f"cannot compress to {kind!r}; supported: jpeg, png")
    out = io.BytesIO()
    options = {"quality": quality} if kind == "jpeg" else {}
    Image.fromarray(np.ascontiguousarray(rgb)).save(out, format=kind.upper(), **options)
    return out.getvalue()
