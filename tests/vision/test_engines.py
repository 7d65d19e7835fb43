"""Inference engines: each gives torch's outputs, "auto" picks the first that works and says
why not the others, a named engine that cannot run says why, exports are cached; TensorRT's
parts that need no TensorRT (its profile, cache key and unavailable errors)."""

from __future__ import annotations

import copy
import importlib.util
import os
import sys
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from nbf_ros.vision.engines import ENGINE_NAMES, EngineUnavailable, create_engine
from nbf_ros.vision.engines.base import check_images
from nbf_ros.vision.engines.cache import cache_dir, ensure_onnx, onnx_path
from nbf_ros.vision.engines.tensorrt_engine import (
    ProfileShapes,
    engine_cache_key,
    import_tensorrt,
    profile_shapes,
)
from nbf_ros.vision.engines.torch_engine import TorchEngine
from nbf_ros.vision.network import FeatureNet, NetOutput

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
# A batch of crops and a detection frame, as the pipeline runs them (smaller, same kinds).
SHAPES = [(3, 3, 64, 64), (1, 3, 96, 128)]


def needs_onnxruntime() -> None:
    """Skip unless ONNX Runtime and the exporter's packages import (the onnx extra)."""
    for module in ("onnxruntime", "onnx", "onnxscript"):
        pytest.importorskip(module, reason=f"{module} is not installed (pip install "
                                           "'nbf_ros[onnx]')")


def assert_same_heads(out: NetOutput, ref: NetOutput) -> None:
    """Engine output equal to torch's within the engines' tolerance."""
    for f in fields(NetOutput):
        a, b = getattr(out, f.name), getattr(ref, f.name)
        assert a.shape == b.shape and a.dtype == torch.float32, f.name
        assert a.device == b.device, f.name
    cos = (out.features * ref.features).sum(1)
    assert float(cos.min()) > 0.999
    assert float((out.heatmaps - ref.heatmaps).abs().max()) < 1e-3
    for name in ("centre", "size", "pose6d", "shape"):
        assert float((getattr(out, name) - getattr(ref, name)).abs().max()) < 1e-3, name


@pytest.fixture(scope="module")
def ort_engine(tiny_model: tuple[Path, FeatureNet]):  # noqa: ANN201 - OnnxRuntimeEngine
    needs_onnxruntime()
    path, net = tiny_model
    return create_engine("onnxruntime", net, path, "cpu")


class TestTorchEngine:
    def test_smoke(self, tiny_model: tuple[Path, FeatureNet]) -> None:
        _, net = tiny_model
        engine = create_engine("torch", net, None, "cpu")
        out = engine(torch.rand(2, 3, 64, 96))
        assert engine.name == "torch" and "PyTorch" in engine.description
        assert out.features.shape[0] == 2 and engine.skipped == []

    def test_features_can_enter_autograd(self, tiny_model: tuple[Path, FeatureNet]) -> None:
        # Regression: under torch.inference_mode the features were inference tensors, and
        # the fitter's loss (a product with differentiable renders) failed in backward.
        engine = TorchEngine(tiny_model[1], "cpu")
        weight = torch.ones(1, requires_grad=True)
        (engine(torch.rand(1, 3, 64, 64)).features * weight).sum().backward()
        assert weight.grad is not None

    @pytest.mark.parametrize("shape", [(1, 3, 64, 80), (1, 4, 64, 64), (3, 64, 64),
                                       (0, 3, 64, 64)])
    def test_exception_names_the_input(self, shape: tuple[int, ...]) -> None:
        with pytest.raises(ValueError, match="images"):
            check_images(torch.rand(shape))


