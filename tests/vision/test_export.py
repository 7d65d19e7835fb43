"""ONNX export: the exported graph has a dynamic batch, height and width and gives torch's
outputs at several shapes; the pooling twin equals torch's adaptive pooling; `nbf-ros
export` writes and checks the file, and reports user mistakes in one line (exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nbf_ros import cli
from nbf_ros.vision.engines.cache import ensure_onnx
from nbf_ros.vision.export import (
    DEFAULT_OPSET,
    INPUT_NAME,
    OUTPUT_NAMES,
    adaptive_avg_pool_2d,
    export_onnx,
)
from nbf_ros.vision.network import FeatureNet, NetOutput


def needs_onnx() -> None:
    """Skip unless the exporter's packages and ONNX Runtime import (the onnx extra)."""
    for module in ("onnxruntime", "onnx", "onnxscript"):
        pytest.importorskip(module, reason=f"{module} is not installed (pip install "
                                           "'nbf_ros[onnx]')")


class TestAdaptivePoolTwin:
    @pytest.mark.parametrize(("h", "w"), [(1, 1), (4, 4), (6, 8), (5, 7), (9, 3), (16, 12)])
    def test_equals_torch(self, h: int, w: int) -> None:
        x = torch.randn(2, 5, h, w, dtype=torch.float64)
        torch.testing.assert_close(adaptive_avg_pool_2d(x, 4), F.adaptive_avg_pool2d(x, 4))

    def test_gradcheck(self) -> None:
        x = torch.randn(1, 2, 6, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: adaptive_avg_pool_2d(t, 4), (x,))


class TestExportOnnx:
    def test_round_trip_with_dynamic_batch_height_and_width(
            self, tiny_model: tuple[Path, FeatureNet]) -> None:
        needs_onnx()
        import onnx
        import onnxruntime as ort

        # The cached export (the engine tests' file when they ran first: one export less).
        path, net = ensure_onnx(tiny_model[1], tiny_model[0], DEFAULT_OPSET)[0], tiny_model[1]
        graph = onnx.load(str(path)).graph
        dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
        assert graph.input[0].name == INPUT_NAME
        assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3]))
        assert tuple(o.name for o in graph.output) == OUTPUT_NAMES
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        # Deepest maps of 2 x 2 and 3 x 4 cells: pooling to 4 x 4 is not the traced case.
        for shape in [(3, 3, 64, 64), (1, 3, 96, 128)]:
            images = torch.rand(shape)
            with torch.no_grad():
                ref = net(images)
            outs = session.run(list(OUTPUT_NAMES), {INPUT_NAME: images.numpy()})
            for name, out in zip(OUTPUT_NAMES, outs, strict=True):
                expected = getattr(ref, name)
                assert out.shape == tuple(expected.shape), (shape, name)
                assert float((torch.from_numpy(out) - expected).abs().max()) < 1e-4, name
        assert set(OUTPUT_NAMES) == set(NetOutput.__dataclass_fields__)

    def test_missing_exporter_package_is_named(self, tiny_model, tmp_path: Path,  # noqa: ANN001
                                               monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "onnxscript", None)
        with pytest.raises(ImportError, match="needs the onnxscript package"):
            export_onnx(tiny_model[1], tmp_path / "net.onnx")
        assert not (tmp_path / "net.onnx").exists()


class TestExportCommand:
    def test_writes_the_file_and_checks_it(self, tiny_model, tmp_path: Path,  # noqa: ANN001
                                           capsys: pytest.CaptureFixture[str]) -> None:
        needs_onnx()
        code = cli.main(["export", "--model", str(tiny_model[0]), "--out",
                         str(tmp_path / "out"), "--check"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert (tmp_path / "out" / "tiny_net.onnx").stat().st_size > 10_000
        assert "2x3x128x128" in out and "1x3x192x256" in out and "check: ok" in out

    @pytest.mark.parametrize(("args", "says"), [
        (["--model", "missing.pt"], "model file 'missing.pt' not found"),
        (["--engine", "tensorrt"], "--engine tensorrt:"),
    ])
    def test_user_mistakes_are_one_line_exit_2(self, tmp_path: Path, args: list[str], says: str,
                                               tiny_model, capsys) -> None:  # noqa: ANN001
        if "--model" not in args:
            args = [*args, "--model", str(tiny_model[0])]
        if "tensorrt" in args and not _tensorrt_missing():
            pytest.skip("TensorRT is installed here")
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["export", "--out", str(tmp_path / "out"), *args])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2
        assert err.startswith("nbf-ros export: error: ") and says in err
        assert len(err.strip().splitlines()) == 1
        assert not (tmp_path / "out").exists()

    def test_missing_onnx_packages_are_one_line_exit_2(
            self, tmp_path: Path, tiny_model, capsys, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
        monkeypatch.setitem(sys.modules, "onnx", None)
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["export", "--model", str(tiny_model[0]), "--out", str(tmp_path)])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and "needs the onnx package" in err
        assert len(err.strip().splitlines()) == 1


def _tensorrt_missing() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorrt") is None
