"""fit_compile is "auto" or a boolean (issue 32 item 7): rclpy must take both from a
parameters file, a launch argument (`fit_compile:=true` arrives as a bool) and
`ros2 param set`, which a statically typed string parameter would refuse."""

from __future__ import annotations

import pytest


@pytest.fixture
def declare():  # noqa: ANN201 - declares fit_compile on a fresh rclpy node
    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from nbf_ros.ros.params import PARAMS, descriptor

    (spec,) = [s for s in PARAMS if s.name == "fit_compile"]
    context = Context()
    rclpy.init(context=context)
    nodes = []

    def make(override: object | None = None) -> Node:
        overrides = [] if override is None else [Parameter("fit_compile", value=override)]
        node = Node("fit_compile_param_test", context=context, parameter_overrides=overrides)
        nodes.append(node)
        node.declare_parameter(spec.name, spec.default, descriptor(spec))
        return node

    yield make
    for node in nodes:
        node.destroy_node()
    rclpy.shutdown(context=context)


def test_the_default_is_auto(declare) -> None:  # noqa: ANN001
    assert declare().get_parameter("fit_compile").value == "auto"


def test_a_boolean_from_a_parameters_file_is_taken(declare) -> None:  # noqa: ANN001
    assert declare(True).get_parameter("fit_compile").value is True


def test_a_running_node_takes_a_boolean_then_auto_again(declare) -> None:  # noqa: ANN001
    from rclpy.parameter import Parameter

    node = declare()
    assert node.set_parameters([Parameter("fit_compile", value=False)])[0].successful
    assert node.set_parameters([Parameter("fit_compile", value="auto")])[0].successful
    assert node.get_parameter("fit_compile").value == "auto"
