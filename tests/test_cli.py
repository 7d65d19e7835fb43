"""The nbf-ros command line: verb dispatch, the info report, and user errors without tracebacks."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nbf_ros
from nbf_ros import cli

REPORT_ITEMS = ["nbf_ros", "python", "numpy", "torch", "cuda", "rclpy", "ros_distro", "rmw"]
REPORT_ITEMS += ["messages", "models"]


def nbf_ros_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `nbf-ros` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "nbf-ros"
    if not script.is_file():
        pytest.skip(f"no console script at {script}: install the package (pip install -e .)")
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=120)


class TestDispatch:
    def test_every_verb_module_has_add_arguments_and_run(self) -> None:
        for verb, (module_name, help_text) in cli.VERBS.items():
            module = importlib.import_module(module_name)
            assert callable(module.add_arguments) and callable(module.run), verb
            assert help_text, verb

    def test_version(self) -> None:
        result = nbf_ros_cli("--version")
        assert result.returncode == 0
        assert result.stdout.strip() == f"nbf-ros {nbf_ros.__version__}"

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            ((), "the following arguments are required: VERB"),
            (("bogus",), "invalid choice: 'bogus'"),
            (("info", "--bogus"), "unrecognized arguments: --bogus"),
        ],
    )
    def test_usage_errors_exit_2_with_a_message(self, args: tuple[str, ...], message: str) -> None:
        result = nbf_ros_cli(*args)
        assert result.returncode == 2
        assert message in result.stderr
        assert "Traceback" not in result.stderr

    def test_usage_error_raised_by_a_verb_is_reported_without_traceback(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # A verb that rejects its input the documented way: raising cli.UsageError.
        (tmp_path / "strict_verb.py").write_text(
            "from nbf_ros.cli import UsageError\n"
            "def add_arguments(parser):\n"
            "    parser.add_argument('bag')\n"
            "def run(args):\n"
            "    raise UsageError(f'{args.bag} is not a rosbag2 folder')\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setitem(cli.VERBS, "strict", ("strict_verb", "rejects every bag"))
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["strict", "missing.bag"])
        assert exit_info.value.code == 2
        assert capsys.readouterr().err == (
            "nbf-ros strict: error: missing.bag is not a rosbag2 folder\n"
        )


class TestInfo:
    def test_text_report_has_one_line_per_item(self) -> None:
        result = nbf_ros_cli("info")
        assert result.returncode == 0, result.stderr
        assert [line.split()[0] for line in result.stdout.splitlines()] == REPORT_ITEMS

    def test_json_report(self) -> None:
        result = nbf_ros_cli("info", "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert list(report) == REPORT_ITEMS
        assert report["nbf_ros"] == {"ok": True, "detail": report["nbf_ros"]["detail"]}
        assert report["nbf_ros"]["detail"].startswith(nbf_ros.__version__)
        assert report["python"]["detail"].startswith("{}.{}.".format(*sys.version_info[:2]))
        assert report["torch"]["ok"] and report["numpy"]["ok"]

    def test_json_report_in_the_ros_environment(self) -> None:
        if os.environ.get("NBF_REQUIRE_ROS") != "1":
            pytest.skip("only meaningful in the environment of ./nbf test (NBF_REQUIRE_ROS=1)")
        report = json.loads(nbf_ros_cli("info", "--json").stdout)
        assert report["rclpy"]["ok"], report["rclpy"]
        assert report["messages"]["ok"], report["messages"]
        assert report["rmw"] == {
            "ok": True,
            "detail": os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp"),
        }

    def test_missing_messages_are_reported_not_raised(self, tmp_path: Path) -> None:
        # Without the built messages on the path, info still runs and says how to build them.
        env = dict(os.environ, PYTHONPATH=str(Path(nbf_ros.__file__).parent.parent))
        command = [sys.executable, "-m", "nbf_ros.cli", "info", "--json"]
        result = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        messages = json.loads(result.stdout)["messages"]
        assert messages["ok"] is False
        assert "setup_env.sh" in messages["detail"] and "colcon build" in messages["detail"]
