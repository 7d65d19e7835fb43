"""Lens distortion described by a sensor_msgs/CameraInfo, undone on the image before the
pipeline sees it (no OpenCV: the maps are numpy, the resampling torch).

Why the image and not the keypoints: every stage after the decoder assumes a pinhole camera.
The person detector, the landmark model and the feature network read square crops of the
frame, and a distorted crop bends limbs in ways their training images never did; the fitter
renders the body through a pinhole K and compares the rendering with those features pixel
by pixel. Undistorting keypoints and rays would leave the crops bent and make the renderer
non-pinhole. One remap per frame, with the map computed once per calibration, keeps every
stage pinhole; it costs a bilinear resampling of the frame (a few milliseconds at VGA on
a CPU).

The undistorted image's camera: the same size and principal point, and K's focal lengths
scaled down just enough that every raw pixel stays in view (``whole_field_camera``; never
scaled up). Keeping K itself would crop the periphery that a barrel lens squeezes into the
raw frame: on bench/distortion.py's wide-angle bags (corners 83 px in) it lost people at
the edges (found 60% against 67%) and came out worse than not undistorting at all (MPJPE
174 against 163 mm); with the scaled focal length, 149 mm and as many people found.
The 3D output stays in the camera optical frame the header names. P (and R) of camera_info
describe image_proc's rectified image instead: for a stereo pair R turns it into the
rectified frame (our joints would then be in a frame no header names), and a monocular
calibration's P is whatever getOptimalNewCameraMatrix's alpha gave (alpha 0 crops the
periphery, as K does). Where the output's corners see past the sensor they stay black, as
in image_proc's image_rect.

What is published is in the input image: keypoints_2d and roi are mapped back through the
forward model (``Lens.to_raw``), so they lie on the raw image the user sees.

Models (OpenCV's camera model, on normalised coordinates x = X/Z, y = Y/Z, r^2 = x^2 + y^2):

    plumb_bob            D = k1 k2 p1 p2 k3            radial 1 + k1 r^2 + k2 r^4 + k3 r^6
    rational_polynomial  D = k1 k2 p1 p2 k3 k4 k5 k6   radial (1 + k1 r^2 + k2 r^4 + k3 r^6)
                                                              / (1 + k4 r^2 + k5 r^4 + k6 r^6)
        both add the tangential terms 2 p1 x y + p2 (r^2 + 2 x^2) to x and
        p1 (r^2 + 2 y^2) + 2 p2 x y to y;
    equidistant          D = k1 k2 k3 k4               theta = atan(r),
        theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8), scaled
        by theta_d / r (OpenCV's fisheye model).

A shorter D is padded with zeros (plumb_bob with 4 entries is common).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nbf_ros.estimate import HumanEstimate, JointState
from nbf_ros.io.convert import CameraInfoError

__all__ = ["DISTORTION_MODELS", "Lens", "LensReader", "distort_normalized", "distort_pixels",
           "lens_summary", "pixel_grid", "remap", "remap_nearest", "sampling_grid",
           "undistort_normalized", "undistort_pixels"]

# Model name (sensor_msgs/distortion_models.h) -> number of coefficients in D.
DISTORTION_MODELS: dict[str, int] = {"plumb_bob": 5, "rational_polynomial": 8,
                                     "equidistant": 4}
# An undistorted point is kept when the forward model maps it back this close (normalised
# units: 1e-6 is a thousandth of a pixel at f = 1000).
_CONVERGED = 1e-6


def _coefficients(model: str, D: Sequence[float] | np.ndarray) -> np.ndarray:
    """D of a known model padded with zeros to its full length, float64."""
    d = np.zeros(DISTORTION_MODELS[model])
    values = np.asarray(D, dtype=np.float64).reshape(-1)
    d[:values.size] = values[:d.size]
    return d


def _radial(r2: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radial factor of plumb_bob / rational_polynomial at r^2 and its derivative in r^2."""
    k1, k2, _, _, k3, k4, k5, k6 = np.pad(d, (0, 8 - d.size))
    num = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    den = 1 + r2 * (k4 + r2 * (k5 + r2 * k6))
    num_d = k1 + r2 * (2 * k2 + 3 * k3 * r2)
    den_d = k4 + r2 * (2 * k5 + 3 * k6 * r2)
    return num / den, (num_d * den - num * den_d) / den**2


