"""Specification of the batched fitter (nbf_ros.fitting.fitter) on a small procedural body."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch

from nbf_ros.body.joint_limits import HingeLimits, hinge_frame
from nbf_ros.body.rotations import axis_angle_to_matrix
from nbf_ros.eval.metrics import mpjpe
from nbf_ros.eval.recovery import joints_under
from nbf_ros.fitting.config import FitConfig
from nbf_ros.fitting.fitter import Fitter
from nbf_ros.fitting.state import BodyState, FitResult
from nbf_ros.nbv.camera import CropCamera, project
from nbf_ros.synth.feature_scenes import feature_scene, perturb, random_states
from nbf_ros.vision.turn_head import bin_targets, crop_ray, facing_azimuth

SIZE = 64  # render crops of the unit tests: small, so the suite stays fast


def scene_and_start(volume, batch, seed, occluder=0.0, joint_deg=20.0, root_cm=10.0,
                    noise=0.5):
    """A feature scene of random poses and a perturbed starting state."""
    gen = torch.Generator().manual_seed(seed)
    truth = random_states(volume, batch, gen)
    scene = feature_scene(volume, truth, gen, size=SIZE, occluder_fraction=occluder,
                          noise=noise)
    start = perturb(truth, volume.body.joint_names, gen, joint_deg=joint_deg, root_cm=root_cm)
    return scene, start


class TestRecovery:
    def test_fit_reduces_joint_error_from_a_perturbed_start(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 4, seed=0)
        fitter = Fitter(capsule_volume, FitConfig(iterations=60))
        before = mpjpe(capsule_volume.pose(start.rotations, start.translation).joints,
                       scene.joints)
        after = mpjpe(fitter.fit(scene.features, scene.camera, start).joints, scene.joints)
        assert float(after.median()) < 0.7 * float(before.median())

    def test_truth_is_a_fixed_point_of_noise_free_features(self, capsule_volume):
        scene, _ = scene_and_start(capsule_volume, 2, seed=1, noise=0.0)
        fitter = Fitter(capsule_volume, FitConfig.tracking(pose_prior_weight=0.0))
        result = fitter.fit(scene.features, scene.camera, scene.truth)
        assert float(mpjpe(result.joints, scene.joints).max()) < 0.01


class TestPosteriorMatch:
    """The "posterior" match: the features' softmax over kernels and clutter."""

    def test_fit_reduces_joint_error_from_a_perturbed_start(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 4, seed=0)
        cfg = FitConfig(iterations=60, match="posterior", temperature=0.07)
        before = mpjpe(capsule_volume.pose(start.rotations, start.translation).joints,
                       scene.joints)
        after = mpjpe(Fitter(capsule_volume, cfg).fit(scene.features, scene.camera,
                                                      start).joints, scene.joints)
        assert float(after.median()) < 0.7 * float(before.median())

    def test_occluded_joints_are_reported_not_visible(self, capsule_volume):
        scene, _ = scene_and_start(capsule_volume, 4, seed=2, occluder=0.3)
        cfg = FitConfig.tracking(match="posterior", temperature=0.07)
        result = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, scene.truth)
        under = joints_under(scene.joints, scene.camera, scene.occluder)  # [B, J]
        assert int(under.sum()) >= 4
        assert float((result.joint_visibility[under] < 0.5).float().mean()) >= 0.8
        assert float((result.joint_visibility[~under] >= 0.5).float().mean()) >= 0.7


class TestFeatureWeight:
    def test_without_the_feature_term_features_do_not_move_the_fit(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 2, seed=3)
        cfg = FitConfig.tracking(iterations=10, feature_weight=0.0)
        noise = torch.nn.functional.normalize(torch.randn_like(scene.features), dim=-1)
        with_scene = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, start)
        with_noise = Fitter(capsule_volume, cfg).fit(noise, scene.camera, start)
        torch.testing.assert_close(with_scene.joints, with_noise.joints)


