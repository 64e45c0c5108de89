"""The user_access role through the playbooks people run: onboard, renew, offboard, audit, from an inventory.

Each test writes an inventory shaped like examples/inventory, with user, group and namespace names made unique by
the cluster's suffix, so that the tests also run unchanged on a shared real cluster.
"""

import json
import os
import re
import secrets
import shutil
import subprocess

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import COLLECTIONS_PATH
from tests.integration.conftest import BIN
from tests.kube import CSR_PATH, csr_manifest, kubectl, make_csr_pem, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RBAC = "/apis/rbac.authorization.k8s.io/v1"


class Onboarding:
    """An inventory of two users on the cluster under test, and the playbooks run against it."""

    def __init__(self, cluster, admin, cleanup, workdir):
        self.cluster, self.admin, self.workdir = cluster, admin, workdir
        # Per test, not per session: a real cluster keeps a deleted namespace Terminating for seconds.
        self.suffix = suffix = f"{cluster.suffix}{secrets.token_hex(2)}"
        self.rahul, self.seema = f"rahul-{suffix}", f"seema-{suffix}"
        self.dev, self.app1 = f"dev-{suffix}", f"app1-{suffix}"
        self.label = f"test-{suffix}"
        for namespace in (self.dev, self.app1):
            admin.json("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": namespace}}, expect=201)
            cleanup.add(f"/api/v1/namespaces/{namespace}")
        self.cleanup_labelled = cleanup
        self.base_dir = os.path.join(workdir, "users")
        self.inventory = os.path.join(workdir, "inventory")
        self.users = {
            self.rahul: {"user_access_groups": [f"developers-{suffix}"], "user_access_namespace": self.dev,
                         "user_access_expect": [
                             {"verb": "list", "resource": "pods", "namespace": self.dev, "allowed": True},
                             {"verb": "list", "resource": "secrets", "namespace": "kube-system", "allowed": False},
                             {"verb": "list", "resource": "pods", "namespace": self.app1, "allowed": False}]},
            self.seema: {"user_access_groups": [f"app1-devs-{suffix}", f"platform-team-{suffix}"],
                         "user_access_namespace": self.app1, "user_access_lifetime": "8h",
                         "user_access_expect": [
                             {"verb": "update", "resource": "configmaps", "namespace": self.app1, "allowed": True},
                             {"verb": "list", "resource": "pods", "namespace": self.dev, "allowed": True}]},
        }
        self.grants = {
            f"developers-{suffix}": [{"cluster_role": "edit", "namespace": self.dev}],
            f"app1-devs-{suffix}": [{"cluster_role": "edit", "namespace": self.app1}],
            f"platform-team-{suffix}": [{"cluster_role": "view"}],
        }
        self.clusters = {"local": {"kubeconfig": cluster.kubeconfig, "policy": {"max_expiration_seconds": 86400}}}
        self.settings = {}  # more role options for group_vars/all.yml
        self.write_inventory()

    def write_inventory(self):
        os.makedirs(os.path.join(self.inventory, "group_vars"), exist_ok=True)
        with open(os.path.join(self.inventory, "hosts.yml"), "w", encoding="utf-8") as handle:
            yaml.safe_dump({"kube_users": {"hosts": self.users}}, handle)
        with open(os.path.join(self.inventory, "group_vars", "all.yml"), "w", encoding="utf-8") as handle:
            yaml.safe_dump({"user_access_clusters": self.clusters, "user_access_group_grants": self.grants,
                            "user_access_base_dir": self.base_dir, "user_access_inventory": self.label,
                            "ansible_connection": "local",
                            "ansible_python_interpreter": "{{ ansible_playbook_python }}", **self.settings}, handle)

    def command(self, playbook, *args):
        """The ansible-playbook command line of `playbook` on this inventory, and its environment."""
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
                   ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_RETRY_FILES_ENABLED="false",
                   PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
        return [os.path.join(BIN, "ansible-playbook"), "-i", self.inventory, os.path.join(ROOT, "playbooks", playbook),
                *args], env

    def run(self, playbook, *args):
        argv, env = self.command(playbook, *args)
        completed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False,
                                   stdin=subprocess.DEVNULL)
        return Run(completed)

    def kubeconfig(self, user):
        return os.path.join(self.base_dir, user, "kubeconfig")

    def bindings(self):
        """Our bindings on the cluster: (kind, namespace, name) -> subjects."""
        found = {}
        for kind, path in (("ClusterRoleBinding", f"{RBAC}/clusterrolebindings"), ("RoleBinding", f"{RBAC}/rolebindings")):
            listed = self.admin.json("GET", f"{path}?labelSelector=kubeaccess.x509%2Finventory%3D{self.label}",
                                     expect=200)
            for item in listed["items"]:
                found[(kind, item["metadata"].get("namespace"), item["metadata"]["name"])] = item["subjects"]
        return found

    def csrs(self):
        """The CSR objects on the cluster that carry this inventory's label."""
        return self.admin.json("GET", f"{CSR_PATH}?labelSelector=kubeaccess.x509%2Finventory%3D{self.label}",
                               expect=200)["items"]

    def remove_everything(self):
        for kind, namespace, name in self.bindings():
            plural = "clusterrolebindings" if kind == "ClusterRoleBinding" else f"namespaces/{namespace}/rolebindings"
            self.admin.request("DELETE", f"{RBAC}/{plural}/{name}")
        for item in self.csrs():
            self.admin.request("DELETE", f"{CSR_PATH}/{item['metadata']['name']}")