def _theta_d(theta: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equidistant model: distorted angle theta_d(theta) and its derivative."""
    k1, k2, k3, k4 = d
    t2 = theta**2
    poly = 1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))
    slope = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
    return theta * poly, slope


def distort_normalized(xy: np.ndarray,  # [..., 2] undistorted x/z, y/z
                       model: str, D: Sequence[float] | np.ndarray) -> np.ndarray:  # [..., 2]
    """Where the lens puts normalised points: the forward model of camera_info's D."""
    d = _coefficients(model, D)
    xy = np.asarray(xy, dtype=np.float64)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    if model == "equidistant":
        r = np.sqrt(r2)
        theta_d, _ = _theta_d(np.arctan(r), d)
        scale = np.where(r > 1e-12, theta_d / np.maximum(r, 1e-12), 1.0)
        return xy * scale[..., None]
    radial, _ = _radial(r2, d)
    p1, p2 = d[2], d[3]
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack((xd, yd), axis=-1)


def _newton_polynomial(target: np.ndarray, d: np.ndarray, iterations: int) -> np.ndarray:
    """Solve distort(x) = target for plumb_bob / rational_polynomial by Newton's method
    with the model's exact 2 x 2 Jacobian, starting at the target."""
    p1, p2 = d[2], d[3]
    xy = target.copy()
    for _ in range(iterations):
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        radial, slope = _radial(r2, d)
        fx = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x) - target[..., 0]
        fy = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y - target[..., 1]
        a = radial + 2 * x * x * slope + 2 * p1 * y + 6 * p2 * x  # d fx / dx
        b = 2 * x * y * slope + 2 * p1 * x + 2 * p2 * y  # d fx / dy = d fy / dx
        c = radial + 2 * y * y * slope + 6 * p1 * y + 2 * p2 * x  # d fy / dy
        det = a * c - b * b
        det = np.where(np.abs(det) < 1e-12, 1e-12, det)
        xy = xy - np.stack(((c * fx - b * fy) / det, (a * fy - b * fx) / det), axis=-1)
    return xy


def _newton_equidistant(target: np.ndarray, d: np.ndarray, iterations: int) -> np.ndarray:
    """Solve distort(x) = target for the equidistant model: theta from theta_d = |target|
    by Newton's method in one dimension, then back along the same direction."""
    theta_d = np.linalg.norm(target, axis=-1)
    theta = theta_d.copy()
    for _ in range(iterations):
        value, slope = _theta_d(theta, d)
        theta = theta - (value - theta_d) / np.where(np.abs(slope) < 1e-12, 1e-12, slope)
    # Rays at or beyond 90 degrees have no pinhole image.
    theta = np.where((theta >= 0) & (theta < np.pi / 2 - 1e-6), theta, np.nan)
    scale = np.where(theta_d > 1e-12, np.tan(theta) / np.maximum(theta_d, 1e-12), 1.0)
    return target * scale[..., None]


def undistort_normalized(xy: np.ndarray,  # [..., 2] distorted x/z, y/z
                         model: str, D: Sequence[float] | np.ndarray,
                         iterations: int = 30) -> np.ndarray:  # [..., 2], NaN: no solution
    """The inverse of ``distort_normalized``: the pinhole point the lens moved to ``xy``
    (NaN where the model has none, e.g. beyond the radius where it folds back)."""
    d = _coefficients(model, D)
    target = np.asarray(xy, dtype=np.float64)
    if model == "equidistant":
        out = _newton_equidistant(target, d, iterations)
    else:
        out = _newton_polynomial(target, d, iterations)
    error = np.linalg.norm(distort_normalized(out, model, d) - target, axis=-1)
    return np.where((error < _CONVERGED)[..., None], out, np.nan)


