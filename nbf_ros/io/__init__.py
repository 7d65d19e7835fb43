"""rosbag2 files (MCAP, sqlite3) without ROS: camera frames, CameraInfo and HumanPoseArray
ground truth in and out through the pure-Python rosbags package, plus the image decoding
that the rclpy node shares."""
