#!/usr/bin/env bash
# The add-on's tests on Blender 4.2 LTS (PyPI bpy 4.2.x) in a venv of its own (.venv42).
# make test covers bpy 5.0.1; this checks compat.py's 4.2 paths (action.fcurves, sequences).
# Needs the main venv once for the untrained weights (torch): .venv/bin/python build.py --random-weights
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
if [ ! -x .venv42/bin/python ]; then
  "$PY" -m venv .venv42
  .venv42/bin/python -m pip install -q "bpy==4.2.*" "numpy>=1.26,<2" pytest
fi
if [ ! -f core/assets/meshtalk.npz ] && [ ! -f build/meshtalk_random.npz ]; then
  .venv/bin/python build.py --random-weights >/dev/null
fi
exec .venv42/bin/python -m pytest -q -p no:cacheprovider \
  tests/test_build.py tests/test_addon_*.py tests/test_writers.py tests/test_retarget.py "$@"
