"""What the runtime needs to know about a network: its shapes and its audio front end
(stdlib only).

The weights file carries this as JSON, so a runtime never guesses a shape. Training settings
(losses, the expression encoder, Gumbel temperature) are not here: they belong to a training
run (`core.train.config.ModelConfig` extends this class) and never reach the weights file.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

MEL_CENTRINGS = ("none", "utterance")
# "logmel": the network hears an 80-band log-mel spectrogram (the first networks);
# "phonetic": a speaker-independent posteriorgram of pocketsphinx's en-us acoustic model (39
# phones + silence) and a loudness channel (`audio.phonetic`), both at 100 frames a second
FRONT_ENDS = ("logmel", "phonetic")
PHONETIC_FEATURES = 41  # 40 phone-class posteriors + loudness

C = TypeVar("C", bound="NetworkConfig")


@dataclass(frozen=True)
class NetworkConfig:
    """Shapes and hyper-parameters of the network the runtime runs."""

    # audio front end
    front_end: str = "logmel"
    phonetic_smoothing: bool = True  # posteriors smoothed over a phone loop (forward-backward)
    # the phonetic front end's loudness channel; False feeds it zeros (the ablation without it)
    loudness: bool = True
    # log-mel (librosa conventions: centred frames, slaney mel scale + norm)
    sample_rate: int = 16000
    n_mels: int = 80
    hop_length: int = 160  # 10 ms -> 100 mel frames per second
    win_length: int = 800  # 50 ms Hann window
    n_fft: int = 800  # = win_length: zero-padding adds no resolution, 800 = 2^5 5^2 is fast
    fmin: float = 0.0
    fmax: float = 8000.0
    log_eps: float = 1e-6  # log(mel + eps): a floor for digital silence
    # "utterance": each clip's log-mel minus its mean over the clip's speech frames, as speech
    # recognisers normalise each utterance's cepstral mean (removes the voice's and the
    # microphone's average spectrum). "none": the log-mel as it is.
    mel_centring: str = "none"
    # video
    fps: int = 30
    n_vertices: int = 5084
    # audio encoder: conv k5 then residual dilated convs, all at the mel frame rate
    audio_channels: int = 128
    audio_kernel: int = 5
    audio_dilations: tuple[int, ...] = (2, 4, 6, 2, 4, 6)
    audio_lookahead: int = 50  # mel frames (10 ms each) of future audio seen by a frame
    leaky_slope: float = 0.2
    # the categorical latent
    heads: int = 16
    categories: int = 128
    # decoder
    template_widths: tuple[int, ...] = (256, 256, 128)
    latent_dim: int = 128
    decoder_hidden: int = 128
    decoder_lstm_layers: int = 2
    basis_size: int = 128
    template_scale: float = 100.0  # template offsets from the reference, metres -> cm
    # stage 2: autoregressive audio-conditioned prior over the codes
    prior_channels: int = 128
    prior_kernel: int = 2
    prior_dilations: tuple[int, ...] = (1, 2, 4, 8)

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError(f"invalid {type(self).__name__}: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """What is inconsistent about these settings (subclasses add their own)."""
        problems = []
        if self.win_length > self.n_fft:
            problems.append(f"win_length {self.win_length} > n_fft {self.n_fft}")
        if self.audio_kernel % 2 != 1:
            problems.append(f"audio_kernel must be odd, got {self.audio_kernel}")
        if not 0 <= self.audio_lookahead <= 2 * self.audio_half_context:
            problems.append(
                f"audio_lookahead must be in [0, {2 * self.audio_half_context}] mel frames"
            )
        if self.prior_kernel != 2:
            problems.append("prior_kernel must be 2 (the incremental runtime assumes it)")
        if self.front_end not in FRONT_ENDS:
            problems.append(f"front_end must be one of {FRONT_ENDS}, got {self.front_end!r}")
        if self.front_end == "phonetic" and (self.sample_rate, self.hop_length) != (16000, 160):
            problems.append("the phonetic front end runs at 16 kHz with a 160-sample hop")
        if self.mel_centring not in MEL_CENTRINGS:
            problems.append(
                f"mel_centring must be one of {MEL_CENTRINGS}, got {self.mel_centring!r}"
            )
        if len(self.template_widths) < 1 or self.template_widths[-1] != self.latent_dim:
            problems.append("template_widths must end with latent_dim")
        if self.fmax > self.sample_rate / 2:
            problems.append(f"fmax {self.fmax} above Nyquist {self.sample_rate / 2}")
        return problems

    # derived quantities ---------------------------------------------------------------
    @property
    def n_codes(self) -> int:
        """H*C: width of the one-hot latent of one frame."""
        return self.heads * self.categories

    @property
    def n_features(self) -> int:
        """Channels of the audio features the encoder reads."""
        return PHONETIC_FEATURES if self.front_end == "phonetic" else self.n_mels

    @property
    def feature_delay(self) -> float:
        """Where feature frame 0 is centred, in hops after sample 0: log-mel frames are
        centred on their hop; sphinx frames start there (their 410-sample window's centre
        is 204.5 samples later)."""
        return 204.5 / self.hop_length if self.front_end == "phonetic" else 0.0

    @property
    def mel_fps(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def audio_half_context(self) -> int:
        """Mel frames each side of a frame seen by the symmetric conv stack (50 -> 0.5 s)."""
        half = (self.audio_kernel - 1) // 2
        return half * (1 + sum(self.audio_dilations))

    @property
    def audio_shift(self) -> int:
        """How many mel frames earlier than its own time a video frame reads the encoder, so
        that the context it sees ends `audio_lookahead` frames after it."""
        return self.audio_half_context - self.audio_lookahead

    @property
    def prior_receptive_field(self) -> int:
        """Past frames of codes that a prior prediction depends on."""
        return 1 + sum(d * (self.prior_kernel - 1) for d in self.prior_dilations)

    @property
    def decoder_widths(self) -> tuple[int, ...]:
        """Widths after the LSTMs: the template widths mirrored (additive U-Net skips)."""
        return tuple(reversed(self.template_widths[:-1]))

    # serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def network_dict(self) -> dict[str, Any]:
        """The runtime's part only: what a weights file carries."""
        names = {f.name for f in fields(NetworkConfig)}
        return {k: v for k, v in self.to_dict().items() if k in names}

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], unknown: str = "error") -> C:
        """Build from a dict. Unknown keys: "error" (a typo in a config must not pass),
        "warn" (a weights file from a newer exporter: the runtime reads what it knows) or
        "ignore"."""
        known = {f.name for f in fields(cls)}
        extra = sorted(set(data) - known)
        if extra and unknown == "error":
            raise ValueError(f"unknown {cls.__name__} keys: {', '.join(extra)}")
        if extra and unknown == "warn":
            warnings.warn(
                f"ignoring settings this version does not know: {', '.join(extra)}", stacklevel=2
            )
        kwargs = {}
        for key, value in data.items():
            if key in known:
                default = getattr(cls, key, None)
                kwargs[key] = tuple(value) if isinstance(default, tuple) else value
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls: type[C], text: str) -> C:
        return cls.from_dict(json.loads(text))
