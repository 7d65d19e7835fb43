"""From a batch of fits to the pipeline's answers: which fits are usable, one result of
several groups, and the HumanEstimate records (no ROS here)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from nbf_ros.body.base import BodyModel
from nbf_ros.estimate import HumanEstimate, JointState
from nbf_ros.fitting.state import BodyState, FitResult
from nbf_ros.nbv.camera import project

__all__ = ["finite_people", "fit_estimates", "gather_results"]


def fit_estimates(res: FitResult, boxes: np.ndarray, scores: list[float], K: Tensor,
              size: tuple[int, int], kept: list[int], body: BodyModel,
              visibility_threshold: float) -> list[HumanEstimate]:
    """HumanEstimate records of the fitted people listed in ``kept``."""
    h, w = size
    joints = res.joints.detach()
    uv = project(joints, K.expand(len(joints), 3, 3))
    fg = res.foreground.detach().flatten(1)
    occluded = res.occlusion.detach().flatten(1) * fg
    hidden = occluded.sum(1) / fg.sum(1).clamp_min(1e-6)
    state = res.state.detach()
    # Each field comes to the host once for all people (a transfer is a device sync).
    uv, vis, hidden, occlusion, joints, rotations, translation, shape, loss, steps = (
        t.cpu().numpy() for t in (
            uv, res.joint_visibility.detach(), hidden,
            occluded.view_as(res.occlusion), joints, state.rotations, state.translation,
            state.shape, res.loss.detach(), res.iterations))
    out = []
    for i in kept:
        inside = (uv[i, :, 0] >= 0) & (uv[i, :, 0] < w) & (uv[i, :, 1] >= 0) \
            & (uv[i, :, 1] < h)
        joint_state = np.where(~inside, JointState.OUTSIDE_IMAGE, np.where(
            vis[i] < visibility_threshold, JointState.OCCLUDED,
            JointState.VISIBLE)).astype(np.uint8)
        rot = rotations[i]
        out.append(HumanEstimate(
            joints=joints[i], joint_visibility=vis[i] * inside,
            joint_state=joint_state, keypoints_2d=uv[i],
            root_translation=translation[i], root_rotation=rot[0],
            bone_rotations=rot[1:], shape=shape[i],
            roi=np.clip(boxes[i], 0, [w, h, w, h]), confidence=float(scores[i]),
            body_model=body.name, joint_names=body.joint_names,
            shape_names=body.shape_names, occluded_fraction=float(hidden[i]),
            fit_loss=float(loss[i]), iterations=int(steps[i]),
            extra={"occlusion": occlusion[i]}))
    return out


def finite_people(res: FitResult) -> list[int]:
    """Indices of the people whose fitted body and joints are all finite numbers."""
    state = res.state
    ok = torch.isfinite(res.joints).flatten(1).all(1) & torch.isfinite(res.loss)
    ok &= torch.isfinite(res.joint_visibility).all(1)
    ok &= torch.isfinite(state.rotations).flatten(1).all(1)
    ok &= torch.isfinite(state.translation).flatten(1).all(1)
    ok &= torch.isfinite(state.shape).flatten(1).all(1)
    return torch.nonzero(ok).flatten().tolist()


def gather_results(parts: dict[int, tuple[FitResult, int]], n: int) -> FitResult:
    """One FitResult of n people from per-group results (person i -> (result, row))."""
    def pick(get) -> Tensor:  # noqa: ANN001 - a field getter of FitResult
        return torch.stack([get(parts[i][0])[parts[i][1]] for i in range(n)])

    states = [parts[i][0].state.index([parts[i][1]]) for i in range(n)]
    state = BodyState(torch.cat([s.rotations for s in states]),
                      torch.cat([s.translation for s in states]),
                      torch.cat([s.shape for s in states]))
    return FitResult(
        state=state, joints=pick(lambda r: r.joints),
        joint_visibility=pick(lambda r: r.joint_visibility),
        occlusion=pick(lambda r: r.occlusion), foreground=pick(lambda r: r.foreground),
        loss=pick(lambda r: r.loss), iterations=pick(lambda r: r.iterations),
        converged=pick(lambda r: r.converged), hypothesis=pick(lambda r: r.hypothesis))
