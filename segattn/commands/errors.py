"""What every command shares: a user's mistake is one line and exit status 2, never a traceback.

``segattn <command>: error: <what, naming the file or flag, and the fix>`` on stderr, exit status 2. ``--debug``
(or ``SEGATTN_DEBUG=1``) shows the traceback instead. jsonargparse's nested validation messages are cut to the
innermost key and value (:func:`short_parser_message`), without the usage block before them.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

DEBUG_ENV = "SEGATTN_DEBUG"
# What a user can cause: bad values (ValueError and its subclasses: DatasetError, BadFileError, CheckpointError),
# missing / unwritable / existing files (OSError: FileNotFoundError, PermissionError, FileExistsError, ...).
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError)


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").lower() not in ("", "0", "false", "no")


def fail(prog: str, message: str) -> NoReturn:
    """Print ``<prog>: error: <message>`` and exit with status 2."""
    sys.stderr.write(f"{prog}: error: {message.rstrip()}\n")
    raise SystemExit(2)


def run_command(prog: str, fn: Callable[[], Any], *, user_errors: tuple[type[BaseException], ...] = USER_ERRORS) -> int:
    """Run ``fn`` (returns None or an exit status); user errors become :func:`fail`, the process group is ended."""
    try:
        status = fn()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130
    except user_errors as err:
        if debug_enabled():
            traceback.print_exc()
        fail(prog, str(err) or type(err).__name__)
    finally:
        end_process_group()
    return int(status or 0)


def end_process_group() -> None:
    """Destroy a DDP process group before exit; left to interpreter shutdown, gloo's threads sometimes abort the
    process ("terminate called without an active exception", exit -6) after a finished run."""
    if "torch" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def short_parser_message(message: str) -> str:
    """jsonargparse's message for a nested value cut to what matters: the full key, the value, the choices.

    ``Parser key "model.net": ... Parser key "attention": ... Given value: sqeeze`` becomes
    ``model.net.attention: 'sqeeze' is not valid; choose from none, se, ...`` (the full text with ``--debug``).
    """
    if debug_enabled() or "Parser key" not in message:
        return message
    keys = re.findall(r'Parser key "([^"]+)"', message)
    key = ".".join(dict.fromkeys(keys))
    given = re.search(r"Given value: (.+)", message)
    literal = re.search(r"Expected a typing\.Literal\[(.+?)\]", message)
    text = f"{key}: {given.group(1).strip()!r} is not valid" if given else f"{key}: invalid value"
    if literal:
        choices = ", ".join(c.strip().strip("'\"") for c in literal.group(1).split(","))
        text += f"; choose from {choices}"
    else:
        expected = re.findall(r"Expected a (?:<class '([^']+)'>|([^\n]+))", message)
        kinds = [a or b for a, b in expected][:3]
        if kinds:
            text += f" (expected {' or '.join(kinds)})"
    return text
