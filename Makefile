# Developer and CI entry points for the kubeaccess.x509 collection (GNU make).
#
#   make test        the whole suite on the newest ansible-core (.venv), then the matrix (older ansible-core)
#   make newest      the whole suite on the newest ansible-core only
#   make matrix      sanity, demo, molecule and the role/playbook integration tests on each older ansible-core
#   make VENV=.venv-2.19 sanity   any single target with another venv of the matrix
#
# The supported range and the interpreters each venv uses: docs/development.md.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.NOTPARALLEL:
.DEFAULT_GOAL := test

# The venvs: the newest (development, the whole suite) and one per older ansible-core of the supported range, each
# with its Python and its constraints on top of requirements-test.txt (the 2.19 venv also holds the oldest
# kubernetes and urllib3 that requirements.txt allows, so that the floors are tested too).
VENV ?= .venv
PYVER.venv := 3.13
PYVER.venv-2.20 := 3.12
PYVER.venv-2.19 := 3.11
CONSTRAINTS.venv := ansible-core>=2.21
CONSTRAINTS.venv-2.20 := ansible-core==2.20.*
CONSTRAINTS.venv-2.19 := ansible-core==2.19.* kubernetes==29.0.0 urllib3==2.0.*
MATRIX := .venv-2.20 .venv-2.19
PYVER := $(PYVER$(VENV))
ifeq ($(PYVER),)
$(error VENV=$(VENV) is none of .venv $(MATRIX))
endif

BIN := $(VENV)/bin
# The venv's tools (ansible-test, ansible-lint, shellcheck, ...) find each other through PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)
VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
TARBALL := build/kubeaccess-x509-$(VERSION).tar.gz
# The checkout as an installed collection, for tools that resolve kubeaccess.x509 (the tests make it too).
COLLECTIONS_PATH := $(CURDIR)/tests/output/collections
COLLECTION_LINK := $(COLLECTIONS_PATH)/ansible_collections/kubeaccess/x509
# pytest-xdist: one worker per core, each test file on one worker (each worker starts its own test API server).
XDIST ?= -n auto --dist loadfile
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider
# What the matrix runs on each older ansible-core: the role and playbook tests (ansible-playbook end to end, which
# call every module) and the connection paths, including the kubernetes package's. The modules' own tests run on the
# newest only, to keep the whole of make test within CI's time.
MATRIX_TESTS := tests/integration/test_onboarding.py tests/integration/test_csr_ownership.py \
	tests/integration/test_connection.py

# The interpreter of Python X.Y: pythonX.Y on PATH (a pyenv shim only when it runs that version), else pyenv's
# $(PYENV_ROOT)/versions/X.Y.*; empty when there is none. PYTHON3.13=/path/to/python overrides the search.
PYENV_ROOT ?= $(HOME)/.pyenv
comma := ,
find_python = $(or $(PYTHON$(1)),$(firstword $(foreach p,python$(1) $(sort $(wildcard \
	$(PYENV_ROOT)/versions/$(1).*/bin/python$(1))),$(shell "$(p)" -c 'import sys; \
	print(sys.executable) if sys.version_info[:2] == ($(subst .,$(comma),$(1))) else None' 2>/dev/null))))

.PHONY: venv demo test newest matrix matrix-one matrix-pytest sanity lint changelog-lint molecule pytest packaging build \
	install-check benchmark docs

venv: $(VENV)/.installed

# A venv made with its interpreter: $(VENV)/.python-X.Y says which, so that a venv of another Python (an old .venv
# of 3.11) is made again. Its .gitignore (as Python 3.13's venv writes) keeps git, and so the sanity tree, out of it.
$(VENV)/.python-$(PYVER):
	@python="$(call find_python,$(PYVER))"; \
	if [[ -z "$$python" ]]; then \
	    echo "make: $(VENV) needs Python $(PYVER): found no python$(PYVER) on PATH that runs, nor" \
	         "$(PYENV_ROOT)/versions/$(PYVER).*/bin/python$(PYVER). Install it (pyenv install $(PYVER)) or" \
	         "give it: make PYTHON$(PYVER)=/path/to/python$(PYVER) ..." >&2; \
	    exit 1; \
	fi; \
	echo "$(VENV): Python $(PYVER) from $$python"; \
	rm -rf $(VENV); \
	"$$python" -m venv $(VENV); \
	echo '*' >$(VENV)/.gitignore; \
	touch $@

