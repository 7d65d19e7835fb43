"""bench/hypothesis_choice.py's --fits cache holds data only: loading one runs no code."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def study() -> ModuleType:
    path = REPO_ROOT / "bench" / "hypothesis_choice.py"
    if not path.is_file():
        pytest.skip("bench/hypothesis_choice.py is gone")
    spec = importlib.util.spec_from_file_location("hypothesis_choice", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["hypothesis_choice"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class RunsCode:
    """A pickle that calls os.system when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_a_cache_of_fits_loads_back(study: ModuleType, tmp_path: Path) -> None:
    image = study.Image(person=3, side=40, loss=torch.rand(4), projected=torch.rand(4, 12, 2),
                        keypoints=(torch.rand(4, 12, 2), torch.rand(4, 12)),
                        given_root=torch.eye(3).repeat(4, 1, 1), root=torch.eye(3).repeat(4, 1, 1),
                        joints=np.random.default_rng(0).random((4, 12, 3)),
                        mpjpe=np.arange(4.0), selection=np.arange(4, dtype=np.float32),
                        regression=(101.5, 99.0))
    path = tmp_path / "fits.pt"
    torch.save({"key": {"model": "abc", "people": 1}, "images": [study.cached_fields(image)]},
               path)
    key, (back,) = study.load_fits(path)
    assert key == {"model": "abc", "people": 1}
    assert np.array_equal(back.joints, image.joints) and back.selection.dtype == np.float32
    assert torch.equal(back.loss, image.loss) and back.regression == (101.5, 99.0)


def test_a_cache_that_would_run_code_is_refused_without_running_it(study: ModuleType,
                                                                   tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "fits.pt"
    torch.save({"key": RunsCode(marker), "images": []}, path)
    with pytest.raises(SystemExit, match="is not a cache of --fits"):
        study.cached_fits(path, {"model": "abc"})
    assert not marker.exists()
