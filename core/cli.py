"""One way for the core's command lines to run a sub-command and fail: a one-line reason on
stderr and exit status 1, never a traceback, for the errors that bad input causes."""

from __future__ import annotations

import argparse
import sys

INPUT_ERRORS = (OSError, ValueError, KeyError, RuntimeError)


def run_cli(
    parser: argparse.ArgumentParser, argv: list[str] | None = None, errors: tuple = ()
) -> int:
    """Parse `argv` and call the chosen sub-command's `run(args)` (set with set_defaults);
    `errors`: more exception types that mean bad input."""
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (*INPUT_ERRORS, *errors) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 1
