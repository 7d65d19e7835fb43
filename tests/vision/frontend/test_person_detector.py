"""NanoDet person detector: decoding, suppression, tiling, and a real photograph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nbf_ros.vision.frontend.person_detector import (
    INPUT_SIZE,
    REG_BINS,
    DetectorConfig,
    PersonDetector,
    Window,
    box_iou,
    decode_level,
    merge_boxes,
    nms,
    search_windows,
    tile_starts,
    window_boxes,
)

DATA = Path(__file__).resolve().parents[2] / "data"
# By-eye box of the man in tests/data/basketball1_person.png (x0, y0, x1, y1).
PERSON_BOX = np.array([14.5, 21.0, 87.0, 219.0], np.float32)


def one_hot_bins(bins: tuple[int, int, int, int]) -> np.ndarray:  # -> [44]
    """Box logits whose four distributions put all weight on the given bins."""
    logits = np.full((4, REG_BINS), -30.0, np.float32)
    logits[np.arange(4), bins] = 30.0
    return logits.reshape(-1)


@pytest.fixture(scope="module")
def detector() -> PersonDetector:
    return PersonDetector(threads=2)


@pytest.fixture(scope="module")
def person_photo() -> np.ndarray:  # [220, 150, 3] uint8
    return np.asarray(Image.open(DATA / "basketball1_person.png").convert("RGB"))


class TestDecode:
    def test_cell_centre_plus_bin_distances_times_stride(self):
        # Stride 32 grid (13 x 13): cell row 2, column 3 is centred at (3.5, 2.5) * 32.
        scores = np.zeros(169, np.float32)
        scores[2 * 13 + 3] = 0.9
        logits = np.zeros((169, 4 * REG_BINS), np.float32)
        logits[2 * 13 + 3] = one_hot_bins((2, 1, 3, 4))
        boxes, kept = decode_level(scores, logits, 32, threshold=0.5)
        np.testing.assert_allclose(boxes, [[112 - 64, 80 - 32, 112 + 96, 80 + 128]], atol=1e-3)
        np.testing.assert_allclose(kept, [0.9])

    def test_uniform_bins_give_the_mean_bin(self):
        scores = np.full(52 * 52, 0.8, np.float32)
        logits = np.zeros((52 * 52, 4 * REG_BINS), np.float32)
        boxes, _ = decode_level(scores, logits, 8, threshold=0.5)
        # Cell 0 is centred at (4, 4); the mean of bins 0..10 is 5, so each side is 40 px.
        np.testing.assert_allclose(boxes[0], [4 - 40, 4 - 40, 4 + 40, 4 + 40], atol=1e-3)

    def test_cells_at_or_below_threshold_are_dropped(self):
        scores = np.array([0.2, 0.5, 0.7, 0.9] + [0.0] * 165, np.float32)
        boxes, kept = decode_level(scores, np.zeros((169, 44), np.float32), 32, 0.5)
        assert boxes.shape == (2, 4)
        np.testing.assert_allclose(kept, [0.7, 0.9])


class TestNms:
    def test_overlapping_boxes_keep_the_best_and_separate_ones_stay(self):
        boxes = np.array([[0, 0, 10, 20], [1, 1, 11, 21], [30, 0, 40, 20], [0, 0, 10, 20]],
                         np.float32)
        scores = np.array([0.6, 0.9, 0.7, 0.5], np.float32)
        # IoU(box 0, box 1) = 171 / 229 = 0.75: one person; box 2 is another.
        assert nms(boxes, scores, iou=0.5).tolist() == [1, 2]

    def test_threshold_is_exclusive_of_lower_overlap(self):
        boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)  # IoU 1/3
        scores = np.array([0.9, 0.8], np.float32)
        assert nms(boxes, scores, iou=0.4).tolist() == [0, 1]
        assert nms(boxes, scores, iou=0.3).tolist() == [0]


class TestTiling:
    def test_tiles_cover_the_frame_with_the_overlap(self):
        starts = tile_starts(768, 384, 0.25)
        assert starts[0] == 0 and starts[-1] == 768 - 384
        assert all(b - a <= 384 * 0.75 for a, b in zip(starts, starts[1:], strict=False))

    def test_small_frame_gets_the_whole_frame_pass_only(self):
        windows = search_windows(400, 300, DetectorConfig(tile_size=384))
        assert windows == [Window(0, 0, 400, 300)]

    def test_box_at_a_tiles_inner_edge_is_marked_cut_not_at_the_image_edge(self):
        # One stride-32 cell whose box reaches the tile's bottom edge: inner for the upper
        # tile, the image's own border for the lower one.
        scores = [np.zeros(2704, np.float32), np.zeros(676, np.float32),
                  np.zeros(169, np.float32)]
        logits = [np.zeros((n, 44), np.float32) for n in (2704, 676, 169)]
        scores[2][12 * 13 + 6] = 0.9  # bottom row: centre y = 12.5 * 32 = 400
        logits[2][12 * 13 + 6] = one_hot_bins((1, 3, 1, 1))  # bottom at 432 -> clipped to 416
        levels = list(zip(scores, logits, strict=True))
        upper = window_boxes(levels, Window(0, 0, 200, 200, is_tile=True), (200, 300), 0.5)
        lower = window_boxes(levels, Window(0, 100, 200, 200, is_tile=True), (200, 300), 0.5)
        assert upper[2].tolist() == [True] and lower[2].tolist() == [False]
        assert upper[0][0, 3] == pytest.approx(200.0)  # clipped to the tile, in image pixels

    def test_two_halves_of_a_person_from_neighbouring_tiles_become_one_box(self):
        top = [100, 40, 160, 170]  # cut at the upper tile's bottom edge (y = 170)
        bottom = [98, 90, 158, 260]  # cut at the lower tile's top edge (y = 90)
        other = [300, 40, 360, 260]  # someone else, whole
        boxes, scores = merge_boxes(np.array([top, bottom, other], np.float32),
                                    np.array([0.8, 0.7, 0.6], np.float32),
                                    np.array([True, True, False]), iou=0.4, containment=0.6)
        np.testing.assert_allclose(boxes, [[98, 40, 160, 260], other])
        np.testing.assert_allclose(scores, [0.8, 0.6])

    def test_uncut_boxes_merge_only_by_iou(self):
        # A small box inside a big one, neither cut: two people (a child in front of an adult).
        boxes, _ = merge_boxes(np.array([[0, 0, 100, 200], [20, 120, 50, 190]], np.float32),
                               np.array([0.9, 0.8], np.float32), np.array([False, False]),
                               iou=0.4, containment=0.6)
        assert len(boxes) == 2


class TestPersonDetector:
    def test_finds_the_man_in_a_real_photo(self, detector, person_photo):
        people = detector.detect(person_photo)
        assert len(people) == 1
        found = np.array([people[0].x0, people[0].y0, people[0].x1, people[0].y1], np.float32)
        assert box_iou(PERSON_BOX, found[None])[0] > 0.8
        assert people[0].score > 0.6

    def test_tiles_join_a_person_cut_by_a_tile_edge(self, person_photo):
        # On a wide grey canvas with 160 px tiles the man spans two rows of tiles; each sees a
        # part cut by its inner edge, and the whole-frame pass (stretched 640 x 240) none.
        canvas = np.full((240, 640, 3), 128, np.uint8)
        canvas[10:230, 245:395] = person_photo
        detector = PersonDetector(DetectorConfig(tile_size=160), threads=2)
        people = detector.detect(canvas)
        assert len(people) == 1
        truth = PERSON_BOX + np.array([245, 10, 245, 10], np.float32)
        found = np.array([people[0].x0, people[0].y0, people[0].x1, people[0].y1], np.float32)
        assert box_iou(truth, found[None])[0] > 0.7

    def test_empty_grey_image_has_nobody(self, detector):
        assert detector.detect(np.full((INPUT_SIZE, INPUT_SIZE, 3), 128, np.uint8)) == []

    @pytest.mark.parametrize("image, message", [
        (np.zeros((100, 100), np.uint8), "shape"),
        (np.zeros((100, 100, 3), np.float32), "uint8"),
        (np.zeros((4, 100, 3), np.uint8), "at least"),
    ])
    def test_bad_image_is_refused_in_one_line(self, detector, image, message):
        with pytest.raises(ValueError, match=message):
            detector.detect(image)

    def test_bad_config_is_refused(self):
        with pytest.raises(ValueError, match="tile_size"):
            DetectorConfig(tile_size=10)
