"""One fit's fixed inputs and running state: the resolution levels (``Level``), the
optimised offsets and their Adam state (``FitSession``), and the step that runs eagerly or
replays from a CUDA graph (``Stepper``). A session's tensors stay in place from frame to
frame, so a captured graph stays valid when the next frame of the same shapes refills them.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from nbf_ros.fitting.config import FitConfig
from nbf_ros.fitting.state import BodyState
from nbf_ros.fitting.terms.depth_input import pool_depth
from nbf_ros.fitting.terms.person_prior import pool_prior, with_person_prior
from nbf_ros.graph_replay import GraphReplay, recover_from_failed_capture
from nbf_ros.nbv.camera import CropCamera
from nbf_ros.nbv.renderer import reach_radius

if TYPE_CHECKING:
    from nbf_ros.fitting.fitter import Fitter

__all__ = ["FitSession", "Level", "Stepper", "attach_depth", "attach_prior", "compiled_batch",
           "compiled_loss", "session_key", "set_radii"]


@dataclass
class Level:
    """Inputs of one resolution level that stay fixed while a frame is fitted."""

    camera: CropCamera  # batch B * hypotheses
    rays: Tensor  # [BH, P, 3]
    sigma: Tensor  # [K] kernel radii used at this level
    radius: int  # pixel window of the kernel selection
    features: Tensor  # [B, P, D] unit crop features at this resolution
    table: Tensor | None  # [B, P, K, NB] pixel-to-kernel-bin cosines ("average" match)
    person: Tensor  # [BH] long, table row of each batch entry
    clutter: Tensor  # [BH, P] best clutter cosine per pixel
    background: Tensor | None  # [BH, P, D] best clutter feature per pixel ("blend" match)
    log_z: Tensor | None = None  # [BH, P] softmax log partition per pixel ("posterior")
    depth: Tensor | None = None  # [BH, P] measured camera z, metres, 0 = none (terms/depth.py)


def session_key(cfg: FitConfig, bh: int, feature_shape: torch.Size, coarse: bool,
                 keypoints: bool, depth: bool = False) -> tuple:
    """What a captured step depends on: shapes and the objective's settings
    (the schedule - step sizes, root-only steps, stopping - is fed in per step). Kernel
    windows are not part of it: a session serves any frame whose windows fit in its own."""
    objective = dataclasses.replace(
        cfg, iterations=1, root_iterations=0, lr=1.0, final_lr_fraction=1.0, tolerance=0.0,
        check_every=1, time_budget_ms=None, coarse_fraction=0.0)
    return repr(objective), bh, tuple(feature_shape), coarse, keypoints, depth


class FitSession:
    """Everything one fit's steps read and write, kept in fixed tensors so that a captured
    CUDA graph stays valid when the next frame of the same shapes refills them."""

    def __init__(self, fitter: Fitter, cfg: FitConfig, start: BodyState,
                 kp: tuple[Tensor, Tensor] | None, fine: Level, coarse: Level | None,
                 graphs: bool) -> None:
        self.start, self.kp, self.fine, self.coarse = start, kp, fine, coarse
        dev, bh = start.translation.device, start.batch
        self.d_root = torch.zeros(bh, 3, device=dev, requires_grad=True)
        self.d_trans = torch.zeros(bh, 3, device=dev, requires_grad=True)
        self.d_pose = torch.zeros(bh, len(fitter.fitted), 3, device=dev, requires_grad=True)
        self.d_shape = torch.zeros_like(start.shape, requires_grad=cfg.fit_shape)
        self.params = [self.d_root, self.d_trans, self.d_pose] + (
            [self.d_shape] if cfg.fit_shape else [])
        self.graphs = graphs
        # A captured graph reads the step size and the root-only gate from device memory.
        lr = torch.tensor(cfg.lr, device=dev) if graphs else cfg.lr
        self.optim = torch.optim.Adam(self.params, lr=lr, capturable=graphs)
        self.pose_gate = torch.ones((), device=dev)
        self.active = torch.ones(bh, dtype=torch.bool, device=dev)
        self.fitter, self.cfg = fitter, cfg
        # One compiled function serves every session: dynamo caches by code object and
        # guards on shapes and settings, so a session of known shapes compiles nothing.
        self.loss = compiled_loss() if cfg.compile_step else FitSession.objective
        self.stepper = Stepper(self.step, self.params, graphs)
        # The fitted state's loss, maps and joint visibility: replayed from one graph (the
        # eager evaluation launched about as many kernels as a fitting step). Read before
        # the next fit of this session, so its outputs need no copy.
        self.evaluate = GraphReplay(self._evaluate, enabled=graphs, clone=False)
        # A new frame's levels: copied into this session's buffers by load(), so the
        # graph's own outputs serve.
        self._level_graph = GraphReplay(self._level_inputs, enabled=graphs, clone=False)

    def state(self) -> BodyState:
        """Current state from the initial state and the optimised offsets."""
        return self.fitter._compose(self.start, self.d_root, self.d_trans, self.d_pose,
                                    self.d_shape)

    def next_levels(self, features: Tensor, camera: CropCamera, start: BodyState
                    ) -> tuple[Level, Level | None]:
        """A new frame's levels for this session's shapes, kernel windows set (one host
        sync); valid until the next call."""
        return set_radii(*self._level_graph(features, camera.K, start.rotations,
                                             start.translation, start.shape))

    def _level_inputs(self, features: Tensor, K: Tensor, rotations: Tensor,
                      translation: Tensor, shape: Tensor
                      ) -> tuple[Level, Tensor, Level | None, Tensor | None]:
        """``Fitter._level_inputs`` with this session's settings, from tensors alone."""
        camera = CropCamera(K, self.fine.camera.height, self.fine.camera.width)
        return self.fitter._level_inputs(features, camera,
                                         BodyState(rotations, translation, shape), self.cfg,
                                         self.cfg.hypotheses, self.coarse is not None)

    @torch.no_grad()
    def _evaluate(self) -> tuple[BodyState, Tensor, dict[str, Tensor], Tensor]:
        """The current state, its loss [BH] and extras at full resolution, and the joint
        visibility [BH, J]."""
        state = self.state().detach()
        loss, extras = self.fitter._objective(state, self.fine, self.cfg, self.kp)
        visibility = self.fitter._joint_visibility(
            extras["index"], extras["weight"], extras["occlusion"], extras["joints"],
            self.fine.camera)
        return state, loss, extras, visibility

    def objective(self, level: Level) -> Tensor:
        """The loss of every body on ``level`` at the current offsets, anchor included."""
        loss = self.fitter._objective(self.state(), level, self.cfg, self.kp)[0]
        if self.cfg.anchor_weight > 0:
            offsets = self.d_pose.square().sum((1, 2)) + self.d_root.square().sum(1)
            loss = loss + self.cfg.anchor_weight * offsets
        return loss

    def step(self, level: Level) -> Tensor:
        """One Adam step of every body on ``level``; the loss before the step."""
        loss = self.loss(self, level)
        loss.sum().backward()
        with torch.no_grad():
            self.d_pose.grad.mul_(self.pose_gate)
            if self.cfg.fit_shape:
                self.d_shape.grad.mul_(self.pose_gate)
            for p in self.params:  # converged bodies stop moving; Adam keeps their state
                p.grad.mul_(self.active.view(-1, *([1] * (p.dim() - 1))))
        self.optim.step()
        return loss.detach()

    def set_step(self, lr: float, pose: bool) -> None:
        """Step size and whether the pose moves (after the root-only steps)."""
        for group in self.optim.param_groups:
            if isinstance(group["lr"], Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
        self.pose_gate.fill_(1.0 if pose else 0.0)

    def holds(self, fine: Level, coarse: Level | None) -> bool:
        """Whether this session's kernel windows are at least as wide as the given levels'
        (a wider window finds the same kernels, at some extra cost)."""
        if fine.radius > self.fine.radius:
            return False
        return coarse is None or coarse.radius <= self.coarse.radius

    @torch.no_grad()
    def load(self, start: BodyState, kp: tuple[Tensor, Tensor] | None, fine: Level,
             coarse: Level | None) -> None:
        """Copy a new frame's inputs into the buffers and restart the optimiser."""
        mine: list[Tensor] = []
        new: list[Tensor] = []
        for old_part, new_part in ((self.start, start), (self.fine, fine),
                                   (self.coarse, coarse)):
            if old_part is None:
                continue
            for name, value in vars(old_part).items():
                if isinstance(value, Tensor):
                    mine.append(value)
                    new.append(getattr(new_part, name))
                elif isinstance(value, CropCamera):
                    mine.append(value.K)
                    new.append(getattr(new_part, name).K)
        if kp is not None:
            mine += list(self.kp)
            new += list(kp)
        # One launch each for all copies and all resets (on a GPU, launches are the cost).
        torch._foreach_copy_(mine, new)
        state = [v for p in self.params for v in self.optim.state[p].values()
                 if isinstance(v, Tensor)]
        torch._foreach_zero_([*self.params, *state])
        self.active.fill_(True)


class Stepper:
    """Runs one optimisation step per call: eagerly, or on CUDA replayed from a graph
    captured per resolution level after two eager warm-up steps (the loop is launch-bound:
    a replay issues the iteration's ~900 kernels without Python in between)."""

    warmup = 2

    def __init__(self, step: Callable[[Level], Tensor], params: list[Tensor],
                 graphs: bool) -> None:
        self.step, self.params, self.graphs = step, params, graphs
        self.captured: dict[int, tuple[torch.cuda.CUDAGraph, Tensor]] = {}
        self.eager_steps: dict[int, int] = {}
        self.failures: dict[int, int] = {}
        self.eager_levels: set[int] = set()
        self.replays = 0
        self.stream = torch.cuda.Stream() if graphs else None

    def __call__(self, level: Level) -> Tensor:
        for p in self.params:
            p.grad = None
        key = id(level)
        if not self.graphs or key in self.eager_levels:
            return self.step(level)
        if key in self.captured:
            graph, loss = self.captured[key]
            graph.replay()
            self.replays += 1
            return loss
        if self.eager_steps.get(key, 0) < self.warmup:
            # Warm-up on a side stream, as CUDA graph capture requires.
            self.eager_steps[key] = self.eager_steps.get(key, 0) + 1
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):
                loss = self.step(level)
            torch.cuda.current_stream().wait_stream(self.stream)
            return loss
        graph = torch.cuda.CUDAGraph()
        try:
            # The warm-up's stream: libraries set up per stream (cuBLAS workspaces) are ready.
            # thread_local: a pipelined node's network thread may allocate or launch while
            # this thread captures; only this thread's unsafe calls would spoil the capture.
            with torch.cuda.graph(graph, stream=self.stream, capture_error_mode="thread_local"):
                loss = self.step(level)
        except RuntimeError as err:
            # Once on an H100 a process's first capture failed (cudaErrorStreamCaptureInvalidated)
            # and the next capture worked, so the step runs eagerly and the next one tries
            # again; after two failures the level stays eager.
            recover_from_failed_capture(self.stream)
            self.failures[key] = self.failures.get(key, 0) + 1
            if self.failures[key] >= 2:
                self.eager_levels.add(key)
                warnings.warn(f"CUDA graph capture failed twice, fitting this level without "
                              f"graphs: {err}", RuntimeWarning, stacklevel=2)
            for p in self.params:
                p.grad = None
            return self.step(level)
        self.captured[key] = (graph, loss)
        graph.replay()  # capture records the step without running it
        self.replays += 1
        return loss


