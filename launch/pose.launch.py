"""Start the nbf_ros pose node (and optionally RViz) and bring it to the active state.

Usage:
    ros2 launch nbf_ros pose.launch.py
    ros2 launch nbf_ros pose.launch.py image:=/my_cam/image_raw \\
        camera_info:=/my_cam/camera_info rviz:=true

One node per camera, each in its own namespace. The topics are relative, as in the
image_pipeline launch files: the namespace moves inputs and outputs together, so with
camera drivers publishing /left/camera/image_raw and /right/camera/image_raw:
    ros2 launch nbf_ros pose.launch.py namespace:=left
    ros2 launch nbf_ros pose.launch.py namespace:=right
(outputs go to /<namespace>/humans/...). An absolute image:=/cam/image_raw stays as given.

Arguments (`ros2 launch nbf_ros pose.launch.py --show-args` lists them):
    namespace        namespace of the node, its inputs and outputs (default: none)
    params_file      node parameters (default: <nbf_ros share>/config/pose.yaml)
    image            raw image topic (default camera/image_raw, relative to the namespace)
    camera_info      CameraInfo topic of that camera (default camera/camera_info)
    image_transport  raw: sensor_msgs/Image on <image>; compressed: CompressedImage on
                     <image>/compressed (JPEG or PNG, as image_transport's plugin sends)
    use_depth        also fit to registered depth (doc/depth.md): true or false
    depth            depth topic registered to <image> (default
                     camera/aligned_depth_to_color/image_raw)
    depth_camera_info  CameraInfo of the depth (read with depth_registered false)
    detector         who finds people: auto, nanodet (real-trained) or network (doc/frontend.md)
    use_sim_time     take time from /clock (replaying a bag with --clock): true or false
    rviz             also start RViz with <nbf_ros share>/config/pose.rviz: true or false
    log_level        log level of the node: debug, info, warn, error or fatal
image_transport, detector and use_sim_time override the same parameters of params_file.

The node is a lifecycle node: this file requests configure at start and activate once
configure has succeeded, so the parameter `autostart` stays false here. Only the end of
configuring triggers activate: a later `ros2 lifecycle set /nbf_pose deactivate` leaves the
node inactive, and `cleanup` can follow. A failed configure (e.g. a missing model file)
leaves the node unconfigured and logs why.
"""

from ament_index_python.packages import PackageNotFoundError, get_package_prefix
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.conditions import IfCondition
from launch.events import matches_action
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

from launch import LaunchDescription

BOOLEAN = ["true", "false"]
LOG_LEVELS = ["debug", "info", "warn", "error", "fatal"]


