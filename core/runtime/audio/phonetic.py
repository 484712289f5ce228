"""A speaker-independent phonetic front end: 16 kHz audio -> phone posteriors + loudness.

Why: a network trained on a handful of synthetic voices learns those voices from log-mel
features as much as the phones in them, and transfers poorly to real speakers. The phone
scores of pocketsphinx's en-us acoustic model (trained on many real speakers) describe *what*
is said rather than *who* says it. This module re-implements, in numpy alone, the model's
front end exactly as pocketsphinx 5.1.1 computes it and scores the model's 126
context-independent (CI) senones, so the runtime never needs pocketsphinx (nor scipy, torch
or librosa) and runs inside Blender (numpy 1.26 or 2.x).

Stages (`phonetic_features` runs them all):

1. `sphinx_cepstra`: pre-emphasis 0.97, 410-sample Hamming frames every 160 samples, 512-point
   power spectrum, 25 unit-area triangular mel filters (130-6800 Hz, edges rounded to FFT
   bins, built as fe_sigproc.c does), pocketsphinx's spectral noise removal (fe_noise.c,
   exactly, but vectorised over frames: `remove_noise`), log(x + 1e-4), orthonormal DCT-II
   to 13 cepstra, lifter 22. `phonetic_features` first adds pocketsphinx's 1-LSB `-dither`
   (a fixed pattern) so that digital silence behaves like a quiet room.
2. `batch_cmn` (the mean over frames with c0 >= 0, as cmn.c) and `dynamic_features`
   (`1s_c_d_dd`: c, c(t+2)-c(t-2), (c(t+3)-c(t-1))-(c(t+1)-c(t-3)), edges replicated).
3. `senone_scores`: log-likelihoods of the 126 CI senones (42 phones x 3 states), each a
   mixture of its phone's 128 diagonal Gaussians per stream (13 cepstra / 13 deltas / 13
   double deltas), as matrix products over blocks of frames; by default on every 2nd frame.
4. `frame_posteriors` (per-frame softmax) or `loop_posteriors` (forward-backward over a CI
   phone loop with the model's own transition matrices): 40 classes, the 39 ARPAbet phones
   and SIL (the fillers +NSN+ and +SPN+ count as SIL).
5. `loudness`: log energy of the noise-suppressed spectrum, minus its mean over the clip's
   speech frames, so the jaw can still follow emphasis.

Timing: frame i covers samples [160 i, 160 i + 410) of the 16 kHz input (zeros past the end),
so it is centred on sample 160 i + 204.5 (`frame_centers`), 12.8 ms after a centred 10-ms
STFT frame i. There are `n_phonetic_frames(n)` frames: the full ones and, like pocketsphinx,
one last zero-padded frame; pocketsphinx's frame i is this frame i. Batch CMN needs the
whole clip (offline use).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "assets" / "acoustic_model.npz"

SAMPLE_RATE = 16000
FRAME_SIZE = 410  # samples: 25.625 ms
FRAME_SHIFT = 160  # samples: 10 ms
PCM_SCALE = 32768.0  # sphinx works on int16 sample values; inputs are floats in [-1, 1]
_MAX_LEVEL = 64.0  # inputs are clipped to +-64 x full scale: anything finite stays finite

ARPABET = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G",
    "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T",
    "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
PHONE_CLASSES = (*ARPABET, "SIL")  # the posteriorgram's columns, in this order
SIL = len(ARPABET)  # column of SIL
LOUDNESS = len(PHONE_CLASSES)  # column of the loudness channel
N_PHONETIC_FEATURES = LOUDNESS + 1

# fe_noise.c's constants (pocketsphinx 5.1.1)
_NOISE_SMOOTH_WINDOW = 4
_LAMBDA_POWER = 0.7
_LAMBDA_A = 0.995  # lower envelope rises this slowly...
_LAMBDA_B = 0.5  # ... and falls this fast
_LAMBDA_T = 0.85
_MU_T = 0.2
_MAX_GAIN = 20.0
# Senones are floored this far below a frame's best (29.5 nats): ptm_mgau.c clamps each
# density at MAX_NEG_ASCR = 96 steps of ln(1.0001) * 2^10 below its stream's best, 3 streams.
SCORE_FLOOR = 3 * 96 * math.log(1.0001) * 2**10
DEFAULT_SCALE = 0.3  # acoustic scale of the posteriors (log-likelihoods x scale)
DEFAULT_INSERTION_PENALTY = 1.0  # phone loop: probability factor on each phone change
DEFAULT_GMM_STRIDE = 2  # Gaussians on every 2nd frame (see phonetic_features)
LOUDNESS_FLOOR = -10.0  # nats below the speech mean (-43 dB): digital silence sits here

_FFT_BLOCK = 256  # frames per FFT block (temporaries stay in cache)
_GMM_BLOCK = 128  # frames per Gaussian block
_ANCHORS = 4  # Gaussians per codebook and stream that bound a frame's best density
_EXP_FLOOR = -60.0  # log-densities (relative to the offset) below this count as this


@dataclass(frozen=True, eq=False)
class AcousticModel:
    """pocketsphinx's en-us model as the phonetic front end uses it (`load_acoustic_model`).

    The Gaussians are stored as matrix-product weights: a stream's log-densities (minus an
    offset m) are `[x*x, x, 1, -m] @ gauss[stream]`."""

    phones: tuple[str, ...]  # the 42 CI phones, mdef order
    phone_class: np.ndarray  # (42,) column of PHONE_CLASSES each CI phone counts towards
    preemphasis: float
    fft_size: int
    window: np.ndarray  # (410,) float64 Hamming window
    mel_lo: int  # first FFT bin any mel filter uses
    mel_weights: np.ndarray  # (bins from mel_lo, 25) float64 filterbank
    dct: np.ndarray  # (25, 13) float64 orthonormal DCT-II times the lifter
    log_floor: float
    gauss: np.ndarray  # (3, 28, 42*128) float32
    anchors: np.ndarray  # (3, 27, 42*_ANCHORS) float32: a few Gaussians' weights
    mixw: np.ndarray  # (3, 42, 128, 3) float32 mixture weights (stream, phone, gaussian, state)
    tmat: np.ndarray  # (42, 3, 4) float64 transition probabilities (state -> state | exit)

    @property
    def n_phones(self) -> int:
        return len(self.phones)


# ---------------------------------------------------------------------------------------
# loading


_loaded: dict[tuple[str, int], AcousticModel] = {}


def load_acoustic_model(path: str | Path = DEFAULT_MODEL) -> AcousticModel:
    """The asset (core/assets_build/acoustic_model.py writes it) with the front end's tables
    and the Gaussians' matrix-product form precomputed (~25 ms): read once per process and
    file version, so calling it for every clip costs nothing."""
    path = Path(path).resolve()
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = _read_acoustic_model(path)
    return _loaded[key]


def _read_acoustic_model(path: Path) -> AcousticModel:
    with np.load(path) as z:
        a = {k: z[k] for k in z.files}
    fixed = {"sample_rate": SAMPLE_RATE, "frame_size": FRAME_SIZE, "frame_shift": FRAME_SHIFT}
    for name, want in fixed.items():
        if int(a[name]) != want:
            raise ValueError(f"{path}: {name} {int(a[name])}, the front end needs {want}")
    phones = tuple(str(p) for p in a["phones"])
    fft_size = int(a["fft_size"])
    fb = mel_filterbank(
        SAMPLE_RATE, fft_size, int(a["n_filters"]), float(a["lower_hz"]), float(a["upper_hz"])
    )
    used = np.flatnonzero(fb.any(axis=1))
    mel_lo, mel_hi = int(used[0]), int(used[-1]) + 1
    means = a["means"].astype(np.float64)
    variances = a["variances"].astype(np.float64)
    weights = np.exp(-a["mixw"].astype(np.float64) * float(a["mixw_step_nats"]))
    return AcousticModel(
        phones=phones,
        phone_class=_phone_classes(phones, a["filler"]),
        preemphasis=float(np.float32(a["preemphasis"])),  # fe_t stores it as float32
        fft_size=fft_size,
        window=np.hamming(FRAME_SIZE),
        mel_lo=mel_lo,
        mel_weights=np.ascontiguousarray(fb[mel_lo:mel_hi]),
        dct=dct_matrix(int(a["n_filters"]), int(a["n_cepstra"]), int(a["lifter"])),
        log_floor=float(a["log_floor"]),
        gauss=_gaussian_weights(means, variances),
        anchors=_anchor_weights(means, variances, weights),
        mixw=np.ascontiguousarray(weights.transpose(2, 0, 3, 1)).astype(np.float32),
        tmat=a["tmat"].astype(np.float64),
    )


def _phone_classes(phones: tuple[str, ...], filler: np.ndarray) -> np.ndarray:
    """Column of PHONE_CLASSES for each CI phone: fillers (and SIL) -> SIL."""
    out = []
    for name, is_filler in zip(phones, filler, strict=True):
        out.append(SIL if is_filler or name == "SIL" else PHONE_CLASSES.index(name))
    return np.array(out, dtype=np.int64)


def mel_filterbank(
    sample_rate: int, fft_size: int, n_filters: int, lower_hz: float, upper_hz: float
) -> np.ndarray:
    """(fft_size//2 + 1, n_filters) unit-area triangles exactly as fe_build_melfilters makes
    them (float32 arithmetic, edges rounded to FFT bins, the Nyquist bin never used)."""
    f32 = np.float32

    def mel(hz: np.float32) -> np.float32:
        return f32(2595.0 * math.log10(1.0 + float(hz) / 700.0))

    def mel_inv(m: np.float32) -> np.float32:
        return f32(700.0 * (10.0 ** (float(m) / 2595.0) - 1.0))

    melmin, melmax = mel(f32(lower_hz)), mel(f32(upper_hz))
    melbw = f32((melmax - melmin) / f32(n_filters + 1))
    fftfreq = f32(sample_rate / f32(fft_size))
    fb = np.zeros((fft_size // 2 + 1, n_filters))
    for i in range(n_filters):
        edges = []
        for j in range(3):
            hz = mel_inv(f32(f32(i + j) * melbw + melmin))
            edges.append(f32(f32(int(hz / fftfreq + f32(0.5))) * fftfreq))
        lo, mid, hi = edges
        for k in range(fft_size // 2):
            hz = f32(f32(k) * fftfreq)
            if lo <= hz <= hi:
                area = f32(f32(2) / (hi - lo))
                rise = f32(f32((hz - lo) / (mid - lo)) * area)
                fall = f32(f32((hi - hz) / (hi - mid)) * area)
                fb[k, i] = min(rise, fall)
    return fb


def dct_matrix(n_filters: int, n_cepstra: int, lifter: int) -> np.ndarray:
    """(n_filters, n_cepstra) orthonormal DCT-II with the sine lifter folded in; the cosines
    and factors are float32 as fe_compute_melcosine stores them."""
    i = np.arange(n_cepstra)[:, None]
    j = np.arange(n_filters)[None, :]
    cos = np.cos(np.pi / n_filters * i * (j + 0.5)).astype(np.float32).astype(np.float64)
    cos[0] *= float(np.float32(math.sqrt(1.0 / n_filters)))
    cos[1:] *= float(np.float32(math.sqrt(2.0 / n_filters)))
    lift = np.float32(1 + lifter / 2 * np.sin(np.arange(n_cepstra) * np.pi / lifter))
    return np.ascontiguousarray((cos * lift.astype(np.float64)[:, None]).T)


def _gaussian_weights(means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """(streams, 28, phones*gaussians) float32 so that [x*x, x, 1, -m] @ w is each diagonal
    Gaussian's log-density minus m: -x^2/2v + x mu/v - (mu^2/v + log 2 pi v)/2."""
    n_cb, n_streams, n_g, dim = means.shape
    out = np.empty((n_streams, 2 * dim + 2, n_cb * n_g))
    for s in range(n_streams):
        mu = means[:, s].reshape(-1, dim)
        var = variances[:, s].reshape(-1, dim)
        out[s, :dim] = (-0.5 / var).T
        out[s, dim : 2 * dim] = (mu / var).T
        out[s, 2 * dim] = -0.5 * (mu**2 / var + np.log(2 * np.pi * var)).sum(axis=1)
        out[s, 2 * dim + 1] = 1.0
    return out.astype(np.float32)


def _anchor_weights(means: np.ndarray, variances: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weights of each codebook's _ANCHORS heaviest Gaussians per stream (27 rows: no
    offset): their best density is a cheap lower bound on the frame's best density."""
    n_cb, n_streams, n_g, dim = means.shape
    heaviest = np.argsort(-weights.max(axis=1), axis=-1, kind="stable")[..., :_ANCHORS]
    full = _gaussian_weights(means, variances)[:, : 2 * dim + 1]
    cols = (np.arange(n_cb)[:, None, None] * n_g + heaviest).transpose(1, 0, 2)
    return np.ascontiguousarray(np.stack([full[s][:, cols[s].ravel()] for s in range(n_streams)]))


# ---------------------------------------------------------------------------------------
# frames and timing


def n_phonetic_frames(n_samples: int) -> int:
    """Frames for a clip of n_samples: every full 410-sample frame at a 160-sample hop, then
    one zero-padded frame (pocketsphinx's last, partial frame); 1 for shorter clips."""
    n = int(n_samples)
    if n <= 0:
        return 0
    if n < FRAME_SIZE:
        return 1
    return (n - FRAME_SIZE) // FRAME_SHIFT + 2


def frame_centers(n_frames: int) -> np.ndarray:
    """(n_frames,) the sample each frame's window is centred on: 160 i + 204.5."""
    return np.arange(n_frames) * float(FRAME_SHIFT) + (FRAME_SIZE - 1) / 2.0


def _frame_block(x: np.ndarray, f0: int, f1: int, preemphasis: float, dither: bool):
    """(f1 - f0, 410) float64 frames f0..f1-1 of the pre-emphasised int16-scale signal
    (x[-1] = 0; zeros past the end, not pre-emphasised, as pocketsphinx pads its last
    frame; NaN -> 0, +-inf -> +-full scale, clipped at +-_MAX_LEVEL). Only this block's
    samples are converted, so a long clip needs no full-length float64 copies."""
    s0, s1 = f0 * FRAME_SHIFT, (f1 - 1) * FRAME_SHIFT + FRAME_SIZE
    lo, hi = max(s0 - 1, 0), min(s1, len(x))  # one sample before the block: the prior
    raw = np.zeros(s1 - s0 + 1)
    part = raw[lo - s0 + 1 : hi - s0 + 1]
    part[:] = x[lo:hi]
    if not np.isfinite(part).all() or np.abs(part).max(initial=0.0) > _MAX_LEVEL:
        np.clip(np.nan_to_num(part, posinf=1.0, neginf=-1.0), -_MAX_LEVEL, _MAX_LEVEL, out=part)
    part *= PCM_SCALE
    if dither:
        part += _dither(lo, hi)
    emphasised = raw[1:] - preemphasis * raw[:-1]
    emphasised[max(0, len(x) - s0) :] = 0.0
    return np.lib.stride_tricks.sliding_window_view(emphasised, FRAME_SIZE)[::FRAME_SHIFT]


_DITHER_PERIOD = 1 << 16
_dither_pattern: list[np.ndarray] = []


def _dither(start: int, stop: int) -> np.ndarray:
    """pocketsphinx's `-dither` for samples start..stop-1: +1 (int16 units) on a random
    quarter of the samples, here a fixed pattern (seeded once, repeating every 4 s) so the
    same audio always gives the same features. Digital silence (synthesised speech has it,
    no microphone does) otherwise gives log(1e-4) frames that batch CMN turns into
    outliers no phone model fits."""
    if not _dither_pattern:
        rng = np.random.default_rng(20261204)
        pattern = (rng.random(_DITHER_PERIOD) < 0.25).astype(np.float64)
        _dither_pattern.append(np.concatenate([pattern, pattern]))  # any window is a slice
    if stop - start > _DITHER_PERIOD:
        return _dither_pattern[0][np.arange(start, stop) % _DITHER_PERIOD]
    first = start % _DITHER_PERIOD
    return _dither_pattern[0][first : first + stop - start]


# ---------------------------------------------------------------------------------------
# stage 1: cepstra


def mel_power(
    audio16k: np.ndarray, model: AcousticModel, dither: bool = False, workers: int = 1
) -> np.ndarray:
    """(n_frames, 25) float64 mel filterbank power of each frame, before noise removal, with
    pocketsphinx's `-dither` if asked (`_dither`). `workers` threads take a contiguous part
    of the frames each (numpy's FFT releases the GIL): the same numbers on any count."""
    x = np.asarray(audio16k).reshape(-1)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"expected float samples in [-1, 1], got {x.dtype}")
    n_frames = n_phonetic_frames(len(x))
    out = np.empty((n_frames, model.mel_weights.shape[1]))

    n_bins = model.mel_weights.shape[0]

    def fill(starts: range) -> None:
        padded = np.zeros((min(n_frames, _FFT_BLOCK), model.fft_size))  # zeros past the window
        for f0 in starts:
            f1 = min(n_frames, f0 + _FFT_BLOCK)
            windowed = padded[: f1 - f0]
            frames = _frame_block(x, f0, f1, model.preemphasis, dither)
            np.multiply(frames, model.window, out=windowed[:, :FRAME_SIZE])
            spec = np.fft.rfft(windowed)[:, model.mel_lo : model.mel_lo + n_bins]
            power = spec.real**2
            power += spec.imag**2
            np.matmul(power, model.mel_weights, out=out[f0:f1])

    in_shares(fill, range(0, n_frames, _FFT_BLOCK), workers, "meshtalk-fft")
    return out


