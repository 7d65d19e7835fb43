"""Inference engines of the feature network: one interface (``Engine``), four backends
(plain torch, torch.compile, ONNX Runtime, TensorRT) and ``create_engine`` to pick one."""

from nbf_ros.vision.engines.base import Engine, EngineUnavailable
from nbf_ros.vision.engines.select import AUTO_ORDER, ENGINE_NAMES, create_engine

__all__ = ["AUTO_ORDER", "ENGINE_NAMES", "Engine", "EngineUnavailable", "create_engine"]
