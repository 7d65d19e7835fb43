"""Kernel geometry matched to the body's silhouette (nbf_ros.nbv.silhouette)."""

from __future__ import annotations

import pytest
import torch

from nbf_ros.fitting.state import BodyState
from nbf_ros.nbv.camera import CropCamera
from nbf_ros.nbv.renderer import RenderConfig, render
from nbf_ros.nbv.silhouette import (
    Geometry,
    inset_volume,
    kernel_normals,
    match_silhouettes,
    silhouette_agreement,
)
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.paths import find_model_file
from nbf_ros.synth.mesh import BodyMesh


@pytest.fixture(scope="module")
def volume() -> NeuralBodyVolume:
    return NeuralBodyVolume.load(find_model_file("nbv_anny.npz"))


@pytest.fixture(scope="module")
def normals(volume: NeuralBodyVolume) -> torch.Tensor:
    mesh = BodyMesh.default()
    return kernel_normals(volume, mesh.rest_vertices()[0], mesh.faces)


@pytest.fixture(scope="module")
def view(volume: NeuralBodyVolume) -> tuple[BodyState, CropCamera]:
    state = BodyState.facing_camera(torch.tensor([[0.0, 0.0, 3.0]]), 24, 6)
    K = torch.tensor([[[40.0, 0.0, 16.0], [0.0, 40.0, 16.0], [0.0, 0.0, 1.0]]])
    return state, CropCamera(K, 32, 32)


def test_normals_are_unit_and_point_out_of_the_body(volume: NeuralBodyVolume,
                                                    normals: torch.Tensor) -> None:
    assert torch.allclose(normals.norm(dim=-1), torch.ones(len(normals)), atol=1e-5)
    # Outward: moving along the normal takes a kernel away from its bone's joint.
    points, joints = volume.body.rest(torch.zeros(1, 6))
    owner = joints[0][volume.kernel_joint]
    out = ((points[0] + 0.01 * normals - owner).norm(dim=-1)
           > (points[0] - owner).norm(dim=-1)).float().mean()
    assert float(out) > 0.9


def test_identity_geometry_leaves_the_volume_unchanged(volume: NeuralBodyVolume,
                                                       normals: torch.Tensor) -> None:
    same = inset_volume(volume, normals, Geometry(1.0, 0.0))
    assert torch.equal(same.sigma, volume.sigma)
    assert torch.allclose(same.body.point_template, volume.body.point_template)
    assert torch.allclose(same.features, volume.features, atol=1e-6)  # renormalised once more


def test_inset_moves_each_kernel_inwards_by_its_scaled_radius(volume: NeuralBodyVolume,
                                                              normals: torch.Tensor) -> None:
    moved = inset_volume(volume, normals, Geometry(0.5, 2.0))
    shift = volume.body.point_template - moved.body.point_template
    expected = 2.0 * 0.5 * volume.sigma[:, None] * normals
    assert torch.allclose(shift, expected, atol=1e-6)
    assert torch.allclose(moved.sigma, 0.5 * volume.sigma)


def test_a_render_agrees_perfectly_with_its_own_coverage(volume: NeuralBodyVolume, view) -> None:
    state, cam = view
    posed = volume.pose(state.rotations, state.translation, state.shape)
    mask = render(posed.points, volume.sigma, cam, RenderConfig()).foreground.view(1, 32, 32) > 0.5
    ratio, iou = silhouette_agreement(volume, state.rotations, state.translation, state.shape,
                                      cam, mask, RenderConfig().opacity)
    assert ratio == pytest.approx(1.0) and iou == pytest.approx(1.0)


def test_smaller_inset_kernels_cover_less(volume: NeuralBodyVolume, normals: torch.Tensor,
                                          view) -> None:
    state, cam = view
    areas = []
    for geo in (Geometry(1.0, 0.0, 5.0), Geometry(0.5, 1.0, 1.0)):
        vol = inset_volume(volume, normals, geo)
        posed = vol.pose(state.rotations, state.translation, state.shape)
        cover = render(posed.points, vol.sigma, cam, RenderConfig(opacity=geo.opacity))
        areas.append(float((cover.foreground > 0.5).sum()))
    assert areas[1] < 0.8 * areas[0]


def test_the_best_row_is_chosen(volume: NeuralBodyVolume, normals: torch.Tensor, view) -> None:
    state, cam = view
    thin = inset_volume(volume, normals, Geometry(0.5, 1.0, 1.0))
    posed = thin.pose(state.rotations, state.translation, state.shape)
    mask = render(posed.points, thin.sigma, cam, RenderConfig(opacity=1.0)).foreground.view(
        1, 32, 32) > 0.5
    best, rows = match_silhouettes(volume, normals, state.rotations, state.translation,
                                   state.shape, cam, mask, scales=(0.5, 1.0), insets=(0.0, 1.0),
                                   opacities=(1.0, 5.0))
    assert len(rows) == 8
    assert best == Geometry(0.5, 1.0, 1.0)
    assert max(r[2] for r in rows) == pytest.approx(1.0)
