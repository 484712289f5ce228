"""Speed and memory of the numpy runtime, from an audio file to vertices (issue #5).

    .venv/bin/python benchmarks/bench_runtime.py [--weights W] [--repeats 5] [--no-torch]
                                                 [--no-long] [--no-speed] [--json out.json]
    OPENBLAS_CORETYPE=Prescott .venv/bin/python benchmarks/bench_runtime.py ...
        (OpenBLAS's generic kernels, which numpy 1.26 falls back to on CPUs it does not
        know; `import core` otherwise picks kernels from the CPU's flags: core/blas.py)

Prints, for real speech (espeak-ng sentences from core/data/sentences.txt, 22.05 kHz 16-bit
WAV, so decoding and resampling are part of the pipeline):
- 60 s: the real-time factor (audio seconds per second of compute) of file -> vertices
  (`read_audio` + `Animator.animate`), wall clock and CPU time (all threads), min and median
  over --repeats, and the breakdown by stage;
- the torch reference (core/model.py) on the same file in the same run: its encoder and
  decoder, and its reference sampler `AudioPrior.sample` (per frame it re-runs the prior on a
  window of receptive field + 1 = 17 frames: O(T) with a large constant, not O(T^2)), on
  --torch-threads threads (default 1, see the option's help);
- 10 min: peak memory (resident high-water mark of a fresh process) and speed of file ->
  vertices streamed to a PC2 file, through the API (`iter_animate` + `PC2Writer`) and
  through `python -m core animate --format pc2`; and of `Animator.animate` for contrast (it
  holds every frame's vertices).
The machine's load (other processes' CPU use while measuring) is printed with the numbers:
on a shared machine wall-clock ratios move with it, CPU-time ratios much less. Targets:
>= 100x real time end to end (60 s) and < 1 GB peak (10 min).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

__import__("core")  # first: it picks OpenBLAS's kernels before numpy loads, as the CLI does
import numpy as np  # noqa: E402

from core.runtime.audio import n_video_frames, read_audio, resample, to_mono  # noqa: E402
from core.runtime.audio.features import clip_features  # noqa: E402
from core.runtime.blas import blas_threads  # noqa: E402
from core.runtime.network import DEFAULT_CHUNK_FRAMES, Animator  # noqa: E402

TARGET_RTF = 100.0
TARGET_PEAK_MB = 1024.0
VOICES = ("espeak:en-us", "espeak:en+f2", "espeak:en-us+f3", "espeak:en-gb-x-rp+m2")
SPEECH_RATE = 22050
GAP = 0.25  # seconds of silence between sentences


# ---------------------------------------------------------------------------------------
# inputs


def speech_file(seconds: float, folder: Path) -> Path:
    """`seconds` of synthesised speech as a 16-bit mono WAV at 22.05 kHz (cached): sentences
    in file order, the four espeak voices in turn, a short pause between sentences."""
    path = folder / f"speech_{seconds:g}s_{SPEECH_RATE}.wav"
    if path.is_file():
        return path
    from core.data.sentences import load_sentences
    from core.data.voices import synthesize

    folder.mkdir(parents=True, exist_ok=True)
    need, parts, total = int(seconds * SPEECH_RATE), [], 0
    gap = np.zeros(int(GAP * SPEECH_RATE), np.float32)
    for i, sentence in enumerate(load_sentences()):
        utt = synthesize(sentence, VOICES[i % len(VOICES)], timing="engine")
        if utt.sample_rate != SPEECH_RATE:
            raise RuntimeError(f"{utt.voice_id} speaks at {utt.sample_rate} Hz")
        parts += [utt.audio, gap]
        total += len(utt.audio) + len(gap)
        if total >= need:
            break
    pcm = (np.clip(np.concatenate(parts)[:need], -1, 1) * 32767).astype("<i2")
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SPEECH_RATE)
        w.writeframes(pcm.tobytes())
    tmp.replace(path)
    return path


def weights_file(arg: Path | None, folder: Path) -> tuple[Path, str]:
    """The weights to time, and where they come from."""
    if arg is not None:
        return arg, "given"
    trained = ROOT / "core" / "runtime" / "assets" / "meshtalk.npz"
    if trained.is_file():
        return trained, "trained (core/runtime/assets/meshtalk.npz)"
    path = folder / "random_weights.npz"
    subprocess.run(
        [sys.executable, "-m", "core.train.export", "--random", "--out", str(path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return (
        path,
        "random, default size (no bundled network yet: make train)",
    )


# ---------------------------------------------------------------------------------------
# measuring


class Clock:
    """Wall and CPU time (this process, all threads) since the last call."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@contextmanager
