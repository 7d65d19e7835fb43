"""Lens distortion of camera_info (issue 32): the three models' forward formulas against values
worked by hand, their inverses, the cached undistortion of images and the estimates moved
back onto the raw image."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from nbf_ros.estimate import JointState
from nbf_ros.io.convert import CameraInfoError
from nbf_ros.io.undistort import (
    Lens,
    LensReader,
    distort_normalized,
    distort_pixels,
    undistort_pixels,
)

K = np.array([[500.0, 0.0, 320.0], [0.0, 510.0, 240.0], [0.0, 0.0, 1.0]])
# A webcam's barrel, a wide lens's rational model and a fisheye: each moves the corners of a
# 640 x 480 image by tens of pixels.
LENSES = {
    "plumb_bob": (-0.28, 0.09, 0.0012, -0.0008, -0.012),
    "rational_polynomial": (0.4, -0.1, 0.001, -0.002, 0.01, 0.7, -0.05, 0.02),
    "equidistant": (0.08, -0.03, 0.01, -0.002),
}


def camera_info(model: str, D: tuple[float, ...]) -> SimpleNamespace:
    """The fields of a CameraInfo that LensReader reads."""
    return SimpleNamespace(distortion_model=model, d=list(D))


class TestForwardModels:
    def test_plumb_bob_matches_the_formula_worked_by_hand(self) -> None:
        # x = 0.3, y = -0.2: r^2 = 0.13, radial = 1 - 0.3 r^2 + 0.1 r^4 + 0.05 r^6 = 0.96279985;
        # x: 0.3 radial + 2 p1 x y + p2 (r^2 + 2 x^2) = 0.288839955 - 0.00012 - 0.00062
        # y: -0.2 radial + p1 (r^2 + 2 y^2) + 2 p2 x y = -0.19255997 + 0.00021 + 0.00024
        out = distort_normalized(np.array([0.3, -0.2]), "plumb_bob",
                                 (-0.3, 0.1, 0.001, -0.002, 0.05))
        np.testing.assert_allclose(out, [0.288099955, -0.19210997], atol=1e-9)

    def test_rational_polynomial_divides_by_its_second_polynomial(self) -> None:
        # x = 0.5, y = 0: r^2 = 0.25; (1 + 0.1 r^2) / (1 + 0.2 r^2 + 0.4 r^4) = 1.025 / 1.075;
        # tangential: p2 (r^2 + 2 x^2) = 0.01 x 0.75 on x, nothing on y (y = 0, p1 = 0).
        out = distort_normalized(np.array([0.5, 0.0]), "rational_polynomial",
                                 (0.1, 0.0, 0.0, 0.01, 0.0, 0.2, 0.4, 0.0))
        np.testing.assert_allclose(out, [0.5 * 1.025 / 1.075 + 0.0075, 0.0], atol=1e-12)

    def test_equidistant_maps_the_angle_not_the_radius(self) -> None:
        # x = 1, y = 0: theta = atan(1) = pi / 4; theta_d = theta (1 + 0.1 theta^2); x_d = theta_d.
        theta = math.pi / 4
        out = distort_normalized(np.array([1.0, 0.0]), "equidistant", (0.1, 0.0, 0.0, 0.0))
        np.testing.assert_allclose(out, [theta * (1 + 0.1 * theta**2), 0.0], atol=1e-12)

    def test_a_short_plumb_bob_d_is_padded_with_zeros(self) -> None:
        point = np.array([0.2, 0.1])
        np.testing.assert_array_equal(distort_normalized(point, "plumb_bob", (-0.2, 0.05)),
                                      distort_normalized(point, "plumb_bob",
                                                         (-0.2, 0.05, 0, 0, 0)))


@pytest.mark.parametrize("model", list(LENSES))
class TestInverse:
    def test_undistorting_distorted_pixels_returns_them_within_0_05_px(self, model: str
                                                                      ) -> None:
        v, u = np.mgrid[0:480:12, 0:640:16].astype(np.float64)
        pinhole = np.stack((u, v), axis=-1).reshape(-1, 2)
        raw = distort_pixels(pinhole, K, model, LENSES[model])
        assert np.abs(raw - pinhole).max() > 20  # a real lens, not a pinhole
        back = undistort_pixels(raw, K, model, LENSES[model])
        assert np.abs(back - pinhole).max() < 0.05

    def test_distorting_undistorted_raw_pixels_returns_them_within_0_05_px(
            self, model: str) -> None:
        raw = np.random.default_rng(3).uniform([0, 0], [640, 480], (500, 2))
        pinhole = undistort_pixels(raw, K, model, LENSES[model])
        assert np.isfinite(pinhole).all()
        assert np.abs(distort_pixels(pinhole, K, model, LENSES[model]) - raw).max() < 0.05


def test_undistortion_of_images_follows_the_forward_model() -> None:
    # A raw image whose pixel values say where they are (column and row): the undistorted
    # image at pinhole pixel p must hold the raw value at distort(p).
    v, u = np.mgrid[0:480, 0:640]
    raw = np.stack((u // 3, v // 2, np.zeros_like(u)), axis=-1).astype(np.uint8)
    lens = Lens(K, 640, 480, "plumb_bob", np.array(LENSES["plumb_bob"]))
    out = lens.rectify(raw)
    probes = np.array([[100.0, 80.0], [320.0, 240.0], [560.0, 400.0], [40.0, 450.0]])
    source = distort_pixels(probes, K, "plumb_bob", LENSES["plumb_bob"])
    for (pu, pv), (su, sv) in zip(probes.astype(int), source, strict=True):
        assert abs(int(out[pv, pu, 0]) - su / 3) <= 1.0
        assert abs(int(out[pv, pu, 1]) - sv / 2) <= 1.0


def test_estimates_move_onto_the_raw_image(make_estimate) -> None:  # noqa: ANN001
    human = make_estimate(1)
    lens = Lens(K, 640, 480, "plumb_bob", np.array(LENSES["plumb_bob"]))
    human.keypoints_2d = np.array([[320.0, 240.0], [10.0, 10.0]] * 12)
    human.roi = np.array([200.0, 100.0, 440.0, 380.0])
    human.joint_state = np.zeros(24, dtype=np.uint8)
    lens.to_raw([human])
    expected = distort_pixels(np.array([[320.0, 240.0], [10.0, 10.0]]), K, "plumb_bob",
                              LENSES["plumb_bob"])
    np.testing.assert_allclose(human.keypoints_2d[:2], expected, atol=1e-4)
    assert human.joint_state[0] == JointState.VISIBLE
    corners = distort_pixels(np.array([[200.0, 100.0], [440.0, 380.0]]), K, "plumb_bob",
                             LENSES["plumb_bob"])
    # Barrel distortion pulls the box's corners in more than its edges' middles.
    assert human.roi[0] < corners[0, 0] and human.roi[3] > corners[1, 1]


class TestLensReader:
    def test_zero_distortion_needs_no_lens(self) -> None:
        assert LensReader().read(camera_info("plumb_bob", (0.0,) * 5), K, 640, 480) == (None,
                                                                                       None)

    def test_one_calibration_gives_one_lens_and_one_map(self) -> None:
        reader = LensReader()
        first, _ = reader.read(camera_info("plumb_bob", LENSES["plumb_bob"]), K, 640, 480)
        again, _ = reader.read(camera_info("plumb_bob", LENSES["plumb_bob"]), K, 640, 480)
        other, _ = reader.read(camera_info("plumb_bob", (-0.1, 0, 0, 0, 0)), K, 640, 480)
        assert first is again and other is not first

    def test_an_unknown_model_warns_once_and_is_taken_as_pinhole(self) -> None:
        reader = LensReader()
        notes = [reader.read(camera_info("kannala_brandt", (0.1, 0.02, 0, 0)), K, 640, 480)
                 for _ in range(5)]
        assert all(lens is None for lens, _ in notes)
        warnings = [note for _, note in notes if note]
        assert len(warnings) == 1 and "'kannala_brandt' is not supported" in warnings[0]

    @pytest.mark.parametrize(("model", "D", "says"), [
        ("plumb_bob", (0.1, math.nan, 0, 0, 0), "must be finite"),
        ("equidistant", (0.1, 0.0, 0.0, 0.0, 0.3), "takes 4 distortion coefficients"),
    ])
    def test_a_d_the_model_cannot_take_is_a_camera_info_error(
            self, model: str, D: tuple[float, ...], says: str) -> None:
        with pytest.raises(CameraInfoError, match=says):
            LensReader().read(camera_info(model, D), K, 640, 480)


class TestWholeFieldCamera:
    def test_every_raw_pixel_stays_in_view_of_the_undistorted_image(self) -> None:
        info = camera_info("plumb_bob", LENSES["plumb_bob"])
        lens, _ = LensReader().read(info, K, 640, 480)
        u, v = np.linspace(0, 639, 41), np.linspace(0, 479, 31)
        border = np.concatenate([np.stack((u, np.zeros_like(u)), 1),
                                 np.stack((u, np.full_like(u, 479.0)), 1),
                                 np.stack((np.zeros_like(v), v), 1),
                                 np.stack((np.full_like(v, 639.0), v), 1)])
        seen = lens.to_rectified(border)
        assert (seen >= -0.5).all() and (seen[:, 0] <= 639.5).all() and (seen[:, 1] <= 479.5).all()
        # Just enough: the tightest raw border point touches the edge of the output.
        assert min(seen.min(), 639 - seen[:, 0].max(), 479 - seen[:, 1].max()) < 1.0
        np.testing.assert_allclose(lens.camera[:2, 2], K[:2, 2])
        assert lens.camera[0, 0] / K[0, 0] == pytest.approx(lens.camera[1, 1] / K[1, 1])
        assert lens.camera[0, 0] < K[0, 0]

    def test_a_pincushion_lens_keeps_k(self) -> None:
        lens, _ = LensReader().read(camera_info("plumb_bob", (0.2, 0.0, 0.0, 0.0, 0.0)),
                                    K, 640, 480)
        np.testing.assert_array_equal(lens.camera, K)

    def test_estimates_on_the_undistorted_image_go_back_to_their_raw_pixels(
            self, make_estimate) -> None:  # noqa: ANN001
        lens, _ = LensReader().read(camera_info("equidistant", LENSES["equidistant"]), K, 640,
                                    480)
        raw = np.random.default_rng(5).uniform([20, 20], [620, 460], (24, 2))
        human = make_estimate(2)
        human.keypoints_2d = lens.to_rectified(raw)
        lens.to_raw([human])
        assert np.abs(human.keypoints_2d - raw).max() < 0.05
