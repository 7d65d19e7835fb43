"""The pose node's lifecycle and parameters, driven through its ROS services like
`ros2 lifecycle set` and `ros2 param set` would."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest
from node_harness import (
    FAST,
    NodeProcess,
    RosProbe,
    call,
    ros_environment,
    send_good_frame,
    transition,
)


def set_param(probe: RosProbe, name: str, value):  # noqa: ANN001, ANN201
    """SetParametersResult of setting one parameter on the pose node."""
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
    return call(probe, SetParameters, f"/{probe.namespace}/nbf_pose/set_parameters",
                request).results[0]


@pytest.fixture
def node_and_probe(rclpy_module, tmp_path: Path):  # noqa: ANN001, ANN201
    node = NodeProcess(FAST, tmp_path, ros_environment(tmp_path), "lifecycle")
    probe = RosProbe(rclpy_module, "lifecycle")
    try:
        probe.wait_connected()
        yield probe, node
    finally:
        probe.close()
        assert node.stop() == 0, node.log_text()


@pytest.mark.timeout(300)
def test_deactivate_stops_serving_and_activate_resumes(node_and_probe, scene) -> None:  # noqa: ANN001
    probe, node = node_and_probe
    probe.wait_for_poses(send_good_frame(probe, scene))
    assert transition(probe, "deactivate")
    node.wait_for_log("inactive: unsubscribed", timeout=5)
    ignored = send_good_frame(probe, scene)
    time.sleep(2.0)
    assert not probe.poses_with_stamp(ignored)
    assert transition(probe, "cleanup")  # model freed
    node.wait_for_log("unconfigured: model and publishers freed", timeout=5)
    assert transition(probe, "configure") and transition(probe, "activate")
    probe.wait_connected()
    probe.wait_for_poses(send_good_frame(probe, scene))
    assert transition(probe, "deactivate") and transition(probe, "shutdown")
    node.wait_for_log("finalized: shut down from inactive", timeout=5)
    assert node.process.poll() is None


@pytest.mark.timeout(300)
def test_live_parameters_change_and_bad_values_are_refused_with_a_reason(
        node_and_probe, scene) -> None:  # noqa: ANN001
    probe, _ = node_and_probe
    refused = set_param(probe, "max_people", 0)  # rclpy's own range check, from the descriptor
    assert not refused.successful and "out of range" in refused.reason
    refused = set_param(probe, "engine", "tflite")  # our check: choices
    assert not refused.successful and "engine must be one of" in refused.reason
    refused = set_param(probe, "model", "other.pt")
    assert not refused.successful and "read on configure" in refused.reason
    assert set_param(probe, "max_people", 1).successful
    # Live: the next frame reports at most one person.
    assert len(probe.wait_for_poses(send_good_frame(probe, scene)).humans) <= 1


@pytest.mark.timeout(300)
def test_configure_failure_is_logged_and_the_node_stays_up(rclpy_module,  # noqa: ANN001
                                                          tmp_path: Path) -> None:
    node = NodeProcess(dict(FAST, model=str(tmp_path / "missing.pt")), tmp_path,
                       ros_environment(tmp_path), "nomodel")
    try:
        node.wait_for_log("configure failed", timeout=90)
        assert "missing.pt" in node.log_text()
        time.sleep(1.0)
        assert node.process.poll() is None
    finally:
        assert node.stop() == 0, node.log_text()


@pytest.mark.timeout(300)
@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None,
                    reason="TensorRT is installed here, so the engine may well configure")
def test_unavailable_engine_is_one_line_and_the_node_stays_unconfigured(
        rclpy_module, tmp_path: Path) -> None:  # noqa: ANN001
    node = NodeProcess(dict(FAST, engine="tensorrt"), tmp_path, ros_environment(tmp_path),
                       "noengine")
    try:
        node.wait_for_log("configure failed", timeout=90)
        log = node.log_text()
        assert "engine 'tensorrt' cannot run" in log and "TensorRT is not installed" in log
        assert "Traceback" not in log
        time.sleep(1.0)
        assert node.process.poll() is None
    finally:
        assert node.stop() == 0, node.log_text()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("param", "says"), [
    ({"engine": "tflite"}, "engine must be one of"),
    ({"max_people": 0}, "max_people"),
])
def test_bad_parameters_file_stops_with_one_clear_line(tmp_path: Path, param: dict,
                                                       says: str) -> None:
    node = NodeProcess(dict(FAST, **param), tmp_path, ros_environment(tmp_path), "badparams")
    assert node.process.wait(timeout=90) == 2
    log = node.log_text()
    assert "bad parameter" in log and says in log and "Traceback" not in log


@pytest.mark.timeout(200)
def test_node_with_simulated_time_serves_frames_by_their_stamps(rclpy_module, tmp_path: Path,  # noqa: ANN001
                                                               scene) -> None:
    # No /clock is published: with use_sim_time the node's clock stands at zero, and the
    # outputs must still carry each image's own stamp (tracks run on image time).
    node = NodeProcess(dict(FAST, use_sim_time=True), tmp_path, ros_environment(tmp_path),
                       "simtime")
    probe = RosProbe(rclpy_module, "simtime")
    try:
        probe.wait_connected()
        first = probe.wait_for_poses(send_good_frame(probe, scene))
        second_stamp = send_good_frame(probe, scene)
        second = probe.wait_for_poses(second_stamp)
        assert [h.track_id for h in second.humans] == [h.track_id for h in first.humans]
    finally:
        probe.close()
        assert node.stop() == 0, node.log_text()


@pytest.mark.timeout(300)
def test_pipelined_node_answers_in_order_and_outlives_a_bad_frame(rclpy_module,  # noqa: ANN001
                                                                 tmp_path: Path, scene) -> None:
    from node_harness import image, next_stamp

    node = NodeProcess(dict(FAST, pipelined=True), tmp_path, ros_environment(tmp_path),
                       "pipelined")
    probe = RosProbe(rclpy_module, "pipelined")
    try:
        probe.wait_connected()
        assert "pipelined: network and fit on two threads" in node.log_text()
        first = probe.wait_for_poses(send_good_frame(probe, scene))
        bad = next_stamp()  # the network thread refuses it; the fitting thread never sees it
        probe.image_pub.publish(image(scene.image, bad, encoding="yuv422"))
        sent = []
        for _ in range(6):  # faster than the node: some frames are dropped, none reordered
            sent.append(send_good_frame(probe, scene))
            time.sleep(0.05)
        last = probe.wait_for_poses(sent[-1])  # the newest frame is always answered
        assert [h.track_id for h in last.humans] == [h.track_id for h in first.humans]
        with probe._lock:
            answered = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec
                        for m in probe.poses]
        assert bad not in answered and answered == sorted(answered)
        assert len(set(answered)) == len(answered)  # each frame answered at most once
        diagnostics = probe.diagnostics_since(probe.mark())
        assert diagnostics["pipelined"] == "yes"
        assert 0 < float(diagnostics["frames reaching the node (%)"]) <= 100, diagnostics
        assert int(diagnostics["rejected: bad image"]) == 1, diagnostics
        assert transition(probe, "deactivate")  # both workers stop
        assert node.process.poll() is None
    finally:
        probe.close()
        assert node.stop() == 0, node.log_text()


@pytest.mark.timeout(300)
def test_lifecycle_cycles_under_a_flood_keep_threads_and_memory_flat(rclpy_module,  # noqa: ANN001
                                                                    tmp_path: Path,
                                                                    scene) -> None:
    from node_harness import Flood

    # cpu_threads 0: ONNX Runtime's session keeps a thread of its own when torch has more
    # than one, so a session that outlives its cleanup shows as a thread.
    node = NodeProcess(dict(FAST, cpu_threads=0), tmp_path, ros_environment(tmp_path), "cycles")
    probe = RosProbe(rclpy_module, "cycles")
    flood = None
    try:
        probe.wait_connected()
        flood = Flood(probe, scene, rate=100.0)
        counts = []
        for _ in range(10):
            for label in ("deactivate", "activate", "deactivate", "cleanup", "configure",
                          "activate"):
                assert transition(probe, label), label
            time.sleep(1.0)  # frames flow into the new pipeline
            counts.append((node.threads(), node.rss_mb()))
        threads = [t for t, _ in counts]
        rss = [m for _, m in counts]
        # Each leaked cycle kept a model and an ONNX Runtime session: one thread and about
        # 60 MiB (24 -> 34 threads and 633 -> 1,216 MiB over 10 cycles). The first cycle
        # may still grow the allocator's pools; after it the heap only wanders (tens of MiB
        # between cycles, however many), so the last three cycles' lowest is compared.
        assert threads[-1] <= threads[0], threads
        assert min(rss[-3:]) - rss[0] < 150, [round(m) for m in rss]
        assert probe.poses, "the node answered no frame of the flood"
        assert node.process.poll() is None
    finally:
        if flood is not None:
            flood.close()
        probe.close()
        assert node.stop() == 0, node.log_text()
