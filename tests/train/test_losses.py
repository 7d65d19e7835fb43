"""Training losses: InfoNCE over kernels and clutter with the positive's neighbours left out,
the background-is-clutter loss, Gaussian targets with CenterNet's focal loss, and the
regression loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.paths import find_model_file
from nbf_ros.train.losses import (
    background_loss,
    contrastive_loss,
    focal_loss,
    gaussian_maps,
    kernel_neighbours,
    regression_loss,
    twin_loss,
)

TEMPERATURE = 0.07


@pytest.fixture(scope="module")
def volume() -> NeuralBodyVolume:
    return NeuralBodyVolume.load(find_model_file("nbv_anny.npz"))


@pytest.fixture(scope="module")
def posed_features(volume: NeuralBodyVolume) -> torch.Tensor:
    """Kernel features [1, K, D] of one person standing in the rest pose."""
    posed = volume.pose(torch.eye(3).repeat(1, 24, 1, 1), torch.tensor([[0.0, 0.0, 3.0]]),
                        torch.zeros(1, volume.body.num_shape))
    return volume.kernel_features(posed)


def _basis(*rows: int, dim: int = 4) -> torch.Tensor:
    return torch.eye(dim)[list(rows)]


# kernel_neighbours


def test_kernel_neighbours_are_the_kernels_within_the_radius_at_rest(
    volume: NeuralBodyVolume,
) -> None:
    body = volume.body
    rest = body.rest(torch.zeros(1, body.num_shape))[0][0].double()
    dist = torch.cdist(rest, rest)

    near = kernel_neighbours(volume, 0.1)

    assert near.shape == (858, 858) and near.dtype == torch.bool
    clear = (dist - 0.1).abs() > 1e-4  # pairs not on the boundary
    assert torch.equal(near[clear], (dist < 0.1)[clear])


def test_a_kernel_is_its_own_neighbour_and_neighbours_are_mutual(
    volume: NeuralBodyVolume,
) -> None:
    near = kernel_neighbours(volume, 0.1)

    assert bool(near.diagonal().all())
    assert torch.equal(near, near.T)
    assert 1 < float(near.sum(1).float().mean()) < 858  # some neighbours, far from all


def test_a_larger_radius_gives_more_neighbours(volume: NeuralBodyVolume) -> None:
    small, large = kernel_neighbours(volume, 0.05), kernel_neighbours(volume, 0.2)

    assert bool((large | ~small).all())  # every small-radius pair is a large-radius pair
    assert int(large.sum()) > int(small.sum())


# contrastive_loss


def test_contrastive_loss_is_lower_for_features_equal_to_their_own_kernel(
    volume: NeuralBodyVolume, posed_features: torch.Tensor
) -> None:
    kfeat = posed_features
    near = kernel_neighbours(volume, 0.1)
    kernel = torch.arange(0, 858, 50)
    far = (kfeat[0, kernel] @ kfeat[0].T).argmin(1)  # least similar kernel of each
    assert not bool(near[kernel, far].any())
    group = torch.zeros(len(kernel), dtype=torch.long)

    right, _ = contrastive_loss(kfeat[0, kernel], kernel, group, kfeat, volume.clutter, near,
                                TEMPERATURE)
    wrong, _ = contrastive_loss(kfeat[0, far], kernel, group, kfeat, volume.clutter, near,
                                TEMPERATURE)

    assert float(right) < 0.1
    assert float(wrong) > float(right) + 5.0


def test_a_neighbour_of_the_positive_is_not_a_negative() -> None:
    # Kernel 1 has the positive's own feature; as a neighbour of kernel 0 it must not count.
    feature = _basis(0)
    clutter = _basis(3)
    with_twin = _basis(0, 0, 1, 2)
    twin_is_neighbour = torch.eye(4, dtype=torch.bool)
    twin_is_neighbour[0, 1] = twin_is_neighbour[1, 0] = True
    without_twin = _basis(0, 1, 2)
    truth, group = torch.tensor([0]), torch.tensor([0])

    loss_neighbour, _ = contrastive_loss(feature, truth, group, with_twin[None], clutter,
                                         twin_is_neighbour, TEMPERATURE)
    loss_alone, _ = contrastive_loss(feature, truth, group, without_twin[None], clutter,
                                     torch.eye(3, dtype=torch.bool), TEMPERATURE)
    loss_negative, _ = contrastive_loss(feature, truth, group, with_twin[None], clutter,
                                        torch.eye(4, dtype=torch.bool), TEMPERATURE)

    torch.testing.assert_close(loss_neighbour, loss_alone)
    # Were the twin a negative, it would tie with the positive: log 2 more.
    assert float(loss_negative) == pytest.approx(
        float(loss_alone) + math.log(2), abs=1e-3)


def test_contrastive_loss_matches_infonce_over_kernels_and_clutter() -> None:
    kfeat = F.normalize(torch.randn(1, 5, 4, generator=torch.Generator().manual_seed(0)), dim=-1)
    clutter = F.normalize(torch.randn(2, 4, generator=torch.Generator().manual_seed(1)), dim=-1)
    feature = F.normalize(kfeat[0, 2:3] + 0.3, dim=-1)
    near = torch.eye(5, dtype=torch.bool)

    loss, _ = contrastive_loss(feature, torch.tensor([2]), torch.tensor([0]), kfeat, clutter,
                               near, TEMPERATURE)

    logits = torch.cat((feature @ kfeat[0].T, feature @ clutter.T), 1)[0] / TEMPERATURE
    expected = -logits[2] + torch.logsumexp(logits, 0)
    torch.testing.assert_close(loss, expected)


def test_each_pixel_is_compared_with_its_own_persons_kernel_features() -> None:
    # Person 0's kernel 0 looks like e0, person 1's like e1: a pixel of person 1 showing e1
    # is right, the same pixel attributed to person 0 is wrong.
    kfeat = torch.stack((_basis(0, 2, dim=5), _basis(1, 3, dim=5)))
    clutter = _basis(4, dim=5)
    near = torch.eye(2, dtype=torch.bool)
    pixel = _basis(1, dim=5)

    own, _ = contrastive_loss(pixel, torch.tensor([0]), torch.tensor([1]), kfeat, clutter, near,
                              TEMPERATURE)
    other, _ = contrastive_loss(pixel, torch.tensor([0]), torch.tensor([0]), kfeat, clutter,
                                near, TEMPERATURE)

    assert float(own) < 0.01 < 1.0 < float(other)


def test_accuracy_is_the_share_of_pixels_whose_best_kernel_is_the_truth() -> None:
    kfeat = _basis(0, 1, 2, 3, dim=6)[None]
    clutter = _basis(5, dim=6)
    pixels = _basis(0, 1, 2, 1, dim=6)  # the last pixel shows kernel 1 but is kernel 3
    truth = torch.tensor([0, 1, 2, 3])

    _, accuracy = contrastive_loss(pixels, truth, torch.zeros(4, dtype=torch.long), kfeat,
                                   clutter, torch.eye(4, dtype=torch.bool), TEMPERATURE)

    assert float(accuracy) == pytest.approx(0.75)


def test_no_body_pixels_give_zero_loss_that_back_propagates() -> None:
    features = torch.zeros(0, 4, requires_grad=True)

    loss, accuracy = contrastive_loss(features, torch.zeros(0, dtype=torch.long),
                                      torch.zeros(0, dtype=torch.long), _basis(0, 1)[None],
                                      _basis(3), torch.eye(2, dtype=torch.bool), TEMPERATURE)
    loss.backward()

    assert float(loss.detach()) == 0.0 and float(accuracy) == 0.0
    assert features.grad is not None and features.grad.shape == (0, 4)


# background_loss


def test_background_loss_is_small_for_features_equal_to_clutter(
    volume: NeuralBodyVolume,
) -> None:
    kernels = F.normalize(volume.features.mean(1), dim=-1)

    loss = background_loss(volume.clutter, kernels, volume.clutter, TEMPERATURE)

    assert 0.0 <= float(loss) < 0.05


def test_background_loss_is_large_for_features_equal_to_kernels(
    volume: NeuralBodyVolume,
) -> None:
    kernels = F.normalize(volume.features.mean(1), dim=-1)

    loss = background_loss(kernels[::30], kernels, volume.clutter, TEMPERATURE)

    assert float(loss) > 3.0


def test_background_loss_is_minus_log_of_the_clutter_probability() -> None:
    feature = F.normalize(torch.tensor([[1.0, 0.5, 0.2, 0.0]]), dim=-1)
    kernels, clutter = _basis(1, 2), _basis(0, 3)

    loss = background_loss(feature, kernels, clutter, 1.0)

    lc, lk = feature @ clutter.T, feature @ kernels.T
    p_clutter = lc.exp().sum() / (lc.exp().sum() + lk.exp().sum())
    torch.testing.assert_close(loss, -p_clutter.log())


def test_no_background_pixels_give_zero_background_loss() -> None:
    loss = background_loss(torch.zeros(0, 4), _basis(0), _basis(1), TEMPERATURE)

    assert float(loss) == 0.0


# gaussian_maps


def test_gaussian_maps_peak_at_one_on_the_point() -> None:
    points = torch.tensor([[[3.5, 5.5], [10.5, 1.5]]])

    maps = gaussian_maps(points, torch.ones(1, 2), 8, 12, 1.0)

    assert maps.shape == (1, 2, 8, 12)
    assert float(maps[0, 0, 5, 3]) == pytest.approx(1.0)
    assert float(maps[0, 1, 1, 10]) == pytest.approx(1.0)
    assert int(maps[0, 0].argmax()) == 5 * 12 + 3
    assert int(maps[0, 1].argmax()) == 1 * 12 + 10


def test_gaussian_maps_fall_to_exp_minus_half_one_sigma_away() -> None:
    maps = gaussian_maps(torch.tensor([[[3.5, 5.5]]]), torch.ones(1, 1), 8, 12, 2.0)

    assert float(maps[0, 0, 5, 5]) == pytest.approx(math.exp(-0.5))
    assert float(maps[0, 0, 3, 3]) == pytest.approx(math.exp(-0.5))


def test_gaussian_maps_take_a_sigma_per_point() -> None:
    points = torch.tensor([[[3.5, 3.5], [3.5, 3.5]]])

    maps = gaussian_maps(points, torch.ones(1, 2), 8, 8, torch.tensor([[1.0, 2.0]]))

    assert float(maps[0, 0, 3, 4]) == pytest.approx(math.exp(-0.5))
    assert float(maps[0, 1, 3, 5]) == pytest.approx(math.exp(-0.5))


def test_gaussian_maps_are_zero_for_weight_zero() -> None:
    points = torch.tensor([[[3.5, 5.5], [10.5, 1.5]]])

    maps = gaussian_maps(points, torch.tensor([[1.0, 0.0]]), 8, 12, 1.0)

    assert float(maps[0, 1].abs().max()) == 0.0
    assert float(maps[0, 0].max()) == pytest.approx(1.0)


# focal_loss


def _target() -> torch.Tensor:
    return gaussian_maps(torch.tensor([[[3.5, 5.5], [10.5, 1.5]]]), torch.ones(1, 2), 8, 12, 1.0)


def test_focal_loss_is_near_zero_for_a_perfect_prediction() -> None:
    target = _target()
    logits = torch.where(target > 0.99, 20.0, -20.0)

    assert float(focal_loss(logits, target)) < 1e-3


def test_focal_loss_is_larger_for_an_undecided_prediction() -> None:
    target = _target()
    perfect = focal_loss(torch.where(target > 0.99, 20.0, -20.0), target)

    undecided = focal_loss(torch.zeros_like(target), target)  # probability 0.5 everywhere

    assert float(undecided) > 1.0 > float(perfect)


def test_focal_loss_penalises_false_peaks_less_near_the_true_peak() -> None:
    target = _target()
    near = torch.full_like(target, -20.0)
    far = near.clone()
    near[0, 0, 5, 4] = 0.0  # next to the peak of map 0
    far[0, 0, 0, 11] = 0.0  # in a corner

    assert float(focal_loss(near, target)) < float(focal_loss(far, target))


def test_focal_loss_is_normalised_by_the_number_of_peaks() -> None:
    target = _target()[:, :1]
    logits = torch.zeros_like(target)

    one_map = focal_loss(logits, target)
    two_maps = focal_loss(logits.repeat(1, 2, 1, 1), target.repeat(1, 2, 1, 1))

    torch.testing.assert_close(two_maps, one_map)


# regression_loss


def _rot_z(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _pose(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    rot = torch.eye(3).repeat(batch, 24, 1, 1)
    shape = torch.rand(batch, 6, generator=gen)
    joints = torch.rand(batch, 24, 3, generator=gen) + torch.tensor([0.0, 0.0, 3.0])
    return rot, shape, joints


def test_regression_loss_is_zero_for_identical_inputs() -> None:
    rot, shape, joints = _pose()

    assert float(regression_loss(rot, shape, rot, shape, joints, joints)) == 0.0


def test_regression_loss_grows_with_rotation_error() -> None:
    rot, shape, joints = _pose()
    losses = [float(regression_loss(_rot_z(a).expand_as(rot), shape, rot, shape, joints,
                                    joints)) for a in (0.0, 0.1, 0.5, 1.0, 2.0)]

    assert losses == sorted(losses) and losses[0] == 0.0
    # Squared Frobenius distance of a rotation by a from the identity: 4 (1 - cos a).
    assert losses[3] == pytest.approx(4 * (1 - math.cos(1.0)), rel=1e-5)


def test_regression_loss_ignores_a_common_shift_of_the_joints() -> None:
    rot, shape, joints = _pose()

    loss = regression_loss(rot, shape, rot, shape, joints + torch.tensor([0.3, -0.2, 1.0]),
                           joints)

    assert float(loss) == pytest.approx(0.0, abs=1e-6)


def test_regression_loss_counts_shape_and_joint_errors() -> None:
    rot, shape, joints = _pose()
    moved = joints.clone()
    moved[:, 5] += torch.tensor([0.0, 0.24, 0.0])  # one joint off by 24 cm in y

    shape_loss = regression_loss(rot, shape + 0.5, rot, shape, joints, joints)
    joint_loss = regression_loss(rot, shape, rot, shape, moved, joints)

    assert float(shape_loss) == pytest.approx(0.5)
    assert float(joint_loss) == pytest.approx(10.0 * 0.24 / (24 * 3), rel=1e-4)


# twin_loss


def test_twin_loss_is_low_when_features_match_their_kernel_and_high_when_the_twins() -> None:
    kernel, twin = _basis(0, 0), _basis(1, 1)

    right = twin_loss(kernel, kernel, twin, TEMPERATURE)
    wrong = twin_loss(twin, kernel, twin, TEMPERATURE)

    assert float(right) < 1e-5
    assert float(wrong) == pytest.approx(1.0 / TEMPERATURE, rel=1e-4)


def test_twin_loss_is_log_two_when_the_feature_cannot_tell_them_apart() -> None:
    between = F.normalize(_basis(0) + _basis(1), dim=-1)

    loss = twin_loss(between, _basis(0), _basis(1), TEMPERATURE)

    assert float(loss) == pytest.approx(math.log(2.0), rel=1e-5)


def test_twin_loss_of_no_pixels_is_zero_and_keeps_the_graph() -> None:
    empty = torch.zeros(0, 4, requires_grad=True)

    loss = twin_loss(empty, torch.zeros(0, 4), torch.zeros(0, 4), TEMPERATURE)

    assert loss.requires_grad and float(loss.detach()) == 0.0
