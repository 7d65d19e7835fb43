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
