"""The three inference stages in numpy: audio encoder, autoregressive prior, decoder.

Each stage is batched over frames wherever the math allows; only the prior's sampling
(each frame needs the previous frame's codes) and the LSTM recurrences loop over frames,
and both carry their state so a long clip can be processed chunk by chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .layers import LSTMLayer, conv1d_same, conv_weight_t, leaky_relu
from .weights import Weights


class AudioEncoder:
    """Log-mel (N, n_mels) -> features (N, audio_channels) at the mel rate."""

    def __init__(self, w: Weights) -> None:
        cfg, p = w.config, "model.audio_encoder."
        self.cfg = cfg
        self.mel_mean, self.mel_std = w[p + "mel_mean"], w[p + "mel_std"]
        self.first = (conv_weight_t(w[p + "inp.weight"]), w[p + "inp.bias"])
        self.layers = []  # residual convs: (per-tap (Cin, Cout) weights, bias, dilation)
        for i, d in enumerate(cfg.audio_dilations):
            weight = w[f"{p}convs.{i}.weight"]  # (Cout, Cin, k)
            taps = [np.ascontiguousarray(weight[:, :, j].T) for j in range(weight.shape[2])]
            self.layers.append((taps, w[f"{p}convs.{i}.bias"], d))
        self.pad = max((d * (cfg.audio_kernel // 2) for d in cfg.audio_dilations), default=0)

    def __call__(self, mel: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Features at every mel frame, or only at `rows` (indices into `mel`): the last
        layer is then computed at those frames alone (video frames read ~half the mel
        frames, so this skips ~half of the last layer's work)."""
        slope = np.float32(self.cfg.leaky_slope)
        n, pad, half = len(mel), self.pad, self.cfg.audio_kernel // 2
        weight, bias = self.first
        x = conv1d_same((mel - self.mel_mean) / self.mel_std, weight, bias, 1)
        # the activations live inside a zero-padded buffer, so no layer copies its input
        buf = np.zeros((n + 2 * pad, x.shape[1]), np.float32)
        inner = buf[pad : pad + n]
        np.maximum(x, x * slope, out=inner)
        for i, (taps, bias, dil) in enumerate(self.layers):
            offsets = [pad + (j - half) * dil for j in range(len(taps))]
            if rows is not None and i == len(self.layers) - 1:
                y = buf[rows + offsets[0]] @ taps[0]
                for off, tap in zip(offsets[1:], taps[1:], strict=True):
                    y += buf[rows + off] @ tap
                y += bias
                return buf[rows + pad] + np.maximum(y, y * slope)
            y = buf[offsets[0] : offsets[0] + n] @ taps[0]
            for off, tap in zip(offsets[1:], taps[1:], strict=True):
                y += buf[off : off + n] @ tap
            y += bias
            inner += np.maximum(y, y * slope)
        return inner if rows is None else inner[rows]


@dataclass
class PriorState:
    """What the prior carries between chunks: the frame index, the previous frame's codes
    and, per layer, W_past @ input for the last `dilation` frames (a ring buffer indexed by
    t % dilation): the conv's past tap, computed when its input was produced."""

    t: int = 0
    prev_codes: np.ndarray | None = None
    past: list[np.ndarray] = field(default_factory=list)


