# cgan-studio: `make run` launches the app, `make test` runs the whole suite. Both build .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv run test bench bench-peers soak clean

venv: $(STAMP)

# Rebuilt only when the dependency files change, so `make venv` is fast when nothing did.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "cgan-studio needs Python 3.11 (torch's cp311 wheel); .venv has another" >&2; exit 1; }
	@# torch first and alone, pinned: an unpinned torch would pull the newest CUDA build (several GB).
	$(PY) -m pip install -q -c constraints.txt "torch==2.13.0"
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	@touch $(STAMP)

run: venv
	$(VENV)/bin/cgan-studio

# Two workers that steal each other's queued tests (the longest file no longer ends alone); one torch
# thread a worker and a child (tests/conftest.py): two threads each only queued behind one another.
test: venv
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -n 2 --dist worksteal tests

# Speed, guard and distance-to-limit figures (minutes); BENCHMARKS.md records each command and its output.
bench: venv
	$(PY) -m benchmarks.bench_engine --seconds 30
	$(PY) -m benchmarks.bench_guard --seconds 10 --rounds 3
	$(PY) -m benchmarks.bench_flops --seconds 15

# The engine against the tutorials' own Keras/TensorFlow code: a benchmark-only environment, never the app's.
PEERS := .venv-peers
$(PEERS)/.installed: benchmarks/peers/requirements.txt
	@test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q -r benchmarks/peers/requirements.txt
	@touch $@

bench-peers: venv $(PEERS)/.installed
	$(PY) -m benchmarks.bench_peers --seconds 20 --rounds 2 --peers $(PEERS)/bin/python

# Every preset for 10 minutes from the CLI, then 3 minutes each in the studio (about an hour).
soak: venv
	$(PY) benchmarks/bench_soak.py --minutes 10
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/soak_studio.py --minutes 3

clean:
	rm -rf $(VENV) $(PEERS) build *.egg-info
