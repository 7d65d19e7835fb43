"""FeatureMemory: kernel bins and clutter entries follow the image features they explain as
moving averages, in place in the volume, staying unit vectors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.paths import find_model_file
from nbf_ros.train.memory import FeatureMemory


@pytest.fixture()
def volume() -> NeuralBodyVolume:
    """A fresh volume per test: the memory changes it in place."""
    return NeuralBodyVolume.load(find_model_file("nbv_anny.npz"))


def _unit(rows: int, dim: int = 64, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed)),
                       dim=-1)


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a, b, dim=-1))


def _kernel_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Four features of kernel 7, all on its bin 0, and two of kernel 100 split over bins."""
    features = _unit(6, seed=1)
    kernel = torch.tensor([7, 7, 7, 7, 100, 100])
    bins = torch.tensor([[1.0, 0.0, 0.0]] * 4 + [[0.0, 0.5, 0.5]] * 2)
    return features, kernel, bins


def test_update_kernels_moves_a_seen_bin_towards_the_mean_feature(
    volume: NeuralBodyVolume,
) -> None:
    features, kernel, bins = _kernel_batch()
    target = F.normalize(features[:4].mean(0), dim=0)
    before = _cos(volume.features[7, 0], target)

    FeatureMemory(volume, momentum=0.9).update_kernels(features, kernel, bins)

    assert _cos(volume.features[7, 0], target) > before + 0.01


def test_update_kernels_with_full_weight_mixes_by_the_momentum(
    volume: NeuralBodyVolume,
) -> None:
    features, kernel, bins = _kernel_batch()
    old = volume.features[7, 0].clone()
    target = F.normalize(features[:4].mean(0), dim=0)

    FeatureMemory(volume, momentum=0.9).update_kernels(features, kernel, bins)

    torch.testing.assert_close(volume.features[7, 0], F.normalize(0.9 * old + 0.1 * target,
                                                                  dim=0))


def test_update_kernels_with_momentum_zero_sets_the_bin_to_the_mean_feature(
    volume: NeuralBodyVolume,
) -> None:
    features, kernel, bins = _kernel_batch()

    FeatureMemory(volume, momentum=0.0).update_kernels(features, kernel, bins)

    torch.testing.assert_close(volume.features[7, 0], F.normalize(features[:4].mean(0), dim=0))


def test_update_kernels_moves_a_partly_weighted_bin_less(volume: NeuralBodyVolume) -> None:
    # Kernel 100's bins 1 and 2 each get weight 0.5 + 0.5 = 1 (full step); a single feature
    # with bin weight 0.3 moves its bin by a smaller step.
    feature = _unit(1, seed=2)
    full, part = volume.features[200, 1].clone(), volume.features[300, 1].clone()
    memory = FeatureMemory(volume, momentum=0.5)

    memory.update_kernels(torch.cat((feature, feature)), torch.tensor([200, 300]),
                          torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.3, 0.0]]))

    step_full = _cos(volume.features[200, 1], feature[0]) - _cos(full, feature[0])
    step_part = _cos(volume.features[300, 1], feature[0]) - _cos(part, feature[0])
    assert step_full > step_part > 0


def test_update_kernels_leaves_unseen_kernels_and_bins_unchanged(
    volume: NeuralBodyVolume,
) -> None:
    features, kernel, bins = _kernel_batch()
    before = volume.features.clone()

    FeatureMemory(volume).update_kernels(features, kernel, bins)

    changed = (volume.features != before).any(-1)  # [K, NB]
    expected = torch.zeros_like(changed)
    expected[7, 0] = expected[100, 1] = expected[100, 2] = True
    assert torch.equal(changed, expected)


def test_update_kernels_keeps_features_unit_vectors(volume: NeuralBodyVolume) -> None:
    features, kernel, bins = _kernel_batch()

    FeatureMemory(volume).update_kernels(features, kernel, bins)

    norms = volume.features.norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones_like(norms))


