"""doc/node.md's parameter table is generated from the node's declarations
(nbf_ros/node_settings.py) and stays in step with them; the README's short list names
declared parameters with their defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nbf_ros import param_table
from nbf_ros.node_settings import PARAMS, ParamSpec

NODE_PAGE = Path("doc") / "node.md"


def page(table: str) -> str:
    """A page holding ``table`` between the markers, with text around it."""
    return f"# Title\n\nbefore\n\n{param_table.BEGIN}\n{table}\n{param_table.END}\n\nafter\n"


def test_node_page_table_matches_the_declared_parameters(repo_root: Path) -> None:
    text = (repo_root / NODE_PAGE).read_text()
    assert param_table.table_in(text) == param_table.markdown_table(), (
        f"{NODE_PAGE}'s parameter table is out of step with nbf_ros/node_settings.py: run "
        f"`{param_table.WRITE_COMMAND}`")


def test_every_declared_parameter_has_one_row() -> None:
    rows = param_table.markdown_table().splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == [f"| `{spec.name}`" for spec in PARAMS]


def test_a_row_gives_default_range_liveness_and_description() -> None:
    spec = ParamSpec("fit_budget", 2.5, "seconds to fit", 0.0, 10.0, live=True)
    row = param_table.markdown_table([spec]).splitlines()[2]
    assert row == "| `fit_budget` | 2.5 | 0 .. 10 | yes | seconds to fit |"


def test_choices_and_string_defaults_read_as_in_the_yaml() -> None:
    spec = ParamSpec("mode", "fast", "how", choices=("fast", "slow"))
    row = param_table.markdown_table([spec]).splitlines()[2]
    assert row == "| `mode` | `fast` | fast, slow |  | how |"


def test_a_bar_in_a_description_does_not_split_the_row() -> None:
    spec = ParamSpec("flag", False, "on | off")
    assert param_table.markdown_table([spec]).splitlines()[2].endswith("| on \\| off |")


def test_write_replaces_the_table_and_leaves_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "node.md"
    path.write_text(page("| stale |"))
    assert param_table.main(["--write", str(path)]) == 0
    text = path.read_text()
    assert text == page(param_table.markdown_table())
    assert param_table.main(["--check", str(path)]) == 0


def test_check_fails_and_prints_the_command_that_fixes_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "node.md"
    path.write_text(page(param_table.markdown_table(PARAMS[:-1])))  # one parameter missing
    assert param_table.main(["--check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"python -m nbf_ros.param_table --write {path}" in err


def test_a_page_without_markers_is_a_one_line_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "node.md"
    path.write_text("# no table here\n")
    assert param_table.main(["--check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "marker" in err and "Traceback" not in err


def readme_parameter_rows(text: str) -> dict[str, str]:
    """name -> default of the README's main-parameter table."""
    header = "| parameter | default | meaning |"
    assert header in text, "the README's main-parameter table is missing"
    rows = {}
    for line in text.split(header, 1)[1].splitlines()[2:]:
        if not line.startswith("|"):
            break
        name, default = (cell.strip() for cell in line.strip("|").split("|")[:2])
        rows[re.sub(r"^`|`$", "", name)] = default
    return rows


def test_readme_main_parameters_are_declared_with_their_defaults(repo_root: Path) -> None:
    specs = {spec.name: spec for spec in PARAMS}
    rows = readme_parameter_rows((repo_root / "README.md").read_text())
    assert rows, "the README's main-parameter table has no rows"
    unknown = sorted(set(rows) - set(specs))
    assert not unknown, f"the README lists parameters the node does not declare: {unknown}"
    wrong = {name: (default, param_table.format_default(specs[name].default))
             for name, default in rows.items()
             if default != param_table.format_default(specs[name].default)}
    assert not wrong, f"README defaults (written, declared): {wrong}"
