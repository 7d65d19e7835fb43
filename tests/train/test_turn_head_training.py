"""Fitting the turn head: it learns a facing azimuth its inputs carry, and reports on
scenes it did not see."""

from __future__ import annotations

import math

import pytest
import torch

from nbf_ros.train.turn_head import TurnSamples, fit_turn_head, occluder_seed


def samples_encoding_the_azimuth(scenes: int, per_scene: int = 4) -> TurnSamples:
    """Inputs whose first two entries are the azimuth's cosine and sine, the rest noise."""
    gen = torch.Generator().manual_seed(0)
    azimuth = (torch.rand(scenes * per_scene, generator=gen) * 2 - 1) * math.pi
    noise = torch.randn(len(azimuth), 6, generator=gen)
    inputs = torch.cat((torch.stack((azimuth.cos(), azimuth.sin()), 1), noise), 1)
    scene = torch.arange(scenes).repeat_interleave(per_scene)
    return TurnSamples(inputs, azimuth, scene, torch.arange(len(azimuth)) % per_scene > 0)


def test_the_head_learns_an_azimuth_its_inputs_carry() -> None:
    head, report = fit_turn_head(samples_encoding_the_azimuth(400), epochs=40, progress=False)
    # One bin is 22.5 degrees; reading the nearest bin errs by at most half of one.
    assert report.median_error_deg["clean"] < 12.0
    assert report.median_error_deg["occluded"] < 12.0
    assert report.flipped_share["occluded"] < 0.02
    assert report.held_out_loss < math.log(16)  # better than a uniform guess
    assert not head.training


def test_noise_alone_teaches_it_nothing_it_can_show_on_unseen_scenes() -> None:
    samples = samples_encoding_the_azimuth(200)
    samples.inputs[:, :2] = torch.randn(len(samples.azimuth), 2,
                                        generator=torch.Generator().manual_seed(1))
    _, report = fit_turn_head(samples, epochs=20, progress=False)
    assert report.median_error_deg["occluded"] > 45.0  # chance: 90 degrees


def test_one_scene_cannot_be_split_for_a_held_out_report() -> None:
    with pytest.raises(ValueError, match="two scenes"):
        fit_turn_head(samples_encoding_the_azimuth(1), epochs=1, progress=False)


def test_occluders_draw_from_a_stream_other_than_their_scenes() -> None:
    # Torch keeps a CPU seed's low 32 bits: an offset above them would replay the scene's.
    for seed in (0, 1_500_000_000, (1 << 32) - 1):
        scene = torch.rand(4, generator=torch.Generator().manual_seed(seed))
        occluders = torch.rand(4, generator=torch.Generator().manual_seed(occluder_seed(seed)))
        assert not torch.allclose(scene, occluders)
        assert 0 <= occluder_seed(seed) < 1 << 32