class TestOcclusion:
    def test_occluded_joints_are_reported_not_visible(self, capsule_volume):
        scene, _ = scene_and_start(capsule_volume, 4, seed=2, occluder=0.3)
        result = Fitter(capsule_volume, FitConfig.tracking()).fit(
            scene.features, scene.camera, scene.truth)
        under = joints_under(scene.joints, scene.camera, scene.occluder)  # [B, J]
        assert int(under.sum()) >= 4
        hidden_ok = (result.joint_visibility[under] < 0.5).float().mean()
        visible_ok = (result.joint_visibility[~under] >= 0.5).float().mean()
        assert float(hidden_ok) >= 0.8
        assert float(visible_ok) >= 0.7

    def test_occlusion_map_covers_the_occluder(self, capsule_volume):
        scene, _ = scene_and_start(capsule_volume, 2, seed=3, occluder=0.3)
        result = Fitter(capsule_volume, FitConfig.tracking()).fit(
            scene.features, scene.camera, scene.truth)
        on_body = scene.occluder & (result.foreground > 0.5)
        assert float(result.occlusion[on_body].mean()) > 0.8
        off = ~scene.occluder & (result.foreground > 0.5)
        assert float(result.occlusion[off].mean()) < 0.2


class TestStopping:
    def test_converged_fit_stops_before_the_cap(self, capsule_volume):
        scene, _ = scene_and_start(capsule_volume, 2, seed=4)
        cfg = FitConfig.tracking(iterations=100, tolerance=1e-4)
        result = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, scene.truth)
        assert bool(result.converged.all())
        assert int(result.iterations.max()) < 100

    def test_time_budget_stops_the_fit(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 2, seed=5)
        cfg = FitConfig(iterations=1000, time_budget_ms=1.0, check_every=1)
        result = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, start)
        assert int(result.iterations.max()) <= 2

    def test_iterations_are_counted_per_body(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 2, seed=6)
        cfg = FitConfig(iterations=7, root_iterations=2, check_every=100)
        result = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, start)
        assert result.iterations.tolist() == [7, 7]


def truth_turned(scene, angle: float) -> BodyState:
    """The scene's true bodies, each turned by ``angle`` (radians) about its own up axis."""
    rot = scene.truth.rotations.clone()
    rot[:, 0] = rot[:, 0] @ axis_angle_to_matrix(torch.tensor([0.0, angle, 0.0]))
    return BodyState(rot, scene.truth.translation, scene.truth.shape)


def every_start_of_two_bodies(volume):  # noqa: ANN001, ANN201 - fixture volume; (fit, result)
    """Two bodies fitted from 4 turned starts, every start kept, and a function that fits
    them again with settings changed (the same inputs and steps)."""
    scene, start = scene_and_start(volume, 2, seed=7)
    cfg = FitConfig.tracking(iterations=10, hypotheses=4)
    fitter = Fitter(volume, cfg)

    def fitted(**changes: float) -> FitResult:
        return fitter.fit(scene.features, scene.camera, start,
                          config=dataclasses.replace(cfg, **changes))

    return fitted, fitter.fit(scene.features, scene.camera, start, every_hypothesis=True)


