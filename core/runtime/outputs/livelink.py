"""Live Link Face CSV: ARKit weights laid out as Epic's Live Link Face app records them, so
Unreal's LiveLinkFaceImporter (and MetaHuman pipelines built on it) import them as takes.

Columns: `Timecode,BlendShapeCount`, the 52 ARKit names in PascalCase in Unreal's
`EARFaceBlendShape` order (`UNREAL_NAMES`), then the head and eye rotations (`ROTATIONS`);
every row holds 61 values. The importer maps columns by their header names, so names matter
more than order; the order is Unreal's enum, as documented for the format.

Timecode `HH:MM:SS:FF.fff`. Epic's importer (LiveLinkFaceImporterFactory.cpp) splits it at
the colons and reads the last field as a *fractional frame number*: a row's time is
HH*3600 + MM*60 + SS + FF.fff / rate. The rate is written nowhere; the importer takes 60 if
some row's frame number exceeds 30, else 30 (the app records at 30 or 60 fps, and writes the
sub-frame of its capture clock after the dot). So `FF` counts frames of that 30 or 60 fps
grid and `.fff` is thousandths *of a frame*, not milliseconds. Each row carries its frame's
exact time on that grid (`timecode`): clips up to 30 fps on the 30 fps grid, faster clips on
the 60 fps one (`timecode_rate`). At 30 and 60 fps `FF` is the frame's index within its
second and `.fff` is `.000`, as the app writes; at 24, 25 or 29.97 fps the fraction carries
the exact time: 29.97 fps (30000/1001) frame 1 is at 1001/30000 s = `00:00:00:01.001`, frame
30 at 1.001 s = `00:00:01:00.030`. That is elapsed time, not SMPTE drop-frame labelling
(which renames frames without changing times); the importer reads it as elapsed time too.
Rounding to a thousandth of a frame moves a row by at most 17 µs. The clip starts at 0.

Rotations are in Live Link's unit, degrees / 180 (Epic's AppleARKitFaceSupport maps
-180..180° onto -1..1). The head's are 0: MeshTalk animates the face, not the neck. The
eyes' come from the eyeLook* weights, at the angle the template's own eye units turn the
eyeball at weight 1 (`EYE_DEGREES`, measured from their deltas): yaw = out/in, pitch =
up/down, roll 0. Signs: yaw positive turns the gaze towards the character's left (as
Epic's conversion gives for the unmirrored app), pitch positive turns it up. MetaHuman's
ARKit mapping drives the eyes from the eyeLook* curves themselves; these columns are for
rigs that turn eye bones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

import numpy as np

UNREAL_NAMES = (
    "EyeBlinkLeft",
    "EyeLookDownLeft",
    "EyeLookInLeft",
    "EyeLookOutLeft",
    "EyeLookUpLeft",
    "EyeSquintLeft",
    "EyeWideLeft",
    "EyeBlinkRight",
    "EyeLookDownRight",
    "EyeLookInRight",
    "EyeLookOutRight",
    "EyeLookUpRight",
    "EyeSquintRight",
    "EyeWideRight",
    "JawForward",
    "JawLeft",
    "JawRight",
    "JawOpen",
    "MouthClose",
    "MouthFunnel",
    "MouthPucker",
    "MouthLeft",
    "MouthRight",
    "MouthSmileLeft",
    "MouthSmileRight",
    "MouthFrownLeft",
    "MouthFrownRight",
    "MouthDimpleLeft",
    "MouthDimpleRight",
    "MouthStretchLeft",
    "MouthStretchRight",
    "MouthRollLower",
    "MouthRollUpper",
    "MouthShrugLower",
    "MouthShrugUpper",
    "MouthPressLeft",
    "MouthPressRight",
    "MouthLowerDownLeft",
    "MouthLowerDownRight",
    "MouthUpperUpLeft",
    "MouthUpperUpRight",
    "BrowDownLeft",
    "BrowDownRight",
    "BrowInnerUp",
    "BrowOuterUpLeft",
    "BrowOuterUpRight",
    "CheekPuff",
    "CheekSquintLeft",
    "CheekSquintRight",
    "NoseSneerLeft",
    "NoseSneerRight",
    "TongueOut",
)
ROTATIONS = (
    "HeadYaw",
    "HeadPitch",
    "HeadRoll",
    "LeftEyeYaw",
    "LeftEyePitch",
    "LeftEyeRoll",
    "RightEyeYaw",
    "RightEyePitch",
    "RightEyeRoll",
)
HEADER = ("Timecode", "BlendShapeCount", *UNREAL_NAMES, *ROTATIONS)
VALUE_COUNT = len(UNREAL_NAMES) + len(ROTATIONS)  # 61, the BlendShapeCount column
# degrees the template's eyeLook* units turn the eyeball at weight 1 (tests measure them)
EYE_DEGREES = {"Out": 15.0, "In": 15.4, "Up": 9.8, "Down": 11.4}
_ROW = ",".join(["%.6f"] * VALUE_COUNT)


def pascal(name: str) -> str:
    """ARKit's camelCase name as Live Link writes it: eyeBlinkLeft -> EyeBlinkLeft."""
    return name[:1].upper() + name[1:]


