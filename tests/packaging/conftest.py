"""Fixtures of the packaging checks: the packaging venv and the tarball built from the checkout."""

import os
import sys

import pytest

from tests.packaging.support import BIN, PACKAGING_VENV_SCRIPT, ansible_env, copy_checkout, run


@pytest.fixture(scope="session")
def packaging_venv():
    """The venv with antsibull-docs, galaxy-importer and ansible-builder (tests/packaging/requirements.txt).

    KUBEACCESS_PACKAGING_VENV names one to use; tests/tools/packaging-venv.sh makes or updates it (a few minutes
    the first time, then nothing while the requirements and the interpreter stay the same).
    """
    made = run(["bash", PACKAGING_VENV_SCRIPT], env=dict(os.environ, PYTHON=sys.executable), timeout=1800)
    assert made.returncode == 0, made.stderr[-4000:]
    return made.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def built_tarball(tmp_path_factory):
    """The tarball built from the checkout's files (checkout_files, as a fresh clone plus work in progress) with the
    collection venv's ansible-galaxy."""
    source = copy_checkout(tmp_path_factory.mktemp("source") / "x509")
    out = tmp_path_factory.mktemp("tarball")
    built = run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(out), source],
                cwd=str(out), env=ansible_env(out))
    assert built.returncode == 0, built.stdout + built.stderr
    (tarball,) = out.glob("kubeaccess-x509-*.tar.gz")
    return str(tarball)
