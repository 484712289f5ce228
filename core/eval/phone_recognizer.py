"""Phones from audio alone with pocketsphinx's phone recogniser (no transcript): the input of
the Rhubarb-style baseline, which then drives the same articulation model as the corpus."""

from __future__ import annotations

import os

import numpy as np

from ..data.phones import PHONE_SET, SIL, Phone

FRAME_S = 0.01  # pocketsphinx frames
PAD_S = 0.2  # silence in front helps the recogniser settle (FACTS.md)


def recognize_phones(audio16k: np.ndarray) -> list[Phone]:
    """ARPAbet phones with times (s) tiling the clip; unknown or noise units become silence."""
    try:
        import pocketsphinx as ps
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("the phone baseline needs: pip install pocketsphinx==5.1.1") from exc
    model = ps.get_model_path()
    decoder = ps.Decoder(
        hmm=os.path.join(model, "en-us", "en-us"),
        allphone=os.path.join(model, "en-us", "en-us-phone.lm.bin"),
        lw=2.0,
        pip=0.3,
        beam=1e-20,
        pbeam=1e-20,
        loglevel="FATAL",
    )
    pad = np.zeros(int(PAD_S * 16000), np.float32)
    pcm = np.concatenate([pad, np.asarray(audio16k, np.float32)])
    decoder.start_utt()
    decoder.process_raw((np.clip(pcm, -1, 1) * 32767).astype(np.int16).tobytes(), full_utt=True)
    decoder.end_utt()
    total = len(audio16k) / 16000
    phones: list[Phone] = []
    for seg in decoder.seg():
        start = max(0.0, seg.start_frame * FRAME_S - PAD_S)
        end = min(total, (seg.end_frame + 1) * FRAME_S - PAD_S)
        if end <= start:
            continue
        symbol = seg.word.upper() if seg.word.upper() in PHONE_SET else SIL
        if phones and phones[-1].symbol == symbol == SIL:
            phones[-1] = Phone(SIL, phones[-1].start, end)
        else:
            phones.append(Phone(symbol, start, end))
    if not phones or phones[-1].end < total:
        phones.append(Phone(SIL, phones[-1].end if phones else 0.0, total))
    return phones
