"""Synthetic depth (nbf_ros.synth.depth): a D435-class sensor's noise, holes and flying
pixels, boards in front of the subject, and depth written into bags stamped off the colour."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nbf_ros.synth.depth import DepthSensor, board_occluder, measured_depth, room_depth

QUIET = DepthSensor(noise_per_m2=0.0, hole_fraction=0.0, edge_dropout=0.0, flying=0.0)


def test_noise_grows_with_the_square_of_range() -> None:
    sensor = DepthSensor(hole_fraction=0.0, edge_dropout=0.0, flying=0.0)
    gen = torch.Generator().manual_seed(0)
    spread = {z: float(np.std(measured_depth(gen, torch.full((100, 100), z), sensor)))
              for z in (2.0, 4.0)}
    assert spread[2.0] == pytest.approx(1.5e-3 * 4, rel=0.05)
    assert spread[4.0] == pytest.approx(1.5e-3 * 16, rel=0.05)


def test_holes_cover_about_the_asked_share_and_read_zero() -> None:
    sensor = DepthSensor(noise_per_m2=0.0, hole_fraction=0.05, edge_dropout=0.0, flying=0.0)
    depth = measured_depth(torch.Generator().manual_seed(1), torch.full((120, 160), 3.0),
                           sensor)
    assert float((depth == 0).mean()) == pytest.approx(0.05, abs=0.01)
    assert set(np.unique(depth)) == {0.0, 3.0}


def test_flying_pixels_lie_between_the_surfaces_and_only_along_the_edge() -> None:
    truth = torch.full((20, 20), 4.0)
    truth[:, :10] = 2.0
    sensor = DepthSensor(noise_per_m2=0.0, hole_fraction=0.0, edge_dropout=0.0, flying=1.0)
    depth = measured_depth(torch.Generator().manual_seed(2), truth, sensor)
    between = (depth > 2.0) & (depth < 4.0)
    assert between[:, 9:11].all() and not between[:, :9].any() and not between[:, 11:].any()


def test_surfaces_beyond_the_range_give_no_return() -> None:
    depth = measured_depth(torch.Generator(), torch.full((4, 4), 12.0), QUIET)
    assert (depth == 0).all()


def test_the_floor_meets_the_wall_below_the_horizon() -> None:
    K = torch.tensor([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    room = room_depth(K, 100, 100, floor_y=1.0, wall_z=5.0)
    assert (room[:50] == 5.0).all()  # above the horizon: the wall
    v = (99.5 - 50) / 100  # the bottom row's ray meets the floor at z = y / v
    assert float(room[99, 0]) == pytest.approx(1.0 / v)


@pytest.mark.parametrize("kind", ["table", "pole", "panel"])
def test_a_board_stands_between_the_camera_and_the_subject(kind: str, mesh) -> None:  # noqa: ANN001
    K = torch.tensor([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])
    rot = torch.eye(3).expand(mesh.body.num_joints, 3, 3).clone()
    rot[0] = torch.tensor([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])  # upright, facing us
    trans = torch.tensor([0.0, 0.0, 3.0])
    mask, rgb, depth = board_occluder(kind, torch.Generator().manual_seed(3), mesh, rot, trans,
                                      torch.zeros(mesh.body.num_shape), K, 240, 320)
    assert mask.any()
    assert torch.isinf(depth[~mask]).all()
    assert ((depth[mask] > 0.79) & (depth[mask] < 2.51)).all()  # 0.5-1.2 m in front of 3 m
    assert (rgb[~mask] == 0).all()


def test_an_unknown_board_kind_is_refused(mesh) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="unknown occluder kind 'tree'"):
        board_occluder("tree", torch.Generator(), mesh, None, None, None, None, 1, 1)


def test_a_sequence_bag_carries_16uc1_depth_stamped_a_few_ms_off_its_colour(
        mesh, tmp_path) -> None:  # noqa: ANN001
    from nbf_ros.io.bag_reader import read_messages
    from nbf_ros.io.convert import stamp_to_ns
    from nbf_ros.io.depth_image import DEPTH_TOPIC, decode_depth
    from nbf_ros.synth.scenes import SceneConfig
    from nbf_ros.synth.sequences import SequenceConfig, write_sequence_bag

    scene = SceneConfig(height=96, width=128, extra_people=0, occluder_probability=0.0)
    config = SequenceConfig(frames=2, scene=scene, occluder_kinds=("pole",),
                            depth=DepthSensor())
    write_sequence_bag(tmp_path / "bag", mesh, 4, config, progress=False)
    colour = [stamp_to_ns(m.header.stamp)
              for _, m in read_messages(tmp_path / "bag", "/camera/image_raw")]
    depth = list(read_messages(tmp_path / "bag", DEPTH_TOPIC))
    assert len(depth) == 2
    for stamp, (_, msg) in zip(colour, depth, strict=True):
        assert msg.encoding == "16UC1"
        assert 2e6 <= abs(stamp_to_ns(msg.header.stamp) - stamp) <= 8e6
        metres = decode_depth(msg.height, msg.width, msg.encoding, msg.step, msg.data)
        assert 0.5 < float(np.median(metres[metres > 0])) < 10.0
