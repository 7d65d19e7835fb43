"""A person walks out of view (issue 32, item 6): the node's pipeline publishes them while
they are there, under one track id, and nobody once they have gone; each published person is
confirmed in its own frame, and its confidence is that frame's evidence."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
import torch

from nbf_ros.estimate import HumanEstimate
from nbf_ros.fitting.state import BodyState
from nbf_ros.fitting.tracking import box_iou
from nbf_ros.node_settings import build_pipeline, default_settings
from nbf_ros.synth.depth import board_occluder
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.motion import smooth_motion
from nbf_ros.synth.poses import random_body_pose
from nbf_ros.synth.scenes import Scene, SceneConfig, draw_scene, sample_layout
from nbf_ros.vision.frontend.body_evidence import person_confidence

FPS = 10.0
SPEED = 2.0  # metres per second to the right: about 14 px a frame at this distance
FRAMES = 18  # in view 0-5, leaving 6-12, gone 13-17
SEED = 2  # a layout whose pole stays in view, left of where the person walks off


@dataclass
class Published:
    """What the node's pipeline published for one frame."""

    humans: list[HumanEstimate]
    scores: np.ndarray  # [N] the landmarks' confidence in each of the frame's readings


def walk_out_of_view() -> list[Scene]:
    """One person, a pole in front of their start, walking right until they leave the image
    (320 x 240, 10 frames per second, legs and arms moving between key poses)."""
    mesh = BodyMesh.default()
    cfg = SceneConfig(height=240, width=320, extra_people=0, occluder_probability=0.0,
                      subject_height=(0.6, 0.65), centre_jitter=0.0, focal=(0.9, 1.0))
    gen = torch.Generator().manual_seed(SEED)
    layout = sample_layout(mesh, gen, cfg)
    mask, rgb, _ = board_occluder("pole", gen, mesh, layout.rotations[0],
                                  layout.translation[0], layout.shape[0], layout.K,
                                  cfg.height, cfg.width)
    layout = replace(layout, occluder_mask=mask, occluder_rgb=rgb)
    start = layout.translation.clone()
    start[0, 0] += 40 * start[0, 2] / layout.K[0, 0]  # 40 px right of the image centre
    keys = []
    for _ in range(FRAMES // 4 + 2):
        rot = random_body_pose(mesh.body, 1, gen, 0.3)
        rot[:, 0] = layout.rotations[:, 0]
        keys.append(BodyState(rot, start, layout.shape))
    scenes = []
    for t, state in enumerate(smooth_motion(keys, 4)[:FRAMES]):
        trans = start.clone()
        trans[0, 0] += SPEED * t / FPS
        frame = replace(layout, rotations=state.rotations, translation=trans)
        scenes.append(draw_scene(mesh, frame, torch.Generator().manual_seed(SEED * 1000 + t),
                                 cfg.noise, SEED))
    return scenes


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
