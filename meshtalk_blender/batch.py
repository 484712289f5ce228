"""Batch generation for pipelines: a list of (blend file, object, audio, mode) jobs.

    blender -b --python <extension folder>/batch.py -- jobs.json
    python -m meshtalk_blender.batch jobs.json          # source checkout, PyPI bpy

jobs.json is a list of objects:
    {"blend": "shot010.blend", "object": "Head", "audio": "line010.wav", "mode": "SHAPE_KEYS",
     "strip": "", "seed": 0, "temperature": 1.0, "lips_only": false, "frame_offset": 0,
     "cache_dir": "//", "output": "shot010_meshtalk.blend", "extend_scene": true}
Only blend, object and one of audio/strip are required; relative paths are relative to the
jobs file. An `audio` file is added to the scene as a sound strip at its current frame (the
job's start frame), so the saved .blend plays what the face says. Each result is saved
(default: <blend stem>_meshtalk.blend beside the input), one JSON line per job is printed,
and the exit code is 1 if any job failed; a bad value fails its job with one line.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

import bpy

if TYPE_CHECKING:
    from . import pipeline

REQUIRED = ("blend", "object")
TEXT_KEYS = ("blend", "object", "audio", "strip", "mode", "cache_dir", "output")
SETTING_KEYS = ("seed", "temperature", "lips_only", "mouth_strength", "upper_strength", "weights")
KNOWN_KEYS = (*TEXT_KEYS, *SETTING_KEYS, "frame_offset", "extend_scene")


def _ensure_registered() -> None:
    if hasattr(bpy.types.Scene, "meshtalk"):
        return
    from . import register

    register()


def run_job(job: dict, base: Path) -> dict:
    """Open, generate, save one job; never raises (the report says what went wrong). Every
    value is checked before the .blend is opened, so a typo costs nothing."""
    from . import pipeline
    from .errors import MeshTalkError
    from .runtime.settings import SettingsError

    started = time.perf_counter()
    report: dict = {"blend": None, "object": None, "ok": False}
    try:
        if not isinstance(job, dict):
            raise MeshTalkError(f"job: expected an object {{...}}, got {job!r}")
        report.update(blend=job.get("blend"), object=job.get("object"))
        request, blend, out_path = _request(job, base)
        try:
            bpy.ops.wm.open_mainfile(filepath=str(blend), load_ui=False)
        except RuntimeError as exc:
            raise MeshTalkError(f"cannot open {blend}: {_blender_reason(exc)}") from None
        if job.get("audio"):
            request.strip_name, note = _audio_strip(bpy.context.scene, Path(request.audio_path))
            request.audio_path = "" if request.strip_name else request.audio_path
            if note:
                report["note"] = note
        report["message"] = pipeline.run(bpy.context, request)
        try:
            bpy.ops.wm.save_as_mainfile(filepath=str(out_path))
        except RuntimeError as exc:
            raise MeshTalkError(f"cannot write {out_path}: {_blender_reason(exc)}") from None
        report.update(ok=True, output=str(out_path))
    except (MeshTalkError, SettingsError) as exc:
        report["error"] = str(exc)
    except Exception as exc:  # a job must not take the others down
        report["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report


def _request(job: dict, base: Path) -> tuple[pipeline.Request, Path, Path]:
    """(pipeline.Request, the .blend to open, where to save) from a job, or MeshTalkError /
    SettingsError naming the key that is wrong."""
    from . import pipeline
    from .errors import MeshTalkError
    from .runtime.settings import Settings

    unknown = sorted(str(k) for k in job if k not in KNOWN_KEYS)
    if unknown:
        raise MeshTalkError(
            f"job: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(known: {', '.join(KNOWN_KEYS)})"
        )
    for key in TEXT_KEYS:
        if key in job and job[key] is not None and not isinstance(job[key], str):
            raise MeshTalkError(f"job: {key} must be text, got {job[key]!r}")
    missing = [k for k in REQUIRED if not job.get(k)]
    if missing or not (job.get("audio") or job.get("strip")):
        raise MeshTalkError(
            f"job needs {', '.join(REQUIRED)} and audio or strip (missing: "
            f"{', '.join(missing) or 'audio/strip'})"
        )
    if job.get("audio") and job.get("strip"):
        raise MeshTalkError("job: give audio or strip, not both")
    settings = Settings.from_mapping(
        {k: job[k] for k in SETTING_KEYS if k in job}
        | ({"weights": str(base / job["weights"])} if isinstance(job.get("weights"), str) else {}),
        "job",
    )
    blend = (base / job["blend"]).resolve()
    if not blend.is_file():
        raise MeshTalkError(f"blend file not found: {blend}")
    cache_dir = job.get("cache_dir") or "//"
    if not cache_dir.startswith("//"):  # '//': beside the .blend, as in the panel
        cache_dir = str((base / cache_dir).resolve())
    out = job.get("output")
    out_path = (base / out).resolve() if out else blend.with_name(f"{blend.stem}_meshtalk.blend")
    request = pipeline.Request(
        object_name=job["object"],
        mode=job.get("mode") or "SHAPE_KEYS",
        strip_name=job.get("strip") or "",
        audio_path=str((base / job["audio"]).resolve()) if job.get("audio") else "",
        frame_offset=_whole_number(job, "frame_offset"),
        cache_dir=cache_dir,
        settings=settings,
        extend_scene=_flag(job, "extend_scene", True),
    )
    return request, blend, out_path


def _audio_strip(scene: bpy.types.Scene, path: Path) -> tuple[str, str]:
    """(sound strip name, note): the job's audio as a sound strip at the scene's current
    frame (the job's start frame), so the saved .blend plays it; the strip already there if
    the .blend has this file at this frame. ('', why) where this Blender cannot add one."""
    from . import audio_source, compat
    from .errors import MeshTalkError

    frame = scene.frame_current
    for strip in audio_source.sound_strips(scene):
        try:
            same = audio_source.strip_path(strip) == path
        except MeshTalkError:  # no sound, or a packed one: not this file
            same = False
        if same and int(compat.strip_content_start(strip)) == frame:
            return strip.name, ""
    if not bpy.app.build_options.audaspace:
        return "", "this Blender has no audio support: no sound strip was added"
    channel = compat.free_channel(scene, frame, frame + 1)
    try:
        strip = compat.new_sound_strip(scene, path.stem, str(path), channel, frame)
    except RuntimeError as exc:
        return "", f"no sound strip was added ({_blender_reason(exc)})"
    return strip.name, ""


def _blender_reason(exc: RuntimeError) -> str:
    """An operator's RuntimeError as its message alone ('Error: Cannot open …' → 'Cannot …')."""
    text = str(exc).strip().removeprefix("Error:").strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _flag(job: dict, key: str, default: bool) -> bool:
    from .errors import MeshTalkError

    value = job.get(key, default)
    if not isinstance(value, bool):
        raise MeshTalkError(f"job: {key} must be true or false, got {value!r}")
    return value


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
