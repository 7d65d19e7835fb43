"""Record topics into a new rosbag2 (MCAP by default) with the time each message arrived (a
`ros2 bag record` for machines without rosbag2).

    python -m nbf_ros.ros.recorder OUT --topic humans/poses:nbf_ros/msg/HumanPoseArray ...
        [--duration S] [--idle S] [--ready FILE]

Messages are stored as received (CDR bytes), each with its reception time in nanoseconds
since the epoch, so latency is that time minus the header stamp. Recording ends on
SIGINT/SIGTERM, after --duration seconds, or after --idle seconds without a message once
one arrived. --ready names a file created once every subscription exists.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import time
from pathlib import Path

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

from nbf_ros.io.bag_writer import BagWriter

__all__ = ["main"]


def message_class(msgtype: str) -> type:
    """The rclpy class of a full type name such as 'sensor_msgs/msg/Image'."""
    package, kind, name = msgtype.split("/")
    if kind != "msg":
        raise ValueError(f"{msgtype!r} is not a message type (pkg/msg/Name)")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="recorder", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="new bag folder")
    parser.add_argument("--topic", action="append", required=True, metavar="NAME:TYPE",
                        help="topic and its type, e.g. humans/poses:nbf_ros/msg/HumanPoseArray")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--idle", type=float, default=0.0,
                        help="stop this many seconds after the last message (0: never)")
    parser.add_argument("--idle-topic", action="append", default=[], metavar="NAME",
                        help="only messages on these topics count for --idle (default: all; "
                             "periodic topics such as /diagnostics would never let it end)")
    parser.add_argument("--best-effort", action="append", default=[], metavar="NAME",
                        help="subscribe to this topic best effort, as camera streams are "
                             "published (others: reliable)")
    parser.add_argument("--ready", type=Path, help="file created once subscribed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Record until stopped; 0 on success, 2 on a usage error."""
    args = _arguments(argv)
    topics = []
    for item in args.topic:
        name, _, msgtype = item.rpartition(":")
        try:
            cls = message_class(msgtype)
        except (ValueError, ImportError, AttributeError):
            print(f"recorder: unknown message type {msgtype!r} in --topic {item}",
                  file=sys.stderr)
            return 2
        topics.append((name, msgtype, cls))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    lock = threading.Lock()
    last = [0.0]
    count = [0]
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    best_effort = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)
    with BagWriter(args.out, storage=args.storage, truth_topic=None) as bag, \
            rclpy.init(signal_handler_options=SignalHandlerOptions.NO):
        node = Node("nbf_recorder")

        idle_topics = {node.resolve_topic_name(name) for name in args.idle_topic}

        def callback_for(name: str, msgtype: str):  # noqa: ANN202 - a subscription callback
            counts = not idle_topics or name in idle_topics

            def on_message(data: bytes) -> None:
                with lock:
                    bag.write_raw(name, msgtype, data, time.time_ns())
                    if counts:
                        last[0] = time.monotonic()
                        count[0] += 1
            return on_message

        for name, msgtype, cls in topics:
            # The bag gets the resolved name (/ns/humans/poses), as ros2 bag record does.
            resolved = node.resolve_topic_name(name)
            qos = best_effort if name in args.best_effort else reliable
            node.create_subscription(cls, name, callback_for(resolved, msgtype), qos, raw=True)
        if args.ready:
            args.ready.write_text("ready\n")
        end = time.monotonic() + args.duration
        while not stop.is_set() and time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
            if args.idle and count[0] and time.monotonic() - last[0] > args.idle:
                break
        node.destroy_node()
    print(f"recorder: done, {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
