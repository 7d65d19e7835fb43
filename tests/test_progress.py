"""Progress bars stay out of logs: redirected output gets no carriage-return updates."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

BAR = "from nbf_ros.progress import tqdm\nfor _ in tqdm(range(50), desc='work'): pass\n"


def test_a_bar_written_to_a_log_file_draws_nothing(tmp_path) -> None:  # noqa: ANN001
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        subprocess.run([sys.executable, "-c", BAR], stdout=out, stderr=out, check=True,
                       timeout=60)
    assert log.read_bytes() == b""


def test_a_bar_on_a_terminal_is_drawn() -> None:
    leader, follower = pty.openpty()
    # A fresh pseudo-terminal has 0 columns, too narrow for a bar.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        subprocess.run([sys.executable, "-c", BAR], stdout=follower, stderr=follower,
                       check=True, timeout=60)
        drawn = os.read(leader, 65536)
    finally:
        os.close(leader)
        os.close(follower)
    assert b"work: 100%" in drawn


@pytest.mark.timeout(120)
def test_the_demo_bag_writer_keeps_its_bar_off_a_redirected_stderr(tmp_path, capfd) -> None:  # noqa: ANN001
    from dataclasses import replace

    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.sequences import SequenceConfig, write_sequence_bag

    seq = SequenceConfig(frames=2, fps=10.0)
    seq = replace(seq, scene=replace(seq.scene, height=96, width=128, extra_people=0))
    write_sequence_bag(tmp_path / "bag", BodyMesh.default(), 1, seq, progress=True)
    assert "\r" not in capfd.readouterr().err
