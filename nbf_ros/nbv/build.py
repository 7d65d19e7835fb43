"""Build the default Neural Body Volume file from the Anny body model.

Run ``python -m nbf_ros.nbv.build [--out models/nbv_anny.npz]``. The kernels and the body
data come from Anny; the features start untrained (smooth random), and training replaces
them. The result is deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from nbf_ros.nbv.volume import build_volume

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "models" / "nbv_anny.npz"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: build and save the volume."""
    parser = argparse.ArgumentParser(prog="python -m nbf_ros.nbv.build", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help="output .npz path")
    parser.add_argument("--kernels", type=int, default=858, help="number of kernels")
    parser.add_argument("--dim", type=int, default=64, help="feature dimension")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args(argv)
    if args.kernels < 10 or args.dim < 2:
        parser.error("--kernels must be >= 10 and --dim >= 2")
    from nbf_ros.body.anny_body import AnnyBody  # heavy: imported only when building

    started = time.perf_counter()
    volume = build_volume(AnnyBody(), num_kernels=args.kernels, feature_dim=args.dim,
                          seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    volume.save(args.out)
    print(f"wrote {args.out} ({volume.num_kernels} kernels, D={volume.feature_dim}, "
          f"{args.out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
