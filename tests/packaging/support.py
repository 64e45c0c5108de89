"""What the packaging checks share: the checkout's files, the collection's tools, the environment of Ansible commands."""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The collection's own venv (ansible-galaxy, ansible-doc, ansible-playbook of the ansible-core under test).
BIN = os.path.dirname(os.path.abspath(sys.executable))
PACKAGING_VENV_SCRIPT = os.path.join(ROOT, "tests", "tools", "packaging-venv.sh")


def ansible_env(collections_path, **extra):
    """The environment of an Ansible command that must see the collection only where `collections_path` says; the
    collection venv's tools come first in PATH unless `extra` gives PATH."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_path), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_RETRY_FILES_ENABLED="false", PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    env.update(extra)
    return env


def run(argv, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 900)
    if "input" not in kwargs:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(argv, check=False, **kwargs)  # pylint: disable=subprocess-run-check


def checkout_files(root=ROOT):
    """What git would see of the checkout: tracked and untracked-but-not-ignored files that exist."""
    listed = run(["git", "-C", root, "ls-files", "-z", "-co", "--exclude-standard"])
    assert listed.returncode == 0, listed.stderr
    return [name for name in listed.stdout.split("\0")
            if name and (os.path.lexists(os.path.join(root, name)))]


def copy_checkout(dest, root=ROOT):
    """The checkout's files (checkout_files) copied under `dest`, as a fresh clone plus work in progress has them."""
    for name in checkout_files(root):
        source, target = os.path.join(root, name), os.path.join(str(dest), name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    return str(dest)


def link_as_collection(collections_path, collection_dir):
    """`collections_path`/ansible_collections/kubeaccess/x509 -> `collection_dir`."""
    namespace_dir = os.path.join(str(collections_path), "ansible_collections", "kubeaccess")
    os.makedirs(namespace_dir, exist_ok=True)
    link = os.path.join(namespace_dir, "x509")
    if not os.path.lexists(link):
        os.symlink(collection_dir, link)
    return str(collections_path)
