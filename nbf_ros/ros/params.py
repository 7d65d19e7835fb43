"""The pose node's parameter descriptors (rclpy), made from the parameter table in
nbf_ros/node_settings.py."""

from __future__ import annotations

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
)

from nbf_ros.node_settings import PARAMS, ParamSpec, check_value

__all__ = ["PARAMS", "ParamSpec", "check_value", "descriptor"]


_TYPES = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
          float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """The ParameterDescriptor that rclpy declares for ``spec`` (type, range, description)."""
    text = spec.description
    if spec.choices:
        text += f" (one of: {', '.join(spec.choices)})"
    if not spec.live:
        text += " [read on configure]"
    if spec.or_bool:  # "auto" or a boolean: rclpy takes either only with dynamic typing
        return ParameterDescriptor(name=spec.name, description=text, dynamic_typing=True)
    desc = ParameterDescriptor(name=spec.name, type=_TYPES[type(spec.default)],
                               description=text)
    if isinstance(spec.default, bool) or spec.low is None:
        return desc
    if isinstance(spec.default, int):
        desc.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high),
                                           step=1)]
    else:
        desc.floating_point_range = [FloatingPointRange(from_value=float(spec.low),
                                                        to_value=float(spec.high), step=0.0)]
    return desc
