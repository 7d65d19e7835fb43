"""The methods bench/real_media.py compares: the node's pipeline with its defaults and each
ablation of the landmark evidence, the front end's own landmarks, the shipped front end
before it (the feature network's detector, no landmarks), and MediaPipe's own output."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from nbf_ros.estimate import HumanEstimate
from nbf_ros.eval.image_scores import LABEL_JOINTS, Person, facing_from_3d
from nbf_ros.fitting.tracking import Tracker
from nbf_ros.node_settings import apply_live_settings, build_pipeline, default_settings
from nbf_ros.pipeline import PosePipeline
from nbf_ros.progress import tqdm
from nbf_ros.vision.frontend.landmarks import (
    LANDMARK_NAMES,
    PersonLandmarks,
    frame_tensor,
    landmark_boxes,
)

__all__ = ["METHODS", "VIDEO_METHODS", "build_method"]

FPS = 10.0  # vtest.avi's frame rate
# The video runs shorter fits: 5 steps per tracked person (the node's CPU real-time setting,
# bench/results/cpu_10fps.md) and 20 for a new one, who starts from its world landmarks.
# With up to eight people a frame the defaults (20 and 120) took about 30 s a frame on the
# loaded 2-core CPU of 2026-12-07, too long for 200 frames.
VIDEO_PARAMS = {"tracking_iterations": 5, "fit_iterations": 20}

# name -> (node parameters over config/pose.yaml, fit settings over the pipeline's)
METHODS: dict[str, tuple[dict, dict]] = {
    "full": ({}, {}),
    "keypoints only (no NBV features)": ({}, {"feature_weight": 0.0}),
    "no landmark keypoint term": ({"landmark_weight": 0.0}, {}),
    "no person-mask prior": ({}, {"person_prior": False}),
    "start from regression": ({}, {}),
    "front-end landmarks (no fit)": ({}, {}),
    "old front end (network detector, no landmarks)": (
        {"detector": "network", "landmarks": False}, {}),
    "MediaPipe BlazePose (own output)": ({}, {}),
}
# The video (200 frames of up to eight people, every one fitted) costs most; the ablations
# and the old front end are scored on the photographs only.
VIDEO_METHODS = ("full", "front-end landmarks (no fit)", "MediaPipe BlazePose (own output)")


@dataclass
class Method:
    """A method's answers: people in one image, and people with track ids in each frame."""

    image: Callable[[np.ndarray], list[Person]]
    video: Callable[[list[np.ndarray]], list[list[Person]]]


def progress(frames: list[np.ndarray]) -> Iterable[np.ndarray]:
    """The frames with a progress bar on a terminal (quiet in a log)."""
    return tqdm(frames, desc="frames", unit="frame", leave=False)


def camera(rgb: np.ndarray) -> np.ndarray:
    """Intrinsics of an uncalibrated image: fx = fy = width, centred."""
    h, w = rgb.shape[:2]
    return np.array([[w, 0.0, w / 2], [0.0, w, h / 2], [0.0, 0.0, 1.0]])


def estimate_person(human: HumanEstimate) -> Person:
    """One of the pipeline's estimates as a scored person."""
    names = list(human.joint_names)
    idx = [names.index(name) for name in LABEL_JOINTS]
    joints = np.concatenate((human.keypoints_2d[idx], np.full((len(idx), 1), 2.0)), 1)
    ray = human.root_translation / max(float(np.linalg.norm(human.root_translation)), 1e-9)
    return Person(np.asarray(human.roi, dtype=np.float64), joints,
                  facing_from_3d(human.joints, names, ray), score=human.confidence,
                  track_id=human.track_id)


def clipped(boxes: np.ndarray, rgb: np.ndarray) -> np.ndarray:  # [N, 4]
    """Boxes [N, 4] clipped to the image, as the pipeline clips its people's boxes."""
    h, w = rgb.shape[:2]
    return np.clip(boxes, 0, [w, h, w, h])


def landmark_people(lm: PersonLandmarks, boxes: np.ndarray, scores: np.ndarray,
                    ids: list[int | None] | None = None) -> list[Person]:
    """Landmark readings as scored people (facing from the world landmarks)."""
    idx = [LANDMARK_NAMES.index(name) for name in LABEL_JOINTS]
    out = []
    for i in range(len(lm)):
        joints = np.concatenate((lm.xy[i, idx], np.full((len(idx), 1), 2.0)), 1)
        out.append(Person(boxes[i], joints, facing_from_3d(lm.world[i], LANDMARK_NAMES),
                          score=float(scores[i]), track_id=None if ids is None else ids[i]))
    return out