class Run:
    def __init__(self, completed):
        self.returncode = completed.returncode
        self.output = completed.stdout + completed.stderr

    def ok(self):
        assert self.returncode == 0, self.output[-8000:]
        # Nothing of the collection's may make Ansible print deprecations on a user's run.
        assert "[DEPRECATION WARNING]" not in self.output, self.output[-8000:]
        return self

    def failed(self):
        assert self.returncode != 0, self.output[-8000:]
        return self

    def recap(self, host):
        """The host's PLAY RECAP counters."""
        found = re.search(rf"^{re.escape(host)}\s*:(.*)$", self.output, re.MULTILINE)
        assert found, self.output[-4000:]
        return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", found.group(1))}

    def changed(self, host):
        return self.recap(host)["changed"]

    def changed_total(self):
        """changed= summed over the recap: the controller's (localhost, where the steps run once for all users)
        and every user's."""
        assert "PLAY RECAP" in self.output, self.output[-4000:]
        return sum(int(n) for n in re.findall(r"^\S+\s*:.*changed=(\d+)", self.output, re.MULTILINE))


@pytest.fixture
def onboarding(cluster, admin, cleanup, tmp_path):
    setup = Onboarding(cluster, admin, cleanup, str(tmp_path))
    yield setup
    setup.remove_everything()


def whoami(kubeconfig):
    return json.loads(kubectl(kubeconfig, "auth", "whoami", "-o", "json", check=0).stdout)["status"]["userInfo"]


def can_i(kubeconfig, *args):
    return kubectl(kubeconfig, "auth", "can-i", *args).stdout.strip() == "yes"


def test_check_mode_then_onboard_one_user_then_no_change(onboarding):
    rahul = onboarding.rahul
    check = onboarding.run("onboard.yml", "-e", f"user={rahul}", "--check", "--diff").ok()
    assert check.changed(rahul) > 0
    assert not os.path.exists(onboarding.base_dir), "check mode wrote files"
    assert onboarding.bindings() == {}, "check mode created bindings"
    assert f"kubeaccess-group-developers-{onboarding.suffix}-edit" in check.output  # the diff shows it

    first = onboarding.run("onboard.yml", "-e", f"user={rahul}").ok()
    assert first.changed(rahul) > 0
    assert f"{rahul}@local: groups developers-{onboarding.suffix}" in first.output  # the summary
    kubeconfig = onboarding.kubeconfig(rahul)
    assert os.stat(kubeconfig).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(kubeconfig)).st_mode & 0o777 == 0o700
    info = whoami(kubeconfig)
    assert info["username"] == rahul and f"developers-{onboarding.suffix}" in info["groups"]
    assert can_i(kubeconfig, "list", "pods", "-n", onboarding.dev)
    assert not can_i(kubeconfig, "list", "pods", "-n", onboarding.app1)
    assert not can_i(kubeconfig, "list", "secrets", "-n", "kube-system")
    # Bindings of every group are made even in a run for one user: they do not depend on who is in the run.
    assert len(onboarding.bindings()) == 3
    assert not os.path.exists(onboarding.kubeconfig(onboarding.seema))

    again = onboarding.run("onboard.yml", "-e", f"user={rahul}").ok()
    assert again.changed(rahul) == 0
    onboarding.run("onboard.yml", "-e", f"user={rahul}", "--check").ok()


