"""The node's parameter table: config/pose.yaml matches it, and values are checked
(tests/docs/test_param_table.py keeps doc/node.md's table in step with it)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml


@pytest.fixture(scope="module")
def params():  # noqa: ANN201 - nbf_ros.ros.params
    from nbf_ros.ros import params

    return params


def test_pose_yaml_lists_every_parameter_with_its_default(params, repo_root: Path) -> None:  # noqa: ANN001
    shipped = yaml.safe_load((repo_root / "config" / "pose.yaml").read_text())
    values = shipped["/**"]["ros__parameters"]
    assert values == {spec.name: spec.default for spec in params.PARAMS}
    for spec in params.PARAMS:  # the YAML type is the declared type (rclpy is strict)
        assert type(values[spec.name]) is type(spec.default), spec.name


def test_every_default_passes_its_own_check(params) -> None:  # noqa: ANN001
    assert all(params.check_value(s, s.default) is None for s in params.PARAMS)


@pytest.mark.parametrize(("name", "value", "says"), [
    ("max_people", 0, "must be in"),
    ("detection_threshold", math.nan, "must be finite"),
    ("engine", "tflite", "must be one of"),
    ("fit_iterations", 2.5, "must be a int"),
    ("warm_start", "yes", "must be a bool"),
])
def test_bad_values_are_refused_with_a_reason(params, name: str, value, says: str) -> None:  # noqa: ANN001
    spec = {s.name: s for s in params.PARAMS}[name]
    assert says in params.check_value(spec, value)


def test_integers_are_accepted_for_float_parameters(params) -> None:  # noqa: ANN001
    spec = {s.name: s for s in params.PARAMS}["track_timeout"]
    assert params.check_value(spec, 2) is None


def test_descriptors_carry_ranges_and_descriptions(params) -> None:  # noqa: ANN001
    by_name = {s.name: params.descriptor(s) for s in params.PARAMS}
    assert by_name["max_people"].integer_range[0].to_value == 32
    assert by_name["detection_threshold"].floating_point_range[0].from_value == 0.01
    assert "read on configure" in by_name["model"].description
    assert all(d.description for d in by_name.values())

