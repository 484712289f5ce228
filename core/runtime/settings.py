"""One request's settings: the one parameter set the CLI, the add-on's panel and operator and
batch jobs all build (the add-on's PropertyGroup converts itself into this dataclass).

Values are checked here, once, with messages a user can act on."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

MAX_FPS = 240.0
MAX_TEMPERATURE = 3.0
MAX_STRENGTH = 2.0
# the frame rates animators use; any rate in (0, MAX_FPS] works
COMMON_FPS = (23.976, 24.0, 25.0, 29.97, 30.0, 48.0, 50.0, 59.94, 60.0)


class SettingsError(ValueError):
    """A setting out of range or of the wrong type (the message names it)."""


@dataclass(frozen=True)
class Settings:
    """How to animate one clip."""

    fps: float = 30.0  # output frame rate (the network runs at 30 fps; frames are converted)
    seed: int = 0  # which upper-face performance (blinks, brows, gaze) is sampled
    # expressiveness: how varied and frequent the sampled upper-face motion is; 1 = as in
    # the training data, 0 = the most likely (calmest) performance
    temperature: float = 1.0
    lips_only: bool = False  # keep the upper face at rest (= upper_strength 0)
    # how far the face moves from the speaker's rest: the lower face (jaw, lips, cheeks) and
    # the upper face (brows, lids, eye region); 1 = as the network made it, 0 = still
    mouth_strength: float = 1.0
    upper_strength: float = 1.0
    weights: Path | None = None  # another network file (None: the bundled one)

    def __post_init__(self) -> None:
        if not (isinstance(self.fps, int | float) and math.isfinite(self.fps)):
            raise SettingsError(f"fps must be a number, got {self.fps!r}")
        if not 0 < self.fps <= MAX_FPS:
            raise SettingsError(f"fps must be in (0, {MAX_FPS:g}], got {self.fps:g}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SettingsError(f"seed must be a whole number >= 0, got {self.seed!r}")
        if not isinstance(self.temperature, int | float) or not (
            0 <= self.temperature <= MAX_TEMPERATURE
        ):
            raise SettingsError(
                f"temperature (expressiveness) must be in [0, {MAX_TEMPERATURE:g}], "
                f"got {self.temperature!r}"
            )
        for name in ("mouth_strength", "upper_strength"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingsError(f"{name} must be a number, got {value!r}")
            if not 0 <= value <= MAX_STRENGTH:
                raise SettingsError(f"{name} must be in [0, {MAX_STRENGTH:g}], got {value!r}")
        if self.weights is not None and not isinstance(self.weights, Path):
            object.__setattr__(self, "weights", Path(self.weights))

    def with_(self, **changes: Any) -> Settings:
        """A copy with some settings changed (checked again)."""
        return replace(self, **changes)

    @property
    def effective_upper_strength(self) -> float:
        return 0.0 if self.lips_only else self.upper_strength

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "") -> Settings:
        """From loosely typed input (a batch job's JSON, a form): converts numbers given as
        strings, refuses what does not convert, and names the key. Unknown keys are the
        caller's business (a job has other keys too)."""
        prefix = f"{where}: " if where else ""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data or data[f.name] is None:
                continue
            value = data[f.name]
            try:
                kwargs[f.name] = _convert(f.name, value)
            except (TypeError, ValueError):
                kind = _KINDS[f.name]
                raise SettingsError(f"{prefix}{f.name} must be {kind}, got {value!r}") from None
        try:
            return cls(**kwargs)
        except SettingsError as exc:
            raise SettingsError(f"{prefix}{exc}") from None


_KINDS = {
    "fps": "a number",
    "seed": "a whole number",
    "temperature": "a number",
    "lips_only": "true or false",
    "mouth_strength": "a number",
    "upper_strength": "a number",
    "weights": "a file path",
}


def _convert(name: str, value: Any) -> Any:
    if name == "seed":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    if name in ("fps", "temperature", "mouth_strength", "upper_strength"):
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    if name == "lips_only":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError
    if name == "weights":
        if not isinstance(value, str | Path):
            raise TypeError
        return Path(value)
    return value
