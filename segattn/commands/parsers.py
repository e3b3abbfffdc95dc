"""The argument parser every command uses: jsonargparse (``--config`` YAML, ``--print_config``) with one-line errors.

One flag style across commands, LightningCLI's: underscores (``--batch_size``). The dispatcher turns dashes in
flag names into underscores, so ``--batch-size`` works in every command, LightningCLI's included.
"""

from __future__ import annotations

import re
import sys
from typing import Any, NoReturn

from jsonargparse import ActionConfigFile, ArgumentParser

from .errors import debug_enabled, fail, short_parser_message


class OneLineErrors:
    """Mixin for jsonargparse parsers: ``error`` prints ``prog: error: message`` (no usage block) and exits 2."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not getattr(self, "exit_on_error", True) or debug_enabled():
            super().error(message, ex)  # type: ignore[misc]  # raises, for jsonargparse's own retries
        prog = getattr(ex, "subcommand_parser", None) or self
        fail(prog.prog.replace(" [options]", ""), f"{short_parser_message(message)} ({prog.prog} --help)")


class CommandParser(OneLineErrors, ArgumentParser):
    """An ``ArgumentParser`` for one segattn command, with ``--config``: a YAML file of the same options (unless
    ``options_file=False``, for ``ablate``, whose ``--config`` is the training config it runs)."""

    def __init__(self, prog: str, description: str, *, options_file: bool = True, **kwargs: Any) -> None:
        super().__init__(prog=prog, description=description, **kwargs)
        if options_file:
            self.add_argument("--config", action=ActionConfigFile, help="a YAML file with any of these options")


def normalize_flags(argv: list[str]) -> list[str]:
    """``--batch-size 3`` -> ``--batch_size 3``: dashes inside flag names become underscores, values stay."""
    out = []
    for token in argv:
        m = re.match(r"^(--[A-Za-z][\w.\-]*)(=.*)?$", token)
        out.append(m.group(1)[:2] + m.group(1)[2:].replace("-", "_") + (m.group(2) or "") if m else token)
    return out


def parse(parser: ArgumentParser, argv: list[str] | None) -> Any:
    """``parser``'s namespace for ``argv`` (default ``sys.argv[1:]``), dashed flag names accepted."""
    return parser.parse_args(normalize_flags(sys.argv[1:] if argv is None else list(argv)))
