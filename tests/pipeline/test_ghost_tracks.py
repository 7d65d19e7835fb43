"""Tracks outlive their person (issue 32, item 6): a person walks right past a pole and out of
view. The node's pipeline publishes them while they are there, under one track id, with each
published skeleton on the person of its own frame, and nobody once they have gone; each
published person is confirmed in its own frame, and its confidence is that frame's evidence.

Two walks: one that starts in view and leaves it, run frame by frame as the node's worker
runs them (prepare, then finish_track); and one across the whole view and out of it, written
to a bag and played as ``nbf-ros eval`` plays one. On 4404635 (before the issue's work) the
second shows the issue's ghost: the fit of the tracked person, started from the last frame's
body, stayed where the person had been while they walked on, published at the confidence of
the network head's box around the person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from nbf_ros.estimate import HumanEstimate
from nbf_ros.fitting.state import BodyState
from nbf_ros.fitting.tracking import box_iou
from nbf_ros.io.bag_reader import read_frames
from nbf_ros.io.bag_writer import BagWriter
from nbf_ros.node_settings import build_pipeline, default_settings
from nbf_ros.synth.dataset import truth_estimates
from nbf_ros.synth.depth import board_occluder
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.motion import smooth_motion
from nbf_ros.synth.poses import random_body_pose
from nbf_ros.synth.scenes import Scene, SceneConfig, SceneLayout, draw_scene, sample_layout
from nbf_ros.vision.frontend.body_evidence import person_confidence

HEIGHT, WIDTH = 240, 320
FPS = 10.0
SPEED = 2.0  # metres per second to the right: 10-17 px a frame at this distance
SEED = 2  # a layout whose pole stays in view, left of where the person walks off
FRAMES = 18  # walking out: in view 0-5, leaving 6-12, gone 13-17
ACROSS_FRAMES = 26  # walking across: fully in view 0-17, leaving 18-22, gone 23-25
STAMP0_NS = 1_700_000_000_000_000_000


@dataclass
class Published:
    """What the node's pipeline published for one frame."""

    humans: list[HumanEstimate]
    scores: np.ndarray  # [N] the landmarks' confidence in each of the frame's readings


Pole = Callable[[torch.Generator, BodyMesh, SceneLayout], tuple[torch.Tensor, torch.Tensor]]


