"""Training in chunks: a session that ends early and a resumed one add up to the same run,
bit for bit, and a checkpoint too large for one file is cut into exact parts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from nbf_ros.paths import source_root
from nbf_ros.train.checkpoint import checkpoint_exists, load_checkpoint, save_checkpoint
from nbf_ros.train.config import ConfigError, load_train_config
from nbf_ros.train.loop import train

TINY = source_root() / "config" / "train_tiny.yaml"
# Smaller than the CI smoke run: 4 steps of 2 scenes at 64 x 64 on a narrow network.
CHUNK = {"steps": 4, "batch": 2, "warmup": 1, "log_every": 1, "checkpoint_every": 1,
         "calibration_scenes": 1, "decay": "steps",
         "network": {"widths": [8, 12, 16, 24, 32], "decoder_width": 16, "blocks": 1}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same config trained in one session, and in two (stopped at step 2, resumed) that
    also read the held-out people at the end of each session."""
    root = tmp_path_factory.mktemp("chunks")
    train(load_train_config(TINY, CHUNK), root / "whole", progress=False)
    cfg = load_train_config(TINY, {**CHUNK, "heldout_people": 1})
    first = train(cfg, root / "chunked", progress=False, stop_at=2)
    stopped = load_checkpoint(root / "chunked" / "checkpoint.pt")
    assert first.steps == 2 and stopped["step"] == 2
    train(cfg, root / "chunked", resume=True, progress=False)
    return {"whole": root / "whole", "chunked": root / "chunked"}


def test_a_session_stopped_early_checkpoints_where_it_stopped(runs: dict[str, Path]) -> None:
    rows = (runs["chunked"] / "log.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [1, 2, 3, 4]


def test_resumed_chunks_give_the_weights_of_one_whole_session(runs: dict[str, Path]) -> None:
    whole = load_checkpoint(runs["whole"] / "checkpoint.pt")
    chunked = load_checkpoint(runs["chunked"] / "checkpoint.pt")
    assert whole["step"] == chunked["step"] == 4
    # Same scene stream: the second chunk started at the scene after the first's last.
    assert whole["next_scene"] == chunked["next_scene"] == 8
    for name, tensor in whole["state"].items():
        assert torch.equal(tensor, chunked["state"][name]), name
    assert torch.equal(whole["kernel_features"], chunked["kernel_features"])
    assert torch.equal(whole["clutter"], chunked["clutter"])


def test_resumed_chunks_carry_the_optimizer_moments(runs: dict[str, Path]) -> None:
    whole = load_checkpoint(runs["whole"] / "checkpoint.pt")["optimizer"]["state"]
    chunked = load_checkpoint(runs["chunked"] / "checkpoint.pt")["optimizer"]["state"]
    assert whole.keys() == chunked.keys()
    for key in whole:
        for moment in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(whole[key][moment], chunked[key][moment]), (key, moment)


def test_each_session_adds_a_point_to_the_learning_curve(runs: dict[str, Path]) -> None:
    with (runs["chunked"] / "heldout.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert float(rows[0]["seconds"]) < float(rows[1]["seconds"])
    assert all(0.0 <= float(r["clean_kernel_10cm"]) <= 1.0 for r in rows)
    assert float(rows[1]["occluded_regression_mm"]) > 0
    assert (runs["chunked"] / "heldout.png").read_bytes()[:4] == b"\x89PNG"


def test_an_unknown_decay_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="decay must be clock or steps"):
        load_train_config(TINY, {"decay": "linear"})


def _state() -> dict:
    gen = torch.Generator().manual_seed(3)
    return {"weights": torch.randn(3000, generator=gen), "step": 7, "name": "run"}


def test_a_large_checkpoint_is_cut_into_parts_that_read_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    files = save_checkpoint(_state(), path, part_bytes=4096)
    assert not path.exists() and checkpoint_exists(path)
    assert all(f.stat().st_size <= 4096 for f in files if f.suffix != ".json")
    assert len(files) >= 4  # 12 kB of weights in parts of 4 kB, and the list
    back = load_checkpoint(path)
    assert torch.equal(back["weights"], _state()["weights"]) and back["step"] == 7


def test_a_damaged_part_is_reported_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    files = save_checkpoint(_state(), path, part_bytes=4096)
    part = files[1]
    data = bytearray(part.read_bytes())
    data[100] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        load_checkpoint(path)


def test_a_new_checkpoint_replaces_the_old_parts(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    old = save_checkpoint(_state(), path, part_bytes=4096)
    save_checkpoint({"step": 8}, path, part_bytes=4096)  # small: one file
    assert path.is_file() and not any(f.exists() for f in old)
    assert load_checkpoint(path) == {"step": 8}
    save_checkpoint(_state(), path, part_bytes=4096)
    assert not path.exists()
    listing = json.loads((tmp_path / "checkpoint.pt.parts.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p["file"] for p in listing["parts"]] + ["checkpoint.pt.parts.json"])
