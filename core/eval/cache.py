"""A disk cache of phones found by pocketsphinx (forced alignments, recognised phones).

Why: on the ~600 real recordings, building pocketsphinx decoders and decoding costs four
times what the network, the ceiling and the scores cost together, and its output depends only
on the audio, the transcript and pocketsphinx's version: re-running the evaluation (a new
network, another temperature) should not pay it again. Entries are keyed by a hash of all of
these, so a changed file or version is a miss, never a stale hit.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

from ..data.phones import Phone


def default_folder() -> Path:
    """$XDG_CACHE_HOME/meshtalk/eval-phones (~/.cache/... by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "meshtalk" / "eval-phones"


def _version() -> str:
    try:
        return metadata.version("pocketsphinx")
    except metadata.PackageNotFoundError:  # pragma: no cover - depends on the environment
        return "unknown"


def cached_phones(
    folder: Path | None, kind: str, audio: np.ndarray, text: str, compute: Callable[[], list]
) -> list[Phone]:
    """`compute()`'s phones, read from `folder` when this kind, audio and text were seen
    before (folder None: no cache)."""
    if folder is None:
        return compute()
    digest = hashlib.sha1()
    for part in (kind, _version(), text):
        digest.update(part.encode() + b"\0")
    digest.update(np.ascontiguousarray(audio, np.float32).tobytes())
    path = Path(folder) / kind / f"{digest.hexdigest()}.json"
    if path.is_file():
        try:
            return [Phone(s, a, b) for s, a, b in json.loads(path.read_text())]
        except (ValueError, TypeError):
            pass  # a torn write: compute again
    phones = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps([[p.symbol, p.start, p.end] for p in phones]))
    tmp.replace(path)  # atomic: a parallel worker never reads half a file
    return phones
