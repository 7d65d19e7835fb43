"""The ROS 2 side of nbf_ros (the only package that imports rclpy): the pose node, its
messages, markers and diagnostics, and the bag player and recorder processes."""
