# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# Both create .venv/ from the pinned lock (requirements.lock) when it is missing or stale.
SHELL := /bin/bash
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
CONFIG ?=
SNAKEMAKE_ARGS ?=
export PATH := $(BIN):$(PATH)
export MPLBACKEND := Agg

.PHONY: venv run test test-fast bench bench-rejax-venv lint dryrun clean help

help:
	@echo "make run     - set up .venv and run the workflow on config/config.yaml (CPU, minutes)"
	@echo "make test    - set up .venv and run the test suite (unit tests + one end-to-end ci run)"
	@echo "make bench   - post-update estimator vs bare rollout, training throughput (vs rejax where installed)"
	@echo "make bench-rejax-venv - install rejax 0.1.3 into .venv-rejax for bench's training comparison"
	@echo "make lint    - snakemake --lint"
	@echo "make archive - pack results/<run>/<run>-artifact.tar.gz (stats, post-update, figures, provenance, sha256 manifest)"
	@echo "make verify-archive [FILE=...] - re-check every checksum of an artifact archive"
	@echo "make report  - Snakemake HTML report of a finished run: results/<run>/report.html"

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

# A JAX job spends much of its time compiling, which is single-threaded: on a laptop, let
# two simulating jobs share the cores so one compiles while the other simulates (XLA on one
# thread each: workflow/rules/common.smk). Snakemake's --max-threads 1 gives every job one scheduling slot: the
# rules that simulate are the only ones that ask for more (`threads:` 2, or
# resources.host_threads on host-stepped tasks), so no list of rule names is kept, and the
# rules generated per seed list or checkpoint schedule (train_atari, post_update_ppo_atari)
# and any new simulating rule are covered. Only for `make run`: a workflow profile would
# also apply to the SLURM profile, which keeps the rules' threads (2 CPUs per job).
# `make run LOCAL_THREADS=` keeps them locally too. Also read by tests/workflow/test_workflow.py.
LOCAL_THREADS ?= --max-threads 1

# A run killed with SIGKILL leaves Snakemake's lock behind: remove it when no Snakemake
# process works in this directory (retland.unlock says so), then carry on where it stopped.
# It ends by writing and printing results/<run>/summary.md (retland.summary: commit, machine,
# time taken, final returns, post-update statistics, BC correlations, claims).
run: $(STAMP)
	$(BIN)/python -m retland.unlock .
	@started=$$(date +%s); \
	$(BIN)/snakemake $(LOCAL_THREADS) --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG)) $(SNAKEMAKE_ARGS) || exit $$?; \
	run=$$($(RUN_NAME)) && if [ -d "results/$$run/stats" ]; then \
	  echo; $(BIN)/python -m retland.summary write "results/$$run" --started $$started; fi

dryrun: $(STAMP)
	$(BIN)/snakemake -n --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG)) $(SNAKEMAKE_ARGS)

# The suite runs in TEST_WORKERS pytest-xdist processes, a test file per process at a time
# (--dist loadfile: a file's module fixtures, such as the end-to-end ci run, are built once),
# the long end-to-end files first (tests/conftest.py orders them; --no-loadscope-reorder keeps
# that order); most of a test's time is XLA compiling, which uses one core. TEST_WORKERS=0:
# one process.
TEST_WORKERS ?= 2
PYTEST_PARALLEL = $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra $(PYTEST_PARALLEL)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -ra $(PYTEST_PARALLEL) -m "not slow"

bench: $(STAMP)
	JAX_PLATFORMS=$${JAX_PLATFORMS:-cpu} $(BIN)/python -m retland.bench $(BENCH_ARGS)

# The optional rejax 0.1.3 of bench's training comparison, in its own venv (.venv-rejax, git-ignored)
# so that .venv keeps the pinned lock: rejax with this lock's jax/brax/flax/optax/mujoco/numpy, and
# gymnax 0.0.9 (rejax 0.1.3 steps Brax through gymnax's pre-1.0 API).
REJAX_VENV := .venv-rejax
bench-rejax-venv:
	@test -x $(REJAX_VENV)/bin/python || python3 -m venv $(REJAX_VENV)
	$(REJAX_VENV)/bin/python -m pip install --quiet --disable-pip-version-check rejax==0.1.3 gymnax==0.0.9 \
	  $$(grep -iE '^(jax|jaxlib|flax|optax|brax|mujoco|mujoco-mjx|numpy)==' requirements.lock)

# Fails (exit 1) on any finding, for the default config and every shipped one.
lint: $(STAMP)
	$(BIN)/snakemake --lint --cores 1
	@for c in config/ci.yaml config/paper.yaml config/study.yaml config/appendix.yaml config/gpu.yaml; do \
	  echo "snakemake --lint --configfile $$c"; $(BIN)/snakemake --lint --cores 1 --configfile $$c || exit 1; done

clean:
	rm -rf results/default paper_figures/default .snakemake

# Artifact archive and HTML report of the run named by $(CONFIG) (default config/config.yaml).
# Both read finished results: `make run` first. RUN_NAME: `run` of the last config that sets it.
RUN_NAME = $(BIN)/python -c 'import sys, yaml; print([c["run"] for c in (yaml.safe_load(open(p)) or {} for p in sys.argv[1:]) if "run" in c][-1])' config/config.yaml $(CONFIG)

.PHONY: archive verify-archive report

archive: $(STAMP)
	$(BIN)/snakemake archive --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG)) $(SNAKEMAKE_ARGS)

verify-archive: $(STAMP)
	@file="$(FILE)"; \
	if [ -z "$$file" ]; then run=$$($(RUN_NAME)) && file="results/$$run/$$run-artifact.tar.gz"; fi; \
	$(BIN)/python -m retland.archive verify "$$file"

report: $(STAMP)
	run=$$($(RUN_NAME)) && \
	$(BIN)/snakemake --cores 1 $(if $(CONFIG),--configfile $(CONFIG)) $(SNAKEMAKE_ARGS) --report "results/$$run/report.html"
