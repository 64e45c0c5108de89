"""What the killed-run tests share: running a playbook that dies after a step, and the state a run leaves, in a form
that two inventories (each with its own name suffix) can be compared by."""

import base64
import os
import re
import signal
import subprocess
from collections import Counter

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import COLLECTIONS_PATH
from tests.integration.conftest import BIN
from tests.integration.test_onboarding import ROOT, Onboarding, Run, whoami
from tests.kube import CSR_PATH, Cleanup

KILLPOINT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "killpoint")
ANNOTATION = "kubeaccess.x509/user"


def run_killed(onboarding, playbook, step, *args, nth=1):
    """Run `playbook` so that it is killed with SIGKILL right after `step`; returns the step it died at."""
    marker = os.path.join(onboarding.workdir, "killed-at")
    if os.path.exists(marker):
        os.unlink(marker)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_RETRY_FILES_ENABLED="false",
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""), PYTHONPATH=KILLPOINT,
               KUBEACCESS_KILL_AT=step, KUBEACCESS_KILL_NTH=str(nth), KUBEACCESS_KILL_MARKER=marker)
    completed = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", onboarding.inventory, os.path.join(ROOT, "playbooks", playbook),
         *args], env=env, capture_output=True, text=True, timeout=600, check=False, stdin=subprocess.DEVNULL,
        start_new_session=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == -signal.SIGKILL, f"the run was not killed at {step!r}:\n{output[-6000:]}"
    with open(marker, encoding="utf-8") as handle:
        return handle.read(), Run(completed)


def files(directory):
    """{path relative to directory: (mode, bytes)} of every file and directory below it."""
    found = {}
    for top, dirs, names in os.walk(directory):
        for name in dirs + names:
            path = os.path.join(top, name)
            data = None
            if os.path.isfile(path):
                with open(path, "rb") as handle:
                    data = handle.read()
            found[os.path.relpath(path, directory)] = (os.stat(path).st_mode & 0o7777, data)
    return found


def no_partial_files(directory):
    """Every file below `directory` whole: keys and certificates load, kubeconfigs are YAML with their credentials
    matching, no temporary file of an interrupted write left behind."""
    for path, (mode, data) in files(directory).items():
        name = os.path.basename(path)
        if name.endswith(".kubeaccess-lock"):  # the kubeconfig writers' lock, kept and empty
            assert data == b"", path
            continue
        assert not name.startswith("."), f"a temporary file was left: {path}"
        if data is None:
            assert mode == 0o700, f"{path}: directory mode {mode:o}"
            continue
        if name.endswith((".key", ".key.next")):
            serialization.load_pem_private_key(data, None)
            assert mode == 0o600, f"{path}: key mode {mode:o}"
        elif name.endswith(".crt"):
            x509.load_pem_x509_certificate(data)
        elif name == "kubeconfig":
            config = yaml.safe_load(data)
            for user in config["users"]:
                key = serialization.load_pem_private_key(base64.b64decode(user["user"]["client-key-data"]), None)
                cert = x509.load_pem_x509_certificate(base64.b64decode(user["user"]["client-certificate-data"]))
                assert cert.public_key() == key.public_key(), f"{path}: {user['name']}: key and certificate differ"
            assert mode == 0o600, f"{path}: kubeconfig mode {mode:o}"


def csrs_by_user(onboarding):
    """{user: [CSR objects]} of this inventory on the cluster."""
    by_user = {}
    for item in onboarding.csrs():
        by_user.setdefault(item["metadata"].get("annotations", {}).get(ANNOTATION), []).append(item)
    return by_user


def final_state(onboarding):
    """The state of an inventory's users, with its own suffix replaced so that two inventories compare equal when
    the same things happened to them."""
    def same(text):
        return re.sub(re.escape(onboarding.suffix), "SUFFIX", text)

    state = {"files": {same(path): mode for path, (mode, _data) in files(onboarding.base_dir).items()},
             "bindings": {same(repr(key)): same(repr(subjects)) for key, subjects in onboarding.bindings().items()},
             "csrs per user": {same(user): len(items) for user, items in csrs_by_user(onboarding).items()},
             "csr phases": Counter(_phase(item) for items in csrs_by_user(onboarding).values() for item in items),
             "whoami": {}}
    for user in onboarding.users:
        if os.path.exists(onboarding.kubeconfig(user)):
            info = whoami(onboarding.kubeconfig(user))
            state["whoami"][same(user)] = (same(info["username"]), sorted(same(g) for g in info.get("groups", [])))
    return state


def _phase(csr):
    status = csr.get("status") or {}
    if status.get("certificate"):
        return "issued"
    kinds = {condition["type"] for condition in status.get("conditions") or []}
    return "approved" if "Approved" in kinds else "denied" if "Denied" in kinds else "pending"


def key_and_certificate(onboarding, user, cluster="local"):
    directory = os.path.join(onboarding.base_dir, user)
    read = {}
    for suffix in ("key", "crt"):
        path = os.path.join(directory, f"{cluster}.{suffix}")
        if os.path.exists(path):
            with open(path, "rb") as handle:
                read[suffix] = handle.read()
    return read.get("key"), read.get("crt")


def admin_csr(onboarding, name):
    return onboarding.admin.json("GET", f"{CSR_PATH}/{name}", expect=200)


def uninterrupted_state(cluster, workdir, prepare, playbook, *args):
    """What `playbook` leaves when nothing kills it, after `prepare(onboarding)`, on an inventory of its own
    (`{rahul}` in an argument is its first user's name)."""
    cleanup = Cleanup(cluster.admin)
    reference = Onboarding(cluster, cluster.admin, cleanup, workdir)
    try:
        prepare(reference)
        reference.run(playbook, *(arg.format(rahul=reference.rahul) for arg in args)).ok()
        return final_state(reference)
    finally:
        reference.remove_everything()
        cleanup.run()


def killed_then_run_again(onboarding, uninterrupted, step, nth, playbook, *args):
    """Kill `playbook` after `step`, check what it left, run the same command again: it must end where an
    uninterrupted run ends (`uninterrupted`, or `uninterrupted(at_kill)` for what depends on how far the run
    came). Returns the keys and certificates at the kill ({user: (key, certificate)}) and the
    uids of the CSRs then ({user: {uid}}), for the test to say what had to be kept."""
    died_at, _killed = run_killed(onboarding, playbook, step, *args, nth=nth)
    assert died_at == step
    no_partial_files(onboarding.base_dir)
    at_kill = {user: key_and_certificate(onboarding, user) for user in onboarding.users}
    csrs_at_kill = {user: {item["metadata"]["uid"] for item in items}
                    for user, items in csrs_by_user(onboarding).items()}
    expected = uninterrupted(at_kill) if callable(uninterrupted) else uninterrupted
    onboarding.run(playbook, *args).ok()
    assert final_state(onboarding) == expected
    no_partial_files(onboarding.base_dir)
    for user in onboarding.users:
        key, certificate = key_and_certificate(onboarding, user)
        if key or certificate:
            assert (serialization.load_pem_private_key(key, None).public_key()
                    == x509.load_pem_x509_certificate(certificate).public_key()), f"{user}: key and certificate differ"
    return at_kill, csrs_at_kill
