"""GraphReplay: a tensor function replayed from CUDA graphs, one per input signature."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor

from nbf_ros.graph_replay import GraphReplay

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@dataclass
class Pair:
    total: Tensor
    scaled: list[Tensor]
    label: str


def pair(a: Tensor, b: Tensor) -> Pair:
    """A small function with nested outputs and several kernels."""
    return Pair((a * b).sum(-1), [a.sin() + 1.0, (b @ b.t()).relu()], "pair")


def test_cpu_tensors_call_the_function_itself() -> None:
    calls = []
    replay = GraphReplay(lambda x: calls.append(x) or x + 1)
    x = torch.ones(3)
    assert torch.equal(replay(x), x + 1) and calls == [x]
    assert replay.replays == 0 and replay.captures == 0


def test_disabled_replay_calls_the_function_every_time() -> None:
    replay = GraphReplay(pair, enabled=False)
    out = replay(torch.ones(2, 3), torch.ones(2, 3))
    assert out.label == "pair" and replay.captures == 0


@cuda
def test_replays_match_eager_calls_on_new_inputs_of_the_same_shape() -> None:
    replay = GraphReplay(pair)
    gen = torch.Generator(device="cuda").manual_seed(0)
    for _ in range(3):
        a, b = (torch.randn(4, 5, device="cuda", generator=gen) for _ in range(2))
        got, want = replay(a, b), pair(a, b)
        assert got.label == "pair"
        torch.testing.assert_close(got.total, want.total)
        for g, w in zip(got.scaled, want.scaled, strict=True):
            torch.testing.assert_close(g, w)
    assert replay.captures == 1 and replay.replays == 3


@cuda
def test_each_input_shape_gets_its_own_graph() -> None:
    replay = GraphReplay(pair)
    for rows in (2, 3, 2):
        x = torch.randn(rows, 4, device="cuda")
        torch.testing.assert_close(replay(x, x).total, (x * x).sum(-1))
    assert replay.captures == 2


@cuda
def test_cloned_outputs_survive_the_next_call_and_uncloned_ones_do_not() -> None:
    for clone in (True, False):
        replay = GraphReplay(lambda x: x * 2, clone=clone)
        first = replay(torch.ones(3, device="cuda"))
        replay(torch.full((3,), 5.0, device="cuda"))
        assert float(first[0]) == (2.0 if clone else 10.0)


@cuda
def test_a_function_that_syncs_the_host_runs_eagerly_and_warns_on_the_second_failure(
        ) -> None:
    replay = GraphReplay(lambda x: x * float(x.sum()))
    x = torch.ones(2, device="cuda")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            torch.testing.assert_close(replay(x), x * 2)
    assert replay.captures == 0
    assert sum("failed twice" in str(w.message) for w in caught) == 1
    # Random numbers still work: a broken-off capture would leave the generator capturing.
    assert torch.rand(4, device="cuda").shape == (4,)
