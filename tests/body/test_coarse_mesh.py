"""CoarseMesh: a clustered Anny mesh that follows the full mesh's pose."""

from __future__ import annotations

import pytest
import torch

from nbf_ros.body.coarse_mesh import CoarseMesh
from nbf_ros.synth.mesh import BodyMesh


@pytest.fixture(scope="module")
def mesh() -> BodyMesh:
    return BodyMesh.default()


def test_clustering_keeps_a_few_thousand_valid_triangles(mesh: BodyMesh) -> None:
    coarse = CoarseMesh(mesh, cell=0.04)
    assert 500 < len(coarse.faces) < len(mesh.faces) // 5
    assert coarse.faces.min() >= 0 and coarse.faces.max() < coarse.num_vertices
    assert (coarse.faces[:, 0] != coarse.faces[:, 1]).all()


def test_posed_coarse_vertices_stay_on_the_posed_body(mesh: BodyMesh) -> None:
    coarse = CoarseMesh(mesh, cell=0.04)
    J = mesh.body.num_joints
    rot = torch.eye(3).expand(1, J, 3, 3).clone()
    trans = torch.tensor([[0.3, -0.1, 3.0]])
    full = mesh.pose(rot, trans).points[0]
    small = coarse.pose(rot, trans)[0]
    # Every coarse vertex lies within a grid cell of some full-mesh vertex.
    assert torch.cdist(small, full).min(1).values.max() < 0.04
    # And the coarse mesh still spans the whole body (same extent to within a cell).
    assert (small.min(0).values - full.min(0).values).abs().max() < 0.04
    assert (small.max(0).values - full.max(0).values).abs().max() < 0.04


def test_non_positive_cell_is_refused(mesh: BodyMesh) -> None:
    with pytest.raises(ValueError):
        CoarseMesh(mesh, cell=0.0)