class TestHypotheses:
    def test_flipped_hypothesis_wins_for_a_body_started_backwards(self, capsule_volume):
        scene, _ = scene_and_start(capsule_volume, 2, seed=7)
        start = truth_turned(scene, math.pi)  # facing away from where it really faces
        cfg = FitConfig.tracking(hypotheses=2)
        result = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, start)
        assert result.hypothesis.tolist() == [1, 1]
        assert float(mpjpe(result.joints, scene.joints).max()) < 0.03

    def test_four_turned_starts_recover_a_body_started_a_quarter_turn_off(
            self, capsule_volume):
        scene, _ = scene_and_start(capsule_volume, 2, seed=7)
        start = truth_turned(scene, math.pi / 2)  # copy 3 turns it 3/4 further: home
        result = Fitter(capsule_volume, FitConfig.tracking(hypotheses=4)).fit(
            scene.features, scene.camera, start)
        assert result.hypothesis.tolist() == [3, 3]
        assert float(mpjpe(result.joints, scene.joints).max()) < 0.03

    def test_keypoints_choose_between_turns_the_features_cannot_tell_apart(
            self, capsule_volume):
        scene, _ = scene_and_start(capsule_volume, 2, seed=8)
        start = truth_turned(scene, math.pi)
        keypoints = project(scene.joints, scene.camera.K)
        confidence = torch.ones(keypoints.shape[:2])
        # No feature term and no keypoint term in the steps: only the choice sees keypoints.
        blind = FitConfig.tracking(iterations=2, hypotheses=2, feature_weight=0.0,
                                   keypoint_weight=0.0)
        fitter = Fitter(capsule_volume, blind)
        chosen = fitter.fit(scene.features, scene.camera, start, keypoints, confidence,
                            config=dataclasses.replace(blind, hypothesis_keypoint_weight=1.0))
        assert chosen.hypothesis.tolist() == [1, 1]
        tied = fitter.fit(scene.features, scene.camera, start, keypoints, confidence)
        assert tied.hypothesis.tolist() == [0, 0]  # equal losses: the start as given
        torch.testing.assert_close(tied.loss, chosen.loss)  # the reported loss is the fit's
        assert float(mpjpe(chosen.joints, scene.joints).max()) < 0.03

    def test_a_turn_prior_chooses_between_turns_the_features_cannot_tell_apart(
            self, capsule_volume):
        scene, _ = scene_and_start(capsule_volume, 2, seed=8)
        start = truth_turned(scene, math.pi)
        blind = FitConfig.tracking(iterations=2, hypotheses=2, feature_weight=0.0,
                                   keypoint_weight=0.0)
        fitter = Fitter(capsule_volume, blind)
        ray = crop_ray(scene.camera.K, scene.camera.width, scene.camera.height)
        turn = bin_targets(facing_azimuth(scene.truth.rotations[:, 0], ray))  # the true turn
        chosen = fitter.fit(scene.features, scene.camera, start, turn=turn,
                            config=dataclasses.replace(blind, hypothesis_turn_prior_weight=1.0))
        assert chosen.hypothesis.tolist() == [1, 1]
        unweighted = fitter.fit(scene.features, scene.camera, start, turn=turn)
        assert unweighted.hypothesis.tolist() == [0, 0]  # weight 0: the head is not heard
        assert float(mpjpe(chosen.joints, scene.joints).max()) < 0.03

    def test_a_turn_prior_for_another_number_of_bodies_is_refused(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 2, seed=8)
        with pytest.raises(ValueError, match="turn"):
            Fitter(capsule_volume, FitConfig.tracking(hypotheses=2)).fit(
                scene.features, scene.camera, start, turn=torch.ones(3, 16) / 16)

    def test_turn_weight_keeps_the_given_turn_unless_another_scores_clearly_better(
            self, capsule_volume):
        scene, _ = scene_and_start(capsule_volume, 2, seed=7)
        start = truth_turned(scene, math.pi)  # started backwards: the turned copy fits better
        cfg = FitConfig.tracking(hypotheses=2)
        fitter = Fitter(capsule_volume, cfg)
        light = fitter.fit(scene.features, scene.camera, start,
                           config=dataclasses.replace(cfg, hypothesis_turn_weight=1e-3))
        assert light.hypothesis.tolist() == [1, 1]
        heavy = fitter.fit(scene.features, scene.camera, start,
                           config=dataclasses.replace(cfg, hypothesis_turn_weight=100.0))
        assert heavy.hypothesis.tolist() == [0, 0]
        assert bool((heavy.loss > light.loss).all())  # the reported loss is the fit's own

    def test_every_hypothesis_returns_each_start_and_the_choice_is_one_of_them(
            self, capsule_volume):
        fitted, every = every_start_of_two_bodies(capsule_volume)
        chosen = fitted()
        assert every.hypothesis.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
        assert every.joints.shape == (8, *chosen.joints.shape[1:])
        rows = torch.arange(2) * 4 + chosen.hypothesis
        torch.testing.assert_close(every.loss.view(2, 4).min(1).values, chosen.loss)
        torch.testing.assert_close(every.joints[rows], chosen.joints)

    def test_blended_joints_are_the_starts_joints_weighted_by_their_scores(
            self, capsule_volume):
        fitted, every = every_start_of_two_bodies(capsule_volume)
        blended = fitted(hypothesis_blend_temperature=0.05)
        chance = torch.softmax(-every.loss.view(2, 4) / 0.05, 1)
        expected = (chance[..., None, None] * every.joints.view(2, 4, -1, 3)).sum(1)
        torch.testing.assert_close(blended.joints, expected)
        rows = torch.arange(2) * 4 + blended.hypothesis  # the state stays the kept start's
        assert not torch.allclose(blended.joints, every.joints[rows], atol=1e-2)  # a real mix
        torch.testing.assert_close(blended.state.translation, every.state.translation[rows])
        torch.testing.assert_close(blended.loss, every.loss.view(2, 4).min(1).values)

    def test_a_blend_at_a_tiny_temperature_is_the_choice(self, capsule_volume):
        scene, _ = scene_and_start(capsule_volume, 2, seed=7)
        start = truth_turned(scene, math.pi)  # the turned copy scores clearly better
        cfg = FitConfig.tracking(hypotheses=2)
        fitter = Fitter(capsule_volume, cfg)
        chosen = fitter.fit(scene.features, scene.camera, start)
        sharp = fitter.fit(scene.features, scene.camera, start,
                           config=dataclasses.replace(cfg, hypothesis_blend_temperature=1e-6))
        torch.testing.assert_close(sharp.joints, chosen.joints)
        assert sharp.hypothesis.tolist() == chosen.hypothesis.tolist()


