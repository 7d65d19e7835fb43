"""Specification of AnnyBody (Anny behind the BodyModel interface) and its cache helpers.

Anny is loaded once per module from the compact cache (``python -m nbf_ros.body.anny_cache``;
a missing cache is built on first use, about 2 minutes).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nbf_ros.body import anny_cache
from nbf_ros.body.anny_body import AnnyBody
from nbf_ros.body.base import barycentric_interpolate
from nbf_ros.body.compact import CompactBody
from nbf_ros.body.joints import SMPL24_NAMES, joint_index
from nbf_ros.body.rotations import axis_angle_to_matrix

NUM_POINTS = 858  # the Neural Body Volume's kernel count


def random_rotations(batch: int, max_degrees: float, seed: int) -> torch.Tensor:  # [B, 24, 3, 3]
    """Local rotations about random axes, angles uniform up to ``max_degrees``, every joint."""
    gen = torch.Generator().manual_seed(seed)
    axis = torch.nn.functional.normalize(torch.randn(batch, 24, 3, generator=gen), dim=-1)
    angle = torch.rand(batch, 24, 1, generator=gen) * math.radians(max_degrees)
    return axis_angle_to_matrix(axis * angle)


@pytest.fixture(scope="module")
def body() -> AnnyBody:
    return AnnyBody()


@pytest.fixture(scope="module")
def surface_points(body: AnnyBody) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Face index [N], barycentric [N, 3], and a mask [N] of points that sit on a vertex."""
    gen = torch.Generator().manual_seed(1)
    face_index = torch.randint(0, body.faces.shape[0], (NUM_POINTS,), generator=gen)
    bary = torch.rand(NUM_POINTS, 3, generator=gen)
    on_vertex = torch.arange(NUM_POINTS) % 2 == 0
    corner = torch.randint(0, 3, (NUM_POINTS,), generator=gen)
    bary[on_vertex] = torch.nn.functional.one_hot(corner[on_vertex], 3).float()
    return face_index, bary / bary.sum(1, keepdim=True), on_vertex


@pytest.fixture(scope="module")
def compact(body: AnnyBody, surface_points) -> CompactBody:
    face_index, bary, _ = surface_points
    return body.export_compact(face_index.numpy(), bary.numpy())


def posed(body: AnnyBody, rotations: torch.Tensor, translation: torch.Tensor | None = None,
          shape: torch.Tensor | None = None):
    """Forward pass without autograd bookkeeping."""
    if translation is None:
        translation = torch.zeros(rotations.shape[0], 3)
    with torch.no_grad():
        return body(rotations, translation, shape)


class TestAnnyBodyLayout:
    def test_outputs_24_smpl_joints_and_full_mesh_in_float32(self, body: AnnyBody) -> None:
        out = posed(body, *body.zero_pose(1))
        assert body.joint_names == SMPL24_NAMES
        assert out.joints.shape == (1, 24, 3)
        assert out.vertices.shape == (1, body.num_vertices, 3) == (1, 13718, 3)
        assert out.rotations.shape == (1, 24, 3, 3)
        assert body.faces.shape == (27420, 3) and body.faces.dtype == torch.long
        assert {out.vertices.dtype, out.joints.dtype, out.rotations.dtype} == {torch.float32}

    def test_shape_names_are_annys_default_phenotypes(self, body: AnnyBody) -> None:
        assert body.shape_names == (
            "gender", "age", "muscle", "weight", "height", "proportions")
        assert body.num_shape == 6

    def test_vertex_weights_cover_every_vertex(self, body: AnnyBody) -> None:
        sums = body.vertex_weights.sum(1)
        torch.testing.assert_close(sums, torch.ones_like(sums), atol=1e-5, rtol=0)