def pipeline_method(params: dict, fit: dict, start: str | None = None) -> Method:
    """The node's pipeline (config/pose.yaml with ``params``), its fits changed by ``fit``."""
    settings = {**default_settings(), **params}
    pipe, tracker = build_pipeline(settings)
    apply_live_settings(pipe, tracker, settings)
    pipe.fit_config = replace(pipe.fit_config, **fit)
    pipe.tracking_config = replace(pipe.tracking_config, **fit)
    if start is not None:
        pipe.config.landmark_start = start

    def image(rgb: np.ndarray) -> list[Person]:
        return [estimate_person(h) for h in pipe.estimate(rgb, camera(rgb))]

    def video(frames: list[np.ndarray]) -> list[list[Person]]:
        apply_live_settings(pipe, tracker, {**settings, **VIDEO_PARAMS})
        pipe.fit_config = replace(pipe.fit_config, **fit)
        pipe.tracking_config = replace(pipe.tracking_config, **fit)
        tracker.reset()
        pipe.forget_people()
        return [[estimate_person(h) for h in pipe.track(rgb, camera(rgb), tracker, i / FPS)]
                for i, rgb in enumerate(progress(frames))]

    return Method(image, video)


def landmarks_method(pipe: PosePipeline) -> Method:
    """The front end's own landmarks (detector, landmark model and following; no fit), with
    the pipeline's tracker giving ids to their boxes."""
    front = pipe.front_end

    def image(rgb: np.ndarray) -> list[Person]:
        people = front.find(rgb, frame_tensor(rgb), follow=False)
        return landmark_people(people.landmarks, clipped(people.boxes, rgb), people.scores)

    def video(frames: list[np.ndarray]) -> list[list[Person]]:
        front.reset()
        tracker = Tracker()
        out = []
        for i, rgb in enumerate(progress(frames)):
            people = front.find(rgb, frame_tensor(rgb), follow=True)
            matched = tracker.match(people.boxes, i / FPS, people.ids)
            ids = tracker.update(matched, people.boxes, [None] * len(matched), i / FPS,
                                 people.ids)
            out.append(landmark_people(people.landmarks, clipped(people.boxes, rgb),
                                       people.scores, ids))
        return out

    return Method(image, video)


def mediapipe_method() -> Method:
    """MediaPipe Pose (BlazePose GHUM full, the one its 0.10.14 wheel ships) as it runs out
    of the box: one person per frame, its own detector and tracking in video mode."""
    try:
        from mediapipe.python.solutions import pose as mp_pose
    except ImportError:
        raise SystemExit("real_media: the MediaPipe row needs the peers extra: "
                         "pip install 'mediapipe==0.10.14' 'protobuf>=4.25.3,<5'") from None

    def people(result, rgb: np.ndarray, track: int | None) -> list[Person]:  # noqa: ANN001
        if result.pose_landmarks is None:
            return []
        h, w = rgb.shape[:2]
        marks = result.pose_landmarks.landmark
        xy = np.array([[m.x * w, m.y * h] for m in marks[:33]])
        world = np.array([[m.x, m.y, m.z] for m in result.pose_world_landmarks.landmark[:33]])
        box = clipped(landmark_boxes(xy[None]), rgb)[0]  # as our front end's, clipped
        idx = [LANDMARK_NAMES.index(name) for name in LABEL_JOINTS]
        joints = np.concatenate((xy[idx], np.full((len(idx), 1), 2.0)), 1)
        return [Person(box, joints, facing_from_3d(world, LANDMARK_NAMES), track_id=track)]

    def image(rgb: np.ndarray) -> list[Person]:
        with mp_pose.Pose(static_image_mode=True, model_complexity=1) as est:
            return people(est.process(np.ascontiguousarray(rgb)), rgb, None)

    def video(frames: list[np.ndarray]) -> list[list[Person]]:
        with mp_pose.Pose(static_image_mode=False, model_complexity=1) as est:
            return [people(est.process(np.ascontiguousarray(rgb)), rgb, 1)
                    for rgb in progress(frames)]

    return Method(image, video)


def build_method(name: str) -> Method:
    """The named method, ready to run."""
    params, fit = METHODS[name]
    if name == "MediaPipe BlazePose (own output)":
        return mediapipe_method()
    if name == "front-end landmarks (no fit)":
        settings = default_settings()
        pipe, _ = build_pipeline(settings)
        return landmarks_method(pipe)
    return pipeline_method(params, fit, "regression" if name == "start from regression" else None)
