"""Live frame streams without ROS: the latest-frame slot and rolling rate/latency statistics."""
