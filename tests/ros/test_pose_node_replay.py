"""The pose node end to end: a synthetic multi-person bag played by one process into the node
(another process) and its outputs recorded by a third, over real DDS on loopback.

One replay (module fixture) serves every test; each test reads one property of what the
node published.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from nbf_ros.io.bag_reader import read_messages, read_raw
from nbf_ros.io.convert import stamp_to_ns

FRAMES = 16
# Small frames, few fitting steps and a slow playback (0.15x: a frame every 0.67 s, as the
# front end's detector and landmarks add to each frame): the node answers most frames on a
# 2-core CPU, so tracks see consecutive frames.
PARAMS = {"fit_iterations": 8, "tracking_iterations": 4, "marker_lifetime": 0.5,
          "publish_debug_image": True, "diagnostics_period": 0.5}


@pytest.fixture(scope="module")
def replay(rclpy_module, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    """(LiveRun, bag path, summary) of one live replay of a two-person synthetic bag."""
    from dataclasses import replace

    from nbf_ros.replay.live import run_live
    from nbf_ros.replay.summary import summarize
    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.sequences import SequenceConfig, write_sequence_bag

    work = tmp_path_factory.mktemp("replay")
    bag = work / "bag"
    seq = SequenceConfig(frames=FRAMES, fps=10.0, speed=0.2)
    seq = replace(seq, scene=replace(seq.scene, height=240, width=320, extra_people=1,
                                     extra_person_probability=1.0, occluder_probability=0.5))
    write_sequence_bag(bag, BodyMesh.default(), 11, seq, progress=False)
    run = run_live(bag, work / "run", PARAMS, FRAMES, rate=0.15, idle=8.0, progress=False)
    return run, bag, summarize(run, bag)


def poses(run) -> list:  # noqa: ANN001
    return [m for _, m in read_messages(run.outputs, "/humans/poses")]


@pytest.mark.timeout(400)
class TestReplay:
    def test_every_output_carries_a_sent_stamp_and_the_image_frame(self, replay) -> None:  # noqa: ANN001
        run, bag, _ = replay
        sent = {json.loads(line)["stamp_ns"] for line in run.sent.read_text().splitlines()}
        frame_ids = {m.header.frame_id for _, m in read_messages(bag, "/camera/image_raw")}
        out = poses(run)
        assert len(out) >= FRAMES // 2, f"only {len(out)} of {FRAMES} frames answered"
        for msg in out:
            assert stamp_to_ns(msg.header.stamp) in sent
            assert msg.header.frame_id in frame_ids
            for human in msg.humans:
                assert human.header == msg.header

    def test_each_person_has_joints_with_visibility(self, replay) -> None:  # noqa: ANN001
        run, _, _ = replay
        humans = [h for msg in poses(run) for h in msg.humans]
        assert humans
        for h in humans:
            n = len(h.joint_names)
            assert n == 24 and len(h.joints) == n and len(h.keypoints_2d) == n
            vis = np.asarray(h.joint_visibility)
            assert vis.shape == (n,) and ((vis >= 0) & (vis <= 1)).all()
            assert set(np.asarray(h.joint_state).tolist()) <= {0, 1, 2}
            assert np.isfinite([[p.x, p.y, p.z] for p in h.joints]).all()
            assert h.track_id > 0

    def test_people_are_found_and_keep_their_track_ids(self, replay) -> None:  # noqa: ANN001
        _, _, summary = replay
        assert summary["recall"] is not None and summary["recall"] >= 0.5, summary
        # Each true person is followed by one id; at most one switch over the sequence.
        assert summary["id_switches"] <= 1, summary
        assert len(summary["track_ids"]) <= 3, summary

    def test_markers_are_valid_for_rviz(self, replay) -> None:  # noqa: ANN001
        run, _, _ = replay
        by_stamp = {stamp_to_ns(m.header.stamp): m for m in poses(run)}
        arrays = [m for _, m in read_messages(run.outputs, "/humans/markers")]
        assert arrays
        for array in arrays:
            stamp = stamp_to_ns(array.markers[0].header.stamp) if array.markers else None
            if stamp is None:
                continue
            ids = {h.track_id for h in by_stamp[stamp].humans}
            for marker in array.markers:
                assert marker.header.frame_id == by_stamp[stamp].header.frame_id
                assert marker.ns in {"joints", "bones", "labels"}
                assert marker.id in ids
                assert marker.action == 0  # ADD
                life = marker.lifetime.sec + marker.lifetime.nanosec * 1e-9
                assert life == pytest.approx(PARAMS["marker_lifetime"])
                assert abs(np.linalg.norm([marker.pose.orientation.x, marker.pose.orientation.y,
                                           marker.pose.orientation.z,
                                           marker.pose.orientation.w]) - 1) < 1e-6
                if marker.type in (7, 5):  # SPHERE_LIST, LINE_LIST: per-point colours
                    assert len(marker.colors) == len(marker.points) > 0
                    assert marker.scale.x > 0
                if marker.type == 5:
                    assert len(marker.points) % 2 == 0
                if marker.type == 9:  # TEXT_VIEW_FACING
                    assert marker.text and marker.scale.z > 0

    def test_debug_images_match_the_input_size(self, replay) -> None:  # noqa: ANN001
        run, bag, _ = replay
        _, _, _, _ = next(read_raw(bag, ["/camera/image_raw"]))
        images = [m for _, m in read_messages(run.outputs, "/humans/debug_image")]
        assert images and all((m.width, m.height, m.encoding) == (320, 240, "rgb8")
                              for m in images)

    def test_diagnostics_report_rates_latency_and_drops(self, replay) -> None:  # noqa: ANN001
        _, _, summary = replay
        diag = summary["node_diagnostics"]
        assert diag["state"] == "active" and diag["device"] == "cpu"
        assert int(diag["frames received"]) >= int(diag["frames published"]) > 0
        assert float(diag["latency p50 (ms)"]) > 0
        assert "frames dropped (busy)" in diag

    def test_node_stopped_cleanly(self, replay) -> None:  # noqa: ANN001
        run, _, _ = replay
        log = run.node_log.read_text()
        assert "Traceback" not in log and "error" not in log.lower(), log