class TestKeypoints:
    def test_keypoint_term_pulls_the_root_to_the_keypoints(self, capsule_volume):
        scene, _ = scene_and_start(capsule_volume, 1, seed=8)
        posed = capsule_volume.pose(scene.truth.rotations, scene.truth.translation)
        uv = posed.joints @ scene.camera.K.transpose(1, 2)
        keypoints = uv[..., :2] / uv[..., 2:]
        shifted = BodyState(scene.truth.rotations, scene.truth.translation
                            + torch.tensor([0.15, 0.0, 0.0]), scene.truth.shape)
        noise = torch.randn_like(scene.features)  # features carry no information
        cfg = FitConfig.tracking(iterations=60, keypoint_weight=1.0, lr=0.02)
        result = Fitter(capsule_volume, cfg).fit(
            torch.nn.functional.normalize(noise, dim=-1), scene.camera, shifted,
            keypoints=keypoints)
        err = float((result.joints[0, 0] - posed.joints[0, 0])[:2].norm())
        assert err < 0.05


class TestAnchor:
    def test_anchor_keeps_the_pose_near_the_start_where_features_say_nothing(
            self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 2, seed=10)
        noise = torch.nn.functional.normalize(torch.randn_like(scene.features), dim=-1)
        start_joints = capsule_volume.pose(start.rotations, start.translation).joints
        cfg = FitConfig.tracking(iterations=40, lr=0.02, pose_prior_weight=0.0)
        free = Fitter(capsule_volume, cfg).fit(noise, scene.camera, start)
        held = Fitter(capsule_volume, dataclasses.replace(cfg, anchor_weight=10.0)).fit(
            noise, scene.camera, start)
        drift_free = float(mpjpe(free.joints, start_joints).mean())
        drift_held = float(mpjpe(held.joints, start_joints).mean())
        assert drift_held < 0.3 * drift_free


class TestInputs:
    def test_feature_shape_mismatch_is_named(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 1, seed=9)
        with pytest.raises(ValueError, match="features"):
            Fitter(capsule_volume).fit(scene.features[:, :10], scene.camera, start)

    def test_camera_batch_mismatch_is_named(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 1, seed=9)
        cam = CropCamera(scene.camera.K.repeat(2, 1, 1), SIZE, SIZE)
        with pytest.raises(ValueError, match="camera"):
            Fitter(capsule_volume).fit(scene.features, cam, start)

    def test_nan_features_are_rejected(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 1, seed=9)
        bad = scene.features.clone()
        bad[0, 0, 0] = float("nan")
        with pytest.raises(ValueError, match="finite"):
            Fitter(capsule_volume).fit(bad, scene.camera, start)

    @pytest.mark.parametrize("field,value", [("iterations", 0), ("hypotheses", 0),
                                             ("hypotheses", 17),
                                             ("hypothesis_keypoint_weight", -1.0),
                                             ("hypothesis_turn_weight", -1.0),
                                             ("hypothesis_blend_temperature", -0.1),
                                             ("coarse_fraction", 1.5), ("lr", -1.0),
                                             ("time_budget_ms", 0.0),
                                             ("anchor_weight", -1.0),
                                             ("feature_weight", -1.0),
                                             ("occlusion_prior", 1.0), ("match", "nearest")])
    def test_bad_config_values_are_rejected(self, field, value):
        with pytest.raises(ValueError, match=field):
            dataclasses.replace(FitConfig(), **{field: value})

    @pytest.mark.parametrize("hypotheses,weight,heeded", [(8, 1.0, True), (1, 1.0, False),
                                                          (8, 0.0, False)])
    def test_a_turn_head_is_heeded_only_with_starts_to_choose_among_and_a_weight(
            self, hypotheses, weight, heeded):
        cfg = FitConfig(hypotheses=hypotheses, hypothesis_turn_prior_weight=weight)
        assert cfg.weighs_turn is heeded


