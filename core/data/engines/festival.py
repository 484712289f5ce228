"""Festival 2.5 (Debian ``festival`` + ``festvox-*`` voices), driven by a Scheme script.

The script synthesises and prints the Segment relation's ``end`` feature (and each segment's
word) — the times the waveform was generated from, so the timing is exact. Rate uses
``Duration_Stretch`` (diphone voices) or hts_engine's ``-r`` (HTS voices); pitch scales the
intonation targets of the diphone voices; festival's HTS wrapper ignores ``-fm``, so HTS voices
get a length-preserving pitch shift; volume is a gain.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from ..phones import SIL, segments_to_phones, to_arpabet
from .base import EngineResult, EngineUnavailableError, as_float32
from .pitch import shift_pitch

VOICE_ROOT = Path("/usr/share/festival/voices")


@dataclass(frozen=True)
class FestivalVoice:
    name: str  # festival's voice function is voice_<name>
    package: str  # Debian package that ships it
    path: str  # relative to VOICE_ROOT
    hts: bool
    phoneset: str = "festival"  # its phone set's map in core/data/phones.py (MAPS key)
    lr_pitch: bool = True  # pitch by scaling int_lr_params (else a length-preserving shift)
    respell: tuple[tuple[str, str], ...] = ()  # (text, replacement): what its rules cannot say


# Text a voice's rules stop at, respelled. Festival's Finnish rules fail on an utterance-final z,
# q or 's ("Lopez.", "in Iraq.", "their r's."): Finnish has neither letter nor the apostrophe,
# and a Finn reads them s, k and nothing. The Italian intonation fails on some questions ("Do you
# really think so?"): they end in a full stop. (Scans of all 6,738 sentences with these
# respellings find no other failure in any of the four languages.)
RESPELL = {
    "finnish": (("z", "s"), ("Z", "S"), ("q", "k"), ("Q", "K"), ("'", "")),
    "italian": (("?", "."),),
}

VOICES: dict[str, FestivalVoice] = {
    v.name: v
    for v in (
        FestivalVoice("kal_diphone", "festvox-kallpc16k", "english/kal_diphone", False),
        FestivalVoice("ked_diphone", "festvox-kdlpc16k", "english/ked_diphone", False),
        FestivalVoice(
            "cmu_us_slt_arctic_hts", "festvox-us-slt-hts", "us/cmu_us_slt_arctic_hts", True,
            lr_pitch=False,
        ),
        # Voices of other languages, reading the English sentences with their own letter-to-
        # sound rules: more vocal tracts (women, a child) than English offers here. Their
        # intonation modules ignore int_lr_params, so pitch is a length-preserving shift.
        *(
            FestivalVoice(
                name, package, f"{lang}/{name}", hts, f"festival-{lang}", False,
                RESPELL.get(lang, ()),
            )
            for name, package, lang, hts in (
                ("lp_diphone", "festvox-italp16k", "italian", False),
                ("pc_diphone", "festvox-itapc16k", "italian", False),
                ("suo_fi_lj_diphone", "festvox-suopuhe-lj", "finnish", False),
                ("hy_fi_mv_diphone", "festvox-suopuhe-mv", "finnish", False),
                ("upc_ca_ona_hts", "festvox-ca-ona-hts", "catalan", True),
                ("czech_dita", "festvox-czech-dita", "czech", False),
                ("czech_krb", "festvox-czech-krb", "czech", False),
                ("czech_machac", "festvox-czech-machac", "czech", False),
                ("czech_ph", "festvox-czech-ph", "czech", False),
            )
        ),
    )
}  # fmt: skip


def available(voice: str) -> bool:
    v = VOICES.get(voice)
    return bool(shutil.which("festival")) and v is not None and (VOICE_ROOT / v.path).is_dir()


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _script(v: FestivalVoice, text: str, wav: Path, rate: float, pitch: float) -> str:
    lines = [f"(voice_{v.name})"]
    if v.hts:
        lines.append(
            f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {rate:.6f}))))'
        )
    else:
        lines.append(
            f"(Parameter.set 'Duration_Stretch (/ (Parameter.get 'Duration_Stretch) {rate:.6f}))"
        )
    if v.lr_pitch:
        lines.append(
            "(set! int_lr_params (mapcar (lambda (p) (if (member (car p) "
            "'(target_f0_mean target_f0_std)) "
            f"(list (car p) (* {pitch:.6f} (car (cdr p)))) p)) int_lr_params))"
        )
    lines += [
        f"(set! utt (Utterance Text {_scheme_string(text)}))",
        "(utt.synth utt)",
        f"(utt.save.wave utt {_scheme_string(str(wav))} 'riff)",
        '(mapcar (lambda (s) (format t "%s\\t%s\\t%f\\n" (item.name s) '
        '(item.feat s "R:SylStructure.parent.parent.id") (item.feat s "end"))) '
        "(utt.relation.items utt 'Segment))",
    ]
    return "\n".join(lines) + "\n"


def synthesize(
    text: str, voice: str, rate: float = 1.0, pitch: float = 1.0, volume: float = 1.0
) -> EngineResult:
    """Speak text with a festival voice (a key of VOICES)."""
    v = VOICES.get(voice)
    if v is None:
        raise EngineUnavailableError(f"festival has no voice {voice!r}; known: {sorted(VOICES)}")
    exe = shutil.which("festival")
    if exe is None or not (VOICE_ROOT / v.path).is_dir():
        raise EngineUnavailableError(
            f"voice 'festival:{voice}' needs the Debian packages 'festival' and '{v.package}': "
            f"apt-get install festival {v.package}"
        )
    with tempfile.TemporaryDirectory(prefix="festival-") as tmp:
        wav = Path(tmp) / "out.wav"
        script = Path(tmp) / "synth.scm"
        for pattern, replacement in v.respell:
            text = text.replace(pattern, replacement)
        script.write_text(_script(v, text, wav, rate, pitch), encoding="utf-8")
        done = subprocess.run([exe, "-b", str(script)], capture_output=True, text=True, check=False)
        if done.returncode != 0 or not wav.exists():
            raise RuntimeError(f"festival failed ({done.returncode}): {done.stderr.strip()}")
        samples, sr = sf.read(str(wav), dtype="int16", always_2d=False)
    audio = as_float32(samples, volume)
    if not v.lr_pitch and pitch != 1.0:
        audio = shift_pitch(audio, sr, pitch)
    total = len(audio) / sr
    segs, words, start, last_word = [], [], 0.0, None
    for line in done.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        name, word, end_s = parts
        end = float(end_s)
        arpa = to_arpabet(name, v.phoneset)
        segs.append((arpa, start, end))
        start = end
        if arpa == (SIL,):
            last_word = None
            continue
        if word in ("0", "") and words and last_word is not None:
            word = last_word  # a post-lexical segment (e.g. a linking r) joins its word
        if word != last_word or not words:
            words.append([])
            last_word = word
        words[-1].extend(arpa)
    if not segs:
        raise RuntimeError(f"festival printed no segments: {done.stdout[-500:]!r}")
    return EngineResult(audio, sr, segments_to_phones(segs, total), words)
