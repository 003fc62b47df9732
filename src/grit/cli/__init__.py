"""The ``grit`` command line: one module per command, ``grit.cli.<command>``, holding a one-line ``HELP``, the
command's options as dataclasses and ``main(argv) -> int``; :mod:`grit.cli.common` holds what they share. Options
are parsed by :mod:`grit.arguments`: ``--config FILE`` (YAML) and ``--field value`` flags named as the fields.

Errors a person can fix (bad data, bad options) print one clear message and exit with status 2.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from collections.abc import Sequence

from grit.cli.common import UsageError, offline_defaults

# A command is a module grit.cli.<name> with HELP and main(argv); registering one is adding its name here.
COMMANDS = ("quickstart", "data", "model", "pretrain", "train", "eval", "infer", "score", "recipes", "demo")


def overview() -> str:
    lines = [
        "usage: grit COMMAND [--config FILE] [--field value ...]",
        "",
        "Teach vision-language models to think with images.",
        "",
        "commands:",
    ]
    for name in COMMANDS:
        lines.append(f"  {name:<12} {importlib.import_module(f'grit.cli.{name}').HELP}")
    lines += ["", "grit COMMAND --help lists the command's fields; every field is also a key of its --config file."]
    return "\n".join(lines)


SHOWN_PROBLEMS = 19  # of a data file's problems after the first; the rest are counted


def fail(prog: str, error: Exception) -> int:
    from grit.data.schema import DataError

    name = getattr(error, "prog", prog)
    if (rank := os.environ.get("RANK", "0")) != "0":  # `accelerate launch`: every process says it, each on its line
        name = f"[rank {rank}] {name}"
    if not (isinstance(error, DataError) and len(error.problems) > 1):
        print(f"{name}: error: {error}", file=sys.stderr)
        return 2
    first, rest = error.problems[0], error.problems[1:]
    print(f"{name}: error: {first}\n{len(rest)} more problem{'s' if len(rest) > 1 else ''}:", file=sys.stderr)
    for problem in rest[:SHOWN_PROBLEMS]:
        print(f"  {problem}", file=sys.stderr)
    if len(rest) > SHOWN_PROBLEMS:
        print(f"  ... and {len(rest) - SHOWN_PROBLEMS} more", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl+C (or the demo's SIGTERM): a stop the user asked for, not a crash
        print("\ngrit: stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`grit train --help-all | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the interpreter's final flush is silent
        return 141
    except OSError as e:
        if e.errno not in _PLACE_ERRORS:
            raise
        # The commands check their inputs and outputs before any work; this names what a check could not foresee (a
        # disk that fills, permissions changed mid-run, a cache folder of another user) without a traceback.
        full = e.errno in (errno.ENOSPC, errno.EDQUOT)
        fix = (
            "free space there, or use another place" if full else "check that path's permissions, or use another place"
        )
        where = e.filename or "a file grit was writing or reading (no name given)"
        print(f"grit: error: {where}: {(e.strerror or type(e).__name__).lower()}; {fix}", file=sys.stderr)
        return 2


# Errors of the place written, not of grit: no space, no permission, a read-only mount.
_PLACE_ERRORS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT)


def _main(argv: Sequence[str] | None) -> int:
    offline_defaults()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(overview(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        from grit.config import closest

        return fail("grit", UsageError(f"unknown command {name!r}{closest(name, COMMANDS)} (see grit --help)"))
    from grit.config import ConfigError
    from grit.data.schema import DataError

    try:
        return importlib.import_module(f"grit.cli.{name}").main(rest)
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except (UsageError, ConfigError, DataError) as e:
        return fail(f"grit {name}", e)


__all__ = ["COMMANDS", "UsageError", "main"]
