"""Per-joint visibility labels of synthetic scenes, on layouts placed by hand, and their
mapping to HumanPose joint states."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from nbf_ros.body.rotations import axis_angle_to_matrix
from nbf_ros.estimate import JointState
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import Scene, SceneConfig, SceneLayout, draw_scene, sample_layout
from nbf_ros.synth.truth import JointLabel, label_to_state

SIZE = 96
CONFIG = SceneConfig(height=SIZE, width=SIZE, extra_people=1, extra_person_probability=1.0,
                     occluder_probability=0.0, focal=(1.2, 1.2))


@pytest.fixture(scope="module")
def two_people(mesh: BodyMesh) -> SceneLayout:
    """A random layout of two people without occluders (placed again by ``place``)."""
    layout = sample_layout(mesh, torch.Generator().manual_seed(0), CONFIG)
    assert len(layout.translation) == 2
    return layout


def place(mesh: BodyMesh, layout: SceneLayout, positions: list[tuple[float, float, float]],
          yaws: list[float] | None = None, mask: torch.Tensor | None = None) -> SceneLayout:
    """The layout's first len(positions) people in the rest pose, upright and facing the
    camera (turned by ``yaws`` about the vertical), pelvis at ``positions``; occluder mask
    ``mask`` (default none)."""
    count = len(positions)
    yaws = yaws or [0.0] * count
    rotations = torch.eye(3).expand(count, mesh.body.num_joints, 3, 3).clone()
    upright = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0]))
    for p, yaw in enumerate(yaws):
        rotations[p, 0] = upright @ axis_angle_to_matrix(torch.tensor([0.0, yaw, 0.0]))
    if mask is None:
        mask = torch.zeros(layout.height, layout.width, dtype=torch.bool)
    return dataclasses.replace(
        layout, rotations=rotations, translation=torch.tensor(positions),
        shape=layout.shape[:count], outfits=layout.outfits[:count], occluder_mask=mask)


def draw(mesh: BodyMesh, layout: SceneLayout) -> Scene:
    """The layout drawn without sensor noise."""
    return draw_scene(mesh, layout, torch.Generator().manual_seed(0), 0.0)


def joint_pixels(scene: Scene, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column, row (floor of the keypoint) and in-image flag of each joint of person p."""
    keypoints = scene.people[p].keypoints
    us, vs = np.floor(keypoints[:, 0]).astype(int), np.floor(keypoints[:, 1]).astype(int)
    h, w = scene.person.shape
    inside = (us >= 0) & (us < w) & (vs >= 0) & (vs < h)
    return us.clip(0, w - 1), vs.clip(0, h - 1), inside


def labels_of(mesh: BodyMesh, scene: Scene, p: int = 0) -> dict[str, JointLabel]:
    """Person p's label per joint name."""
    return {name: JointLabel(int(label))
            for name, label in zip(mesh.body.joint_names, scene.people[p].labels, strict=True)}


def test_label_to_state_counts_self_occlusion_as_visible() -> None:
    labels = torch.tensor([JointLabel.VISIBLE, JointLabel.OCCLUDED, JointLabel.OUTSIDE,
                           JointLabel.SELF_OCCLUDED], dtype=torch.uint8)
    states = label_to_state(labels)
    assert states.dtype == torch.uint8
    assert states.tolist() == [JointState.VISIBLE, JointState.OCCLUDED,
                               JointState.OUTSIDE_IMAGE, JointState.VISIBLE]


def test_a_lone_person_facing_the_camera_has_every_joint_visible(
    mesh: BodyMesh, two_people: SceneLayout
) -> None:
    scene = draw(mesh, place(mesh, two_people, [(0.0, 0.0, 3.0)]))
    assert set(labels_of(mesh, scene).values()) == {JointLabel.VISIBLE}


def test_a_joint_under_the_occluder_mask_is_occluded(mesh: BodyMesh,
                                                     two_people: SceneLayout) -> None:
    mask = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    mask[:, : SIZE // 2 - 3] = True  # the image's left part: the body's right side
    scene = draw(mesh, place(mesh, two_people, [(0.0, 0.0, 3.0)], mask=mask))
    us, vs, inside = joint_pixels(scene, 0)
    under = scene.occluder[vs, us]
    assert inside.all() and 3 <= under.sum() <= len(under) - 3
    labels = scene.people[0].labels
    np.testing.assert_array_equal(labels == JointLabel.OCCLUDED, under)
    assert labels_of(mesh, scene)["right_wrist"] == JointLabel.OCCLUDED


def test_a_joint_projecting_outside_the_image_is_outside(mesh: BodyMesh,
                                                         two_people: SceneLayout) -> None:
    # Pelvis near the right border: the body's left side leaves the image.
    x = (SIZE - 8 - two_people.K[0, 2].item()) * 3.0 / two_people.K[0, 0].item()
    scene = draw(mesh, place(mesh, two_people, [(x, 0.0, 3.0)]))
    _, _, inside = joint_pixels(scene, 0)
    assert 3 <= (~inside).sum() <= len(inside) - 3
    np.testing.assert_array_equal(scene.people[0].labels == JointLabel.OUTSIDE, ~inside)
    assert labels_of(mesh, scene)["left_wrist"] == JointLabel.OUTSIDE


def test_a_joint_behind_another_person_is_occluded(mesh: BodyMesh,
                                                   two_people: SceneLayout) -> None:
    # Person 1 stands a metre in front of person 0, a little to the side.
    scene = draw(mesh, place(mesh, two_people, [(0.0, 0.0, 3.5), (0.3, 0.0, 2.5)]))
    us, vs, inside = joint_pixels(scene, 0)
    behind = inside & (scene.person[vs, us] == 1)
    assert 3 <= behind.sum() <= len(behind) - 3
    labels = scene.people[0].labels
    np.testing.assert_array_equal(labels == JointLabel.OCCLUDED, behind)
    # The person in front has nothing in front of it.
    assert JointLabel.OCCLUDED not in scene.people[1].labels


def test_in_a_side_view_the_far_limbs_are_self_occluded(mesh: BodyMesh,
                                                        two_people: SceneLayout) -> None:
    # Turned 90 degrees: the body's left side (+X) faces away from the camera.
    scene = draw(mesh, place(mesh, two_people, [(0.0, 0.0, 3.0)], yaws=[math.pi / 2]))
    labels = labels_of(mesh, scene)
    for joint in ("left_knee", "left_ankle", "left_elbow"):
        assert labels[joint] == JointLabel.SELF_OCCLUDED, joint
    for joint in ("right_knee", "right_ankle", "right_elbow", "head"):
        assert labels[joint] == JointLabel.VISIBLE, joint
    assert JointLabel.OCCLUDED not in labels.values()
