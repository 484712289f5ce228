"""Byte-reproducible .npz files: the same arrays always give the same bytes.

numpy's own savez stamps the current time into the zip, so rebuilt assets would differ from
the committed ones even when their contents are identical.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

_EPOCH = (1980, 1, 1, 0, 0, 0)


def save_npz(path: str | Path, arrays: Mapping[str, np.ndarray], compress: bool = True) -> None:
    """Write `arrays` to `path` (sorted by name, fixed timestamps) readable by np.load."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=method) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            array = np.asarray(arrays[name])  # not ascontiguousarray: it turns 0-d into 1-d
            np.lib.format.write_array(buf, np.require(array, requirements="C"), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=_EPOCH)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9 if compress else None)
    tmp.replace(path)
