"""Depth on the crop grid (nbf_ros.fitting.terms.depth_input): never a value between two
surfaces, holes ignored, and a start distance that occluded joints cannot drag."""

from __future__ import annotations

import torch

from nbf_ros.fitting.state import BodyState
from nbf_ros.fitting.terms.depth_input import crop_depth, depth_start, pool_depth


def test_a_crop_cell_straddling_an_edge_takes_one_surface_not_their_mean() -> None:
    depth = torch.full((8, 8), 4.0)
    depth[:, :3] = 2.0  # a person at 2 m in front of a wall at 4 m
    cells = crop_depth(depth, torch.tensor([[0.0, 0.0, 8.0, 8.0]]), 2, 2)
    # Each 4 x 4 cell of the left column holds 3 columns at 2 m and 1 at 4 m.
    torch.testing.assert_close(cells, torch.tensor([[2.0, 4.0, 2.0, 4.0]]))


def test_holes_are_skipped_and_a_cell_of_holes_stays_empty() -> None:
    depth = torch.full((4, 4), 3.0)
    depth[0, 0] = 0.0
    depth[2:, 2:] = 0.0
    cells = crop_depth(depth, torch.tensor([[0.0, 0.0, 4.0, 4.0]]), 2, 2, samples=2)
    torch.testing.assert_close(cells, torch.tensor([[3.0, 3.0, 3.0, 0.0]]))


def test_a_crop_reaching_past_the_image_reads_no_depth_there() -> None:
    depth = torch.full((4, 4), 2.5)
    cells = crop_depth(depth, torch.tensor([[-4.0, 0.0, 4.0, 8.0]]), 2, 2, samples=2)
    torch.testing.assert_close(cells, torch.tensor([[0.0, 2.5, 0.0, 0.0]]))


def test_the_coarse_level_keeps_the_nearest_valid_cell_of_each_block() -> None:
    fine = torch.tensor([[0.0, 3.0, 5.0, 5.0],
                         [2.0, 4.0, 5.0, 0.0],
                         [0.0, 0.0, 1.0, 9.0],
                         [0.0, 0.0, 9.0, 9.0]]).flatten()[None]
    torch.testing.assert_close(pool_depth(fine, 4, 4), torch.tensor([[2.0, 5.0, 0.0, 1.0]]))


def start_state(z: float) -> BodyState:
    return BodyState(torch.eye(3).expand(1, 2, 3, 3), torch.tensor([[0.5, 0.0, z]]),
                     torch.zeros(1, 1))


def test_the_start_moves_along_the_root_ray_to_the_measured_joints() -> None:
    init = start_state(2.0)
    joints = torch.tensor([[[0.5, 0.0, 2.0], [0.5, -0.3, 2.1]]])
    keypoints = torch.tensor([[[0.5, 0.5], [1.5, 0.5]]])  # cells 0 and 1 of a 2 x 2 grid
    depth = torch.tensor([[2.9, 3.0, 0.0, 0.0]])  # 0.9 m farther than both joints
    moved = depth_start(init, joints, keypoints, torch.ones(1, 2), depth, 2, surface=0.0)
    torch.testing.assert_close(moved.translation, torch.tensor([[0.5 * 2.9 / 2.0, 0.0, 2.9]]))


def test_joints_behind_an_occluder_are_outvoted_by_the_rest_of_the_body() -> None:
    init = start_state(2.0)
    joints = torch.tensor([[[0.0, 0.0, 2.0]] * 5])
    keypoints = torch.tensor([[[0.5, 0.5]] * 3 + [[1.5, 0.5]] * 2])
    depth = torch.tensor([[3.0, 1.2, 0.0, 0.0]])  # 3 joints on the body, 2 on a board
    moved = depth_start(init, joints, keypoints, torch.ones(1, 5), depth, 2, surface=0.1)
    assert abs(float(moved.translation[0, 2]) - 3.1) < 1e-5


def test_a_body_without_measured_keypoints_keeps_its_start() -> None:
    init = start_state(2.0)
    moved = depth_start(init, torch.zeros(1, 2, 3), torch.full((1, 2, 2), 0.5),
                        torch.ones(1, 2), torch.zeros(1, 4), 2, surface=0.1)
    torch.testing.assert_close(moved.translation, init.translation)


def test_a_board_over_most_keypoints_does_not_pull_the_body_onto_it() -> None:
    init = start_state(2.0)
    joints = torch.tensor([[[0.0, 0.0, 2.0]] * 5])
    keypoints = torch.tensor([[[0.5, 0.5]] * 2 + [[1.5, 0.5]] * 3])
    depth = torch.tensor([[3.0, 1.2, 0.0, 0.0]])  # 2 joints on the body, 3 on a board
    moved = depth_start(init, joints, keypoints, torch.ones(1, 5), depth, 2, surface=0.1)
    assert abs(float(moved.translation[0, 2]) - 3.1) < 1e-5


def test_a_few_keypoints_on_the_wall_behind_do_not_push_the_body_back() -> None:
    init = start_state(2.0)
    joints = torch.tensor([[[0.0, 0.0, 2.0]] * 5])
    keypoints = torch.tensor([[[0.5, 0.5]] * 4 + [[1.5, 0.5]]])
    depth = torch.tensor([[3.0, 6.0, 0.0, 0.0]])  # 4 joints on the body, 1 on the wall
    moved = depth_start(init, joints, keypoints, torch.ones(1, 5), depth, 2, surface=0.1)
    assert abs(float(moved.translation[0, 2]) - 3.1) < 1e-5
