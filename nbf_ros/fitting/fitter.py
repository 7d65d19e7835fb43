"""Batched analysis-by-synthesis fitting of a Neural Body Volume to crop features.

All people and hypotheses of a frame are one batch: one render, one likelihood and one
Adam step per iteration for all of them. Parameters are offsets from the initial state
(rotation vectors composed with the initial rotations, a translation offset), so a
warm start from the previous frame is simply a different initial state.
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch
import torch.nn.functional as F
from torch import Tensor

from nbf_ros.body.joint_limits import HingeLimits
from nbf_ros.body.joints import FITTED_JOINTS
from nbf_ros.body.rotations import axis_angle_to_matrix, rotation_angle
from nbf_ros.fitting.config import FitConfig
from nbf_ros.fitting.priors import keypoint_term, l2_prior, rest_distance
from nbf_ros.fitting.session import (
    FitSession,
    Level,
    attach_depth,
    attach_prior,
    compiled_batch,
    session_key,
    set_radii,
)
from nbf_ros.fitting.state import BodyState, FitResult
from nbf_ros.fitting.terms.depth import depth_term
from nbf_ros.fitting.terms.depth_input import depth_start
from nbf_ros.nbv.camera import CropCamera, pixel_of, pixel_rays, project
from nbf_ros.nbv.likelihood import (
    clutter_match,
    clutter_similarity,
    kernel_similarity,
    likelihood,
    listed_similarity,
    posterior_likelihood,
    posterior_normaliser,
    rendered_similarity,
    similarity_table,
)
from nbf_ros.nbv.renderer import kernel_weights, select_kernels, window_reach
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.vision.turn_head import azimuth_density, crop_ray, facing_azimuth

__all__ = ["Fitter", "blended_joints", "choice_score", "turn_density", "turned_starts"]


class Fitter:
    """Fits a NeuralBodyVolume to unit feature crops, batched over people x hypotheses."""

    def __init__(self, volume: NeuralBodyVolume, config: FitConfig | None = None) -> None:
        self.volume = volume
        self.config = config or FitConfig()
        names = volume.body.joint_names
        self.fitted = torch.tensor([names.index(n) for n in FITTED_JOINTS if n in names],
                                   device=volume.sigma.device)
        self.hinges = HingeLimits(volume.body)
        self.graph_replays = 0  # steps of the last fit replayed from a CUDA graph
        # CUDA: the buffers and captured graphs of recent fits, by shapes and settings, so
        # that the next frame of the same size replays them without a new capture.
        self._sessions: dict[tuple, FitSession] = {}
        self.max_sessions = 4

    def fit(
        self,
        features: Tensor,  # [B, H*W, D] unit image features of each person's crop
        camera: CropCamera,
        init: BodyState,
        keypoints: Tensor | None = None,  # [B, J, 2] crop pixels
        keypoint_confidence: Tensor | None = None,  # [B, J] in [0, 1]
        config: FitConfig | None = None,
        every_hypothesis: bool = False,
        turn: Tensor | None = None,  # [B, bins] facing azimuth weights (vision.turn_head)
        depth: Tensor | None = None,  # [B, H*W] registered depth on the crop grid, m, 0 = none
        person_prior: Tensor | None = None,  # [B, H*W] p(person) per crop cell, in [0, 1]
    ) -> FitResult:
        """Fit B bodies, one per crop, starting from ``init``; ``every_hypothesis``: all
        B x hypotheses fits (person-major rows), none chosen; ``turn``: what the choice
        among turned starts weighs by hypothesis_turn_prior_weight; ``depth``: evidence for
        the depth term (fitting/terms/depth.py); ``person_prior``: the clutter model's prior
        where FitConfig.person_prior is on (fitting/terms/person_prior.py)."""
        cfg = config or self.config
        if depth is not None and cfg.depth_shape and not cfg.fit_shape:
            cfg = dataclasses.replace(cfg, fit_shape=True)
        if not cfg.person_prior or cfg.match != "posterior":
            person_prior = None
        started = time.perf_counter()
        _check_inputs(features, camera, init, self.volume, keypoints, keypoint_confidence)
        if person_prior is not None and tuple(person_prior.shape) != tuple(features.shape[:2]):
            raise ValueError(f"person_prior: expected {tuple(features.shape[:2])}, got "
                             f"{tuple(person_prior.shape)}")
        if depth is not None and tuple(depth.shape) != tuple(features.shape[:2]):
            raise ValueError(f"depth: expected {tuple(features.shape[:2])}, got "
                             f"{tuple(depth.shape)}")
        if turn is not None and (turn.dim() != 2 or turn.shape[0] != init.batch):
            raise ValueError(f"turn: expected [{init.batch}, bins], got {tuple(turn.shape)}")
        padded = (compiled_batch(init.batch) if cfg.compile_step and init.batch > 0
                  else init.batch)
        if padded == init.batch:
            return self._fit(features, camera, init, keypoints, keypoint_confidence, cfg,
                             started, every_hypothesis, turn, depth, person_prior)
        # A compiled step compiles once per batch size: pad to a power of two with copies
        # of the last body (fitted alongside, then dropped), so a node whose people count
        # changes meets at most six sizes.
        n = init.batch
        pick = torch.cat((torch.arange(n), torch.full((padded - n,), n - 1))).to(
            features.device)
        return self._fit(features[pick], camera.index(pick), init.index(pick),
                         None if keypoints is None else keypoints[pick],
                         None if keypoint_confidence is None else keypoint_confidence[pick],
                         cfg, started, every_hypothesis,
                         None if turn is None else turn[pick],
                         None if depth is None else depth[pick],
                         None if person_prior is None else person_prior[pick]).index(
                             slice(0, n * (cfg.hypotheses if every_hypothesis else 1)))

    def _fit(self, features: Tensor, camera: CropCamera, init: BodyState,
             keypoints: Tensor | None, keypoint_confidence: Tensor | None, cfg: FitConfig,
             started: float, every_hypothesis: bool = False,
             turn: Tensor | None = None, depth: Tensor | None = None,
             person_prior: Tensor | None = None) -> FitResult:
        """``fit`` on checked inputs; ``started`` is when the call began (time budget)."""
        self._full_width = camera.width
        hyp, batch = cfg.hypotheses, init.batch
        bh = batch * hyp
        if depth is not None and cfg.depth_start and keypoints is not None:
            joints = self.volume.pose(init.rotations, init.translation, init.shape).joints
            conf = (keypoint_confidence if keypoint_confidence is not None
                    else torch.ones_like(keypoints[..., 0]))
            init = depth_start(init, joints, keypoints, conf, depth, camera.width,
                               cfg.depth_surface)
        start = turned_starts(init.detach(), hyp)
        kp = None
        if keypoints is not None:
            conf = (keypoint_confidence if keypoint_confidence is not None
                    else torch.ones_like(keypoints[..., 0]))
            kp = (keypoints.repeat_interleave(hyp, 0), conf.repeat_interleave(hyp, 0))
        coarse_steps = int(round(cfg.coarse_fraction * cfg.iterations))
        graphs = cfg.cuda_graphs and features.device.type == "cuda"
        key = session_key(cfg, bh, features.shape, coarse_steps > 0, kp is not None,
                           depth is not None)
        run = self._sessions.pop(key, None) if graphs else None
        if run is not None:  # the new frame's levels, replayed from the session's graph
            fine, coarse = run.next_levels(features, camera, start)
            if not run.holds(fine, coarse):
                run = None  # a kernel window larger than the captured one: capture again
        if run is None:
            fine, coarse = self._levels(features, camera, start, cfg, hyp, coarse_steps > 0)
            attach_depth(fine, coarse, depth, hyp, camera)
            attach_prior(fine, coarse, person_prior, hyp, camera, cfg.person_prior_floor)
            if graphs:  # a pixel of headroom, so that the next frames rarely need a capture
                for level in (fine, coarse):
                    if level is not None:
                        level.radius += 1
            run = FitSession(self, cfg, start, kp, fine, coarse, graphs)
        else:  # same shapes as an earlier fit: refill its buffers, replay its graphs
            attach_depth(fine, coarse, depth, hyp, camera)
            attach_prior(fine, coarse, person_prior, hyp, camera, cfg.person_prior_floor)
            run.load(start, kp, fine, coarse)
        if graphs:
            self._sessions[key] = run  # most recent last
            while len(self._sessions) > self.max_sessions:
                self._sessions.pop(next(iter(self._sessions)))
        dev = features.device
        steps = torch.zeros(bh, dtype=torch.long, device=dev)
        last_loss = torch.full((bh,), float("inf"), device=dev)
        active, replays_before = run.active, run.stepper.replays
        for it in range(cfg.iterations):
            level = run.coarse if it < coarse_steps else run.fine
            # Adam moves each parameter by about lr per step even at the optimum, so the
            # step size decays over the fine level to settle below a millimetre.
            run.set_step(_step_size(cfg, it, coarse_steps), it >= cfg.root_iterations)
            loss = run.stepper(level)
            steps += active
            if (it + 1) % cfg.check_every == 0:
                with torch.no_grad():
                    gain = (last_loss - loss) / cfg.check_every
                    # Only the full-resolution objective may declare convergence.
                    settled = (gain < cfg.tolerance) & (it >= max(cfg.root_iterations,
                                                                 coarse_steps + cfg.check_every))
                    active &= ~settled
                    last_loss = loss.clone()
                out_of_time = (cfg.time_budget_ms is not None and
                               (time.perf_counter() - started) * 1e3 > cfg.time_budget_ms)
                if out_of_time or not bool(active.any()):
                    break
        self.graph_replays = run.stepper.replays - replays_before

        state, loss, extras, visibility = run.evaluate()
        if every_hypothesis or hyp == 1:
            rows = torch.arange(bh, device=dev)
            return self._result(state, loss, extras, visibility, steps, ~active,
                                run.fine.camera, rows, rows % hyp)
        given = start.rotations[::hyp, 0].repeat_interleave(hyp, 0)  # copy 0: as given
        facing = None
        if turn is not None and cfg.weighs_turn:
            facing = turn_density(turn, state.rotations[:, 0].view(batch, hyp, 3, 3),
                                  camera).view(bh)
        score = choice_score(cfg, loss, project(extras["joints"], run.fine.camera.K), kp,
                             given, state.rotations[:, 0], facing)
        best = score.view(batch, hyp).argmin(1)
        pick = torch.arange(batch, device=dev) * hyp + best
        out = self._result(state, loss, extras, visibility, steps, ~active, run.fine.camera,
                           pick, best)
        if cfg.hypothesis_blend_temperature > 0:
            out.joints = blended_joints(score.view(batch, hyp).detach(),
                                        extras["joints"].detach().view(batch, hyp, -1, 3),
                                        cfg.hypothesis_blend_temperature)
        return out

    def _levels(self, features: Tensor, camera: CropCamera, start: BodyState, cfg: FitConfig,
                hyp: int, coarse: bool) -> tuple[Level, Level | None]:
        """The fine level and (``coarse``) the half-resolution one, kernel windows set."""
        levels = self._level_inputs(features, camera, start, cfg, hyp, coarse)
        return set_radii(*levels)

    def _level_inputs(self, features: Tensor, camera: CropCamera, start: BodyState,
                      cfg: FitConfig, hyp: int, coarse: bool
                      ) -> tuple[Level, Tensor, Level | None, Tensor | None]:
        """The fine level, its kernels' reach in pixels (0-d), and the same for the coarse
        level (``coarse``; else None, None): no host sync, kernel windows not set yet."""
        fine = self._level(features, camera, hyp, 1.0, start, cfg)
        if not coarse:
            return *fine, None, None
        return *fine, *self._level(features, camera, hyp, cfg.coarse_sigma, start, cfg,
                                   halve=True)

    @torch.no_grad()
    def _level(self, features: Tensor, camera: CropCamera, hyp: int, sigma_scale: float,
               start: BodyState, cfg: FitConfig, halve: bool = False
               ) -> tuple[Level, Tensor]:
        """Fixed inputs of one resolution level (camera, rays, similarity table, clutter;
        kernel window radius 0) and the largest kernel reach on it, pixels (0-d)."""
        vol = self.volume
        if halve:  # 2 x 2 average pooling of the features, intrinsics scaled to match
            h, w = camera.height // 2, camera.width // 2
            grid = features.view(-1, camera.height, camera.width, features.shape[-1])
            pooled = grid[:, : 2 * h, : 2 * w].unflatten(1, (h, 2)).unflatten(3, (w, 2))
            features = F.normalize(pooled.mean((2, 4)).flatten(1, 2), dim=-1)
            K = camera.K.clone()
            K[:, :2] *= 0.5  # no tensor from the host: a CUDA graph may be capturing this
            camera = CropCamera(K, h, w)
        cam = camera.repeat(hyp)
        rays = pixel_rays(cam)
        sigma = vol.sigma * sigma_scale
        posed = vol.pose(start.rotations, start.translation, start.shape)
        reach = window_reach(posed.points, sigma, cam, cfg.render)
        log_z = None
        if cfg.match == "posterior":
            kf = vol.kernel_features(posed)[::hyp]  # start pose of each person
            log_z, clutter = posterior_normaliser(features, kf, vol.clutter, cfg.temperature)
            log_z = log_z.repeat_interleave(hyp, 0)
            table = background = None
        elif cfg.match == "blend":
            clutter, background = clutter_match(features, vol.clutter)
            background = background.repeat_interleave(hyp, 0)
            table = None
        else:
            clutter, background = clutter_similarity(features, vol.clutter), None
            table = similarity_table(features, vol.features)
        clutter = clutter.repeat_interleave(hyp, 0)
        person = torch.arange(features.shape[0], device=features.device).repeat_interleave(hyp)
        return Level(cam, rays, sigma, 0, features, table, person, clutter, background,
                      log_z), reach

    def _compose(self, start: BodyState, d_root: Tensor, d_trans: Tensor, d_pose: Tensor,
                 d_shape: Tensor) -> BodyState:
        """Current state from the initial state and the optimised offsets."""
        rot = start.rotations
        fitted = rot[:, self.fitted] @ axis_angle_to_matrix(d_pose)
        rot = rot.index_copy(1, self.fitted, fitted)
        # The root offset acts in the camera frame, so its gradient does not depend on how
        # the body is already turned.
        root = axis_angle_to_matrix(d_root) @ rot[:, 0]
        rot = torch.cat((root[:, None], rot[:, 1:]), 1)
        return BodyState(rot, start.translation + d_trans, start.shape + d_shape)

    def _objective(
        self, state: BodyState, level: Level, cfg: FitConfig,
        keypoints: tuple[Tensor, Tensor] | None,
    ) -> tuple[Tensor, dict[str, Tensor]]:  # loss [BH], extras
        """Negative log-likelihood plus priors for every body."""
        vol = self.volume
        posed = vol.pose(state.rotations, state.translation, state.shape)
        index = select_kernels(posed.points.detach(), level.sigma, level.camera, level.rays,
                                  level.radius, cfg.render)
        weight = kernel_weights(posed.points, level.sigma, level.rays, index, cfg.render.opacity)
        if cfg.match == "posterior":
            similarity = listed_similarity(level.features, level.person, index,
                                           vol.kernel_features(posed))
            lik = posterior_likelihood(weight, similarity, level.log_z, level.clutter,
                                       cfg.temperature,
                                       cfg.occlusion_prior if cfg.robust else 0.0)
        else:
            if cfg.match == "blend":
                similarity = rendered_similarity(level.features, level.person, index, weight,
                                                 vol.kernel_features(posed), level.background)
            else:
                similarity = kernel_similarity(level.table, level.person, index,
                                               vol.bin_weights(posed), vol.gram)
            lik = likelihood(weight, similarity, level.clutter, cfg.temperature, cfg.robust)
        loss = -cfg.feature_weight * lik.score
        loss = loss + cfg.pose_prior_weight * rest_distance(state.rotations[:, self.fitted])
        if cfg.hinge_weight > 0:
            loss = loss + cfg.hinge_weight * self.hinges(state.rotations)
        if cfg.fit_shape:
            loss = loss + cfg.shape_prior_weight * l2_prior(state.shape)
        if keypoints is not None:
            # Keypoints are given in full-resolution crop pixels; scale to this level.
            uv = project(posed.joints, level.camera.K)
            ratio = level.camera.width / self._full_width
            loss = loss + cfg.keypoint_weight * keypoint_term(
                uv, keypoints[0] * ratio, keypoints[1], cfg.keypoint_scale * ratio)
        occlusion = lik.occlusion
        if level.depth is not None:
            depth = depth_term(posed.points, level.rays, index, weight, level.depth,
                               occlusion, cfg)
            loss, occlusion = loss + depth.loss, depth.occlusion
        return loss, {"joints": posed.joints, "index": index, "weight": weight,
                      "occlusion": occlusion}

    def _result(self, state: BodyState, loss: Tensor, extras: dict[str, Tensor],
                vis: Tensor, steps: Tensor, converged: Tensor, cam: CropCamera, pick: Tensor,
                hypothesis: Tensor) -> FitResult:
        """The FitResult of the batch rows ``pick`` (fits of hypotheses ``hypothesis``)."""
        shape_hw = (len(pick), cam.height, cam.width)
        weight = extras["weight"][pick]
        return FitResult(
            state=state.index(pick).detach(), joints=extras["joints"][pick].detach(),
            joint_visibility=vis[pick], occlusion=extras["occlusion"][pick].view(shape_hw),
            foreground=weight.sum(-1).view(shape_hw), loss=loss[pick].detach(),
            iterations=steps[pick], converged=converged[pick], hypothesis=hypothesis,
        )

    def _joint_visibility(self, index: Tensor, weight: Tensor, occlusion: Tensor,
                          joints: Tensor, cam: CropCamera) -> Tensor:
        """Probability that each joint is not hidden by an occluder: [BH, J].

        Kernels near the joint (``joint_kernel_weights``) pool the render weight they get
        and the part of it on pixels the likelihood explains by clutter. Where they get
        little weight (a joint inside the body, or behind the body itself), the occlusion
        map around the joint's projection decides instead, in proportion. A joint with no
        evidence either way counts as visible; the node marks joints outside the image
        separately.
        """
        fg = weight.sum(-1)
        hidden = (occlusion / fg.clamp_min(1e-6))[..., None] * weight  # [BH, P, M]
        num_k = self.volume.num_kernels
        total = torch.zeros(weight.shape[0], num_k, device=weight.device)
        occl = torch.zeros_like(total)
        idx = index.clamp_min(0).flatten(1)
        total.scatter_add_(1, idx, (weight * (index >= 0)).flatten(1))
        occl.scatter_add_(1, idx, (hidden * (index >= 0)).flatten(1))
        jkw = self.volume.joint_kernel_weights  # [J, K]
        seen, hid = total @ jkw.t(), occl @ jkw.t()
        by_kernels = 1.0 - hid / seen.clamp_min(1e-6)
        # 5 x 5 pixels around the projected joint: share of the body there that is hidden.
        maps = torch.stack((occlusion, fg), 1).view(-1, 2, cam.height, cam.width)
        pooled = F.avg_pool2d(maps, 5, stride=1, padding=2, count_include_pad=False)
        u, v, _ = pixel_of(joints, cam)
        rows = torch.arange(joints.shape[0], device=joints.device)[:, None]
        near = pooled[rows, :, v, u]  # [BH, J, 2]
        by_pixels = 1.0 - near[..., 0] / (near[..., 1] + 1e-3)
        trust = seen / (seen + 0.5)  # half a pixel of weight: as much kernel as pixel evidence
        return (trust * by_kernels + (1.0 - trust) * by_pixels).clamp(0.0, 1.0)


def _step_size(cfg: FitConfig, it: int, coarse_steps: int) -> float:
    """Adam step size at iteration ``it``: constant while coarse, then cosine decay."""
    if it < coarse_steps:
        return cfg.lr
    span = max(1, cfg.iterations - coarse_steps - 1)
    progress = min(1.0, (it - coarse_steps) / span)
    low = cfg.lr * cfg.final_lr_fraction
    return low + 0.5 * (cfg.lr - low) * (1.0 + math.cos(math.pi * progress))


def choice_score(cfg: FitConfig, loss: Tensor, projected: Tensor,
                 keypoints: tuple[Tensor, Tensor] | None, given_root: Tensor,
                 root: Tensor, facing: Tensor | None = None) -> Tensor:  # [BH]
    """What the choice among a body's turned fits minimises: the fit's loss [BH], plus the
    weighted 2D keypoint term of its projected joints [BH, J, 2] against (keypoints,
    confidence), plus the weighted squared angle between its root [BH, 3, 3] and the root
    it was given [BH, 3, 3], minus the weighted log of the turn head's density of its
    facing azimuth (``facing`` [BH], turn_density)."""
    score = loss
    if facing is not None and cfg.hypothesis_turn_prior_weight > 0:
        # A floor, so that a turn the head rules out costs a finite amount.
        score = score - cfg.hypothesis_turn_prior_weight * facing.clamp_min(1e-6).log()
    if keypoints is not None and cfg.hypothesis_keypoint_weight > 0:
        score = score + cfg.hypothesis_keypoint_weight * keypoint_term(
            projected, keypoints[0], keypoints[1], cfg.keypoint_scale)
    if cfg.hypothesis_turn_weight > 0:
        turn = rotation_angle(given_root.transpose(-1, -2) @ root)
        score = score + cfg.hypothesis_turn_weight * turn.square()
    return score


def turn_density(turn: Tensor, roots: Tensor, camera: CropCamera) -> Tensor:  # [B, H]
    """The turn head's density (turn [B, bins] bin weights) at the facing azimuth of each
    body's fitted roots [B, H, 3, 3], seen along its crop's central ray."""
    ray = crop_ray(camera.K, camera.width, camera.height)  # [B, 3]
    azimuth = facing_azimuth(roots, ray[:, None].expand(-1, roots.shape[1], -1))
    return azimuth_density(turn.to(azimuth.dtype), azimuth)


def blended_joints(score: Tensor, joints: Tensor, temperature: float) -> Tensor:  # [B, J, 3]
    """Each body's starts' joints [B, H, J, 3] averaged with weights softmax(-score [B, H] /
    temperature): the expected pose when the scores are read as the starts' chances."""
    chance = torch.softmax(-score / temperature, dim=1)
    return torch.einsum("bh,bhjc->bjc", chance.to(joints.dtype), joints)


