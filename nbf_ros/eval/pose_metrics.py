"""Per-joint and per-sequence pose metrics on numpy arrays (units are the inputs', usually
metres or pixels): joint errors, PCK, visibility accuracy and ROC AUC, acceleration error,
track id switches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["acceleration_error", "id_switches", "joint_errors", "pck", "roc_auc",
           "visibility_accuracy"]


def joint_errors(pred: np.ndarray, gt: np.ndarray, root: int | None = 0) -> np.ndarray:
    """Distance of each joint [..., J] between pred and gt [..., J, D], after moving both
    roots to the origin unless root is None."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} differ in shape")
    if root is not None:
        pred = pred - pred[..., root:root + 1, :]
        gt = gt - gt[..., root:root + 1, :]
    return np.linalg.norm(pred - gt, axis=-1)


def pck(errors: np.ndarray, threshold: float, mask: np.ndarray | None = None) -> float:
    """Share of joint errors below ``threshold`` (only where ``mask``; NaN if none)."""
    errors = np.asarray(errors, dtype=np.float64)
    sel = errors[mask] if mask is not None else errors.ravel()
    return float((sel < threshold).mean()) if sel.size else float("nan")


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (the probability that a
    positive scores above a negative, ties counting half); NaN without both classes."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=bool).ravel()
    pos, neg = int(labels.sum()), int((~labels).sum())
    if not pos or not neg:
        return float("nan")
    # Mann-Whitney U from average ranks (ties share their mean rank).
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    u = ranks[labels].sum() - pos * (pos + 1) / 2
    return float(u / (pos * neg))


def visibility_accuracy(predicted_visible: np.ndarray, visible: np.ndarray) -> float:
    """Share of joints whose predicted visibility (bool) equals the truth (bool)."""
    a = np.asarray(predicted_visible, dtype=bool)
    b = np.asarray(visible, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return float((a == b).mean()) if a.size else float("nan")


def acceleration_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean norm of the difference of second differences of joints [T, J, D] over frames
    (HMMR/VIBE's acceleration error, per frame squared); NaN for fewer than 3 frames."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} differ in shape")
    if len(pred) < 3:
        return float("nan")
    acc_p = pred[2:] - 2 * pred[1:-1] + pred[:-2]
    acc_g = gt[2:] - 2 * gt[1:-1] + gt[:-2]
    return float(np.linalg.norm(acc_p - acc_g, axis=-1).mean())


def id_switches(track_ids: Sequence[int | None]) -> int:
    """Times the estimated id following one true person changes (None: not found that frame,
    which is no switch)."""
    seen = [i for i in track_ids if i is not None]
    return sum(int(a != b) for a, b in zip(seen[:-1], seen[1:], strict=True))
