"""Frame + intrinsics -> people: detection, per-person features, NBV fitting (no ROS here).

    pipeline = PosePipeline(PipelineConfig())
    humans = pipeline.estimate(rgb, K)          # list[HumanEstimate], camera optical frame

Stages: the feature network (through its inference engine, ``engine``: plain torch,
torch.compile, ONNX Runtime or TensorRT) runs once on the whole frame (downscaled to
``detect_size``) for person centres and boxes; each person's square crop is resampled to
``crop_size`` and run through the network again for its features, keypoints and regressed
pose; the fitter then refines all people of the frame in one batch, starting from the
regression or from the caller's warm starts (tracks).

On CUDA with an engine whose work is torch kernels (torch, compiled), detection's network
and peak search, and the crops' network and readout, replay from CUDA graphs
(``GraphReplay``, one per input shape; ``PipelineConfig.cuda_graphs``), as the fitter's
steps do: per frame they launch hundreds of tiny kernels, and the host's launches, not the
GPU, set the frame time otherwise.

The stages split in two halves that a node may run on two threads (frame pipelining):
``prepare`` (preprocessing, detection and the network's readout; nothing it does depends
on earlier frames) and ``finish`` / ``finish_track`` (tracking, fitting and the estimates).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from nbf_ros.device import resolve_device
from nbf_ros.device_defaults import device_defaults
from nbf_ros.estimate import HumanEstimate
from nbf_ros.fit_estimates import finite_people, fit_estimates, gather_results
from nbf_ros.fitting.config import MAX_HYPOTHESES, FitConfig
from nbf_ros.fitting.fitter import Fitter
from nbf_ros.fitting.state import BodyState, FitResult
from nbf_ros.fitting.terms.depth_input import crop_depth
from nbf_ros.fitting.tracking import Tracker
from nbf_ros.frame_input import frame_input
from nbf_ros.graph_replay import GraphReplay
from nbf_ros.nbv.camera import crop_intrinsics
from nbf_ros.paths import find_model_file
from nbf_ros.vision.centre_detection import MAX_PEOPLE, Detection, centre_peaks, peak_detections
from nbf_ros.vision.engines import ENGINE_NAMES, create_engine
from nbf_ros.vision.frontend.build import (
    DETECTOR_NAMES,
    LANDMARK_MODEL,
    joined,
    nanodet_detector,
    resolve_detector,
)
from nbf_ros.vision.frontend.fit_inputs import (
    LANDMARK_STARTS,
    placed_on_keypoints,
    with_landmarks,
)
from nbf_ros.vision.frontend.front_end import FrontEnd, FrontEndConfig
from nbf_ros.vision.frontend.landmarks import LandmarkModel, PersonLandmarks, frame_tensor
from nbf_ros.vision.network import NetOutput
from nbf_ros.vision.person_crops import resample_crops, square_crop_boxes
from nbf_ros.vision.readout import CropReadout, read_crops
from nbf_ros.vision.turn_head import read_turn
from nbf_ros.vision.weights import (
    DEFAULT_MODEL,
    SCHEDULE_KEYS,
    fit_settings,
    load_model,
    load_turn_head,
    resolve_model_path,
)

__all__ = ["MAX_PEOPLE", "TRACKED_STARTS", "Detection", "PipelineConfig", "PosePipeline",
           "PreparedFrame"]

TRACKED_STARTS = ("frame", "previous")  # PipelineConfig.tracked_start


@dataclass
class PipelineConfig:
    """Settings of the pose pipeline."""

    model: str = DEFAULT_MODEL  # model file path or models/ name
    device: str = "auto"  # auto (cuda if available), cpu, cuda, cuda:N
    engine: str = "auto"  # feature network engine: auto, tensorrt, compiled, onnxruntime, torch
    detect_size: int = 256  # longer image side for detection, pixels (multiple of 32)
    crop_size: int = 128  # person crop side for features and fitting (the training size)
    crop_margin: float = 1.2  # crop side / longer side of the detected box
    max_people: int = 8
    # Turned starts of a cold fit; 0: the model file's on CUDA, where they share each step's
    # launches, and one on a CPU, where each costs a whole fit (the node's fit_hypotheses 0).
    hypotheses: int = 0
    # On CUDA with a torch-native engine (torch, compiled), replay detection and the crops'
    # network and readout from CUDA graphs: one launch each instead of hundreds.
    cuda_graphs: bool = True
    detection_threshold: float = 0.3  # centre heatmap probability to accept a person
    # Who finds people: "nanodet" (real-trained, models/), "network" (the feature network's
    # own centre head) or "auto" (both with landmarks, NanoDet without; build.py says why).
    detector: str = "auto"
    # BlazePose landmarks (models/, real-trained) for every person found: their keypoints
    # enter the fit, their world landmarks turn its start, and their person score confirms
    # each person in every frame (nbf_ros/vision/frontend/).
    landmarks: bool = True
    landmark_weight: float = 5.0  # the fit's robust 2D keypoint term on the landmarks
    # Where a fit with landmarks starts: "pose" (their world landmarks' pose), "root" (the
    # regressed pose turned by their torso) or "regression" (the regressed pose).
    landmark_start: str = "pose"
    # A followed person's start with landmarks, placed on this frame's keypoints: "frame"
    # (this frame's start, as a new person's, with the track's shape; limbs move farther
    # between frames than a few warm steps follow) or "previous" (the last frame's pose).
    tracked_start: str = "frame"
    detect_every: int = 5  # video: frames between detector runs while people are followed
    visibility_threshold: float = 0.5  # joint_visibility below this -> JOINT_OCCLUDED
    # People without a warm start, and warm-started ones. None: FitConfig() and
    # FitConfig.tracking() with the device's defaults (nbf_ros/device_defaults.py: warm
    # steps and the compiled step); a FitConfig given here is used as it is.
    fit: FitConfig | None = None
    tracking_fit: FitConfig | None = None
    # Apply the objective settings stored in the model file (match, weights) over both fits.
    model_fit_settings: bool = True

    def __post_init__(self) -> None:
        if self.detect_size % 32 or self.crop_size % 32:
            raise ValueError("detect_size and crop_size must be multiples of 32")
        if not 1 <= self.max_people <= MAX_PEOPLE:
            raise ValueError(f"max_people must be in [1, {MAX_PEOPLE}], got {self.max_people}")
        if not 0.0 < self.detection_threshold < 1.0:
            raise ValueError("detection_threshold must be in (0, 1)")
        if not 0 <= self.hypotheses <= MAX_HYPOTHESES:
            raise ValueError(f"hypotheses must be in [0, {MAX_HYPOTHESES}], got {self.hypotheses}")
        if self.crop_margin < 1.0:
            raise ValueError("crop_margin must be >= 1")
        if self.detector not in DETECTOR_NAMES:
            raise ValueError(f"detector must be one of {', '.join(DETECTOR_NAMES)}, got "
                             f"{self.detector!r}")
        if self.landmark_start not in LANDMARK_STARTS:
            raise ValueError(f"landmark_start must be one of {', '.join(LANDMARK_STARTS)}, "
                             f"got {self.landmark_start!r}")
        if self.tracked_start not in TRACKED_STARTS:
            raise ValueError(f"tracked_start must be one of {', '.join(TRACKED_STARTS)}, "
                             f"got {self.tracked_start!r}")
        if self.landmark_weight < 0:
            raise ValueError(f"landmark_weight must be >= 0, got {self.landmark_weight}")
        if self.engine not in ENGINE_NAMES:
            raise ValueError(f"engine must be one of {', '.join(ENGINE_NAMES)}, got "
                             f"{self.engine!r}")


@dataclass
class PreparedFrame:
    """A frame after the network, before fitting: what the second half of the pipeline
    needs (its own timing, so two halves on two threads never share one)."""

    image_size: tuple[int, int]  # height, width in pixels
    K: Tensor  # [3, 3] float32 intrinsics on the pipeline's device
    boxes: np.ndarray  # [N, 4] person boxes, image pixels
    scores: list[float]
    crop_box: Tensor | None  # [N, 4] square crops read by the network (None: nobody)
    read: CropReadout | None  # the network's readout of the crops (None: nobody)
    timing: dict[str, float]  # seconds per stage so far
    landmarks: PersonLandmarks | None = None  # the front end's reading of the people
    depth: Tensor | None = None  # [N, h*w] registered depth on each crop's fitting grid, m
    keys: np.ndarray | None = None  # [N] the front end's ids of the people it follows


class PosePipeline:
    """The feature model, the fitter and the glue between them."""

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = cfg = config or PipelineConfig()
        self.device = resolve_device(cfg.device)
        model_path = resolve_model_path(cfg.model)
        self.net, self.volume, self.meta = load_model(model_path, self.device)
        # Which way people face, for the choice among a cold fit's turned starts (None when
        # the model file has no turn head).
        self.turn_head = load_turn_head(model_path, self.device)
        # Raises EngineUnavailable (with the reason) when a named engine cannot run here;
        # "auto" records in engine.skipped why it passed over the faster ones.
        self.engine = create_engine(cfg.engine, self.net, model_path,
                                    self.device, crop_size=cfg.crop_size,
                                    detect_size=cfg.detect_size)
        # The model's kernels render its silhouettes with its own opacity (nbv/silhouette.py),
        # and its objective weighs features, keypoints and regression by how good they are.
        opacity = self.meta["render_opacity"]
        tuned = fit_settings(self.meta) if cfg.model_fit_settings else {}
        objective = {k: v for k, v in tuned.items() if k not in SCHEDULE_KEYS}
        # cuda_graphs off turns the fitter's step graphs off too (everything eager).
        graphs_off = {} if cfg.cuda_graphs else {"cuda_graphs": False}
        # Landmark keypoints are real-trained evidence the model's own settings never saw
        # (their stored keypoint weight is for the network's heatmaps).
        landmark = {"keypoint_weight": cfg.landmark_weight} if cfg.landmarks else {}
        here = device_defaults(self.device)
        fit = cfg.fit or FitConfig(compile_step=here.compile_step)
        tracking_fit = cfg.tracking_fit or FitConfig.tracking(
            iterations=here.tracking_iterations, compile_step=here.compile_step)
        self.fit_config = replace(fit, render=replace(fit.render, opacity=opacity),
                                  **{**tuned, **landmark}, **graphs_off)
        self.tracking_config = replace(tracking_fit, render=replace(
            tracking_fit.render, opacity=opacity), **{**objective, **landmark},
            **graphs_off)
        self.detector = resolve_detector(cfg.detector, cfg.landmarks)
        # Who finds people, with or without the landmark stage after it.
        self.find_people = {"nanodet": nanodet_detector, "network": lambda: self._network_boxes,
                            "both": lambda: joined(nanodet_detector(), self._network_boxes)
                            }[self.detector]()
        self.front_end = FrontEnd(
            self.find_people, LandmarkModel(find_model_file(LANDMARK_MODEL)),
            FrontEndConfig(detect_every=cfg.detect_every, max_people=cfg.max_people)
        ) if cfg.landmarks else None
        # Root-only steps of a cold fit, before a smaller live step count caps them, and
        # its turned starts, which the node's fit_hypotheses may override.
        self.cold_root_iterations = self.fit_config.root_iterations
        self.cold_hypotheses = self.fit_config.hypotheses
        self.fit_config = replace(self.fit_config,
                                  hypotheses=cfg.hypotheses or self.default_hypotheses)
        self.fitter = Fitter(self.volume, self.fit_config)
        graphs = (cfg.cuda_graphs and self.device.type == "cuda"
                  and self.engine.graph_safe)
        # Detection's peaks are read at once (no clone); a frame's readout outlives the
        # next frame's network in a pipelined node, so it is cloned out of the graph.
        self._peaks_graph = GraphReplay(self._peaks, enabled=graphs, clone=False)
        self._read_graph = GraphReplay(self._read, enabled=graphs)
        # The same with the turn head's second pass; a graph holds one or the other, and the
        # node's fit_hypotheses may change which one a frame needs.
        self._read_turned_graph = GraphReplay(self._read_turned, enabled=graphs)
        self.timing: dict[str, float] = {}  # seconds per stage of the last frame
        # Fitted states of the last frame's people, in estimate order (warm starts).
        self.last_states: BodyState | None = None
        self.rejected = 0  # people of the last frame dropped because their fit was not finite

    @property
    def default_hypotheses(self) -> int:
        """Cold-fit starts when none are asked for: the model file's on CUDA, one on a CPU."""
        # On the 2-core CPU eight starts made a new person's frame 18 s instead of 2.2 s.
        return self.cold_hypotheses if device_defaults(self.device).model_hypotheses else 1

    @property
    def engine_description(self) -> str:
        """The engine running the network, in one line (for logs and diagnostics)."""
        return f"{self.engine.name} ({self.engine.description})"

    @torch.no_grad()
    def detect(self, image: Tensor) -> list[Detection]:
        """People in an RGB frame tensor [3, H, W] in [0, 1], best first."""
        # One transfer for all candidates: score, cell index, box width and height.
        found = torch.cat(self._peaks_graph(image), 1).cpu().numpy()
        cfg = self.config
        return peak_detections(found, tuple(image.shape[1:]), cfg.detect_size, cfg.max_people,
                               cfg.detection_threshold)

    def _network_boxes(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network head's person boxes [N, 4] and scores [N] in an RGB uint8 frame."""
        found = self.detect(self._inputs(rgb, np.eye(3))[0])
        boxes = np.stack([d.box for d in found]) if found else np.zeros((0, 4))
        return boxes.astype(np.float64), np.array([d.score for d in found])

    def _peaks(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``centre_peaks`` of a frame [3, H, W] through this pipeline's engine."""
        return centre_peaks(self.engine, image, self.config.detect_size)

    def crop_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """Square crop boxes [N, 4] around detection boxes [N, 4]."""
        return square_crop_boxes(boxes, self.config.crop_margin)

    def _crops(self, image: Tensor, boxes: Tensor) -> Tensor:
        """Crops [N, 3, S, S] of the frame, resampled bilinearly (zeros outside)."""
        return resample_crops(image, boxes, self.config.crop_size)

    def estimate(self, rgb: np.ndarray, K: np.ndarray,
                 boxes: np.ndarray | None = None,
                 warm_starts: list[BodyState | None] | None = None,
                 depth: np.ndarray | None = None) -> list[HumanEstimate]:
        """People in an RGB uint8 frame [H, W, 3] with intrinsics K [3, 3].

        ``boxes`` [N, 4] skips detection; ``warm_starts`` (one per box, None for a cold
        start) start the fit of those people from earlier states (tracking); ``depth``
        [H, W] registered depth in metres (0 = none) is evidence for the fit.
        """
        return self.finish(self.prepare(rgb, K, boxes, depth=depth), warm_starts)

    def track(self, rgb: np.ndarray, K: np.ndarray, tracker: Tracker,
              now: float, depth: np.ndarray | None = None) -> list[HumanEstimate]:
        """People in one video frame (time ``now``, seconds) with their track ids; fits
        start from the tracks' last bodies where the tracker allows warm starts."""
        return self.finish_track(self.prepare(rgb, K, follow=True, depth=depth), tracker, now)

    def forget_people(self) -> None:
        """Stop following the people of earlier frames (a new video, or a jump in time)."""
        if self.front_end is not None:
            self.front_end.reset()

    def prepare(self, rgb: np.ndarray, K: np.ndarray, boxes: np.ndarray | None = None,
                follow: bool = False, depth: np.ndarray | None = None) -> PreparedFrame:
        """First half of a frame: the people found (or the given ``boxes`` [N, 4]) and the
        network's readout of their crops. With landmarks, ``follow`` continues from the
        previous prepared frame's people (video); otherwise it depends on no earlier frame."""
        started = time.perf_counter()
        image, K_np = self._inputs(rgb, K)
        timing = {"preprocess": time.perf_counter() - started}
        landmarks = keys = None
        if self.front_end is not None:
            tic = time.perf_counter()
            people = self.front_end.find(rgb, image.cpu(), follow, boxes)
            timing["landmarks"] = time.perf_counter() - tic
            boxes, scores, landmarks = people.boxes, people.scores.tolist(), people.landmarks
            keys = people.ids
        elif boxes is None:
            tic = time.perf_counter()
            boxes, found = self.find_people(rgb)
            timing["detect"] = time.perf_counter() - tic
            scores = found.tolist()
        else:
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            scores = [1.0] * len(boxes)
        Kt = torch.as_tensor(K_np, dtype=torch.float32, device=self.device)
        frame = PreparedFrame((image.shape[1], image.shape[2]), Kt, boxes, scores, None, None,
                              timing, landmarks, keys=keys)
        if len(boxes):
            tic = time.perf_counter()
            frame.crop_box = torch.as_tensor(self.crop_boxes(boxes), dtype=torch.float32,
                                             device=self.device)
            reader = self._read_turned_graph if self.reads_turn else self._read_graph
            frame.read = reader(image, frame.crop_box, Kt)
            if landmarks is not None:
                frame.read = with_landmarks(frame.read, landmarks, frame.crop_box,
                                            self.config.crop_size, self.volume,
                                            self.config.landmark_start)
            timing["network"] = time.perf_counter() - tic
            if depth is not None:  # registered depth [H, W] m: the crops' cells (issue 31)
                tic = time.perf_counter()
                frame.depth = crop_depth(torch.as_tensor(depth, device=self.device),
                                         frame.crop_box, frame.read.camera.height,
                                         frame.read.camera.width)
                timing["depth"] = time.perf_counter() - tic
        timing["prepare"] = time.perf_counter() - started
        return frame

    @torch.no_grad()
    def _read(self, image: Tensor, crop_box: Tensor, K: Tensor) -> CropReadout:
        """The network's readout of the crops ``crop_box`` [N, 4] of a frame [3, H, W] with
        intrinsics K [3, 3] (no host sync: a graph replays it)."""
        return self._read_crops(image, crop_box, K, turn=False)

    @torch.no_grad()
    def _read_turned(self, image: Tensor, crop_box: Tensor, K: Tensor) -> CropReadout:
        """``_read`` with the turn head's bin weights (a second network pass)."""
        return self._read_crops(image, crop_box, K, turn=True)

    def _read_crops(self, image: Tensor, crop_box: Tensor, K: Tensor,
                    turn: bool) -> CropReadout:
        size = self.config.crop_size
        crop_K = crop_intrinsics(K.expand(len(crop_box), 3, 3), crop_box, size, size)
        crops = self._crops(image, crop_box)
        out = self.engine(crops)
        return read_crops(out, crop_K, self.volume, self.turn_of(out, crops) if turn else None)

    def finish(self, frame: PreparedFrame,
               warm_starts: list[BodyState | None] | None = None) -> list[HumanEstimate]:
        """Second half of a frame: the fitted people of a prepared frame (``warm_starts``,
        one per box, None for a cold start)."""
        started = time.perf_counter()
        humans, _ = self._people(frame, warm_starts)
        self._finished(frame, started)
        return humans

    def finish_track(self, frame: PreparedFrame, tracker: Tracker,
                     now: float) -> list[HumanEstimate]:
        """Second half of a video frame (time ``now``, seconds): tracking and fitting."""
        started = time.perf_counter()
        matched = tracker.match(frame.boxes, now, frame.keys)
        humans, kept = self._people(frame, tracker.warm_starts(matched))
        states = [self.last_states.index([i]) if self.last_states is not None else None
                  for i in range(len(humans))]
        ids = tracker.update([matched[i] for i in kept], frame.boxes[kept], states, now,
                             None if frame.keys is None else frame.keys[kept])
        for human, track_id in zip(humans, ids, strict=True):
            human.track_id = track_id
        self._finished(frame, started)
        return humans

    def _finished(self, frame: PreparedFrame, started: float) -> None:
        """Close a frame's timing ("total": both halves' work, not the wait between them)
        and make it the last frame's."""
        frame.timing["total"] = frame.timing["prepare"] + time.perf_counter() - started
        self.timing = frame.timing

    def _inputs(self, rgb: np.ndarray, K: np.ndarray) -> tuple[Tensor, np.ndarray]:
        """The frame as a [3, H, W] tensor in [0, 1] on the device, and K as float64 [3, 3]."""
        return frame_input(rgb, K, self.config.detect_size, self.device)

    def _people(self, frame: PreparedFrame, warm_starts: list[BodyState | None] | None
                ) -> tuple[list[HumanEstimate], list[int]]:
        """Estimates of the people of a prepared frame, and the indices of the boxes they
        come from (a person whose fit is not finite is dropped and counted in
        ``rejected``)."""
        self.rejected = 0
        self.last_states = None
        if frame.read is None or frame.crop_box is None:
            return [], []
        tic = time.perf_counter()
        result = self._fit(frame.read, warm_starts, frame.depth)
        frame.timing["fit"] = time.perf_counter() - tic
        kept = finite_people(result)
        self.rejected = len(frame.boxes) - len(kept)
        state = result.state.detach()
        self.last_states = state.index(kept) if kept else None
        humans = fit_estimates(result, frame.boxes, frame.scores, frame.K, frame.image_size,
                               kept, self.volume.body, self.config.visibility_threshold)
        crop_box = frame.crop_box.cpu().numpy()
        for human, i in zip(humans, kept, strict=True):
            human.extra["crop_box"] = crop_box[i]
        return humans, kept

    @torch.no_grad()
    def readout(self, rgbs: Sequence[np.ndarray], K: np.ndarray, box: np.ndarray
                ) -> CropReadout:
        """The network's readout of one person box [4] in each of several frames of the same
        camera (one batch): what fitting starts from, and the regression head's estimate."""
        crops, crop_K = self.person_crops(rgbs, K, box)
        out = self.engine(crops)
        read = read_crops(out, crop_K, self.volume,
                          self.turn_of(out, crops) if self.reads_turn else None)
        if self.front_end is None:
            return read
        lm = self.front_end.read_box([frame_tensor(rgb) for rgb in rgbs], box)
        crop_box = torch.as_tensor(self.crop_boxes(np.asarray(box, np.float64)[None]),
                                   dtype=torch.float32, device=self.device)
        return with_landmarks(read, lm, crop_box.expand(len(rgbs), 4), self.config.crop_size,
                              self.volume, self.config.landmark_start)

    def person_crops(self, rgbs: Sequence[np.ndarray], K: np.ndarray, box: np.ndarray
                     ) -> tuple[Tensor, Tensor]:
        """The network's input crops [N, 3, S, S] of one person box [4] in each of several
        frames of the same camera, and their intrinsics [N, 3, 3]."""
        images = torch.stack([self._inputs(rgb, K)[0] for rgb in rgbs])
        K_np = np.asarray(K, dtype=np.float64)
        cfg = self.config
        crop_box = torch.as_tensor(self.crop_boxes(np.asarray(box, np.float64)[None]),
                                   dtype=torch.float32, device=self.device)
        Kt = torch.as_tensor(K_np, dtype=torch.float32, device=self.device)
        crop_K = crop_intrinsics(Kt[None], crop_box, cfg.crop_size, cfg.crop_size)
        crops = torch.cat([self._crops(image, crop_box) for image in images])
        return crops, crop_K.repeat(len(rgbs), 1, 1)

    @property
    def reads_turn(self) -> bool:
        """Whether the readout gives the turn head's bin weights: the model file has a turn
        head, and cold fits weigh it (a turn prior weight and more than one start)."""
        return self.turn_head is not None and self.fit_config.weighs_turn

    def turn_of(self, out: NetOutput, crops: Tensor) -> Tensor:  # [N, bins]
        """Bin weights of each crop's facing azimuth (the model's turn head, turn_head.read_turn),
        given the engine's outputs ``out`` for ``crops``."""
        return read_turn(self.turn_head, crops, out, self.engine)

    def refine(self, read: CropReadout, robust: bool = True) -> FitResult:
        """Cold fits of a readout's people from their regressed poses, with or without the
        occlusion model."""
        config = replace(self.fit_config, robust=robust)
        return self.fitter.fit(read.features, read.camera, read.regression, read.keypoints,
                               read.keypoint_confidence, config=config, turn=read.turn,
                               person_prior=read.person_prior)

    def _fit(self, read, warm_starts: list[BodyState | None] | None,
             depth: Tensor | None = None) -> FitResult:
        """Cold fits from the regression and warm fits from the given states, one batch
        each (their step counts differ)."""
        n = read.regression.batch
        warm = [i for i in range(n) if warm_starts and i < len(warm_starts)
                and warm_starts[i] is not None]
        cold = [i for i in range(n) if i not in warm]
        parts: dict[int, tuple[FitResult, int]] = {}
        for idx, cfg in ((cold, self.fit_config), (warm, self.tracking_config)):
            if not idx:
                continue
            if len(idx) == n:  # everyone in one group (the usual frame): no gathering
                features, camera, keypoints, confidence = (
                    read.features, read.camera, read.keypoints, read.keypoint_confidence)
                sel = None
            else:
                sel = torch.tensor(idx, device=self.device)
                features, camera, keypoints, confidence = (
                    read.features[sel], read.camera.index(sel), read.keypoints[sel],
                    read.keypoint_confidence[sel])
            turn = None
            if cfg is self.fit_config:
                init = read.regression if sel is None else read.regression.index(sel)
                if read.turn is not None:
                    turn = read.turn if sel is None else read.turn[sel]
            else:
                states = [warm_starts[i] for i in idx]  # type: ignore[index]
                init = BodyState(torch.cat([s.rotations for s in states]).to(self.device),
                                 torch.cat([s.translation for s in states]).to(self.device),
                                 torch.cat([s.shape for s in states]).to(self.device))
                if read.person_prior is not None:  # landmarks: this frame's reading, place
                    if self.config.tracked_start == "frame":
                        fresh = read.regression if sel is None else read.regression.index(sel)
                        init = BodyState(fresh.rotations, init.translation, init.shape)
                    init = placed_on_keypoints(init, keypoints, confidence, camera,
                                               self.volume)
            prior = read.person_prior
            res = self.fitter.fit(features, camera, init, keypoints, confidence, config=cfg,
                                  turn=turn, depth=depth if sel is None or depth is None
                                  else depth[sel], person_prior=prior if sel is None
                                  or prior is None else prior[sel])
            if len(idx) == n:
                return res
            for j, i in enumerate(idx):
                parts[i] = (res, j)
        return gather_results(parts, n)