def test_the_steps_on_the_controller_start_no_module_process(onboarding):
    """The inventory gives the controller its own Python (ansible_playbook_python), so every step of the role runs in
    Ansible's own process; -vvv shows each module process Ansible starts (its AnsiballZ file)."""
    first = onboarding.run("onboard.yml", "-vvv").ok()
    again = onboarding.run("onboard.yml", "-vvv").ok()
    for run in (first, again):
        assert "AnsiballZ_" not in run.output
        assert "k8s_rbac_binding: runs in the controller process" in run.output
        assert "access_credentials: runs in the controller process" in run.output
    assert first.changed(onboarding.rahul) == 1 and again.changed(onboarding.rahul) == 0


def test_everybody_twice_and_the_second_run_changes_nothing(onboarding, cluster):
    first = onboarding.run("onboard.yml").ok()
    for user in (onboarding.rahul, onboarding.seema):
        # Each user's own line of the recap, with their own change, and their own summary under their name.
        assert first.changed(user) == 1
        assert re.search(rf"changed: \[{user}\] => {{\n\s+\"changed\": true,\n\s+\"msg\": \[\n\s+\"{user}@local: groups",
                         first.output)
        assert whoami(onboarding.kubeconfig(user))["username"] == user
    seema = onboarding.kubeconfig(onboarding.seema)
    assert can_i(seema, "update", "configmaps", "-n", onboarding.app1)
    assert can_i(seema, "list", "pods", "-n", onboarding.dev)  # view, cluster-wide
    assert not can_i(seema, "list", "nodes")  # view does not include nodes
    assert not can_i(seema, "delete", "namespaces")
    before = cluster.control("GET", "stats")["counters"] if cluster.local else None
    second = onboarding.run("onboard.yml").ok()
    assert second.changed_total() == 0
    assert second.recap(onboarding.rahul)["ok"] == 1 and second.recap(onboarding.seema)["ok"] == 1

    if cluster.local:
        after = cluster.control("GET", "stats")["counters"]
        writes = {key: after[key] - before.get(key, 0) for key in after
                  if key.split()[0] in ("create", "update", "patch", "delete")}
        assert not any(writes.values()), writes


def test_a_serial_play_onboards_every_batch(onboarding):
    """The role ends each batch early when no user has a machine of their own: every batch does the work of its
    own users, and each user's change shows on their own line."""
    playbook = os.path.join(onboarding.workdir, "serial.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        yaml.safe_dump([{"name": "Onboard one user at a time", "hosts": "kube_users", "gather_facts": False,
                         "serial": 1, "roles": [{"role": "kubeaccess.x509.user_access"}]}], handle)
    run = onboarding.run(playbook).ok()
    for user in (onboarding.rahul, onboarding.seema):
        assert run.changed(user) == 1
        assert whoami(onboarding.kubeconfig(user))["username"] == user


def test_grant_removed_from_the_inventory_is_pruned_and_group_change_renews(onboarding):
    onboarding.run("onboard.yml").ok()
    suffix = onboarding.suffix
    del onboarding.grants[f"platform-team-{suffix}"]
    onboarding.users[onboarding.seema]["user_access_groups"] = [f"app1-devs-{suffix}"]
    onboarding.users[onboarding.seema]["user_access_expect"] = [
        {"verb": "list", "resource": "pods", "namespace": onboarding.dev, "allowed": False}]
    onboarding.write_inventory()
    onboarding.run("onboard.yml").ok()
    names = {key[2] for key in onboarding.bindings()}
    assert f"kubeaccess-group-platform-team-{suffix}-view" not in names
    info = whoami(onboarding.kubeconfig(onboarding.seema))
    assert info["groups"].count(f"platform-team-{suffix}") == 0  # a new certificate, without the dropped group


