"""The pose node: camera images in, 3D people with per-joint occlusion out (lifecycle node).

Subscribes (on activate)
    image (sensor_msgs/Image) or, with image_transport=compressed, image/compressed
    (sensor_msgs/CompressedImage); camera_info (sensor_msgs/CameraInfo). Sensor-data QoS
    (best effort, depth 1); image_reliability and image_queue_depth override it.
Publishes (stamped with the input image's stamp and frame_id, the camera optical frame)
    humans/poses (nbf_ros/HumanPoseArray, reliable), humans/markers
    (visualization_msgs/MarkerArray), humans/debug_image (sensor_msgs/Image, optional),
    /diagnostics (diagnostic_msgs/DiagnosticArray, every diagnostics_period seconds).
Parameters
    see nbf_ros/ros/params.py (and config/pose.yaml): model, engine, device, input QoS,
    detection, fitting and tracking settings, what to publish.
Lifecycle
    configure loads the model; activate subscribes and starts the worker; deactivate
    unsubscribes; cleanup frees the model (and GPU memory). autostart:=true runs configure
    and activate at start-up.

Only the newest frame is processed: the image callback puts it into a slot of size one and
a worker thread runs the pipeline, so the executor never waits for a fit and a frame that
arrives while the worker is busy replaces (drops) the one waiting. With pipelined:=true two
workers split each frame: one decodes it and runs the network, then hands it through a
second slot of size one to the other, which tracks, fits and publishes while the first
reads the next frame. The network worker starts each frame just in time
(nbf_ros/stream/schedule.py), when the running fit is expected to end about as the network
is done, so frames do not wait for a whole fit; a frame left waiting by a fit that ran
long is replaced by a newer one once it has waited a network run.

A bad frame is dropped with a throttled warning and counted in /diagnostics; the node keeps
serving.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import math
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from nbf_ros.io.convert import CameraInfoError, intrinsics_from_camera_info
from nbf_ros.io.image_codec import ImageError, decode_compressed, decode_image
from nbf_ros.io.undistort import Lens, LensReader, lens_summary
from nbf_ros.msg import HumanPoseArray
from nbf_ros.ros.diagnostics import PoseHealth
from nbf_ros.ros.markers import human_markers
from nbf_ros.ros.messages import human_pose_array, rgb_image
from nbf_ros.ros.params import PARAMS, check_value, descriptor
from nbf_ros.stream.depth_stream import DepthStream
from nbf_ros.stream.schedule import JustInTime
from nbf_ros.stream.slot import LatestSlot
from nbf_ros.vision.engines import EngineUnavailable

__all__ = ["FrameRejected", "ParameterError", "PoseNode", "main"]

POSE_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE,
                      history=HistoryPolicy.KEEP_LAST, depth=10)
_SPECS = {spec.name: spec for spec in PARAMS}


class ParameterError(ValueError):
    """A start-up parameter value the node cannot run with."""


class FrameRejected(Exception):
    """A frame that cannot be used: ``reason`` is a short key for diagnostics, ``kind`` a
    stable key of the problem for log throttling (default: the reason)."""

    def __init__(self, reason: str, message: str, kind: str | None = None,
                 logged: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.kind = kind or reason
        self.logged = logged  # its cause has a log line of its own: count it, say nothing


@dataclass
class _Frame:
    """A frame between the node's two halves: its message, when it arrived, its pixels and
    the pipeline's first half (network readout)."""

    msg: Image | CompressedImage
    received: float  # time.monotonic() at arrival
    rgb: np.ndarray
    prepared: Any  # nbf_ros.pipeline.PreparedFrame
    lens: Lens | None = None  # the lens the network's input was undistorted from


