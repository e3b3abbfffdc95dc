"""Configs that travel with the package: ``--config quickstart`` anywhere, ``segattn configs``, ``segattn init DIR``.

The YAML files live in ``segattn/configs/`` (the repository's ``configs/`` points there), so an installed wheel
has them too. A ``--config`` value that is not an existing file but names a packaged config (with or without
``.yaml``) means that file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import segattn

from .errors import run_command
from .parsers import CommandParser, parse

CONFIG_DIR = Path(segattn.__file__).resolve().parent / "configs"


def packaged_configs() -> dict[str, Path]:
    """``{name: path}`` of every packaged config, by file name without ``.yaml``."""
    return {p.stem: p for p in sorted(CONFIG_DIR.glob("*.yaml"))}


def resolve_config_names(argv: list[str]) -> list[str]:
    """``--config quickstart`` -> ``--config <package>/configs/quickstart.yaml`` when no such file exists here."""
    configs = packaged_configs()

    def resolve(value: str) -> str:
        if Path(value).exists():
            return value
        name = value.removesuffix(".yaml").removeprefix("configs/")
        return str(configs[name]) if name in configs else value

    out, take = [], False
    for token in argv:
        if take:
            out.append(resolve(token))
        elif token.startswith("--config="):
            out.append("--config=" + resolve(token.split("=", 1)[1]))
        else:
            out.append(token)
        take = token in ("--config", "-c")
    return out


def describe(path: Path) -> str:
    """The first comment line of a config: what it trains."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def configs_main(argv: list[str] | None = None) -> int:
    """``segattn configs``: the packaged configs, one line each."""
    parse(CommandParser("segattn configs", "List the configs that come with segattn (use them by name)."), argv)
    configs = packaged_configs()
    width = max(map(len, configs))
    for name, path in configs.items():
        print(f"{name:<{width}}  {describe(path)}")
    print(f"\n(in {CONFIG_DIR}; `segattn fit --config NAME` uses one, `segattn init DIR` copies them to edit)")
    return 0


def init_main(argv: list[str] | None = None) -> int:
    """``segattn init DIR``: copy the packaged configs into DIR to edit them; an existing file is never replaced."""
    parser = CommandParser("segattn init", "Copy the packaged configs into a folder, to edit them.")
    parser.add_argument("dir", type=str, help="folder to copy the configs into (created)")
    ns = parse(parser, argv)

    def run() -> int:
        target = Path(ns.dir)
        if target.exists() and not target.is_dir():
            raise NotADirectoryError(f"{target} exists and is not a folder; choose another DIR")
        target.mkdir(parents=True, exist_ok=True)
        copied, kept = [], []
        for path in packaged_configs().values():
            dest = target / path.name
            if dest.exists():
                kept.append(dest.name)
                continue
            shutil.copyfile(path, dest)
            copied.append(dest.name)
        print(f"copied {len(copied)} configs to {target}" + (f"; kept your {', '.join(kept)}" if kept else ""))
        return 0

    return run_command("segattn init", run)