def test_bad_role_options_and_what_users_share_stop_the_run_before_anything_changes(onboarding):
    suffix = onboarding.suffix
    # The role's own options, checked once for the run by every playbook that uses the role.
    onboarding.settings = {"user_access_verify": "sometimes", "user_access_prune": "maybe"}
    onboarding.write_inventory()
    for playbook in ("onboard.yml", "renew.yml", "audit.yml"):
        options = onboarding.run(playbook).failed()
        assert "argument 'user_access_prune' is of type str and we were unable to convert to bool" in options.output
        assert "value of user_access_verify must be one of: changed, always, never, got: sometimes" in options.output
    onboarding.settings = {}

    # A role-wide option in one user's host variables would otherwise be taken from whichever host runs the steps.
    onboarding.users[onboarding.seema]["user_access_base_dir"] = os.path.join(onboarding.workdir, "elsewhere")
    onboarding.write_inventory()
    leaked = onboarding.run("onboard.yml").failed()
    assert "user_access_base_dir: one value for the whole run, but the users' inventory variables differ" in leaked.output
    del onboarding.users[onboarding.seema]["user_access_base_dir"]

    # Group grants are shared: a namespace that does not exist stops everybody before any change.
    onboarding.grants[f"app1-devs-{suffix}"] = [{"cluster_role": "edit", "namespace": f"missing-{suffix}"}]
    onboarding.write_inventory()
    missing = onboarding.run("onboard.yml").failed()
    assert f"missing-{suffix}" in missing.output and "not" in missing.output
    assert re.search(r"^localhost\s*:.*failed=1", missing.output, re.MULTILINE), missing.output[-3000:]
    onboarding.grants[f"app1-devs-{suffix}"] = [{"cluster_role": "edit", "namespace": onboarding.app1}]

    onboarding.grants["qa"] = [{"cluster_role": "view", "namespace": "Not A Namespace"}]
    onboarding.write_inventory()
    assert "user_access_group_grants.qa[0].namespace" in onboarding.run("onboard.yml").failed().output
    del onboarding.grants["qa"]

    # None of these runs changed anything on the cluster or on disk.
    assert onboarding.bindings() == {}
    assert not os.path.exists(onboarding.base_dir)


def test_a_bad_entry_refuses_that_user_alone(onboarding):
    """rahul's own entry is wrong: rahul fails on his own host, named there, with nothing of his changed; seema is
    onboarded; the run exits non-zero."""
    rahul, seema = onboarding.rahul, onboarding.seema
    onboarding.users[rahul]["user_access_groups"].append("qa")
    onboarding.users[rahul]["user_access_user_clusters"] = ["prod"]
    onboarding.write_inventory()
    run = onboarding.run("onboard.yml").failed()
    assert "group 'qa' has no grants; add it to user_access_group_grants" in run.output
    assert "cluster 'prod' is not described in user_access_clusters" in run.output
    assert run.recap(rahul)["failed"] == 1 and run.recap(seema)["failed"] == 0 and run.changed(seema) == 1
    assert f"fatal: [{rahul}]: FAILED!" in run.output and f"{rahul}: refused, nothing of theirs was changed" in run.output
    assert not os.path.exists(os.path.join(onboarding.base_dir, rahul))
    assert whoami(onboarding.kubeconfig(seema))["username"] == seema

    # A kubeconfig that is not YAML is never overwritten: its user is refused.
    onboarding.users[rahul]["user_access_groups"].remove("qa")
    del onboarding.users[rahul]["user_access_user_clusters"]
    os.makedirs(os.path.dirname(onboarding.kubeconfig(rahul)))
    with open(onboarding.kubeconfig(rahul), "w", encoding="utf-8") as handle:
        handle.write("this: is: not yaml: [")
    onboarding.write_inventory()
    broken = onboarding.run("onboard.yml").failed()
    assert "is not valid YAML" in broken.output and "user_access_kubeconfig_path" in broken.output
    assert broken.recap(rahul)["failed"] == 1 and broken.recap(seema)["failed"] == 0
    with open(onboarding.kubeconfig(rahul), encoding="utf-8") as handle:
        assert handle.read() == "this: is: not yaml: ["
    assert os.listdir(os.path.dirname(onboarding.kubeconfig(rahul))) == ["kubeconfig"]