def _to_normalized(uv: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixels [..., 2] -> normalised coordinates [..., 2] through K (with its skew)."""
    uv = np.asarray(uv, dtype=np.float64)
    y = (uv[..., 1] - K[1, 2]) / K[1, 1]
    x = (uv[..., 0] - K[0, 2] - K[0, 1] * y) / K[0, 0]
    return np.stack((x, y), axis=-1)


def _to_pixels(xy: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Normalised coordinates [..., 2] -> pixels [..., 2] through K."""
    u = K[0, 0] * xy[..., 0] + K[0, 1] * xy[..., 1] + K[0, 2]
    v = K[1, 1] * xy[..., 1] + K[1, 2]
    return np.stack((u, v), axis=-1)


def distort_pixels(uv: np.ndarray,  # [..., 2] pixels of the undistorted (pinhole K) image
                   K: np.ndarray, model: str,
                   D: Sequence[float] | np.ndarray) -> np.ndarray:  # [..., 2] raw pixels
    """Where pinhole pixels (camera K) lie in the raw, distorted image."""
    K = np.asarray(K, dtype=np.float64)
    return _to_pixels(distort_normalized(_to_normalized(uv, K), model, D), K)


def undistort_pixels(uv: np.ndarray,  # [..., 2] raw pixels
                     K: np.ndarray, model: str,
                     D: Sequence[float] | np.ndarray) -> np.ndarray:  # [..., 2], NaN: none
    """Where raw pixels lie in the undistorted (pinhole K) image."""
    K = np.asarray(K, dtype=np.float64)
    return _to_pixels(undistort_normalized(_to_normalized(uv, K), model, D), K)


def pixel_grid(width: int, height: int) -> np.ndarray:  # [H, W, 2] (u, v)
    """Every pixel centre of a width x height image (integer coordinates)."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.stack((u, v), axis=-1)


def sampling_grid(source: np.ndarray,  # [h, w, 2] pixels of a width x height image
                  width: int, height: int) -> torch.Tensor:  # [1, h, w, 2] float32
    """grid_sample's grid (align_corners) reading ``source`` pixels; NaN reads outside."""
    scale = np.array([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)])
    grid = np.nan_to_num(source * scale - 1.0, nan=-4.0)  # -4: well outside the frame
    return torch.from_numpy(grid).float()[None]


def remap(rgb: np.ndarray,  # [H, W, 3] uint8
          grid: torch.Tensor,  # [1, h, w, 2] from sampling_grid
          fill: str = "zeros") -> np.ndarray:  # [h, w, 3] uint8
    """Bilinear resampling of an RGB image on a sampling grid (outside the image: ``fill``,
    'zeros' for black or 'border' for the nearest edge pixel)."""
    # To float before the permute: the copy then runs over contiguous memory.
    image = torch.from_numpy(np.ascontiguousarray(rgb)).float().permute(2, 0, 1)[None]
    image = image.contiguous()
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode=fill, align_corners=True)
    # + 0.5 then truncation rounds (values are >= 0), cheaper than round().
    return out[0].permute(1, 2, 0).add(0.5).clamp_(0, 255).to(torch.uint8).contiguous().numpy()


def remap_nearest(values: np.ndarray,  # [H, W] float32, e.g. depth in metres
                  grid: torch.Tensor) -> np.ndarray:  # [h, w] float32
    """Nearest-pixel resampling of a one-channel map on a sampling grid (outside: 0). For
    depth: a bilinear blend across an edge would be a surface that is not there (a flying
    pixel), and a blend with a no-return 0 a surface too near; nearest copies only values
    the sensor measured. Remapping pixels keeps each value a camera z: undistortion moves
    where a point is imaged, not how far in front of the camera it lies."""
    image = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]
    out = F.grid_sample(image, grid, mode="nearest", padding_mode="zeros", align_corners=True)
    return out[0, 0].numpy()


