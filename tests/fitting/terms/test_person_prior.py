"""The person mask as the clutter model's prior, against hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from nbf_ros.fitting.terms.person_prior import pool_prior, with_person_prior


def test_an_even_pixel_follows_the_mask():
    # Kernels and clutter even (C = 0.5); the mask says person with 0.9: Z = 0.5, so the
    # clutter drops to 0.1 and each kernel's probability grows by 0.9 / 0.5.
    log_z, clutter = torch.tensor([[2.0]]), torch.tensor([[0.5]])
    new_log_z, new_clutter = with_person_prior(log_z, clutter, torch.tensor([[0.9]]), 0.05)
    assert new_clutter.item() == pytest.approx(0.1)
    assert new_log_z.item() == pytest.approx(2.0 - math.log(0.9) + math.log(0.5))


def test_the_posterior_still_sums_to_one():
    scores = torch.tensor([[1.0, 0.3, -0.5, 0.8]])  # three kernels and clutter, over T
    log_z = torch.logsumexp(scores, -1, keepdim=True)
    clutter = torch.exp(scores[:, 3:] - log_z)
    new_log_z, new_clutter = with_person_prior(log_z, clutter, torch.tensor([[0.2]]), 0.05)
    kernels = torch.exp(scores[:, :3] - new_log_z).sum()
    assert (kernels + new_clutter.sum()).item() == pytest.approx(1.0, abs=1e-6)
    assert new_clutter.item() > clutter.item()  # off the mask: more clutter


def test_the_floor_keeps_a_mask_from_vetoing_the_features():
    log_z, clutter = torch.zeros(1, 1), torch.tensor([[0.3]])
    _, off = with_person_prior(log_z, clutter, torch.zeros(1, 1), 0.1)
    _, floor = with_person_prior(log_z, clutter, torch.full((1, 1), 0.1), 0.1)
    assert off.item() == pytest.approx(floor.item()) and off.item() < 1.0


def test_the_coarse_prior_is_the_mean_of_each_two_by_two_block():
    prior = torch.tensor([[0.0, 1.0, 0.2, 0.2],
                          [1.0, 0.0, 0.2, 0.2]]).reshape(1, 8)
    torch.testing.assert_close(pool_prior(prior, 2, 4), torch.tensor([[0.5, 0.2]]))