def machine_load(report: dict) -> Iterator[None]:
    """Fill `report` with the load average and how busy the other processes kept the machine
    (in cores) while the block ran: its CPU minus ours and our children's."""
    ticks = os.sysconf("SC_CLK_TCK")
    busy0, total0 = _busy_jiffies()
    own0 = sum(os.times()[:4])
    wall0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    yield
    busy1, _ = _busy_jiffies()
    own = sum(os.times()[:4]) - own0
    wall = time.perf_counter() - wall0
    others = max(0.0, (busy1 - busy0) / ticks - own)
    report.update(
        load_1min=[round(load0, 2), round(os.getloadavg()[0], 2)],
        other_processes_cores=round(others / wall, 2) if wall > 0 else 0.0,
        cores=os.cpu_count(),
        total_jiffies=_busy_jiffies()[1] - total0,
    )


def blas_info() -> str:
    """numpy's BLAS and, for OpenBLAS, the CPU kernel it picked at load time (OpenBLAS
    0.3.23 in numpy 1.26 wheels falls back to 'Prescott', its slowest kernels, on CPUs it
    does not know, e.g. recent Intel Xeons; OPENBLAS_CORETYPE overrides)."""
    try:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{config.get('name')} {config.get('version')}"
    except Exception:  # numpy < 1.25 has no dict mode
        name = "unknown BLAS"
    core = None
    libs = Path(np.__file__).parent.parent / "numpy.libs"
    for lib in sorted(libs.glob("*openblas*")) if libs.is_dir() else []:
        handle = ctypes.CDLL(str(lib))
        for symbol in ("openblas_get_corename64_", "scipy_openblas_get_corename64_"):
            fn = getattr(handle, symbol, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                core = fn().decode()
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    forced = f", OPENBLAS_CORETYPE={coretype}" if coretype else ""
    threads = os.environ.get("OPENBLAS_NUM_THREADS")
    threads = f", OPENBLAS_NUM_THREADS={threads}" if threads else ""
    return f"{name}, kernel {core or 'unknown'}{forced}{threads}"


def summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values)}


# ---------------------------------------------------------------------------------------
# the numpy runtime


def end_to_end(anim: Animator, path: Path) -> tuple[float, float, np.ndarray]:
    """File -> vertices (T, V, 3): what `python -m core animate` and the add-on do."""
    clock = Clock()
    samples, rate = read_audio(path)
    verts = anim.animate(samples, sample_rate=rate)
    return (*clock.lap(), verts)


def stages(anim: Animator, path: Path) -> tuple[dict[str, tuple[float, float]], np.ndarray]:
    """The same pipeline with a clock between stages, on one thread: mirrors
    Animator.animate (_stream, _chunks, _features) with OpenBLAS on one thread as it runs,
    chunk by chunk, with the stages' times summed over chunks."""
    cfg, times = anim.config, {}
    clock = Clock()

    def mark(name: str) -> None:
        wall, cpu = clock.lap()
        w0, c0 = times.get(name, (0.0, 0.0))
        times[name] = (w0 + wall, c0 + cpu)

    samples, rate = read_audio(path)
    mark("read WAV")
    audio = resample(to_mono(samples), rate, cfg.sample_rate)
    del samples
    mark(f"mono + resample {rate} -> {cfg.sample_rate} Hz")
    with blas_threads(1):
        features = clip_features(audio, cfg)
        mark(f"audio features ({cfg.front_end})")
        template = anim.default_template
        n_frames = n_video_frames(len(audio), cfg)
        out = np.empty((n_frames, anim.n_vertices, 3), np.float32)
        rows_basis = anim.decoder.output_basis(None, template)
        ident = anim.decoder.identity(template)
        prior_state, decoder_state = anim.prior.initial_state(), anim.decoder.initial_state()
        rng = np.random.default_rng(0)
        mark("setup (identity, output basis)")
        for start in range(0, n_frames, DEFAULT_CHUNK_FRAMES):
            stop = min(n_frames, start + DEFAULT_CHUNK_FRAMES)
            feats = anim._features(features, start, stop)
            mark("audio encoder")
            offsets = anim.prior.logit_offsets(rng, stop - start, anim.temperature_scale)
            mark("Gumbel noise")
            codes = anim.prior.sample_with(feats, prior_state, offsets)
            mark("prior sampling")
            coeffs, decoder_state = anim.decoder.coefficients(codes, ident, decoder_state)
            mark("decoder (LSTMs + MLP)")
            anim.decoder.apply_basis(coeffs, rows_basis, out[start:stop])
            mark("vertices (basis product)")
    return times, out