def rviz_if_installed(context: LaunchContext, rviz: Node) -> list:
    """RViz, or one line saying why not when rviz2 is not installed (the node runs on)."""
    try:
        get_package_prefix("rviz2")
    except PackageNotFoundError:
        return [LogInfo(msg="rviz:=true, but the package rviz2 is not installed here "
                            "(apt-get install ros-$ROS_DISTRO-rviz2); starting without RViz")]
    return [rviz]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("nbf_ros")
    namespace = LaunchConfiguration("namespace")
    image = LaunchConfiguration("image")
    # A launch argument is a string; without the type the node would get use_sim_time:="false"
    # as a string and refuse it (use_sim_time is a bool parameter).
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)

    arguments = [
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the node, its inputs and outputs"),
        DeclareLaunchArgument("params_file",
                              default_value=PathJoinSubstitution([share, "config", "pose.yaml"]),
                              description="YAML file with the node's parameters"),
        DeclareLaunchArgument("image", default_value="camera/image_raw",
                              description="raw image topic (relative: in the namespace); "
                                          "with image_transport:=compressed the node reads "
                                          "its /compressed sibling"),
        DeclareLaunchArgument("camera_info", default_value="camera/camera_info",
                              description="CameraInfo topic of the same camera"),
        DeclareLaunchArgument("image_transport", default_value="raw",
                              choices=["raw", "compressed"],
                              description="raw: sensor_msgs/Image on <image>; compressed: "
                                          "sensor_msgs/CompressedImage on <image>/compressed"),
        DeclareLaunchArgument("use_depth", default_value="false", choices=BOOLEAN,
                              description="also fit to registered depth on <depth> "
                                          "(doc/depth.md)"),
        DeclareLaunchArgument("depth", default_value="camera/aligned_depth_to_color/image_raw",
                              description="depth image topic (16UC1 mm or 32FC1 m) "
                                          "registered to <image>"),
        DeclareLaunchArgument("depth_camera_info",
                              default_value="camera/aligned_depth_to_color/camera_info",
                              description="CameraInfo of the depth camera (read only with "
                                          "the parameter depth_registered false)"),
        DeclareLaunchArgument("detector", default_value="auto",
                              choices=["auto", "nanodet", "network"],
                              description="who finds people: nanodet (real-trained), network "
                                          "(the feature network's head) or auto"),
        DeclareLaunchArgument("use_sim_time", default_value="false", choices=BOOLEAN,
                              description="use /clock time (bag replay with --clock)"),
        DeclareLaunchArgument("rviz", default_value="false", choices=BOOLEAN,
                              description="also start RViz with config/pose.rviz"),
        DeclareLaunchArgument("log_level", default_value="info", choices=LOG_LEVELS,
                              description="log level of the node"),
    ]

    pose_node = LifecycleNode(
        package="nbf_ros",
        executable="pose_node",
        name="nbf_pose",
        namespace=namespace,  # required by LifecycleNode on Humble
        parameters=[LaunchConfiguration("params_file"),
                    {"use_sim_time": use_sim_time,
                     "image_transport": LaunchConfiguration("image_transport"),
                     "detector": LaunchConfiguration("detector"),
                     "use_depth": ParameterValue(LaunchConfiguration("use_depth"),
                                                 value_type=bool)}],
        remappings=[
            ("image", image),
            ("image/compressed", [image, "/compressed"]),
            ("camera_info", LaunchConfiguration("camera_info")),
            ("depth", LaunchConfiguration("depth")),
            ("depth/camera_info", LaunchConfiguration("depth_camera_info")),
        ],
        output="screen",
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )

    # Lifecycle through launch events, not the LifecycleTransition action (Iron and later, so
    # not on Humble). Configure loads the model and may take seconds or fail, so activate is
    # requested only once the node reports that configure succeeded: configuring -> inactive.
    # Without the start state, a user's deactivate (active -> inactive) would fire it too.
    configure = EmitEvent(event=ChangeState(
        lifecycle_node_matcher=matches_action(pose_node),
        transition_id=Transition.TRANSITION_CONFIGURE,
    ))
    activate_when_configured = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=pose_node,
        start_state="configuring",
        goal_state="inactive",
        entities=[EmitEvent(event=ChangeState(
            lifecycle_node_matcher=matches_action(pose_node),
            transition_id=Transition.TRANSITION_ACTIVATE,
        ))],
    ))

    # pose.rviz names absolute topics; the remaps point them into this launch's namespace and
    # at the camera chosen above, so RViz follows the arguments.
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        namespace=namespace,
        arguments=["-d", PathJoinSubstitution([share, "config", "pose.rviz"])],
        parameters=[{"use_sim_time": use_sim_time}],
        remappings=[
            ("/humans/markers", "humans/markers"),
            ("/humans/debug_image", "humans/debug_image"),
            ("/camera/image_raw", image),
        ],
        output="screen",
    )

    return LaunchDescription([
        *arguments,
        pose_node,
        # The handler is registered before configure is requested, so no transition is missed.
        activate_when_configured,
        configure,
        OpaqueFunction(function=rviz_if_installed, args=[rviz],
                       condition=IfCondition(LaunchConfiguration("rviz"))),
    ])
