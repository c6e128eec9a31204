# Two commands a newcomer runs: `make demo` and `make test`. Both install what they need, once.
PYTHON ?= python3.11
VENV := .venv
BPY_VERSIONS := 45 50
BPY_45 := 4.5.15
BPY_50 := 5.0.1
STAMP := $(VENV)/.installed
# the package's bytecode, compiled once as pip does for a regular install (an editable install does
# not; with PYTHONDONTWRITEBYTECODE set, every run would compile ~30 modules again: ~70 ms a run)
BYTECODE := $(VENV)/.bytecode
PY_SOURCES := $(shell find eamm_core server eamm_app -name '*.py' 2>/dev/null)
PIP_FLAGS := --disable-pip-version-check --no-input -q

.PHONY: all demo test test-core test-blender install install-blender addon addon-linux bench clean

all: test

$(STAMP): requirements/main.txt requirements/nodeps.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python 3.11 (see README)"; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install $(PIP_FLAGS) -r requirements/main.txt
	$(VENV)/bin/python -m pip install $(PIP_FLAGS) --no-deps -r requirements/nodeps.txt
	$(VENV)/bin/python -m pip install $(PIP_FLAGS) --no-deps --no-build-isolation -e .
	touch $@

$(BYTECODE): $(STAMP) $(PY_SOURCES)
	$(VENV)/bin/python -m compileall -q eamm_core server eamm_app >/dev/null
	touch $@

install: $(STAMP) $(BYTECODE)

.venv-bpy%/.installed: requirements/blender.txt
	test -x .venv-bpy$*/bin/python || $(PYTHON) -m venv .venv-bpy$*
	.venv-bpy$*/bin/python -m pip install $(PIP_FLAGS) bpy==$(BPY_$*) -r requirements/blender.txt
	touch $@

install-blender: $(foreach v,$(BPY_VERSIONS),.venv-bpy$(v)/.installed)

test-core: $(STAMP) $(BYTECODE)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

# the linux zip the bundled-install test installs (built here, so its wheel downloads belong to set-up)
addon-linux: $(STAMP)
	$(VENV)/bin/python scripts/build_addon.py --out dist --platform linux-x64

test-blender: $(STAMP) install-blender addon-linux
	@for v in $(BPY_VERSIONS); do \
	  echo "== Blender add-on tests with bpy from .venv-bpy$$v"; \
	  EAMM_MAIN_PYTHON=$(CURDIR)/$(VENV)/bin/python .venv-bpy$$v/bin/python -m pytest -o addopts="-ra" tests/blender || exit 1; \
	done

test: test-core test-blender

demo: $(STAMP) $(BYTECODE)
	$(VENV)/bin/eamm generate --portrait samples/astronaut.png --audio samples/speech.wav \
	  --emotion samples/happy.npz --strength 1.0 --out demo_out
	@echo "Demo result: $(CURDIR)/demo_out/result.mp4 (frames in demo_out/frames/)"

# the plain zip (external server) and one zip per platform carrying the bundled landmark server
# (wheels cached in ~/.cache/eamm/addon-wheels; an unchanged zip is not rebuilt)
ADDON_PLATFORMS := linux-x64 windows-x64 macos-arm64
addon: $(STAMP)
	$(VENV)/bin/python scripts/build_addon.py --out dist
	$(VENV)/bin/python scripts/build_addon.py --out dist $(foreach p,$(ADDON_PLATFORMS),--platform $(p))

bench: $(STAMP)
	$(VENV)/bin/python bench/prepare_speed.py

clean:
	rm -rf $(VENV) .venv-bpy45 .venv-bpy50 dist demo_out .pytest_cache
