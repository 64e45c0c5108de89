"""An unsupported ansible-core fails at the start of every playbook and of the role, naming the supported range.

The range is requires_ansible of meta/runtime.yml, the one place it is written; roles/user_access/tasks/
supported_versions.yml reads it at the top of the role and in playbooks/check_users.yml, which every playbook imports
first. ansible-core itself only warns about a collection that does not support it, and runs on.

For real: ansible-core 2.18 (the newest release below the range) in a venv of its own, made once and kept in
tests/output, runs the playbooks and the role of the tarball installed as users install it. Each run fails on its
first task, with the range and how to install a supported ansible-core, and writes nothing. The collection venv's
ansible-core (a supported one) passes the same check, and a range changed in a copy's meta/runtime.yml changes what
passes. A controller Python below a supported ansible-core's floor needs no check: ansible-core refuses to start.
"""

import fcntl
import glob
import os
import shutil
import sys

import pytest
import yaml

from tests.packaging.support import BIN, ROOT, ansible_env, run

OLD_CORE = "2.18"
# The controller Pythons ansible-core 2.18 runs on.
OLD_CORE_PYTHONS = ((3, 11), (3, 12), (3, 13))
OLD_VENV = os.path.join(ROOT, "tests", "output", f"ansible-core-{OLD_CORE}-venv")
CHECK_TASK = "The ansible-core running this is one the collection supports"
PLAYBOOKS = {
    "onboard": ["kubeaccess.x509.onboard"],
    "renew": ["kubeaccess.x509.renew"],
    "audit": ["kubeaccess.x509.audit"],
    "offboard": ["kubeaccess.x509.offboard", "-e", "user=someone-gone"],
    "role": ["role.yml"],
}
ROLE_PLAYBOOK = """---
- name: Use the role directly, as the role's README shows
  hosts: "localhost:kube_users"
  gather_facts: false
  roles:
    - kubeaccess.x509.user_access
"""


def requires_ansible(root=ROOT):
    with open(os.path.join(root, "meta", "runtime.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["requires_ansible"]


def _python_version(python):
    shown = run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], timeout=60)
    if shown.returncode != 0:
        return None
    return tuple(int(part) for part in shown.stdout.strip().split("."))


def old_core_python():
    """An interpreter ansible-core 2.18 runs on: python3.11 (3.12, 3.13) in PATH, else one of pyenv's, else the one
    running the tests; None if there is none."""
    candidates = [shutil.which(f"python{major}.{minor}") for major, minor in OLD_CORE_PYTHONS]
    for major, minor in OLD_CORE_PYTHONS:
        candidates += sorted(glob.glob(os.path.join(os.path.expanduser("~/.pyenv/versions"), f"{major}.{minor}.*",
                                                    "bin", f"python{major}.{minor}")))
    candidates.append(sys.executable)
    for python in candidates:
        if python and os.access(python, os.X_OK) and _python_version(python) in OLD_CORE_PYTHONS:
            return python
    return None


@pytest.fixture(scope="session")
def old_ansible():
    """The bin directory of a venv with ansible-core 2.18, made once in tests/output (again when its interpreter's
    version changes)."""
    python = old_core_python()
    if python is None:
        pytest.skip(f"no Python {' or '.join('%d.%d' % v for v in OLD_CORE_PYTHONS)} for ansible-core {OLD_CORE}: "
                    "neither in PATH nor under ~/.pyenv/versions")
    wanted = f"ansible-core {OLD_CORE} on Python %d.%d" % _python_version(python)
    stamp = os.path.join(OLD_VENV, ".kubeaccess-old-core")
    os.makedirs(os.path.dirname(OLD_VENV), exist_ok=True)
    with open(OLD_VENV + ".lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one maker when test files run in parallel
        if not os.path.isfile(stamp) or open(stamp, encoding="utf-8").read() != wanted:
            shutil.rmtree(OLD_VENV, ignore_errors=True)
            made = run([python, "-m", "venv", OLD_VENV], timeout=300)
            assert made.returncode == 0, made.stdout + made.stderr
            installed = run([os.path.join(OLD_VENV, "bin", "python"), "-m", "pip", "install", "--quiet",
                             "--disable-pip-version-check", f"ansible-core=={OLD_CORE}.*"], timeout=900)
            assert installed.returncode == 0, installed.stdout + installed.stderr
            with open(stamp, "w", encoding="utf-8") as handle:
                handle.write(wanted)
    return os.path.join(OLD_VENV, "bin")


@pytest.fixture(scope="module")
def installed(built_tarball, tmp_path_factory):
    """The collections path the tarball is installed in, with the collection venv's ansible-galaxy."""
    target = tmp_path_factory.mktemp("installed")
    done = run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline", "-p", str(target),
                built_tarball], cwd=str(target), env=ansible_env(target))
    assert done.returncode == 0, done.stdout + done.stderr
    return target


