# Developer and CI entry points. `make test` is what CI runs (.ci/run).
# Every target first makes sure .venv exists (scripts/bootstrap.sh is idempotent: a ready venv returns at once).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.NOTPARALLEL:
.DEFAULT_GOAL := test

# Legacy Keras must be chosen before Python starts (../shared/docs/environment.md §3).
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

PY := .venv/bin/python
RUFF := .venv/bin/ruff
# Python trees to lint; ones that do not exist yet are skipped.
LINT_PATHS := $(wildcard asmg_cli asmg_tf pipeline serving tests scripts tools benchmarks)

BUILDIFIER_VERSION := 8.2.1
BUILDIFIER_DIR := build/tools
BUILDIFIER := $(BUILDIFIER_DIR)/node_modules/@bazel/buildifier/buildifier-linux_amd64
# BUILD/WORKSPACE/.bzl files of the project (not of the venv, build outputs or Bazel's symlinks).
BAZEL_FILES = $(shell find . \( -path ./.git -o -path ./.venv -o -path ./build -o -path ./runs -o -path ./.asmg-cache \
                -o -name node_modules -o -name 'bazel-*' \) -prune -o \
                \( -name WORKSPACE -o -name BUILD -o -name BUILD.bazel -o -name '*.bzl' \) -type f -print | sort)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: bootstrap test lint bazel-test image demo

bootstrap:
	scripts/bootstrap.sh

# Lint, then Bazel, then the component image, then the whole pytest suite (slow tests included, among them the
# compiled Kubeflow spec run in containers of the image); pytest's summary is printed last.
test: bootstrap lint bazel-test image
	$(PY) -m pytest -q --durations=15

# The Kubeflow component image asmg:<version> from pipeline/Dockerfile (scripts/image.sh: Docker engine, base image,
# wheelhouse; caches under $$ASMG_IMAGE_CACHE, default ~/.cache/asmg-image). Idempotent; prints size and build time.
image: bootstrap
	scripts/image.sh

# Both checks always run, so one report lists every file to fix.
lint: bootstrap
	@rc=0; \
	echo "ruff format --check $(LINT_PATHS)"; $(RUFF) format --check --output-format=concise $(LINT_PATHS) || rc=1; \
	echo "ruff check $(LINT_PATHS)"; $(RUFF) check --output-format=concise $(LINT_PATHS) || rc=1; \
	if [ $$rc != 0 ]; then echo "lint failed; most of it is fixed by: $(RUFF) format <files> && $(RUFF) check --fix <files>"; fi; \
	exit $$rc

# Fast unit tests under Bazel 4.2.3 (Debian's bazel-bootstrap), offline; see ../shared/docs/bazel.md.
bazel-test: bootstrap
	@if ! command -v bazel >/dev/null; then \
	  echo "bazel not found: installing Debian's bazel-bootstrap"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq bazel-bootstrap; \
	fi
	@if [ ! -x $(BUILDIFIER) ]; then \
	  echo "installing buildifier $(BUILDIFIER_VERSION) into $(BUILDIFIER_DIR)"; \
	  npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix $(BUILDIFIER_DIR) \
	    @bazel/buildifier@$(BUILDIFIER_VERSION); \
	  chmod +x $(BUILDIFIER); \
	fi
	$(BUILDIFIER) -mode=check -lint=warn -warnings=-native-py $(BAZEL_FILES:./%=%)
	@rc=0; bazel test //... --nocache_test_results || rc=$$?; bazel shutdown; exit $$rc

# The main job: the TFX pipeline backfilled over the 31 periods of the embedded synthetic stream (LocalDagRunner,
# Beam DirectRunner); ends with the served model directory and the per-period metrics table. Resumable.
demo: bootstrap
	.venv/bin/asmg pipeline backfill --root runs/pipeline-demo