def in_shares(work: Callable[[range], None], blocks: range, workers: int, name: str) -> None:
    """work(share) for `workers` contiguous shares of `blocks`, each on its own thread (the
    work must release the GIL to gain from it: matrix products, FFTs, exp); inline for
    one worker or one block."""
    size = max(1, -(-len(blocks) // max(1, workers)))
    shares = [blocks[i : i + size] for i in range(0, len(blocks), size)]
    if len(shares) <= 1:
        work(blocks)
        return
    with ThreadPoolExecutor(len(shares), thread_name_prefix=name) as pool:
        list(pool.map(work, shares))


def sphinx_cepstra(
    audio16k: np.ndarray, model: AcousticModel, noise_removal: bool = True
) -> np.ndarray:
    """(n_frames, 13) float32 cepstra before CMN, as pocketsphinx's front end computes them
    (its `-mfclogdir` files) from int16 samples = audio16k * 32768."""
    mel = mel_power(audio16k, model)
    return cepstra_from_mel(remove_noise(mel) if noise_removal else mel, model)


def cepstra_from_mel(mel: np.ndarray, model: AcousticModel) -> np.ndarray:
    """(n_frames, 13) float32: log(mel + 1e-4), orthonormal DCT-II, lifter."""
    return (np.log(mel + model.log_floor) @ model.dct).astype(np.float32)


# ---------------------------------------------------------------------------------------
# spectral noise removal (fe_noise.c), vectorised over frames


def remove_noise(mel: np.ndarray) -> np.ndarray:
    """pocketsphinx's `-remove_noise yes` on (n_frames, n_filters) mel power.

    fe_noise.c runs frame by frame: a smoothed power, a lower envelope of it (the noise), a
    lower envelope of the noise-free signal (the floor), temporal masking by a decaying
    peak, then a gain in [1/20, 20] smoothed over 9 filters. The three recursions run here
    on all frames at once (`smooth`, `lower_envelope`, `decaying_peak`); the rest is per
    frame anyway."""
    if not len(mel):
        return mel.copy()
    start = mel[0] / _MAX_GAIN  # fe_remove_noise's first-frame initialisation
    power = smooth(mel, mel[0], _LAMBDA_POWER)
    noise = lower_envelope(power, start, _LAMBDA_A, _LAMBDA_B)
    signal = np.maximum(power - noise, 1.0)
    floor = lower_envelope(signal, start, _LAMBDA_A, _LAMBDA_B)
    # fe_temp_masking: a frame below 0.85 of the decayed peak 0.85 peak(t-1) becomes 0.2 of it
    decayed = np.zeros_like(signal)
    decayed[1:] = _LAMBDA_T * decaying_peak(signal, _LAMBDA_T)[:-1]
    signal = np.where(signal < _LAMBDA_T * decayed, _MU_T * decayed, signal)
    np.maximum(signal, floor, out=signal)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(signal < _MAX_GAIN * power, signal / power, _MAX_GAIN)
    np.maximum(gain, 1.0 / _MAX_GAIN, out=gain)
    return mel * (gain @ _smoothing_matrix(mel.shape[1]))


def _smoothing_matrix(n: int) -> np.ndarray:
    """(n, n): column i averages the gains of filters i-4..i+4 within range."""
    out = np.zeros((n, n))
    for i in range(n):
        lo, hi = max(0, i - _NOISE_SMOOTH_WINDOW), min(n - 1, i + _NOISE_SMOOTH_WINDOW)
        out[lo : hi + 1, i] = 1.0 / (hi - lo + 1)
    return out


# The recursions below would cost ~4 us a frame as Python loops over frames. Instead the
# frames are cut into P segments of S ~ 2 sqrt(n) frames, all segments step together (S
# steps over (P, k) arrays) from guessed starting values, and each segment's true start
# then follows from the previous segment's end in a short loop over segments.


def _to_segments(x: np.ndarray) -> np.ndarray:
    """(n, k) -> (S, P, k), the last segment padded by repeating the last frame."""
    n, k = x.shape
    seg = min(1000, max(16, int(math.sqrt(4 * n))))  # 0.5^1000: still no denormals
    n_seg = -(-n // seg)
    xs = np.empty((n_seg * seg, k))
    xs[:n] = x
    xs[n:] = x[-1]
    return np.ascontiguousarray(xs.reshape(n_seg, seg, k).transpose(1, 0, 2))


def _from_segments(xs: np.ndarray, n: int) -> np.ndarray:
    return xs.transpose(1, 0, 2).reshape(-1, xs.shape[2])[:n]


def smooth(x: np.ndarray, start: np.ndarray, rate: float) -> np.ndarray:
    """f(t) = rate f(t-1) + (1-rate) x(t), f(-1) = start: linear, so a segment run from a
    wrong start is off by rate^(t+1) times the start's error."""
    xs = _to_segments(np.asarray(x, np.float64))
    starts = np.concatenate([np.asarray(start, np.float64)[None], xs[0, 1:]])
    traj = _step_segments(xs, starts, rate, rate)
    decay = rate ** np.arange(1, len(xs) + 1, dtype=np.float64)
    true = _chain_starts(starts, traj[-1], np.full_like(starts, decay[-1]))
    traj += decay[:, None, None] * (true - starts)
    return _from_segments(traj, len(x))


def lower_envelope(
    x: np.ndarray, start: np.ndarray, rise: float, fall: float, max_passes: int = 8
) -> np.ndarray:
    """f(t) = rise f(t-1) + (1-rise) x(t) if x(t) >= f(t-1) else fall f(t-1) + (1-fall) x(t),
    f(-1) = start, over (n_frames, k) x; i.e. f(t) = min of the two (rise > fall).

    Within a segment the recursion is linear once its branches are fixed, so the true starts
    follow from each segment's end value and slope (product of its coefficients), and the
    corrected trajectory is accepted when its branches are the ones it was computed with
    (then it is the exact recursion); otherwise the segments are rerun from the corrected
    starts. Two passes are typical; after `max_passes` the plain loop does the job."""
    x = np.asarray(x, dtype=np.float64)
    xs = _to_segments(x)
    starts = np.concatenate([np.asarray(start, np.float64)[None], xs[0, 1:]])
    for _ in range(max_passes):
        traj = _step_segments(xs, starts, rise, fall)
        branches = _rising(xs, starts, traj)
        slopes = np.cumprod(np.where(branches, rise, fall), axis=0)
        true = _chain_starts(starts, traj[-1], slopes[-1])
        delta = true - starts
        if not delta.any():
            return _from_segments(traj, len(x))
        slopes *= delta
        traj += slopes
        if np.array_equal(_rising(xs, true, traj), branches):
            return _from_segments(traj, len(x))
        starts = true
    return _envelope_loop(x, np.asarray(start, np.float64), rise, fall)


def _rising(xs: np.ndarray, starts: np.ndarray, traj: np.ndarray) -> np.ndarray:
    """Which branch each step takes: x(t) >= f(t-1)."""
    out = np.empty(xs.shape, bool)
    np.greater_equal(xs[0], starts, out=out[0])
    np.greater_equal(xs[1:], traj[:-1], out=out[1:])
    return out


def _step_segments(xs: np.ndarray, starts: np.ndarray, rise: float, fall: float) -> np.ndarray:
    """All segments' trajectories from their starts: (S, P, k)."""
    out = np.empty_like(xs)
    up_in = (1 - rise) * xs
    if rise == fall:
        f = starts
        for t in range(len(xs)):
            f = np.multiply(f, rise, out=out[t])
            f += up_in[t]
        return out
    down_in = (1 - fall) * xs
    up, down = np.empty_like(starts), np.empty_like(starts)
    f = starts
    for t in range(len(xs)):
        np.multiply(f, rise, out=up)
        up += up_in[t]
        np.multiply(f, fall, out=down)
        down += down_in[t]
        f = np.minimum(up, down, out=out[t])
    return out


def _chain_starts(guess: np.ndarray, ends: np.ndarray, slopes: np.ndarray) -> np.ndarray:
    """True start of each segment: the previous segment's end, corrected linearly for the
    error of that segment's own guessed start."""
    true = guess.copy()
    for j in range(1, len(guess)):
        true[j] = ends[j - 1] + slopes[j - 1] * (true[j - 1] - guess[j - 1])
    return true


def _envelope_loop(x: np.ndarray, start: np.ndarray, rise: float, fall: float) -> np.ndarray:
    """The recursion frame by frame (reference and fallback)."""
    out = np.empty_like(x)
    f = start
    for t in range(len(x)):
        f = np.minimum(rise * f + (1 - rise) * x[t], fall * f + (1 - fall) * x[t])
        out[t] = f
    return out


def decaying_peak(x: np.ndarray, rate: float) -> np.ndarray:
    """peak(t) = max(rate peak(t-1), x(t)), peak(-1) = 0 (x >= 0): each segment's own peak
    from 0, then the previous segments' peak decayed into it, max(rate^(t+1) start, own)."""
    xs = _to_segments(np.asarray(x, np.float64))
    own = np.empty_like(xs)
    f = np.zeros_like(xs[0])
    for t in range(len(xs)):
        f = np.multiply(f, rate, out=own[t])
        np.maximum(f, xs[t], out=f)
    decay = rate ** np.arange(1, len(xs) + 1, dtype=np.float64)
    starts = np.zeros_like(xs[0])
    for j in range(1, len(starts)):
        starts[j] = np.maximum(decay[-1] * starts[j - 1], own[-1, j - 1])
    np.maximum(own, decay[:, None, None] * starts, out=own)
    return _from_segments(own, len(x))


# ---------------------------------------------------------------------------------------
# stage 2: CMN and dynamic features


def batch_cmn(cepstra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cepstra - mean, mean): the mean over frames with c0 >= 0 as cmn.c computes it (a
    float32 sum); all frames when none has (a near-silent clip, where pocketsphinx divides
    by zero)."""
    cep = np.asarray(cepstra, dtype=np.float32)
    if not len(cep):
        return cep.copy(), np.zeros(cep.shape[1], np.float32)
    counted = cep[:, 0] >= 0  # cmn.c skips the others as "zero energy frames"
    rows = cep[counted] if counted.any() else cep
    mean = (rows.sum(axis=0, dtype=np.float32) / np.float32(len(rows))).astype(np.float32)
    return cep - mean, mean


def dynamic_features(cepstra: np.ndarray) -> np.ndarray:
    """(n, 39) `1s_c_d_dd`: c(t), c(t+2)-c(t-2), (c(t+3)-c(t-1)) - (c(t+1)-c(t-3)), with the
    first and last frames replicated past the clip's ends."""
    c = np.asarray(cepstra, dtype=np.float32)
    n = len(c)
    if n == 0:
        return np.zeros((0, 3 * c.shape[1]), np.float32)
    p = np.concatenate([np.repeat(c[:1], 3, axis=0), c, np.repeat(c[-1:], 3, axis=0)])

    def at(k: int) -> np.ndarray:
        return p[3 + k : 3 + k + n]

    return np.concatenate([c, at(2) - at(-2), (at(3) - at(-1)) - (at(1) - at(-3))], axis=1)


# ---------------------------------------------------------------------------------------
# stage 3: CI senone scores


def scored_frames(n_frames: int, stride: int) -> np.ndarray:
    """The frames the Gaussians are evaluated on: every stride-th one and the last."""
    if n_frames <= 0:
        return np.zeros(0, np.int64)
    return np.unique(np.append(np.arange(0, n_frames, max(1, stride)), n_frames - 1))


def interpolate_frames(values: np.ndarray, at: np.ndarray, n_frames: int) -> np.ndarray:
    """Values for all n_frames from those at frames `at` (sorted, 0 and n_frames - 1
    included): linear interpolation along axis 0."""
    if len(at) == n_frames:
        return values
    t = np.arange(n_frames)
    right = np.minimum(np.searchsorted(at, t, side="right"), len(at) - 1)
    left = np.maximum(right - 1, 0)
    w = (t - at[left]) / np.maximum(at[right] - at[left], 1)
    w = np.clip(w, 0.0, 1.0).astype(values.dtype).reshape((-1,) + (1,) * (values.ndim - 1))
    return values[left] * (1 - w) + values[right] * w


def senone_scores(features: np.ndarray, model: AcousticModel, workers: int = 1) -> np.ndarray:
    """(n_frames, 42, 3) float32 log-likelihoods of the CI senones (phone, state) of each
    feature frame, in nats relative to the frame's best senone, floored at -SCORE_FLOOR.

    Each senone mixes all 128 Gaussians of its phone per stream; pocketsphinx sums only the
    4 best of them (its scores are within ~0.1-0.4 nats for the senones that matter).
    `workers` threads score blocks of frames side by side (the blocks are independent and
    their work is matrix products and exp, which release the GIL): the same numbers."""
    x = np.asarray(features, dtype=np.float32)
    out = np.empty((len(x), model.n_phones, 3), np.float32)

    def score(starts: range) -> None:
        for f0 in starts:
            out[f0 : f0 + _GMM_BLOCK] = _score_block(x[f0 : f0 + _GMM_BLOCK], model)

    in_shares(score, range(0, len(x), _GMM_BLOCK), workers, "meshtalk-gmm")
    if len(x):
        out -= out.max(axis=(1, 2), keepdims=True)
        np.maximum(out, -SCORE_FLOOR, out=out)
    return out


def _score_block(x: np.ndarray, model: AcousticModel) -> np.ndarray:
    """Senone log-likelihoods of a block of frames, stream by stream: the log-densities as
    one matrix product ([x*x, x, 1, -m] @ weights; m, a lower bound on each frame's best
    density from a few anchor Gaussians, keeps exp from overflowing), exp, then each phone's
    mixtures as a batched product with its weights, then log."""
    b, dim = len(x), x.shape[1] // 3
    total = np.zeros((model.n_phones, b, 3), np.float32)
    offsets = np.zeros(b, np.float32)
    inputs = np.empty((b, 2 * dim + 2), np.float32)
    inputs[:, 2 * dim] = 1.0
    for s in range(3):
        xs = x[:, s * dim : (s + 1) * dim]
        np.multiply(xs, xs, out=inputs[:, :dim])
        inputs[:, dim : 2 * dim] = xs
        offset = (inputs[:, : 2 * dim + 1] @ model.anchors[s]).max(axis=1)
        inputs[:, 2 * dim + 1] = -offset
        likelihood = _mixtures(inputs, model.gauss[s], model.mixw[s])
        if not np.isfinite(likelihood).all():  # outlier frames: offset by the exact best
            offset = (inputs[:, : 2 * dim + 1] @ model.gauss[s][: 2 * dim + 1]).max(axis=1)
            inputs[:, 2 * dim + 1] = -offset
            likelihood = _mixtures(inputs, model.gauss[s], model.mixw[s])
        total += np.log(likelihood, out=likelihood)
        offsets += offset
    total += offsets[None, :, None]
    return total.transpose(1, 0, 2)


def _mixtures(inputs: np.ndarray, gauss: np.ndarray, mixw: np.ndarray) -> np.ndarray:
    """(phones, frames, states) sum of weight x density over each phone's Gaussians. The
    log-densities are floored at _EXP_FLOOR (60 nats below the offset, so >= 60 below the
    frame's best: nothing that counts) so that neither exp nor the weighted sums produce
    float32 denormals, whose arithmetic costs ~20% of the whole scoring here."""
    with np.errstate(over="ignore"):
        dens = inputs @ gauss
        np.maximum(dens, _EXP_FLOOR, out=dens)
        np.exp(dens, out=dens)
    n_cb, n_g = mixw.shape[:2]
    return np.matmul(dens.reshape(len(inputs), n_cb, n_g).transpose(1, 0, 2), mixw)


# ---------------------------------------------------------------------------------------
# stage 4: posteriors over PHONE_CLASSES


def _to_classes(phone_probs: np.ndarray, model: AcousticModel) -> np.ndarray:
    """(n, 42) -> (n, 40): each CI phone's probability to its class, normalised."""
    merge = np.zeros((model.n_phones, len(PHONE_CLASSES)))
    merge[np.arange(model.n_phones), model.phone_class] = 1.0
    out = phone_probs @ merge
    out /= out.sum(axis=1, keepdims=True)
    return out.astype(np.float32)


def frame_posteriors(
    scores: np.ndarray, model: AcousticModel, scale: float = DEFAULT_SCALE
) -> np.ndarray:
    """(n, 40) per-frame posteriors: a softmax over each phone's best state, x scale."""
    best = scores.max(axis=2).astype(np.float64) * scale
    probs = np.exp(best - best.max(axis=1, keepdims=True))
    return _to_classes(probs, model)


def loop_matrix(model: AcousticModel, insertion_penalty: float) -> np.ndarray:
    """(3p, 3p) transitions of a loop over the CI phones: each phone's 3-state left-to-right
    HMM (its own transition matrix); its exit enters any phone with prob. 1/p x penalty."""
    p = model.n_phones
    t = np.zeros((3 * p, 3 * p))
    for i in range(p):
        for j in range(3):
            t[3 * i + j, 3 * i + j] = model.tmat[i, j, j]
            if j < 2:
                t[3 * i + j, 3 * i + j + 1] = model.tmat[i, j, j + 1]
        t[3 * i + 2, 0::3] += model.tmat[i, 2, 3] * insertion_penalty / p
    return t


def loop_posteriors(
    scores: np.ndarray,
    model: AcousticModel,
    scale: float = DEFAULT_SCALE,
    insertion_penalty: float = DEFAULT_INSERTION_PENALTY,
    at: np.ndarray | None = None,
) -> np.ndarray:
    """(m, 40) state posteriors of the phone loop (forward-backward, emissions exp(scale x
    log-likelihood)), summed per phone class. (The two passes on two threads took longer:
    their steps are too small to gain from releasing the GIL.)

    `at`: the 100-Hz frames the m score rows belong to (default 0..m-1). With gaps the loop
    steps from one scored frame to the next with the transition matrix to the power of the
    gap, and each row's emission counts the frames it stands for (trapezoid weights: the
    frames between would get interpolated scores), so one step covers several frames."""
    m, p = len(scores), model.n_phones
    if insertion_penalty <= 0:
        raise ValueError(f"insertion_penalty must be > 0, got {insertion_penalty}")
    if m == 0:
        return np.zeros((0, len(PHONE_CLASSES)), np.float32)
    at = np.arange(m) if at is None else np.asarray(at)
    gaps = np.diff(at)
    weights = (np.concatenate([[1], gaps]) + np.concatenate([gaps, [1]])) / 2.0
    step = loop_matrix(model, insertion_penalty)
    powers = {g: np.linalg.matrix_power(step, g) for g in {1, *gaps.tolist()}}
    logp = scores.reshape(m, 3 * p).astype(np.float64) * (scale * weights[:, None])
    emit = np.exp(logp - logp.max(axis=1, keepdims=True))
    # float64 (float32 would be faster per call but meets denormals: far slower overall)
    every = _rescale_interval(scale, weights, powers)
    steps = [powers[g] for g in gaps.tolist()]
    alpha, beta = _forward(emit, steps, p, every), _backward(emit, steps, every)
    gamma = np.multiply(alpha, beta, out=alpha)
    gamma /= gamma.sum(axis=1, keepdims=True)
    return _to_classes(gamma.reshape(m, p, 3).sum(axis=2), model)


def _forward(emit: np.ndarray, steps: list[np.ndarray], p: int, every: int) -> np.ndarray:
    """alpha(t) = (alpha(t-1) @ steps[t-1]) * emit(t), rescaled every `every` steps; the loop
    starts in any phone's first state."""
    alpha = np.empty_like(emit)
    alpha[0] = 0.0
    alpha[0, 0::3] = emit[0, 0::3] / p
    buf = np.empty(emit.shape[1], emit.dtype)
    for t in range(1, len(emit)):
        np.dot(alpha[t - 1], steps[t - 1], out=buf)
        np.multiply(buf, emit[t], out=alpha[t])
        if t % every == 0:
            alpha[t] /= alpha[t].sum()
    return alpha


def _backward(emit: np.ndarray, steps: list[np.ndarray], every: int) -> np.ndarray:
    """beta(t) = steps[t] @ (beta(t+1) * emit(t+1)), rescaled every `every` steps; the loop
    may end in any state."""
    beta = np.empty_like(emit)
    beta[-1] = 1.0
    buf = np.empty(emit.shape[1], emit.dtype)
    for t in range(len(emit) - 2, -1, -1):
        np.multiply(beta[t + 1], emit[t + 1], out=buf)
        np.dot(steps[t], buf, out=beta[t])
        if t % every == 0:
            beta[t] /= beta[t].sum()
    return beta


def _rescale_interval(scale: float, weights: np.ndarray, powers: dict) -> int:
    """float64 steps between rescalings of alpha and beta: a step shrinks them at most by
    the floored emission times the smallest transition and grows them at most by the
    largest transition; keep the drift between rescalings within e^+-300 (float64 holds
    e^+-700)."""
    shrink = SCORE_FLOOR * scale * float(weights.max())
    shrink -= min(math.log(float(t[t > 0].min())) for t in powers.values())
    grow = max(math.log(max(float(t.sum(axis=1).max()), 1.0)) for t in powers.values())
    return max(1, int(300.0 / (shrink + grow)))


# ---------------------------------------------------------------------------------------
# stage 5: loudness


def loudness(log_energy: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """(n,) float32 log energy minus its mean over the speech frames (all frames if none),
    floored at LOUDNESS_FLOOR: level-independent, so only emphasis moves it."""
    e = np.asarray(log_energy, dtype=np.float64)
    if not len(e):
        return np.zeros(0, np.float32)
    rows = e[speech] if np.any(speech) else e
    return np.maximum(e - rows.mean(), LOUDNESS_FLOOR).astype(np.float32)


# ---------------------------------------------------------------------------------------
# everything


def phonetic_features(
    audio16k: np.ndarray,
    model: AcousticModel,
    smooth: bool = True,
    *,
    scale: float = DEFAULT_SCALE,
    insertion_penalty: float = DEFAULT_INSERTION_PENALTY,
    gmm_stride: int = DEFAULT_GMM_STRIDE,
    dither: bool = True,
    workers: int = 1,
) -> np.ndarray:
    """(n_phonetic_frames(len(audio16k)), 41) float32 at 100 frames/s: the posteriors of
    PHONE_CLASSES (columns 0-39, SIL is column 39) and the loudness (column 40); frame i is
    centred on sample 160 i + 204.5 (`frame_centers`).

    audio16k: mono 16 kHz float samples, full scale +-1. smooth: phone-loop forward-backward
    (`loop_posteriors`: on real speech ~0.56 of speech frames get pocketsphinx's aligned
    phone on top) instead of per-frame posteriors (`frame_posteriors`: ~0.41). gmm_stride:
    the Gaussians are evaluated on every gmm_stride-th frame (and the last) and the frames
    between are interpolated (stride 2 halves the cost and scores the same against forced
    alignments; 1 evaluates every frame). dither: pocketsphinx's 1-LSB dither (`_dither`),
    which keeps digital silence silent. workers: threads for the FFTs and the Gaussians (the
    same numbers on any count)."""
    mel = mel_power(audio16k, model, dither=dither, workers=workers)
    n = len(mel)
    if n == 0:
        return np.zeros((0, N_PHONETIC_FEATURES), np.float32)
    clean = remove_noise(mel)
    features = dynamic_features(batch_cmn(cepstra_from_mel(clean, model))[0])
    at = scored_frames(n, gmm_stride)
    scores = senone_scores(features[at], model, workers)
    if smooth:
        post = loop_posteriors(scores, model, scale, insertion_penalty, at)
    else:
        post = frame_posteriors(scores, model, scale)
    post = interpolate_frames(post, at, n)
    energy = np.log(clean.sum(axis=1) + clean.shape[1] * model.log_floor)
    out = np.empty((n, N_PHONETIC_FEATURES), np.float32)
    out[:, :LOUDNESS] = post
    out[:, LOUDNESS] = loudness(energy, post[:, SIL] < 0.5)
    return out
