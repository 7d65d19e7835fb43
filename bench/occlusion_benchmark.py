"""Occlusion benchmark: every method on the same synthetic people, clean, behind a random
textured square, and behind the worst square for that method (AdvOcc-40 and AdvOcc-80).

    python bench/occlusion_benchmark.py [--images 16] [--stride 10] [--no-mediapipe]
                                        [--methods regression ...] [--merge accuracy.json]
                                        [--hypotheses N] [--batch N]
                                        [--checkpoint progress.json]

Test people: held-out synthetic scenes (seeds from nbf_ros.eval.network_eval.TEST_SEED),
224 x 224, one person, no other occluder. Methods: the network's regression head, NBV
fitting without the occlusion model, full fitting (config/pose.yaml's cold-start settings),
and MediaPipe BlazePose GHUM when the `peers` extra is installed. The protocol is in
nbf_ros/eval/occlusion.py. Writes bench/results/accuracy.json, accuracy.md and
accuracy.png (errors per condition, and the worst AdvOcc-80 square of each method on one
person).

The same people and squares come out of every run with the same --images and --stride, so
methods may run where they run best and meet in one table: ``--merge`` takes the methods
this run leaves out from an earlier run's accuracy.json (e.g. the fits on a GPU machine,
MediaPipe where its wheel installs), and the report names each row's run. The fits use the
model file's turned starts on every device (--hypotheses to override), so a CPU run
measures what a GPU node fits; on a 2-core CPU that is hours, and ``--checkpoint`` keeps
every finished person so that a stopped run started again goes on from there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

# The repository root, so that nbf_ros imports without an install (as on the GPU machine).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import RESULTS, environment  # noqa: E402

CONDITIONS = ("clean", "random occluder", "AdvOcc-40", "AdvOcc-80")
METHODS = {"regression": "regression head", "plain-fit": "fit without occlusion model",
           "full-fit": "full fit", "mediapipe": "MediaPipe BlazePose GHUM"}
# The full fit with pieces of the landmark evidence taken away (issue 29): key -> (row,
# node settings over config/pose.yaml's, fit settings over the pipeline's, landmark start).
ABLATIONS = {
    "no-landmarks": ("full fit, no landmarks (features only)", {"landmarks": False}, {}, None),
    "no-keypoints": ("full fit, no landmark keypoint term", {"landmark_weight": 0.0}, {},
                     None),
    "no-mask-prior": ("full fit, no person-mask prior", {}, {"person_prior": False}, None),
    "regression-start": ("full fit, start from regression", {}, {}, "regression"),
    # One piece alone (the other two taken away), to see which one costs under occlusion.
    "start-only": ("full fit, landmarks' start only", {"landmark_weight": 0.0},
                   {"person_prior": False}, None),
    "keypoints-only": ("full fit, landmark keypoint term only", {}, {"person_prior": False},
                       "regression"),
    "mask-prior-only": ("full fit, person-mask prior only", {"landmark_weight": 0.0}, {},
                        "regression"),
}
SEED = 1000  # occluder seeds: the same squares for every method


def square_seed(person: int, side: int) -> int:
    """Seed of the AdvOcc square of one size for one person."""
    return SEED + 7 * person + side


def test_people(count: int):  # noqa: ANN201 - list of synth Scenes
    """The held-out single-person scenes, 224 x 224."""
    from nbf_ros.eval.network_eval import TEST_SEED

    return single_people(int(TEST_SEED) + 50_000, count)


def single_people(first_seed: int, count: int):  # noqa: ANN201 - list of synth Scenes
    """Scenes of one person and no occluder, 224 x 224, seeds first_seed onwards."""
    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.scenes import SceneConfig, render_scene

    cfg = SceneConfig(height=224, width=224, extra_people=0, occluder_probability=0.0,
                      subject_height=(0.65, 0.9))
    mesh = BodyMesh.default()
    return [render_scene(mesh, first_seed + i, cfg) for i in range(count)]


def person_targets(person) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001 - synth Person
    """A person's common joints [12, 3] (metres) and their pixels [12, 2]: what the errors
    are measured against and what an AdvOcc square covers."""
    from nbf_ros.eval.occlusion import common_joints

    return common_joints(person.joints), common_joints(person.keypoints)


def person_row(method, scene, index: int, stride: int,  # noqa: ANN001
               batch: int = 64) -> dict:
    """One person's errors under every condition ([MPJPE, PA-MPJPE, missed] each) and the
    corner of their worst AdvOcc-80 square."""
    from nbf_ros.eval.occlusion import (
        grid_corners,
        pose_errors,
        textured_square,
        with_square,
        worst_position,
    )

    person = scene.people[0]
    truth, keypoints = person_targets(person)
    box = person.box
    h, w = scene.image.shape[:2]
    # Behind a 20 px grid one person is hundreds of images, fitted in minutes on a CPU.
    bar = tqdm(total=2 + sum(len(grid_corners(box, side, stride, w, h)) for side in (40, 80)),
               desc="images", leave=False)

    def counted(images, K, box):  # noqa: ANN001, ANN202 - the method, shown on the bar
        out = method(images, K, box)
        bar.update(len(images))
        return out

    row: dict = {}
    clean = counted([scene.image], scene.K, box)[0]
    row["clean"] = [*pose_errors(clean, truth), not np.isfinite(clean).all()]
    rng = np.random.default_rng(SEED + index)
    side = int(rng.integers(40, 81))
    cx, cy = rng.uniform(box[:2], box[2:])
    corner = (int(cx - side / 2), int(cy - side / 2))
    occluded = with_square(scene.image, textured_square(SEED + index, side), corner)
    pred = counted([occluded], scene.K, box)[0]
    row["random occluder"] = [*pose_errors(pred, truth), not np.isfinite(pred).all()]
    for side in (40, 80):
        attack = worst_position(counted, scene.image, scene.K, box, truth, keypoints,
                                textured_square(square_seed(index, side), side), stride,
                                batch)
        row[f"AdvOcc-{side}"] = [attack.mpjpe, attack.pa_mpjpe, attack.missed]
        if side == 80:
            row["advocc80_corner"] = list(attack.corner)
    bar.close()
    # Plain floats and bools, so that a row survives the JSON of a checkpoint unchanged.
    return {k: [float(v[0]), float(v[1]), bool(v[2])] if k in CONDITIONS
            else [int(c) for c in v] for k, v in row.items()}


def summarise(rows: list[dict]) -> dict:
    """Means over people of each condition's errors (people a method missed are counted,
    not averaged), and each person's worst AdvOcc-80 corner."""
    out = {}
    for condition in CONDITIONS:
        values = [row[condition] for row in rows]
        arr = np.array([(m, p) for m, p, _ in values], dtype=np.float64).reshape(-1, 2)
        ok = np.isfinite(arr).all(1)
        out[condition] = {"mpjpe_mm": float(arr[ok, 0].mean()) if ok.any() else None,
                          "pa_mpjpe_mm": float(arr[ok, 1].mean()) if ok.any() else None,
                          "missed": int(sum(m for _, _, m in values)), "people": len(values)}
    out["advocc80_corners"] = [row["advocc80_corner"] for row in rows]
    return out


