"""doc/node.md, doc/messages.md and the README describe the node the code builds: every launch
argument, topic, diagnostics key and rejection reason, and every message field. The code is
read as source (its syntax tree), so these checks need no ROS install."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAUNCH_FILE = Path("launch") / "pose.launch.py"
NODE = Path("nbf_ros") / "ros" / "pose_node.py"
HEALTH = Path("nbf_ros") / "ros" / "diagnostics.py"
TOPIC_CALLS = {"create_subscription", "create_publisher", "create_lifecycle_publisher"}


def tree(root: Path, path: Path) -> ast.Module:
    """The syntax tree of a source file."""
    return ast.parse((root / path).read_text(), filename=str(path))


def calls(module: ast.AST, names: set[str]) -> list[ast.Call]:
    """Calls of functions or methods named in ``names``."""
    def name(call: ast.Call) -> str:
        func = call.func
        return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return [n for n in ast.walk(module) if isinstance(n, ast.Call) and name(n) in names]


def constant_arg(call: ast.Call, index: int) -> str | None:
    """The string literal passed at position ``index``, if any."""
    if len(call.args) > index and isinstance(call.args[index], ast.Constant) \
            and isinstance(call.args[index].value, str):
        return call.args[index].value
    return None


def dict_keys(module: ast.AST, target: str) -> set[str]:
    """String keys of every dict literal assigned to the name ``target``."""
    keys: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) and any(
                isinstance(t, ast.Name) and t.id == target for t in node.targets):
            keys |= {k.value for k in node.value.keys
                     if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return keys


def first_column(text: str, header: str) -> list[str]:
    """The first cells, without backticks, of the Markdown table under ``header``."""
    assert header in text, f"no table headed {header!r}"
    cells = []
    for line in text.split(header, 1)[1].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells.append(line.strip("|").split("|")[0].strip().strip("`"))
    return cells


@pytest.fixture(scope="module")
def node_page(repo_root: Path) -> str:
    return (repo_root / "doc" / "node.md").read_text()


def test_launch_arguments_are_listed_in_the_readme_and_the_node_page(
        repo_root: Path, node_page: str) -> None:
    declared = {constant_arg(c, 0) for c in calls(tree(repo_root, LAUNCH_FILE),
                                                  {"DeclareLaunchArgument"})}
    assert declared and None not in declared
    readme = (repo_root / "README.md").read_text()
    for page, text, header in (("README.md", readme, "| launch argument | default | meaning |"),
                               ("doc/node.md", node_page, "| argument | default | meaning |")):
        listed = set(first_column(text, header))
        assert listed == declared, (f"{page}'s launch-argument table: add "
                                    f"{sorted(declared - listed)}, remove "
                                    f"{sorted(listed - declared)}")


def test_every_topic_of_the_node_is_in_the_node_page(repo_root: Path, node_page: str) -> None:
    topics = {constant_arg(c, 1) for c in calls(tree(repo_root, NODE), TOPIC_CALLS)} - {None}
    assert {"image", "camera_info", "humans/poses", "/diagnostics"} <= topics
    missing = sorted(t for t in topics if f"`{t}`" not in node_page)
    assert not missing, f"doc/node.md's Topics table lacks {missing}"


def test_every_diagnostics_key_is_in_the_node_page(repo_root: Path, node_page: str) -> None:
    keys = dict_keys(tree(repo_root, HEALTH), "entries") | dict_keys(tree(repo_root, NODE),
                                                                     "values")
    assert {"latency p50 (ms)", "frames rejected", "engine"} <= keys
    missing = sorted(k for k in keys if f"`{k}`" not in node_page)
    assert not missing, f"doc/node.md's Diagnostics table lacks {missing}"


def test_every_rejection_reason_is_in_the_node_page(repo_root: Path, node_page: str) -> None:
    module = tree(repo_root, NODE)
    reasons = {constant_arg(c, 0) for c in calls(module, {"FrameRejected", "reject"})} - {None}
    assert "bad image" in reasons
    row = next(line for line in node_page.splitlines() if line.startswith("| `rejected: "))
    missing = sorted(r for r in reasons if f"`{r}`" not in row)
    assert not missing, f"doc/node.md's `rejected: REASON` row lacks {missing}"


def test_every_message_field_is_in_the_messages_page(repo_root: Path) -> None:
    page = (repo_root / "doc" / "messages.md").read_text()
    fields = []
    for path in sorted((repo_root / "msg").glob("*.msg")):
        for line in path.read_text().splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) == 2 and "=" not in line:  # "type name"; constants have "="
                fields.append(words[1])
    assert "joint_visibility" in fields
    missing = [f for f in fields if f"`{f}`" not in page]
    assert not missing, f"doc/messages.md lacks {missing}"
