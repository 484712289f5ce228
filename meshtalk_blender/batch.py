"""Batch generation for pipelines: a list of (blend file, object, audio, mode) jobs.

    blender -b --python <extension folder>/batch.py -- jobs.json
    python -m meshtalk_blender.batch jobs.json          # source checkout, PyPI bpy

jobs.json is a list of objects:
    {"blend": "shot010.blend", "object": "Head", "audio": "line010.wav", "mode": "SHAPE_KEYS",
     "strip": "", "seed": 0, "temperature": 1.0, "lips_only": false, "frame_offset": 0,
     "cache_dir": "//", "output": "shot010_meshtalk.blend"}
Only blend, object and one of audio/strip are required; relative paths are relative to the
jobs file. Each result is saved (default: <blend stem>_meshtalk.blend beside the input), one
JSON line per job is printed, and the exit code is 1 if any job failed.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from pathlib import Path

import bpy

REQUIRED = ("blend", "object")


def _ensure_registered() -> None:
    if hasattr(bpy.types.Scene, "meshtalk"):
        return
    from . import register

    register()


def run_job(job: dict, base: Path) -> dict:
    """Open, generate, save one job; never raises (the report says what went wrong)."""
    from . import pipeline
    from .errors import MeshTalkError
    from .runtime.settings import Settings, SettingsError

    started = time.perf_counter()
    report = {"blend": job.get("blend"), "object": job.get("object"), "ok": False}
    try:
        missing = [k for k in REQUIRED if not job.get(k)]
        if missing or not (job.get("audio") or job.get("strip")):
            raise MeshTalkError(
                f"job needs {', '.join(REQUIRED)} and audio or strip (missing: "
                f"{', '.join(missing) or 'audio/strip'})"
            )
        blend = (base / job["blend"]).resolve()
        if not blend.is_file():
            raise MeshTalkError(f"blend file not found: {blend}")
        bpy.ops.wm.open_mainfile(filepath=str(blend), load_ui=False)
        request = pipeline.Request(
            object_name=job["object"],
            mode=job.get("mode", "SHAPE_KEYS"),
            strip_name=job.get("strip", ""),
            audio_path=str((base / job["audio"]).resolve()) if job.get("audio") else "",
            frame_offset=_whole_number(job, "frame_offset"),
            cache_dir=job.get("cache_dir", "//"),
            settings=Settings.from_mapping(job, "job"),
        )
        report["message"] = pipeline.run(bpy.context, request)
        out = job.get("output")
        out_path = (
            (base / out).resolve() if out else blend.with_name(f"{blend.stem}_meshtalk.blend")
        )
        bpy.ops.wm.save_as_mainfile(filepath=str(out_path))
        report.update(ok=True, output=str(out_path))
    except (MeshTalkError, SettingsError) as exc:
        report["error"] = str(exc)
    except Exception as exc:  # a job must not take the others down
        report["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report


def _whole_number(job: dict, key: str) -> int:
    from .errors import MeshTalkError

    value = job.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MeshTalkError(f"job: {key} must be a whole number, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise MeshTalkError(f"job: {key} must be a whole number, got {value!r}") from None


def run_jobs(jobs_path: str | Path) -> list[dict]:
    jobs_path = Path(jobs_path).resolve()
    jobs = json.loads(jobs_path.read_text())
    if not isinstance(jobs, list):
        raise ValueError(f"{jobs_path}: expected a JSON list of jobs")
    _ensure_registered()
    reports = []
    for i, job in enumerate(jobs):
        report = {"job": i, **run_job(job, jobs_path.parent)}
        print("meshtalk-batch " + json.dumps(report), flush=True)
        reports.append(report)
    return reports


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:  # blender -b --python batch.py -- jobs.json
        argv = argv[argv.index("--") + 1 :]
    if len(argv) != 1:
        print("usage: batch.py jobs.json", file=sys.stderr)
        return 2
    try:
        reports = run_jobs(argv[0])
    except (OSError, ValueError) as exc:
        print(f"meshtalk-batch: {exc}", file=sys.stderr)
        return 2
    failed = sum(not r["ok"] for r in reports)
    print(f"meshtalk-batch: {len(reports) - failed} jobs done, {failed} failed", flush=True)
    return 1 if failed else 0


def _installed_package() -> str:
    """Run as a plain script (blender --python): find and enable the installed extension."""
    import addon_utils

    for mod in addon_utils.modules():
        if mod.__name__.split(".")[-1] == "meshtalk_blender":
            addon_utils.enable(mod.__name__, default_set=False)
            return mod.__name__
    raise SystemExit("the MeshTalk extension is not installed in this Blender")


if __name__ == "__main__":
    if __package__:
        sys.exit(main())
    package = _installed_package()
    sys.exit(importlib.import_module(package + ".batch").main())