# ---------------------------------------------------------------------------------------
# the torch reference


def torch_reference(
    weights: Path, path: Path, threads: int
) -> tuple[dict[str, tuple[float, float]], dict]:
    """core/model.py on the same file: numpy front end (the torch model has none), torch
    encoder, its reference sampler, torch decoder + basis, on `threads` threads."""
    import torch

    torch.set_num_threads(threads)

    from core.runtime.audio import log_mel, prepare_audio
    from core.train.export import load_exported
    from core.train.model import codes_to_onehot

    cfg, model, prior = load_exported(weights)
    model.eval()
    prior.eval()
    anim = Animator(weights)
    template = torch.from_numpy(anim.default_template)
    times: dict[str, tuple[float, float]] = {}
    clock = Clock()
    with torch.no_grad():
        samples, rate = read_audio(path)
        audio = prepare_audio(samples, rate, cfg.sample_rate)
        times["read + resample (numpy, shared)"] = clock.lap()
        mel = torch.from_numpy(log_mel(audio, cfg))[None]
        times["log-mel (numpy, shared)"] = clock.lap()
        feats = model.encode_audio(mel, n_video_frames(len(audio), cfg))[0]
        times["audio encoder"] = clock.lap()
        codes = prior.sample(feats, seed=0, temperature=anim.temperature_scale)
        times["prior sampling (reference sampler)"] = clock.lap()
        onehot = codes_to_onehot(codes[None], cfg)
        verts = model.decode(template[None], onehot)[0] + template
        times["decoder + vertices"] = clock.lap()
    info = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "frames": int(verts.shape[0]),
        "codes": codes.numpy(),
    }
    return times, info


# ---------------------------------------------------------------------------------------
# memory for a long file (fresh processes)

# Peak memory is the kernel's high-water mark of the child's own address space (VmHWM; it
# starts afresh at exec). getrusage's ru_maxrss would not do: Linux carries it across exec,
# so a child would report at least the benchmark's own RSS at the time it was started.
_PEAK = """
def _peak_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
"""

_CHILD = (
    _PEAK
    + r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from core.runtime.audio import n_video_frames, prepare_audio, read_audio
from core.runtime.network import DEFAULT_CHUNK_FRAMES, Animator
from core.runtime.outputs import PC2Writer

weights, wav, out, mode = sys.argv[2:6]
anim = Animator(weights)
base = _peak_mb()
t0, c0 = time.perf_counter(), time.process_time()
samples, rate = read_audio(wav)
if mode == "stream":
    audio = prepare_audio(samples, rate, anim.config.sample_rate)
    del samples
    n = n_video_frames(len(audio), anim.config)
    with PC2Writer(out, anim.n_vertices, n) as pc2:
        for _, verts in anim.iter_animate(audio, chunk_frames=DEFAULT_CHUNK_FRAMES):
            pc2.write(verts)
else:
    n = len(anim.animate(samples, sample_rate=rate))
print(json.dumps({"frames": n, "wall": time.perf_counter() - t0,
                  "cpu": time.process_time() - c0, "peak_mb": _peak_mb(), "loaded_mb": base}))
"""
)

# file -> vertices with the `core` package found under argv[1] (this tree or a baseline)
_E2E = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from core.runtime.audio import read_audio
from core.runtime.network import Animator

anim, wav, walls = Animator(sys.argv[2]), sys.argv[3], []
for i in range(int(sys.argv[4]) + 1):  # the first run warms up
    t0 = time.perf_counter()
    samples, rate = read_audio(wav)
    anim.animate(samples, sample_rate=rate)
    walls += [time.perf_counter() - t0] if i else []
print(json.dumps(walls))
"""

# `python -m core animate ...` exactly (runpy is what -m uses), reporting its peak at exit
_CLI = (
    _PEAK
    + r"""
import atexit, runpy, sys
atexit.register(lambda: print(f"PEAK_MB {_peak_mb():.1f}", file=sys.stderr))
sys.argv = ["python -m core", *sys.argv[1:]]
runpy.run_module("core", run_name="__main__", alter_sys=True)
"""
)


def child_api(weights: Path, wav: Path, out: Path, mode: str) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), str(weights), str(wav), str(out), mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout)