class TestAnnyBodyFrame:
    def test_zero_pose_has_pelvis_at_origin_and_head_above(self, body: AnnyBody) -> None:
        joints = posed(body, *body.zero_pose(1)).joints[0]
        assert torch.equal(joints[0], torch.zeros(3))
        assert joints[joint_index("head"), 1] > 0.5  # +Y up, metres

    def test_body_faces_plus_z(self, body: AnnyBody) -> None:
        out = posed(body, *body.zero_pose(1))
        joints, vertices = out.joints[0], out.vertices[0]
        ankle = joints[joint_index("left_ankle")]
        assert joints[joint_index("left_foot"), 2] > ankle[2] + 0.05  # toe base ahead
        sole = vertices[(vertices[:, 1] < ankle[1]) & (vertices[:, 0] > 0)]  # left foot, low
        toes, heel = sole[:, 2].max() - ankle[2], ankle[2] - sole[:, 2].min()
        assert toes > 2 * heel > 0

    def test_left_joints_have_larger_x_than_right(self, body: AnnyBody) -> None:
        joints = posed(body, *body.zero_pose(1)).joints[0]
        for name in SMPL24_NAMES:
            if name.startswith("left_"):
                right = joint_index(name.replace("left_", "right_"))
                assert joints[joint_index(name), 0] > joints[right, 0] + 0.02, name

    def test_rest_vertices_equal_zero_pose_mesh(self, body: AnnyBody) -> None:
        shape = torch.tensor([[0.2, 0.1, -0.1, 0.1, 0.3, -0.2]])
        out = posed(body, *body.zero_pose(1), shape=shape)
        with torch.no_grad():
            rest = body.rest_vertices(shape)
        torch.testing.assert_close(rest, out.vertices, atol=1e-6, rtol=0)


class TestAnnyBodyPose:
    def test_translation_moves_everything_by_itself(self, body: AnnyBody) -> None:
        rotations = random_rotations(2, 45.0, seed=2)
        translation = torch.tensor([[0.3, -1.2, 4.0], [-2.0, 0.5, 1.5]])
        still, moved = posed(body, rotations), posed(body, rotations, translation)
        assert torch.equal(moved.joints[:, 0], translation)
        torch.testing.assert_close(moved.joints - still.joints,
                                   translation[:, None].expand_as(still.joints))
        torch.testing.assert_close(moved.vertices - still.vertices,
                                   translation[:, None].expand_as(still.vertices))

    def test_elbow_bend_moves_only_forearm_and_hand(self, body: AnnyBody) -> None:
        rotations, _ = body.zero_pose(1)
        bent = rotations.clone()
        # A quarter turn about the vertical axis: the forearm's outward part swings forwards.
        quarter_turn = torch.tensor([0.0, -math.pi / 2, 0.0])
        bent[0, joint_index("left_elbow")] = axis_angle_to_matrix(quarter_turn)
        moved = (posed(body, bent).vertices - posed(body, rotations).vertices).norm(dim=-1)[0]
        forearm = [joint_index(n) for n in ("left_elbow", "left_wrist", "left_hand")]
        weight = body.vertex_weights[:, forearm].sum(1)
        hand = body.vertex_weights[:, forearm[1:]].sum(1) > 0.99
        assert (moved[weight == 0] < 1e-6).all()
        assert (moved[hand] > 0.1).all()  # the hand is 20 cm off the vertical through the elbow
        assert 500 < int((moved > 1e-6).sum()) < body.num_vertices // 4

    def test_joint_rotations_compose_along_the_chain(self, body: AnnyBody) -> None:
        rotations = random_rotations(1, 60.0, seed=3)
        glob = posed(body, rotations).rotations[0]
        expected = rotations[0, 0] @ rotations[0, joint_index("left_hip")]
        expected = expected @ rotations[0, joint_index("left_knee")]
        torch.testing.assert_close(glob[joint_index("left_knee")], expected, atol=1e-5, rtol=0)

    def test_batch_of_four_matches_one_by_one(self, body: AnnyBody) -> None:
        rotations = random_rotations(4, 60.0, seed=4)
        translation = torch.randn(4, 3, generator=torch.Generator().manual_seed(4))
        shape = torch.linspace(-0.2, 0.2, 24).reshape(4, 6)
        batch = posed(body, rotations, translation, shape)
        for i in range(4):
            one = posed(body, rotations[i:i + 1], translation[i:i + 1], shape[i:i + 1])
            torch.testing.assert_close(batch.vertices[i:i + 1], one.vertices, atol=1e-5, rtol=0)
            torch.testing.assert_close(batch.joints[i:i + 1], one.joints, atol=1e-5, rtol=0)

    def test_gradients_reach_rotations_and_shape(self, body: AnnyBody) -> None:
        rotations = random_rotations(2, 30.0, seed=5).requires_grad_()
        shape = torch.zeros(2, 6, requires_grad=True)
        translation = torch.zeros(2, 3, requires_grad=True)
        out = body(rotations, translation, shape)
        (out.vertices.square().sum() + out.joints.square().sum()).backward()
        for name, t in (("rotations", rotations), ("translation", translation), ("shape", shape)):
            assert t.grad is not None and torch.isfinite(t.grad).all(), name
            assert t.grad.abs().sum() > 0, name
        assert (shape.grad.abs() > 0).all()  # every phenotype changes the body

    @pytest.mark.parametrize("arg, rotations, translation, shape", [
        ("rotations", torch.eye(3).repeat(1, 23, 1, 1), torch.zeros(1, 3), None),
        ("translation", torch.eye(3).repeat(2, 24, 1, 1), torch.zeros(1, 3), None),
        ("shape", torch.eye(3).repeat(1, 24, 1, 1), torch.zeros(1, 3), torch.zeros(1, 10)),
    ])
    def test_wrong_input_shape_raises_naming_argument(
        self, body: AnnyBody, arg: str, rotations, translation, shape
    ) -> None:
        with pytest.raises(ValueError, match=arg):
            body(rotations, translation, shape)