def _files(top):
    """Every path under `top` with its size and modification time."""
    found = {}
    for directory, _dirs, names in os.walk(top):
        for name in names:
            path = os.path.join(directory, name)
            status = os.lstat(path)
            found[os.path.relpath(path, top)] = (status.st_size, status.st_mtime_ns)
    return found


def run_playbook(bin_dir, collections_path, workdir, argv, inventory=None):
    """ansible-playbook of `bin_dir` in `workdir` with the example inventory (or `inventory`), its base directory
    and admin kubeconfig in `workdir`: (returncode, output)."""
    workdir = str(workdir)
    if inventory is None:
        inventory = os.path.join(workdir, "inventory")
        if not os.path.isdir(inventory):
            shutil.copytree(os.path.join(ROOT, "examples", "inventory"), inventory)
    with open(os.path.join(workdir, "role.yml"), "w", encoding="utf-8") as handle:
        handle.write(ROLE_PLAYBOOK)
    env = ansible_env(collections_path, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
                      KUBEACCESS_BASE_DIR=os.path.join(workdir, "users"),
                      KUBEACCESS_ADMIN_KUBECONFIG=os.path.join(workdir, "admin.kubeconfig"),
                      ANSIBLE_LOCAL_TEMP=os.path.join(os.path.dirname(workdir), "ansible-tmp"))
    done = run([os.path.join(bin_dir, "ansible-playbook"), "-i", inventory, *argv], cwd=workdir, env=env,
               timeout=300)
    return done.returncode, done.stdout + done.stderr


def tasks_run(output):
    return [line.split("[", 1)[1].rsplit("]", 1)[0] for line in output.splitlines() if line.startswith("TASK [")]


def test_ansible_core_2_18_is_what_the_old_venv_runs(old_ansible):
    shown = run([os.path.join(old_ansible, "ansible-playbook"), "--version"], timeout=120)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"[core {OLD_CORE}." in shown.stdout, shown.stdout