def test_no_users_is_an_error_not_a_green_run(onboarding):
    rahul = onboarding.rahul
    typo = onboarding.run("onboard.yml", "-e", f"user={rahul}x").failed()
    assert f"-e user={rahul}x: {rahul}x not in the group kube_users of the inventory {onboarding.inventory}" \
        in typo.output

    with open(os.path.join(onboarding.inventory, "hosts.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump({"kube_userz": {"hosts": onboarding.users}}, handle)
    for playbook, extra in (("onboard.yml", []), ("renew.yml", []), ("audit.yml", []),
                            ("offboard.yml", ["-e", "user=someone"]), ("onboard.yml", ["-e", f"user={rahul}"])):
        missing = onboarding.run(playbook, *extra).failed()
        assert f"There is no group kube_users in the inventory {onboarding.inventory}, so there are no users" \
            in missing.output, (playbook, missing.output[-3000:])

    with open(os.path.join(onboarding.inventory, "hosts.yml"), "w", encoding="utf-8") as handle:
        handle.write("kube_users:\n  hosts: {}\n")
    for playbook in ("onboard.yml", "renew.yml", "audit.yml"):
        empty = onboarding.run(playbook).failed()
        assert f"The group kube_users in the inventory {onboarding.inventory} has no hosts" in empty.output
    assert onboarding.bindings() == {}
    assert not os.path.exists(onboarding.base_dir)


def test_each_user_gets_their_own_lifetime_key_and_renewal_window(onboarding):
    """x1a sets its own lifetime, key type and renewal window, x1b none: x1b gets the role's, never x1a's, whichever
    host the steps run on (the controller in onboard.yml, the first user in a play of users only)."""
    suffix = onboarding.suffix
    first, second = f"x1a-{suffix}", f"x1b-{suffix}"
    group = f"developers-{suffix}"
    onboarding.users = {first: {"user_access_groups": [group], "user_access_lifetime": "10m",
                                "user_access_key_type": "rsa", "user_access_key_size": 2048,
                                "user_access_renew_before": "25h"},
                        second: {"user_access_groups": [group]}}
    onboarding.write_inventory()
    users_only = os.path.join(onboarding.workdir, "users-only.yml")
    with open(users_only, "w", encoding="utf-8") as handle:
        yaml.safe_dump([{"name": "Onboard", "hosts": "kube_users", "gather_facts": False,
                         "roles": [{"role": "kubeaccess.x509.user_access"}]}], handle)
    for playbook in ("onboard.yml", users_only):
        first_run = onboarding.run(playbook).ok()
        assert first_run.changed(first) == 1 and first_run.changed(second) == 1
        assert 600 <= certificate_lifetime(onboarding, first) <= 900
        assert 86400 <= certificate_lifetime(onboarding, second) <= 86400 + 900
        assert private_key_kind(onboarding, first) == "RSA 2048" and private_key_kind(onboarding, second) == "EC"
        # x1a's window (25h) is longer than its certificate: every run renews it; x1b's (30%) is far away.
        again = onboarding.run(playbook).ok()
        assert again.changed(first) == 1 and again.changed(second) == 0
        shutil.rmtree(onboarding.base_dir)
        onboarding.remove_everything()


def certificate_lifetime(onboarding, user):
    with open(os.path.join(onboarding.base_dir, user, "local.crt"), "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()


def private_key_kind(onboarding, user):
    with open(os.path.join(onboarding.base_dir, user, "local.key"), "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    return f"RSA {key.key_size}" if isinstance(key, rsa.RSAPrivateKey) else "EC"


def three_users(onboarding):
    """rahul, mia and seema: the middle one is the one that goes wrong."""
    mia = f"mia-{onboarding.suffix}"
    users = dict(onboarding.users)
    onboarding.users = {onboarding.rahul: users[onboarding.rahul],
                        mia: {"user_access_groups": [f"developers-{onboarding.suffix}"],
                              "user_access_namespace": onboarding.dev},
                        onboarding.seema: users[onboarding.seema]}
    return mia


def test_a_user_whose_verification_fails_fails_alone_and_the_next_run_completes_them(onboarding):
    mia = three_users(onboarding)
    onboarding.users[mia]["user_access_expect"] = [
        {"verb": "delete", "resource": "namespaces", "allowed": True}]  # her grants do not give that
    onboarding.write_inventory()
    run = onboarding.run("onboard.yml").failed()
    assert run.recap(mia)["failed"] == 1
    assert "expected_access[0]: delete namespaces is forbidden, expected allowed" in run.output
    for user in (onboarding.rahul, onboarding.seema):
        assert run.recap(user)["failed"] == 0 and run.changed(user) == 1
        assert whoami(onboarding.kubeconfig(user))["username"] == user
    # Her kubeconfig is not written while its check fails, so a run without the fix fails again, not green.
    assert not os.path.exists(onboarding.kubeconfig(mia))
    assert onboarding.run("onboard.yml").failed().recap(mia)["failed"] == 1

    onboarding.users[mia]["user_access_expect"] = [{"verb": "list", "resource": "pods", "namespace": onboarding.dev,
                                                    "allowed": True}]
    onboarding.write_inventory()
    fixed = onboarding.run("onboard.yml").ok()
    assert fixed.changed(mia) == 1 and fixed.changed(onboarding.rahul) == 0
    assert whoami(onboarding.kubeconfig(mia))["username"] == mia


def test_a_user_whose_kubeconfig_path_is_a_directory_fails_alone(onboarding):
    mia = three_users(onboarding)
    directory = os.path.join(onboarding.workdir, "a-directory")
    os.makedirs(directory)
    onboarding.users[mia]["user_access_kubeconfig_path"] = directory
    onboarding.write_inventory()
    run = onboarding.run("onboard.yml").failed()
    assert run.recap(mia)["failed"] == 1
    assert f"user_access_kubeconfig_path: {directory} is a directory; give a file path" in run.output
    assert not os.path.exists(os.path.join(onboarding.base_dir, mia)) and os.listdir(directory) == []
    for user in (onboarding.rahul, onboarding.seema):
        assert run.changed(user) == 1 and whoami(onboarding.kubeconfig(user))["username"] == user

    onboarding.users[mia]["user_access_kubeconfig_path"] = os.path.join(directory, "mia.kubeconfig")
    onboarding.write_inventory()
    fixed = onboarding.run("onboard.yml").ok()
    assert fixed.changed(mia) == 1 and whoami(os.path.join(directory, "mia.kubeconfig"))["username"] == mia


def test_the_policy_is_checked_with_the_inventory_before_any_change(onboarding):
    rahul, seema = onboarding.rahul, onboarding.seema
    onboarding.users[seema]["user_access_lifetime"] = "7d"
    allowed = [f"developers-{onboarding.suffix}", f"platform-team-{onboarding.suffix}"]
    onboarding.clusters["local"]["policy"]["allowed_groups"] = allowed
    onboarding.write_inventory()
    run = onboarding.run("onboard.yml").failed()
    assert ("user_access_lifetime: 604800 s is more than user_access_clusters.local.policy.max_expiration_seconds "
            "(86400 s)") in run.output
    assert (f"user_access_groups: ['app1-devs-{onboarding.suffix}'] are not in "
            "user_access_clusters.local.policy.allowed_groups") in run.output
    assert run.recap(seema)["failed"] == 1 and run.changed(rahul) == 1
    assert not os.path.exists(os.path.join(onboarding.base_dir, seema))
    assert not [csr for csr in onboarding.csrs() if csr["metadata"]["name"].startswith(f"{seema}-")]


def test_a_pending_csr_of_ours_that_nothing_wants_is_deleted_and_said(onboarding, admin):
    """A renewal the policy refused leaves a pending CSR for the user's key: the next run deletes it, so that
    nobody can approve it later, and says so."""
    rahul = onboarding.rahul
    onboarding.run("onboard.yml", "-e", f"user={rahul}").ok()
    with open(os.path.join(onboarding.base_dir, rahul, "local.key"), "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    name = next(csr["metadata"]["name"] for csr in onboarding.csrs()
                if csr["metadata"]["name"].startswith(f"{rahul}-"))
    admin.request("DELETE", f"{CSR_PATH}/{name}")
    wait_for(lambda: admin.request("GET", f"{CSR_PATH}/{name}").status_code == 404, what=f"CSR {name} deleted")
    admin.json("POST", CSR_PATH, csr_manifest(
        name, make_csr_pem(key, rahul, [f"developers-{onboarding.suffix}"]), expiration=604800,
        labels={"app.kubernetes.io/managed-by": "kubeaccess.x509", "kubeaccess.x509/inventory": onboarding.label}),
        expect=201)
    run = onboarding.run("onboard.yml", "-e", f"user={rahul}").ok()
    assert run.changed(rahul) == 1
    assert f"CSR {name} was pending (asking for 604800 s) while the certificate is current; deleted" in run.output
    assert admin.request("GET", f"{CSR_PATH}/{name}").status_code == 404
    assert onboarding.run("onboard.yml", "-e", f"user={rahul}").ok().changed_total() == 0


def test_renew_audit_and_offboard(onboarding, admin, cleanup):
    rahul = onboarding.rahul
    onboarding.run("onboard.yml").ok()
    certificate = os.path.join(onboarding.base_dir, rahul, "local.crt")
    with open(certificate, "rb") as handle:
        first = handle.read()

    renewed = onboarding.run("renew.yml", "-e", f"user={rahul}", "-e", "renew_now=true").ok()
    assert renewed.changed(rahul) == 1
    with open(certificate, "rb") as handle:
        assert handle.read() != first
    assert whoami(onboarding.kubeconfig(rahul))["username"] == rahul

    audit = onboarding.run("audit.yml", "-e", f"audit_dir={onboarding.workdir}/audit").ok()
    assert audit.changed_total() == 0 and "No drift" in audit.output
    assert re.search(rf"^\s*{re.escape(rahul)}\s+local\s+valid\s.*verified", audit.output, re.MULTILINE), audit.output

    refused = onboarding.run("offboard.yml", "-e", f"user={rahul}").failed()
    assert "remove them from the inventory first" in refused.output
    # A binding somebody made by hand for rahul's group: the inventory does not own it, and it still grants.
    by_hand = f"by-hand-{onboarding.suffix}"
    admin.json("POST", f"{RBAC}/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": by_hand},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                      "name": f"developers-{onboarding.suffix}"}]}, expect=201)
    cleanup.add(f"{RBAC}/clusterrolebindings/{by_hand}")
    del onboarding.users[rahul]
    onboarding.write_inventory()
    offboard = onboarding.run("offboard.yml", "-e", f"user={rahul}").ok()
    directory = os.path.join(onboarding.base_dir, rahul)
    assert (f"deleted on the controller: {directory} (key local.key, certificate local.crt, kubeconfig (contexts "
            f"{rahul}@local))") in offboard.output
    assert "cannot be revoked and is valid until" in offboard.output
    assert (f"RoleBinding {onboarding.dev}/kubeaccess-group-developers-{onboarding.suffix}-edit grants ClusterRole "
            f"edit in {onboarding.dev} (to Group developers-{onboarding.suffix}), this inventory") in offboard.output
    assert (f"ClusterRoleBinding {by_hand} grants ClusterRole view cluster-wide (to Group "
            f"developers-{onboarding.suffix}), not made by this inventory") in offboard.output
    assert re.search(rf"local: CSRs deleted: {rahul}-[0-9a-f]{{16}} \(issued\)", offboard.output), offboard.output
    assert "own machine" not in offboard.output
    assert not os.path.exists(directory)

    typo = onboarding.run("offboard.yml", "-e", f"user={rahul}x").failed()
    assert f"nothing of '{rahul}x' found on the controller" in typo.output and "check the name" in typo.output


