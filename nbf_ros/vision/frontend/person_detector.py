"""Multi-person detector: NanoDet-m (COCO, 416 x 416) run by ONNX Runtime, person class only.

The network (models/person_detector_nanodet_m_416.onnx, made by
scripts/convert_frontend_models.py) takes one 416 x 416 BGR image, normalised per channel
with the ImageNet mean and std of NanoDet's training config, NCHW float32. It returns, for each
of three strides (8, 16, 32: grids of 52, 26 and 13 cells, row-major), the 80 COCO class scores
of each cell (sigmoid applied; person is class 0) and a box as four distance distributions
(left, top, right, bottom from the cell centre, 11 bins of one stride each; Generalized Focal
Loss, Li et al. 2020): the distance is the softmax-weighted mean bin times the stride.

Decoding, non-maximum suppression and tiling are ours. ``detect`` runs the network on the whole
frame and, when a tile size is set and the frame is larger, on overlapping square tiles, so that
people of 35-100 px in a 768 x 576 frame reach the network at a size it finds. Boxes from all
passes are merged by one suppression that also joins the parts of a person cut by a tile edge.

Convention: boxes are x0, y0, x1, y1 in pixels of the input image (x right, y down), with x1,
y1 the far edges (width = x1 - x0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from nbf_ros.paths import find_model_file

MODEL_FILE = "person_detector_nanodet_m_416.onnx"
INPUT_SIZE = 416
STRIDES = (8, 16, 32)
REG_BINS = 11  # distance bins per box side (reg_max 10)
PERSON_CLASS = 0
# NanoDet's training normalisation, on BGR channels (its config's img_norm).
BGR_MEAN = np.array([103.53, 116.28, 123.675], np.float32)
BGR_STD = np.array([57.375, 57.12, 58.395], np.float32)
# A decoded box ending within one finest-stride cell (network pixels) of a tile's inner edge
# may be a part of a person the tile cuts off; the merge joins it with the rest instead of
# keeping it apart. (Cut boxes measured on vtest end 0-3.5 px inside the edge.)
CUT_MARGIN = 8.0
# Tiles run only on frames whose longer side exceeds this many tiles.
TILE_GAIN = 1.25


@dataclass(frozen=True)
class PersonBox:
    """One detected person: box corners in image pixels and the network's score (0-1)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.y1 - self.y0


@dataclass(frozen=True)
class DetectorConfig:
    """How ``PersonDetector.detect`` searches a frame."""

    score_threshold: float = 0.5
    """Lowest person score kept (NanoDet's scores are IoU-aware quality scores, 0-1)."""
    nms_iou: float = 0.4
    """Boxes overlapping a higher-scored one by more than this IoU are the same person."""
    tile_size: int | None = 384
    """Side of the square tiles in image pixels, or None for the whole frame only. Tiles run
    only where the frame's longer side exceeds 1.25 tiles (smaller frames gain little)."""
    tile_overlap: float = 0.25
    """Fraction of a tile shared with its neighbour, at least (tiles spread evenly)."""
    cut_containment: float = 0.6
    """A box cut by a tile edge joins another box when this fraction of the smaller one lies
    inside the other (or, for two cut boxes, when their x or y extents agree this well)."""
    max_people: int = 32
    """At most this many boxes, best first."""

    def __post_init__(self) -> None:
        if not 0.0 < self.score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1), got {self.score_threshold}")
        if not 0.0 < self.nms_iou < 1.0:
            raise ValueError(f"nms_iou must be in (0, 1), got {self.nms_iou}")
        if self.tile_size is not None and self.tile_size < 64:
            raise ValueError(f"tile_size must be at least 64 px or None, got {self.tile_size}")
        if not 0.0 <= self.tile_overlap < 0.9:
            raise ValueError(f"tile_overlap must be in [0, 0.9), got {self.tile_overlap}")
        if not 0.0 < self.cut_containment <= 1.0:
            raise ValueError(f"cut_containment must be in (0, 1], got {self.cut_containment}")
        if self.max_people < 1:
            raise ValueError(f"max_people must be at least 1, got {self.max_people}")


