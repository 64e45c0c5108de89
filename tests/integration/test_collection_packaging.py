"""The collection resolves from a checkout and from a built, installed tarball."""

import os
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(os.path.abspath(sys.executable))

# module_defaults with the collection's action group only resolves when Ansible has loaded the collection's
# meta/runtime.yml, so a play using it proves the collection was found on the given path.
PLAYBOOK = """
- name: Resolve the kubeaccess.x509 collection
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/{group}:
      kubeconfig: /nonexistent
  tasks:
    - name: Any task
      ansible.builtin.debug:
        msg: resolved
"""


def _ansible(args, collections_path, cwd):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    return subprocess.run([os.path.join(BIN, args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def _collection_list(collections_path, cwd):
    listed = _ansible(["ansible-galaxy", "collection", "list", "kubeaccess.x509", "--format", "yaml"],
                      collections_path, cwd)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def _play_with_group_defaults(collections_path, tmp_path, group="kubeaccess.x509.k8s"):
    playbook = tmp_path / "resolve.yml"
    playbook.write_text(PLAYBOOK.format(group=group))
    return _ansible(["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook)], collections_path,
                    str(tmp_path))


@pytest.fixture(scope="module")
def built_tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    built = _ansible(["ansible-galaxy", "collection", "build", "--output-path", str(out), ROOT], str(out), ROOT)
    assert built.returncode == 0, built.stderr
    (tarball,) = out.glob("kubeaccess-x509-*.tar.gz")
    return tarball


def test_tarball_holds_the_collection_and_nothing_of_the_workspace(built_tarball):
    with tarfile.open(built_tarball) as tar:
        names = tar.getnames()
    assert {"MANIFEST.json", "FILES.json", "meta/runtime.yml", "README.md", "COPYING"} - set(names) == set()
    leaked = [n for n in names if n.split("/")[0] in {".venv", ".git", ".ci", "build"} or "__pycache__" in n
              or n.startswith("tests/output")]
    assert leaked == []


def test_installed_tarball_resolves(built_tarball, tmp_path):
    target = tmp_path / "collections"
    installed = _ansible(["ansible-galaxy", "collection", "install", "--offline", "-p", str(target),
                          str(built_tarball)], str(target), str(tmp_path))
    assert installed.returncode == 0, installed.stderr
    assert "kubeaccess.x509" in _collection_list(str(target), str(tmp_path))
    played = _play_with_group_defaults(str(target), tmp_path)
    assert played.returncode == 0, played.stdout + played.stderr


def test_checkout_resolves_through_a_collections_path(tmp_path):
    """A checkout is used by pointing a collections path at ansible_collections/kubeaccess/x509 → the checkout."""
    namespace_dir = tmp_path / "collections" / "ansible_collections" / "kubeaccess"
    namespace_dir.mkdir(parents=True)
    (namespace_dir / "x509").symlink_to(ROOT)
    collections_path = str(tmp_path / "collections")
    assert "kubeaccess.x509" in _collection_list(collections_path, str(tmp_path))
    played = _play_with_group_defaults(collections_path, tmp_path)
    assert played.returncode == 0, played.stdout + played.stderr


def test_unknown_action_group_is_refused(tmp_path):
    """The checks above can fail: a group the collection does not declare makes the play fail."""
    namespace_dir = tmp_path / "collections" / "ansible_collections" / "kubeaccess"
    namespace_dir.mkdir(parents=True)
    (namespace_dir / "x509").symlink_to(ROOT)
    played = _play_with_group_defaults(str(tmp_path / "collections"), tmp_path, "kubeaccess.x509.nosuchgroup")
    assert played.returncode != 0
    assert "nosuchgroup" in played.stdout + played.stderr
