#!/usr/bin/env bash
# The add-on's tests (tests/addon) and the runtime tests that need no torch, against one PyPI
# `bpy` version, in a Python of its own that this script sets up:
#
#   scripts/test_blender.sh <bpy-version> [pytest arguments...]
#   scripts/test_blender.sh 4.2.23          # oldest supported LTS
#   scripts/test_blender.sh 5.2.3 -x -k nla # newest LTS; pytest options pass through
#   scripts/test_blender.sh 4.5.15 tests/addon/test_addon_modes.py  # only these tests
#
# - bpy 4.2.x-5.0.x (CPython 3.11): a venv .venv-bpy-<version>/ made with $PYTHON (python3.11).
# - bpy 5.1+ (CPython 3.13, which Debian 12 lacks): a Debian 13 chroot with python3.13 made by
#   debootstrap once and kept under build/chroot-trixie (delete it to rebuild), a venv
#   /opt/venv-bpy-<version> inside it, and the tests run there with the repository
#   bind-mounted at its own path (in a private mount namespace: nothing stays mounted).
#   Needs root (or passwordless sudo).
# Only bpy, pytest and numpy (which bpy brings) are installed: tests that need torch (random
# weights) are left out; the add-on tests bundle core/runtime/assets/meshtalk.npz.
# Exits with pytest's status. Prints the setup and test times.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
VERSION=${1:-}
[[ $VERSION =~ ^([0-9]+)\.([0-9]+)\.[0-9]+$ ]] || usage
shift
MAJOR=${BASH_REMATCH[1]} MINOR=${BASH_REMATCH[2]}
if ((MAJOR < 4 || (MAJOR == 4 && MINOR < 2))); then
  echo "bpy $VERSION: extensions need Blender 4.2 or later" >&2
  exit 2
fi
PY313=$((MAJOR > 5 || (MAJOR == 5 && MINOR >= 1)))

# tests/addon and tests/runtime, unless the arguments name test files or folders themselves
TESTS=(tests/addon tests/runtime)
for arg in "$@"; do
  if [[ $arg != -* && -e ${arg%%::*} ]]; then
    TESTS=()
    break
  fi
done
# A pytest plugin (written next to the chroot/venv caches, under the git-ignored build/):
# without torch, test modules that import it at module level are not collected and tests that
# use the `random_weights` fixture (made with torch) are skipped; both are listed at the end.
PLUGIN_DIR=build/test-blender
mkdir -p "$PLUGIN_DIR"
cat >"$PLUGIN_DIR/meshtalk_no_torch.py" <<'EOF'
import importlib.util
import re

import pytest

HAS_TORCH = importlib.util.find_spec("torch") is not None
_TORCH_AT_IMPORT = re.compile(r"^(import torch\b|from torch\b)", re.MULTILINE)
_left_out: list[str] = []


def pytest_ignore_collect(collection_path, config):
    p = collection_path
    if HAS_TORCH or p.suffix != ".py" or not p.name.startswith("test_"):
        return None
    if _TORCH_AT_IMPORT.search(p.read_text(encoding="utf-8")):
        _left_out.append(str(p.relative_to(config.rootpath)))
        return True
    return None


def pytest_collection_modifyitems(config, items):
    if HAS_TORCH:
        return
    skip = pytest.mark.skip(reason="needs torch (random_weights fixture)")
    for item in items:
        if "random_weights" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if _left_out:
        terminalreporter.write_line(
            "not collected (import torch, not installed here): " + ", ".join(_left_out)
        )
EOF
PYTEST_ARGS=(-p no:cacheprovider -p meshtalk_no_torch ${TESTS[@]+"${TESTS[@]}"} "$@")

START=$SECONDS
report() {
  local status=$1 setup=$2
  local tests=$((SECONDS - START - setup))
  echo "bpy $VERSION: setup ${setup} s, tests ${tests} s, total $((SECONDS - START)) s," \
    "pytest exit status $status"
  exit "$status"
}

