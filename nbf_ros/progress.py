"""Progress bars that stay out of logs: tqdm's, drawn only on a terminal.

Redirected to a file (`./nbf demo > demo.log`), a tqdm bar writes each update after a
carriage return, hundreds of them per bar on one line of the log. tqdm's ``disable=None``
draws on a terminal only; ``disable=True`` still turns a bar off everywhere.
"""

from __future__ import annotations

from typing import Any

from tqdm import tqdm as _tqdm

__all__ = ["tqdm"]


def tqdm(*args: Any, disable: bool = False, **kwargs: Any) -> _tqdm:
    """``tqdm.tqdm(*args, **kwargs)``, also off when its output is not a terminal."""
    return _tqdm(*args, disable=True if disable else None, **kwargs)
