"""The execution environment: the collection's metadata and the build context ansible-builder makes.

meta/execution-environment.yml (ansible-builder version 3) names meta/ee-requirements.txt, which is the collection's
requirements.txt without ansible-core. `ansible-builder create` with the image definition of
docs/execution-environment.md writes a build context (the image itself is not built: no container runtime here),
and ansible-builder's introspection of the installed tarball gives the collection's Python packages.
"""

import os
import re

import pytest
import yaml

from tests.packaging.support import BIN, ROOT, ansible_env, run

DOC = os.path.join(ROOT, "docs", "execution-environment.md")


def _requirement_names(path):
    with open(path, encoding="utf-8") as handle:
        lines = [line.split("#", 1)[0].strip() for line in handle]
    return {re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower(): line for line in lines if line and
            not line.startswith("-")}


def test_the_metadata_names_the_collections_requirements():
    with open(os.path.join(ROOT, "meta", "execution-environment.yml"), encoding="utf-8") as handle:
        meta = yaml.safe_load(handle)
    assert meta["version"] == 3
    python = meta["dependencies"]["python"]
    # ansible-builder reads a collection's files relative to the collection's root, never absolute.
    assert not os.path.isabs(python) and os.path.isfile(os.path.join(ROOT, python))
    system = meta["dependencies"].get("system")
    assert system is None or os.path.isfile(os.path.join(ROOT, system))
    runtime = _requirement_names(os.path.join(ROOT, "requirements.txt"))
    runtime.pop("ansible-core")
    assert _requirement_names(os.path.join(ROOT, python)) == runtime


def _image_definition():
    """The first YAML block of docs/execution-environment.md: the image definition users copy."""
    with open(DOC, encoding="utf-8") as handle:
        blocks = re.findall(r"```yaml\n(.*?)```", handle.read(), re.DOTALL)
    definition = yaml.safe_load(blocks[0])
    assert definition["version"] == 3
    return blocks[0]


def test_ansible_builder_create_makes_the_build_context(packaging_venv, tmp_path):
    (tmp_path / "execution-environment.yml").write_text(_image_definition(), encoding="utf-8")
    created = run([os.path.join(packaging_venv, "bin", "ansible-builder"), "create", "--file",
                   "execution-environment.yml", "--context", "context", "--output-filename", "Containerfile"],
                  cwd=str(tmp_path))
    assert created.returncode == 0, created.stdout + created.stderr
    context = tmp_path / "context"
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert 'EE_BASE_IMAGE="quay.io/fedora/fedora:42"' in containerfile and "FROM $EE_BASE_IMAGE AS base" in containerfile
    # The galaxy stage installs the collection, the builder stage introspects it (meta/execution-environment.yml).
    assert "ansible-galaxy collection install" in containerfile and "introspect.py introspect" in containerfile
    with open(context / "_build" / "requirements.yml", encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    assert [c["name"] for c in galaxy["collections"]] == ["kubeaccess.x509"]
    scripts = set(os.listdir(context / "_build" / "scripts"))
    assert {"assemble", "install-from-bindep", "introspect.py"} <= scripts, scripts


@pytest.fixture(scope="module")
def installed(built_tarball, tmp_path_factory):
    target = tmp_path_factory.mktemp("ee-collections")
    done = run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline", "-p", str(target),
                built_tarball], cwd=str(target), env=ansible_env(target))
    assert done.returncode == 0, done.stdout + done.stderr
    return target


def test_introspection_of_the_installed_collection_gives_its_python_packages(packaging_venv, installed):
    introspected = run([os.path.join(packaging_venv, "bin", "ansible-builder"), "introspect", str(installed)])
    assert introspected.returncode == 0, introspected.stdout + introspected.stderr
    found = yaml.safe_load(introspected.stdout)
    python = found["python"]
    names = {re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower() for line in python}
    # ansible-builder leaves out what ansible-core itself requires (PyYAML among them): the image has it anyway.
    expected = set(_requirement_names(os.path.join(ROOT, "meta", "ee-requirements.txt"))) - {"pyyaml"}
    assert expected >= {"kubernetes", "cryptography"} and names == expected, python
    assert all("kubeaccess.x509" in line for line in python), python
    assert not found.get("system"), found.get("system")
