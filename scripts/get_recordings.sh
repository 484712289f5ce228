#!/usr/bin/env bash
# Fetch the real-human-speech recordings listed in docs/recordings/asterisk.tsv.
#
# Source: Debian package asterisk-core-sounds-en-g722 (Asterisk core prompts, US English,
# recorded by Allison Smith; CC-BY-SA-3.0, see copyright file copied next to the audio).
# The package's G.722 files are wideband (16 kHz); Debian's -wav variant is 8 kHz telephone
# band only, so we decode the G.722 ones with ffmpeg into 16-bit mono 16 kHz WAV:
#   ffmpeg -f g722 -i NAME.g722 -ac 1 -ar 16000 -c:a pcm_s16le NAME.wav
# into /usr/local/share/sounds/asterisk-allison16k/ (the absolute paths the list uses).
# Only the files named in the list are converted. Audio is not committed to the repo.
#
# Needs root (apt-get) on Debian 12. Idempotent: existing WAVs are kept; run again to finish
# an interrupted run. Exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
list="${1:-$here/../docs/recordings/asterisk.tsv}"
dest=/usr/local/share/sounds/asterisk-allison16k
pkg=asterisk-core-sounds-en-g722
src_sub=usr/share/asterisk/sounds/en_US_f_Allison

[ -f "$list" ] || { echo "get_recordings: list not found: $list" >&2; exit 1; }

# Relative names (e.g. "vm-login", "dictate/play_help") of the list's files under $dest.
mapfile -t names < <(grep -v '^#' "$list" | cut -f1 | grep . |
    sed -n "s#^$dest/\(.*\)\.wav\$#\1#p")
total=$(grep -v '^#' "$list" | cut -f1 | grep -c . || true)
if [ "${#names[@]}" -eq 0 ] || [ "${#names[@]}" -ne "$total" ]; then
    echo "get_recordings: every path in $list must be $dest/NAME.wav" >&2
    exit 1
fi

missing=()
for n in "${names[@]}"; do
    [ -s "$dest/$n.wav" ] || missing+=("$n")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "get_recordings: all ${#names[@]} recordings already in $dest"
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

if ! command -v ffmpeg >/dev/null 2>&1 || ! apt-cache show "$pkg" >/dev/null 2>&1; then
    $SUDO apt-get update -qq
fi
if ! command -v ffmpeg >/dev/null 2>&1; then
    $SUDO apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod a+rwx "$work"  # apt-get download as root downloads as the _apt user
(cd "$work" && apt-get download -qq "$pkg")
deb=$(ls "$work"/"$pkg"_*.deb)
dpkg -x "$deb" "$work/x"

$SUDO mkdir -p "$dest"
$SUDO cp "$work/x/usr/share/doc/$pkg/copyright" "$dest/copyright"
echo "$(basename "$deb")" | $SUDO tee "$dest/SOURCE" >/dev/null

for n in "${missing[@]}"; do
    in="$work/x/$src_sub/$n.g722"
    [ -f "$in" ] || { echo "get_recordings: $n.g722 not in $(basename "$deb")" >&2; exit 1; }
    $SUDO mkdir -p "$(dirname "$dest/$n.wav")"
    # write to a temporary name first so an interrupted run leaves no truncated WAV
    $SUDO ffmpeg -nostdin -hide_banner -loglevel error -y -f g722 -i "$in" \
        -ac 1 -ar 16000 -c:a pcm_s16le -f wav "$dest/$n.wav.part"
    $SUDO mv "$dest/$n.wav.part" "$dest/$n.wav"
done
echo "get_recordings: ${#missing[@]} converted, ${#names[@]} recordings in $dest"