def _ticks(start: int, count: int, fps: float, rate: int) -> np.ndarray:
    """Times of frames start … start + count - 1 (frame k at k / fps seconds) in thousandths
    of a frame of the `rate` grid, rounded as the timecodes write them."""
    return np.rint(np.arange(start, start + count) / fps * rate * 1000).astype(np.int64)


def timecode_rate(fps: float, n_frames: int) -> int:
    """The frame grid of the timecodes: 30, or 60 for clips above 30 fps, but only if some
    row's frame number then exceeds 30 (Unreal's importer infers 60 from that alone). The
    first second of a clip holds its largest frame numbers."""
    if fps <= 30:
        return 30
    ticks = _ticks(0, min(int(n_frames), int(np.ceil(fps)) + 1), fps, 60)
    return 60 if bool(np.any(ticks % 60000 > 30000)) else 30


def timecodes(start: int, count: int, fps: float, rate: int) -> list[str]:
    """`HH:MM:SS:FF.fff` of frames start … start + count - 1 on the `rate` grid."""
    seconds, sub = np.divmod(_ticks(start, count, fps, rate), rate * 1000)
    frame, thousandths = np.divmod(sub, 1000)
    hours, rest = np.divmod(seconds, 3600)
    minutes, secs = np.divmod(rest, 60)
    fields = np.stack([hours, minutes, secs, frame, thousandths], axis=1).tolist()
    return [f"{h:02d}:{m:02d}:{s:02d}:{f:02d}.{t:03d}" for h, m, s, f, t in fields]


def eye_rotation_matrix(names: Sequence[str]) -> np.ndarray:
    """(52, 6): weights @ matrix = LeftEyeYaw, LeftEyePitch, LeftEyeRoll, RightEyeYaw,
    RightEyePitch, RightEyeRoll in Live Link's unit (degrees / 180)."""
    column = {name: i for i, name in enumerate(names)}
    matrix = np.zeros((len(names), 6))
    for side, yaw in (("Left", 0), ("Right", 3)):
        towards_left = {"Left": "Out", "Right": "In"}[side]  # the gaze turns to +X
        towards_right = {"Left": "In", "Right": "Out"}[side]
        matrix[column[f"eyeLook{towards_left}{side}"], yaw] = EYE_DEGREES[towards_left]
        matrix[column[f"eyeLook{towards_right}{side}"], yaw] = -EYE_DEGREES[towards_right]
        matrix[column[f"eyeLookUp{side}"], yaw + 1] = EYE_DEGREES["Up"]
        matrix[column[f"eyeLookDown{side}"], yaw + 1] = -EYE_DEGREES["Down"]
    return matrix / 180.0


class LiveLinkCsv:
    """Rows of a Live Link Face CSV written to `stream` as weights arrive (`write_weights`
    with (n, 52) weights in `names` order, the template's ARKit names); `finish` checks that
    all `n_frames` rows were written."""

    def __init__(self, stream: TextIO, fps: float, n_frames: int, names: Sequence[str]) -> None:
        if not fps > 0:
            raise ValueError(f"the frame rate must be positive, got {fps}")
        pascal_names = [pascal(n) for n in names]
        missing = sorted(set(UNREAL_NAMES) - set(pascal_names))
        if missing:
            raise ValueError(f"the weights lack ARKit units: {', '.join(missing)}")
        self._columns = np.array([pascal_names.index(n) for n in UNREAL_NAMES])
        self._eyes = eye_rotation_matrix(names)
        self._stream, self.fps, self.n_frames = stream, float(fps), int(n_frames)
        self.rate = timecode_rate(self.fps, self.n_frames)
        self.written = 0
        stream.write(",".join(HEADER) + "\n")

    def write_weights(self, weights: np.ndarray) -> None:
        weights = np.asarray(weights, np.float64)
        if weights.ndim != 2 or weights.shape[1] != len(self._eyes):
            raise ValueError(f"weights must be (n, {len(self._eyes)}), got {weights.shape}")
        if not np.isfinite(weights).all():
            raise ValueError("the weights contain NaN or infinite values")
        n = len(weights)
        values = np.hstack([weights[:, self._columns], np.zeros((n, 3)), weights @ self._eyes])
        values = np.round(values, 6) + 0.0  # 6 decimals, and no "-0.000000"
        codes = timecodes(self.written, n, self.fps, self.rate)
        lines = [
            f"{code},{VALUE_COUNT},{_ROW % tuple(row)}\n"
            for code, row in zip(codes, values.tolist(), strict=True)
        ]
        self._stream.write("".join(lines))
        self.written += n

    def finish(self) -> None:
        if self.written != self.n_frames:
            raise ValueError(f"Live Link CSV: wrote {self.written} of {self.n_frames} frames")