def _logs_failure(callback: Callable[[PoseNode, LifecycleState], TransitionCallbackReturn]
                  ) -> Callable[[PoseNode, LifecycleState], TransitionCallbackReturn]:
    """A transition callback whose exception is logged with its reason, the transition then
    ending in error processing (rclpy turns the exception into ERROR without a word: the user
    saw only "Unable to start transition" on the next request)."""
    label = callback.__name__.removeprefix("on_")

    @functools.wraps(callback)
    def run(node: PoseNode, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            return callback(node, state)
        except Exception as exc:  # noqa: BLE001 - reported here; on_error then cleans up
            node.get_logger().error(f"{label} failed: {type(exc).__name__}: {exc}")
            return TransitionCallbackReturn.ERROR

    return run


class PoseNode(LifecycleNode):
    """3D human pose estimation with per-joint occlusion from one camera."""

    def __init__(self, node_name: str = "nbf_pose", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        for spec in PARAMS:
            self.declare_parameter(spec.name, spec.default, descriptor(spec))
        self._settings = {spec.name: self.get_parameter(spec.name).value for spec in PARAMS}
        # rclpy checks types and ranges of a parameters file, not choices such as engine.
        problems = [p for s in PARAMS if (p := check_value(s, self._settings[s.name]))]
        if problems:
            raise ParameterError("; ".join(problems))
        self.add_on_set_parameters_callback(self._check_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._active = False
        self._pipeline: Any = None
        self._tracker: Any = None
        self._mesh: Any = None
        self._camera: tuple[np.ndarray, int, int, Lens | None] | None = None  # K, w, h, lens
        self._lenses = LensReader()  # one undistortion map per calibration
        self._camera_problem = "no camera_info received yet"
        self._depth: DepthStream | None = None  # use_depth: depth waiting for its frames
        self._depth_unused = 0  # frames served from colour alone while use_depth is on
        self._slot: LatestSlot[tuple[Any, float]] = LatestSlot()
        self._ready: LatestSlot[_Frame] = LatestSlot()  # pipelined: network done, to fit
        self._schedule = JustInTime()  # pipelined: when the network starts the next frame
        self._workers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._subs: list[Any] = []
        self._pubs: dict[str, Any] = {}
        self._logged: dict[str, tuple[float, int]] = {}  # kind -> (last logged, hidden)
        self._log_lock = threading.Lock()
        self._health = PoseHealth(f"{self.get_fully_qualified_name()}: pose estimation")
        self._device_name = "none"
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(self._settings["diagnostics_period"],
                                             self._publish_diagnostics)

    # Parameters ---------------------------------------------------------------------------

    def _check_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Refuse bad values and configure-time parameters on an active node, with reasons."""
        for param in params:
            spec = _SPECS.get(param.name)
            if spec is None:
                continue  # use_sim_time and other rclpy parameters
            problem = check_value(spec, param.value)
            if problem is None and not spec.live and self._pipeline is not None:
                problem = (f"{param.name} is read on configure: deactivate and clean up the "
                           "node, set it, then configure again")
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params: list[Parameter]) -> None:
        """Take accepted values into the running pipeline and tracker."""
        for param in params:
            if param.name in _SPECS:
                value = param.value
                if isinstance(_SPECS[param.name].default, float):
                    value = float(value)
                self._settings[param.name] = value
        self._apply_live()

    def _apply_live(self) -> None:
        """Push the live settings into the pipeline and tracker (when configured)."""
        if self._pipeline is not None:
            from nbf_ros.node_settings import apply_live_settings

            apply_live_settings(self._pipeline, self._tracker, self._settings)

    # Lifecycle ----------------------------------------------------------------------------

    @_logs_failure
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model and create the publishers."""
        s = self._settings
        try:
            import torch

            from nbf_ros.node_settings import build_pipeline, cpu_threads

            threads = cpu_threads(s)
            if threads:
                torch.set_num_threads(threads)
            self._pipeline, self._tracker = build_pipeline(s)
        except EngineUnavailable as exc:  # the engine asked for cannot run on this machine
            self.get_logger().error(f"configure failed: engine {s['engine']!r} cannot run on "
                                    f"device {s['device']!r}: {exc}")
            self._pipeline = None
            return TransitionCallbackReturn.FAILURE
        except Exception as exc:  # noqa: BLE001 - any load failure leaves the node unconfigured
            self.get_logger().error(f"configure failed: cannot load model {s['model']!r} on "
                                    f"device {s['device']!r}: {exc}")
            self._pipeline = None
            return TransitionCallbackReturn.FAILURE
        self._device_name = str(self._pipeline.device)
        self._warm_up_fit()
        self._pubs = {
            "poses": self.create_lifecycle_publisher(HumanPoseArray, "humans/poses", POSE_QOS),
            "markers": self.create_lifecycle_publisher(MarkerArray, "humans/markers", 10),
            # Reliable, as RViz's image display subscribes by default; depth 1 keeps it light.
            "debug": self.create_lifecycle_publisher(Image, "humans/debug_image",
                                                     replace_depth(POSE_QOS, 1)),
        }
        for engine, reason in self._pipeline.engine.skipped:  # why "auto" passed them over
            self.get_logger().info(f"engine {engine} not used: {reason}")
        self.get_logger().info(f"configured: model {s['model']} on {self._device_name}, "
                               f"engine {self._pipeline.engine_description}")
        return super().on_configure(state)

    def _warm_up_fit(self) -> None:
        """Compile the fitting step now (fit_compile), so the first frame does not wait."""
        if not (self._pipeline.fit_config.compile_step
                or self._pipeline.tracking_config.compile_step):
            return
        from nbf_ros.fit_warmup import warm_up_fit

        self.get_logger().info("compiling the fitting step for one person (fit_compile; "
                               "tens of seconds, once)")
        started = time.monotonic()
        try:
            warm_up_fit(self._pipeline)
        except Exception as exc:  # noqa: BLE001 - frames still run; each says why it fails
            self.get_logger().warning(f"fitting step warm-up failed, the first frame "
                                      f"compiles it: {type(exc).__name__}: {exc}")
            return
        self.get_logger().info(f"fitting step compiled in {time.monotonic() - started:.1f} s")

    @_logs_failure
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the camera and start the worker."""
        s = self._settings
        qos = QoSProfile(
            reliability=(ReliabilityPolicy.RELIABLE if s["image_reliability"] == "reliable"
                         else ReliabilityPolicy.BEST_EFFORT),
            durability=DurabilityPolicy.VOLATILE, history=HistoryPolicy.KEEP_LAST,
            depth=s["image_queue_depth"])
        if s["image_transport"] == "compressed":
            image_sub = self.create_subscription(CompressedImage, "image/compressed",
                                                 self._on_image, qos)
        else:
            image_sub = self.create_subscription(Image, "image", self._on_image, qos)
        info_qos = replace_depth(qos, 5)
        self._subs = [image_sub, self.create_subscription(CameraInfo, "camera_info",
                                                          self._on_camera_info, info_qos)]
        if s["use_depth"]:  # registered depth as evidence (issue 31, doc/depth.md)
            self._depth = DepthStream(s["depth_slop"], s["depth_timeout"],
                                      s["depth_registered"], s["max_image_pixels"])
            # A few deep: depth messages only enter the pairing buffer, nothing waits on them.
            self._subs.append(self.create_subscription(Image, "depth", self._depth.put,
                                                       replace_depth(qos, 5)))
            if not s["depth_registered"]:
                self._subs.append(self.create_subscription(
                    CameraInfo, "depth/camera_info", self._depth.put_info, info_qos))
        self._stop.clear()
        self._slot.reopen()
        self._ready.reopen()
        self._schedule = JustInTime()
        if s["pipelined"]:
            stages = [("pose_network", (self._slot, self._prepare_next, self._network_may_start)),
                      ("pose_fit", (self._ready, self._finish))]
        else:
            stages = [("pose_worker", (self._slot, self._process))]
        self._workers = [threading.Thread(target=self._serve, args=args, name=name,
                                          daemon=True) for name, args in stages]
        for worker in self._workers:
            worker.start()
        self._active = True
        layout = ("pipelined: network and fit on two threads" if s["pipelined"]
                  else "one worker thread")
        self.get_logger().info(f"active: listening on {image_sub.topic_name} ({layout})")
        return super().on_activate(state)

    @_logs_failure
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and stop the worker (after its current frame)."""
        self._halt()
        self.get_logger().info("inactive: unsubscribed, worker stopped (model kept)")
        return super().on_deactivate(state)

    @_logs_failure
    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the model (and its GPU memory) and the publishers."""
        self._release()
        self.get_logger().info("unconfigured: model and publishers freed")
        return super().on_cleanup(state)

    @_logs_failure
    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop everything from any state."""
        self._halt()
        self._release()
        self.get_logger().info(f"finalized: shut down from {state.label}")
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """After a failed transition (its reason is logged): stop and free everything, so
        the node is unconfigured and may be configured again."""
        self._halt()
        self._release()
        self.get_logger().info("unconfigured again after the failed transition")
        return super().on_error(state)

    def _halt(self) -> None:
        self._active = False
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self._stop.set()
        self._slot.close()
        self._ready.close()
        for worker in self._workers:
            worker.join(timeout=30)
        self._workers = []

    def _release(self) -> None:
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        device = self._pipeline.device if self._pipeline is not None else None
        self._pipeline = self._tracker = self._mesh = None
        # The pipeline holds reference cycles (its CUDA graph replays call its own methods),
        # so dropping it frees nothing until a full collection, which a long-running process
        # seldom makes: each configure/cleanup cycle kept another model and ONNX Runtime
        # session (with its thread), about 60 MiB.
        gc.collect()
        _return_freed_memory()
        if device is not None and device.type == "cuda":
            import torch

            torch.cuda.empty_cache()

    # Input --------------------------------------------------------------------------------

    def _on_image(self, msg: Image | CompressedImage) -> None:
        """Hand the frame to the worker (replacing one it has not started)."""
        if self._active:
            self._health.received(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
            self._slot.put((msg, time.monotonic()))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        """Keep the latest intrinsics, or why they are unusable."""
        try:
            K, width, height = intrinsics_from_camera_info(msg)
            lens, unknown = self._lenses.read(msg, K, width, height)
            self._camera = (K, width, height, lens)
            if unknown:  # said once per model
                self.get_logger().warning(unknown)
        except CameraInfoError as exc:
            self._camera = None
            self._camera_problem = f"invalid camera_info: {exc}"
            # The one line about it: the frames it costs are counted, not logged again.
            self._warn("camera_info", f"{self._camera_problem}; frames are dropped until a "
                       "valid one arrives", frame=False, lead="camera_info refused")

    def _warn(self, reason: str, message: str, frame: bool = True,
              kind: str | None = None, lead: str = "frame dropped", log: bool = True) -> None:
        """Count a problem for diagnostics and log it, at most once per log_throttle for
        each kind of problem (rclpy's own throttle is per call site: one problem would hide
        the next). The kind is a stable key (default: the reason), never the message text,
        which may hold sizes, stamps or a decoder's object addresses."""
        self._health.reject(reason, message, frame)
        if not log:
            return
        kind = kind or reason
        now = time.monotonic()
        with self._log_lock:
            last, hidden = self._logged.get(kind, (-math.inf, 0))
            if now - last < self._settings["log_throttle"]:
                self._logged[kind] = (last, hidden + 1)
                return
            self._logged[kind] = (now, 0)
        more = f" ({hidden} more since the last such message)" if hidden else ""
        self.get_logger().warning(f"{lead} ({reason}): {message}{more}")

    # Worker -------------------------------------------------------------------------------

    def _serve(self, slot: LatestSlot, handle: Callable[[Any], None],
               may_start: Callable[[], bool] | None = None) -> None:
        """Handle the newest item of ``slot`` until stopped; no error ends this loop. With
        ``may_start``, an item is taken only when it says so (it waits a little when not)."""
        while not self._stop.is_set():
            if may_start is not None and not may_start():
                continue
            item = slot.take(timeout=0.2)
            if item is None:
                continue
            try:
                handle(item)
            except FrameRejected as exc:
                self._warn(exc.reason, str(exc), kind=exc.kind, log=not exc.logged)
            except Exception as exc:  # noqa: BLE001 - the node outlives any one frame
                if self._stop.is_set() or not self.context.ok():
                    return  # stopping: the frame's publishers may be gone, nothing failed
                self._health.errors += 1
                self._health.reject("pipeline error", f"{type(exc).__name__}: {exc}")
                self.get_logger().error(
                    f"frame dropped: unexpected {type(exc).__name__}: {exc}\n"
                    f"{traceback.format_exc(limit=4)}",
                    throttle_duration_sec=self._settings["log_throttle"])

    def _decode(self, msg: Image | CompressedImage) -> np.ndarray:
        """RGB uint8 frame of an image message, or FrameRejected."""
        limit = self._settings["max_image_pixels"]
        try:
            if isinstance(msg, CompressedImage):
                return decode_compressed(msg.format, msg.data, max_pixels=limit)
            return decode_image(msg.height, msg.width, msg.encoding, msg.step, msg.data,
                                msg.is_bigendian, max_pixels=limit)
        except ImageError as exc:
            raise FrameRejected("bad image", str(exc), f"bad image: {exc.kind}") from exc

    def _intrinsics(self, rgb: np.ndarray) -> tuple[np.ndarray, Lens | None]:
        """K and lens (None: pinhole) of the latest valid camera_info matching the frame's
        size, or FrameRejected."""
        camera = self._camera
        if camera is None:
            raise FrameRejected("camera_info", self._camera_problem,
                                logged=self._camera_problem.startswith("invalid"))
        K, width, height, lens = camera
        if (width, height) != (rgb.shape[1], rgb.shape[0]):
            raise FrameRejected(
                "camera_info size", f"camera_info is for {width} x {height} images, the image "
                f"is {rgb.shape[1]} x {rgb.shape[0]} (is camera_info from another camera or "
                "resolution?)")
        return K, lens

    def _process(self, item: tuple[Image | CompressedImage, float]) -> None:
        """Estimate the people of one frame and publish them (both halves, one thread)."""
        frame = self._prepare(*item)
        if frame is not None:
            self._finish(frame)

    def _network_may_start(self) -> bool:
        """Whether the network worker should take the next frame now: the fitting worker
        has taken the last one and would end its fit about when the network is done, or the
        frame it left waiting is a network run old and a newer one has come."""
        return self._schedule.may_start(self._ready, newer=self._slot.waiting)

    def _prepare_next(self, item: tuple[Image | CompressedImage, float]) -> None:
        """First half of a frame, handed to the fitting worker."""
        started = time.monotonic()
        frame = self._prepare(*item)
        if frame is not None:
            self._schedule.first_done(time.monotonic() - started)
            self._ready.put(frame)

    def _prepare(self, msg: Image | CompressedImage, received: float) -> _Frame | None:
        """Decode a frame and run the network on it (None when no model is loaded)."""
        pipe = self._pipeline
        if pipe is None:
            return None
        rgb = self._decode(msg)
        K, lens = self._intrinsics(rgb)
        if not self._settings["undistort"]:
            lens = None
        # Every stage sees a pinhole image (nbf_ros/io/undistort.py says why).
        seen, seen_K = (rgb, K) if lens is None else (lens.rectify(rgb), lens.camera)
        depth = self._depth_for(msg, rgb, K)
        if lens is not None and depth is not None:  # registered to the raw colour image
            depth = lens.rectify_depth(depth)
        return _Frame(msg, received, rgb, pipe.prepare(seen, seen_K, follow=True, depth=depth),
                      lens)

    def _depth_for(self, msg: Image | CompressedImage, rgb: np.ndarray, K: np.ndarray
                   ) -> np.ndarray | None:
        """The frame's depth [H, W] m paired by stamp, or None (with a warning when
        use_depth is on) to serve the frame from colour alone."""
        if self._depth is None:
            return None
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        got = self._depth.for_frame(stamp, rgb.shape[0], rgb.shape[1], K)
        if got.depth is None:
            self._depth_unused += 1
            self._warn(f"depth {got.reason}", str(got.message), frame=False,
                       lead="depth not used, frame served from colour alone")
        return got.depth

    def _finish(self, frame: _Frame) -> None:
        """Track and fit the people of a prepared frame and publish them, timed for the
        network worker's schedule."""
        self._schedule.second_started()
        try:
            self._fit_and_publish(frame)
        finally:
            self._schedule.second_done()

    def _fit_and_publish(self, frame: _Frame) -> None:
        """Track and fit the people of a prepared frame and publish them."""
        pipe, tracker = self._pipeline, self._tracker
        if pipe is None:
            return
        msg, rgb, received = frame.msg, frame.rgb, frame.received
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        humans = pipe.finish_track(frame.prepared, tracker, stamp)
        if frame.lens is not None:  # from the undistorted image onto the one received
            frame.lens.to_raw(humans)
        if pipe.rejected:
            self._health.bad_fits += pipe.rejected
            self._warn("non-finite fit", f"{pipe.rejected} people dropped: their fit gave "
                       "NaN or infinite values", frame=False)
        s = self._settings
        pubs = self._pubs
        if not pubs:
            return
        pubs["poses"].publish(human_pose_array(humans, msg.header,
                                               time.monotonic() - received))
        if s["publish_markers"]:
            pubs["markers"].publish(human_markers(humans, msg.header, s["marker_lifetime"],
                                                  self._meshes(humans)))
        if s["publish_debug_image"]:
            from nbf_ros.overlay import draw_estimates

            pubs["debug"].publish(rgb_image(draw_estimates(rgb, humans), msg.header))
        done = time.monotonic()
        self._health.latency.add(done - received)
        self._health.processing.add(frame.prepared.timing.get("total", 0.0))
        self._health.output_rate.tick()
        self._health.people = len(humans)

    def _meshes(self, humans: list) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """Coarse body meshes of the people, when publish_mesh is on."""
        if not self._settings["publish_mesh"] or not humans:
            return None
        import torch

        from nbf_ros.body.coarse_mesh import CoarseMesh
        from nbf_ros.synth.mesh import BodyMesh

        if self._mesh is None:
            self._mesh = CoarseMesh(BodyMesh.default())
        mesh = self._mesh
        rot = torch.tensor(np.stack([np.concatenate((h.root_rotation[None], h.bone_rotations))
                                     for h in humans]), dtype=torch.float32)
        trans = torch.tensor(np.stack([h.root_translation for h in humans]),
                             dtype=torch.float32)
        shapes = np.stack([h.shape for h in humans])
        shape = (torch.tensor(shapes, dtype=torch.float32)
                 if shapes.shape[1] == mesh.mesh.body.num_shape else None)
        verts = mesh.pose(rot, trans, shape).numpy()
        return [(v, mesh.faces) for v in verts]

    # Diagnostics --------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        state = "active" if self._active else (
            "configured" if self._pipeline is not None else "unconfigured")
        pipeline = self._pipeline  # read once: cleanup may clear it meanwhile
        camera = self._camera  # and camera_info may replace this
        engine = (pipeline.engine_description if pipeline is not None
                  else f"{self._settings['engine']} (not loaded)")
        values = {"state": state, "engine": engine,
                  "device": self._device_name, "model": self._settings["model"],
                  "frames dropped (busy)": str(self._slot.dropped + self._ready.dropped),
                  "pipelined": "yes" if self._settings["pipelined"] else "no",
                  "camera_info": (lens_summary(camera[3], self._settings["undistort"])
                                  if camera is not None else self._camera_problem)}
        if self._depth is not None:
            values["frames with depth"] = str(self._depth.paired)
            values["frames without depth"] = str(self._depth_unused)
        self._diag_pub.publish(self._health.array(self.get_clock().now().to_msg(),
                                                  self._device_name, values))


def _return_freed_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's malloc_trim; elsewhere a
    no-op). A model freed by cleanup leaves its pages in the malloc arenas of the threads
    that used it, and the next configure allocates anew: without this the node's RSS grew
    by about 20 MiB per cleanup/configure cycle under a flood, with nothing left alive."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):  # not glibc
        pass


def replace_depth(qos: QoSProfile, depth: int) -> QoSProfile:
    """A copy of ``qos`` with another history depth."""
    return QoSProfile(reliability=qos.reliability, durability=qos.durability,
                      history=qos.history, depth=depth)


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C, SIGTERM or shutdown; 0 on a normal stop."""
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
    from rclpy.signals import SignalHandlerOptions

    # rclpy's own signal handler invalidates the context the moment Ctrl-C arrives, while
    # the worker may be publishing a frame: an ERROR with a traceback, at times an abort. Ours
    # only asks the loop below to end; the worker is stopped before the context goes.
    stopping: list[str] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    try:
        with rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO):
            try:
                node = PoseNode()
            except (InvalidParameterValueException, InvalidParameterTypeException,
                    ParameterError) as exc:
                # A bad value in the parameters file: one clear line, not a traceback.
                print(f"nbf_pose: bad parameter: {exc}", flush=True)
                return 2
            if node.get_parameter("autostart").value and not stopping:
                node.trigger_configure()
                if node._pipeline is not None and not stopping:  # configure succeeded
                    node.trigger_activate()
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            try:
                # A short timeout: a signal is noticed within it (a wait without one only
                # ends on the next message or timer).
                while not stopping and executor.context.ok():
                    executor.spin_once(timeout_sec=0.1)
            finally:
                if stopping:
                    node.get_logger().info(f"stopping ({stopping[0]})")
                node._halt()
                executor.shutdown()
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    # A terminal's Ctrl-C reaches the node twice under launch or `ros2 run` (from the
    # terminal and forwarded); one arriving while Python exits, after its handlers are gone,
    # would kill the process by SIGINT instead of letting it end with 0. Python leaves
    # ignored signals ignored when it exits.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