def turned_starts(state: BodyState, hyp: int) -> BodyState:
    """Each body repeated ``hyp`` times, copy k turned by k / hyp of a full turn about the
    body's own up axis (copy 0 is the body as given)."""
    out = BodyState(state.rotations.repeat_interleave(hyp, 0),
                    state.translation.repeat_interleave(hyp, 0),
                    state.shape.repeat_interleave(hyp, 0))
    if hyp > 1:
        angle = torch.arange(hyp, device=state.translation.device,
                             dtype=state.translation.dtype) * (2 * torch.pi / hyp)
        zero = torch.zeros_like(angle)
        turn = axis_angle_to_matrix(torch.stack((zero, angle, zero), -1))
        # Body-frame turn (on the right): about the body's own up axis.
        root = out.rotations[:, 0] @ turn.repeat(state.batch, 1, 1)
        out.rotations = torch.cat((root[:, None], out.rotations[:, 1:]), 1)
    return out


def _check_inputs(features: Tensor, camera: CropCamera, init: BodyState,
                  volume: NeuralBodyVolume, keypoints: Tensor | None,
                  confidence: Tensor | None) -> None:
    """Raise ValueError naming the argument when inputs do not fit together."""
    batch, num_p = init.batch, camera.height * camera.width
    expect = (batch, num_p, volume.feature_dim)
    if tuple(features.shape) != expect:
        raise ValueError(f"features: expected shape {expect}, got {tuple(features.shape)}")
    if camera.batch != batch:
        raise ValueError(f"camera: expected batch {batch}, got {camera.batch}")
    num_j = volume.body.num_joints
    if tuple(init.rotations.shape) != (batch, num_j, 3, 3):
        raise ValueError(f"init.rotations: expected ({batch}, {num_j}, 3, 3), got "
                         f"{tuple(init.rotations.shape)}")
    if not bool(torch.isfinite(features).all() & torch.isfinite(init.translation).all()):
        raise ValueError("features and init.translation must be finite")
    if keypoints is not None and tuple(keypoints.shape) != (batch, num_j, 2):
        raise ValueError(f"keypoints: expected ({batch}, {num_j}, 2), got "
                         f"{tuple(keypoints.shape)}")
    if confidence is not None and (keypoints is None or confidence.shape != keypoints.shape[:2]):
        raise ValueError("keypoint_confidence needs keypoints and shape [B, J]")
