# Two commands on a fresh machine:  make demo   and   make test
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nmre-installed

.PHONY: demo test bench eval lint setup clean mutation

$(STAMP): pyproject.toml scripts/setup-system.sh
	PYTHON=$(PYTHON) bash scripts/setup-system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/nmre demo

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/run.py

# the clinical-validity suite (docs/eval.md); under 15 minutes on 2 cores; writes eval/results.json,
# which the quick suite in `make test` holds (a figure that falls below a target it met fails the tests)
eval: $(STAMP)
	$(VENV)/bin/nmre eval --results eval/results.json

# mutation spot-check of rules/ and dsp/ (docs/testing.md): about 10 min on one core, not in `make test`
mutation: $(STAMP)
	nice $(PY) scripts/mutation_check.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(PY) -m mypy src

clean:
	rm -rf $(VENV) build src/*.egg-info
