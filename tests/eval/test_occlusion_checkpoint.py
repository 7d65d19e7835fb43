"""The occlusion benchmark's checkpoint: a stopped run started again goes on from the people
it finished, and refuses a checkpoint of another run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from occlusion_benchmark import (  # noqa: E402
    Checkpoint,
    person_targets,
    run_method,
)
from occlusion_benchmark import test_people as benchmark_people  # noqa: E402 - not a test

KEY = {"images": 2, "stride": 80, "fit": {"iterations": 120, "hypotheses": 8},
       "model": "0" * 64}


@pytest.fixture(scope="module")
def scenes():  # noqa: ANN201 - two rendered test people
    return benchmark_people(2)


class Shifted:
    """A method that answers each person's true joints moved by the image's mean brightness
    (so that squares change its error), counting the images it is asked about."""

    def __init__(self, scenes) -> None:  # noqa: ANN001
        self.truths = [person_targets(s.people[0])[0] for s in scenes]
        self.boxes = [s.people[0].box for s in scenes]
        self.images = 0

    def __call__(self, images, K, box):  # noqa: ANN001, ANN204
        self.images += len(images)
        who = next(i for i, b in enumerate(self.boxes) if np.array_equal(b, box))
        return np.stack([self.truths[who] + [image.mean() / 1000.0, 0.0, 0.0]
                         for image in images])


def test_a_run_started_again_asks_only_about_the_people_left(scenes, tmp_path):
    path = tmp_path / "progress.json"
    both, first_alone = Shifted(scenes), Shifted(scenes)
    whole = run_method(both, scenes, 80)
    run_method(first_alone, scenes[:1], 80)
    stopped = Checkpoint(path, KEY)
    run_method(Shifted(scenes), scenes[:1], 80, stopped.done("m"), stopped.saver("m"))
    again = Checkpoint(path, KEY)
    assert len(again.done("m")) == 1
    method = Shifted(scenes)
    resumed = run_method(method, scenes, 80, again.done("m"), again.saver("m"))
    assert method.images == both.images - first_alone.images > 0
    assert resumed == whole
    assert len(Checkpoint(path, KEY).done("m")) == 2


def test_a_checkpoint_of_other_arguments_is_refused_by_name(scenes, tmp_path):
    path = tmp_path / "progress.json"
    saved = Checkpoint(path, KEY)
    run_method(Shifted(scenes), scenes[:1], 80, [], saved.saver("m"))
    with pytest.raises(SystemExit, match="differs in stride"):
        Checkpoint(path, dict(KEY, stride=20))


def test_an_unreadable_checkpoint_is_refused_not_overwritten(tmp_path):
    path = tmp_path / "progress.json"
    path.write_text("{")
    with pytest.raises(SystemExit, match="cannot read it"):
        Checkpoint(path, KEY)
    assert path.read_text() == "{"
