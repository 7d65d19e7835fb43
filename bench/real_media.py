"""Real-media benchmark: people in real photographs and video, scored against labels made by eye.

    python bench/real_media.py                      # all methods, images and 200 video frames
    python bench/real_media.py --frames 40 --methods full mediapipe

Media: Debian's ``opencv-doc`` (4.6.0, Apache-2.0 AND BSD-3-Clause) holds ``messi5.jpg``,
``basketball1.png``, ``basketball2.png`` and ``vtest.avi`` (768 x 576, 10 fps, pedestrians,
a sign post in front of some). The script fetches the package itself (``apt-get download
opencv-doc``, unpacked with ``dpkg -x`` into ``--media``, default ``.cache/opencv-doc``);
the media are never committed. Labels: ``bench/real_media_labels.json`` (how they were made:
``bench/real_media_labels.md``). Reading the video needs OpenCV (``pip install
opencv-python-headless``); the MediaPipe row needs the ``peers`` extra.

Scores (nbf_ros/eval/image_scores.py): detection recall and precision at IoU 0.5 for
people at least 50 px tall; PCK@0.1 and @0.2 of the labelled box's longer side on the 12
limb joints (a person not found counts every joint as missed); facing (front or back) for
people labelled so; on the video, id switches and tracks per pedestrian over the labelled
frames (the video with shorter fits: 5 steps per tracked person, 20 for a new one).
Partly hidden people are scored apart as well. Camera: fx = fy = image width,
centred (the media carry no calibration). Results: ``bench/results/real_media.{json,md,png}``
and one overlay per image under ``bench/results/real_media/``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from real_media_methods import METHODS, VIDEO_METHODS, build_method  # noqa: E402
from real_media_report import write_report  # noqa: E402

from nbf_ros.eval.image_scores import Person, match_people, pck_errors  # noqa: E402

MEDIA = ("messi5.jpg", "basketball1.png", "basketball2.png", "vtest.avi")
DATA_DIR = "usr/share/doc/opencv-doc/examples/data"


def fetch_media(folder: Path) -> Path:
    """The folder holding the media, fetched from Debian's opencv-doc package if missing."""
    if all((folder / name).is_file() for name in MEDIA):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    print(f"fetching opencv-doc (about 96 MB) into {folder} ...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp, check=True,
                           capture_output=True)
            deb = next(Path(tmp).glob("opencv-doc_*.deb"))
            subprocess.run(["dpkg", "-x", str(deb), str(Path(tmp) / "x")], check=True,
                           capture_output=True)
        except (OSError, subprocess.CalledProcessError, StopIteration) as err:
            detail = getattr(err, "stderr", b"") or b""
            raise SystemExit(f"real_media: could not fetch opencv-doc ({err}; "
                             f"{detail.decode(errors='replace').strip()})") from None
        for name in MEDIA:
            (folder / name).write_bytes((Path(tmp) / "x" / DATA_DIR / name).read_bytes())
    return folder


def read_video(path: Path, frames: int) -> list[np.ndarray]:
    """The first ``frames`` frames of a video as RGB uint8 arrays."""
    try:
        import cv2
    except ImportError:
        raise SystemExit("real_media: reading vtest.avi needs OpenCV: "
                         "pip install opencv-python-headless") from None
    cap = cv2.VideoCapture(str(path))
    out = []
    while len(out) < frames:
        ok, bgr = cap.read()
        if not ok:
            break
        out.append(np.ascontiguousarray(bgr[:, :, ::-1]))
    cap.release()
    return out


def label_people(entry: dict) -> list[Person]:
    """Labelled people of one image or frame."""
    out = []
    for p in entry["people"]:
        joints = np.asarray(p["joints"], dtype=np.float64) if p.get("joints") else None
        out.append(Person(np.asarray(p["box"], dtype=np.float64), joints, p.get("facing"),
                          bool(p.get("occluded", False)), 1.0, p.get("id")))
    return out


@dataclass
class Tally:
    """Counts over the scored frames of one method and one subset of people."""

    people: int = 0
    found: int = 0
    false_positives: int = 0
    errors: list[np.ndarray] = field(default_factory=list)
    facing_right: int = 0
    facing_total: int = 0

    def summary(self) -> dict:
        """Recall, precision, PCK and facing as JSON-safe numbers."""
        err = np.concatenate(self.errors) if self.errors else np.zeros(0)
        hits = self.found + self.false_positives

        def share(num: float, den: float) -> float | None:
            return round(num / den, 4) if den else None

        return {"people": self.people, "found": self.found,
                "false_positives": self.false_positives,
                "recall": share(self.found, self.people), "precision": share(self.found, hits),
                "joints": int(err.size), "pck_0.1": share(float((err < 0.1).sum()), err.size),
                "pck_0.2": share(float((err < 0.2).sum()), err.size),
                "facing_right": share(self.facing_right, self.facing_total),
                "facing_people": self.facing_total}


