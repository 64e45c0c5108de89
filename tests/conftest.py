"""Session fixtures: the cluster under test is the local test API server, or a real one.

Set KUBEACCESS_TEST_KUBECONFIG to the path of an admin kubeconfig (a user in system:masters or bound to
cluster-admin) to run the same tests against a real cluster; nothing local starts then. Tests that need what only
the local server has (signing switched off, the cleaner's time scale, fault injection, counters) are marked
`local_only` and skipped there with the reason.
"""

import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.kube import (CSR_PATH, Cleanup, KubeHTTP, approve, csr_manifest, make_csr_pem, new_key,
                        wait_for_certificate, write_user_kubeconfig)
from tests.reliability import figures
from cryptography.hazmat.primitives import serialization

REAL_CLUSTER_ENV = "KUBEACCESS_TEST_KUBECONFIG"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# ansible_collections/kubeaccess/x509 → the checkout: unit tests import the collection's code from here and
# playbooks run by the tests use it as their collections path.
COLLECTIONS_PATH = os.path.join(ROOT, "tests", "output", "collections")


def _link_checkout_as_collection():
    namespace_dir = os.path.join(COLLECTIONS_PATH, "ansible_collections", "kubeaccess")
    os.makedirs(namespace_dir, exist_ok=True)
    link = os.path.join(namespace_dir, "x509")
    if not os.path.islink(link):
        try:
            os.symlink(ROOT, link)
        except FileExistsError:  # made at the same moment by another pytest-xdist worker
            pass
    if COLLECTIONS_PATH not in sys.path:
        sys.path.insert(0, COLLECTIONS_PATH)


_link_checkout_as_collection()


def pytest_configure(config):
    config.addinivalue_line("markers", "local_only(reason): needs a switch only the local test API server has")
    figures.configure(config)


def pytest_runtest_logreport(report):
    figures.add_report(report)


def pytest_terminal_summary(terminalreporter):
    figures.print_summary(terminalreporter)


def pytest_collection_modifyitems(config, items):
    if not os.environ.get(REAL_CLUSTER_ENV):
        return
    for item in items:
        marker = item.get_closest_marker("local_only")
        if marker:
            reason = marker.args[0] if marker.args else "needs the local test API server"
            item.add_marker(pytest.mark.skip(reason=f"real cluster from {REAL_CLUSTER_ENV}: {reason}"))


class LocalServerProcess:
    """`python -m tests.apiserver` in a subprocess, as a person, the demo or molecule would start it."""

    def __init__(self, workdir, *args):
        self.workdir = workdir
        self.args = args
        self.process = None
        self.info = None

    def start(self):
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "tests.apiserver", "--dir", self.workdir, *self.args],
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"test API server did not start (exit code {self.process.wait()})")
        self.info = json.loads(line)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def session_suffix():
    """Six hex digits for this test session's object names: 20 random bits, and under pytest-xdist the worker's
    number in the last 4 bits, so that the workers of one run (each its own session) never share a suffix."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ... under xdist; unset otherwise
    number = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else secrets.randbits(4)
    return f"{secrets.randbits(20) << 4 | number % 16:06x}"


class Cluster:
    """What a test needs to know about the cluster under test."""

    def __init__(self, kubeconfig, workdir, local):
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self.local = local
        self.admin = KubeHTTP(kubeconfig, os.path.join(workdir, "admin-creds"))
        self.server = self.admin.server
        self.suffix = session_suffix()  # unique names, so runs on a shared real cluster do not collide
        with open(self.admin.ca_file, "rb") as handle:
            self.ca_pem = handle.read()
        self.created_csrs = []

    def name(self, base):
        return f"{base}-{self.suffix}"

    def control(self, method, what, body=None):
        """The local server's test-only control surface (counters, faults, settings)."""
        assert self.local, "control() is local_only"
        return self.admin.json(method, f"/_testserver/{what}", body, expect=200)

    def make_user(self, user, groups=(), expiration=86400):
        """A user certificate made through the CSR API as an administrator would: returns a kubeconfig path."""
        key = new_key()
        name = self.name(f"user-{user}")
        self.admin.json("POST", CSR_PATH, csr_manifest(name, make_csr_pem(key, user, groups), expiration=expiration),
                        expect=201)
        self.created_csrs.append(name)
        approve(self.admin, name)
        cert_pem = wait_for_certificate(self.admin, name)
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        path = os.path.join(self.workdir, f"{user}-{self.suffix}.kubeconfig")
        return write_user_kubeconfig(path, self.server, self.ca_pem, user, cert_pem, key_pem)

    def cleanup(self):
        for name in self.created_csrs:
            self.admin.request("DELETE", f"{CSR_PATH}/{name}")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("cluster"))
    real = os.environ.get(REAL_CLUSTER_ENV)
    if real:
        current = Cluster(real, workdir, local=False)
        yield current
        current.cleanup()
        return
    process = LocalServerProcess(os.path.join(workdir, "apiserver")).start()
    try:
        current = Cluster(process.info["kubeconfig"], workdir, local=True)
        yield current
        current.cleanup()
    finally:
        process.stop()


@pytest.fixture
def admin(cluster):
    return cluster.admin


@pytest.fixture
def cleanup(cluster):
    """Paths registered with cleanup.add(path) are deleted (as admin) after the test, newest first."""
    pending = Cleanup(cluster.admin)
    yield pending
    pending.run()
