"""Specification of CompactBody on a hand-built three-joint chain.

The chain stands along +Y: a root at the origin, a middle joint 1 m up and a tip joint 2 m up.
One shape coefficient stretches it (each joint moves up by its index times the coefficient).
Point 0 follows the root, point 1 the middle joint, point 2 the tip, and point 3, at the middle
joint's height, is skinned half to the root and half to the middle joint.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nbf_ros.body.compact import CompactBody, kinematic_levels

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="needs a CUDA device")),
]

JOINTS = [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 2.0, 0.0]]
POINTS = [[0.5, 0.5, 0.0], [0.5, 1.5, 0.0], [0.5, 2.5, 0.0], [0.5, 1.0, 0.0]]
WEIGHTS = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]]


def chain_arrays() -> dict[str, object]:
    """Constructor arguments of the three-joint chain."""
    joint_dirs = np.zeros((3, 3, 1))
    joint_dirs[:, 1, 0] = [0.0, 1.0, 2.0]
    point_dirs = np.zeros((4, 3, 1))
    point_dirs[:, 1, 0] = [0.5, 1.5, 2.5, 1.0]
    return {
        "name": "chain", "joint_names": ["root", "middle", "tip"], "parents": [-1, 0, 1],
        "joint_template": np.array(JOINTS), "joint_shapedirs": joint_dirs,
        "point_template": np.array(POINTS), "point_shapedirs": point_dirs,
        "weights": np.array(WEIGHTS), "shape_names": ["stretch"],
    }


def rot_z(degrees: float) -> torch.Tensor:  # [3, 3]
    """Rotation about +Z by ``degrees``."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def identity_pose(batch: int = 1, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Identity local rotations [B, 3, 3, 3] and zero translation [B, 3]."""
    return torch.eye(3, device=device).repeat(batch, 3, 1, 1), torch.zeros(batch, 3, device=device)


class TestCompactBody:
    @pytest.mark.parametrize("device", DEVICES)
    def test_rest_pose_returns_template(self, device: str) -> None:
        body = CompactBody(**chain_arrays()).to(device)
        out = body(*identity_pose(device=device))
        torch.testing.assert_close(out.points[0].cpu(), torch.tensor(POINTS))
        torch.testing.assert_close(out.joints[0].cpu(), torch.tensor(JOINTS))
        torch.testing.assert_close(out.rotations.cpu(), torch.eye(3).expand(1, 3, 3, 3))

    def test_quarter_turn_of_middle_joint_moves_children_as_computed_by_hand(self) -> None:
        body = CompactBody(**chain_arrays())
        rotations, translation = identity_pose()
        rotations[0, 1] = rot_z(90.0)  # (x, y) -> (-y, x) about the middle joint (0, 1, 0)
        out = body(rotations, translation)
        expected_points = [
            [0.5, 0.5, 0.0],  # root's point: unmoved
            [-0.5, 1.5, 0.0],  # (0.5, 0.5) from the middle joint -> (-0.5, 0.5)
            [-1.5, 1.5, 0.0],  # (0.5, 1.5) from the middle joint -> (-1.5, 0.5)
            [0.25, 1.25, 0.0],  # mean of unmoved (0.5, 1.0) and turned (0.0, 1.5)
        ]
        torch.testing.assert_close(out.points[0], torch.tensor(expected_points))
        torch.testing.assert_close(out.joints[0], torch.tensor(
            [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 1.0, 0.0]]))
        torch.testing.assert_close(out.rotations[0, 2], rot_z(90.0))

    def test_root_joint_is_at_translation(self) -> None:
        body = CompactBody(**chain_arrays())
        rotations, _ = identity_pose(2)
        rotations[:, 0] = rot_z(30.0)
        translation = torch.tensor([[1.0, -2.0, 3.0], [0.1, 0.2, 0.3]])
        out = body(rotations, translation)
        assert torch.equal(out.joints[:, 0], translation)

    def test_shape_coefficient_stretches_chain_and_keeps_root_at_origin(self) -> None:
        body = CompactBody(**chain_arrays())
        points, joints = body.rest(torch.tensor([[0.5]]))
        torch.testing.assert_close(joints[0, :, 1], torch.tensor([0.0, 1.5, 3.0]))
        torch.testing.assert_close(points[0, :, 1], torch.tensor([0.75, 2.25, 3.75, 1.5]))

    def test_gradcheck_rotations_translation_shape(self) -> None:
        body = CompactBody(**chain_arrays()).double()
        gen = torch.Generator().manual_seed(0)
        rotations = torch.randn(2, 3, 3, 3, dtype=torch.float64, generator=gen)
        translation = torch.randn(2, 3, dtype=torch.float64, generator=gen)
        shape = torch.randn(2, 1, dtype=torch.float64, generator=gen)
        inputs = tuple(t.requires_grad_() for t in (rotations, translation, shape))

        def posed(r: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = body(r, t, s)
            return out.points, out.joints

        assert torch.autograd.gradcheck(posed, inputs)

    def test_state_round_trip_rebuilds_same_body(self) -> None:
        body = CompactBody(**chain_arrays())
        rebuilt = CompactBody.from_state(body.state())
        assert (rebuilt.name, rebuilt.joint_names, rebuilt.parents, rebuilt.shape_names) == (
            body.name, body.joint_names, body.parents, body.shape_names)
        for key, value in body.state_dict().items():
            assert torch.equal(rebuilt.state_dict()[key], value), key

    def test_state_survives_npz_file(self, tmp_path) -> None:
        body = CompactBody(**chain_arrays())
        np.savez(tmp_path / "chain.npz", **body.state())
        with np.load(tmp_path / "chain.npz") as saved:
            rebuilt = CompactBody.from_state(dict(saved))
        rotations, translation = identity_pose()
        rotations[0, 1] = rot_z(45.0)
        torch.testing.assert_close(rebuilt(rotations, translation).points,
                                   body(rotations, translation).points)

    @pytest.mark.parametrize("arg, bad", [
        ("joint_template", np.zeros((3, 2))),
        ("joint_shapedirs", np.zeros((3, 3, 2))),
        ("point_template", np.zeros((4, 4))),
        ("point_shapedirs", np.zeros((5, 3, 1))),
        ("weights", np.zeros((4, 2))),
    ])
    def test_wrong_array_shape_raises_naming_argument(self, arg: str, bad: np.ndarray) -> None:
        with pytest.raises(ValueError, match=arg):
            CompactBody(**{**chain_arrays(), arg: bad})

    def test_weights_not_summing_to_one_raise(self) -> None:
        with pytest.raises(ValueError, match="weights"):
            CompactBody(**{**chain_arrays(), "weights": np.full((4, 3), 0.5)})

    def test_child_listed_before_parent_raises(self) -> None:
        with pytest.raises(ValueError, match="parents"):
            CompactBody(**{**chain_arrays(), "parents": [-1, 2, 0]})


def test_kinematic_levels_group_joints_by_depth() -> None:
    assert kinematic_levels([-1, 0, 0, 1, 2, 3]) == [[0], [1, 2], [3, 4], [5]]
