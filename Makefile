# Developer and CI entry points for the kubeaccess.x509 collection (GNU make).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.NOTPARALLEL:
.DEFAULT_GOAL := test

VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= $(or $(shell command -v python3.11),$(shell command -v python3),python3)
PYTHON := $(PYTHON)
# The venv's tools (ansible-test, ansible-lint, shellcheck, ...) find each other through PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)
VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
TARBALL := build/kubeaccess-x509-$(VERSION).tar.gz
# The checkout as an installed collection, for tools that resolve kubeaccess.x509 (the tests make it too).
COLLECTIONS_PATH := $(CURDIR)/tests/output/collections
COLLECTION_LINK := $(COLLECTIONS_PATH)/ansible_collections/kubeaccess/x509

.PHONY: venv demo test sanity lint changelog-lint molecule pytest build install-check benchmark

venv: $(VENV)/.installed

# A virtual environment, .venv or .venv-bench.
%/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(None if sys.version_info[:2] == (3, 11) else "$(PYTHON) is Python %d.%d, need 3.11" % sys.version_info[:2])'
	$(PYTHON) -m venv $*

$(VENV)/.installed: requirements.txt requirements-test.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

demo: venv $(COLLECTION_LINK)
	$(BIN)/python tests/demo/run_demo.py

# pytest comes last so that its summary line is the final output.
test: venv sanity lint changelog-lint molecule pytest

sanity: venv
	tests/sanity/run-sanity.sh

lint: venv $(COLLECTION_LINK)
	ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS_PATH) $(BIN)/ansible-lint --profile production --nocolor

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

# The onboarding scenario: local test API server (or KUBEACCESS_TEST_KUBECONFIG), converge, idempotence, verify.
molecule: venv $(COLLECTION_LINK)
	cd extensions && ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS_PATH) $(CURDIR)/$(BIN)/molecule test -s onboarding

changelog-lint: venv
	$(BIN)/antsibull-changelog lint

pytest: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path build/

install-check: build
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	export ANSIBLE_COLLECTIONS_PATH="$$tmp" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false; \
	$(BIN)/ansible-galaxy collection install --offline --force -p "$$tmp" $(TARBALL); \
	$(BIN)/ansible-doc -l kubeaccess.x509

# The benchmark (docs/benchmark.md), in its own environment: it needs the ansible community package for its
# hand-written comparison playbook, which the collection must not depend on. make benchmark ARGS="--users 1,10"
BENCH_VENV := .venv-bench

$(BENCH_VENV)/.installed: benchmarks/requirements.txt requirements.txt | $(BENCH_VENV)/bin/python
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements.txt
	touch $@

benchmark: $(BENCH_VENV)/.installed $(COLLECTION_LINK)
	$(BENCH_VENV)/bin/python benchmarks/run.py $(ARGS)
