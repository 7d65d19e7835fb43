"""BodyMesh: the shipped mesh file, its kernel labels, saving and loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.paths import find_model_file
from nbf_ros.synth.mesh import BodyMesh


def test_default_loads_the_shipped_mesh(mesh: BodyMesh) -> None:
    assert mesh.num_vertices == mesh.body.num_points > 1000
    assert mesh.faces.dtype == torch.long and mesh.faces.shape[1] == 3
    assert 0 <= int(mesh.faces.min()) and int(mesh.faces.max()) < mesh.num_vertices
    assert mesh.vertex_kernel.shape == (mesh.num_vertices,)
    assert mesh.vertex_joint.shape == (mesh.num_vertices,)


def test_vertex_kernels_index_the_volumes_kernels(mesh: BodyMesh,
                                                  volume: NeuralBodyVolume) -> None:
    kernels = mesh.vertex_kernel
    assert int(kernels.min()) >= 0 and int(kernels.max()) < volume.num_kernels
    # Most kernels label some vertex: the labels spread over the whole body.
    assert len(torch.unique(kernels)) > 0.9 * volume.num_kernels


def test_mesh_and_volume_share_one_skeleton(mesh: BodyMesh, volume: NeuralBodyVolume) -> None:
    assert mesh.body.joint_names == volume.body.joint_names
    assert mesh.body.parents == volume.body.parents
    assert mesh.body.num_shape == volume.body.num_shape
    shape = torch.zeros(1, mesh.body.num_shape)
    torch.testing.assert_close(mesh.body.rest(shape)[1], volume.body.rest(shape)[1],
                               atol=1e-4, rtol=0.0)


def test_vertex_kernel_is_the_nearest_kernel_at_rest(mesh: BodyMesh,
                                                     volume: NeuralBodyVolume) -> None:
    shape = torch.zeros(1, mesh.body.num_shape)
    vertices = mesh.rest_vertices()[0]
    kernels = volume.body.rest(shape)[0][0]
    picked = (vertices - kernels[mesh.vertex_kernel]).norm(dim=-1)
    nearest = torch.cdist(vertices, kernels,
                          compute_mode="donot_use_mm_for_euclid_dist").amin(1)
    # Within a millimetre: the labels were chosen in float32, where near-ties may flip.
    assert (picked - nearest).max() < 1e-3


def test_save_then_load_round_trips(mesh: BodyMesh, tmp_path: Path) -> None:
    path = tmp_path / "mesh.npz"
    mesh.save(path)
    loaded = BodyMesh.load(path)

    assert torch.equal(loaded.faces, mesh.faces)
    assert torch.equal(loaded.vertex_kernel, mesh.vertex_kernel)
    assert torch.equal(loaded.vertex_joint, mesh.vertex_joint)
    original, restored = mesh.body.state(), loaded.body.state()
    assert original.keys() == restored.keys()
    for key, value in original.items():
        np.testing.assert_array_equal(restored[key], value, err_msg=key)


def test_loading_another_model_file_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a body mesh file"):
        BodyMesh.load(find_model_file("nbv_anny.npz"))


def test_loading_a_file_that_is_not_npz_is_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.npz"
    path.write_text("not a mesh\n")
    with pytest.raises(ValueError):
        BodyMesh.load(path)


def test_loading_a_newer_format_version_is_a_value_error(mesh: BodyMesh, tmp_path: Path) -> None:
    path = tmp_path / "mesh.npz"
    mesh.save(path)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["version"] = np.array(99)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="version 99"):
        BodyMesh.load(path)


def test_loading_a_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="body mesh file not found"):
        BodyMesh.load(tmp_path / "missing.npz")


def test_faces_outside_the_vertex_range_are_rejected(mesh: BodyMesh) -> None:
    faces = mesh.faces.clone()
    faces[0, 0] = mesh.num_vertices
    with pytest.raises(ValueError, match="faces"):
        BodyMesh(mesh.body, faces, mesh.vertex_kernel)


def test_a_kernel_label_per_vertex_is_required(mesh: BodyMesh) -> None:
    with pytest.raises(ValueError, match="vertex_kernel"):
        BodyMesh(mesh.body, mesh.faces, mesh.vertex_kernel[:-1])