def score_frame(truth: list[Person], found: list[Person], tallies: dict[str, Tally]) -> list:
    """Add one frame's scores to the tallies ("all" and "occluded"); the labelled people's
    matched estimates (None: missed)."""
    match = match_people(truth, found)
    for i, person in enumerate(truth):
        if not match.counted[i]:
            continue
        est = found[match.matches[i]] if match.matches[i] is not None else None
        for key in ("all", "occluded") if person.occluded else ("all",):
            t = tallies[key]
            t.people += 1
            t.found += est is not None
            if person.joints is not None:
                t.errors.append(pck_errors(person, est))
            if person.facing in ("front", "back"):
                t.facing_total += 1
                t.facing_right += est is not None and est.facing == person.facing
    tallies["all"].false_positives += match.false_positives
    return [found[m] if m is not None else None for m in match.matches]


def run_method(name: str, run: Callable, labels: dict, media: Path,
               video: list[np.ndarray]) -> tuple[dict, dict]:
    """Scores of one method on the images and the video, and its outputs for the overlays."""
    tallies = {"all": Tally(), "occluded": Tally()}
    shown: dict[str, list[Person]] = {}
    seconds = []
    for image_name, entry in labels["images"].items():
        rgb = np.array(Image.open(media / image_name).convert("RGB"))
        tic = time.perf_counter()
        found = run.image(rgb)
        seconds.append(time.perf_counter() - tic)
        score_frame(label_people(entry), found, tallies)
        shown[image_name] = found
    image_scores = {k: t.summary() for k, t in tallies.items()}
    out = {"images": image_scores, "image_seconds": round(float(np.mean(seconds)), 3)}
    if video and name in VIDEO_METHODS:
        out["video"], shown_video = score_video(run, labels["video"], video)
        shown.update(shown_video)
    return out, shown


def score_video(run, labels: dict, video: list[np.ndarray]) -> tuple[dict, dict]:
    """Detection, PCK, facing and track ids of a method over the video's labelled frames."""
    from nbf_ros.eval.pose_metrics import id_switches

    tallies = {"all": Tally(), "occluded": Tally()}
    tracks: dict[int, list[int | None]] = {}
    shown = {}
    tic = time.perf_counter()
    outputs = run.video(video)
    seconds = (time.perf_counter() - tic) / max(len(video), 1)
    for key, entry in sorted(labels["frames"].items(), key=lambda kv: int(kv[0])):
        index = int(key)
        if index >= len(outputs):
            continue
        truth = label_people(entry)
        matched = score_frame(truth, outputs[index], tallies)
        for person, est in zip(truth, matched, strict=True):
            if person.height >= 50:
                tracks.setdefault(person.track_id, []).append(
                    est.track_id if est is not None else None)
        shown[f"vtest.avi#{index}"] = outputs[index]
    switches = {pid: id_switches(ids) for pid, ids in tracks.items()}
    per_person = [len({i for i in ids if i is not None}) for ids in tracks.values()]
    result = {k: t.summary() for k, t in tallies.items()}
    result.update(frames=len(outputs), seconds_per_frame=round(seconds, 3),
                  pedestrians=len(tracks), id_switches=int(sum(switches.values())),
                  tracks_per_pedestrian=round(float(np.mean(per_person)), 3)
                  if per_person else None)
    return result, shown


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--media", type=Path, default=ROOT / ".cache" / "opencv-doc")
    parser.add_argument("--labels", type=Path, default=ROOT / "bench" / "real_media_labels.json")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--frames", type=int, default=200, help="video frames (0: no video)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "real_media")
    args = parser.parse_args(argv)
    try:
        labels = json.loads(args.labels.read_text())
    except (OSError, ValueError) as err:
        raise SystemExit(f"real_media: cannot read labels {args.labels}: {err}") from None
    media = fetch_media(args.media)
    video = read_video(media / "vtest.avi", args.frames) if args.frames else []
    results, shown = {}, {}
    for name in args.methods:
        print(f"[real_media] {name} ...", file=sys.stderr)
        results[name], shown[name] = run_method(name, build_method(name), labels, media, video)
    write_report(args.out, results, shown, labels, media, video, sys.argv[1:])
    print(f"[real_media] wrote {args.out}.json, .md, .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
