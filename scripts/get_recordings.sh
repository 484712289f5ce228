#!/usr/bin/env bash
# Fetch the real-human-speech recordings of docs/recordings/*.tsv (`python -m core.eval`):
#
# - Asterisk core prompts (Debian asterisk-core-sounds-en-g722: US English, one speaker,
#   Allison Smith, 25 min, CC-BY-SA-3.0). The G.722 files are wideband (16 kHz; Debian's -wav
#   variant is 8 kHz telephone band only), so every prompt is decoded with ffmpeg into 16-bit
#   mono 16 kHz WAV:  ffmpeg -f g722 -i NAME.g722 -ac 1 -ar 16000 -c:a pcm_s16le NAME.wav
#   into /usr/local/share/sounds/asterisk-allison16k/ (the absolute paths the list uses), with
#   the package's copyright file and the transcripts (core-sounds-en.txt, from the
#   asterisk-core-sounds-en package) next to them, for `python -m core.eval.lists`.
# - alsa-utils' speaker-test voice, ktuberling-data's English words and klettres-data's
#   English letters and words: installed as Debian packages (their own paths).
#
# Audio is not committed to the repo. Needs root (apt-get) on Debian 12. Idempotent: existing
# WAVs are kept; run again to finish an interrupted run. Exits non-zero on any failure.
set -euo pipefail

dest=/usr/local/share/sounds/asterisk-allison16k
pkg=asterisk-core-sounds-en-g722
text_pkg=asterisk-core-sounds-en
src_sub=usr/share/asterisk/sounds/en_US_f_Allison
apt_pkgs=(alsa-utils ktuberling-data klettres-data)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
updated=""
apt_update() {
    [ -n "$updated" ] || { $SUDO apt-get update -qq; updated=1; }
}

missing_pkgs=()
for p in "${apt_pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing_pkgs+=("$p")
done
if [ "${#missing_pkgs[@]}" -gt 0 ]; then
    apt_update
    $SUDO apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
fi

if [ -s "$dest/SOURCE" ] && [ -s "$dest/core-sounds-en.txt" ]; then
    echo "get_recordings: Asterisk prompts already in $dest; ${apt_pkgs[*]} installed"
    exit 0
fi

if ! command -v ffmpeg >/dev/null 2>&1; then
    apt_update
    $SUDO apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
fi
apt-cache show "$pkg" >/dev/null 2>&1 || apt_update

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod a+rwx "$work"  # apt-get download as root downloads as the _apt user
(cd "$work" && apt-get download -qq "$pkg" "$text_pkg")
deb=$(ls "$work"/"$pkg"_*.deb)
dpkg -x "$deb" "$work/x"
dpkg -x "$(ls "$work"/"$text_pkg"_*.deb)" "$work/t"

$SUDO mkdir -p "$dest"
$SUDO cp "$work/x/usr/share/doc/$pkg/copyright" "$dest/copyright"
zcat "$work/t/usr/share/doc/$text_pkg/core-sounds-en.txt.gz" | $SUDO tee "$dest/core-sounds-en.txt" \
    >/dev/null

converted=0
cd "$work/x/$src_sub"
while IFS= read -r -d '' in; do
    n="${in#./}"
    n="${n%.g722}"
    [ -s "$dest/$n.wav" ] && continue
    $SUDO mkdir -p "$(dirname "$dest/$n.wav")"
    # write to a temporary name first so an interrupted run leaves no truncated WAV
    $SUDO ffmpeg -nostdin -hide_banner -loglevel error -y -f g722 -i "$in" \
        -ac 1 -ar 16000 -c:a pcm_s16le -f wav "$dest/$n.wav.part"
    $SUDO mv "$dest/$n.wav.part" "$dest/$n.wav"
    converted=$((converted + 1))
done < <(find . -name '*.g722' -print0)
# written last: its presence says the set is complete
basename "$deb" | $SUDO tee "$dest/SOURCE" >/dev/null
total=$(find "$dest" -name '*.wav' | wc -l)
echo "get_recordings: $converted converted, $total Asterisk prompts in $dest; ${apt_pkgs[*]} installed"
