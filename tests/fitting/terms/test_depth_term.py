"""The depth term (nbf_ros.fitting.terms.depth) against hand-computed cases, and what it does
inside a fit."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from nbf_ros.eval.recovery import joints_under
from nbf_ros.fitting.config import FitConfig
from nbf_ros.fitting.fitter import Fitter
from nbf_ros.fitting.state import BodyState
from nbf_ros.fitting.terms.depth import depth_occlusion, depth_term, geman_mcclure
from nbf_ros.nbv.camera import pixel_rays
from nbf_ros.nbv.renderer import expected_depth, render
from nbf_ros.synth.feature_scenes import feature_scene, random_states

SIZE = 32  # crop side of the fits here: small, so the tests stay fast
CFG = FitConfig(depth_weight=1.0, depth_scale=0.1, depth_render_offset=0.03,
                depth_occlusion_margin=0.15)


def one_pixel(measured: float, occlusion: float = 0.0, cfg: FitConfig = CFG):  # noqa: ANN201
    """The term of one kernel at z = 2 m on the optical axis covering one pixel by 0.8."""
    points = torch.tensor([[[0.0, 0.0, 2.0]]], requires_grad=True)
    rays = torch.tensor([[[0.0, 0.0, 1.0]]])
    index = torch.tensor([[[0]]])
    weight = torch.tensor([[[0.8]]])
    term = depth_term(points, rays, index, weight, torch.tensor([[measured]]),
                      torch.tensor([[occlusion]]), cfg)
    return term, points


class TestDepthTerm:
    def test_geman_mcclure_is_half_at_the_scale(self) -> None:
        assert float(geman_mcclure(torch.tensor(0.1), 0.1)) == pytest.approx(0.5)

    def test_loss_of_one_pixel_is_coverage_times_rho_of_the_offset_residual(self) -> None:
        term, _ = one_pixel(measured=1.9, cfg=dataclasses.replace(CFG, depth_occlusion=False))
        r = 2.0 - 0.03 - 1.9  # rendered skin minus measurement
        assert float(term.loss.detach()) == pytest.approx(0.8 * r * r / (r * r + 0.01), rel=1e-5)
        assert float(term.rendered.detach()) == pytest.approx(1.97)

    def test_a_measurement_within_the_margin_is_barely_occlusion(self) -> None:
        term, _ = one_pixel(measured=1.9)  # 7 cm in front of the skin, margin 15 cm
        assert float(term.occlusion) == pytest.approx(
            0.8 / (1 + math.exp((0.15 - 0.07) / (0.15 / 8))), rel=1e-4)
        assert float(term.occlusion) < 0.02

    def test_a_pixel_without_a_measurement_costs_nothing(self) -> None:
        term, _ = one_pixel(measured=0.0)
        assert float(term.loss.detach()) == 0.0

    def test_the_gradient_moves_the_kernel_towards_the_measurement(self) -> None:
        term, points = one_pixel(measured=2.2)
        term.loss.sum().backward()
        assert float(points.grad[0, 0, 2]) < 0  # a step against it increases z

    def test_a_surface_clearly_in_front_hides_the_pixel_and_stops_pulling(self) -> None:
        term, _ = one_pixel(measured=1.5)
        soft = 1 / (1 + math.exp(-(1.97 - 1.5 - 0.15) / (0.15 / 8)))
        assert float(term.occlusion) == pytest.approx(0.8 * soft, rel=1e-5)
        assert float(term.loss.detach()) < 1e-3

    def test_without_depth_occlusion_the_feature_occlusion_is_kept(self) -> None:
        cfg = dataclasses.replace(CFG, depth_occlusion=False)
        term, _ = one_pixel(measured=1.5, occlusion=0.2, cfg=cfg)
        assert float(term.occlusion) == pytest.approx(0.2)

    def test_depth_occlusion_is_zero_where_nothing_was_measured(self) -> None:
        hidden = depth_occlusion(torch.tensor([2.0, 2.0]), torch.tensor([0.0, 1.0]), 0.15)
        assert float(hidden[0]) == 0.0 and float(hidden[1]) > 0.99


class TestExpectedDepth:
    def test_two_kernels_on_one_ray_average_their_z_by_weight(self) -> None:
        centres = torch.tensor([[[0.0, 0.0, 2.0], [0.0, 0.0, 3.0]]])
        rays = torch.tensor([[[0.6, 0.0, 0.8]]])  # a unit ray off the axis
        index = torch.tensor([[[0, 1, -1]]])
        weight = torch.tensor([[[0.6, 0.2, 0.5]]])  # the empty slot's weight is ignored
        # z of each centre's nearest point on the ray: (c . d) d_z.
        expect = (0.6 * 2.0 * 0.8 * 0.8 + 0.2 * 3.0 * 0.8 * 0.8) / 0.8
        assert float(expected_depth(centres, rays, index, weight)) == pytest.approx(expect)


def depth_scene(volume, seed: int):  # noqa: ANN001, ANN201
    """A feature scene of one body and the depth a sensor would measure of it (its rendered
    skin), 0 off the body."""
    gen = torch.Generator().manual_seed(seed)
    truth = random_states(volume, 1, gen)
    scene = feature_scene(volume, truth, gen, size=SIZE, noise=0.5)
    posed = volume.pose(truth.rotations, truth.translation)
    r = render(posed.points, volume.sigma, scene.camera, CFG.render)
    skin = expected_depth(posed.points, pixel_rays(scene.camera), r.index, r.weight) - 0.03
    return scene, torch.where(r.foreground > 0.3, skin, torch.zeros_like(skin))


class TestFitWithDepth:
    def test_depth_puts_a_body_started_too_near_at_its_distance(self, capsule_volume) -> None:
        scene, depth = depth_scene(capsule_volume, seed=4)
        truth = scene.truth
        true_z = float(truth.translation[0, 2])
        # 15 cm too near along the ray through the root: the image barely changes.
        start = BodyState(truth.rotations, truth.translation * (1 - 0.15 / true_z),
                          truth.shape)
        cfg = FitConfig.tracking(iterations=25, depth_start=False, lr=0.02)
        colour = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, start)
        with_depth = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, start,
                                                     depth=depth.flatten(1))
        depth_error = abs(float(with_depth.state.translation[0, 2]) - true_z)
        colour_error = abs(float(colour.state.translation[0, 2]) - true_z)
        assert depth_error < 0.03
        assert colour_error > 2 * depth_error

    def test_with_depth_a_larger_person_is_fitted_by_shape_not_moved_nearer(
            self, capsule_volume) -> None:
        # The person is 15% larger than the start's shape (shape0 is overall scale): held at
        # that shape, the features pull the body nearer to look as large, against the depth.
        gen = torch.Generator().manual_seed(4)
        pose = random_states(capsule_volume, 1, gen)
        truth = BodyState(pose.rotations, pose.translation, torch.tensor([[1.5, 0.0]]))
        scene = feature_scene(capsule_volume, truth, gen, size=SIZE, noise=0.5)
        posed = capsule_volume.pose(truth.rotations, truth.translation, truth.shape)
        r = render(posed.points, capsule_volume.sigma, scene.camera, CFG.render)
        skin = expected_depth(posed.points, pixel_rays(scene.camera), r.index, r.weight) - 0.03
        depth = torch.where(r.foreground > 0.3, skin, torch.zeros_like(skin)).flatten(1)
        start = BodyState(truth.rotations, truth.translation, torch.zeros(1, 2))
        fits = {held: Fitter(capsule_volume, FitConfig.tracking(
                    iterations=40, depth_start=False, lr=0.02, depth_shape=not held)).fit(
                        scene.features, scene.camera, start, depth=depth)
                for held in (False, True)}
        error = {held: abs(float(fit.state.translation[0, 2] - truth.translation[0, 2]))
                 for held, fit in fits.items()}
        assert float(fits[False].state.shape[0, 0]) > 0.2  # grown towards 1.5
        assert float(fits[True].state.shape.abs().max()) == 0.0
        assert error[True] > 2 * error[False]

    def test_the_start_from_depth_moves_the_body_to_the_measured_distance(
            self, capsule_volume) -> None:
        scene, depth = depth_scene(capsule_volume, seed=5)
        truth = scene.truth
        posed = capsule_volume.pose(truth.rotations, truth.translation)
        uv = posed.joints @ scene.camera.K.transpose(1, 2)
        keypoints = uv[..., :2] / uv[..., 2:]
        start = BodyState(truth.rotations, truth.translation * 0.7, truth.shape)
        cfg = FitConfig.tracking(iterations=1, depth_weight=0.0, depth_surface=0.0)
        fit = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, start,
                                              keypoints=keypoints, depth=depth.flatten(1))
        assert abs(float(fit.state.translation[0, 2] - truth.translation[0, 2])) < 0.25

    def test_a_board_in_front_of_joints_hides_them(self, capsule_volume) -> None:
        scene, depth = depth_scene(capsule_volume, seed=6)
        board = torch.zeros_like(depth.view(1, SIZE, SIZE), dtype=torch.bool)
        board[:, :, : SIZE // 2] = True  # the left half of the crop, 0.8 m nearer than the body
        measured = torch.where(board.flatten(1), torch.full_like(depth, 2.0), depth)
        under = joints_under(scene.joints, scene.camera, board)
        assert int(under.sum()) >= 3 and int((~under).sum()) >= 3
        cfg = FitConfig.tracking(iterations=1)
        seen = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, scene.truth,
                                               depth=measured)
        blind = Fitter(capsule_volume, dataclasses.replace(cfg, depth_occlusion=False)).fit(
            scene.features, scene.camera, scene.truth, depth=measured)
        assert float(seen.joint_visibility[under].mean()) < 0.5
        assert float(blind.joint_visibility[under].mean()) > 0.5
        assert float(seen.joint_visibility[~under].mean()) > 0.5

    def test_depth_of_another_shape_than_the_features_is_refused(self, capsule_volume) -> None:
        scene, depth = depth_scene(capsule_volume, seed=4)
        with pytest.raises(ValueError, match="depth: expected"):
            Fitter(capsule_volume, FitConfig.tracking()).fit(
                scene.features, scene.camera, scene.truth, depth=depth[:, :10])
