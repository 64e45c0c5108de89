"""Clusters that sign with their CA key (ca_key_host) through the playbooks: each user's request is checked under the
policy and signed where the CA key lives (here the controller itself, delegated to localhost), no CSR is made on the
cluster, the kubeconfigs authenticate as each user with their groups, a second run changes nothing and renewal
signs anew; a CA that cannot be used, or a CA host that cannot be reached, stops the run before anything is made,
saying why.
A real cluster given by an admin kubeconfig does not hand out its CA key, hence local_only."""
# pylint: disable=missing-function-docstring,redefined-outer-name  # pytest fixtures are parameters named as fixtures

import os

import pytest
from cryptography import x509

from tests.integration.test_audit import read_report
from tests.integration.test_onboarding import whoami
from tests.integration.test_onboarding import onboarding  # noqa: F401 pylint: disable=unused-import  # a fixture

pytestmark = pytest.mark.local_only("needs the cluster CA key")


def use_ca_key(onboarding, ca_dir):
    onboarding.clusters["local"].update(ca_key_host="localhost", ca_key_become=False,
                                        ca_key_path=os.path.join(ca_dir, "ca.key"),
                                        ca_cert_path=os.path.join(ca_dir, "ca.crt"))
    onboarding.write_inventory()


def serial(onboarding, user):
    with open(os.path.join(onboarding.base_dir, user, "local.crt"), "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read()).serial_number


def test_users_get_certificates_signed_with_the_ca_key_and_no_csr(onboarding, cluster, tmp_path):
    use_ca_key(onboarding, os.path.join(cluster.workdir, "apiserver"))
    first = onboarding.run("onboard.yml").ok()
    for user in (onboarding.rahul, onboarding.seema):
        assert first.recap(user)["changed"] == 1
        seen = whoami(onboarding.kubeconfig(user))
        assert seen["username"] == user
        assert set(onboarding.users[user]["user_access_groups"]) <= set(seen["groups"])
    assert f"{onboarding.rahul}@local: groups" in first.output and "NotAfter" in first.output
    assert onboarding.csrs() == []
    assert onboarding.run("onboard.yml").ok().changed_total() == 0

    # The audit reports these users from the controller's certificates, saying who signed them.
    audit_dir = str(tmp_path / "reports")
    onboarding.run("audit.yml", "-e", f"audit_dir={audit_dir}", "-e", "fail_on_drift=true").ok()
    report = read_report(onboarding, audit_dir)
    assert report["drift"] == [] and report["summary"]["users"] == 2
    (rahul,) = [u["clusters"][0] for u in report["users"] if u["user"] == onboarding.rahul]
    assert rahul["approval"]["message"] == (
        "signed with the cluster CA key on localhost; the cluster has no record of it")
    assert rahul["kubeconfig"]["verified"] is True

    before = serial(onboarding, onboarding.rahul)
    onboarding.run("renew.yml", "-e", "renew_now=true", "-e", f"user={onboarding.rahul}").ok()
    assert serial(onboarding, onboarding.rahul) != before
    assert whoami(onboarding.kubeconfig(onboarding.rahul))["username"] == onboarding.rahul
    assert onboarding.csrs() == []


def nothing_was_made(onboarding):
    assert onboarding.bindings() == {} and onboarding.csrs() == []
    assert not os.path.exists(onboarding.base_dir)


def test_a_ca_that_cannot_be_used_stops_the_run_before_anything_is_made(onboarding, tmp_path):
    use_ca_key(onboarding, str(tmp_path / "no-ca-here"))
    run = onboarding.run("onboard.yml").failed()
    assert f"ca_cert_path: {tmp_path}/no-ca-here/ca.crt does not exist on this host" in run.output
    nothing_was_made(onboarding)


def test_a_ca_key_host_that_cannot_be_reached_stops_the_run_before_anything_is_made(onboarding):
    with open(os.path.join(onboarding.inventory, "ca_hosts.yml"), "w", encoding="utf-8") as handle:
        handle.write("ca_hosts:\n  hosts:\n    ca-host-down:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n"
                     "      ansible_connection: ssh\n      ansible_ssh_common_args: -o ConnectTimeout=5\n")
    use_ca_key(onboarding, "/etc/kubernetes/pki")
    onboarding.clusters["local"]["ca_key_host"] = "ca-host-down"
    onboarding.write_inventory()
    run = onboarding.run("onboard.yml").failed()
    assert "Failed to connect to the host via ssh" in run.output and "local: ca-host-down" in run.output
    nothing_was_made(onboarding)
