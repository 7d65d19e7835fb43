"""Synthetic scenes: bodies, poses, occluders and ground truth, made from a seed."""
