"""Synthetic video: people moving through one scene, written as a rosbag2 with ground truth.

A sequence is one random layout (camera, people, looks, background, static occluders)
whose people change pose smoothly between random key poses and walk at a constant
velocity across the image (never closer to the camera than ``min_depth``). Each frame is
drawn with fresh sensor noise. The bag holds Image, CameraInfo and the ground truth as
HumanPoseArray (track id = person index + 1), stamped at ``fps``: what the node's demo,
the integration tests and ``nbf-ros eval`` replay.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from nbf_ros.fitting.state import BodyState
from nbf_ros.io.depth_image import write_depth
from nbf_ros.progress import tqdm
from nbf_ros.synth.dataset import truth_estimates
from nbf_ros.synth.depth import DepthSensor, RoomDepth, board_occluder
from nbf_ros.synth.lens import DistortingCamera
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.motion import smooth_motion
from nbf_ros.synth.poses import random_body_pose
from nbf_ros.synth.scenes import Scene, SceneConfig, draw_scene, sample_layout

__all__ = ["SequenceConfig", "render_sequence", "write_sequence_bag"]


@dataclass
class SequenceConfig:
    """A synthetic video's settings (the scene settings are those of each frame)."""

    frames: int = 60
    fps: float = 15.0
    seconds_per_key_pose: float = 1.5
    speed: float = 0.4  # metres per second, the largest walking speed across the image
    activity: float = 0.5  # randomness of the key poses (poses.random_body_pose)
    min_depth: float = 1.5  # metres: walkers stop approaching the camera here
    scene: SceneConfig = None  # type: ignore[assignment]
    # Boards with a depth in front of the subject instead of flat 2D occluders: one of these
    # kinds per sequence (synth/depth.py: table, pole, panel); empty: the scene's occluders.
    occluder_kinds: tuple[str, ...] = ()
    # Write registered depth (16UC1) from this sensor model into the bag; None: colour only.
    depth: DepthSensor | None = None
    # Record the colour images through a lens (synth/lens.py): (model, D), also written into
    # camera_info; the truth's pixels move with it. None: an ideal pinhole.
    distortion: tuple[str, tuple[float, ...]] | None = None

    def __post_init__(self) -> None:
        if self.scene is None:
            self.scene = SceneConfig(height=480, width=640, subject_height=(0.45, 0.7),
                                     extra_people=2, extra_person_probability=0.7,
                                     extra_depth=(0.0, 2.5),
                                     occluder_probability=0.7, focal=(0.9, 1.3))
        if self.frames < 1 or self.fps <= 0 or self.seconds_per_key_pose <= 0:
            raise ValueError("frames must be >= 1, fps and seconds_per_key_pose positive")


def render_sequence(mesh: BodyMesh, seed: int, config: SequenceConfig) -> Iterator[Scene]:
    """The frames of sequence ``seed``, one Scene each."""
    gen = torch.Generator().manual_seed(seed)
    layout = sample_layout(mesh, gen, config.scene)
    if config.occluder_kinds:
        kind = config.occluder_kinds[int(torch.randint(len(config.occluder_kinds), (1,),
                                                        generator=gen))]
        mask, rgb, depth = board_occluder(kind, gen, mesh, layout.rotations[0],
                                          layout.translation[0], layout.shape[0], layout.K,
                                          layout.height, layout.width)
        layout = replace(layout, occluder_mask=mask, occluder_rgb=rgb, occluder_depth=depth)
    count = len(layout.translation)
    every = max(1, round(config.seconds_per_key_pose * config.fps))
    keys = config.frames // every + 2
    velocity = (torch.rand(count, 3, generator=gen) * 2 - 1) * config.speed
    velocity[:, 1] = 0.0  # people walk on the floor
    velocity[:, 2] *= 0.3  # and mostly across the image
    keyframes = []
    for k in range(keys):
        rot = random_body_pose(mesh.body, count, gen, config.activity)
        rot[:, 0] = layout.rotations[:, 0]
        if k == 0:
            rot = layout.rotations.clone()
        keyframes.append(BodyState(rot, layout.translation, layout.shape))
    states = smooth_motion(keyframes, every)[: config.frames]
    for t, state in enumerate(states):
        # Poses ease between key poses; positions move linearly in time (constant velocity).
        trans = layout.translation + velocity * (t / config.fps)
        trans[:, 2] = torch.maximum(trans[:, 2], torch.minimum(
            layout.translation[:, 2], torch.tensor(config.min_depth)))
        frame = replace(layout, rotations=state.rotations, translation=trans)
        noise_gen = torch.Generator().manual_seed(seed * 100_003 + t)
        yield draw_scene(mesh, frame, noise_gen, config.scene.noise, seed)


def write_sequence_bag(path: str | Path, mesh: BodyMesh, seed: int, config: SequenceConfig,
                       storage: str = "mcap", compressed: bool = False,
                       start_ns: int = 1_700_000_000_000_000_000,
                       progress: bool = True) -> int:
    """Write sequence ``seed`` to a new bag; returns the number of frames written."""
    from nbf_ros.io.bag_writer import BagWriter

    period = int(round(1e9 / config.fps))
    written = 0
    camera = None  # the lens of config.distortion, made with the first frame's K
    room = None
    with BagWriter(path, storage=storage, compressed=compressed) as bag:  # type: ignore[arg-type]
        frames = render_sequence(mesh, seed, config)
        for t, scene in enumerate(tqdm(frames, total=config.frames, desc="sequence",
                                       unit="frame", disable=not progress)):
            image, truth = scene.image, truth_estimates(scene, mesh)
            if config.distortion is not None:
                camera = camera or DistortingCamera(scene.K, image.shape[1], image.shape[0],
                                                    *config.distortion)
                image, truth = camera.image(image), camera.truth(truth)
            bag.write_frame(start_ns + t * period, image, scene.K, truth=truth,
                            distortion=config.distortion)
            if config.depth is not None:
                room = room or RoomDepth(scene, config.depth, seed)
                write_depth(bag, start_ns + t * period + config.depth.stamp_offset_ns(room.gen),
                            room(scene), scene.K)
            written += 1
    return written
