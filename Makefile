# The two commands in README.md: `make demo` and `make test`. Each creates .venv on a fresh
# machine and installs what it needs; CPU installs take torch from constraints-cpu.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := constraints-cpu.txt
DEMO_OUT ?= demo-out
SRC_DEPS := pyproject.toml $(CONSTRAINTS)

.PHONY: demo test install install-test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python $(SRC_DEPS)
	$(PIP) install -q -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python $(SRC_DEPS)
	$(PIP) install -q -c $(CONSTRAINTS) -e '.[all,dev]'
	touch $@ $(VENV)/.installed

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

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n 2 -q

bench: $(VENV)/.installed-test
	$(PIP) install -q -c $(CONSTRAINTS) -e '.[all,dev,bench]'
	$(BIN)/python scripts/bench_convert.py

lint: $(VENV)/.installed-test
	$(BIN)/python -m ruff check svmlp tests scripts

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache build dist *.egg-info