# Installed again whenever a requirements file or the venv's interpreter changes.
$(VENV)/.installed: requirements.txt requirements-test.txt $(VENV)/.python-$(PYVER)
	printf '%s\n' $(foreach c,$(CONSTRAINTS$(VENV)),'$(c)') >$(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt \
	    -c $(VENV)/constraints.txt
	$(BIN)/python -c 'import ansible, sys; print("$(VENV): Python %d.%d.%d," % sys.version_info[:3], \
	    "ansible-core", ansible.__version__)'
	touch $@

demo: venv $(COLLECTION_LINK)
	$(BIN)/python tests/demo/run_demo.py $(DEMO_ARGS)

# The newest ansible-core in full, then the matrix. Every step runs even when an earlier one fails (make -k), so that
# one run shows every failure; the exit code is non-zero when any failed.
test:
	rc=0; $(MAKE) -k newest || rc=1; $(MAKE) -k matrix || rc=1; exit $$rc

# pytest comes last so that its summary line is the final output.
newest:
	$(MAKE) VENV=.venv venv
	$(MAKE) VENV=.venv sanity lint changelog-lint molecule demo packaging pytest

# Each older ansible-core: sanity, the demo from scratch, molecule and the role/playbook integration tests.
matrix:
	rc=0; for venv in $(MATRIX); do $(MAKE) VENV=$$venv matrix-one || rc=1; done; exit $$rc

matrix-one: venv
	$(MAKE) VENV=$(VENV) DEMO_ARGS=--fresh sanity demo molecule matrix-pytest

matrix-pytest: venv
	$(PYTEST) $(XDIST) $(MATRIX_TESTS)

sanity: venv
	tests/sanity/run-sanity.sh $(VENV)

lint: venv $(COLLECTION_LINK)
	ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS_PATH) $(BIN)/ansible-lint --profile production --nocolor

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

# The onboarding scenario: local test API server (or KUBEACCESS_TEST_KUBECONFIG), converge, idempotence, verify.
# Its state in a directory of this checkout and venv: molecule's default (~/.ansible/tmp/molecule.<hash of the
# directory's name>.onboarding) is the same for every checkout, so two runs on one machine destroyed each other's.
molecule: venv $(COLLECTION_LINK)
	cd extensions && ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS_PATH) \
	    MOLECULE_EPHEMERAL_DIRECTORY=$(CURDIR)/tests/output/molecule/$(VENV) $(CURDIR)/$(BIN)/molecule test -s onboarding

changelog-lint: venv
	$(BIN)/antsibull-changelog lint

pytest: venv
	$(PYTEST) $(XDIST)

# The tarball, docs site, galaxy-importer and execution environment checks (their own venv, made by
# tests/tools/packaging-venv.sh from the interpreter of $(VENV)).
packaging: venv
	$(PYTEST) tests/packaging

# The HTML reference (modules, role, filters, playbooks, guides): tests/output/docs-site/build/html/index.html.
docs: venv
	PYTHON=$(CURDIR)/$(BIN)/python tests/tools/build-docs-site.sh

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

$(BENCH_VENV)/bin/python:
	@python="$(call find_python,$(PYVER.venv))"; \
	[[ -n "$$python" ]] || { echo "make: $(BENCH_VENV) needs Python $(PYVER.venv) (see the venv target)" >&2; exit 1; }; \
	"$$python" -m venv $(BENCH_VENV)

$(BENCH_VENV)/.installed: benchmarks/requirements.txt requirements.txt | $(BENCH_VENV)/bin/python
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements.txt
	touch $@

benchmark: $(BENCH_VENV)/.installed $(COLLECTION_LINK)
	$(BENCH_VENV)/bin/python benchmarks/run.py $(ARGS)