def run_method(method, scenes, stride: int, done: list[dict] | None = None,  # noqa: ANN001
               save=None, batch: int = 64) -> dict:  # noqa: ANN001 - save(rows) after each
    """Errors of one method under every condition, going on after the people in ``done``
    (rows of an earlier run cut short); ``save`` gets the rows after every person."""
    rows = list(done or [])
    for i in tqdm(range(len(rows), len(scenes)), desc="people", initial=len(rows),
                  total=len(scenes), leave=False):
        rows.append(person_row(method, scenes[i], i, stride, batch))
        if save is not None:
            save(rows)
    return summarise(rows)


class Checkpoint:
    """Each method's finished people, kept in a JSON file after every person, so that a long
    run (hours of fits on a CPU) that is stopped goes on where it stopped."""

    def __init__(self, path: Path, key: dict) -> None:
        self.path, self.key = path, key
        self.rows: dict[str, list[dict]] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text())
                stored_key, rows = data["key"], data["rows"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"--checkpoint {path}: cannot read it ({exc!r}); move it "
                                 "away to start afresh") from None
            if stored_key != key:
                differ = sorted(k for k in set(key) | set(stored_key)
                                if key.get(k) != stored_key.get(k))
                raise SystemExit(f"--checkpoint {path} is of another run (it differs in "
                                 f"{', '.join(differ)}); move it away to start "
                                 "afresh")
            self.rows = rows

    def done(self, method: str) -> list[dict]:
        """The people of ``method`` finished so far, in order."""
        return self.rows.get(method, [])

    def saver(self, method: str):  # noqa: ANN201 - callable(rows)
        """A function that stores ``method``'s rows (written whole, then renamed, so that
        a run killed while writing leaves the last good file)."""
        def save(rows: list[dict]) -> None:
            self.rows[method] = rows
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps({"key": self.key, "rows": self.rows}) + "\n")
            tmp.replace(self.path)
        return save