def _files_under(directory):
    return sorted(os.path.relpath(os.path.join(top, name), directory)
                  for top, _dirs, names in os.walk(directory) for name in names)


def test_keys_on_the_users_own_machine(onboarding):
    """seema's host is a machine of her own (ansible_host set; reached with the local connection here): her key is
    made and stays there, the controller only sees her request, and her kubeconfig is written there."""
    seema, rahul = onboarding.seema, onboarding.rahul
    laptop = os.path.join(onboarding.workdir, "seema-laptop")
    onboarding.users[seema].update(ansible_host="127.0.0.1", user_access_key_dir=f"{laptop}/.kube/kubeaccess",
                                   user_access_kubeconfig_path=f"{laptop}/.kube/config")
    onboarding.write_inventory()

    check = onboarding.run("onboard.yml", "--check", "--diff").ok()
    assert f"{seema}@local: the key and request would be made on {seema}" in check.output
    assert not os.path.exists(laptop) and not os.path.exists(onboarding.base_dir)

    first = onboarding.run("onboard.yml", "-v").ok()
    assert first.changed(seema) > 0 and first.changed(rahul) > 0
    assert "PRIVATE KEY" not in first.output
    assert f"{seema}@local: groups app1-devs-" in first.output and f"kubeconfig {seema}:{laptop}/.kube/config verified" \
        in first.output
    assert _files_under(laptop) == [".kube/.config.kubeaccess-lock", ".kube/config", ".kube/kubeaccess/local-ca.crt",
                                    ".kube/kubeaccess/local.crt", ".kube/kubeaccess/local.key"]
    assert os.stat(f"{laptop}/.kube/kubeaccess/local.key").st_mode & 0o777 == 0o600
    assert os.stat(f"{laptop}/.kube/config").st_mode & 0o777 == 0o600
    # The controller keeps her certificate (public), for renewal, audit and offboarding; never a key of hers.
    assert _files_under(os.path.join(onboarding.base_dir, seema)) == ["local.crt"]
    with open(f"{laptop}/.kube/kubeaccess/local.crt", "rb") as there, \
            open(os.path.join(onboarding.base_dir, seema, "local.crt"), "rb") as here:
        assert there.read() == here.read()
    kubeconfig = f"{laptop}/.kube/config"
    info = whoami(kubeconfig)
    assert info["username"] == seema and f"platform-team-{onboarding.suffix}" in info["groups"]
    assert can_i(kubeconfig, "update", "configmaps", "-n", onboarding.app1)
    assert not can_i(kubeconfig, "list", "secrets", "-n", "kube-system")

    again = onboarding.run("onboard.yml").ok()
    assert again.changed_total() == 0

    # A machine that lost its kubeconfig and certificate gets them back from the next run, with the same key.
    os.unlink(kubeconfig)
    os.unlink(f"{laptop}/.kube/kubeaccess/local.crt")
    restored = onboarding.run("onboard.yml", "-e", f"user={seema}").ok()
    assert restored.changed(seema) > 0 and whoami(kubeconfig)["username"] == seema

    # A machine that cannot be reached fails the run for itself only, on its own line of the recap.
    offline = f"offline-{onboarding.suffix}"
    onboarding.users[offline] = {"user_access_groups": [f"developers-{onboarding.suffix}"],
                                 "ansible_host": "127.0.0.1", "ansible_connection": "ssh", "ansible_port": 1}
    onboarding.write_inventory()
    partial = onboarding.run("onboard.yml").failed()
    assert partial.recap(offline)["unreachable"] == 1, partial.output[-3000:]
    assert partial.changed_total() == 0 and partial.recap(seema)["failed"] == 0

    # Offboarding reports her certificate from the controller's copy and where her key still is.
    del onboarding.users[seema], onboarding.users[offline]
    onboarding.write_inventory()
    offboard = onboarding.run("offboard.yml", "-e", f"user={seema}").ok()
    assert "local: the certificate (serial" in offboard.output and "cannot be revoked" in offboard.output
    assert (f"local: the key of this certificate was never on the controller: it is on {seema}'s own machine, which "
            "this run cannot reach") in offboard.output
    # Her CSR is found from the certificate, as no key of hers is on the controller to name it; nobody else's goes.
    names = [item["metadata"]["name"] for item in onboarding.csrs()]
    assert not [name for name in names if name.startswith(f"{seema}-")]
    assert [name for name in names if name.startswith(f"{rahul}-")]