@pytest.mark.parametrize("playbook", sorted(PLAYBOOKS))
def test_an_unsupported_ansible_core_fails_at_the_start(playbook, old_ansible, installed, tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    returncode, output = run_playbook(old_ansible, installed, workdir, PLAYBOOKS[playbook])
    wanted = requires_ansible()
    assert returncode != 0, output
    assert f"kubeaccess.x509 needs ansible-core {wanted} (requires_ansible in its meta/runtime.yml)" in output, output
    assert f"this is ansible-core {OLD_CORE}." in output, output
    assert f"-m pip install 'ansible-core{wanted}'" in output, output
    # Nothing before it: the check is the first task of the collection's in the run, and the last task. Only
    # Ansible's own validation of the role's arguments, which changes nothing, runs before it in a play of the role.
    tasks = [task.rsplit(" : ", 1)[-1] for task in tasks_run(output)
             if not task.rsplit(" : ", 1)[-1].startswith("Validating arguments against arg spec")]
    assert tasks == [CHECK_TASK], output
    assert "changed=0" in output and "changed=1" not in output, output
    before = _files(workdir)
    assert not (workdir / "users").exists(), "files written for the users"
    assert _files(workdir) == before


def test_a_supported_ansible_core_passes_the_check(installed, tmp_path):
    """The collection venv's ansible-core: the installed playbook runs its check, then the users' check (the empty
    group of this inventory fails it)."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("kube_users:\n  hosts: {}\n", encoding="utf-8")
    workdir = tmp_path / "run"
    workdir.mkdir()
    returncode, output = run_playbook(BIN, installed, workdir, ["kubeaccess.x509.onboard"], inventory=str(inventory))
    assert returncode != 0, output
    assert [task.rsplit(" : ", 1)[-1] for task in tasks_run(output)][:2] == [
        CHECK_TASK, "The users group exists and has users, and every user named with -e user is one of them"], output
    assert "needs ansible-core" not in output and "does not support Ansible version" not in output, output
    assert "The group kube_users in the inventory" in output and "has no hosts" in output, output


def _running_version():
    shown = run([os.path.join(BIN, "python"), "-c",
                 "from ansible.release import __version__; print(__version__)"], timeout=60)
    assert shown.returncode == 0, shown.stderr
    major, minor, patch = (shown.stdout.strip().split(".") + ["0"])[:3]
    return int(major), int(minor), int("".join(c for c in patch if c.isdigit()) or 0)


def _ranges():
    """(requires_ansible, the clauses the collection venv's ansible-core does not meet)."""
    major, minor, patch = _running_version()
    here = f"{major}.{minor}.{patch}"
    return [
        (f">={major}.{minor}.0,<{major}.{minor + 1}", ""),
        (f">={major}.{minor}.0, <{major}.{minor}", f"<{major}.{minor}"),
        (f">={major}.{minor + 1}.0", f">={major}.{minor + 1}.0"),
        (f">=2.19.0,!={here}", f"!={here}"),
        (f"=={here}", ""),
        # A clause the check cannot read counts as unmet, rather than letting every version through.
        (f"~={major}.{minor}", f"~={major}.{minor}"),
    ]


@pytest.mark.parametrize("range_,unmet", _ranges())
def test_the_range_is_the_one_of_meta_runtime(range_, unmet, installed, tmp_path):
    """A copy of the installed collection with another requires_ansible: the check follows it."""
    copy = tmp_path / "collections"
    shutil.copytree(installed, copy, symlinks=True)
    runtime = copy / "ansible_collections" / "kubeaccess" / "x509" / "meta" / "runtime.yml"
    meta = yaml.safe_load(runtime.read_text(encoding="utf-8"))
    meta["requires_ansible"] = range_
    runtime.write_text(yaml.safe_dump(meta), encoding="utf-8")
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("kube_users:\n  hosts: {}\n", encoding="utf-8")
    workdir = tmp_path / "run"
    workdir.mkdir()
    returncode, output = run_playbook(BIN, copy, workdir, ["kubeaccess.x509.onboard"], inventory=str(inventory))
    assert returncode != 0, output
    if unmet:
        assert f"needs ansible-core {range_} (requires_ansible" in output, output
        assert f"does not meet {unmet}. Nothing was changed." in output, output
        assert len(tasks_run(output)) == 1, output
    else:
        assert "needs ansible-core" not in output and "has no hosts" in output, output


def _below_floor():
    """(floor, an interpreter below the floor of the collection venv's ansible-core, or None)."""
    shown = run([os.path.join(BIN, "python"), "-c", "import importlib.metadata as m, sysconfig; "
                 "print(m.metadata('ansible-core')['Requires-Python']); print(sysconfig.get_paths()['purelib'])"],
                timeout=60)
    assert shown.returncode == 0, shown.stderr
    requires, purelib = shown.stdout.split()
    assert requires.startswith(">=3."), requires
    floor = tuple(int(part) for part in requires[2:].split(".")[:2])
    below = (floor[0], floor[1] - 1)
    candidates = [shutil.which("python%d.%d" % below)] + sorted(glob.glob(os.path.join(
        os.path.expanduser("~/.pyenv/versions"), "%d.%d.*" % below, "bin", "python%d.%d" % below)))
    python = next((c for c in candidates if c and _python_version(c) == below), None)
    return floor, python, purelib


def test_ansible_core_refuses_a_python_below_its_floor(tmp_path):
    """Why the controller's Python needs no check of the collection's own: a supported ansible-core stops before any
    playbook on a Python below its floor (2.19: 3.11, 2.20 and later: 3.12). The collection venv's ansible-core, run
    by an interpreter one minor version below its Requires-Python."""
    floor, python, purelib = _below_floor()
    if python is None:
        pytest.skip("no Python %d.%d (below the floor of the collection venv's ansible-core) in PATH or under "
                    "~/.pyenv/versions" % (floor[0], floor[1] - 1))
    done = run([python, os.path.join(BIN, "ansible-playbook"), "--version"], cwd=str(tmp_path),
               env=dict(os.environ, PYTHONPATH=purelib))
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "ERROR: Ansible requires Python %d.%d or newer on the controller" % floor in output, output