class TestDevices:
    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
    def test_cuda_fit_matches_cpu(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 2, seed=10)
        cfg = FitConfig.tracking(iterations=5, tolerance=-1.0)
        cpu = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, start)
        cuda_volume = copy.deepcopy(capsule_volume).cuda()
        gpu = Fitter(cuda_volume, cfg).fit(scene.features.cuda(), scene.camera.to("cuda"),
                                            start.to("cuda"))
        assert torch.allclose(gpu.loss.cpu(), cpu.loss, atol=1e-4)
        assert float((gpu.joints.cpu() - cpu.joints).abs().max()) < 1e-3

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
    def test_cuda_graph_replay_matches_eager_steps(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 2, seed=11)
        cuda_volume = copy.deepcopy(capsule_volume).cuda()
        inputs = (scene.features.cuda(), scene.camera.to("cuda"), start.to("cuda"))
        results = []
        for graphs in (False, True):
            fitter = Fitter(cuda_volume, FitConfig(iterations=12, root_iterations=3,
                                                   cuda_graphs=graphs))
            results.append((fitter.fit(*inputs), fitter.graph_replays))
        (eager, no_replays), (graphed, replays) = results
        assert no_replays == 0 and replays > 0
        assert float((graphed.joints - eager.joints).abs().max()) < 1e-4
        assert graphed.iterations.tolist() == eager.iterations.tolist()
        torch.testing.assert_close(graphed.loss, eager.loss, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(graphed.joint_visibility, eager.joint_visibility,
                                   atol=1e-4, rtol=1e-4)

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
    def test_next_frame_of_the_same_size_replays_the_captured_graphs(self, capsule_volume):
        cuda_volume = copy.deepcopy(capsule_volume).cuda()
        cfg = FitConfig.tracking(iterations=8, tolerance=-1.0)
        graphed = Fitter(cuda_volume, cfg)
        for seed in (12, 13):  # two frames with the same shapes, different content
            scene, start = scene_and_start(capsule_volume, 2, seed=seed, joint_deg=5.0,
                                           root_cm=2.0)
            inputs = (scene.features.cuda(), scene.camera.to("cuda"), start.to("cuda"))
            second = graphed.fit(*inputs)
        assert graphed.graph_replays == cfg.iterations  # no warm-up, no new capture
        eager = Fitter(cuda_volume, dataclasses.replace(cfg, cuda_graphs=False)).fit(*inputs)
        assert float((second.joints - eager.joints).abs().max()) < 1e-4
        # The second frame's levels and final evaluation also came from graphs.
        torch.testing.assert_close(second.loss, eager.loss, atol=1e-4, rtol=1e-4)
        # Per-pixel maps: a few pixels differ by up to 2e-4 (seen on an H200), the order
        # of float32 scatter-adds differing between the graph and eager runs.
        torch.testing.assert_close(second.occlusion, eager.occlusion, atol=1e-3, rtol=1e-3)
        torch.testing.assert_close(second.joint_visibility, eager.joint_visibility,
                                   atol=1e-4, rtol=1e-4)


class TestCompiledStep:
    """FitConfig.compile_step: the same optimisation, run as torch.compile'd kernels."""

    def test_compiled_steps_follow_the_eager_steps(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 2, seed=14, joint_deg=5.0)
        cfg = FitConfig.tracking(iterations=6, tolerance=-1.0, match="posterior",
                                 temperature=0.07, anchor_weight=0.01)
        eager = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, start)
        compiled = Fitter(capsule_volume, dataclasses.replace(cfg, compile_step=True)).fit(
            scene.features, scene.camera, start)
        assert float((compiled.joints - eager.joints).abs().max()) < 1e-4
        assert torch.allclose(compiled.loss, eager.loss, atol=1e-4)

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
    def test_compiled_step_is_replayed_from_a_cuda_graph(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 2, seed=15, joint_deg=5.0)
        cuda_volume = copy.deepcopy(capsule_volume).cuda()
        inputs = (scene.features.cuda(), scene.camera.to("cuda"), start.to("cuda"))
        cfg = FitConfig.tracking(iterations=8, tolerance=-1.0)
        eager = Fitter(cuda_volume, dataclasses.replace(cfg, cuda_graphs=False)).fit(*inputs)
        fitter = Fitter(cuda_volume, dataclasses.replace(cfg, compile_step=True))
        compiled = fitter.fit(*inputs)
        assert fitter.graph_replays > 0
        assert float((compiled.joints - eager.joints).abs().max()) < 1e-4

    def test_compiled_batches_are_padded_to_a_power_of_two(self, capsule_volume, monkeypatch):
        # The padding alone, without the compilation: the step stays eager.
        from nbf_ros.fitting import session as session_module

        monkeypatch.setattr(session_module, "compiled_loss",
                            lambda: session_module.FitSession.objective)
        scene, start = scene_and_start(capsule_volume, 3, seed=16, joint_deg=5.0)
        cfg = FitConfig.tracking(iterations=4, tolerance=-1.0)
        seen = []
        real = session_module.FitSession.__init__

        def spy(self, fitter, cfg, start, *args, **kwargs):
            seen.append(start.batch)
            real(self, fitter, cfg, start, *args, **kwargs)

        monkeypatch.setattr(session_module.FitSession, "__init__", spy)
        padded = Fitter(capsule_volume, dataclasses.replace(cfg, compile_step=True)).fit(
            scene.features, scene.camera, start)
        plain = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, start)
        assert seen == [4, 3]
        assert padded.joints.shape == plain.joints.shape
        assert float((padded.joints - plain.joints).abs().max()) < 1e-5


