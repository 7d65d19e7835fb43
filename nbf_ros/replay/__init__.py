"""Bags replayed live through the pose node (separate processes, real DDS) and what that
replay shows: the `nbf-ros demo` main job."""
