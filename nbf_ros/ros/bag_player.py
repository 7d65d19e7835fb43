"""Play a bag's camera topics into ROS at their recorded rate (a `ros2 bag play` for machines
without rosbag2), restamping each frame with the time it is sent.

    python -m nbf_ros.ros.bag_player BAG [--rate 1.0] [--wait-subscribers 1] [--log sent.jsonl]
        [--ros-args -r image:=/cam/image_raw -r camera_info:=/cam/camera_info ...]

Images go to ``image`` (or ``image/compressed`` for a CompressedImage topic), camera infos
to ``camera_info`` and, with --depth-topic, registered depth to ``depth`` (restamped with its
colour frame's shift, so its offset from the colour stays), with sensor-data QoS like a
camera driver. Restamping (on by default) makes latency measurable as reception time minus
stamp; --log records, for every image, its bag stamp and the stamp it was sent with, so
outputs can be matched to the bag's truth.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.serialization import deserialize_message
from rclpy.signals import SignalHandlerOptions
from rclpy.time import Time
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from nbf_ros.io.bag_reader import list_topics, read_raw

__all__ = ["main"]

_TYPES = {"sensor_msgs/msg/Image": Image, "sensor_msgs/msg/CompressedImage": CompressedImage,
          "sensor_msgs/msg/CameraInfo": CameraInfo}


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bag_player", description=__doc__.split("\n")[0])
    parser.add_argument("bag", type=Path)
    parser.add_argument("--image-topic", default="/camera/image_raw",
                        help="image topic in the bag (…/compressed for JPEG bags)")
    parser.add_argument("--camera-info-topic", default="/camera/camera_info")
    parser.add_argument("--depth-topic", default=None,
                        help="also play this registered depth topic on 'depth', restamped "
                             "with its colour frame's shift (its offset kept)")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    parser.add_argument("--no-restamp", action="store_true",
                        help="keep the bag's header stamps")
    parser.add_argument("--wait-subscribers", type=int, default=0, metavar="N",
                        help="wait until N subscribers listen to the image topic")
    parser.add_argument("--wait-timeout", type=float, default=120.0)
    parser.add_argument("--start-delay", type=float, default=0.0,
                        help="seconds to wait after the subscribers are there")
    parser.add_argument("--log", type=Path, help="JSON lines: bag stamp -> sent stamp")
    parser.add_argument("--loop", type=int, default=1, metavar="N",
                        help="play the bag N times back to back, one frame period apart")
    # ROS arguments (--ros-args -r image:=..., a namespace, a log level) are rclpy's.
    return parser.parse_args(remove_ros_args(["bag_player", *argv])[1:])


def main(argv: list[str] | None = None) -> int:
    """Play the bag once; 0 when every frame was sent, 2 on a usage error, 3 on timeout."""
    argv = sys.argv[1:] if argv is None else argv
    args = _arguments(argv)
    if not args.rate > 0 or args.loop < 1:
        print("bag_player: --rate must be positive and --loop at least 1", file=sys.stderr)
        return 2
    try:
        topics = list_topics(args.bag)
    except Exception as exc:  # noqa: BLE001 - any unreadable bag is a usage error here
        print(f"bag_player: cannot read bag {args.bag}: {exc}", file=sys.stderr)
        return 2
    for topic in (args.image_topic, args.camera_info_topic, args.depth_topic):
        if topic is not None and topic not in topics:
            print(f"bag_player: topic {topic} not in {args.bag}; present: "
                  f"{', '.join(sorted(topics))}", file=sys.stderr)
            return 2
    compressed = topics[args.image_topic].endswith("CompressedImage")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with rclpy.init(args=["bag_player", *argv], signal_handler_options=SignalHandlerOptions.NO):
        node = Node("nbf_bag_player")
        image_type = CompressedImage if compressed else Image
        image_pub = node.create_publisher(image_type, "image/compressed" if compressed
                                          else "image", qos_profile_sensor_data)
        info_pub = node.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        depth_pub = node.create_publisher(Image, "depth", qos_profile_sensor_data)
        held: list[Image] = []  # depth stamped nearer the next colour frame than the last
        shift = None  # the last colour frame's sent stamp minus its bag stamp, ns
        last_colour = 0  # that frame's bag stamp, ns
        deadline = time.monotonic() + args.wait_timeout
        while image_pub.get_subscription_count() < args.wait_subscribers:
            if time.monotonic() > deadline or stop.is_set():
                print(f"bag_player: no {args.wait_subscribers} subscribers on "
                      f"{image_pub.topic_name} after {args.wait_timeout} s", flush=True)
                return 3
            time.sleep(0.05)
        time.sleep(args.start_delay)
        log = args.log.open("w") if args.log else None
        sent = 0
        start_wall = start_bag = None
        pending_info: CameraInfo | None = None
        offset = 0  # bag time added by earlier loops, ns
        period = 0  # between the last two images of the bag, ns
        for _ in range(args.loop):
            last_bag = None
            played = [args.image_topic, args.camera_info_topic,
                      *([args.depth_topic] if args.depth_topic else [])]
            for topic, msgtype, bag_ns, raw in read_raw(args.bag, played):
                if stop.is_set():
                    break
                msg = deserialize_message(raw, _TYPES[msgtype])
                if topic == args.depth_topic:
                    # A depth belongs to the colour frame nearest its stamp: the one just sent
                    # (publish it now, as a camera would, a few ms after the colour), or the
                    # next one (hold it until that frame's stamp shift is known).
                    stamp = Time.from_msg(msg.header.stamp).nanoseconds
                    if shift is not None and stamp - last_colour < (period or 10**8) / 2:
                        depth_pub.publish(_shifted(msg, shift))
                    else:
                        held.append(msg)
                    continue
                if topic == args.camera_info_topic:
                    if pending_info is None:
                        # The first intrinsics go out ahead, so the first image finds them.
                        info_pub.publish(msg)
                        time.sleep(0.2)
                    pending_info = msg  # sent again with each image, under its stamp
                    continue
                if start_wall is None:
                    start_wall, start_bag = time.monotonic(), bag_ns
                period = bag_ns - last_bag if last_bag is not None else 0
                last_bag = bag_ns
                wait = (start_wall + (bag_ns + offset - start_bag) / 1e9 / args.rate
                        - time.monotonic())
                if wait > 0:
                    time.sleep(wait)
                bag_stamp = Time.from_msg(msg.header.stamp).nanoseconds
                if not args.no_restamp:
                    msg.header.stamp = Time(nanoseconds=time.time_ns()).to_msg()
                if pending_info is not None:
                    pending_info.header.stamp = msg.header.stamp
                    info_pub.publish(pending_info)
                image_pub.publish(msg)
                sent += 1
                if args.depth_topic is not None:
                    shift = Time.from_msg(msg.header.stamp).nanoseconds - bag_stamp
                    last_colour = bag_stamp
                    for depth in held:
                        depth_pub.publish(_shifted(depth, shift))
                    held.clear()
                if log:
                    log.write(json.dumps({"bag_stamp_ns": bag_stamp, "stamp_ns":
                                          Time.from_msg(msg.header.stamp).nanoseconds}) + "\n")
                    log.flush()
            if last_bag is not None and start_bag is not None:
                offset += last_bag - start_bag + period  # the next loop follows on
        if log:
            log.close()
        node.destroy_node()
    print(f"bag_player: sent {sent} frames", flush=True)
    return 0


def _shifted(msg: Image, shift: int) -> Image:
    """``msg`` restamped ``shift`` ns later (its colour frame's restamp)."""
    msg.header.stamp = Time(nanoseconds=Time.from_msg(msg.header.stamp).nanoseconds
                            + shift).to_msg()
    return msg


if __name__ == "__main__":
    sys.exit(main())