def ablation_methods(settings: dict, hypotheses: int, keys: list[str]) -> dict:
    """The full fit of a pipeline changed as each of ``keys`` (ABLATIONS) says, by row name."""
    from nbf_ros.eval.peers import pipeline_methods

    out = {}
    for key in keys:
        name, params, fit, start = ABLATIONS[key]
        pipeline = benchmark_pipeline({**settings, **params}, hypotheses)
        pipeline.fit_config = replace(pipeline.fit_config, **fit)
        if start is not None:
            pipeline.config.landmark_start = start
        out[name] = pipeline_methods(pipeline)["full fit"]
    return out


def benchmark_pipeline(settings: dict, hypotheses: int = 0):  # noqa: ANN201 - PosePipeline
    """The node's pipeline built from ``settings``, its cold fits from ``hypotheses`` turned
    starts (0: the model file's) whatever the device."""
    from nbf_ros.node_settings import build_pipeline

    pipeline, _ = build_pipeline(settings)
    # The table measures one method on every device: a CPU node's cold fits default to one
    # start for speed (default_hypotheses), which would make its rows another method.
    pipeline.fit_config = replace(pipeline.fit_config,
                                  hypotheses=hypotheses or pipeline.cold_hypotheses)
    return pipeline


def model_digest(path: Path) -> str:
    """SHA-256 of a model file: what a checkpoint's rows were measured with."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def goals(results: dict) -> dict:
    """The issue's goals, checked on the measured table."""
    def mpjpe(method: str, condition: str) -> float | None:
        return results.get(method, {}).get(condition, {}).get("mpjpe_mm")

    full80, reg80 = mpjpe("full fit", "AdvOcc-80"), mpjpe("regression head", "AdvOcc-80")
    full0, reg0 = mpjpe("full fit", "clean"), mpjpe("regression head", "clean")
    out = {
        "full fit >= 20% below regression under AdvOcc-80":
            None if None in (full80, reg80) else bool(full80 <= 0.8 * reg80),
        "full fit within 5% of regression on clean images":
            None if None in (full0, reg0) else bool(full0 <= 1.05 * reg0),
    }
    if "MediaPipe BlazePose GHUM" in results:
        out["full fit ahead of MediaPipe under occlusion (random, AdvOcc-40, AdvOcc-80)"] = all(
            (mpjpe("full fit", c) or np.inf) < (mpjpe("MediaPipe BlazePose GHUM", c) or np.inf)
            for c in CONDITIONS[1:])
    return out


def _table(env: dict, args: argparse.Namespace, fit: dict, results: dict, runs: dict,
           earlier: dict | None, notes: list[str]) -> dict:
    """This run's results, with the methods it left out taken from ``earlier``."""
    results, runs = dict(results), dict(runs)
    if earlier is not None:
        for name, res in earlier["methods"].items():
            if name not in results:
                results[name] = res
                runs[name] = earlier.get("runs", {}).get(name) or _run_label(
                    earlier["environment"])
    names = [*METHODS.values(), *(row for row, *_ in ABLATIONS.values())]
    order = [n for n in names if n in results]
    command = " ".join(["python bench/occlusion_benchmark.py", *sys.argv[1:]])
    return {"environment": env, "images": args.images, "stride": args.stride, "fit": fit,
            "command": command, "out": args.out,
            "methods": {n: results[n] for n in order}, "runs": {n: runs[n] for n in order},
            "goals": goals(results), "notes": notes}


def _run_label(env: dict) -> str:
    """Which run a table row comes from: its date and device."""
    return f"{env['date']}, {env['device']}"


def _where(data: dict) -> str:
    """Where the table's rows ran: this run's date, device and torch, or, for a table merged
    from several runs (our methods on a GPU, MediaPipe on a CPU), each run's date and device."""
    labels = list(dict.fromkeys(data.get("runs", {}).values()))
    if len(labels) > 1:
        return " and ".join(labels)
    env = data["environment"]
    return f"{env['date']}, {env['device']}, torch {env['torch']}"


