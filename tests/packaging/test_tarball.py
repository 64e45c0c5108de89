"""The collection tarball holds the collection and nothing of a workspace, and installs.

The tarball is built from a copy of the checkout (what a fresh clone plus work in progress has) after `make demo`
ran there (its CA key and users' private keys in .demo/), with the workspace files a developer or CI leaves around:
every path git ignores in this checkout, and the usual ones (venvs, test output, build results, caches, lock files,
benchmark logs). The tarball must hold no private key (PEM, or base64 in a kubeconfig), no .demo path and no file
git ignores; installed, `ansible-doc -l` lists every module and filter.
"""

import base64
import binascii
import fnmatch
import os
import re
import sys
import tarfile

import pytest

from tests.packaging.support import BIN, ROOT, ansible_env, copy_checkout, link_as_collection, run

# A PEM block starts at the beginning of a line: "-----BEGIN PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----",
# "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN ENCRYPTED PRIVATE KEY-----", "-----BEGIN OPENSSH PRIVATE KEY-----".
PEM_PRIVATE_KEY = re.compile(rb"^-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----", re.MULTILINE)
# base64 of "-----BEGIN", as kubeconfigs embed keys (client-key-data) and certificates.
BASE64_PEM = re.compile(rb"LS0tLS1CRUdJTi[A-Za-z0-9+/=]*")
# Workspace files a developer or CI leaves in a checkout, besides what git ignores there now.
WORKSPACE_FILES = (
    ".venv/pyvenv.cfg", ".venv-3.13/bin/python", ".venv-bench/pyvenv.cfg", "venv/pyvenv.cfg",
    "tests/output/junit/report.xml", "tests/output/collections/ansible_collections/.keep",
    "build/kubeaccess-x509-0.0.1.tar.gz", "dist/kubeaccess-x509-0.0.1.tar.gz", "kubeaccess-x509-0.0.2.tar.gz",
    "benchmarks/results/2099-01-01/logs/ours-rsa-10-cold.log",
    ".pytest_cache/v/cache/lastfailed", "tests/unit/.pytest_cache/README.md", ".mypy_cache/CACHEDIR.TAG",
    ".ruff_cache/CACHEDIR.TAG", ".cache/pip/selfcheck.json", ".tox/log.txt", ".ansible/tmp/ansible-local-1/x",
    "plugins/modules/__pycache__/k8s_csr_request.cpython-311.pyc", "plugins/filter/access_plan.cpython-313.pyc",
    "changelogs/.plugin-cache.yaml", "requirements.lock", "uv.lock", ".coverage", "htmlcov/index.html",
)
# Names that are never the collection's, whatever .gitignore says.
WORKSPACE_PATTERNS = (".demo", ".demo/*", ".venv*", "*/__pycache__/*", "*.pyc", "tests/output/*", "build/*",
                      "benchmarks/results/*/logs/*", "*.lock", "*-lock", "*/.pytest_cache/*", ".pytest_cache/*")


