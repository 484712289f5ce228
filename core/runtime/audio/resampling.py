"""Resampling: Kaiser-windowed sinc, polyphase, written as one matrix product per block
(numpy alone: Blender has no scipy)."""

from __future__ import annotations

import math

import numpy as np

from .samples import AudioError, to_float32

# resampling: Kaiser-windowed sinc, polyphase, written as one matrix product per block


_KAISER_BETA = 8.6  # ~86 dB stopband
_ZEROS = 64  # half-width of the sinc in samples of the lower rate
_MAX_MATRIX = 1 << 22  # entries of the polyphase matrix before falling back to direct


def resample(x: np.ndarray, sr_in: int, sr_out: int = 16000) -> np.ndarray:
    """Band-limited resampling of a mono signal from `sr_in` to `sr_out` (float32).

    Output sample n sits at input position n*sr_in/sr_out. The low-pass (cutoff just below
    the lower Nyquist, stopband from it on) removes aliasing when downsampling and images
    when upsampling; every polyphase filter is normalised to unit DC gain."""
    x = to_float32(x)
    if x.ndim != 1:
        raise AudioError(f"resample expects mono audio, got shape {x.shape}")
    sr_in, sr_out = int(sr_in), int(sr_out)
    if sr_in <= 0 or sr_out <= 0:
        raise AudioError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out or len(x) == 0:
        return x.copy()
    g = math.gcd(sr_in, sr_out)
    up, down = sr_out // g, sr_in // g
    n_out = -(-len(x) * up // down)
    f_low = min(sr_in, sr_out)
    atten = _KAISER_BETA / 0.1102 + 8.7
    transition = (atten - 8.0) / (2.285 * 2 * math.pi * 2 * _ZEROS) * f_low
    cutoff = (f_low / 2 - transition / 2) / sr_in  # cycles per input sample
    half = _ZEROS * sr_in / f_low  # half-width of the filter in input samples
    width = int(math.ceil(half)) + 1
    k = max(1, -(-64 // up))  # group outputs so that each matrix product is wide enough
    up_b, down_b = up * k, down * k
    if (down_b + 2 * width + 1) * up_b <= _MAX_MATRIX:
        return _resample_matrix(x, up_b, down_b, width, n_out, cutoff, half)
    return _resample_direct(x, up, down, width, n_out, cutoff, half)


def _kernel(dist: np.ndarray, cutoff: float, half: float) -> np.ndarray:
    """Windowed sinc at distances (input samples) from the output position."""
    u = np.clip(dist / half, -1.0, 1.0)
    window = np.i0(_KAISER_BETA * np.sqrt(1.0 - u * u)) / np.i0(_KAISER_BETA)
    h = 2 * cutoff * np.sinc(2 * cutoff * dist) * window
    return np.where(np.abs(dist) < half, h, 0.0)


def _resample_matrix(
    x: np.ndarray, period_out: int, period_in: int, width: int, n_out: int, cutoff, half
) -> np.ndarray:
    """Polyphase resampling as matrix products: every `period_in` input samples give
    `period_out` outputs with the same taps. When it saves work, the outputs of a period
    are split into groups of consecutive outputs, each with a (span, group) tap matrix over
    just the inputs that group reaches: one matrix for the whole period would be mostly
    zeros (22.05 kHz: 622 taps per output of which ~176 are non-zero; grouped: 225)."""
    n_blocks = -(-n_out // period_out)
    # input sample i sits at padded[width + i]; block b's inputs start at b * period_in
    padded = np.zeros(width + n_blocks * period_in + 2 * width + 1, np.float32)
    padded[width : width + len(x)] = x[: len(padded) - width]
    out = np.empty((n_blocks, period_out), np.float32)
    for outs, first, span in _output_groups(period_out, period_in, width):
        pos = outs * period_in / period_out  # output positions in input samples
        taps = _kernel(pos[None, :] - (first + np.arange(span))[:, None], cutoff, half)
        taps = (taps / taps.sum(axis=0, keepdims=True)).astype(np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(padded[width + first :], span)
        windows = windows[::period_in][:n_blocks]
        # windows no longer than the period do not overlap: a strided view that BLAS reads
        # directly; overlapping ones are copied first (numpy's matmul skips BLAS for
        # overlapping views), in pieces of ~16 MB
        overlap = span > period_in
        step = max(1, (1 << 24) // (span * 4)) if overlap else n_blocks
        g0, g1 = int(outs[0]), int(outs[-1]) + 1
        for b in range(0, n_blocks, step):
            block = windows[b : b + step]
            out[b : b + step, g0:g1] = (np.ascontiguousarray(block) if overlap else block) @ taps
    return out.reshape(-1)[:n_out]


def _output_groups(
    period_out: int, period_in: int, width: int
) -> list[tuple[np.ndarray, int, int]]:
    """(outputs, first input sample, span) per group of a period's outputs: groups of about
    width * period_out / (2 * period_in) outputs (the inputs a group reaches are then ~1.5
    filter lengths; fewer if that keeps the spans within a period), or one group when
    grouping does not save at least a third of the work."""
    size = min(period_out, max(8, -(-width * period_out // (2 * period_in))))
    fits = (period_in - 2 * width - 2) * period_out // period_in  # spans <= the period
    if 8 <= fits < size:
        size = fits  # groups whose windows do not overlap need no copy (see above)
    groups = []
    for g0 in range(0, period_out, size):
        outs = np.arange(g0, min(period_out, g0 + size))
        first = (g0 * period_in) // period_out - width  # floor of the first output's position
        last = -(-(int(outs[-1]) * period_in) // period_out)  # ceil of the last one's
        groups.append((outs, first, last + width + 1 - first))
    whole = (np.arange(period_out), -width, period_in + 2 * width + 1)
    grouped_work = sum(len(o) * span for o, _, span in groups)
    return groups if 1.5 * grouped_work < period_out * whole[2] else [whole]


def _resample_direct(
    x: np.ndarray, up: int, down: int, width: int, n_out: int, cutoff, half
) -> np.ndarray:
    """Rates whose ratio has a huge denominator (e.g. 44099 Hz): too many phases to store,
    so the taps come from a table of 1024 phases, linearly interpolated (the table error is
    far below the filter's own stopband)."""
    n_phases = 1024
    offsets = np.arange(-width + 1, width + 1)
    grid = np.arange(n_phases + 1) / n_phases
    table = _kernel(grid[:, None] - offsets[None, :], cutoff, half)
    table = (table / table.sum(axis=1, keepdims=True)).astype(np.float32)
    padded = np.concatenate([np.zeros(width, np.float32), x, np.zeros(width + 1, np.float32)])
    frames = np.lib.stride_tricks.sliding_window_view(padded, len(offsets))
    out = np.empty(n_out, np.float32)
    for start in range(0, n_out, 4096):
        n = np.arange(start, min(n_out, start + 4096), dtype=np.int64)
        base = n * down // up  # input sample at or before the output position
        pos = (n * down % up) * (n_phases / up)
        i = np.minimum(pos.astype(np.int64), n_phases - 1)
        a = (pos - i).astype(np.float32)[:, None]
        taps = table[i] * (1 - a) + table[i + 1] * a
        # frames[base + 1] starts at input sample base - width + 1 = base + offsets[0]
        out[start : start + len(n)] = np.einsum("ij,ij->i", frames[base + 1], taps)
    return out
