"""Fixtures shared by the report tests."""

from __future__ import annotations

import pytest


@pytest.fixture()
def wired_cli(monkeypatch: pytest.MonkeyPatch):
    """``segattn.cli.cli_main`` with ``ReportCallback`` under ``--report.*`` — the wiring segattn/cli.py is asked for.

    If segattn/cli.py already adds it, nothing is patched, so these tests then run the real wiring.
    """
    import segattn.cli as cli
    from segattn.callbacks import ReportCallback

    original = cli.SegAttnCLI.add_arguments_to_parser

    def add(self, parser) -> None:
        original(self, parser)
        if "report" not in parser.groups:
            parser.add_lightning_class_args(ReportCallback, "report")

    monkeypatch.setattr(cli.SegAttnCLI, "add_arguments_to_parser", add)
    return cli.cli_main
