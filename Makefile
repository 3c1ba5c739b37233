# The two commands of the README, and a few more. Both create .venv on first use.
#   make book [PRESET=default|quick|paper]   execute every chapter and build _build/html
#   make test                                 run the test suite
#   make lint                                 ruff over the code and the chapters' code cells
PRESET ?= default
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: book test test-kernels lint check-figures lab publish bench gpu-check clean

book: $(STAMP)
	$(VENV)/bin/python -m l2m.build --preset $(PRESET)

test: $(STAMP)
	$(VENV)/bin/python -m pytest

# The numerically sensitive tests (marker `numerics`) under every ATEN_CPU_CAPABILITY this CPU supports
# (l2m.numerics.kernel_paths: default, avx2, avx512) with 1 and 2 threads: their tolerances are bounds, so they
# must pass on every path, not just the one this machine picks.
test-kernels: $(STAMP)
	@for path in $$($(VENV)/bin/python -c "from l2m import numerics; print(*numerics.kernel_paths())"); do \
	  for threads in 1 2; do \
	    echo "[test-kernels] ATEN_CPU_CAPABILITY=$$path OMP_NUM_THREADS=$$threads"; \
	    ATEN_CPU_CAPABILITY=$$path OMP_NUM_THREADS=$$threads $(VENV)/bin/python -m pytest -q -m numerics || exit 1; \
	  done; \
	done

# ruff (pyproject.toml [tool.ruff]): the package, the tests, the benchmarks and the chapters' code cells.
lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Headless Chromium (Debian's `chromium`) opens every built page and fails unless its figures drew and its
# math was typeset, or if a page loads anything from another host.
# playwright drives the system's browser (/usr/bin/chromium); it reports, per page, the figures drawn, the
# controls of the explorer figures exercised, the requests to other hosts (must be 0) and the page's size, and
# saves one figure per chapter to _build/screenshots/.
check-figures: $(STAMP)
	$(VENV)/bin/python -m l2m.figcheck _build/html

# JupyterLab on the chapters, with this environment's kernel (l2m importable, the same $$L2M_CACHE as the
# build, so a chapter already built re-runs from the cache). LAB_FLAGS=--no-browser on a remote machine.
LAB_PORT ?= 8888
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=book --ServerApp.port=$(LAB_PORT) $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_FLAGS)

# The built HTML onto the gh-pages branch (a commit of its own, .nojekyll included), pushed to REMOTE.
REMOTE ?= origin
publish: $(STAMP)
	test -f _build/html/index.html || { echo "no _build/html: run make book first"; exit 1; }
	$(VENV)/bin/ghp-import -n -p -r $(REMOTE) -b gh-pages -m "Publish the book" _build/html

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_gaussian.py
	$(VENV)/bin/python benchmarks/bench_twopoint.py
	$(VENV)/bin/python benchmarks/bench_lm.py
	$(VENV)/bin/python benchmarks/bench_train.py
	$(VENV)/bin/python benchmarks/bench_sweep.py
	$(VENV)/bin/python benchmarks/bench_numerics.py

# The prepared GPU check (lib/l2m/gpucheck.py; README "At the paper's scale, on GPUs"). It runs with the
# machine's own python3 and CUDA torch: no .venv, no requirements.txt (its torch is the CPU build).
# Without CUDA it prints one line. GPU_CHECK_FLAGS=--build-kernels also compiles the SSM kernels first.
GPU_PYTHON ?= python3
OUT ?= _build/gpu-check
gpu-check:
	PYTHONPATH=lib$${PYTHONPATH:+:$$PYTHONPATH} $(GPU_PYTHON) -m l2m.gpucheck --out $(OUT) $(GPU_CHECK_FLAGS)

$(STAMP): requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt -e .
	touch $@

clean:
	rm -rf _build
