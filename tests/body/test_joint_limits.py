"""The hinge penalty: zero where knees and elbows bend the anatomical way within their
range, positive where they bend backwards, sideways or too far; twists are free."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from nbf_ros.body.compact import CompactBody
from nbf_ros.body.joint_limits import HINGE_CHILD, HingeLimits, hinge_frame
from nbf_ros.body.rotations import axis_angle_to_matrix
from nbf_ros.synth.poses import random_body_pose
from tests.fixtures.capsule_body import capsule_body


@pytest.fixture(scope="module")
def body() -> CompactBody:
    """The capsule body: an SMPL-24 skeleton with bent-forward-capable knees and elbows."""
    return capsule_body(200)


def turned(body: CompactBody, joint: str, axis: Tensor, degrees: float) -> Tensor:
    """Rest rotations [1, J, 3, 3] with one joint turned about ``axis`` (local frame)."""
    rot = torch.eye(3).repeat(1, body.num_joints, 1, 1)
    rot[0, body.joint_names.index(joint)] = axis_angle_to_matrix(axis * math.radians(degrees))
    return rot


def frame(body: CompactBody, hinge: str) -> tuple[Tensor, Tensor]:
    """Rest bone direction and flexion axis of a hinge."""
    rest = body.rest(torch.zeros(1, body.num_shape))[1][0]
    return hinge_frame(rest, body.joint_names, hinge)


def test_rest_pose_and_sampled_training_poses_cost_nothing(body: CompactBody) -> None:
    limits = HingeLimits(body)
    poses = random_body_pose(body, 200, torch.Generator().manual_seed(0), 1.0)
    assert float(limits(torch.eye(3).repeat(1, body.num_joints, 1, 1))) == 0.0
    assert float(limits(poses).max()) < 1e-10


@pytest.mark.parametrize("hinge", sorted(HINGE_CHILD))
def test_a_bend_the_anatomical_way_within_range_costs_nothing(body: CompactBody,
                                                             hinge: str) -> None:
    _, axis = frame(body, hinge)
    assert float(HingeLimits(body)(turned(body, hinge, axis, 90.0))) < 1e-10


@pytest.mark.parametrize("hinge", sorted(HINGE_CHILD))
def test_a_backward_bend_costs_more_the_further_it_goes(body: CompactBody, hinge: str) -> None:
    _, axis = frame(body, hinge)
    limits = HingeLimits(body)
    small, large = (float(limits(turned(body, hinge, axis, -deg))) for deg in (15.0, 40.0))
    assert 0.0 < small < large
    assert small == pytest.approx(math.sin(math.radians(15.0)) ** 2, rel=1e-4)


def test_a_sideways_bend_costs_and_a_twist_about_the_bone_does_not(body: CompactBody) -> None:
    bone, axis = frame(body, "left_knee")
    limits = HingeLimits(body)
    sideways = torch.linalg.cross(axis, bone)  # turns the bone out of its flexion plane
    assert float(limits(turned(body, "left_knee", sideways, 20.0))) == pytest.approx(
        math.sin(math.radians(20.0)) ** 2, rel=1e-4)
    assert float(limits(turned(body, "left_knee", bone, 60.0))) < 1e-10


def test_flexion_past_the_range_costs(body: CompactBody) -> None:
    _, axis = frame(body, "left_elbow")  # range 0 to 140 degrees
    limits = HingeLimits(body)
    assert float(limits(turned(body, "left_elbow", axis, 135.0))) < 1e-10
    assert float(limits(turned(body, "left_elbow", axis, 165.0))) > 1e-3
