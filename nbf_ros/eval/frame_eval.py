"""Accuracy of a run over a video against its ground truth: people matched per frame, then
3D and 2D joint errors, PCK, visibility against true occlusion, id switches and jitter.

Input is one FrameRecord per answered frame, in time order, from any source (offline
pipeline run, live replay through the node). Errors are reported in millimetres (3D) and
as a share of the true person's box height (2D).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from nbf_ros.estimate import HumanEstimate, JointState
from nbf_ros.eval.metrics import pa_joint_errors
from nbf_ros.eval.pose_metrics import (
    acceleration_error,
    id_switches,
    joint_errors,
    pck,
    roc_auc,
    visibility_accuracy,
)

__all__ = ["FrameRecord", "evaluate", "match_people", "procrustes_errors"]

MATCH_DISTANCE = 0.5  # median 2D joint distance / true box height to pair two people
PCK_3D = 0.150  # metres (root-aligned)
PCK_2D = 0.1  # of the true box height


@dataclass
class FrameRecord:
    """What was estimated for one frame, and the truth of that frame."""

    stamp_ns: int  # the frame's stamp in the bag
    estimates: list[HumanEstimate]
    truth: list[HumanEstimate] | None  # None: the bag has no truth for this frame
    latency_ms: float | None = None  # image stamp to reception (live runs only)
    processing_ms: float | None = None  # pipeline time for the frame (offline runs)
    sequence: str = ""  # the bag it comes from: true track ids are per sequence


def match_people(estimates: Sequence[HumanEstimate], truth: Sequence[HumanEstimate],
                 max_distance: float = MATCH_DISTANCE) -> list[tuple[int, int]]:
    """(estimate index, truth index) pairs: one-to-one (Hungarian) on the median distance of
    their projected joints relative to the true person's box height. Joints, not boxes:
    overlapping people have overlapping boxes, while their skeletons still differ."""
    if not estimates or not truth:
        return []
    est = np.stack([e.keypoints_2d for e in estimates])  # [E, J, 2]
    gt = np.stack([t.keypoints_2d for t in truth])  # [T, J, 2]
    height = np.stack([max(t.roi[3] - t.roi[1], 1.0) for t in truth])  # [T]
    dist = np.median(np.linalg.norm(est[:, None] - gt[None], axis=-1), axis=-1) / height
    dist = np.where(np.isfinite(dist), dist, 1e9)
    rows, cols = linear_sum_assignment(dist)
    return [(r, c) for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
            if dist[r, c] <= max_distance]


def procrustes_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-joint distance [J] after the best similarity transform of pred [J, 3] onto gt
    (nbf_ros.eval.metrics.pa_joint_errors on one person)."""
    as_batch = [torch.as_tensor(np.asarray(x, dtype=np.float64))[None] for x in (pred, gt)]
    return pa_joint_errors(*as_batch)[0].numpy()


def _mean(values: list[float] | np.ndarray) -> float | None:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()) if arr.size else None


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    arr = np.asarray(values)
    return {"p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95)),
            "max": float(arr.max())}


