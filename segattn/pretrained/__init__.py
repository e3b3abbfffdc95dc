"""Models that come with segattn, by name: ``--ckpt_path walls`` and ``model.init_from: walls``.

| name | what it is |
|---|---|
| ``walls`` | walls in floor plans: a small UNet trained on built-in synthetic plans only (card in README.md) |

A name is resolved to the checkpoint file inside the installed package; anything else is taken as a path.
"""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
PRETRAINED: dict[str, str] = {"walls": "walls.ckpt"}


def resolve(name_or_path: str | Path) -> Path:
    """The packaged checkpoint called ``name_or_path``, or ``name_or_path`` itself as a path."""
    key = str(name_or_path)
    if key in PRETRAINED and not Path(key).exists():
        path = FOLDER / PRETRAINED[key]
        if not path.is_file():
            raise FileNotFoundError(
                f"the packaged model {key!r} is missing from this installation ({path}); reinstall segattn"
            )
        return path
    return Path(name_or_path)
