"""A bag played live through the pose node: three processes on a private ROS domain.

The node (nbf_ros.ros.pose_node, autostarted with the given parameters), a recorder of its
outputs and a player of the bag's camera topics run as separate OS processes talking over
real DDS on loopback, as on a robot. The player sends at the bag's rate, so a node slower
than the camera drops frames exactly as it would live.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbf_ros.progress import tqdm

__all__ = ["LiveRun", "RECORDED_TOPICS", "ReplayError", "live_domain", "replay_environment",
           "run_live", "stop_process", "write_params"]

# What the recorder keeps of the node's outputs (name: type).
RECORDED_TOPICS = {
    "humans/poses": "nbf_ros/msg/HumanPoseArray",
    "humans/markers": "visualization_msgs/msg/MarkerArray",
    "humans/debug_image": "sensor_msgs/msg/Image",
    "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}


class ReplayError(RuntimeError):
    """A process of the replay failed; the message names it and quotes its log."""


@dataclass
class LiveRun:
    """Where a live replay left its results."""

    outputs: Path  # bag of the node's outputs, stamped with their reception time
    sent: Path  # JSON lines: bag stamp -> stamp the frame was sent with
    node_log: Path
    frames_sent: int
    wall_seconds: float


def _yaml_value(value: Any) -> str:
    return json.dumps(value)  # JSON scalars are valid YAML


def write_params(path: Path, params: dict[str, Any]) -> Path:
    """A ROS parameters file for the node with ``params`` (other parameters keep defaults)."""
    lines = ["/**:", "  ros__parameters:"]
    lines += [f"    {key}: {_yaml_value(value)}" for key, value in params.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def live_domain(domain_id: int | None = None) -> tuple[int, str]:
    """The ROS domain of a replay and a line saying which: ``domain_id`` when given, else the
    user's ROS_DOMAIN_ID, else a private one, so that a replay does not mix with other nodes
    on the default domain 0. ValueError for a ROS_DOMAIN_ID that is not a domain id."""
    if domain_id is not None:
        return domain_id, f"ROS domain {domain_id}"
    text = os.environ.get("ROS_DOMAIN_ID", "").strip()
    if text:
        if not text.isdigit() or int(text) > 232:
            raise ValueError(f"ROS_DOMAIN_ID={text!r} is not a ROS domain id (0 to 232)")
        return int(text), f"ROS domain {int(text)} (ROS_DOMAIN_ID)"
    private = 102 + os.getpid() % 100
    return private, (f"ROS domain {private}, a private one (ROS_DOMAIN_ID is not set; set it "
                     "to watch the replay with other ROS tools)")


def replay_environment(log_dir: Path, domain_id: int | None = None) -> dict[str, str]:
    """Environment of the replay's processes: the domain of live_domain(), this host only."""
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(live_domain(domain_id)[0]),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_LOCALHOST_ONLY="1",
               ROS_LOG_DIR=str(log_dir / "ros_log"), PYTHONUNBUFFERED="1")
    return env


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGINT (as Ctrl-C), then a kill if it outlives ``timeout``; the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def _fail(what: str, log: Path) -> ReplayError:
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
    return ReplayError(f"{what}; its log ({log}) ends with:\n{tail}")


def run_live(bag: Path, workdir: Path, params: dict[str, Any], frames: int,
             rate: float = 1.0, image_topic: str = "/camera/image_raw",
             camera_info_topic: str = "/camera/camera_info", idle: float = 10.0,
             progress: bool = True, domain_id: int | None = None, loop: int = 1,
             on_tick: Callable[[subprocess.Popen[bytes]], None] | None = None,
             record_images: bool = False, depth_topic: str | None = None) -> LiveRun:
    """Play ``bag`` (``frames`` images, ``loop`` times) into a fresh node; what it published
    is recorded, and with ``record_images`` the images it was sent too (costly: they are
    large, and the recorder shares the machine with the node). ``on_tick`` is called with
    the node's process about ten times a second while the bag plays (e.g. to sample its
    memory); ``depth_topic``: also play the bag's registered depth to the node's 'depth'."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = replay_environment(workdir, domain_id)
    params_file = write_params(workdir / "node_params.yaml", dict(params, autostart=True))
    outputs, sent, ready = workdir / "outputs", workdir / "sent.jsonl", workdir / "recorder.ready"
    logs = {name: workdir / f"{name}.log" for name in ("node", "recorder", "player")}
    node = _start(["nbf_ros.ros.pose_node", "--ros-args", "--params-file", str(params_file)],
                  logs["node"], env)
    topics = [arg for name, kind in RECORDED_TOPICS.items()
              for arg in ("--topic", f"{name}:{kind}")]
    if record_images:
        topics += ["--topic", "image:sensor_msgs/msg/Image", "--best-effort", "image",
                   "--topic", "image/compressed:sensor_msgs/msg/CompressedImage",
                   "--best-effort", "image/compressed"]
    recorder = _start(["nbf_ros.ros.recorder", str(outputs), *topics, "--idle", str(idle),
                       "--idle-topic", "humans/poses", "--ready", str(ready)],
                      logs["recorder"], env)
    player = None
    started = time.monotonic()
    try:
        while not ready.exists():
            if recorder.poll() is not None:
                raise _fail("the recorder stopped before subscribing", logs["recorder"])
            time.sleep(0.05)
        player = _start(["nbf_ros.ros.bag_player", str(bag), "--rate", str(rate),
                         "--wait-subscribers", "1", "--wait-timeout", "180",
                         "--start-delay", "1.0", "--log", str(sent), "--loop", str(loop),
                         "--image-topic", image_topic,
                         "--camera-info-topic", camera_info_topic,
                         *(["--depth-topic", depth_topic] if depth_topic else [])],
                        logs["player"], env)
        with tqdm(total=frames * loop, desc="replay", unit="frame", disable=not progress) as bar:
            while player.poll() is None:
                if node.poll() is not None:
                    raise _fail("the pose node stopped during the replay", logs["node"])
                count = _count_lines(sent)
                bar.update(count - bar.n)
                if on_tick is not None and count:
                    on_tick(node)
                time.sleep(0.1)
            bar.update(_count_lines(sent) - bar.n)
        if player.returncode != 0:
            raise _fail(f"the bag player failed (exit {player.returncode})", logs["player"])
        # The recorder ends `idle` seconds after the node's last output.
        try:
            recorder.wait(timeout=idle + 120)
        except subprocess.TimeoutExpired as exc:
            raise _fail("the recorder did not finish", logs["recorder"]) from exc
        if node.poll() is not None:
            raise _fail("the pose node stopped during the replay", logs["node"])
    finally:
        for process in (player, recorder, node):
            if process is not None:
                stop_process(process)
    return LiveRun(outputs=outputs, sent=sent, node_log=logs["node"],
                   frames_sent=_count_lines(sent), wall_seconds=time.monotonic() - started)


def _count_lines(path: Path) -> int:
    try:
        return path.read_text().count("\n")
    except FileNotFoundError:
        return 0
