"""Files that appear under their name only when complete: every writer writes a temporary
file beside the target and settles it here, so an error (a full disk, a cancel) leaves the
previous output, if any, untouched and no partial file behind."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path


def temporary(path: Path) -> Path:
    """Where `path` is written until it is complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(path.name + ".tmp")


def settle(
    tmp: Path,
    path: Path,
    ok: bool,
    close: Callable[[], None],
    finish: Callable[[], None] | None = None,
) -> None:
    """Complete (`finish`), close and rename `tmp` to `path` if `ok` and nothing fails;
    otherwise close quietly (a full disk fails again when buffers are flushed: that second
    error must not hide the first) and remove `tmp`. Errors of `finish`/`close` propagate."""
    try:
        if ok and finish is not None:
            finish()
        close()
    except BaseException:
        with contextlib.suppress(OSError):
            close()
        tmp.unlink(missing_ok=True)
        raise
    if ok:
        tmp.replace(path)
    else:
        tmp.unlink(missing_ok=True)