def board_pole(gen: torch.Generator, mesh: BodyMesh, layout: SceneLayout
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """A pole board between the camera and the walker's start (synth/depth.py): its mask
    [H, W] and colours [H, W, 3]."""
    mask, rgb, _ = board_occluder("pole", gen, mesh, layout.rotations[0],
                                  layout.translation[0], layout.shape[0], layout.K,
                                  layout.height, layout.width)
    return mask, rgb


def painted_pole(gen: torch.Generator, mesh: BodyMesh, layout: SceneLayout
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A grey pole 12 px wide down the middle of the image, lit from the left."""
    mask = torch.zeros(layout.height, layout.width, dtype=torch.bool)
    x = layout.width // 2
    mask[:, x - 6:x + 6] = True
    rgb = torch.tensor([0.45, 0.42, 0.40]).expand(layout.height, layout.width, 3).clone()
    rgb[:, x - 6:x - 2] *= 1.3
    return mask, rgb


def walking_scenes(mesh: BodyMesh, frames: int, start_px: float, pole: Pole) -> list[Scene]:
    """One person walking right from ``start_px`` right of the image centre, a pole in front
    of their path (320 x 240, 10 frames per second, legs and arms moving between key poses)."""
    cfg = SceneConfig(height=HEIGHT, width=WIDTH, extra_people=0, occluder_probability=0.0,
                      subject_height=(0.6, 0.65), centre_jitter=0.0, focal=(0.9, 1.0))
    gen = torch.Generator().manual_seed(SEED)
    layout = sample_layout(mesh, gen, cfg)
    mask, rgb = pole(gen, mesh, layout)
    layout = replace(layout, occluder_mask=mask, occluder_rgb=rgb)
    start = layout.translation.clone()
    start[0, 0] += start_px * start[0, 2] / layout.K[0, 0]
    keys = []
    for _ in range(frames // 4 + 2):
        rot = random_body_pose(mesh.body, 1, gen, 0.3)
        rot[:, 0] = layout.rotations[:, 0]
        keys.append(BodyState(rot, start, layout.shape))
    scenes = []
    for t, state in enumerate(smooth_motion(keys, 4)[:frames]):
        trans = start.clone()
        trans[0, 0] += SPEED * t / FPS
        frame = replace(layout, rotations=state.rotations, translation=trans)
        scenes.append(draw_scene(mesh, frame, torch.Generator().manual_seed(SEED * 1000 + t),
                                 cfg.noise, SEED))
    return scenes


def walk_out_of_view() -> list[Scene]:
    """The walker starts 40 px right of the centre, the pole board before them, and walks
    until they have left the image."""
    return walking_scenes(BodyMesh.default(), FRAMES, 40, board_pole)


def run_node_pipeline(scenes: list[Scene], **overrides: Any) -> list[Published]:
    """The node's pipeline and tracker (its settings, cheap fits) over the frames, each
    prepared and finished as the node's worker does."""
    settings = default_settings()
    settings.update(device="cpu", fit_iterations=5, tracking_iterations=3, fit_hypotheses=1,
                    **overrides)
    pipeline, tracker = build_pipeline(settings)
    out = []
    for t, scene in enumerate(scenes):
        frame = pipeline.prepare(scene.image, scene.K, follow=True)
        humans = pipeline.finish_track(frame, tracker, t / FPS)
        scores = (np.zeros(0) if frame.landmarks is None
                  else person_confidence(frame.landmarks))
        out.append(Published(humans, scores))
    return out


def pixels_shown(scene: Scene) -> int:
    """Pixels of the walker in the frame."""
    return int((scene.person == 0).sum())


def fully_in_view(scene: Scene) -> bool:
    """The walker's whole body lies inside the image."""
    x0, y0, x1, y1 = scene.people[0].box
    h, w = scene.image.shape[:2]
    return bool(x0 > 0 and y0 > 0 and x1 < w and y1 < h)


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    return walk_out_of_view()


@pytest.fixture(scope="module")
def published(scenes: list[Scene]) -> list[Published]:
    return run_node_pipeline(scenes)


def test_the_walk_has_frames_in_view_and_out_of_view(scenes: list[Scene]) -> None:
    shown = [pixels_shown(s) for s in scenes]
    assert sum(fully_in_view(s) for s in scenes) >= 5, shown
    assert sum(n == 0 for n in shown) >= 4, shown


def test_nobody_is_published_once_the_person_has_walked_out_of_view(
        scenes: list[Scene], published: list[Published]) -> None:
    ghosts = [(t, [h.roi.round().tolist() for h in p.humans])
              for t, (s, p) in enumerate(zip(scenes, published, strict=True))
              if pixels_shown(s) == 0 and p.humans]
    assert not ghosts


def test_the_person_is_published_on_themself_under_one_track_id_while_in_view(
        scenes: list[Scene], published: list[Published]) -> None:
    for t, (scene, frame) in enumerate(zip(scenes, published, strict=True)):
        if fully_in_view(scene):
            assert len(frame.humans) == 1, t
        for human in frame.humans:  # also while leaving: on the person, not where they were
            assert box_iou(human.roi, scene.people[0].box)[0, 0] >= 0.5, (t, human.roi)
    ids = {h.track_id for p in published for h in p.humans}
    assert len(ids) == 1, ids


def test_each_published_person_is_confirmed_by_the_landmark_score_of_its_frame(
        published: list[Published]) -> None:
    for t, frame in enumerate(published):
        for human in frame.humans:
            # Person score x share of the limbs in the image (front_end.person_confidence).
            assert np.isclose(frame.scores, human.confidence).any(), (t, frame.scores)
            assert human.confidence > 0.25, (t, human.confidence)


def test_without_landmarks_the_network_head_publishes_nobody_once_the_person_has_gone(
        scenes: list[Scene]) -> None:
    # The old front end: each person is the feature network's detection of its own frame.
    published = run_node_pipeline(scenes, landmarks=False, detector="network")
    assert any(p.humans for p in published)
    for t, (scene, frame) in enumerate(zip(scenes, published, strict=True)):
        if pixels_shown(scene) == 0:
            assert not frame.humans, t
        for human in frame.humans:
            assert box_iou(human.roi, scene.people[0].box)[0, 0] >= 0.3, (t, human.roi)


# The walk across the view, written to a bag and played as nbf-ros eval plays one.


@dataclass
class PlayedFrame:
    """One frame of the bag: the true person and what the pipeline published."""

    truth: HumanEstimate
    humans: list[HumanEstimate]

    @property
    def share_in_view(self) -> float:
        """Share of the true person's joints inside the image."""
        x, y = self.truth.keypoints_2d.T
        return float(((x >= 0) & (x < WIDTH) & (y >= 0) & (y < HEIGHT)).mean())


def write_walk_bag(path: Path) -> None:
    """The walk across the view (from 100 px left of the centre, past a pole in the middle)
    as a rosbag2 (Image, CameraInfo and ground truth, 10 fps stamps)."""
    mesh = BodyMesh.default()
    with BagWriter(path) as bag:
        for t, scene in enumerate(walking_scenes(mesh, ACROSS_FRAMES, -100, painted_pole)):
            bag.write_frame(STAMP0_NS + int(t * 1e9 / FPS), scene.image, scene.K,
                            truth=truth_estimates(scene, mesh))


def play(path: Path) -> list[PlayedFrame]:
    """The bag's frames through the node's pipeline and tracker (its shipped settings with
    cheap fits: 5 cold, 3 warm steps), each frame tracked at its header stamp."""
    settings = default_settings()
    settings.update(device="cpu", fit_iterations=5, tracking_iterations=3, fit_hypotheses=1)
    pipeline, tracker = build_pipeline(settings)
    played = []
    for frame in read_frames(path):
        assert frame.truth is not None and len(frame.truth) == 1
        humans = pipeline.track(frame.rgb, frame.K, tracker, frame.stamp_ns / 1e9)
        played.append(PlayedFrame(frame.truth[0], humans))
    return played


def joint_error(human: HumanEstimate, truth: HumanEstimate) -> float:
    """Median image distance of a published skeleton's joints from the true ones, in
    heights of the true person's box."""
    height = truth.roi[3] - truth.roi[1]
    return float(np.median(np.linalg.norm(human.keypoints_2d - truth.keypoints_2d, axis=1))
                 / height)


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> list[PlayedFrame]:
    path = tmp_path_factory.mktemp("walk") / "bag"
    write_walk_bag(path)
    return play(path)


def test_walking_across_the_bag_crosses_the_view_and_leaves_it(
        played: list[PlayedFrame]) -> None:
    shares = [f.share_in_view for f in played]
    assert len(played) == ACROSS_FRAMES
    assert sum(s == 1.0 for s in shares) >= 15, shares
    assert sum(s == 0.0 for s in shares) >= 3, shares
    crossed = played[17].truth.roi[0] - played[0].truth.roi[0]
    assert crossed > WIDTH / 2, crossed


def test_walking_across_each_published_skeleton_lies_on_the_person_of_its_frame(
        played: list[PlayedFrame]) -> None:
    # The ghost: a skeleton left where the person had been while they walked on.
    off = [(t, round(joint_error(h, f.truth), 2)) for t, f in enumerate(played)
           for h in f.humans if joint_error(h, f.truth) > 1 / 3]
    assert not off, f"{len(off)} skeletons off their person (frame, error): {off}"


def test_walking_across_the_person_keeps_one_track_id_while_in_view(
        played: list[PlayedFrame]) -> None:
    in_view = [f for f in played if f.share_in_view == 1.0]
    assert all(len(f.humans) == 1 for f in in_view), [len(f.humans) for f in in_view]
    ids = {h.track_id for f in played for h in f.humans}
    assert len(ids) == 1, ids


def test_walking_across_nobody_is_published_once_the_person_has_gone(
        played: list[PlayedFrame]) -> None:
    ghosts = [(t, [h.roi.round().tolist() for h in f.humans])
              for t, f in enumerate(played) if f.share_in_view == 0.0 and f.humans]
    assert not ghosts


def test_walking_across_confidence_falls_as_the_person_leaves_the_view(
        played: list[PlayedFrame]) -> None:
    in_view = [h.confidence for f in played if f.share_in_view == 1.0 for h in f.humans]
    mostly_out = [h.confidence for f in played if 0.0 < f.share_in_view < 0.5
                  for h in f.humans]
    # Nobody published while mostly out of view is the confidence falling to nothing.
    assert all(c < min(in_view) for c in mostly_out), (min(in_view), mostly_out)