@dataclass(eq=False)
class Lens:
    """A distorting camera: its pinhole intrinsics, image size and distortion model."""

    K: np.ndarray  # [3, 3] float64
    width: int
    height: int
    model: str  # a key of DISTORTION_MODELS
    D: np.ndarray  # coefficients, padded to the model's length
    # [3, 3] the undistorted image's intrinsics (None: K itself); see whole_field_camera.
    K_out: np.ndarray | None = None
    _map: torch.Tensor | None = field(default=None, repr=False)  # [1, H, W, 2] cached map

    @property
    def camera(self) -> np.ndarray:  # [3, 3]
        """Intrinsics of the undistorted image: what the pipeline must be given with it."""
        return self.K if self.K_out is None else self.K_out

    def rectify(self, rgb: np.ndarray) -> np.ndarray:  # [H, W, 3] uint8
        """The undistorted (pinhole ``camera``, same size) image of a raw [H, W, 3] uint8
        frame."""
        return remap(rgb, self._grid())

    def rectify_depth(self, depth: np.ndarray) -> np.ndarray:  # [H, W] float32, 0 = none
        """The depth map registered to a raw frame [H, W], on the undistorted image's pixels
        (the same map as ``rectify``, nearest pixel: ``remap_nearest``)."""
        if depth.shape != (self.height, self.width):
            raise ValueError(f"depth is {depth.shape[1]}x{depth.shape[0]}, the lens's image "
                             f"{self.width}x{self.height}")
        return remap_nearest(depth, self._grid())

    def _grid(self) -> torch.Tensor:  # [1, H, W, 2]
        """The undistortion's sampling grid, computed once per lens."""
        if self._map is None:
            # For each output pixel, where the lens put it in the raw image: the forward
            # model only, so the map is exact and needs no iteration.
            source = self._out_to_raw(pixel_grid(self.width, self.height))
            self._map = sampling_grid(source, self.width, self.height)
        return self._map

    def _out_to_raw(self, uv: np.ndarray) -> np.ndarray:  # [..., 2]
        """Pixels of the undistorted image [..., 2] -> pixels of the raw image."""
        xy = distort_normalized(_to_normalized(uv, self.camera), self.model, self.D)
        return _to_pixels(xy, self.K)

    def to_rectified(self, uv: np.ndarray) -> np.ndarray:  # [..., 2], NaN: none
        """Pixels of the raw image [..., 2] -> pixels of the undistorted image."""
        xy = undistort_normalized(_to_normalized(uv, self.K), self.model, self.D)
        return _to_pixels(xy, self.camera)

    def to_raw(self, humans: list[HumanEstimate]) -> None:
        """Move estimates made on the rectified image into the raw image, in place: their
        keypoints_2d and roi, and joints that leave the raw frame become OUTSIDE_IMAGE."""
        w, h = self.width, self.height
        for human in humans:
            uv = self._out_to_raw(np.asarray(human.keypoints_2d, dtype=np.float64))
            outside = ~((uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h))
            human.keypoints_2d = uv.astype(np.asarray(human.keypoints_2d).dtype)
            human.joint_state = np.where(outside, np.uint8(JointState.OUTSIDE_IMAGE),
                                         human.joint_state).astype(np.uint8)
            human.joint_visibility = np.where(outside, 0.0, human.joint_visibility).astype(
                np.asarray(human.joint_visibility).dtype)
            human.roi = self._raw_box(np.asarray(human.roi, dtype=np.float64))

    def _raw_box(self, box: np.ndarray) -> np.ndarray:  # [4] x0, y0, x1, y1
        """The raw image's box around a rectified box (its edges bend: sampled along each)."""
        x0, y0, x1, y1 = box
        t = np.linspace(0.0, 1.0, 9)
        xs, ys = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
        edge = np.concatenate((np.stack((xs, np.full_like(xs, y0)), 1),
                               np.stack((xs, np.full_like(xs, y1)), 1),
                               np.stack((np.full_like(ys, x0), ys), 1),
                               np.stack((np.full_like(ys, x1), ys), 1)))
        uv = self._out_to_raw(edge)
        lo, hi = uv.min(0), uv.max(0)
        return np.clip(np.concatenate((lo, hi)), 0,
                       [self.width, self.height, self.width, self.height]).astype(np.float32)