class TestAnnyBodyShape:
    def test_height_up_makes_body_taller(self, body: AnnyBody) -> None:
        shape = torch.zeros(2, 6)
        shape[1, body.shape_names.index("height")] = 0.3
        with torch.no_grad():
            rest = body.rest_vertices(shape)
        extent = rest[..., 1].amax(1) - rest[..., 1].amin(1)
        assert extent[1] > extent[0] + 0.05

    def test_pelvis_stays_at_origin_for_every_shape(self, body: AnnyBody) -> None:
        shape = torch.linspace(-0.4, 0.4, 18).reshape(3, 6)
        out = posed(body, *body.zero_pose(3), shape=shape)
        assert torch.equal(out.joints[:, 0], torch.zeros(3, 3))


class TestExportCompact:
    def test_exports_smpl24_compact_body(self, body: AnnyBody, compact: CompactBody) -> None:
        assert compact.name == "anny" and compact.joint_names == SMPL24_NAMES
        assert compact.num_points == NUM_POINTS and compact.shape_names == body.shape_names
        assert compact.point_shapedirs.shape == (NUM_POINTS, 3, 6)

    def test_points_on_vertices_follow_anny_exactly_at_default_shape(
        self, body: AnnyBody, compact: CompactBody, surface_points
    ) -> None:
        # Collapsing Anny's 104 bones onto 24 joints is exact: unmapped bones keep their rest
        # rotation, so each moves exactly like the joint it is collapsed onto.
        face_index, bary, on_vertex = surface_points
        rotations = random_rotations(4, 60.0, seed=6)
        translation = torch.randn(4, 3, generator=torch.Generator().manual_seed(6))
        full = posed(body, rotations, translation)
        with torch.no_grad():
            small = compact(rotations, translation)
        expected = barycentric_interpolate(full.vertices, body.faces, face_index, bary)
        torch.testing.assert_close(small.points[:, on_vertex], expected[:, on_vertex],
                                   atol=1e-5, rtol=0)
        torch.testing.assert_close(small.joints, full.joints, atol=1e-5, rtol=0)
        torch.testing.assert_close(small.rotations, full.rotations, atol=1e-5, rtol=0)

    def test_points_inside_triangles_follow_anny_within_two_millimetres(
        self, body: AnnyBody, compact: CompactBody, surface_points
    ) -> None:
        # Blending the corners' weights is not blending the corners' posed positions: the gap
        # is second order (weight difference x rotation difference x distance to the corner).
        face_index, bary, on_vertex = surface_points
        rotations = random_rotations(4, 60.0, seed=7)
        full = posed(body, rotations)
        with torch.no_grad():
            small = compact(rotations, torch.zeros(4, 3))
        expected = barycentric_interpolate(full.vertices, body.faces, face_index, bary)
        error = (small.points - expected).norm(dim=-1)[:, ~on_vertex]
        assert error.max() < 2e-3 and error.mean() < 2e-4

    def test_rest_points_are_exact_anywhere_on_the_surface(
        self, body: AnnyBody, compact: CompactBody, surface_points
    ) -> None:
        face_index, bary, _ = surface_points
        full = posed(body, *body.zero_pose(1))
        with torch.no_grad():
            small = compact(*body.zero_pose(1))
        expected = barycentric_interpolate(full.vertices, body.faces, face_index, bary)
        torch.testing.assert_close(small.points, expected, atol=1e-5, rtol=0)

    @pytest.mark.parametrize("name", ["gender", "height", "proportions"])
    def test_shape_basis_is_exact_for_linear_phenotypes(
        self, body: AnnyBody, compact: CompactBody, surface_points, name: str
    ) -> None:
        # Alone, these three move Anny's mesh linearly over their whole range.
        face_index, bary, _ = surface_points
        shape = torch.zeros(1, 6)
        shape[0, body.shape_names.index(name)] = 0.4
        rotations = random_rotations(1, 30.0, seed=8)
        full = posed(body, rotations, shape=shape)
        with torch.no_grad():
            small = compact(rotations, torch.zeros(1, 3), shape)
        on_vertex = surface_points[2]
        expected = barycentric_interpolate(full.vertices, body.faces, face_index, bary)
        torch.testing.assert_close(small.points[:, on_vertex], expected[:, on_vertex],
                                   atol=1e-5, rtol=0)

    def test_linearisation_error_at_moderate_shape(
        self, body: AnnyBody, compact: CompactBody, surface_points
    ) -> None:
        # Measured: max 4.9 mm, mean 0.6 mm for offsets uniform in [-0.1, 0.1]. Age (anchors at
        # 1/3 and 2/3), muscle and weight (a kink at the default 0.5) and the products between
        # phenotypes are what a linear basis cannot follow.
        face_index, bary, on_vertex = surface_points
        shape = (torch.rand(16, 6, generator=torch.Generator().manual_seed(9)) * 2 - 1) * 0.1
        rotations, translation = body.zero_pose(16)
        full = posed(body, rotations, translation, shape)
        with torch.no_grad():
            small = compact(rotations, translation, shape)
        expected = barycentric_interpolate(full.vertices, body.faces, face_index, bary)
        error = (small.points - expected).norm(dim=-1)[:, on_vertex]
        joint_error = (small.joints - full.joints).norm(dim=-1)
        assert error.max() < 1e-2 and error.mean() < 1e-3
        assert joint_error.max() < 1e-2

    @pytest.mark.parametrize("face_index, bary, arg", [
        (np.zeros((4, 1), dtype=np.int64), np.full((4, 3), 1 / 3), "face_index"),
        (np.zeros(4, dtype=np.int64), np.full((4, 2), 0.5), "barycentric"),
        (np.zeros(4, dtype=np.int64), np.full((4, 3), 0.5), "barycentric"),
        (np.full(4, 10**6), np.full((4, 3), 1 / 3), "face_index"),
    ])
    def test_bad_surface_points_raise_naming_argument(
        self, body: AnnyBody, face_index: np.ndarray, bary: np.ndarray, arg: str
    ) -> None:
        with pytest.raises(ValueError, match=arg):
            body.export_compact(face_index, bary)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_to_cuda_moves_everything_and_matches_cpu(body: AnnyBody) -> None:
    rotations = random_rotations(2, 45.0, seed=10)
    expected = posed(body, rotations)
    gpu = AnnyBody().to("cuda")
    out = posed(gpu, rotations.cuda(), torch.zeros(2, 3, device="cuda"))
    assert out.vertices.device.type == "cuda"
    torch.testing.assert_close(out.vertices.cpu(), expected.vertices, atol=1e-5, rtol=0)


class TestAnnyCache:
    def test_nbf_ros_variable_chooses_the_cache(self, monkeypatch, tmp_path: Path) -> None:
        monkeypatch.setenv(anny_cache.ENV_NBF_ROS, str(tmp_path))
        assert anny_cache.anny_cache_dir() == tmp_path.resolve()

    def test_user_anny_cache_dir_is_respected(self, monkeypatch, tmp_path: Path) -> None:
        import anny.paths

        previous = anny.paths.get_anny_cache_path()
        monkeypatch.setenv(anny_cache.ENV_ANNY, str(tmp_path))
        try:
            assert anny_cache.configure_anny_cache() == tmp_path
            assert anny.paths.get_anny_cache_path() == tmp_path
        finally:
            anny.paths.set_anny_cache_path(previous)

    def test_cache_in_use_holds_only_the_compact_file(self, body: AnnyBody) -> None:
        cache = anny_cache.configure_anny_cache()
        if anny_cache._user_owns_cache():
            pytest.skip("ANNY_CACHE_DIR is the user's: nbf_ros neither seeds nor cleans it")
        names = [p.name for p in cache.glob("v*/*.safetensors")]
        assert names and all(n.startswith("build_compact_model_data_") for n in names)
