"""Readout of the network heads: heatmap peaks with sub-cell refinement, the translation that
makes regressed joints project onto the keypoints, and the crop inputs of the fitter."""

from __future__ import annotations

import pytest
import torch

from nbf_ros.nbv.camera import project
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.paths import find_model_file
from nbf_ros.vision.network import FeatureNet, NetOutput
from nbf_ros.vision.readout import heatmap_keypoints, read_crops, solve_translation

F64 = torch.float64


def _gaussian_logits(points: torch.Tensor, h: int, w: int, peak: float = 0.9,
                     sigma: float = 1.0) -> torch.Tensor:
    """Logit maps [B, J, h, w] whose probabilities are Gaussians of height ``peak`` centred
    at points [B, J, 2] (cells, x then y; cell centres at +0.5)."""
    ys = torch.arange(h, dtype=F64) + 0.5
    xs = torch.arange(w, dtype=F64) + 0.5
    d2 = ((xs - points[..., 0, None, None]) ** 2
          + (ys[:, None] - points[..., 1, None, None]) ** 2)
    prob = (peak * torch.exp(-d2 / (2 * sigma**2))).clamp(1e-6, 1 - 1e-6)
    return torch.log(prob / (1 - prob))


# Peaks away from the cell centres by up to 0.4 cell in x and y, and one exactly on a centre.
POINTS = torch.tensor([[[5.3, 7.8], [10.5, 2.5], [3.1, 12.6], [17.9, 9.2]],
                       [[8.7, 4.4], [2.6, 13.35], [12.5, 8.5], [6.2, 6.9]]], dtype=F64)


def test_heatmap_keypoints_find_gaussian_peaks_to_a_quarter_cell() -> None:
    pos, _ = heatmap_keypoints(_gaussian_logits(POINTS, 16, 20))

    assert pos.shape == (2, 4, 2)
    assert float((pos - POINTS).abs().max()) < 0.25


def test_heatmap_keypoints_refine_below_the_cell_grid() -> None:
    pos, _ = heatmap_keypoints(_gaussian_logits(POINTS, 16, 20))

    # Better than the centre of the peak cell, which is off by up to 0.4 cell.
    cell_centres = POINTS.floor() + 0.5
    assert float((pos - POINTS).abs().mean()) < 0.5 * float((cell_centres - POINTS).abs().mean())


def test_a_peak_on_a_cell_centre_is_found_exactly() -> None:
    pos, _ = heatmap_keypoints(_gaussian_logits(POINTS, 16, 20))

    torch.testing.assert_close(pos[0, 1], POINTS[0, 1])
    torch.testing.assert_close(pos[1, 2], POINTS[1, 2])


def test_keypoint_confidence_is_the_sigmoid_of_the_peak_logit() -> None:
    logits = _gaussian_logits(POINTS, 16, 20, peak=0.8)

    _, conf = heatmap_keypoints(logits)

    torch.testing.assert_close(conf, logits.flatten(2).amax(-1).sigmoid())
    assert bool((conf <= 0.8).all()) and bool((conf > 0.6).all())


