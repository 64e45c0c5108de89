"""The collection's reference documentation: every filter documented, and antsibull-docs' lint clean.

Each filter name the FilterModules of plugins/filter export has its DOCUMENTATION, EXAMPLES and RETURN
(plugins/filter/<name>.yml), which `ansible-doc -t filter` shows, with the filter's arguments as the Python function
takes them. `antsibull-docs lint-collection-docs --plugin-docs` (what tests/tools/build-docs-site.sh runs first)
reports nothing.
"""

import glob
import importlib
import inspect
import json
import os

import pytest

from tests.conftest import COLLECTIONS_PATH
from tests.packaging.support import BIN, ROOT, ansible_env, run

FILTER_DIR = os.path.join(ROOT, "plugins", "filter")


def exported_filters():
    """name -> function, from every FilterModule of plugins/filter (imported as the collection's code)."""
    filters = {}
    for path in sorted(glob.glob(os.path.join(FILTER_DIR, "*.py"))):
        module = importlib.import_module(
            f"ansible_collections.kubeaccess.x509.plugins.filter.{os.path.basename(path)[:-3]}")
        filters.update(module.FilterModule().filters())
    return filters


FILTERS = exported_filters()


def test_filters_are_found():
    assert "access_plan" in FILTERS and "access_outcomes" in FILTERS and len(FILTERS) >= 12


@pytest.fixture(scope="module")
def filter_docs():
    """`ansible-doc -t filter --json` for every exported filter name, with the collection venv's ansible-doc."""
    names = [f"kubeaccess.x509.{name}" for name in sorted(FILTERS)]
    shown = run([os.path.join(BIN, "ansible-doc"), "-t", "filter", "--json", *names], cwd=ROOT,
                env=ansible_env(COLLECTIONS_PATH))
    assert shown.returncode == 0 and "[ERROR]" not in shown.stderr, shown.stderr
    assert "[WARNING]" not in shown.stderr, shown.stderr
    return json.loads(shown.stdout)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_every_filter_is_documented(name, filter_docs):
    docs = filter_docs.get(f"kubeaccess.x509.{name}")
    assert docs, f"ansible-doc -t filter kubeaccess.x509.{name} shows nothing"
    doc = docs["doc"]
    assert doc.get("name") == name
    assert doc.get("short_description") and doc.get("description") and doc.get("version_added")
    assert (docs.get("examples") or "").strip(), f"{name}: no EXAMPLES"
    assert "_value" in (docs.get("return") or {}), f"{name}: no RETURN _value"
    options = doc.get("options") or {}
    assert "_input" in options, f"{name}: the piped value (_input) is not documented"
    # The documented arguments are the function's, in its order: the first is the piped value.
    parameters = list(inspect.signature(FILTERS[name]).parameters)[1:]
    positional = [p.strip() for p in (doc.get("positional") or "").split(",") if p.strip()]
    assert positional == parameters, f"{name}: positional {positional}, the function takes {parameters}"
    assert sorted(set(options) - {"_input"}) == sorted(parameters), f"{name}: options {sorted(options)}"


def test_every_filter_doc_names_an_exported_filter():
    """A doc file of a filter that no FilterModule exports any more is stale."""
    documented = {os.path.basename(path)[:-4] for path in glob.glob(os.path.join(FILTER_DIR, "*.yml"))}
    assert documented - set(FILTERS) == set()


def test_antsibull_docs_lint_is_clean(packaging_venv, tmp_path):
    """antsibull-docs lint-collection-docs --plugin-docs: plugin docs, the role's argument spec, docs/docsite."""
    linted = run([os.path.join(packaging_venv, "bin", "antsibull-docs"), "lint-collection-docs", "--plugin-docs",
                  ROOT], cwd=str(tmp_path),
                 env=ansible_env(COLLECTIONS_PATH, PATH=os.path.join(packaging_venv, "bin") + os.pathsep
                                 + os.environ.get("PATH", "")))
    output = (linted.stdout + linted.stderr).strip()
    assert linted.returncode == 0 and output == "", output[-6000:]
