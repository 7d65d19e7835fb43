"""Specification of the Neural Body Volume (nbf_ros.nbv.volume)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nbf_ros.fitting.state import BodyState
from nbf_ros.nbv.sampling import farthest_point_sampling
from nbf_ros.nbv.volume import NeuralBodyVolume, volume_from_body
from tests.fixtures.capsule_body import capsule_body


@pytest.fixture(scope="module")
def volume() -> NeuralBodyVolume:
    return volume_from_body(capsule_body(200), feature_dim=16)


class TestVolume:
    def test_features_are_unit_vectors(self, volume):
        norms = volume.features.norm(dim=-1)
        torch.testing.assert_close(norms, torch.ones_like(norms))

    def test_kernel_radius_follows_the_sampling_density(self, volume):
        assert 0.005 < float(volume.sigma.min()) <= float(volume.sigma.max()) < 0.15

    def test_joint_kernel_weights_are_normalised(self, volume):
        torch.testing.assert_close(volume.joint_kernel_weights.sum(1), torch.ones(24))

    def test_bin_weights_follow_the_bone_direction(self, volume):
        state = BodyState.facing_camera(torch.tensor([[0.0, 0.0, 3.0]]), 24, 2)
        towards = volume.bin_weights(volume.pose(state.rotations, state.translation))
        assert towards.shape == (1, volume.num_kernels, 3)
        torch.testing.assert_close(towards.sum(-1), torch.ones(1, volume.num_kernels))

    def test_save_and_load_round_trip(self, volume, tmp_path):
        path = tmp_path / "volume.npz"
        volume.save(path)
        back = NeuralBodyVolume.load(path)
        for name in ("sigma", "features", "clutter", "joint_kernel_weights"):
            torch.testing.assert_close(getattr(back, name), getattr(volume, name))
        state = BodyState.facing_camera(torch.tensor([[0.1, 0.0, 3.0]]), 24, 2)
        torch.testing.assert_close(back.pose(state.rotations, state.translation).points,
                                   volume.pose(state.rotations, state.translation).points)

    def test_loading_another_npz_names_the_problem(self, tmp_path):
        path = tmp_path / "other.npz"
        np.savez(path, x=np.zeros(3))
        with pytest.raises(ValueError, match="not a Neural Body Volume"):
            NeuralBodyVolume.load(path)

    def test_loading_a_newer_version_names_the_version(self, volume, tmp_path):
        path = tmp_path / "v.npz"
        volume.save(path)
        data = dict(np.load(path))
        data["version"] = np.array(99)
        np.savez(path, **data)
        with pytest.raises(ValueError, match="version 99"):
            NeuralBodyVolume.load(path)

    def test_missing_file_is_named(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="missing.npz"):
            NeuralBodyVolume.load(tmp_path / "missing.npz")


class TestSampling:
    def test_farthest_points_are_spread(self):
        pts = np.random.default_rng(0).random((500, 2))
        pick = farthest_point_sampling(pts, 20)
        d = np.linalg.norm(pts[pick][:, None] - pts[pick][None], axis=-1)
        np.fill_diagonal(d, np.inf)
        assert d.min() > 0.1  # 20 random points would typically come much closer

    def test_asking_for_too_many_points_is_an_error(self):
        with pytest.raises(ValueError, match="cannot pick"):
            farthest_point_sampling(np.zeros((3, 3)), 4)


def test_set_features_keeps_the_bin_inner_products_in_step() -> None:
    vol = volume_from_body(capsule_body(200), feature_dim=16)
    new = torch.nn.functional.normalize(torch.randn_like(vol.features), dim=-1)
    clutter = torch.nn.functional.normalize(torch.randn_like(vol.clutter), dim=-1)
    vol.set_features(new, clutter)
    assert torch.equal(vol.features, new) and torch.equal(vol.clutter, clutter)
    assert torch.allclose(vol.gram, new @ new.transpose(1, 2), atol=1e-6)