def private_keys(data):
    """Why `data` holds a private key, or None."""
    if PEM_PRIVATE_KEY.search(data):
        return "a PEM private key"
    for token in BASE64_PEM.findall(data):
        try:
            decoded = base64.b64decode(token + b"=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            continue
        if PEM_PRIVATE_KEY.search(decoded):
            return "a base64-encoded PEM private key"
    return None


def test_the_key_detection_finds_keys():
    """The checks below can fail: keys as the demo writes them are found, a mention in a test is not."""
    pem = b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA\n-----END EC PRIVATE KEY-----\n"
    assert private_keys(pem)
    assert private_keys(b"users:\n- user:\n    client-key-data: " + base64.b64encode(pem) + b"\n")
    assert private_keys(b'KEY = b"-----BEGIN PRIVATE KEY-----\\nsecret"') is None
    assert private_keys(b"request: " + base64.b64encode(b"-----BEGIN CERTIFICATE REQUEST-----\nMII\n")) is None


def _workspace(copy):
    """What git ignores in this checkout, and the usual workspace files, made in `copy` (empty, or one line)."""
    ignored = run(["git", "-C", ROOT, "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"])
    assert ignored.returncode == 0, ignored.stderr
    made = []
    for name in [n for n in ignored.stdout.split("\0") if n] + list(WORKSPACE_FILES):
        path = os.path.join(copy, name.rstrip("/"))
        if name.endswith("/"):
            path = os.path.join(path, "left-by-a-workspace.txt")
        if os.path.lexists(path):
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("a workspace file\n")
        made.append(os.path.relpath(path, copy))
    return made


@pytest.fixture(scope="module")
def workspace_tarball(tmp_path_factory):
    """(tarball, copy): the checkout copied, `make demo` run in it, workspace files added, the tarball built."""
    copy = copy_checkout(tmp_path_factory.mktemp("checkout") / "x509")
    # make demo: the copy as the installed collection (as `make venv` links the checkout), then the demo.
    link_as_collection(os.path.join(copy, "tests", "output", "collections"), copy)
    demo = run([sys.executable, os.path.join("tests", "demo", "run_demo.py")], cwd=copy, timeout=600,
               env=dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", "")))
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-2000:]
    demo_key = os.path.join(copy, ".demo", "users", "rahul", "local.key")
    assert os.path.isfile(demo_key) and private_keys(open(demo_key, "rb").read()), "the demo wrote no key"
    made = _workspace(copy)
    assert made, "no workspace file was made"
    out = tmp_path_factory.mktemp("built")
    built = run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(out), copy],
                cwd=str(out), env=ansible_env(out))
    assert built.returncode == 0, built.stdout + built.stderr
    (tarball,) = out.glob("kubeaccess-x509-*.tar.gz")
    return str(tarball), copy


def _members(tarball):
    with tarfile.open(tarball) as tar:
        return [(member.name, tar.extractfile(member).read() if member.isfile() else None)
                for member in tar.getmembers()]


def test_the_demo_and_the_workspace_stay_out_of_the_tarball(workspace_tarball):
    tarball, _copy = workspace_tarball
    members = _members(tarball)
    names = [name for name, _data in members]
    assert {"MANIFEST.json", "FILES.json", "README.md", "COPYING", "meta/runtime.yml", "galaxy.yml"} - set(names) \
        == {"galaxy.yml"}, "the tarball misses collection files"
    with_keys = [f"{name}: {why}" for name, data in members if data is not None
                 for why in [private_keys(data)] if why]
    assert with_keys == [], "private keys in the tarball"
    demo = [name for name in names if ".demo" in name.split("/")]
    assert demo == [], ".demo in the tarball"
    workspace = [name for name in names if any(fnmatch.fnmatch(name, pattern) for pattern in WORKSPACE_PATTERNS)]
    assert workspace == [], "workspace files in the tarball"
    # git check-ignore with this checkout's .gitignore and index: a tracked file is never ignored.
    checked = run(["git", "-C", ROOT, "check-ignore", "--stdin", "-z"], input="\0".join(names) + "\0")
    assert checked.returncode in (0, 1), checked.stderr
    ignored = [name for name in checked.stdout.split("\0") if name]
    assert ignored == [], "files git ignores in the tarball"


def test_the_installed_tarball_lists_the_modules_and_filters(workspace_tarball, tmp_path):
    tarball, copy = workspace_tarball
    target = tmp_path / "collections"
    installed = run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline", "-p", str(target),
                     tarball], cwd=str(tmp_path), env=ansible_env(target))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    modules = sorted(name[:-3] for name in os.listdir(os.path.join(copy, "plugins", "modules"))
                     if name.endswith(".py") and not name.startswith("_"))
    assert modules, "no modules in the checkout"
    listed = run([os.path.join(BIN, "ansible-doc"), "-l", "kubeaccess.x509"], cwd=str(tmp_path),
                 env=ansible_env(target))
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "[WARNING]" not in listed.stderr and "[ERROR]" not in listed.stderr, listed.stderr
    listed_modules = sorted(line.split()[0] for line in listed.stdout.splitlines() if line.strip())
    assert listed_modules == [f"kubeaccess.x509.{name}" for name in modules]
    filters = run([os.path.join(BIN, "ansible-doc"), "-t", "filter", "-l", "kubeaccess.x509"], cwd=str(tmp_path),
                  env=ansible_env(target))
    assert filters.returncode == 0, filters.stdout + filters.stderr
    assert "kubeaccess.x509.access_plan" in filters.stdout and "kubeaccess.x509.access_outcomes" in filters.stdout