class Prior:
    """Incremental sampler for the stage-2 prior: O(1) work per frame and layer.

    Per frame and layer one (D, 2D) matrix-vector product gives both the conv's current tap
    (used now) and its past tap (stored for frame t + dilation). The products are np.dot
    into preallocated rows: on the one OpenBLAS thread the run holds (`blas_threads`), gemv
    is 2-3x faster than einsum's loops for these sizes."""

    def __init__(self, w: Weights) -> None:
        cfg = self.cfg = w.config
        self.embed = w["prior.embed.weight"]  # (H*C, D)
        self.start = w["prior.start"]
        self.audio_in = (w["prior.audio_in.weight"].T.copy(), w["prior.audio_in.bias"])
        self.convs = []  # ((D, 2D) [W_now | W_past], dilation)
        self.audio_proj = []  # audio projection with the conv bias folded in
        for i, dil in enumerate(cfg.prior_dilations):
            wc = w[f"prior.convs.{i}.weight"]  # (D, D, 2): tap 0 -> t - dil, tap 1 -> t
            both = np.concatenate([wc[:, :, 1].T, wc[:, :, 0].T], axis=1)
            self.convs.append((np.ascontiguousarray(both), dil))
            bias = w[f"prior.audio_proj.{i}.bias"] + w[f"prior.convs.{i}.bias"]
            self.audio_proj.append((w[f"prior.audio_proj.{i}.weight"].T.copy(), bias))
        self.out_w_t = np.ascontiguousarray(w["prior.out.weight"].T)  # (D, H*C)
        self.out_b = w["prior.out.bias"]
        self.head_offset = np.arange(cfg.heads) * cfg.categories
        # The first layer's product is linear in its input (embedding sum + audio term), so
        # it is folded into the tables: one gather-sum of rows [e | e @ W] per frame gives
        # both the input and the first layer's taps.
        w0 = self.convs[0][0]
        self.table = np.concatenate([self.embed, self.embed @ w0], axis=1)
        self.start_row = np.concatenate([self.start, self.start @ w0])

    def initial_state(self) -> PriorState:
        d = self.cfg.prior_channels
        return PriorState(past=[np.zeros((dil, d), np.float32) for dil in self.cfg.prior_dilations])

    def _audio_terms(self, audio: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Everything the audio contributes, batched over the chunk: (T, 3D) for the input
        row [h | first layer's current tap | its past tap], with the first layer's own audio
        projection (+ biases) already added to the current tap, and (T, D) per later layer."""
        w, b = self.audio_in
        d = self.cfg.prior_channels
        x = audio @ w + b
        first = np.concatenate([x, x @ self.convs[0][0]], axis=1)  # see self.table
        wp, bp = self.audio_proj[0]
        first[:, d : 2 * d] += audio @ wp + bp
        return first, [audio @ wp + bp for wp, bp in self.audio_proj[1:]]

    def _run(
        self, state: PriorState, audio: np.ndarray, offsets: np.ndarray, codes: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The frame loop. offsets (T, H*C) are added to the logits before the per-head
        argmax (the output bias, plus temperature x Gumbel noise when sampling). Given
        `codes` (teacher forcing) it returns the logits instead of choosing codes.

        Written for few numpy calls per frame (the loop is bound by call overhead, not
        arithmetic): every audio-only term is added outside the loop, in place where
        possible. A layer's audio term for frame t is added to its ring buffer when the past
        tap for t is stored (frame t - dilation), so using the buffer needs one addition."""
        cfg, slope = self.cfg, np.float32(self.cfg.leaky_slope)
        d, n, heads, cats = cfg.prior_channels, len(audio), cfg.heads, cfg.categories
        first, later = self._audio_terms(audio)
        dil0, past0 = self.cfg.prior_dilations[0], state.past[0]
        layers = []
        for (w, dil), past, term in zip(self.convs[1:], state.past[1:], later, strict=True):
            # the ring holds the past taps of frames t .. t + dil - 1, without audio terms
            for j in range(min(dil, n)):
                past[(state.t + j) % dil] += term[j]
            ahead = np.concatenate([term[dil:], np.zeros((min(dil, n), d), np.float32)])
            layers.append((w, dil, past, ahead, np.empty(2 * d, np.float32)))
        chosen = np.empty((n, heads), np.int64)
        logits_out = np.empty((n, heads, cats), np.float32) if codes is not None else None
        table, out_w, head_offset = self.table, self.out_w_t, self.head_offset
        logits = np.empty(heads * cats, np.float32)
        per_head = logits.reshape(heads, cats)
        act, prev, t = np.empty(d, np.float32), state.prev_codes, state.t
        for i in range(n):
            if prev is None:
                g = self.start_row + first[i]
            else:
                g = table.take(prev + head_offset, axis=0).sum(axis=0)
                g += first[i]
            h, y, slot = g[:d], g[d : 2 * d], t % dil0
            y += past0[slot]
            past0[slot] = g[2 * d :]
            np.multiply(y, slope, out=act)
            h += np.maximum(y, act, out=act)
            for w, dil, past, ahead, both in layers:
                np.dot(h, w, out=both)
                slot = t % dil
                y = both[:d]
                y += past[slot]
                np.add(both[d:], ahead[i], out=past[slot])  # + the audio term of t + dil
                np.multiply(y, slope, out=act)
                h += np.maximum(y, act, out=act)
            np.multiply(h, slope, out=act)
            np.dot(np.maximum(h, act, out=act), out_w, out=logits)
            logits += offsets[i]
            if codes is None:
                prev = chosen[i] = per_head.argmax(axis=1)
            else:
                logits_out[i] = per_head
                prev = codes[i]
            t += 1
        state.prev_codes, state.t = prev, t
        return chosen, logits_out

    def sample(
        self,
        audio: np.ndarray,
        state: PriorState,
        noise: np.ndarray | None = None,
        temperature: float | np.ndarray = 1.0,
    ) -> np.ndarray:
        """Codes (T, H) for audio features (T, D), continuing from `state` (updated in place).
        noise: (T, H, C) Gumbel noise, or None for the argmax (zero temperature). The codes
        are argmax(logits + temperature * noise), a sample of softmax(logits / temperature);
        `temperature`: one number, or one per frame (T,)."""
        if noise is None:
            offsets = np.broadcast_to(self.out_b, (len(audio), len(self.out_b)))
        else:
            offsets = noise.reshape(len(audio), -1) * _per_frame(temperature) + self.out_b
        return self.sample_with(audio, state, offsets)

    def sample_with(self, audio: np.ndarray, state: PriorState, offsets: np.ndarray) -> np.ndarray:
        """`sample` with the logits' offsets (T, H*C) already made (`logit_offsets`)."""
        return self._run(state, audio, offsets, None)[0]

    def logit_offsets(
        self, rng: np.random.Generator | None, n_frames: int, temperature: float | np.ndarray
    ) -> np.ndarray:
        """(n_frames, H*C) what `sample` adds to the logits: the output bias plus temperature
        (one number, or one per frame) x Gumbel noise drawn from `rng` (the bias alone if rng
        is None: the argmax). The same draws and the same numbers as `gumbel_noise` and
        `sample`, in three passes over the noise instead of five: -log(e) * t == log(e) * -t
        exactly (only the sign differs)."""
        if rng is None:
            return np.broadcast_to(self.out_b, (n_frames, len(self.out_b)))
        cfg = self.cfg
        e = rng.standard_exponential((n_frames, cfg.heads * cfg.categories), dtype=np.float32)
        np.maximum(e, np.float32(1e-30), out=e)
        np.log(e, out=e)
        np.multiply(e, -_per_frame(temperature), out=e)
        e += self.out_b
        return e

    def teacher_forced_logits(self, codes: np.ndarray, audio: np.ndarray) -> np.ndarray:
        """Logits (T, H, C) given the codes, through the same incremental path as sampling."""
        offsets = np.broadcast_to(self.out_b, (len(audio), len(self.out_b)))
        codes = np.asarray(codes, np.int64)
        return self._run(self.initial_state(), audio, offsets, codes)[1]


def _per_frame(temperature: float | np.ndarray) -> np.float32 | np.ndarray:
    """A temperature as a float32 factor of (T, H*C) noise: a number, or (T, 1)."""
    if np.ndim(temperature) == 0:
        return np.float32(temperature)
    return np.asarray(temperature, np.float32)[:, None]


@dataclass
class Identity:
    """The template's features: computed once per clip, reused by every frame."""

    skips: list[np.ndarray]  # template-layer outputs feeding the decoder's additive skips
    lstm_bias: np.ndarray  # the template's constant contribution to the first LSTM's gates


class Decoder:
    """(template, codes) -> basis coefficients -> vertex offsets."""

    def __init__(self, w: Weights) -> None:
        cfg, p = w.config, "model.decoder."
        self.cfg = cfg
        n = len(cfg.template_widths)
        self.template_layers = [
            (w[f"{p}template_layers.{i}.weight"].T.copy(), w[f"{p}template_layers.{i}.bias"])
            for i in range(n)
        ]
        self.template_mean = w[p + "template_mean"]
        self.code_proj_t = np.ascontiguousarray(w[p + "code_proj.weight"].T)  # (H*C, L)
        self.code_bias = w[p + "code_proj.bias"]
        self.lstms = [
            LSTMLayer(
                w[f"{p}lstm.weight_ih_l{i}"],
                w[f"{p}lstm.weight_hh_l{i}"],
                w[f"{p}lstm.bias_ih_l{i}"],
                w[f"{p}lstm.bias_hh_l{i}"],
            )
            for i in range(cfg.decoder_lstm_layers)
        ]
        self.out_layers = [
            (w[f"{p}out_layers.{i}.weight"].T.copy(), w[f"{p}out_layers.{i}.bias"])
            for i in range(len(cfg.decoder_widths))
        ]
        self.head = (w[p + "head.weight"].T.copy(), w[p + "head.bias"])
        # offsets = (coeffs @ basis) * std + mean, with std folded into the basis once
        std = w[p + "out_std"].reshape(-1)
        self.basis = np.ascontiguousarray(w[p + "basis"] * std)
        self.out_mean = w[p + "out_mean"]
        self.head_offset = np.arange(cfg.heads) * cfg.categories

    def identity(self, template: np.ndarray) -> Identity:
        cfg = self.cfg
        x = ((template - self.template_mean) * np.float32(cfg.template_scale)).reshape(-1)
        feats = []
        for w, b in self.template_layers:
            x = leaky_relu(x @ w + b, cfg.leaky_slope)
            feats.append(x)
        first = self.lstms[0]
        # the first LSTM's input is [identity, latent]: the identity half is a constant bias
        lstm_bias = feats[-1] @ first.w_ih_t[: cfg.latent_dim] + first.bias
        return Identity(skips=feats[:-1], lstm_bias=lstm_bias.astype(np.float32))

    def initial_state(self) -> list[tuple[np.ndarray, np.ndarray] | None]:
        return [None] * len(self.lstms)

    def coefficients(
        self, codes: np.ndarray, ident: Identity, state: list | None = None
    ) -> tuple[np.ndarray, list]:
        """Codes (T, H) -> coefficients (T, K); `state` carries the LSTMs across chunks."""
        cfg = self.cfg
        state = list(state) if state is not None else self.initial_state()
        # one-hot @ W == sum of the selected rows
        z = self.code_proj_t[codes + self.head_offset].sum(axis=1) + self.code_bias
        first = self.lstms[0]
        x, state[0] = first.run(z @ first.w_ih_t[cfg.latent_dim :] + ident.lstm_bias, state[0])
        for i, lstm in enumerate(self.lstms[1:], start=1):
            x, state[i] = lstm.run(lstm.project(x), state[i])
        for (w, b), skip in zip(self.out_layers, reversed(ident.skips), strict=True):
            x = leaky_relu(x @ w + b, cfg.leaky_slope) + skip
        w, b = self.head
        return x @ w + b, state

    def output_basis(
        self, mask: np.ndarray | None = None, base: np.ndarray | None = None
    ) -> np.ndarray:
        """(K+1, V*3): the scaled basis rows, then the constant row (mean offset + `base`),
        with every vertex scaled by `mask` (V,) if given. One matrix product with
        [coeffs, 1] then yields finished vertices, with no extra pass over the output."""
        v = self.cfg.n_vertices
        rows = np.empty((len(self.basis) + 1, v * 3), np.float32)
        rows[:-1] = self.basis
        rows[-1] = self.out_mean.reshape(-1)
        if mask is not None:
            rows.reshape(len(rows), v, 3)[...] *= mask[:, None]
        if base is not None:
            rows[-1] += np.asarray(base, np.float32).reshape(-1)
        return rows

    @staticmethod
    def apply_basis(coeffs: np.ndarray, rows: np.ndarray, out: np.ndarray | None = None):
        """coeffs (T, K) with `output_basis` rows -> (T, V, 3), written into `out` if given."""
        n, k = coeffs.shape
        flat = np.empty((n, rows.shape[1]), np.float32) if out is None else out.reshape(n, -1)
        ones = np.empty((n, k + 1), np.float32)  # [coeffs, 1]: the constant row in the product
        ones[:, :k] = coeffs
        ones[:, k] = 1.0
        np.matmul(ones, rows, out=flat)
        return flat.reshape(n, -1, 3)

    def offsets(self, coeffs: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Coefficients (T, K) -> offsets (T, V, 3) in metres; `mask` (V,) scales each vertex."""
        return self.apply_basis(np.asarray(coeffs, np.float32), self.output_basis(mask))