class TestOnnxRuntimeEngine:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_outputs_match_torch(self, ort_engine, tiny_model, shape: tuple[int, ...]) -> None:  # noqa: ANN001
        images = torch.rand(shape, generator=torch.Generator().manual_seed(1))
        assert_same_heads(ort_engine(images), TorchEngine(tiny_model[1], "cpu")(images))

    def test_description_names_runtime_precision_and_providers(self, ort_engine) -> None:  # noqa: ANN001
        text = ort_engine.description
        assert "ONNX Runtime" in text and "float32" in text and "CPUExecutionProvider" in text

    def test_second_create_reuses_the_cached_export(self, ort_engine, tiny_model,  # noqa: ANN001
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
        path, net = tiny_model
        assert ort_engine.onnx_file.parent == cache_dir()
        mtime = ort_engine.onnx_file.stat().st_mtime_ns

        def no_export(*args, **kwargs) -> None:  # noqa: ANN002, ANN003
            raise AssertionError("exported again")

        monkeypatch.setattr("nbf_ros.vision.export.export_onnx", no_export)
        again = create_engine("onnxruntime", net, path, "cpu")
        assert not again.exported and again.onnx_file == ort_engine.onnx_file
        assert again.onnx_file.stat().st_mtime_ns == mtime

    def test_other_weights_or_opset_get_their_own_file(self, tiny_model) -> None:  # noqa: ANN001
        path, net = tiny_model
        other = FeatureNet(net.config)
        assert onnx_path(other, None, 18) != onnx_path(net, None, 18)
        assert onnx_path(net, path, 17) != onnx_path(net, path, 18)
        assert onnx_path(net, path, 18) == onnx_path(net, path, 18)

    def test_export_failure_is_unavailable_with_the_reason(
            self, tiny_model, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
        needs_onnxruntime()

        def broken(*args, **kwargs) -> None:  # noqa: ANN002, ANN003
            raise RuntimeError("unsupported operator aten::foo")

        monkeypatch.setattr("nbf_ros.vision.export.export_onnx", broken)
        with pytest.raises(EngineUnavailable, match="ONNX export failed.*aten::foo"):
            create_engine("onnxruntime", FeatureNet(tiny_model[1].config), None, "cpu")


class TestCompiledEngine:
    def test_matches_torch_with_dynamo(self, tiny_model) -> None:  # noqa: ANN001
        # Dynamo's "eager" backend: the engine's own logic (dynamic shapes, no autocast on
        # the CPU, output form) without Inductor's C++ compile, which takes about a minute.
        from nbf_ros.vision.engines.compiled_engine import CompiledEngine

        engine = CompiledEngine(tiny_model[1], "cpu", backend="eager")
        assert "float32" in engine.description
        for shape in SHAPES:
            images = torch.rand(shape)
            assert_same_heads(engine(images), TorchEngine(tiny_model[1], "cpu")(images))

    def test_failed_first_compilation_is_unavailable_with_the_reason(self, tiny_model) -> None:  # noqa: ANN001
        from nbf_ros.vision.engines.compiled_engine import CompiledEngine

        def no_compiler(graph, inputs):  # noqa: ANN001, ANN202 - a torch.compile backend
            raise RuntimeError("no working C++ compiler")

        with pytest.raises(EngineUnavailable, match="first call.*no working C\\+\\+ compiler"):
            CompiledEngine(tiny_model[1], "cpu", backend=no_compiler,
                           warmup=[(1, 3, 64, 64)])

    @pytest.mark.skipif(not torch.cuda.is_available() and not os.environ.get("NBF_TEST_COMPILE"),
                        reason="Inductor compiles for about a minute per shape on a CPU; runs "
                               "on CUDA, or with NBF_TEST_COMPILE=1")
    def test_inductor_matches_torch(self, tiny_model) -> None:  # noqa: ANN001
        device = "cuda" if torch.cuda.is_available() else "cpu"
        net = copy.deepcopy(tiny_model[1]).to(device)  # the fixture's stays on the CPU
        engine = create_engine("compiled", net, None, device, crop_size=64)
        images = torch.rand(SHAPES[0], device=device)
        out, ref = engine(images), TorchEngine(net, device)(images)
        # Half precision on CUDA: features stay unit vectors (renormalised in float32).
        norms = out.features.norm(dim=1)
        torch.testing.assert_close(norms, torch.ones_like(norms))
        assert float((out.features * ref.features).sum(1).min()) > 0.99


class TestSelect:
    def test_auto_on_cpu_takes_onnxruntime_and_says_why_not_the_others(
            self, ort_engine, tiny_model) -> None:  # noqa: ANN001
        path, net = tiny_model
        engine = create_engine("auto", net, path, "cpu")
        assert engine.name == "onnxruntime"
        assert [name for name, _ in engine.skipped] == ["tensorrt", "compiled"]
        assert all(reason for _, reason in engine.skipped)
        assert "CUDA" in dict(engine.skipped)["tensorrt"]

    def test_auto_falls_back_to_torch_without_onnxruntime(
            self, tiny_model, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
        monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
        engine = create_engine("auto", tiny_model[1], tiny_model[0], "cpu")
        assert engine.name == "torch"
        assert [name for name, _ in engine.skipped] == ["tensorrt", "compiled", "onnxruntime"]
        assert "ONNX Runtime is not installed" in dict(engine.skipped)["onnxruntime"]

    def test_requested_engine_that_cannot_run_says_why(
            self, tiny_model, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
        monkeypatch.setitem(sys.modules, "onnxruntime", None)
        with pytest.raises(EngineUnavailable, match="ONNX Runtime is not installed"):
            create_engine("onnxruntime", tiny_model[1], None, "cpu")

    def test_unknown_engine_is_a_value_error(self, tiny_model) -> None:  # noqa: ANN001
        with pytest.raises(ValueError, match="unknown engine 'tflite'"):
            create_engine("tflite", tiny_model[1], None, "cpu")

    def test_names(self) -> None:
        assert ENGINE_NAMES == ("auto", "tensorrt", "compiled", "onnxruntime", "torch")


class TestTensorRT:
    @pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
    def test_missing_tensorrt_is_unavailable_with_install_hint(self, tiny_model) -> None:  # noqa: ANN001
        with pytest.raises(EngineUnavailable, match=r"TensorRT is not installed \(pip install"):
            create_engine("tensorrt", tiny_model[1], None, "cpu")

    def test_old_tensorrt_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="8.6.1"))
        with pytest.raises(EngineUnavailable, match="needs TensorRT >= 10"):
            import_tensorrt()

    def test_needs_cuda(self, tiny_model, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
        monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="10.13.0"))
        with pytest.raises(EngineUnavailable, match="needs a CUDA device"):
            create_engine("tensorrt", tiny_model[1], None, "cpu")

    def test_profile_covers_the_frame_and_the_crops(self) -> None:
        profile = profile_shapes(crop_size=128, detect_size=256, max_batch=32)
        assert profile == ProfileShapes(min=(1, 3, 32, 32), opt=(1, 3, 128, 128),
                                        max=(32, 3, 256, 256))
        for shape in [(1, 3, 192, 256), (1, 3, 256, 96), (32, 3, 128, 128), (1, 3, 32, 32)]:
            assert profile.covers(shape), shape
        for shape in [(1, 3, 288, 256), (33, 3, 128, 128)]:
            assert not profile.covers(shape), shape
        # A 320 px crop (the 3DNBF reference setting) widens the profile.
        assert profile_shapes(320, 256, 8).max == (8, 3, 320, 320)

    @pytest.mark.parametrize(("crop", "detect", "batch"), [(100, 256, 8), (128, 0, 8),
                                                           (128, 256, 0)])
    def test_bad_profile_sizes_are_refused(self, crop: int, detect: int, batch: int) -> None:
        with pytest.raises(ValueError, match="crop_size|max_batch"):
            profile_shapes(crop, detect, batch)

    def test_cache_key_changes_with_every_part(self) -> None:
        parts = dict(gpu_name="NVIDIA H100 80GB HBM3", compute_capability=(9, 0),
                     trt_version="10.13.0", model="ab" * 32, profile=profile_shapes(),
                     precision="float16")
        key = engine_cache_key(**parts)
        assert key == engine_cache_key(**parts) and len(key) == 16
        changes = dict(gpu_name="NVIDIA RTX 4090", compute_capability=(8, 9),
                       trt_version="10.14.1", model="cd" * 32,
                       profile=profile_shapes(max_batch=8), precision="float32")
        for name, value in changes.items():
            assert engine_cache_key(**dict(parts, **{name: value})) != key, name


def test_cached_export_is_written_whole(tiny_model, engine_cache: Path) -> None:  # noqa: ANN001
    needs_onnxruntime()
    path, net = tiny_model
    onnx_file, _ = ensure_onnx(net, path, 18)
    assert onnx_file.parent == engine_cache
    assert not [p for p in engine_cache.iterdir() if p.name.endswith(".tmp.onnx")]


class TestCacheTrust:
    """A cached file is loaded only when its record says these inputs built these bytes."""

    def test_a_swapped_export_is_exported_again(self, tiny_model, engine_cache: Path) -> None:  # noqa: ANN001
        needs_onnxruntime()
        path, net = tiny_model
        onnx_file, _ = ensure_onnx(net, path, 18)
        good = onnx_file.read_bytes()
        onnx_file.write_bytes(good[: len(good) // 2])  # truncated, or another graph swapped in
        again, exported = ensure_onnx(net, path, 18)
        assert again == onnx_file and exported
        assert again.read_bytes() != good[: len(good) // 2]
        assert ensure_onnx(net, path, 18) == (onnx_file, False)  # and trusted from then on

    def test_an_export_without_its_record_is_not_trusted(self, tiny_model,  # noqa: ANN001
                                                         engine_cache: Path) -> None:
        needs_onnxruntime()
        path, net = tiny_model
        onnx_file, _ = ensure_onnx(net, path, 18)
        onnx_file.with_name(onnx_file.name + ".json").unlink()
        assert ensure_onnx(net, path, 18) == (onnx_file, True)

    def test_an_engine_is_read_only_for_the_inputs_that_built_it(self, tmp_path: Path) -> None:
        from nbf_ros.vision.engines.cache import read_cached, untrusted, write_cached
        from nbf_ros.vision.engines.tensorrt_engine import engine_cache_parts

        parts = engine_cache_parts("NVIDIA H100", (9, 0), "10.13.0", "ab" * 32, profile_shapes())
        engine = tmp_path / "net.engine"
        write_cached(engine, b"serialized engine", parts)
        assert read_cached(engine, parts) == b"serialized engine" and not untrusted(engine, parts)
        other = dict(parts, model="cd" * 32)  # another model file's hash
        assert read_cached(engine, other) is None
        assert untrusted(engine, other) == "its record names other inputs"
        engine.write_bytes(b"something else")  # same name, other bytes
        assert read_cached(engine, parts) is None
        assert untrusted(engine, parts) == "its bytes changed since it was built"
