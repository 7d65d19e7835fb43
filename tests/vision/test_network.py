"""FeatureNet: head shapes at stride 4, unit features, input checks, an identity-rotation start,
the 6D rotation representation and a weight budget that fits a 16 MiB model file."""

from __future__ import annotations

import math

import pytest
import torch

from nbf_ros.vision.network import FeatureNet, NetOutput, NetworkConfig, rotation_6d_to_matrix


@pytest.fixture(scope="module")
def net() -> FeatureNet:
    torch.manual_seed(0)
    return FeatureNet().eval()


@pytest.fixture(scope="module")
def out(net: FeatureNet) -> NetOutput:
    image = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return net(image)


def test_maps_are_at_a_quarter_of_the_input_size(out: NetOutput) -> None:
    assert out.features.shape == (2, 64, 16, 24)
    assert out.heatmaps.shape == (2, 24, 16, 24)
    assert out.centre.shape == (2, 1, 16, 24)
    assert out.size.shape == (2, 2, 16, 24)


def test_regression_gives_a_6d_rotation_per_joint_and_shape_offsets(out: NetOutput) -> None:
    assert out.pose6d.shape == (2, 24, 6)
    assert out.shape.shape == (2, 6)


def test_head_sizes_follow_the_config() -> None:
    cfg = NetworkConfig(feature_dim=16, num_joints=5, num_shape=3, widths=(8, 8, 8, 8, 8),
                        decoder_width=8, blocks=1)
    with torch.no_grad():
        out = FeatureNet(cfg).eval()(torch.rand(1, 3, 32, 64))

    assert out.features.shape == (1, 16, 8, 16)
    assert out.heatmaps.shape == (1, 5, 8, 16)
    assert out.pose6d.shape == (1, 5, 6)
    assert out.shape.shape == (1, 3)


def test_features_are_unit_vectors(out: NetOutput) -> None:
    norms = out.features.norm(dim=1)

    torch.testing.assert_close(norms, torch.ones_like(norms))


@pytest.mark.parametrize("size", [(64, 80), (48, 96), (33, 64)])
def test_sizes_not_multiple_of_32_are_refused(net: FeatureNet, size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        net(torch.rand(1, 3, *size))


@pytest.mark.parametrize("shape", [(1, 1, 64, 64), (1, 4, 64, 64), (3, 64, 64)])
def test_inputs_other_than_batches_of_rgb_images_are_refused(
    net: FeatureNet, shape: tuple[int, ...]
) -> None:
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        net(torch.rand(*shape))


def _rest_pose_upright(rot: torch.Tensor) -> torch.Tensor:
    """The rest pose with the root upright before the camera (half a turn about x): body up
    on camera up. An identity root would stand the body on its head, where the 6D loss
    has no gradient."""
    expect = torch.eye(3).expand_as(rot).clone()
    expect[:, 0] = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    return expect


def test_a_fresh_network_regresses_the_rest_pose_standing_upright(out: NetOutput) -> None:
    rot = rotation_6d_to_matrix(out.pose6d)

    torch.testing.assert_close(rot, _rest_pose_upright(rot), atol=0.02, rtol=0)


def test_a_fresh_network_regresses_the_rest_pose_in_training_mode() -> None:
    torch.manual_seed(2)
    net = FeatureNet().train()
    with torch.no_grad():
        rot = rotation_6d_to_matrix(net(torch.rand(2, 3, 32, 32)).pose6d)

    torch.testing.assert_close(rot, _rest_pose_upright(rot), atol=0.02, rtol=0)


def test_detection_heads_start_predicting_no_person(out: NetOutput) -> None:
    # CenterNet's prior: sigmoid(-2.19) ~ 0.1 everywhere, not 0.5.
    assert float(out.centre.sigmoid().mean()) < 0.3
    assert float(out.heatmaps.sigmoid().mean()) < 0.3


def _random_6d(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_6d_to_matrix_gives_proper_rotations() -> None:
    rot = rotation_6d_to_matrix(_random_6d(200, 3))

    eye = torch.eye(3, dtype=torch.float64).expand(200, 3, 3)
    torch.testing.assert_close(rot.transpose(-1, -2) @ rot, eye)
    torch.testing.assert_close(torch.linalg.det(rot), torch.ones(200, dtype=torch.float64))


def test_6d_to_matrix_columns_are_the_gram_schmidt_of_the_two_inputs() -> None:
    d6 = _random_6d(50, 4)
    a1, a2 = d6[:, :3], d6[:, 3:]
    b1 = a1 / a1.norm(dim=-1, keepdim=True)
    u2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = u2 / u2.norm(dim=-1, keepdim=True)

    rot = rotation_6d_to_matrix(d6)

    torch.testing.assert_close(rot[..., 0], b1)
    torch.testing.assert_close(rot[..., 1], b2)


def test_6d_of_a_rotation_matrix_gives_the_matrix_back() -> None:
    angle = 0.7
    c, s = math.cos(angle), math.sin(angle)
    rot = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    d6 = torch.cat((rot[:, 0], rot[:, 1]))

    torch.testing.assert_close(rotation_6d_to_matrix(d6), rot)


def test_6d_to_matrix_keeps_leading_dimensions() -> None:
    assert rotation_6d_to_matrix(torch.randn(2, 24, 6)).shape == (2, 24, 3, 3)


def test_network_config_round_trips_through_plain_data() -> None:
    cfg = NetworkConfig(feature_dim=32, num_joints=17, num_shape=10, widths=(8, 16, 24, 32),
                        decoder_width=24, blocks=3)

    data = cfg.to_dict()

    assert data["widths"] == [8, 16, 24, 32]  # plain lists, as YAML and torch.save keep them
    assert NetworkConfig.from_dict(data) == cfg
    assert NetworkConfig.from_dict(NetworkConfig().to_dict()) == NetworkConfig()


def test_default_network_weights_fit_a_16_mib_float32_file(net: FeatureNet) -> None:
    count = sum(p.numel() for p in net.parameters()) + sum(b.numel() for b in net.buffers())

    assert count * 4 < 16 * 2**20
