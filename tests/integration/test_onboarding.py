"""The user_access role through the playbooks people run: onboard, renew, offboard, audit, from an inventory.

Each test writes an inventory shaped like examples/inventory, with user, group and namespace names made unique by
the cluster's suffix, so that the tests also run unchanged on a shared real cluster.
"""

import json
import os
import re
import subprocess

import pytest
import yaml

from tests.conftest import COLLECTIONS_PATH
from tests.integration.conftest import BIN
from tests.kube import CSR_PATH, kubectl

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RBAC = "/apis/rbac.authorization.k8s.io/v1"


class Onboarding:
    """An inventory of two users on the cluster under test, and the playbooks run against it."""

    def __init__(self, cluster, admin, cleanup, workdir):
        self.cluster, self.admin, self.workdir = cluster, admin, workdir
        suffix = cluster.suffix
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

    def run(self, playbook, *args):
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
                   ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_RETRY_FILES_ENABLED="false",
                   PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
        completed = subprocess.run(
            [os.path.join(BIN, "ansible-playbook"), "-i", self.inventory, os.path.join(ROOT, "playbooks", playbook),
             *args], env=env, capture_output=True, text=True, timeout=600, check=False, stdin=subprocess.DEVNULL)
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

    def remove_everything(self):
        for kind, namespace, name in self.bindings():
            plural = "clusterrolebindings" if kind == "ClusterRoleBinding" else f"namespaces/{namespace}/rolebindings"
            self.admin.request("DELETE", f"{RBAC}/{plural}/{name}")
        listed = self.admin.json("GET", f"{CSR_PATH}?labelSelector=kubeaccess.x509%2Finventory%3D{self.label}",
                                 expect=200)
        for item in listed["items"]:
            self.admin.request("DELETE", f"{CSR_PATH}/{item['metadata']['name']}")


class Run:
    def __init__(self, completed):
        self.returncode = completed.returncode
        self.output = completed.stdout + completed.stderr

    def ok(self):
        assert self.returncode == 0, self.output[-8000:]
        return self

    def failed(self):
        assert self.returncode != 0, self.output[-8000:]
        return self

    def changed(self, host):
        found = re.search(rf"^{re.escape(host)}\s*:.*changed=(\d+)", self.output, re.MULTILINE)
        assert found, self.output[-4000:]
        return int(found.group(1))

    def changed_total(self):
        """changed= summed over the recap: the role's steps run once for all users, on the play's first host."""
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


def test_check_mode_then_onboard_one_user_then_no_change(onboarding, admin):
    rahul = onboarding.rahul
    check = onboarding.run("onboard.yml", "-e", f"user={rahul}", "--check", "--diff").ok()
    assert check.changed(rahul) > 0
    assert not os.path.exists(onboarding.base_dir), "check mode wrote files"
    assert onboarding.bindings() == {}, "check mode created bindings"
    assert f"kubeaccess-group-developers-{onboarding.cluster.suffix}-edit" in check.output  # the diff shows it

    first = onboarding.run("onboard.yml", "-e", f"user={rahul}").ok()
    assert first.changed(rahul) > 0
    assert f"{rahul}@local: groups developers-{onboarding.cluster.suffix}" in first.output  # the summary
    kubeconfig = onboarding.kubeconfig(rahul)
    assert os.stat(kubeconfig).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(kubeconfig)).st_mode & 0o777 == 0o700
    info = whoami(kubeconfig)
    assert info["username"] == rahul and f"developers-{onboarding.cluster.suffix}" in info["groups"]
    assert can_i(kubeconfig, "list", "pods", "-n", onboarding.dev)
    assert not can_i(kubeconfig, "list", "pods", "-n", onboarding.app1)
    assert not can_i(kubeconfig, "list", "secrets", "-n", "kube-system")
    # Bindings of every group are made even in a run for one user: they do not depend on who is in the run.
    assert len(onboarding.bindings()) == 3
    assert not os.path.exists(onboarding.kubeconfig(onboarding.seema))

    again = onboarding.run("onboard.yml", "-e", f"user={rahul}").ok()
    assert again.changed(rahul) == 0
    onboarding.run("onboard.yml", "-e", f"user={rahul}", "--check").ok()