def child_cli(weights: Path, wav: Path, out: Path) -> dict:
    """`python -m core animate --format pc2`, timed from outside, peak memory from inside."""
    cmd = [sys.executable, "-c", _CLI, "animate", str(wav), "--out", str(out)]
    cmd += ["--format", "pc2", "--weights", str(weights)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stdout, stderr = proc.stdout.read().decode(), proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"python -m core animate failed: {stderr}")
    peak = float(stderr.split("PEAK_MB")[-1].split()[0])
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": peak,
        "stdout": stdout.strip(),
    }


# ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="default: the bundled network")
    parser.add_argument("--seconds", type=float, default=60.0, help="speed test length")
    parser.add_argument("--long-seconds", type=float, default=600.0, help="memory test length")
    parser.add_argument("--repeats", type=int, default=5, help="end-to-end runs (min, median)")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch reference")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch threads (default 1: the sampler's per-frame work is tiny, and on a shared "
        "machine torch's 2 threads made it ~60x slower, spinning on each other)",
    )
    parser.add_argument("--no-long", action="store_true", help="skip the 10-minute runs")
    parser.add_argument("--no-speed", action="store_true", help="only the 10-minute runs")
    parser.add_argument(
        "--cache", type=Path, default=ROOT / ".cache" / "bench", help="speech WAVs (reused)"
    )
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--baseline", metavar="REV", help="also time commit REV's runtime")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="meshtalk-bench-"))
    weights, origin = weights_file(args.weights, work)
    wav = speech_file(args.seconds, args.cache)
    report: dict = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_info(),
        "weights": f"{weights} ({origin})",
        "speech": f"{wav} ({_seconds(wav):.1f} s, {SPEECH_RATE} Hz 16-bit mono)",
    }
    for key in ("date", "machine", "python", "numpy", "blas", "weights", "speech"):
        print(f"{key:8s} {report[key]}")
    if "kernel Prescott" in report["blas"] and "OPENBLAS_CORETYPE" not in os.environ:
        flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
        better = "SkylakeX" if " avx512f" in flags else "Haswell" if " avx2" in flags else None
        if better:
            print(
                f"note     OpenBLAS did not recognise this CPU and uses its generic kernels; "
                f"OPENBLAS_CORETYPE={better} selects the right ones (rerun with it to compare)"
            )
    if not args.no_speed:
        speed(report, weights, wav, args.repeats)
        if not args.no_torch:
            torch_comparison(report, weights, wav, args.torch_threads)
    if args.baseline:
        baseline(report, weights, wav, args.baseline, args.repeats, work)
    if not args.no_long:
        long_file(report, weights, speech_file(args.long_seconds, args.cache), work)
    verdict(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=_jsonable))
    return 0