def whole_field_camera(K: np.ndarray, width: int, height: int, model: str,
                       D: np.ndarray) -> np.ndarray:  # [3, 3]
    """K with its focal lengths scaled down just enough that every raw pixel of a width x
    height image lands inside an undistorted image of the same size about the same
    principal point (like OpenCV's getOptimalNewCameraMatrix with alpha 1); never
    scaled up, so a pincushion lens keeps K."""
    u, v = np.linspace(0, width - 1, 65), np.linspace(0, height - 1, 49)
    border = np.concatenate([np.stack((u, np.zeros_like(u)), 1),
                             np.stack((u, np.full_like(u, height - 1)), 1),
                             np.stack((np.zeros_like(v), v), 1),
                             np.stack((np.full_like(v, width - 1), v), 1)])
    offset = undistort_pixels(border, K, model, D) - K[:2, 2]  # from the principal point
    offset = offset[np.isfinite(offset).all(1)]
    room = np.where(offset > 0, np.array([width - 1, height - 1]) - K[:2, 2], K[:2, 2])
    with np.errstate(divide="ignore"):
        scale = np.where(np.abs(offset) > 1e-9, room / np.abs(offset), np.inf)
    out = K.copy()
    out[:2, :2] *= min(1.0, float(scale.min(initial=np.inf)))
    return out


def lens_summary(lens: Lens | None, undistort: bool) -> str:
    """How a node treats its camera_info's lens, in a few words (for diagnostics)."""
    if lens is None:
        return "ok"
    return f"ok, {lens.model} distortion " + ("undone" if undistort
                                               else "ignored (undistort is off)")


class LensReader:
    """The Lens of successive CameraInfo messages: one per calibration (so its map is
    computed once), None for a pinhole camera; an unknown model is reported once."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._lens: Lens | None = None
        self._unknown: set[str] = set()

    def read(self, msg: Any, K: np.ndarray, width: int, height: int
             ) -> tuple[Lens | None, str | None]:
        """(the lens, or None when D is zero or the model unknown; a warning the first time
        an unknown model with non-zero D is seen, else None). CameraInfoError for a D that
        a known model cannot take."""
        model = str(msg.distortion_model)
        d = np.asarray(msg.d, dtype=np.float64).reshape(-1)
        if not d.size or not np.any(d):
            return None, None
        if not np.isfinite(d).all():
            raise CameraInfoError(f"distortion coefficients D must be finite, got {d.tolist()}")
        if model not in DISTORTION_MODELS:
            if model in self._unknown:
                return None, None
            self._unknown.add(model)
            return None, (f"camera_info distortion model {model!r} is not supported (only "
                          f"{', '.join(DISTORTION_MODELS)}): its D is ignored and frames are "
                          "taken as pinhole images; undistort them upstream (image_proc) "
                          "for accurate poses")
        count = DISTORTION_MODELS[model]
        if d.size > count and np.any(d[count:]):
            raise CameraInfoError(f"{model} takes {count} distortion coefficients, got "
                                  f"{d.size}: {d.tolist()}")
        key = (model, d[:count].tobytes(), np.asarray(K).tobytes(), width, height)
        if key != self._key:
            self._key = key
            K = np.asarray(K, dtype=np.float64)
            D = _coefficients(model, d)
            self._lens = Lens(K, width, height, model, D,
                              whole_field_camera(K, width, height, model, D))
        return self._lens, None
