"""`nbf-ros eval --mode live`: a short bag played through the node in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest


@pytest.mark.timeout(400)
def test_live_eval_measures_latency_and_accuracy(tmp_path: Path) -> None:
    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.sequences import SequenceConfig, write_sequence_bag

    seq = SequenceConfig(frames=8, fps=10.0)
    seq = replace(seq, scene=replace(seq.scene, height=240, width=320, extra_people=0))
    bag = tmp_path / "walk"
    write_sequence_bag(bag, BodyMesh.default(), 4, seq, progress=False)
    out = tmp_path / "eval"
    command = [sys.executable, "-m", "nbf_ros.cli", "eval", "--quiet", str(bag), "--out",
               str(out), "--mode", "live", "--rate", "0.5", "--param", "fit_iterations=5",
               "--param", "tracking_iterations=3"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=380)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads((out / "metrics.json").read_text())["bags"]["walk"]
    assert figures["frames_sent"] == 8 and figures["frames"] >= 2
    assert figures["latency_ms"]["p50"] > 0 and figures["drop_rate"] < 1
    assert figures["matched_people"] >= 1
    # The results bag holds what the node was sent next to what it published.
    from nbf_ros.io.bag_reader import list_topics

    topics = list_topics(Path(figures["results_bag"]))
    assert {"/image", "/humans/poses", "/humans/markers"} <= set(topics)


def test_live_replay_honours_the_users_ros_domain_id(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from nbf_ros.replay.live import live_domain, replay_environment

    monkeypatch.setenv("ROS_DOMAIN_ID", "57")
    assert replay_environment(tmp_path)["ROS_DOMAIN_ID"] == "57"
    assert live_domain() == (57, "ROS domain 57 (ROS_DOMAIN_ID)")


def test_live_replay_isolates_itself_only_without_a_ros_domain_id(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbf_ros.replay.live import live_domain, replay_environment

    monkeypatch.delenv("ROS_DOMAIN_ID", raising=False)
    domain, says = live_domain()
    assert 102 <= domain <= 201 and "a private one (ROS_DOMAIN_ID is not set" in says
    assert replay_environment(tmp_path)["ROS_DOMAIN_ID"] == str(domain)


@pytest.mark.timeout(120)
def test_live_eval_with_a_bad_ros_domain_id_is_one_line(tmp_path: Path) -> None:
    import os

    import numpy as np

    from nbf_ros.io.bag_writer import BagWriter

    bag = tmp_path / "blank"
    K = np.array([[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]])
    with BagWriter(bag) as writer:
        writer.write_frame(1_000_000_000, np.zeros((48, 64, 3), np.uint8), K, truth=[])
    command = [sys.executable, "-m", "nbf_ros.cli", "eval", str(bag), "--out",
               str(tmp_path / "eval"), "--mode", "live"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=100,
                            env=dict(os.environ, ROS_DOMAIN_ID="left"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "ROS_DOMAIN_ID='left' is not a ROS domain id" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