def speed(report: dict, weights: Path, wav: Path, repeats: int) -> None:
    """60 s, file -> vertices: end to end (as shipped, with the worker thread that overlaps
    chunks, and on one thread), and stage by stage."""
    secs = _seconds(wav)
    anims = {
        "as shipped (worker thread)": Animator(weights),
        "one thread (overlap=False)": Animator(weights, overlap=False),
    }
    for anim in anims.values():
        end_to_end(anim, wav)  # warm-up: page cache, first-call allocations
    load: dict = {}
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in anims}
    with machine_load(load):
        for _ in range(repeats):  # interleaved: both see the same load
            for name, anim in anims.items():
                runs[name].append(end_to_end(anim, wav)[:2])
        staged = [stages(anims["as shipped (worker thread)"], wav) for _ in range(repeats)]
    report["load_60s"] = load
    print(
        f"\nload     1-min average {load['load_1min'][0]} -> {load['load_1min'][1]}; other "
        f"processes kept {load['other_processes_cores']} of {load['cores']} cores busy"
    )
    n_frames = len(staged[0][1])
    print(f"\nnumpy runtime, {secs:.0f} s: file -> vertices ({n_frames} frames), {repeats} runs")
    print(f"  {'':54s} {'best':>8s} {'median':>8s}   real-time factor (best, median)")
    report["numpy_60s"] = {}
    for name, rs in runs.items():
        entry = {}
        for what, i in (("wall", 0), ("cpu", 1)):
            values = [r[i] for r in rs]
            entry[what] = summary(values)
            entry[f"rtf_{what}"] = {k: secs / v for k, v in entry[what].items()}
            label = f"{name}, {'wall clock' if what == 'wall' else 'CPU time (all threads)'}"
            print(
                f"  {label:54s} {entry[what]['min']:7.3f}s {entry[what]['median']:7.3f}s"
                f"   {entry[f'rtf_{what}']['min']:5.0f}x {entry[f'rtf_{what}']['median']:5.0f}x"
            )
        report["numpy_60s"][name] = entry
    names = list(staged[0][0])
    rows = {n: (min(s[0][n][0] for s in staged), min(s[0][n][1] for s in staged)) for n in names}
    report["numpy_stages"] = rows
    total_wall = sum(v[0] for v in rows.values())
    total_cpu = sum(v[1] for v in rows.values())
    print(
        f"\n  by stage, one after the other (min over {repeats} runs)"
        f"\n    {'':36s} {'wall':>8s} {'CPU':>8s} {'share':>6s}"
    )
    for name, (wall, cpu) in rows.items():
        print(f"    {name:36s} {wall * 1e3:6.0f}ms {cpu * 1e3:6.0f}ms {wall / total_wall:6.0%}")
    print(f"    {'sum':36s} {total_wall * 1e3:6.0f}ms {total_cpu * 1e3:6.0f}ms")


def torch_comparison(report: dict, weights: Path, wav: Path, threads: int) -> None:
    secs = _seconds(wav)
    load: dict = {}
    with machine_load(load):
        t_stages, info = torch_reference(weights, wav, threads)
    t_wall = sum(v[0] for v in t_stages.values())
    t_cpu = sum(v[1] for v in t_stages.values())
    same = bool(np.array_equal(info["codes"], _numpy_codes(Animator(weights), wav)))
    numpy_best = report["numpy_60s"]["as shipped (worker thread)"]["wall"]["min"]
    report["torch_60s"] = {
        "stages": t_stages,
        "wall": t_wall,
        "cpu": t_cpu,
        "rtf_wall": secs / t_wall,
        "rtf_cpu": secs / t_cpu,
        "torch": info["torch"],
        "threads": info["threads"],
        "same_codes_as_numpy": same,
        "load": load,
    }
    print(
        f"\ntorch reference (core/model.py; torch {info['torch']}, {info['threads']} threads), "
        f"one run; other processes kept {load['other_processes_cores']} cores busy"
    )
    print(f"    {'':40s} {'wall':>8s} {'CPU':>8s}")
    for name, (wall, cpu) in t_stages.items():
        print(f"    {name:40s} {wall * 1e3:6.0f}ms {cpu * 1e3:6.0f}ms")
    print(
        f"  file -> vertices {t_wall:.2f} s wall = {secs / t_wall:.1f}x real time "
        f"({t_cpu:.2f} s CPU); the numpy runtime is {t_wall / numpy_best:.0f}x faster; "
        f"same codes as the runtime for seed 0: {same}"
    )


