"""Evaluation: metrics, occlusion protocols, bag replay and reports."""
