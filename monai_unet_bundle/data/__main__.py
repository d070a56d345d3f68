"""Build an embedded dataset: ``python -m monai_unet_bundle.data brain3d --out data/brain3d``."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from . import synthetic
from .datalist import embedded_builders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_unet_bundle.data", description=__doc__)
    parser.add_argument("dataset", choices=sorted(embedded_builders()))
    parser.add_argument("--out", type=Path, help="output folder (default: data/<dataset>)")
    parser.add_argument("--force", action="store_true", help="rebuild into a folder that already holds files")
    parser.add_argument("--num-cases", type=int, default=4, help="synthetic: number of volumes")
    parser.add_argument("--size", type=int, default=32, help="synthetic: edge length in voxels")
    parser.add_argument("--seed", type=int, default=0, help="synthetic: random seed")
    args = parser.parse_args(argv)
    out = args.out or Path("data") / args.dataset
    if out.exists() and any(out.iterdir()):
        if not args.force:
            print(f"{out} already holds files; pass --force to rebuild it", file=sys.stderr)
            return 1
        shutil.rmtree(out)
    if args.dataset == "synthetic":
        manifest = synthetic.build(out, num_cases=args.num_cases, size=args.size, seed=args.seed)
    else:
        manifest = embedded_builders()[args.dataset](out)
    print(f"wrote {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