if ((!PY313)); then
  # ---- bpy 4.2-5.0: a Python 3.11 venv on this machine -------------------------------------
  VENV=.venv-bpy-$VERSION
  if [ ! -f "$VENV/.ready" ]; then
    [ -x "$VENV/bin/python" ] || "${PYTHON:-python3.11}" -m venv "$VENV"
    # numpy 1.26.x as Blender 4.2-5.0 bundle it (bpy 4.2.x's wheel leaves numpy unbounded)
    "$VENV/bin/python" -m pip install -q "bpy==$VERSION" "numpy>=1.26,<2" pytest
    touch "$VENV/.ready"
  fi
  SETUP=$((SECONDS - START))
  status=0
  PYTHONPATH="$ROOT/$PLUGIN_DIR" "$VENV/bin/python" -m pytest "${PYTEST_ARGS[@]}" || status=$?
  report "$status" "$SETUP"
fi

# ---- bpy 5.1+: python3.13 in a Debian 13 (trixie) chroot -----------------------------------
SUDO=()
if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then
    SUDO=(sudo -E)
  else
    echo "bpy $VERSION needs Python 3.13: the Debian 13 chroot needs root (or sudo)" >&2
    exit 2
  fi
fi
CHROOT=$ROOT/build/chroot-trixie
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ ! -f "$CHROOT/.ready" ]; then
  if ! command -v debootstrap >/dev/null; then
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq debootstrap >/dev/null
  fi
  "${SUDO[@]}" rm -rf "$CHROOT"
  # python3.13 plus the shared libraries the bpy wheel links against (libGL, X11 client libs)
  "${SUDO[@]}" debootstrap --variant=minbase \
    --include=python3.13,python3.13-venv,ca-certificates,libgl1,libegl1,libxi6,libxxf86vm1,libxfixes3,libxrender1,libxkbcommon0,libsm6,libice6,libx11-6 \
    trixie "$CHROOT" "$MIRROR" >/dev/null
  "${SUDO[@]}" ln -sf /proc/self/mounts "$CHROOT/etc/mtab" # else Blender warns at start
  "${SUDO[@]}" touch "$CHROOT/.ready"
fi
# DNS and the CA bundle as this machine has them (proxies, private CAs), fresh every run
"${SUDO[@]}" cp -L /etc/resolv.conf "$CHROOT/etc/resolv.conf"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  "${SUDO[@]}" cp -L /etc/ssl/certs/ca-certificates.crt "$CHROOT/etc/ssl/certs/ca-certificates.crt"
fi

CVENV=/opt/venv-bpy-$VERSION
# Everything inside the chroot runs in one private mount namespace: the repository, /proc and
# /dev/shm are mounted there and vanish with it. Proxies pass through; pip's host config does
# not (the chroot has its own /etc).
INNER=$(
  cat <<EOF
set -euo pipefail
mkdir -p "$CHROOT$ROOT" "$CHROOT/proc" "$CHROOT/dev/shm"
mount --bind "$ROOT" "$CHROOT$ROOT"
mount -t proc proc "$CHROOT/proc"
mount -t tmpfs -o mode=1777 tmpfs "$CHROOT/dev/shm"
exec chroot "$CHROOT" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
  \${http_proxy:+http_proxy=\$http_proxy} \${https_proxy:+https_proxy=\$https_proxy} \
  \${no_proxy:+no_proxy=\$no_proxy} PIP_DISABLE_PIP_VERSION_CHECK=1 \
  /bin/bash -c "\$1" inner "\${@:2}"
EOF
)
in_chroot() { "${SUDO[@]}" unshare --mount --propagation private bash -c "$INNER" outer "$@"; }

if [ ! -f "$CHROOT$CVENV/.ready" ]; then
  in_chroot "set -e; [ -x $CVENV/bin/python ] || python3.13 -m venv $CVENV
    $CVENV/bin/python -m pip install -q 'bpy==$VERSION' pytest && touch $CVENV/.ready"
fi
SETUP=$((SECONDS - START))
status=0
in_chroot "cd '$ROOT' && PYTHONPATH='$ROOT/$PLUGIN_DIR' exec $CVENV/bin/python -m pytest \"\$@\"" \
  "${PYTEST_ARGS[@]}" || status=$?
report "$status" "$SETUP"