def _earlier_run(path: Path, images: int, stride: int) -> dict:
    """An earlier run's results to merge; SystemExit when they are not the same test."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"--merge {path}: cannot read it ({exc})") from None
    if (earlier.get("images"), earlier.get("stride")) != (images, stride):
        raise SystemExit(f"--merge {path}: it ran --images {earlier.get('images')} --stride "
                         f"{earlier.get('stride')}, not {images} and {stride}: other people "
                         "or squares")
    return earlier


def markdown(data: dict) -> str:
    lines = [f"# Occlusion benchmark ({_where(data)})",
             "", "`" + data.get("command", "python bench/occlusion_benchmark.py --images "
                              f"{data['images']} --stride {data['stride']}") + "`: "
             f"{data['images']} held-out synthetic people at 224 x 224; "
             "MPJPE / PA-MPJPE in mm on the 12 joints all methods report (shoulders to "
             "ankles), mid-hip aligned; AdvOcc = the worst position of a textured square "
             f"(side 40 or 80 px) on a {data['stride']} px grid over the person, per method "
             "and person. Misses (nobody found) are counted, not averaged. Plot: "
             f"{data.get('out', 'accuracy')}.png.", "",
             f"Fits: cold, {data['fit']['iterations']} steps from "
             f"{data['fit'].get('hypotheses', 1)} start(s) turned evenly about the body's "
             "vertical axis.", "",
             "| method | " + " | ".join(CONDITIONS) + " |",
             "|---|" + "---|" * len(CONDITIONS)]
    for method, res in data["methods"].items():
        cells = []
        for c in CONDITIONS:
            r = res[c]
            cell = (f"{r['mpjpe_mm']:.0f} / {r['pa_mpjpe_mm']:.0f}"
                    if r["mpjpe_mm"] is not None else "n/a")
            if r["missed"]:
                cell += f" ({r['missed']} missed)"
            cells.append(cell)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    runs = data.get("runs", {})
    if len(set(runs.values())) > 1:  # rows from more than one run (--merge)
        lines += ["", "Runs: " + "; ".join(f"{m}: {r}" for m, r in runs.items()) + "."]
    lines += ["", "Goals (issue 7):", ""]
    lines += [f"- {name}: {'met' if ok else 'not met' if ok is not None else 'n/a'}"
              for name, ok in data["goals"].items()]
    if data.get("notes"):
        lines += [""] + [f"- {n}" for n in data["notes"]]
    return "\n".join(lines) + "\n"


def plot(data: dict, scene, png: Path) -> None:  # noqa: ANN001
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nbf_ros.eval.occlusion import textured_square, with_square

    methods = list(data["methods"])
    fig = plt.figure(figsize=(12, 6.5))
    grid = fig.add_gridspec(2, max(len(methods), 2), height_ratios=(1.3, 1))
    ax = fig.add_subplot(grid[0, :])
    width = 0.8 / len(methods)
    x = np.arange(len(CONDITIONS))
    for k, method in enumerate(methods):
        res = data["methods"][method]
        vals = [res[c]["mpjpe_mm"] or 0.0 for c in CONDITIONS]
        pos = x + (k - (len(methods) - 1) / 2) * width
        ax.bar(pos, vals, width, label=method)
        for p_, c, v in zip(pos, CONDITIONS, vals, strict=True):
            if res[c]["missed"]:  # people this method lost entirely under that condition
                ax.text(p_, v + 3, f"{res[c]['missed']}/{res[c]['people']}\nmissed",
                        ha="center", fontsize=6)
    ax.set_xticks(x, CONDITIONS)
    ax.set_ylabel("MPJPE (mm), 12 joints")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    for k, method in enumerate(methods):
        corner = tuple(data["methods"][method]["advocc80_corners"][0])
        sub = fig.add_subplot(grid[1, k])
        sub.imshow(with_square(scene.image, textured_square(square_seed(0, 80), 80), corner))
        sub.set_title(f"worst AdvOcc-80 square:\n{method}", fontsize=8)
        sub.axis("off")
    fig.suptitle(f"occlusion benchmark, {data['images']} synthetic people, {_where(data)}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--stride", type=int, default=10, help="AdvOcc grid step (px)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-mediapipe", action="store_true")
    parser.add_argument("--methods", nargs="+", choices=[*METHODS, *ABLATIONS],
                        default=list(METHODS),
                        help="methods to run (default: all but the ablations of the "
                             "landmark evidence: " + ", ".join(ABLATIONS) + ")")
    parser.add_argument("--out", default="accuracy",
                        help="name of the results in bench/results (default accuracy: "
                             "accuracy.json, .md, .png)")
    parser.add_argument("--merge", type=Path,
                        help="accuracy.json of an earlier run with the same --images and "
                             "--stride: its methods that this run leaves out join the table")
    parser.add_argument("--hypotheses", type=int, default=0,
                        help="turned starts of every fit (default 0: the model file's, "
                             "as a GPU node's cold fits use them, whatever the device)")
    parser.add_argument("--checkpoint", type=Path,
                        help="JSON file of the people finished so far: written after every "
                             "person, read when the run starts again with the same "
                             "arguments, model file and device, which goes on from there")
    parser.add_argument("--batch", type=int, default=64,
                        help="squares fitted together (default 64, for a GPU; on the "
                             "2-core CPU --batch 2 fitted an image in 8.0 s, 64 in 15 s)")
    parser.add_argument("--note", action="append", default=[], help="line for the report")
    args = parser.parse_args()
    if args.batch < 1:
        raise SystemExit(f"--batch {args.batch}: give 1 or more")
    if args.hypotheses < 0:
        raise SystemExit(f"--hypotheses {args.hypotheses}: give 1 or more (0: the model "
                         "file's)")
    earlier = _earlier_run(args.merge, args.images, args.stride) if args.merge else None
    import torch

    from nbf_ros.eval.peers import mediapipe_method, pipeline_methods
    from nbf_ros.node_settings import default_settings
    from nbf_ros.vision.weights import resolve_model_path

    settings = dict(default_settings(), device=args.device)
    pipeline = benchmark_pipeline(settings, args.hypotheses)
    wanted = [METHODS[m] if m in METHODS else ABLATIONS[m][0] for m in args.methods
              if not (m == "mediapipe" and args.no_mediapipe)]
    ours = pipeline_methods(pipeline)
    ours.update(ablation_methods(settings, args.hypotheses,
                                 [m for m in args.methods if m in ABLATIONS]))
    methods = {n: ours[n] for n in wanted if n in ours}  # in the order asked for
    notes = list(args.note)
    if METHODS["mediapipe"] in wanted:
        try:
            methods[METHODS["mediapipe"]] = mediapipe_method()
        except ImportError as exc:
            notes.append(f"MediaPipe not run: {exc} (pip install -e '.[peers]')")
    if not methods:
        raise SystemExit("no method to run: " + "; ".join(notes))
    scenes = test_people(args.images)
    env = environment(pipeline.device)
    fit = {"iterations": pipeline.fit_config.iterations,
           "hypotheses": pipeline.fit_config.hypotheses}
    if earlier is not None and not any(n in methods for n in (METHODS["full-fit"],
                                                              METHODS["plain-fit"])):
        fit = earlier.get("fit", fit)
    checkpoint = None
    if args.checkpoint is not None:
        # The device too: the report names one device for a run's rows.
        checkpoint = Checkpoint(args.checkpoint, {
            "images": args.images, "stride": args.stride, "fit": fit,
            "model": model_digest(resolve_model_path(settings["model"])),
            "device": env["device"]})
    results, runs = {}, {}
    for name, method in methods.items():
        done = checkpoint.done(name) if checkpoint else []
        print(f"{name} ..." + (f" ({len(done)} people from {args.checkpoint})" if done
                               else ""), flush=True)
        with torch.no_grad() if name == "regression head" else torch.enable_grad():
            results[name] = run_method(method, scenes, args.stride, done,
                                       checkpoint.saver(name) if checkpoint else None,
                                       args.batch)
        runs[name] = _run_label(env)
        # Written after every method, so that a run cut short keeps what it finished.
        data = _table(env, args, fit, results, runs, earlier, notes)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{args.out}.json").write_text(json.dumps(data, indent=1) + "\n")
        (RESULTS / f"{args.out}.md").write_text(markdown(data))
    plot(data, scenes[0], RESULTS / f"{args.out}.png")
    print(markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
