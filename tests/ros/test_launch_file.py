"""launch/pose.launch.py and config/pose.rviz start the pose node the way the README says.

launch and launch_ros are not pip-installable, so most checks read the launch file's syntax
tree: which arguments it declares, which node it starts and how it drives the lifecycle. Where
launch_ros does import (a sourced ROS install), the file is also run for real.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

LAUNCH_FILE = Path("launch") / "pose.launch.py"
RVIZ_FILE = Path("config") / "pose.rviz"
LAUNCH_ARGUMENTS = {"namespace", "params_file", "image", "camera_info", "image_transport",
                    "use_depth", "depth", "depth_camera_info", "detector", "use_sim_time",
                    "rviz", "log_level"}


def call_name(node: ast.Call) -> str:
    """'LifecycleNode' for LifecycleNode(...) and for launch_ros.actions.LifecycleNode(...)."""
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    """Every call of `name` in the tree, in source order."""
    found = [node for node in ast.walk(tree)
             if isinstance(node, ast.Call) and call_name(node) == name]
    return sorted(found, key=lambda node: (node.lineno, node.col_offset))


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    """The expression passed as name=... to the call, or None."""
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def constant(expr: ast.expr | None) -> Any:
    """The value of a literal expression (None when it is not a literal)."""
    try:
        return ast.literal_eval(expr) if expr is not None else None
    except ValueError:
        return None


def transition_ids(tree: ast.AST) -> list[str]:
    """Names of the transitions requested by ChangeState(...) events, e.g. TRANSITION_ACTIVATE."""
    ids = [keyword(call, "transition_id") for call in calls(tree, "ChangeState")]
    return [expr.attr for expr in ids if isinstance(expr, ast.Attribute)]


@pytest.fixture(scope="module")
def launch_source(repo_root: Path) -> str:
    return (repo_root / LAUNCH_FILE).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def launch_tree(launch_source: str) -> ast.Module:
    return ast.parse(launch_source, filename=str(LAUNCH_FILE))


@pytest.fixture(scope="module")
def pose_node(launch_tree: ast.Module) -> ast.Call:
    """The LifecycleNode(...) call that starts the pose node."""
    (node,) = calls(launch_tree, "LifecycleNode")
    return node


@pytest.fixture(scope="module")
def rviz_config(repo_root: Path) -> dict[str, Any]:
    return yaml.safe_load((repo_root / RVIZ_FILE).read_text(encoding="utf-8"))


def displays(config: dict[str, Any], plugin: str) -> list[dict[str, Any]]:
    """The RViz displays of class rviz_default_plugins/<plugin>."""
    return [display for display in config["Visualization Manager"]["Displays"]
            if display["Class"] == f"rviz_default_plugins/{plugin}"]


# The launch file -----------------------------------------------------------------------------

def test_launch_file_compiles(repo_root: Path, launch_source: str) -> None:
    compile(launch_source, str(repo_root / LAUNCH_FILE), "exec")


def test_launch_file_defines_generate_launch_description(launch_tree: ast.Module) -> None:
    functions = {node.name for node in launch_tree.body if isinstance(node, ast.FunctionDef)}
    assert "generate_launch_description" in functions


def test_launch_file_declares_exactly_the_documented_arguments(launch_tree: ast.Module) -> None:
    names = [constant(call.args[0]) for call in calls(launch_tree, "DeclareLaunchArgument")]
    assert sorted(names) == sorted(LAUNCH_ARGUMENTS)


def test_every_launch_argument_has_a_description(launch_tree: ast.Module) -> None:
    for call in calls(launch_tree, "DeclareLaunchArgument"):
        assert constant(keyword(call, "description")), ast.unparse(call.args[0])


def test_launch_argument_defaults_are_the_documented_ones(launch_tree: ast.Module) -> None:
    defaults = {constant(call.args[0]): constant(keyword(call, "default_value"))
                for call in calls(launch_tree, "DeclareLaunchArgument")}
    assert defaults == {
        "namespace": "",
        "params_file": None,  # a substitution: <share>/config/pose.yaml, checked below
        # Relative, as image_pipeline's launch files: namespace:=left moves inputs too.
        "image": "camera/image_raw",
        "camera_info": "camera/camera_info",
        "image_transport": "raw",
        "use_depth": "false",
        "depth": "camera/aligned_depth_to_color/image_raw",
        "depth_camera_info": "camera/aligned_depth_to_color/camera_info",
        "detector": "auto",
        "use_sim_time": "false",
        "rviz": "false",
        "log_level": "info",
    }


def test_closed_arguments_list_their_choices(launch_tree: ast.Module) -> None:
    # A value outside them (log_level:=verbose) is refused by launch at once, instead of
    # killing the node while the launch keeps running.
    module = {node.targets[0].id: constant(node.value) for node in launch_tree.body
              if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    choices = {}
    for call in calls(launch_tree, "DeclareLaunchArgument"):
        expr = keyword(call, "choices")
        if expr is not None:
            choices[constant(call.args[0])] = (module[expr.id] if isinstance(expr, ast.Name)
                                               else constant(expr))
    expected = {"image_transport": ["raw", "compressed"], "use_sim_time": ["true", "false"],
                "rviz": ["true", "false"], "log_level": ["debug", "info", "warn", "error", "fatal"]}
    assert {name: choices.get(name) for name in expected} == expected


def test_image_transport_argument_reaches_the_node_parameter(pose_node: ast.Call) -> None:
    from nbf_ros.node_settings import PARAMS

    (spec,) = [spec for spec in PARAMS if spec.name == "image_transport"]
    assert spec.choices == ("raw", "compressed")
    assert ("'image_transport': LaunchConfiguration('image_transport')"
            in ast.unparse(keyword(pose_node, "parameters")))


def test_config_files_named_by_the_launch_file_exist(launch_tree: ast.Module,
                                                     repo_root: Path) -> None:
    # PathJoinSubstitution([share, "config", "<file>"]): CMake installs config/ into the share.
    named = []
    for call in calls(launch_tree, "PathJoinSubstitution"):
        parts = [constant(part) for part in call.args[0].elts[1:]]
        named.append(Path(*parts))
    assert sorted(named) == [Path("config/pose.rviz"), Path("config/pose.yaml")]
    for path in named:
        assert (repo_root / path).is_file(), path


def test_launch_starts_the_pose_node_as_a_lifecycle_node(pose_node: ast.Call) -> None:
    assert constant(keyword(pose_node, "package")) == "nbf_ros"
    assert constant(keyword(pose_node, "executable")) == "pose_node"
    assert constant(keyword(pose_node, "name")) == "nbf_pose"


def test_lifecycle_node_gets_a_namespace_as_humble_requires(pose_node: ast.Call) -> None:
    assert keyword(pose_node, "namespace") is not None


def test_node_topics_are_remapped_onto_the_camera_arguments(pose_node: ast.Call) -> None:
    remappings = keyword(pose_node, "remappings")
    assert isinstance(remappings, ast.List)
    sources = [constant(pair.elts[0]) for pair in remappings.elts if isinstance(pair, ast.Tuple)]
    assert sorted(sources) == ["camera_info", "depth", "depth/camera_info", "image",
                               "image/compressed"]


def test_use_sim_time_is_passed_as_a_bool(launch_tree: ast.Module) -> None:
    # A LaunchConfiguration is a string; the node's bool parameter would refuse "false".
    (value,) = [call for call in calls(launch_tree, "ParameterValue")
                if ast.unparse(call.args[0]) == "LaunchConfiguration('use_sim_time')"]
    assert ast.unparse(keyword(value, "value_type")) == "bool"


def test_launch_requests_configure_then_activate(launch_tree: ast.Module) -> None:
    assert transition_ids(launch_tree) == ["TRANSITION_CONFIGURE", "TRANSITION_ACTIVATE"]


def test_activate_waits_for_configure_to_reach_inactive(launch_tree: ast.Module) -> None:
    # Only configuring -> inactive: a user's deactivate (active -> inactive) must stay.
    (handler,) = calls(launch_tree, "OnStateTransition")
    assert constant(keyword(handler, "start_state")) == "configuring"
    assert constant(keyword(handler, "goal_state")) == "inactive"
    assert transition_ids(handler) == ["TRANSITION_ACTIVATE"]


def test_launch_leaves_autostart_off(launch_tree: ast.Module, repo_root: Path) -> None:
    # The launch file drives the lifecycle itself: no parameter, argument or file sets autostart.
    docstring = launch_tree.body[0]
    strings = [node.value for node in ast.walk(launch_tree)
               if isinstance(node, ast.Constant) and isinstance(node.value, str)
               and node is not getattr(docstring, "value", None)]
    assert not [text for text in strings if "autostart" in text]
    params = yaml.safe_load((repo_root / "config" / "pose.yaml").read_text(encoding="utf-8"))
    assert params["/**"]["ros__parameters"]["autostart"] is False


def test_rviz_starts_only_when_asked(launch_tree: ast.Module) -> None:
    # Through rviz_if_installed, which says in one line when rviz2 is missing.
    (rviz,) = calls(launch_tree, "OpaqueFunction")
    assert ast.unparse(keyword(rviz, "function")) == "rviz_if_installed"
    assert ast.unparse(keyword(rviz, "condition")) == "IfCondition(LaunchConfiguration('rviz'))"


def test_executable_named_by_the_launch_file_is_installed_from_bin(pose_node: ast.Call,
                                                                   repo_root: Path) -> None:
    # CMake installs bin/* into lib/nbf_ros, where launch_ros looks for `executable`.
    executable = repo_root / "bin" / constant(keyword(pose_node, "executable"))
    assert executable.is_file()
    assert os.access(executable, os.X_OK)
    assert executable.read_text(encoding="utf-8").startswith("#!/usr/bin/env python3")


def test_generate_launch_description_builds_a_launch_description(repo_root: Path) -> None:
    # launch_ros first: without ROS, `import launch` finds this repository's launch/ folder
    # (a namespace package, as the repository root is on sys.path) instead of ROS's launch.
    pytest.importorskip(
        "launch_ros", reason="launch_ros is not installed (it comes with a ROS install, not pip)")
    import launch
    spec = importlib.util.spec_from_file_location("pose_launch", repo_root / LAUNCH_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert isinstance(description, launch.LaunchDescription)
    names = {argument.name for argument in description.get_launch_arguments()}
    assert names == LAUNCH_ARGUMENTS


# The RViz configuration ----------------------------------------------------------------------

def test_rviz_config_shows_the_pose_markers(rviz_config: dict[str, Any]) -> None:
    (markers,) = displays(rviz_config, "MarkerArray")
    assert markers["Topic"]["Value"] == "/humans/markers"


def test_rviz_config_shows_the_debug_image_reliably(rviz_config: dict[str, Any]) -> None:
    # The node publishes humans/debug_image reliable; a reliable subscription matches it.
    (debug,) = [image for image in displays(rviz_config, "Image")
                if image["Topic"]["Value"] == "/humans/debug_image"]
    assert debug["Topic"]["Reliability Policy"] == "Reliable"


def test_rviz_config_shows_the_camera_image_best_effort(rviz_config: dict[str, Any]) -> None:
    # Cameras publish sensor-data QoS (best effort), which a reliable subscriber would miss.
    (camera,) = [image for image in displays(rviz_config, "Image")
                 if image["Topic"]["Value"] == "/camera/image_raw"]
    assert camera["Topic"]["Reliability Policy"] == "Best Effort"


def test_rviz_fixed_frame_is_the_frame_of_the_synthetic_bags(rviz_config: dict[str, Any]) -> None:
    from nbf_ros.io.bag_writer import BagWriter

    frame_id = inspect.signature(BagWriter.write_frame).parameters["frame_id"].default
    assert rviz_config["Visualization Manager"]["Global Options"]["Fixed Frame"] == frame_id
