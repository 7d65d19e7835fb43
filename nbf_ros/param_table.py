"""The pose node's parameter table in Markdown, made from its one source, the declarations in
``nbf_ros/node_settings.py`` (no ROS import), and kept in doc/node.md between two markers.

    python -m nbf_ros.param_table                      # print the table
    python -m nbf_ros.param_table --write doc/node.md  # rewrite the table in the page
    python -m nbf_ros.param_table --check doc/node.md  # exit 1 when the page is out of step

tests/docs/test_param_table.py runs the check in CI, so a parameter added, removed or
reworded in node_settings.py fails the suite until the page is rewritten.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from nbf_ros.node_settings import PARAMS, ParamSpec

__all__ = ["BEGIN", "END", "TableError", "WRITE_COMMAND", "format_default", "markdown_table",
           "replace_table", "table_in"]

WRITE_COMMAND = "python -m nbf_ros.param_table --write doc/node.md"
BEGIN = ("<!-- parameter table: generated from nbf_ros/node_settings.py by "
         f"`{WRITE_COMMAND}`; edit the declarations, not this table -->")
END = "<!-- end of the generated parameter table -->"
HEADER = ("| parameter | default | range / values | live | meaning |\n"
          "| --- | --- | --- | --- | --- |")


class TableError(ValueError):
    """A page without exactly one pair of table markers."""


def format_default(value: object) -> str:
    """A default as it reads in the table: strings in backticks, booleans as YAML writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"`{value}`"
    return str(value)


def _number(value: float, integer: bool) -> str:
    """A range bound: integers in full, floats without trailing zeros."""
    return str(int(value)) if integer else f"{value:g}"


def _allowed(spec: ParamSpec) -> str:
    """The range or the allowed strings of a parameter ('' when any value of its type goes)."""
    if spec.choices:
        return ", ".join(spec.choices)
    if spec.low is None or isinstance(spec.default, bool):
        return ""
    integer = isinstance(spec.default, int)
    return f"{_number(spec.low, integer)} .. {_number(spec.high, integer)}"


def markdown_table(specs: Iterable[ParamSpec] = PARAMS) -> str:
    """The Markdown table of ``specs``, one row each in declaration order."""
    rows = [HEADER]
    for spec in specs:
        cells = (f"`{spec.name}`", format_default(spec.default), _allowed(spec),
                 "yes" if spec.live else "", spec.description)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)


def _block(text: str) -> tuple[int, int]:
    """Start and end offsets of what lies between the markers of ``text``."""
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise TableError("expected one start marker line ('<!-- parameter table: ...') and "
                         f"one end marker line ({END!r}); copy both from doc/node.md")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    if end < start:
        raise TableError("the end marker comes before the start marker")
    return start, end


def table_in(text: str) -> str:
    """The table between the markers of a page's ``text``, without surrounding blank lines."""
    start, end = _block(text)
    return text[start:end].strip("\n")


def replace_table(text: str, table: str) -> str:
    """``text`` with the table between its markers replaced by ``table``."""
    start, end = _block(text)
    return f"{text[:start]}\n{table}\n{text[end:]}"


def main(argv: list[str] | None = None) -> int:
    """Print the table, or write or check it in a page."""
    parser = argparse.ArgumentParser(prog="python -m nbf_ros.param_table",
                                     description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", type=Path, metavar="PAGE",
                        help="replace the table between the page's markers")
    action.add_argument("--check", type=Path, metavar="PAGE",
                        help="exit 1 when the page's table differs from the declarations")
    args = parser.parse_args(argv)
    table = markdown_table()
    page = args.write or args.check
    if page is None:
        print(table)
        return 0
    try:
        text = page.read_text()
        current = table_in(text)
    except (OSError, TableError) as exc:
        print(f"param_table: {page}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if current != table:
            print(f"param_table: {page}: the parameter table is out of step with "
                  f"nbf_ros/node_settings.py; run `python -m nbf_ros.param_table --write "
                  f"{page}`", file=sys.stderr)
            return 1
        return 0
    if current != table:
        page.write_text(replace_table(text, table))
        print(f"param_table: rewrote the table in {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