class TestHingeWeight:
    """The knee and elbow term (nbf_ros/body/joint_limits.py) in the fit's objective."""

    @staticmethod
    def knees_bent(volume, start: BodyState, degrees: float) -> BodyState:
        """``start`` with both knees bent by ``degrees`` (negative: backwards)."""
        rest = volume.body.rest(torch.zeros(1, volume.body.num_shape))[1][0]
        rot = start.rotations.clone()
        for knee in ("left_knee", "right_knee"):
            _, axis = hinge_frame(rest, volume.body.joint_names, knee)
            rot[:, volume.body.joint_names.index(knee)] = axis_angle_to_matrix(
                axis * math.radians(degrees))
        return BodyState(rot, start.translation, start.shape)

    def test_the_final_loss_holds_the_weighted_penalty(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 2, seed=4)
        start = self.knees_bent(capsule_volume, start, -30.0)
        still = FitConfig.tracking(iterations=1, lr=1e-9)  # the state does not move
        plain = Fitter(capsule_volume, still).fit(scene.features, scene.camera, start)
        hinged = Fitter(capsule_volume, dataclasses.replace(still, hinge_weight=2.0)).fit(
            scene.features, scene.camera, start)
        penalty = HingeLimits(capsule_volume.body)(start.rotations)
        assert float(penalty.min()) > 0.1
        torch.testing.assert_close(hinged.loss - plain.loss, 2.0 * penalty, atol=1e-4,
                                   rtol=1e-3)

    def test_alone_it_straightens_backward_knees_and_leaves_forward_ones(self, capsule_volume):
        scene, start = scene_and_start(capsule_volume, 2, seed=5)
        cfg = FitConfig.tracking(iterations=60, lr=0.04, feature_weight=0.0,
                                 pose_prior_weight=0.0, hinge_weight=1.0)
        limits = HingeLimits(capsule_volume.body)
        backward = self.knees_bent(capsule_volume, start, -40.0)
        fitted = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, backward)
        assert float(limits(fitted.state.rotations).max()) < 0.02 * float(
            limits(backward.rotations).min())
        forward = self.knees_bent(capsule_volume, start, 40.0)
        kept = Fitter(capsule_volume, cfg).fit(scene.features, scene.camera, forward)
        # (The perturbed start's elbows may be bent sideways and move; the legs may not.)
        legs = [capsule_volume.body.joint_names.index(f"{side}_{part}")
                for side in ("left", "right") for part in ("knee", "ankle", "foot")]
        torch.testing.assert_close(kept.joints[:, legs], capsule_volume.pose(
            forward.rotations, forward.translation).joints[:, legs], atol=1e-5, rtol=0)