_COMPILED: list[Callable] = []


def compiled_batch(batch: int) -> int:
    """The batch size a compiled step runs ``batch`` bodies at: the next power of two."""
    return 1 << (batch - 1).bit_length()


def compiled_loss() -> Callable[[FitSession, Level], Tensor]:
    """``FitSession.objective`` under torch.compile, made once per process."""
    if not _COMPILED:
        # Static shapes: each padded batch size, resolution level and objective variant
        # compiles once (about 20 s on an H200, 25-50 s on 2 CPU cores). A symbolic batch
        # size compiled for minutes on the H200 (2026-11-26), longer than the whole static
        # set a node meets. That set (6 sizes x 2 levels x with or without keypoints) is
        # above dynamo's default of 8 compilations per function, past which it would run
        # the step eagerly; raising the limit leaves other code's compilations as they were.
        limit = torch._dynamo.config.recompile_limit
        torch._dynamo.config.recompile_limit = max(limit, 32)
        _COMPILED.append(torch.compile(FitSession.objective, dynamic=False))
    return _COMPILED[0]


def attach_depth(fine: Level, coarse: Level | None, depth: Tensor | None, hyp: int,
                  camera: CropCamera) -> None:
    """Give the levels the measured depth of their cells (one row per hypothesis)."""
    if depth is None:
        return
    fine.depth = depth.repeat_interleave(hyp, 0)
    if coarse is not None:
        coarse.depth = pool_depth(depth, camera.height, camera.width).repeat_interleave(hyp, 0)


def attach_prior(fine: Level, coarse: Level | None, prior: Tensor | None, hyp: int,
                  camera: CropCamera, floor: float) -> None:
    """Re-weight the levels' kernel-or-clutter posterior by a person prior (one row per
    person, repeated per hypothesis; 2 x 2 means on the coarse level)."""
    if prior is None:
        return
    for level, cells in ((fine, prior),
                         (coarse, None if coarse is None else
                          pool_prior(prior, camera.height, camera.width))):
        if level is not None and level.log_z is not None:
            level.log_z, level.clutter = with_person_prior(
                level.log_z, level.clutter, cells.repeat_interleave(hyp, 0), floor)


def set_radii(fine: Level, fine_reach: Tensor, coarse: Level | None,
               coarse_reach: Tensor | None) -> tuple[Level, Level | None]:
    """The levels with kernel windows that hold their reaches (one host sync for both)."""
    reaches = [fine_reach] if coarse is None else [fine_reach, coarse_reach]
    values = torch.stack(reaches).tolist()
    fine.radius = reach_radius(values[0])
    if coarse is not None:
        coarse.radius = reach_radius(values[1])
    return fine, coarse
