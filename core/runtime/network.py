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
        self.layers = [(conv_weight_t(w[p + "inp.weight"]), w[p + "inp.bias"], 1)]
        for i, d in enumerate(cfg.audio_dilations):
            weight, bias = w[f"{p}convs.{i}.weight"], w[f"{p}convs.{i}.bias"]
            self.layers.append((conv_weight_t(weight), bias, d))

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        slope = self.cfg.leaky_slope
        x = (mel - self.mel_mean) / self.mel_std
        weight, bias, dil = self.layers[0]
        x = leaky_relu(conv1d_same(x, weight, bias, dil), slope)
        for weight, bias, dil in self.layers[1:]:
            x = x + leaky_relu(conv1d_same(x, weight, bias, dil), slope)
        return x


@dataclass
class PriorState:
    """What the prior remembers between chunks: the frame index, the previous frame's codes
    and, per layer, the last `dilation` inputs (a ring buffer indexed by t % dilation)."""

    t: int = 0
    prev_codes: np.ndarray | None = None
    history: list[np.ndarray] = field(default_factory=list)


class Prior:
    """Incremental sampler for the stage-2 prior: O(1) work per frame and layer."""

    def __init__(self, w: Weights) -> None:
        cfg = self.cfg = w.config
        d = cfg.prior_channels
        self.embed = w["prior.embed.weight"]  # (H*C, D)
        self.start = w["prior.start"]
        self.audio_in = (w["prior.audio_in.weight"].T.copy(), w["prior.audio_in.bias"])
        self.convs = []  # (W (2D, D) for [x_{t-d}, x_t], bias, dilation)
        self.audio_proj = []
        for i, dil in enumerate(cfg.prior_dilations):
            wc = w[f"prior.convs.{i}.weight"]  # (D, D, 2): tap 0 -> t - dil, tap 1 -> t
            stacked = np.concatenate([wc[:, :, 0].T, wc[:, :, 1].T], axis=0)
            self.convs.append((np.ascontiguousarray(stacked), w[f"prior.convs.{i}.bias"], dil))
            self.audio_proj.append(
                (w[f"prior.audio_proj.{i}.weight"].T.copy(), w[f"prior.audio_proj.{i}.bias"])
            )
        self.out_w_t = np.ascontiguousarray(w["prior.out.weight"].T)  # (D, H*C)
        self.out_b = w["prior.out.bias"]
        self.head_offset = np.arange(cfg.heads) * cfg.categories
        self._buf = np.zeros(2 * d, np.float32)

    def initial_state(self) -> PriorState:
        d = self.cfg.prior_channels
        return PriorState(
            history=[np.zeros((dil, d), np.float32) for dil in self.cfg.prior_dilations]
        )

    def _audio_terms(self, audio: np.ndarray) -> list[np.ndarray]:
        """Batched over the chunk: the audio's contribution to the input and every layer."""
        w, b = self.audio_in
        terms = [audio @ w + b]
        terms += [audio @ wp + bp for wp, bp in self.audio_proj]
        return terms

    def _step(self, state: PriorState, terms: list[np.ndarray], i: int) -> np.ndarray:
        """Logits (H, C) of the frame `state.t` (the i-th of the chunk); advances nothing."""
        slope, cfg = self.cfg.leaky_slope, self.cfg
        if state.prev_codes is None:
            x = self.start
        else:
            x = self.embed[self.head_offset + state.prev_codes].sum(axis=0)
        h = x + terms[0][i]
        buf, half = self._buf, cfg.prior_channels
        for layer, ((w, b, dil), hist) in enumerate(zip(self.convs, state.history, strict=True)):
            slot = state.t % dil
            buf[:half] = hist[slot]
            buf[half:] = h
            hist[slot] = h
            h = h + leaky_relu(buf @ w + b + terms[layer + 1][i], slope)
        logits = leaky_relu(h, slope) @ self.out_w_t + self.out_b
        return logits.reshape(cfg.heads, cfg.categories)

    def sample(
        self,
        audio: np.ndarray,
        state: PriorState,
        noise: np.ndarray | None = None,
        temperature: float = 1.0,
    ) -> np.ndarray:
        """Codes (T, H) for audio features (T, D), continuing from `state` (updated in place).
        noise (T, H, C) Gumbel noise, or None for the argmax (zero temperature)."""
        terms = self._audio_terms(audio)
        codes = np.empty((len(audio), self.cfg.heads), np.int64)
        inv_t = np.float32(1.0 / temperature) if noise is not None else None
        for i in range(len(audio)):
            logits = self._step(state, terms, i)
            if noise is None:
                state.prev_codes = logits.argmax(axis=1)
            else:
                state.prev_codes = (logits * inv_t + noise[i]).argmax(axis=1)
            codes[i] = state.prev_codes
            state.t += 1
        return codes

    def teacher_forced_logits(self, codes: np.ndarray, audio: np.ndarray) -> np.ndarray:
        """Logits (T, H, C) given the codes, through the same incremental path as sampling."""
        state, terms = self.initial_state(), self._audio_terms(audio)
        out = np.empty((len(codes), self.cfg.heads, self.cfg.categories), np.float32)
        for i in range(len(codes)):
            out[i] = self._step(state, terms, i)
            state.prev_codes = np.asarray(codes[i], np.int64)
            state.t += 1
        return out


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

    def offsets(self, coeffs: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Coefficients (T, K) -> offsets (T, V, 3) in metres; `mask` (V,) scales each vertex."""
        out = (coeffs @ self.basis).reshape(len(coeffs), self.cfg.n_vertices, 3)
        out += self.out_mean
        if mask is not None:
            out *= mask[:, None]
        return out
