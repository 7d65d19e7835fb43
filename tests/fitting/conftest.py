"""Fixtures of the fitting tests: a small procedural body volume and feature scenes."""

from __future__ import annotations

import pytest
import torch

from nbf_ros.nbv.volume import NeuralBodyVolume, volume_from_body
from tests.fixtures.capsule_body import capsule_body


@pytest.fixture(scope="session")
def capsule_volume() -> NeuralBodyVolume:
    """A 400-kernel volume on the capsule body with untrained (smooth random) features."""
    torch.manual_seed(0)
    return volume_from_body(capsule_body(400), feature_dim=32)
