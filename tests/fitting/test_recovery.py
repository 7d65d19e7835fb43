"""Specification of the fitting core on the shipped Anny volume (models/nbv_anny.npz):
known poses rendered to features with noise, fitted back (issue 3's recovery figures).

Each fit here is one batch of 8 bodies on the 80 x 80 render of 3DNBF; the figures of
larger runs are in bench/results/recovery.md.
"""

from __future__ import annotations

import pytest

from nbf_ros.eval.recovery import recovery_run, tracking_run
from nbf_ros.fitting.config import FitConfig
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.paths import find_model_file

BATCH = 8
MM = 1000.0


@pytest.fixture(scope="module")
def anny_volume() -> NeuralBodyVolume:
    """The shipped Neural Body Volume on Anny (858 kernels)."""
    return NeuralBodyVolume.load(find_model_file("nbv_anny.npz"))


@pytest.fixture(scope="module")
def occluded_runs(anny_volume):
    """The same occluded scenes fitted with and without the occlusion model."""
    return {robust: recovery_run(anny_volume, FitConfig(robust=robust), BATCH, seed=21,
                                 occluder=0.3)
            for robust in (True, False)}


def test_perturbed_poses_are_recovered_to_under_20_mm(anny_volume):
    run = recovery_run(anny_volume, FitConfig(), BATCH, seed=20)
    assert float(run.start_error.median()) * MM > 60.0  # the start is really off
    assert float(run.error.median()) * MM < 20.0


def test_occlusion_model_keeps_error_under_40_mm_behind_a_30_percent_occluder(occluded_runs):
    assert float(occluded_runs[True].error.median()) * MM < 40.0


def test_occlusion_model_beats_the_plain_likelihood_under_occlusion(occluded_runs):
    robust, plain = occluded_runs[True].error.median(), occluded_runs[False].error.median()
    assert float(robust) < 0.5 * float(plain)


def test_joints_under_the_occluder_are_reported_not_visible(occluded_runs):
    run = occluded_runs[True]
    hidden = run.visibility[run.under_occluder]
    assert hidden.numel() >= 10
    assert float((hidden < 0.5).float().mean()) >= 0.8


def test_warm_start_follows_a_smooth_motion_within_20_iterations(anny_volume):
    cfg = FitConfig.tracking()
    run = tracking_run(anny_volume, cfg, batch=2, seed=22, keyframes=2, frames_between=8)
    assert int(run.iterations.max()) <= 20
    assert float(run.error.median()) * MM < 25.0


def test_warm_start_beats_holding_the_previous_pose(anny_volume):
    moving = tracking_run(anny_volume, FitConfig.tracking(), batch=2, seed=23, keyframes=2,
                          frames_between=8)
    held = tracking_run(anny_volume, FitConfig.tracking(iterations=1, lr=1e-9), batch=2,
                        seed=23, keyframes=2, frames_between=8, predict=False)
    assert float(moving.error[-1].mean()) < 0.5 * float(held.error[-1].mean())
