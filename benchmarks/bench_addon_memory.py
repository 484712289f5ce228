"""Peak memory and time of a long sound strip in every output mode, in real Blender.

    .venv/bin/python benchmarks/bench_addon_memory.py [--minutes 10]

Each mode runs in a fresh process: PyPI bpy in background mode, the extension installed from
the zip build.py makes (throwaway user folder), the bundled head, a WAV of `--minutes` of
speech (demo/speech.wav repeated) as a sound strip, then `bpy.ops.meshtalk.generate`. Prints
the process's peak resident memory (VmHWM) against the 1 GB target, the generation's wall
time, and the CLI's time for the same audio (`python -m core animate … --out x.pc2`) for
comparison ("about the CLI's time plus Blender's own writing").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_formats import speech  # noqa: E402  (the same long speech clip)

TARGET_MB = 1024.0
MODES = ("SHAPE_KEYS", "MESH_CACHE", "ARKIT")

_CHILD = r"""
import json, os, sys, tempfile, time
home = tempfile.mkdtemp(prefix="meshtalk-bench-")
os.environ.update(HOME=home, BLENDER_USER_RESOURCES=home + "/blender")
sys.path.insert(0, sys.argv[1])
import bpy
def peak_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
zip_path, wav, mode = sys.argv[2], sys.argv[3], sys.argv[4]
bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                         enable_on_install=True)
bpy.ops.wm.read_homefile(use_empty=True)
bpy.ops.wm.save_as_mainfile(filepath=os.path.join(home, "bench.blend"))
bpy.ops.meshtalk.add_head(arkit_keys=mode == 'ARKIT')
head = bpy.context.active_object
bpy.ops.meshtalk.load_audio(filepath=wav)
before = peak_mb()
t0 = time.perf_counter()
result = bpy.ops.meshtalk.generate(object_name=head.name, mode=mode)
wall = time.perf_counter() - t0
print("RESULT " + json.dumps({"mode": mode, "ok": result == {"FINISHED"}, "wall": wall,
      "peak_mb": peak_mb(), "before_mb": before, "frames": bpy.context.scene.frame_end}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "addon"))
    import _extension as ext

    zip_path = ext.built_zip()
    tmp = Path(tempfile.mkdtemp(prefix="meshtalk-bench-"))
    wav = speech(args.minutes, tmp)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "core", "animate", str(wav), "--out", str(tmp / "cli.pc2")],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    cli = time.perf_counter() - t0
    print(f"{args.minutes:g} min of speech; CLI to .pc2: {cli:.1f} s (process start included)")
    print("| mode | peak RSS (MB) | / 1 GB target | generate (s) | / CLI time |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for mode in MODES:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(ROOT), str(zip_path), str(wav), mode],
            capture_output=True,
            text=True,
        )
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
            return 1
        r = json.loads(line[7:])
        worst = max(worst, r["peak_mb"])
        print(
            f"| {mode} | {r['peak_mb']:.0f} | {r['peak_mb'] / TARGET_MB:.2f} | "
            f"{r['wall']:.1f} | {r['wall'] / cli:.2f} |"
        )
    print(f"worst peak {worst:.0f} MB: {'within' if worst < TARGET_MB else 'ABOVE'} the target")
    return 0 if worst < TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