def long_file(report: dict, weights: Path, wav: Path, work: Path) -> None:
    secs = _seconds(wav)
    rows = {}
    load: dict = {}
    with machine_load(load):
        rows["API: iter_animate -> PC2Writer (streamed)"] = child_api(
            weights, wav, work / "api.pc2", "stream"
        )
        rows["CLI: python -m core animate --format pc2"] = child_cli(weights, wav, work / "cli.pc2")
        rows["API: Animator.animate (all vertices in memory)"] = child_api(
            weights, wav, work / "unused.pc2", "memory"
        )
    for f in work.glob("*.pc2"):
        f.unlink()
    report["long"] = {"seconds": secs, "runs": rows, "load": load}
    print(
        f"\n{secs / 60:.0f} minutes of speech ({wav.name}), a fresh process each; other "
        f"processes kept {load['other_processes_cores']} cores busy"
    )
    print(f"  {'':50s} {'peak RSS':>9s} {'wall':>8s} {'x real':>7s} {'CPU':>8s}")
    for name, r in rows.items():
        print(
            f"  {name:50s} {r['peak_mb']:7.0f}MB {r['wall']:7.2f}s "
            f"{secs / r['wall']:6.0f}x {r['cpu']:7.2f}s"
        )
    loaded = rows["API: iter_animate -> PC2Writer (streamed)"]["loaded_mb"]
    print(f"  (of which numpy + the loaded network: {loaded:.0f} MB)")


def baseline(report: dict, weights: Path, wav: Path, rev: str, repeats: int, work: Path) -> None:
    """This tree against commit `rev` (its `core/` extracted with git archive), alternating
    fresh processes three times so both see the same load."""
    old = work / "baseline"
    old.mkdir()
    archive = subprocess.run(
        ["git", "archive", rev, "core"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    runs: dict[str, list[float]] = {rev: [], "this tree": []}
    for _ in range(3):
        for name, root in ((rev, old), ("this tree", ROOT)):
            res = subprocess.run(
                [sys.executable, "-c", _E2E, str(root), str(weights), str(wav), str(repeats)],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[name] += json.loads(res.stdout)
    secs = _seconds(wav)
    report["baseline"] = {name: summary(v) for name, v in runs.items()}
    print(f"\nagainst {rev} (file -> vertices, {3 * repeats} runs each, alternating processes)")
    for name, v in runs.items():
        best, med = min(v), statistics.median(v)
        print(f"  {name:20s} best {best:.3f}s ({secs / best:.0f}x)  median {med:.3f}s")
    best = min(runs["this tree"]) / min(runs[rev])
    median = statistics.median(runs["this tree"]) / statistics.median(runs[rev])
    print(f"  this tree takes {best:.0%} (best runs) / {median:.0%} (medians) of {rev}'s time")


def verdict(report: dict) -> None:
    if "numpy_60s" in report:
        e2e = report["numpy_60s"]["as shipped (worker thread)"]
        best = e2e["rtf_wall"]["min"]
        print(
            f"\nend to end {best:.0f}x real time (best run; median "
            f"{e2e['rtf_wall']['median']:.0f}x; CPU time {e2e['rtf_cpu']['min']:.0f}x): "
            + ("meets" if best >= TARGET_RTF else "MISSES")
            + f" the {TARGET_RTF:.0f}x target"
        )
    if "long" in report:
        peak = report["long"]["runs"]["CLI: python -m core animate --format pc2"]["peak_mb"]
        print(
            f"10-minute peak (streamed, CLI) {peak:.0f} MB: "
            + ("meets" if peak < TARGET_PEAK_MB else "MISSES")
            + f" the {TARGET_PEAK_MB / 1024:.0f} GB target"
        )


def _seconds(wav: Path) -> float:
    with wave.open(str(wav)) as w:
        return w.getnframes() / w.getframerate()


def _numpy_codes(anim: Animator, wav: Path) -> np.ndarray:
    samples, rate = read_audio(wav)
    return anim.coefficients(samples, sample_rate=rate)[1]


def _jsonable(x: object) -> object:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


if __name__ == "__main__":
    sys.exit(main())
