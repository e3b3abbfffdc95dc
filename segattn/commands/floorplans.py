"""``segattn floorplans --out DIR --n N``: write built-in synthetic plans as ``DIR/images`` + ``DIR/masks``."""

from __future__ import annotations

from pathlib import Path

from .errors import run_command
from .parsers import CommandParser, parse


def parser() -> CommandParser:
    p = CommandParser("segattn floorplans", "Write synthetic floor plans (image + wall mask PNGs) to a folder.")
    p.add_argument("--out", type=Path, required=True, help="output folder (images/ and masks/ are created)")
    p.add_argument("--n", type=int, default=100, help="number of plans")
    p.add_argument("--seed", type=int, default=0, help="plan i uses the seed (seed, i)")
    p.add_argument("--size", nargs="+", type=int, default=[512], help="side, or height width")
    p.add_argument("--noise_level", type=float, default=1.0, help="0 clean .. 2 bad scan")
    return p


def main(argv: list[str] | None = None) -> int:
    ns = parse(parser(), argv)

    def run() -> None:
        from segattn.data.floorplans import write_floorplans

        if not 1 <= len(ns.size) <= 2:
            raise ValueError(f"--size takes one or two numbers, got {ns.size}")
        size = ns.size[0] if len(ns.size) == 1 else tuple(ns.size)
        stems = write_floorplans(ns.out, ns.n, seed=ns.seed, size=size, noise_level=ns.noise_level)
        print(f"wrote {len(stems)} floor plans to {ns.out}/images and {ns.out}/masks")

    return run_command("segattn floorplans", run)
