"""Running the collection's modules the way users do: ansible-playbook, with the checkout as the collection."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import COLLECTIONS_PATH

PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks")
BIN = os.path.dirname(os.path.abspath(sys.executable))


class PlaybookRun:
    def __init__(self, completed):
        self.returncode = completed.returncode
        self.output = completed.stdout + completed.stderr

    def assert_ok(self):
        assert self.returncode == 0, self.output[-6000:]
        return self


def run_playbook(cluster, workdir, name, **extra_vars):
    """ansible-playbook of `name` (a playbook of playbooks/, or a path) on localhost against the cluster under test,
    with the extra variables the `playbook` fixture gives; for fixtures wider than a test."""
    variables = {"kubeconfig": cluster.kubeconfig, "workdir": str(workdir), "suffix": cluster.suffix,
                 "local_server": cluster.local, **extra_vars}
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_RETRY_FILES_ENABLED="false")
    completed = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", json.dumps(variables), os.path.join(PLAYBOOKS, name)],
        env=env, capture_output=True, text=True, timeout=600, check=False, stdin=subprocess.DEVNULL)
    return PlaybookRun(completed)


@pytest.fixture
def playbook(cluster, tmp_path):
    """`playbook("k8s_csr_request.yml", user=...)` runs a playbook from playbooks/ against the cluster under test.

    Every playbook gets `kubeconfig` (admin), `workdir` (a fresh directory), `suffix` (unique per test session,
    so that a shared real cluster sees no collisions) and `local_server` as extra variables.
    """
    return lambda name, **extra_vars: run_playbook(cluster, tmp_path, name, **extra_vars)


@pytest.fixture
def run_module(playbook, tmp_path):
    """`run_module("k8s_csr_approve", {...}, check=False, diff=False)` runs one task; returns its result (failed or not).
    `module_python="/path/python"` runs the module with that interpreter, not in the controller process."""
    counter = iter(range(1000))

    def run(module, module_args, check=False, diff=False, **extra_vars):
        result_file = f"result-{next(counter)}.json"
        playbook("run_module.yml", module=module, module_args=module_args, check=check, diff=diff,
                 result_file=result_file, **extra_vars).assert_ok()
        return json.loads((tmp_path / result_file).read_text())
    return run
