# The two commands of the README, and a few more. Both create .venv on first use.
#   make book [PRESET=default|quick|paper]   execute every chapter and build _build/html
#   make test                                 run the test suite
PRESET ?= default
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: book test check-figures bench clean

book: $(STAMP)
	$(VENV)/bin/python -m l2m.build --preset $(PRESET)

test: $(STAMP)
	$(VENV)/bin/python -m pytest

# Headless Chromium (Debian's `chromium`) opens every built page and fails unless its figures drew and its
# math was typeset, or if a page loads anything from another host.
check-figures: $(STAMP)
	$(VENV)/bin/python -m l2m.figcheck _build/html

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_gaussian.py
	$(VENV)/bin/python benchmarks/bench_twopoint.py
	$(VENV)/bin/python benchmarks/bench_lm.py
	$(VENV)/bin/python benchmarks/bench_train.py
	$(VENV)/bin/python benchmarks/bench_sweep.py

$(STAMP): requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt -e .
	touch $@

clean:
	rm -rf _build