@dataclass(frozen=True)
class Window:
    """A square-or-not region of the image that one network pass sees, in image pixels."""

    x0: int
    y0: int
    width: int
    height: int
    is_tile: bool = False


def cell_centres(grid: int, stride: int) -> np.ndarray:  # -> [grid * grid, 2]
    """Centres (x, y) of a square grid's cells in network pixels, row-major."""
    index = np.arange(grid * grid)
    return np.stack([(index % grid + 0.5) * stride, (index // grid + 0.5) * stride], axis=1)


def decode_distances(logits: np.ndarray, stride: int) -> np.ndarray:  # [N, 44] -> [N, 4]
    """Distances (left, top, right, bottom) in network pixels from the bins' logits."""
    bins = logits.reshape(-1, 4, REG_BINS)
    weights = np.exp(bins - bins.max(axis=2, keepdims=True))
    weights /= weights.sum(axis=2, keepdims=True)
    return (weights @ np.arange(REG_BINS, dtype=weights.dtype)) * stride


def decode_level(scores: np.ndarray,  # [G*G] person score per cell
                 logits: np.ndarray,  # [G*G, 44] box bins per cell
                 stride: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes [M, 4] (x0, y0, x1, y1, network pixels) and scores [M] of cells above threshold."""
    grid = int(round(np.sqrt(scores.shape[0])))
    keep = np.flatnonzero(scores > threshold)
    centres = cell_centres(grid, stride)[keep]
    dist = decode_distances(logits[keep], stride)
    boxes = np.concatenate([centres - dist[:, :2], centres + dist[:, 2:]], axis=1)
    return boxes.astype(np.float32), scores[keep].astype(np.float32)


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:  # [4], [N, 4] -> [N]
    """Intersection over union of one box with each of others."""
    inter = _intersection(box, others)
    union = _area(box) + _area(others) - inter
    return inter / np.maximum(union, 1e-9)


def box_containment(box: np.ndarray, others: np.ndarray) -> np.ndarray:  # [4], [N, 4] -> [N]
    """Intersection over the smaller box's area, of one box with each of others."""
    return _intersection(box, others) / np.maximum(np.minimum(_area(box), _area(others)), 1e-9)


def box_axis_overlap(box: np.ndarray, others: np.ndarray) -> np.ndarray:  # [4], [N, 4] -> [N]
    """The better of the two 1-D IoUs (x extents, y extents) of one box with each of others."""
    ious = []
    for lo, hi in ((0, 2), (1, 3)):
        inter = np.minimum(box[hi], others[:, hi]) - np.maximum(box[lo], others[:, lo])
        union = np.maximum(box[hi], others[:, hi]) - np.minimum(box[lo], others[:, lo])
        ious.append(np.clip(inter, 0, None) / np.maximum(union, 1e-9))
    return np.maximum(*ious)


def _intersection(box: np.ndarray, others: np.ndarray) -> np.ndarray:  # [4], [N, 4] -> [N]
    width = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    height = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    return np.clip(width, 0, None) * np.clip(height, 0, None)


def _area(boxes: np.ndarray) -> np.ndarray:  # [..., 4] -> [...]
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(
        boxes[..., 3] - boxes[..., 1], 0, None)


def nms(boxes: np.ndarray,  # [N, 4] x0, y0, x1, y1
        scores: np.ndarray,  # [N]
        iou: float) -> np.ndarray:  # -> [M] indices into boxes, best score first
    """Greedy non-maximum suppression: keep the best box, drop those overlapping it > iou."""
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    while order.size:
        best = int(order[0])
        kept.append(best)
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou]
    return np.array(kept, dtype=np.int64)


def merge_boxes(boxes: np.ndarray,  # [N, 4] x0, y0, x1, y1 in image pixels
                scores: np.ndarray,  # [N]
                cut: np.ndarray,  # [N] bool: the box touches a tile's inner edge
                iou: float, containment: float) -> tuple[np.ndarray, np.ndarray]:
    """Suppression over several passes' boxes: boxes [M, 4] and scores [M], best first.

    As ``nms``, and a box cut by a tile edge also joins a kept box when ``containment`` of the
    smaller of the two lies inside the other, or when both are cut, they touch, and their
    extents along x or along y agree by that 1-D IoU (two halves of a person split by a tile
    edge). The kept box then grows to hold both: the halves become one box, and a whole-frame
    box absorbs the parts that tiles saw.
    """
    order = np.argsort(-scores, kind="stable")
    merged: list[np.ndarray] = []
    merged_cut: list[bool] = []
    merged_scores: list[float] = []
    for index in order:
        box = boxes[index]
        target = None
        if merged:
            kept = np.stack(merged)
            same = box_iou(box, kept) > iou
            kept_cut = np.array(merged_cut)
            same |= (cut[index] | kept_cut) & (box_containment(box, kept) >= containment)
            halves = cut[index] & kept_cut & (_intersection(box, kept) > 0)
            same |= halves & (box_axis_overlap(box, kept) >= containment)
            if same.any():
                target = int(np.flatnonzero(same)[0])
        if target is None:
            merged.append(box.copy())
            merged_cut.append(bool(cut[index]))
            merged_scores.append(float(scores[index]))
        elif merged_cut[target] or cut[index]:
            # A cut box shows only part of its person: the union is the better extent.
            merged[target] = np.concatenate([np.minimum(merged[target][:2], box[:2]),
                                             np.maximum(merged[target][2:], box[2:])])
            merged_cut[target] = merged_cut[target] and bool(cut[index])
    if not merged:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    return np.stack(merged).astype(np.float32), np.array(merged_scores, np.float32)


def tile_starts(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering [0, length), sharing >= overlap."""
    if length <= tile:
        return [0]
    step = tile * (1.0 - overlap)
    count = int(np.ceil((length - tile) / step)) + 1
    return [int(round(i * (length - tile) / (count - 1))) for i in range(count)]


def search_windows(width: int, height: int, config: DetectorConfig) -> list[Window]:
    """The whole frame, then the tiles when the frame is large enough to gain from them."""
    windows = [Window(0, 0, width, height)]
    tile = config.tile_size
    if tile is None or max(width, height) <= TILE_GAIN * tile:
        return windows
    for y0 in tile_starts(height, tile, config.tile_overlap):
        for x0 in tile_starts(width, tile, config.tile_overlap):
            windows.append(Window(x0, y0, min(tile, width), min(tile, height), is_tile=True))
    return windows


def network_input(rgb: np.ndarray,  # [H, W, 3] uint8
                  window: Window) -> np.ndarray:  # -> [1, 3, 416, 416] float32
    """The window's pixels resized to the network input, BGR, normalised, NCHW."""
    crop = rgb[window.y0:window.y0 + window.height, window.x0:window.x0 + window.width]
    resized = np.asarray(Image.fromarray(crop).resize((INPUT_SIZE, INPUT_SIZE),
                                                      Image.BILINEAR), np.float32)
    bgr = (resized[..., ::-1] - BGR_MEAN) / BGR_STD
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None], dtype=np.float32)


def window_boxes(levels: Sequence[tuple[np.ndarray, np.ndarray]], window: Window,
                 image_size: tuple[int, int],
                 threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes [M, 4] in image pixels, scores [M] and cut flags [M] of one pass's outputs.

    ``levels``: per stride, the person scores [G*G] and box bins [G*G, 44] of one pass.
    ``image_size``: (width, height) of the whole image.
    """
    parts = [decode_level(scores, logits, stride, threshold)
             for (scores, logits), stride in zip(levels, STRIDES, strict=True)]
    boxes = np.concatenate([p[0] for p in parts])
    scores = np.concatenate([p[1] for p in parts])
    cut = np.zeros(len(boxes), bool)
    if window.is_tile:
        # Edges of the tile that are not edges of the image.
        width, height = image_size
        inner = [window.x0 > 0, window.y0 > 0, window.x0 + window.width < width,
                 window.y0 + window.height < height]
        near = [boxes[:, 0] < CUT_MARGIN, boxes[:, 1] < CUT_MARGIN,
                boxes[:, 2] > INPUT_SIZE - CUT_MARGIN, boxes[:, 3] > INPUT_SIZE - CUT_MARGIN]
        for edge_is_inner, touches in zip(inner, near, strict=True):
            if edge_is_inner:
                cut |= touches
    boxes = np.clip(boxes, 0, INPUT_SIZE)
    scale = np.array([window.width, window.height] * 2, np.float32) / INPUT_SIZE
    offset = np.array([window.x0, window.y0] * 2, np.float32)
    return boxes * scale + offset, scores, cut


def check_image(rgb: np.ndarray) -> None:
    """Raise ValueError in one line unless rgb is an [H, W, 3] uint8 array of some size."""
    if not isinstance(rgb, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"image must be [H, W, 3] RGB, got shape {tuple(rgb.shape)}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {rgb.dtype}")
    if rgb.shape[0] < 8 or rgb.shape[1] < 8:
        raise ValueError(f"image must be at least 8 x 8 px, got {rgb.shape[1]} x {rgb.shape[0]}")


class PersonDetector:
    """NanoDet-m person detector in an ONNX Runtime session (CUDA when available, else CPU)."""

    def __init__(self, config: DetectorConfig | None = None,
                 model_path: str | Path | None = None, device: str = "auto",
                 threads: int | None = None) -> None:
        """``device``: auto (CUDA if ONNX Runtime has it), cpu or cuda[:N]; ``threads``: CPU
        threads of the session (None: ONNX Runtime's default, one per core)."""
        import onnxruntime as ort

        self.config = config or DetectorConfig()
        self.model_path = Path(model_path) if model_path else find_model_file(MODEL_FILE)
        available = ort.get_available_providers()
        if device not in ("auto", "cpu") and not device.startswith("cuda"):
            raise ValueError(f"device must be auto, cpu or cuda[:N], got {device!r}")
        providers: list = ["CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in available:
            index = int(device.split(":")[1]) if device.startswith("cuda:") else 0
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": index}))
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # No busy-waiting between runs: the fit's torch threads share the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.model_path), options, providers=providers)
        self.providers = self.session.get_providers()
        self._input = self.session.get_inputs()[0].name
        outputs = [o.name for o in self.session.get_outputs()]
        self._outputs = [name for stride in STRIDES
                         for name in (f"cls_stride{stride}", f"box_stride{stride}")]
        missing = sorted(set(self._outputs) - set(outputs))
        if missing:
            raise ValueError(f"{self.model_path} is not the converted NanoDet graph "
                             f"(no output {missing[0]}); see models/README.md")

    def run_window(self, rgb: np.ndarray,  # [H, W, 3] uint8
                   window: Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One network pass over a window: boxes [M, 4], scores [M], cut flags [M]."""
        outs = self.session.run(self._outputs, {self._input: network_input(rgb, window)})
        levels = [(outs[2 * i][0, :, PERSON_CLASS], outs[2 * i + 1][0])
                  for i in range(len(STRIDES))]
        return window_boxes(levels, window, (rgb.shape[1], rgb.shape[0]),
                            self.config.score_threshold)

    def detect(self, rgb: np.ndarray) -> list[PersonBox]:  # rgb: [H, W, 3] uint8
        """People in an RGB image, best score first."""
        check_image(rgb)
        height, width = rgb.shape[:2]
        passes = [self.run_window(rgb, w) for w in search_windows(width, height, self.config)]
        boxes, scores = merge_boxes(np.concatenate([p[0] for p in passes]),
                                    np.concatenate([p[1] for p in passes]),
                                    np.concatenate([p[2] for p in passes]),
                                    self.config.nms_iou, self.config.cut_containment)
        return [PersonBox(*map(float, box), score=float(score))
                for box, score in zip(boxes[:self.config.max_people],
                                      scores[:self.config.max_people], strict=True)]