def test_update_kernels_refreshes_the_gram_matrices(volume: NeuralBodyVolume) -> None:
    features, kernel, bins = _kernel_batch()

    FeatureMemory(volume).update_kernels(features, kernel, bins)

    gram = torch.einsum("knd,kld->knl", volume.features, volume.features)
    torch.testing.assert_close(volume.gram, gram)
    assert float(volume.gram[7, 0, 1]) != pytest.approx(
        float(NeuralBodyVolume.load(find_model_file("nbv_anny.npz")).gram[7, 0, 1]))


def test_update_kernels_with_no_features_changes_nothing(volume: NeuralBodyVolume) -> None:
    before = volume.features.clone()

    FeatureMemory(volume).update_kernels(torch.zeros(0, 64), torch.zeros(0, dtype=torch.long),
                                         torch.zeros(0, 3))

    assert torch.equal(volume.features, before)


def _near(entry: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """Unit features close to a clutter entry."""
    return F.normalize(entry + 0.2 * _unit(count, seed=seed), dim=-1)


def test_update_clutter_moves_the_nearest_entry_towards_its_features(
    volume: NeuralBodyVolume,
) -> None:
    bank = volume.clutter
    features = _near(bank[3], 5, seed=3)
    assert bool(((features @ bank.T).argmax(1) == 3).all())
    target = F.normalize(features.mean(0), dim=0)
    before = bank.clone()

    FeatureMemory(volume, momentum=0.9).update_clutter(features)

    assert _cos(bank[3], target) > _cos(before[3], target)
    changed = (bank != before).any(-1)
    assert changed.nonzero()[:, 0].tolist() == [3]
    norms = bank.norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones_like(norms))


def test_update_clutter_reseeds_entries_idle_for_more_than_reseed_after_updates(
    volume: NeuralBodyVolume,
) -> None:
    bank = volume.clutter
    features = _near(bank[0], 4, seed=4)
    memory = FeatureMemory(volume, momentum=0.9, reseed_after=2)
    original = bank.clone()

    memory.update_clutter(features, torch.Generator().manual_seed(0))
    memory.update_clutter(features, torch.Generator().manual_seed(0))
    # Idle for 2 updates: not more than reseed_after, so still the original entries.
    assert torch.equal(bank[1:], original[1:])
    assert memory.idle[1:].tolist() == [2] * (len(bank) - 1)

    memory.update_clutter(features, torch.Generator().manual_seed(0))

    # Idle for 3 updates: every unpicked entry is now one of the background features.
    match = (bank[1:, None, :] == features[None]).all(-1).any(-1)
    assert bool(match.all())
    assert int(memory.idle.max()) == 0


def test_an_entry_picked_again_is_not_reseeded(volume: NeuralBodyVolume) -> None:
    bank = volume.clutter
    memory = FeatureMemory(volume, momentum=0.9, reseed_after=1)

    memory.update_clutter(_near(bank[5], 3, seed=5))
    memory.update_clutter(_near(bank[6], 3, seed=6))
    entry_6 = bank[6].clone()
    memory.update_clutter(_near(bank[5], 3, seed=7))

    # Entry 6 was idle for 1 update only; entries idle for 2 were re-seeded.
    assert torch.equal(bank[6], entry_6)
    assert memory.idle[6] == 1 and memory.idle[5] == 0


def test_update_clutter_with_no_features_changes_nothing(volume: NeuralBodyVolume) -> None:
    before = volume.clutter.clone()
    memory = FeatureMemory(volume)

    memory.update_clutter(torch.zeros(0, 64))

    assert torch.equal(volume.clutter, before)
    assert int(memory.idle.max()) == 0


@pytest.mark.parametrize("momentum", [-0.1, 1.0, 1.5])
def test_momentum_outside_zero_to_one_is_refused(volume: NeuralBodyVolume,
                                                 momentum: float) -> None:
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        FeatureMemory(volume, momentum=momentum)