def _scene(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Root-relative joints [B, 24, 3] of a body-sized point set, translations, intrinsics."""
    gen = torch.Generator().manual_seed(5)
    rel = (torch.rand(batch, 24, 3, generator=gen, dtype=F64) - 0.5) * torch.tensor(
        [0.6, 1.6, 0.4], dtype=F64)
    rel = rel - rel[:, :1]
    trans = torch.tensor([[0.2, -0.1, 3.5], [-0.4, 0.3, 6.0]], dtype=F64)[:batch]
    K = torch.tensor([[120.0, 0.0, 32.0], [0.0, 110.0, 48.0], [0.0, 0.0, 1.0]],
                     dtype=F64).repeat(batch, 1, 1)
    return rel, trans, K


def test_solve_translation_recovers_the_translation_of_exact_projections() -> None:
    rel, trans, K = _scene()
    keypoints = project(rel + trans[:, None], K)

    t = solve_translation(rel, keypoints, torch.ones(2, 24, dtype=F64), K,
                          torch.full((2,), 2.0, dtype=F64))

    torch.testing.assert_close(t, trans, atol=1e-4, rtol=0)


def test_solve_translation_ignores_keypoints_of_weight_zero() -> None:
    rel, trans, K = _scene()
    keypoints = project(rel + trans[:, None], K)
    weight = torch.ones(2, 24, dtype=F64)
    keypoints[:, 5:9] += 40.0  # wrong keypoints, but weightless
    weight[:, 5:9] = 0.0

    t = solve_translation(rel, keypoints, weight, K, torch.full((2,), 2.0, dtype=F64))

    torch.testing.assert_close(t, trans, atol=1e-4, rtol=0)


def _on_fallback_ray(t: torch.Tensor, keypoints: torch.Tensor, weight: torch.Tensor,
                     K: torch.Tensor, depth: float) -> None:
    centre = (keypoints * weight[:, None]).sum(0) / weight.sum()
    assert float(t[2]) == pytest.approx(depth)
    torch.testing.assert_close(project(t[None, None], K[None])[0, 0], centre)


def test_fewer_than_three_weighted_keypoints_fall_back_to_the_given_depth() -> None:
    rel, trans, K = _scene()
    keypoints = project(rel + trans[:, None], K)
    weight = torch.ones(2, 24, dtype=F64)
    weight[1] = 0.0
    weight[1, 3], weight[1, 10] = 0.5, 1.0  # two keypoints: the system is degenerate
    fallback = torch.tensor([2.0, 4.5], dtype=F64)

    t = solve_translation(rel, keypoints, weight, K, fallback)

    # The first crop is solved as usual; the second lies on the ray through the weighted
    # keypoint centre, at the fallback depth.
    torch.testing.assert_close(t[0], trans[0], atol=1e-4, rtol=0)
    _on_fallback_ray(t[1], keypoints[1], weight[1], K[1], 4.5)


def test_a_solution_behind_the_camera_falls_back_to_the_given_depth() -> None:
    rel, _, K = _scene(1)
    behind = torch.tensor([[0.1, 0.2, -3.0]], dtype=F64)
    cam = rel + behind[:, None]
    # Projections of a body behind the camera (no clamping): the exact solution has z = -3.
    keypoints = (cam[..., :2] / cam[..., 2:]) * K[:, None, [0, 1], [0, 1]] + K[:, None, :2, 2]
    weight = torch.ones(1, 24, dtype=F64)

    t = solve_translation(rel, keypoints, weight, K, torch.tensor([3.0], dtype=F64))

    _on_fallback_ray(t[0], keypoints[0], weight[0], K[0], 3.0)


@pytest.fixture(scope="module")
def crops() -> tuple[NetOutput, torch.Tensor, NeuralBodyVolume]:
    torch.manual_seed(0)
    net = FeatureNet().eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1)))
    K = torch.tensor([[[100.0, 0.0, 48.0], [0.0, 104.0, 30.0], [0.0, 0.0, 1.0]],
                      [[80.0, 0.0, 40.0], [0.0, 80.0, 36.0], [0.0, 0.0, 1.0]]])
    return out, K, NeuralBodyVolume.load(find_model_file("nbv_anny.npz"))


def test_read_crops_camera_is_the_input_camera_at_stride_4(crops) -> None:
    out, K, volume = crops
    original = K.clone()

    readout = read_crops(out, K, volume)

    expected = K.clone()
    expected[:, :2] = K[:, :2] / 4
    torch.testing.assert_close(readout.camera.K, expected)
    assert (readout.camera.height, readout.camera.width) == (16, 24)
    torch.testing.assert_close(K, original)  # the caller's intrinsics are left alone


def test_read_crops_features_are_the_map_in_row_major_order(crops) -> None:
    out, K, volume = crops

    feats = read_crops(out, K, volume).features

    assert feats.shape == (2, 16 * 24, 64)
    for b, row, col in [(0, 0, 0), (0, 0, 23), (0, 1, 0), (1, 7, 11), (1, 15, 23)]:
        torch.testing.assert_close(feats[b, row * 24 + col], out.features[b, :, row, col],
                                   rtol=0, atol=0)


def test_read_crops_reads_keypoints_and_regression_of_the_heads(crops) -> None:
    out, K, volume = crops

    readout = read_crops(out, K, volume)

    keypoints, conf = heatmap_keypoints(out.heatmaps)
    torch.testing.assert_close(readout.keypoints, keypoints)
    torch.testing.assert_close(readout.keypoint_confidence, conf)
    assert readout.regression.rotations.shape == (2, 24, 3, 3)
    assert readout.regression_joints.shape == (2, 24, 3)
    assert bool((readout.regression.translation[:, 2] > 0).all())
    torch.testing.assert_close(readout.regression_joints[:, 0],
                               readout.regression.translation, atol=1e-5, rtol=0)
