"""Start the nbf_ros pose node (and optionally RViz) and bring it to the active state.

Usage:
    ros2 launch nbf_ros pose.launch.py
    ros2 launch nbf_ros pose.launch.py image:=/my_cam/image_raw \\
        camera_info:=/my_cam/camera_info rviz:=true

One node per camera, each in its own namespace (outputs go to /<namespace>/humans/...):
    ros2 launch nbf_ros pose.launch.py namespace:=left \\
        image:=/left/image_raw camera_info:=/left/camera_info
    ros2 launch nbf_ros pose.launch.py namespace:=right \\
        image:=/right/image_raw camera_info:=/right/camera_info

Arguments (`ros2 launch nbf_ros pose.launch.py --show-args` lists them):
    namespace      namespace of the node and its outputs (default: none)
    params_file    node parameters (default: <nbf_ros share>/config/pose.yaml)
    image          raw image topic; <image>/compressed is used with image_transport:=compressed
    camera_info    CameraInfo topic of that camera
    use_sim_time   take time from /clock (replaying a bag with --clock)
    rviz           also start RViz with <nbf_ros share>/config/pose.rviz
    log_level      log level of the node (debug, info, warn, error, fatal)

The node is a lifecycle node: this file requests configure at start and activate once the
node reports 'inactive', so the parameter `autostart` stays false here. A failed configure
(e.g. a missing model file) leaves the node unconfigured and logs why.
"""

from launch.actions import DeclareLaunchArgument, EmitEvent, RegisterEventHandler
from launch.conditions import IfCondition
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("nbf_ros")
    namespace = LaunchConfiguration("namespace")
    image = LaunchConfiguration("image")
    # A launch argument is a string; without the type the node would get use_sim_time:="false"
    # as a string and refuse it (use_sim_time is a bool parameter).
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)

    arguments = [
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the node and its output topics"),
        DeclareLaunchArgument("params_file",
                              default_value=PathJoinSubstitution([share, "config", "pose.yaml"]),
                              description="YAML file with the node's parameters"),
        DeclareLaunchArgument("image", default_value="/camera/image_raw",
                              description="raw image topic (its /compressed sibling is used "
                                          "with image_transport:=compressed)"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info",
                              description="CameraInfo topic of the same camera"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="use /clock time (bag replay with --clock)"),
        DeclareLaunchArgument("rviz", default_value="false",
                              description="also start RViz with config/pose.rviz"),
        DeclareLaunchArgument("log_level", default_value="info",
                              description="log level: debug, info, warn, error or fatal"),
    ]

    pose_node = LifecycleNode(
        package="nbf_ros",
        executable="pose_node",
        name="nbf_pose",
        namespace=namespace,  # required by LifecycleNode on Humble
        parameters=[LaunchConfiguration("params_file"), {"use_sim_time": use_sim_time}],
        remappings=[
            ("image", image),
            ("image/compressed", [image, "/compressed"]),
            ("camera_info", LaunchConfiguration("camera_info")),
        ],
        output="screen",
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )

    # Lifecycle through launch events, not the LifecycleTransition action (Iron and later, so
    # not on Humble). Configure loads the model and may take seconds or fail, so activate is
    # requested only once the node reports that configure succeeded.
    configure = EmitEvent(event=ChangeState(
        lifecycle_node_matcher=matches_action(pose_node),
        transition_id=Transition.TRANSITION_CONFIGURE,
    ))
    activate_when_configured = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=pose_node,
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
        condition=IfCondition(LaunchConfiguration("rviz")),
    )

    return LaunchDescription([
        *arguments,
        pose_node,
        # The handler is registered before configure is requested, so no transition is missed.
        activate_when_configured,
        configure,
        rviz,
    ])