def evaluate(records: Sequence[FrameRecord]) -> dict[str, Any]:
    """All figures of a run (see the module docstring); ``per_frame`` feeds the plots."""
    errors, pa_errors, errors_2d = [], [], []  # [J] arrays per matched person
    visible, occluded = [], []  # [J] bool arrays: true joint states
    vis_scores, vis_pred = [], []
    estimated = found = expected = 0
    tracks: dict[tuple[str, int], list[tuple[int, int | None, np.ndarray | None,
                                             np.ndarray]]] = defaultdict(list)
    per_frame = []
    names: tuple[str, ...] = ()
    for index, record in enumerate(records):
        estimated += len(record.estimates)
        if record.truth is None:
            continue
        expected += len(record.truth)
        pairs = dict((t, e) for e, t in match_people(record.estimates, record.truth))
        found += len(pairs)
        frame_errors = []
        for t, truth in enumerate(record.truth):
            e = pairs.get(t)
            est = record.estimates[e] if e is not None else None
            tracks[(record.sequence, truth.track_id)].append((index, est.track_id if est else None,
                                           est.joints if est else None, truth.joints))
            if est is None:
                continue
            names = truth.joint_names
            err = joint_errors(est.joints, truth.joints) * 1000
            errors.append(err)
            pa_errors.append(procrustes_errors(np.asarray(est.joints, float),
                                               np.asarray(truth.joints, float)) * 1000)
            height = max(truth.roi[3] - truth.roi[1], 1.0)
            errors_2d.append(joint_errors(est.keypoints_2d, truth.keypoints_2d, root=None)
                             / height)
            state = np.asarray(truth.joint_state)
            visible.append(state == JointState.VISIBLE)
            occluded.append(state == JointState.OCCLUDED)
            vis_scores.append(np.asarray(est.joint_visibility, dtype=np.float64))
            vis_pred.append(np.asarray(est.joint_state) == JointState.VISIBLE)
            frame_errors.append(float(err.mean()))
        per_frame.append({
            "stamp_ns": record.stamp_ns, "mpjpe_mm": _mean(frame_errors),
            "true_occluded_fraction": _mean([t.occluded_fraction for t in record.truth]),
            "people": len(record.estimates), "true_people": len(record.truth)})
    err = np.array(errors) if errors else np.zeros((0, 0))
    vis = np.array(visible) if visible else np.zeros((0, 0), bool)
    occ = np.array(occluded) if occluded else np.zeros((0, 0), bool)
    labelled = vis | occ  # joints outside the image have no visibility truth
    scores = np.array(vis_scores) if vis_scores else np.zeros((0, 0))
    switches, jitter = 0, []
    for history in tracks.values():
        switches += id_switches([est_id for _, est_id, _, _ in history])
        run: list[tuple[np.ndarray, np.ndarray]] = []
        last = None
        # Acceleration needs three consecutive answered frames with the person matched.
        for index, _, pred, truth in [*history, (-2, None, None, None)]:
            if pred is None or last is None or index != last + 1:
                if len(run) >= 3:
                    jitter.append(acceleration_error(np.stack([p for p, _ in run]),
                                                     np.stack([g for _, g in run])) * 1000)
                run = []
            if pred is not None:
                run.append((np.asarray(pred, float), np.asarray(truth, float)))
            last = index
    per_joint = {}
    if err.size:
        for j, name in enumerate(names):
            per_joint[name] = {"all": float(err[:, j].mean()),
                               "visible": _mean(err[vis[:, j], j]),
                               "occluded": _mean(err[occ[:, j], j])}
    latencies = [r.latency_ms for r in records if r.latency_ms is not None]
    processing = [r.processing_ms for r in records if r.processing_ms is not None]
    return {
        "frames": len(records),
        "frames_with_truth": sum(r.truth is not None for r in records),
        "true_people": expected, "estimated_people": estimated, "matched_people": found,
        "recall": found / expected if expected else None,
        "precision": found / estimated if estimated else None,
        "mpjpe_mm": _mean(err.mean(1)) if err.size else None,
        "pa_mpjpe_mm": _mean(np.array(pa_errors).mean(1)) if pa_errors else None,
        "pck3d_150mm": pck(err, PCK_3D * 1000) if err.size else None,
        "pck2d_0.1": pck(np.array(errors_2d), PCK_2D) if errors_2d else None,
        "error_visible_mm": _mean(err[vis]) if err.size else None,
        "error_occluded_mm": _mean(err[occ]) if err.size else None,
        "visibility_accuracy": visibility_accuracy(np.array(vis_pred)[labelled], vis[labelled])
        if labelled.any() else None,
        "visibility_auc": roc_auc(scores[labelled], vis[labelled]) if labelled.any() else None,
        "id_switches": switches,
        "acceleration_error_mm": _mean(jitter),
        "latency_ms": _percentiles(latencies),
        "processing_ms": _percentiles(processing),
        "latencies_ms": latencies,
        "processing_list_ms": processing,
        "per_joint_mm": per_joint,
        "per_frame": per_frame,
    }
