# Two commands do everything on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# make run SCENARIO=path/to/file.toml opens your own scenario (nothing: the bundled two-layer net)
SCENARIO ?=

.PHONY: run test bench fuzz monkey screenshot clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/gradstep $(SCENARIO)

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench

fuzz: $(STAMP)
	GRADSTEP_FUZZ_EXAMPLES=100000 $(BIN)/python -m pytest -q -p no:timeout tests/engine/test_fuzz.py

monkey: $(STAMP)
	GRADSTEP_MONKEY_EVENTS=10000 $(BIN)/python -m pytest -q tests/tui/test_monkey.py

screenshot: $(STAMP)
	$(BIN)/python -m gradstep.tui.screenshot docs/screenshot.svg

clean:
	rm -rf $(VENV) build dist *.egg-info