def test_everybody_twice_and_the_second_run_changes_nothing(onboarding, cluster):
    onboarding.run("onboard.yml").ok()
    for user in (onboarding.rahul, onboarding.seema):
        assert whoami(onboarding.kubeconfig(user))["username"] == user
    seema = onboarding.kubeconfig(onboarding.seema)
    assert can_i(seema, "update", "configmaps", "-n", onboarding.app1)
    assert can_i(seema, "list", "pods", "-n", onboarding.dev)  # view, cluster-wide
    assert not can_i(seema, "list", "nodes")  # view does not include nodes
    assert not can_i(seema, "delete", "namespaces")
    before = cluster.control("GET", "stats")["counters"] if cluster.local else None
    second = onboarding.run("onboard.yml").ok()
    assert second.changed_total() == 0

    if cluster.local:
        after = cluster.control("GET", "stats")["counters"]
        writes = {key: after[key] - before.get(key, 0) for key in after
                  if key.split()[0] in ("create", "update", "patch", "delete")}
        assert not any(writes.values()), writes


def test_a_serial_play_onboards_every_batch(onboarding):
    """The role ends the play early when no user has a machine of their own: the first batch must have done
    the work of every user, the later batches' too."""
    playbook = os.path.join(onboarding.workdir, "serial.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        yaml.safe_dump([{"name": "Onboard one user at a time", "hosts": "kube_users", "gather_facts": False,
                         "serial": 1, "roles": [{"role": "kubeaccess.x509.user_access"}]}], handle)
    onboarding.run(playbook).ok()
    for user in (onboarding.rahul, onboarding.seema):
        assert whoami(onboarding.kubeconfig(user))["username"] == user


def test_grant_removed_from_the_inventory_is_pruned_and_group_change_renews(onboarding):
    onboarding.run("onboard.yml").ok()
    suffix = onboarding.cluster.suffix
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


def test_bad_inventories_fail_before_anything_changes(onboarding):
    suffix = onboarding.cluster.suffix
    unknown = onboarding.run("onboard.yml", "-e", "user=nobody").failed()
    assert "nobody not in the inventory group kube_users" in unknown.output

    # The role's own options, checked once for the run by every playbook that uses the role.
    onboarding.settings = {"user_access_verify": "sometimes", "user_access_prune": "maybe"}
    onboarding.write_inventory()
    for playbook in ("onboard.yml", "renew.yml", "audit.yml"):
        options = onboarding.run(playbook).failed()
        assert "argument 'user_access_prune' is of type str and we were unable to convert to bool" in options.output
        if playbook != "audit.yml":  # audit sets user_access_verify itself
            assert "value of user_access_verify must be one of: changed, always, never, got: sometimes" in options.output
    onboarding.settings = {}

    onboarding.users[onboarding.rahul]["user_access_groups"].append("qa")
    onboarding.users[onboarding.seema]["user_access_user_clusters"] = ["prod"]
    onboarding.write_inventory()
    bad = onboarding.run("onboard.yml").failed()
    assert "group 'qa' has no grants; add it to user_access_group_grants" in bad.output
    assert "cluster 'prod' is not described in user_access_clusters" in bad.output

    onboarding.users[onboarding.rahul]["user_access_groups"].remove("qa")
    del onboarding.users[onboarding.seema]["user_access_user_clusters"]
    onboarding.users[onboarding.seema]["user_access_groups"] = []
    onboarding.write_inventory()
    assert "user_access_groups: the user is in no group" in onboarding.run("onboard.yml").failed().output

    onboarding.users[onboarding.seema]["user_access_groups"] = [f"app1-devs-{suffix}"]
    onboarding.grants[f"app1-devs-{suffix}"] = [{"cluster_role": "edit", "namespace": f"missing-{suffix}"}]
    onboarding.write_inventory()
    missing = onboarding.run("onboard.yml").failed()
    assert f"missing-{suffix}" in missing.output and "not" in missing.output

    onboarding.grants[f"app1-devs-{suffix}"] = [{"cluster_role": "edit", "namespace": onboarding.app1}]
    os.makedirs(os.path.dirname(onboarding.kubeconfig(onboarding.rahul)))
    with open(onboarding.kubeconfig(onboarding.rahul), "w", encoding="utf-8") as handle:
        handle.write("this: is: not yaml: [")
    onboarding.write_inventory()
    broken = onboarding.run("onboard.yml").failed()
    assert "is not valid YAML" in broken.output and "user_access_kubeconfig_path" in broken.output
    with open(onboarding.kubeconfig(onboarding.rahul), encoding="utf-8") as handle:
        assert handle.read() == "this: is: not yaml: ["

    # None of the failed runs changed anything on the cluster or on disk.
    assert onboarding.bindings() == {}
    assert sorted(os.listdir(onboarding.base_dir)) == [onboarding.rahul]
    assert os.listdir(os.path.dirname(onboarding.kubeconfig(onboarding.rahul))) == ["kubeconfig"]


