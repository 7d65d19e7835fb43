"""Defaults per device (issue 32 item 7): one table gives the fit's warm steps, compiled step
and turned starts for CUDA and for a CPU; the node's per-device values ("0", "auto") and
PosePipeline(PipelineConfig()) both read it, and an explicit value always wins."""

from __future__ import annotations

import pytest
import torch

from nbf_ros.device_defaults import DEVICE_DEFAULTS, compile_choice, device_defaults
from nbf_ros.node_settings import (
    PARAMS,
    build_pipeline,
    check_value,
    default_settings,
    parse_overrides,
)
from nbf_ros.pipeline import PipelineConfig, PosePipeline

SPECS = {spec.name: spec for spec in PARAMS}


@pytest.fixture(scope="module")
def cpu_pipeline() -> PosePipeline:
    return PosePipeline(PipelineConfig(device="cpu"))


def test_the_shipped_parameters_leave_the_fit_to_the_device() -> None:
    settings = default_settings()
    assert (settings["tracking_iterations"], settings["fit_compile"],
            settings["fit_hypotheses"]) == (0, "auto", 0)


def test_a_gpu_gets_five_compiled_warm_steps_and_the_model_files_starts() -> None:
    gpu = device_defaults(torch.device("cuda:1"))  # any CUDA card, whatever its index
    assert (gpu.tracking_iterations, gpu.compile_step, gpu.model_hypotheses) == (5, True, True)
    assert compile_choice("auto", "cuda") is True


def test_a_cpu_keeps_twenty_eager_warm_steps_and_one_start() -> None:
    cpu = device_defaults("cpu")
    assert (cpu.tracking_iterations, cpu.compile_step, cpu.model_hypotheses) == (20, False, False)
    assert compile_choice("auto", "cpu") is False


def test_a_device_kind_without_a_row_gets_the_cpus() -> None:
    assert device_defaults("meta") == DEVICE_DEFAULTS["cpu"]


def test_an_explicit_compile_choice_wins_on_every_device() -> None:
    for device in ("cpu", "cuda"):
        assert compile_choice(True, device) is True and compile_choice("true", device) is True
        assert compile_choice(False, device) is False and compile_choice("false", device) is False


def test_fit_compile_takes_auto_or_a_boolean_and_refuses_the_rest() -> None:
    spec = SPECS["fit_compile"]
    assert all(check_value(spec, v) is None for v in ("auto", "true", "false", True, False))
    assert "must be one of" in check_value(spec, "yes")
    assert "must be" in check_value(spec, 1)


def test_fit_compile_overrides_read_as_yaml() -> None:
    assert parse_overrides(["fit_compile=true", "tracking_iterations=5"]) == {
        "fit_compile": True, "tracking_iterations": 5}
    assert parse_overrides(["fit_compile=auto"]) == {"fit_compile": "auto"}


def test_a_default_pipeline_on_a_cpu_runs_the_cpu_row(cpu_pipeline: PosePipeline) -> None:
    assert cpu_pipeline.tracking_config.iterations == 20
    assert not cpu_pipeline.fit_config.compile_step
    assert not cpu_pipeline.tracking_config.compile_step
    assert cpu_pipeline.fit_config.hypotheses == 1


def test_the_node_settings_build_the_same_fit_as_the_default_pipeline(
        cpu_pipeline: PosePipeline) -> None:
    node, _ = build_pipeline(dict(default_settings(), device="cpu"))
    for name in ("iterations", "compile_step", "hypotheses"):
        assert getattr(node.tracking_config, name) == getattr(cpu_pipeline.tracking_config, name)
        assert getattr(node.fit_config, name) == getattr(cpu_pipeline.fit_config, name)


def test_explicit_node_values_win_over_the_device() -> None:
    pipeline, _ = build_pipeline(dict(default_settings(), device="cpu", tracking_iterations=7,
                                      fit_compile=True, fit_hypotheses=3))
    assert pipeline.tracking_config.iterations == 7
    assert pipeline.tracking_config.compile_step and pipeline.fit_config.compile_step
    assert pipeline.fit_config.hypotheses == 3
