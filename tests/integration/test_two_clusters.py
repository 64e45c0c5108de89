"""One user on two clusters whose CAs differ, through the playbooks (issue 16): one kubeconfig with a context per
cluster, each with its own cluster's CA and a certificate that cluster's CA issued; renewal, audit and offboarding
cover both; a cluster that cannot be reached fails only its own part, and is reported by its name.

Cluster a is the cluster under test (the bundled test API server, or a real cluster from KUBEACCESS_TEST_KUBECONFIG);
cluster b is always a second bundled test API server, started here with its own CA. So the CAs differ either way.
"""
# pylint: disable=missing-function-docstring,redefined-outer-name  # pytest fixtures are parameters named as fixtures

import base64
import json
import os
import re

import pytest
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from tests.conftest import LocalServerProcess
from tests.integration.test_onboarding import RBAC, Onboarding
from tests.kube import CSR_PATH, KubeHTTP, kubectl, wait_for


class SecondCluster:
    """Cluster b: a bundled test API server of its own, with the namespaces the inventory grants in."""

    def __init__(self, workdir):
        self.process = LocalServerProcess(os.path.join(workdir, "apiserver-b")).start()
        self.kubeconfig = self.process.info["kubeconfig"]
        self.admin = KubeHTTP(self.kubeconfig, os.path.join(workdir, "admin-b"))
        with open(self.admin.ca_file, "rb") as handle:
            self.ca_pem = handle.read()

    def create_namespaces(self, *names):
        for namespace in names:
            self.admin.json("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                           "metadata": {"name": namespace}}, expect=201)

    def stop(self):
        self.process.stop()


@pytest.fixture
def two_clusters(cluster, admin, cleanup, tmp_path):
    """An inventory of the clusters a (the cluster under test) and b (a second bundled test API server)."""
    setup = Onboarding(cluster, admin, cleanup, str(tmp_path))
    second = SecondCluster(str(tmp_path))
    try:
        second.create_namespaces(setup.dev, setup.app1)
        assert ca_certificates(second.ca_pem) != ca_certificates(cluster.ca_pem), "the two clusters share a CA"
        # rahul on both clusters, with a direct grant too, so that offboarding has a binding of his own to delete on
        # each; seema on cluster a only (and the inventory keeps a user when rahul is offboarded).
        setup.users[setup.rahul]["user_access_grants"] = [{"cluster_role": "view", "namespace": setup.dev}]
        setup.users[setup.seema]["user_access_user_clusters"] = ["a"]
        policy = {"max_expiration_seconds": 86400}
        setup.clusters = {"a": {"kubeconfig": cluster.kubeconfig, "policy": dict(policy)},
                          "b": {"kubeconfig": second.kubeconfig, "policy": dict(policy)}}
        setup.write_inventory()
        yield setup, second
    finally:
        second.stop()
        setup.remove_everything()


def ca_certificates(pem):
    return x509.load_pem_x509_certificates(pem)


def whoami(kubeconfig, context):
    completed = kubectl(kubeconfig, "--context", context, "auth", "whoami", "-o", "json", check=0)
    return json.loads(completed.stdout)["status"]["userInfo"]


def can_i(kubeconfig, context, *args):
    return kubectl(kubeconfig, "--context", context, "auth", "can-i", *args).stdout.strip() == "yes"


def kubeconfig_entries(path, context):
    """The cluster's CA and the user's certificate of one context of a kubeconfig."""
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    (entry,) = [c["context"] for c in config["contexts"] if c["name"] == context]
    (cluster,) = [c["cluster"] for c in config["clusters"] if c["name"] == entry["cluster"]]
    (user,) = [u["user"] for u in config["users"] if u["name"] == entry["user"]]
    return (base64.b64decode(cluster["certificate-authority-data"]),
            x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"])))


def issued_by(certificate, ca_pem):
    for ca in ca_certificates(ca_pem):
        try:
            certificate.verify_directly_issued_by(ca)
            return True
        except (InvalidSignature, ValueError, TypeError):  # another issuer, or another key type
            continue
    return False


def serial(onboarding, user, name):
    with open(os.path.join(onboarding.base_dir, user, f"{name}.crt"), "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read()).serial_number


def labelled(admin, path, label):
    return admin.json("GET", f"{path}?labelSelector=kubeaccess.x509%2Finventory%3D{label}", expect=200)["items"]


def bindings(admin, label):
    """The inventory's bindings on one cluster: (kind, namespace, name)."""
    return sorted((kind, item["metadata"].get("namespace"), item["metadata"]["name"])
                  for kind, path in (("ClusterRoleBinding", f"{RBAC}/clusterrolebindings"),
                                     ("RoleBinding", f"{RBAC}/rolebindings"))
                  for item in labelled(admin, path, label))


def read_report(audit_dir, label):
    with open(os.path.join(audit_dir, f"audit-{label}.json"), encoding="utf-8") as handle:
        return json.load(handle)


def check_contexts(onboarding, second, user, groups):
    """Both contexts of the user's one kubeconfig: each cluster's own CA, a certificate that CA issued, and the
    user with their groups when each cluster is asked."""
    kubeconfig = onboarding.kubeconfig(user)
    for name, ca_pem, other_ca_pem in (("a", onboarding.cluster.ca_pem, second.ca_pem),
                                       ("b", second.ca_pem, onboarding.cluster.ca_pem)):
        context = f"{user}@{name}"
        written_ca, certificate = kubeconfig_entries(kubeconfig, context)
        assert ca_certificates(written_ca) == ca_certificates(ca_pem), f"{context}: not cluster {name}'s CA"
        assert issued_by(certificate, ca_pem) and not issued_by(certificate, other_ca_pem), context
        assert certificate.serial_number == serial(onboarding, user, name), context
        info = whoami(kubeconfig, context)
        assert info["username"] == user and set(groups) <= set(info["groups"]), (context, info)
        assert can_i(kubeconfig, context, "list", "pods", "-n", onboarding.dev), context
        assert not can_i(kubeconfig, context, "list", "secrets", "-n", "kube-system"), context


def test_one_user_on_two_clusters_onboard_renew_audit_offboard(two_clusters, tmp_path):
    onboarding, second = two_clusters
    rahul, label = onboarding.rahul, onboarding.label
    groups = onboarding.users[rahul]["user_access_groups"]

    first = onboarding.run("onboard.yml").ok()
    assert first.changed(rahul) == 1 and first.changed(onboarding.seema) == 1
    assert f"{rahul}@a: groups {groups[0]}" in first.output and f"{rahul}@b: groups {groups[0]}" in first.output
    with open(onboarding.kubeconfig(rahul), encoding="utf-8") as handle:
        contexts = sorted(c["name"] for c in yaml.safe_load(handle)["contexts"])
    assert contexts == [f"{rahul}@a", f"{rahul}@b"]
    check_contexts(onboarding, second, rahul, groups)
    with open(onboarding.kubeconfig(onboarding.seema), encoding="utf-8") as handle:
        assert [c["name"] for c in yaml.safe_load(handle)["contexts"]] == [f"{onboarding.seema}@a"]
    # Each CSR of the inventory is named after its user: cluster b has rahul's only.
    assert [c["metadata"]["name"].rsplit("-", 1)[0] for c in labelled(second.admin, CSR_PATH, label)] == [rahul]
    direct = ("RoleBinding", onboarding.dev, f"kubeaccess-user-{rahul}-view")
    on_a = bindings(onboarding.admin, label)
    # Every group's grants and rahul's own, on both clusters.
    assert len(on_a) == 4 and direct in on_a and bindings(second.admin, label) == on_a, on_a
    assert onboarding.run("onboard.yml").ok().changed_total() == 0

    before = {name: serial(onboarding, rahul, name) for name in ("a", "b")}
    renewed = onboarding.run("renew.yml", "-e", "renew_now=true").ok()
    assert renewed.changed(rahul) == 1
    after = {name: serial(onboarding, rahul, name) for name in ("a", "b")}
    assert after["a"] != before["a"] and after["b"] != before["b"], (before, after)
    check_contexts(onboarding, second, rahul, groups)

    audit_dir = str(tmp_path / "reports")
    audit = onboarding.run("audit.yml", "-e", f"audit_dir={audit_dir}", "-e", "fail_on_drift=true").ok()
    assert audit.changed_total() == 0 and "No drift" in audit.output
    report = read_report(audit_dir, label)
    assert report["drift"] == [] and report["summary"]["clusters"] == 2, report["drift"]
    assert {c["name"]: c["reachable"] for c in report["clusters"]} == {"a": True, "b": True}
    users = {user["user"]: user for user in report["users"]}
    assert [row["cluster"] for row in users[onboarding.seema]["clusters"]] == ["a"]
    rows = {row["cluster"]: row for row in users[rahul]["clusters"]}
    assert sorted(rows) == ["a", "b"]
    for name in ("a", "b"):
        assert rows[name]["certificate"]["state"] == "valid" and rows[name]["kubeconfig"]["verified"] is True
        assert int(rows[name]["certificate"]["serial"], 16) == after[name], rows[name]["certificate"]
        assert rows[name]["kubeconfig"]["context"] == f"{rahul}@{name}"
    for name in ("a", "b"):
        assert re.search(rf"^\s*{re.escape(rahul)}\s+{name}\s+valid\s.*verified", audit.output, re.MULTILINE), \
            audit.output[-4000:]

    del onboarding.users[rahul]
    onboarding.write_inventory()
    offboard = onboarding.run("offboard.yml", "-e", f"user={rahul}").ok()
    for name in ("a", "b"):
        assert re.search(rf"{name}: CSRs deleted: {rahul}-[0-9a-f]{{16}} \(issued\)", offboard.output), \
            offboard.output[-6000:]
    assert f"contexts {rahul}@a, {rahul}@b" in offboard.output, offboard.output[-6000:]
    for admin in (onboarding.admin, second.admin):
        assert direct not in bindings(admin, label) and len(bindings(admin, label)) == 3  # the groups' stay
        wait_for(lambda admin=admin: not [c for c in labelled(admin, CSR_PATH, label)
                                          if c["metadata"]["name"].startswith(f"{rahul}-")],
                 what="rahul's CSRs deleted")
    assert not os.path.exists(os.path.join(onboarding.base_dir, rahul))


def test_a_cluster_that_cannot_be_reached_fails_only_its_part_and_is_reported(two_clusters, tmp_path):
    onboarding, second = two_clusters
    rahul, seema, label = onboarding.rahul, onboarding.seema, onboarding.label
    mia = f"mia-{onboarding.suffix}"
    onboarding.run("onboard.yml").ok()
    check_contexts(onboarding, second, rahul, onboarding.users[rahul]["user_access_groups"])
    second.stop()  # cluster b is down from here on
    onboarding.users[mia] = {"user_access_groups": [f"developers-{onboarding.suffix}"],
                             "user_access_namespace": onboarding.dev}
    onboarding.write_inventory()

    run = onboarding.run("onboard.yml", "-e", f"user={mia}").failed()
    # Cluster a's part is done for mia; b's fails on her own line and on the controller's, naming cluster b.
    assert run.recap(mia)["failed"] == 1, run.output[-6000:]
    assert run.recap("localhost")["failed"] == 1, run.output[-6000:]
    assert f"{mia}@b: cluster b cannot be reached, so nothing of {mia}'s was done there" in run.output
    assert "cluster b cannot be reached, so its bindings were not applied" in run.output
    assert f"{mia}@a: groups developers-{onboarding.suffix}; kubeconfig {onboarding.kubeconfig(mia)} verified" \
        in run.output
    kubeconfig = onboarding.kubeconfig(mia)
    with open(kubeconfig, encoding="utf-8") as handle:
        assert [c["name"] for c in yaml.safe_load(handle)["contexts"]] == [f"{mia}@a"]
    info = whoami(kubeconfig, f"{mia}@a")
    assert info["username"] == mia and f"developers-{onboarding.suffix}" in info["groups"]
    assert can_i(kubeconfig, f"{mia}@a", "list", "pods", "-n", onboarding.dev)
    assert not os.path.exists(os.path.join(onboarding.base_dir, mia, "b.crt"))

    audit_dir = str(tmp_path / "reports")
    audit = onboarding.run("audit.yml", "-e", f"audit_dir={audit_dir}").ok()
    report = read_report(audit_dir, label)
    assert {c["name"]: c["reachable"] for c in report["clusters"]} == {"a": True, "b": False}
    assert ("cluster_unreachable", "b", None) in {(d["kind"], d["cluster"], d["user"]) for d in report["drift"]}
    assert not [d for d in report["drift"] if d["cluster"] == "a"], report["drift"]
    users = {user["user"]: {row["cluster"]: row for row in user["clusters"]} for user in report["users"]}
    for user in (rahul, seema):
        assert users[user]["a"]["kubeconfig"]["verified"] is True, users[user]["a"]
    assert users[rahul]["b"]["kubeconfig"]["verified"] is None  # not checked: cluster b cannot be reached
    assert re.search(r"critical\s+cluster_unreachable\s+b\b", audit.output), audit.output[-4000:]
