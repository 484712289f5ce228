"""Length-preserving pitch shift for voices whose engine has no pitch control.

Why: the phone timings must stay exact, so the shift may not change the clip's length or move
any sound in time. librosa's phase-vocoder stretch + resample keeps the length sample-exact.
"""

from __future__ import annotations

import numpy as np


def shift_pitch(audio: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """Raise (factor > 1) or lower the pitch by ``factor``, keeping every sample's time."""
    if factor <= 0:
        raise ValueError(f"pitch factor must be positive, got {factor}")
    if abs(factor - 1.0) < 1e-6 or audio.size == 0:
        return audio
    import librosa

    steps = 12.0 * float(np.log2(factor))
    out = librosa.effects.pitch_shift(
        np.asarray(audio, dtype=np.float32), sr=sample_rate, n_steps=steps, res_type="soxr_hq"
    )
    out = librosa.util.fix_length(out, size=len(audio))
    return np.clip(out, -1.0, 1.0).astype(np.float32)
