"""Numpy building blocks of the runtime, laid out for speed rather than for torch parity of
memory layout: convolutions as one matrix product over stacked shifted inputs, LSTMs with
the input projection batched over all frames so the loop only does h @ W_hh."""

from __future__ import annotations

import numpy as np

from ..config import NetworkConfig


def leaky_relu(x: np.ndarray, slope: float) -> np.ndarray:
    return np.maximum(x, x * np.float32(slope))


def conv1d_same(x: np.ndarray, weight_t: np.ndarray, bias: np.ndarray, dilation: int) -> np.ndarray:
    """'Same'-padded 1-D convolution of x (N, Cin) with zero padding at both ends.

    weight_t is (k*Cin, Cout): torch's (Cout, Cin, k) weight as `w.transpose(2, 1, 0)`
    reshaped; tap j multiplies x[n + (j - k//2) * dilation]. One matrix product per tap on
    contiguous row slices of the padded input (no stacked copy of the input)."""
    n, cin = x.shape
    k = weight_t.shape[0] // cin
    pad = dilation * (k // 2)
    padded = np.zeros((n + 2 * pad, cin), x.dtype)
    padded[pad : pad + n] = x
    out = padded[:n] @ weight_t[:cin]
    for j in range(1, k):
        out += padded[j * dilation : j * dilation + n] @ weight_t[j * cin : (j + 1) * cin]
    out += bias
    return out


def conv_weight_t(weight: np.ndarray) -> np.ndarray:
    """torch Conv1d weight (Cout, Cin, k) -> (k*Cin, Cout) for `conv1d_same`."""
    cout, cin, k = weight.shape
    return np.ascontiguousarray(weight.transpose(2, 1, 0).reshape(k * cin, cout))


class LSTMLayer:
    """One torch-compatible LSTM layer (torch's gate order i, f, g, o; stored as i, f, o, g).

    The step's h @ W_hh is np.dot into a preallocated row: on the one OpenBLAS thread the
    run holds (`blas_threads`), gemv is 2-3x faster than einsum's loops for these sizes.

    sigmoid(x) = 0.5 * tanh(x / 2) + 0.5, so the i, f, o rows are pre-scaled by 0.5 once
    and each step needs a single tanh over all gates; with the three sigmoid gates stored
    next to each other, the step is ten in-place numpy calls."""

    def __init__(self, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray):
        hidden = w_hh.shape[1]
        scale = np.full((4 * hidden, 1), 0.5, np.float32)
        scale[2 * hidden : 3 * hidden] = 1.0
        order = np.r_[0 : 2 * hidden, 3 * hidden : 4 * hidden, 2 * hidden : 3 * hidden]
        self.hidden = hidden
        self.w_ih_t = np.ascontiguousarray((w_ih * scale)[order].T)
        self.w_hh_t = np.ascontiguousarray((w_hh * scale)[order].T)
        self.bias = ((b_ih + b_hh) * scale[:, 0])[order].astype(np.float32)

    def project(self, x: np.ndarray) -> np.ndarray:
        """The batched, non-recurrent part: (T, In) -> (T, 4H) scaled pre-activations."""
        return x @ self.w_ih_t + self.bias

    def run(
        self, pre: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Recurrence over projected inputs (T, 4H) from state (h, c) -> (T, H), new state."""
        hid = self.hidden
        h, c = state if state is not None else (np.zeros(hid, np.float32),) * 2
        c = c.copy()
        w_hh_t = self.w_hh_t
        out = np.empty((len(pre), hid), np.float32)
        gates, tanh_c = np.empty(4 * hid, np.float32), np.empty(hid, np.float32)
        sig = gates[: 3 * hid]  # i, f, o: sigmoids after the shared tanh
        s_i, s_f, s_o, g = (gates[k * hid : (k + 1) * hid] for k in range(4))
        for t in range(len(pre)):
            np.dot(h, w_hh_t, out=gates)
            gates += pre[t]
            np.tanh(gates, out=gates)
            sig *= 0.5
            sig += 0.5
            c *= s_f
            g *= s_i
            c += g
            h = out[t]
            np.multiply(s_o, np.tanh(c, out=tanh_c), out=h)
        return out, (h.copy(), c)


def gumbel_noise(rng: np.random.Generator, n_frames: int, cfg: NetworkConfig) -> np.ndarray:
    """(n_frames, H, C) float32 Gumbel(0, 1) noise from a numpy generator: -log(E) with
    E ~ Exp(1) (float32 ziggurat: one log per draw, about 3x faster than -log(-log(U))).

    Both the torch reference and the runtime draw their noise here, frame after frame from
    one stream, so the same seed gives the same codes whatever the chunking."""
    e = rng.standard_exponential((n_frames, cfg.heads, cfg.categories), dtype=np.float32)
    np.maximum(e, np.float32(1e-30), out=e)
    np.log(e, out=e)
    np.negative(e, out=e)
    return e
