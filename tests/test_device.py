"""Device settings: auto picks what exists; impossible or unknown names are clear errors."""

from __future__ import annotations

import pytest
import torch

from nbf_ros.device import resolve_device


def test_auto_is_cuda_exactly_when_cuda_is_available() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


def test_cpu_is_always_available() -> None:
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_refused() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:0")


def test_an_unknown_device_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