def test_renew_audit_and_offboard(onboarding):
    rahul = onboarding.rahul
    onboarding.run("onboard.yml").ok()
    certificate = os.path.join(onboarding.base_dir, rahul, "local.crt")
    with open(certificate, "rb") as handle:
        first = handle.read()

    onboarding.run("renew.yml", "-e", f"user={rahul}", "-e", "renew_now=true").ok()
    with open(certificate, "rb") as handle:
        assert handle.read() != first
    assert whoami(onboarding.kubeconfig(rahul))["username"] == rahul

    audit = onboarding.run("audit.yml").ok()
    assert audit.changed(rahul) == 0 and f"{rahul}@local" in audit.output and "verified" in audit.output

    refused = onboarding.run("offboard.yml", "-e", f"user={rahul}").failed()
    assert "remove them from the inventory first" in refused.output
    del onboarding.users[rahul]
    onboarding.write_inventory()
    offboard = onboarding.run("offboard.yml", "-e", f"user={rahul}").ok()
    assert "cannot be revoked and is valid until" in offboard.output
    assert f"kubeaccess-group-developers-{onboarding.cluster.suffix}-edit (dev-" in offboard.output
    assert not os.path.exists(os.path.join(onboarding.base_dir, rahul))


def _files_under(directory):
    return sorted(os.path.relpath(os.path.join(top, name), directory)
                  for top, _dirs, names in os.walk(directory) for name in names)


def test_keys_on_the_users_own_machine(onboarding, admin):
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
    assert info["username"] == seema and f"platform-team-{onboarding.cluster.suffix}" in info["groups"]
    assert can_i(kubeconfig, "update", "configmaps", "-n", onboarding.app1)
    assert not can_i(kubeconfig, "list", "secrets", "-n", "kube-system")

    again = onboarding.run("onboard.yml").ok()
    assert again.changed_total() == 0

    # A machine that lost its kubeconfig and certificate gets them back from the next run, with the same key.
    os.unlink(kubeconfig)
    os.unlink(f"{laptop}/.kube/kubeaccess/local.crt")
    restored = onboarding.run("onboard.yml", "-e", f"user={seema}").ok()
    assert restored.changed(seema) > 0 and whoami(kubeconfig)["username"] == seema

    # A machine that cannot be reached fails the run for itself only, and the summary says so.
    offline = f"offline-{onboarding.cluster.suffix}"
    onboarding.users[offline] = {"user_access_groups": [f"developers-{onboarding.cluster.suffix}"],
                                 "ansible_host": "127.0.0.1", "ansible_connection": "ssh", "ansible_port": 1}
    onboarding.write_inventory()
    partial = onboarding.run("onboard.yml").failed()
    assert re.search(rf"^{offline}\s*:.*unreachable=1", partial.output, re.MULTILINE), partial.output[-3000:]
    assert partial.changed_total() == 0
    assert f"{offline}@local: nothing done, {offline} is unreachable or failed" in partial.output

    # Offboarding reports her certificate from the controller's copy and where her key still is.
    del onboarding.users[seema], onboarding.users[offline]
    onboarding.write_inventory()
    offboard = onboarding.run("offboard.yml", "-e", f"user={seema}").ok()
    assert f"{seema}@local: the certificate" in offboard.output and "cannot be revoked" in offboard.output
    assert "Its key is on the user's own machine" in offboard.output
    listed = admin.json("GET", f"{CSR_PATH}?labelSelector=kubeaccess.x509%2Finventory%3D{onboarding.label}",
                        expect=200)
    # Her CSR is found from the certificate, as no key of hers is on the controller to name it.
    assert not [item for item in listed["items"] if item["metadata"]["name"].startswith(f"{seema}-")]
