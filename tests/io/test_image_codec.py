"""Image payloads to RGB arrays and back: every supported encoding and every refusal."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from nbf_ros.io.image_codec import (
    SUPPORTED_ENCODINGS,
    ImageError,
    decode_compressed,
    decode_image,
    encode_compressed,
    encode_image,
)

RGB = np.array(
    [[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
     [[10, 20, 30], [40, 50, 60], [70, 80, 90]]],
    dtype=np.uint8,
)  # 2 rows x 3 columns


def decode(encoding: str, pixels: np.ndarray, **kwargs: int) -> np.ndarray:
    """decode_image of an unpadded H x W (x C) array of the given encoding."""
    height, width = pixels.shape[:2]
    data = np.ascontiguousarray(pixels).tobytes()
    return decode_image(height, width, encoding, len(data) // height, data, **kwargs)


# Encodings ------------------------------------------------------------------------------------


def test_rgb8_decodes_unchanged() -> None:
    np.testing.assert_array_equal(decode("rgb8", RGB), RGB)


def test_bgr8_swaps_red_and_blue() -> None:
    np.testing.assert_array_equal(decode("bgr8", RGB[:, :, ::-1]), RGB)


@pytest.mark.parametrize("encoding", ["rgba8", "bgra8"])
def test_alpha_is_dropped(encoding: str) -> None:
    colour = RGB[:, :, ::-1] if encoding == "bgra8" else RGB
    alpha = np.full(RGB.shape[:2] + (1,), 7, dtype=np.uint8)
    np.testing.assert_array_equal(decode(encoding, np.concatenate((colour, alpha), axis=2)), RGB)


def test_mono8_becomes_three_equal_channels() -> None:
    grey = np.array([[0, 100, 255], [1, 2, 3]], dtype=np.uint8)
    np.testing.assert_array_equal(decode("mono8", grey), np.repeat(grey[:, :, None], 3, axis=2))


@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
def test_16_bit_keeps_the_high_byte(encoding: str) -> None:
    grey = np.array([[0, 255, 256], [4660, 65535, 32768]], dtype="<u2")
    expected = np.array([[0, 0, 1], [18, 255, 128]], dtype=np.uint8)
    np.testing.assert_array_equal(decode(encoding, grey)[:, :, 1], expected)


def test_16_bit_big_endian_is_read_big_endian() -> None:
    grey = np.array([[4660, 65280]], dtype=">u2")
    np.testing.assert_array_equal(decode("mono16", grey, is_bigendian=1)[0, :, 0], [18, 255])


def test_result_is_a_writable_copy_of_the_data() -> None:
    data = bytearray(RGB.tobytes())
    out = decode_image(2, 3, "rgb8", 9, data)
    out[:] = 0
    assert bytes(data) == RGB.tobytes()


def test_numpy_data_is_accepted_like_bytes() -> None:
    out = decode_image(2, 3, "rgb8", 9, np.frombuffer(RGB.tobytes(), dtype=np.uint8))
    np.testing.assert_array_equal(out, RGB)


@pytest.mark.parametrize("encoding,bytes_per_pixel", [("rgb8", 3), ("mono16", 2)])
def test_padded_rows_are_cropped_to_the_width(encoding: str, bytes_per_pixel: int) -> None:
    height, width, padding = 2, 3, 5
    step = width * bytes_per_pixel + padding
    rows = np.full((height, step), 0xEE, dtype=np.uint8)  # padding bytes must not show
    if encoding == "rgb8":
        rows[:, : width * 3] = RGB.reshape(height, -1)
        expected = RGB
    else:
        grey = np.array([[256, 512, 768], [1024, 1280, 65535]], dtype="<u2")
        rows[:, : width * 2] = grey.view(np.uint8).reshape(height, -1)
        expected = np.repeat((grey >> 8).astype(np.uint8)[:, :, None], 3, axis=2)
    out = decode_image(height, width, encoding, step, rows.tobytes())
    np.testing.assert_array_equal(out, expected)


def test_encode_then_decode_is_identity() -> None:
    for encoding in ("rgb8", "bgr8", "rgba8", "bgra8"):
        height, width, name, step, data = encode_image(RGB, encoding)
        assert name == encoding
        np.testing.assert_array_equal(decode_image(height, width, name, step, data), RGB)


def test_encode_rgb8_fields() -> None:
    assert encode_image(RGB) == (2, 3, "rgb8", 9, RGB.tobytes())


@pytest.mark.parametrize("bad", [np.zeros((2, 3), np.uint8), np.zeros((2, 3, 3), np.float32),
                                 np.zeros((0, 3, 3), np.uint8)])
def test_encode_refuses_anything_but_non_empty_rgb_uint8(bad: np.ndarray) -> None:
    with pytest.raises(ImageError):
        encode_image(bad)


# Refusals -------------------------------------------------------------------------------------


def test_unsupported_encoding_lists_the_supported_ones() -> None:
    with pytest.raises(ImageError, match="yuv422") as caught:
        decode_image(2, 3, "yuv422", 6, bytes(12))
    assert all(name in str(caught.value) for name in SUPPORTED_ENCODINGS)


@pytest.mark.parametrize("height,width", [(0, 3), (2, 0)])
def test_zero_width_or_height_is_refused(height: int, width: int) -> None:
    with pytest.raises(ImageError, match="no pixels"):
        decode_image(height, width, "rgb8", width * 3, b"")


def test_step_shorter_than_a_row_is_refused() -> None:
    with pytest.raises(ImageError, match="step 8 is smaller"):
        decode_image(2, 3, "rgb8", 8, bytes(16))


@pytest.mark.parametrize("size", [17, 19])
def test_data_length_other_than_step_times_height_is_refused(size: int) -> None:
    with pytest.raises(ImageError, match=f"{size} bytes, expected .* = 18"):
        decode_image(2, 3, "rgb8", 9, bytes(size))


def test_image_above_max_pixels_is_refused_from_the_header_alone() -> None:
    # No data: the size check must come first, before the data is looked at or allocated.
    with pytest.raises(ImageError, match="larger than the limit of 40000000 pixels"):
        decode_image(6000, 8000, "rgb8", 24000, b"", max_pixels=40_000_000)


def test_default_limit_refuses_an_8000_by_6000_image() -> None:
    with pytest.raises(ImageError, match="larger than the limit"):
        decode_image(6000, 8000, "rgb8", 24000, b"")


def test_default_limit_refuses_a_hostile_header() -> None:
    with pytest.raises(ImageError, match="larger than the limit"):
        decode_image(2**31 - 1, 2**31 - 1, "mono8", 2**31 - 1, b"")


def test_uint32_fields_do_not_overflow_the_size_check() -> None:
    # 65536 x 65536 wraps to 0 in uint32 arithmetic; it must still count as too large.
    side = np.uint32(65536)
    with pytest.raises(ImageError, match="larger than the limit"):
        decode_image(side, side, "mono8", side, b"")


# Compressed -----------------------------------------------------------------------------------


def test_png_round_trip_is_exact() -> None:
    out = decode_compressed("png", encode_compressed(RGB, "png"))
    np.testing.assert_array_equal(out, RGB)


def test_jpeg_round_trip_is_close(smooth_rgb: np.ndarray) -> None:
    out = decode_compressed("rgb8; jpeg compressed bgr8", encode_compressed(smooth_rgb, "jpeg"))
    assert out.shape == smooth_rgb.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - smooth_rgb.astype(int)).mean() < 3.0


def test_corrupt_compressed_data_is_an_image_error() -> None:
    truncated = encode_compressed(RGB, "jpeg")[:40]
    with pytest.raises(ImageError, match="cannot decode"):
        decode_compressed("jpeg", truncated)


def test_garbage_compressed_data_is_an_image_error() -> None:
    with pytest.raises(ImageError, match="cannot decode"):
        decode_compressed("png", b"definitely not a png")


@pytest.mark.parametrize("fmt", ["tiff", "16UC1; compressedDepth png"])
def test_unsupported_compressed_format_is_refused(fmt: str) -> None:
    with pytest.raises(ImageError, match="unsupported compressed image format"):
        decode_compressed(fmt, encode_compressed(RGB, "png"))


def test_compressed_image_above_max_pixels_is_refused() -> None:
    with pytest.raises(ImageError, match="larger than the limit of 5 pixels"):
        decode_compressed("png", encode_compressed(RGB, "png"), max_pixels=5)


def test_16_bit_grey_png_keeps_the_high_byte_like_mono16() -> None:
    grey = np.array([[0, 4660], [65535, 32768]], dtype=np.uint16)
    out = io.BytesIO()
    Image.fromarray(grey).save(out, format="PNG")
    decoded = decode_compressed("png", out.getvalue())
    np.testing.assert_array_equal(decoded[:, :, 0], [[0, 18], [255, 128]])
    np.testing.assert_array_equal(decoded[:, :, 0], decoded[:, :, 2])


# Compressed: only what image_transport sends (issue 32) ---------------------------------------


def _pillow_file(kind: str, rgb: np.ndarray = RGB) -> bytes:
    """A real image file of ``kind`` (Pillow's format name) holding ``rgb``."""
    out = io.BytesIO()
    image = Image.fromarray(rgb)
    (image.convert("P") if kind == "GIF" else image).save(out, format=kind)
    return out.getvalue()


@pytest.mark.parametrize("label", ["png", "jpeg", "rgb8; jpeg compressed bgr8",
                                   "bgr8; png compressed"])
@pytest.mark.parametrize("kind", ["GIF", "EPS", "TIFF"])
def test_other_image_files_labelled_png_or_jpeg_are_refused_by_name(
        kind: str, label: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # No other Pillow plugin may even look at the data (EPS would run Ghostscript).
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a Pillow plugin other than PNG/JPEG was asked")

    from PIL import EpsImagePlugin, GifImagePlugin, TiffImagePlugin

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", refuse)
    monkeypatch.setattr(GifImagePlugin.GifImageFile, "_open", refuse)
    monkeypatch.setattr(TiffImagePlugin.TiffImageFile, "_open", refuse)
    shown = {"GIF": "GIF", "EPS": "EPS", "TIFF": "TIFF"}[kind]
    with pytest.raises(ImageError, match=f"but it is .*{shown}.* data; only PNG and JPEG") as err:
        decode_compressed(label, _pillow_file(kind))
    assert err.value.kind == "format mismatch"
    assert "\n" not in str(err.value)


def test_a_jpeg_labelled_png_is_refused() -> None:
    with pytest.raises(ImageError, match="the format says png but it is jpeg data"):
        decode_compressed("png", encode_compressed(RGB, "jpeg"))


def test_a_decompression_bomb_is_one_refusal_and_no_pillow_warning() -> None:
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, format="PNG")  # 100 MP, above Pillow's warning
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageError, match="10000 x 10000 = 100000000 pixels is larger"):
            decode_compressed("png", out.getvalue())
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("shape", [(3, 10_000), (10_000, 3)], ids=["wide", "tall"])
def test_a_long_strip_is_refused_like_other_bad_sizes(shape: tuple[int, int]) -> None:
    strip = np.zeros(shape + (3,), dtype=np.uint8)
    with pytest.raises(ImageError, match="is a strip: its sides differ by more than 50:1"):
        decode("rgb8", strip)
    for kind in ("png", "jpeg"):  # from the file's header, before decoding
        with pytest.raises(ImageError, match="is a strip"):
            decode_compressed(kind, encode_compressed(strip, kind))


def test_garbage_jpegs_share_one_kind_whatever_pillow_says() -> None:
    kinds = set()
    for seed in range(5):
        noise = np.random.default_rng(seed).integers(0, 256, 500, dtype=np.uint8).tobytes()
        with pytest.raises(ImageError) as err:
            decode_compressed("jpeg", b"\xff\xd8\xff\xe0" + noise)
        kinds.add(err.value.kind)
    assert kinds == {"undecodable"}
