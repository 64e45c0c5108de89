"""The seed's manual flow with real kubectl and openssl, end to end, as in the recorded kubectl session."""

import os
import re

import pytest

from tests import seed_flow


@pytest.fixture(scope="module")
def flow(cluster, tmp_path_factory):
    user, namespace = cluster.name("rahul"), cluster.name("dev")
    workdir = str(tmp_path_factory.mktemp("seed-flow"))
    transcript = seed_flow.run(cluster.kubeconfig, workdir, user=user, namespace=namespace)
    yield transcript, user, namespace, workdir
    seed_flow.cleanup(cluster.kubeconfig, [user], namespace)


def test_csr_is_created_pending_then_approved_and_issued(flow):
    transcript, user, _namespace, _workdir = flow
    assert transcript.step("apply CSR").stdout.strip() == \
        f"certificatesigningrequest.certificates.k8s.io/{user} created"
    pending = transcript.step("CSR pending")
    assert pending.returncode == 0, pending.stderr
    header, row = pending.stdout.splitlines()
    assert header.split() == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"]
    assert row.split()[2:] == ["kubernetes.io/kube-apiserver-client", row.split()[3], "24h", "Pending"]
    assert transcript.step("approve").stdout.strip() == \
        f"certificatesigningrequest.certificates.k8s.io/{user} approved"
    assert transcript.step("CSR issued").stdout.splitlines()[1].split()[-1] == "Approved,Issued"


def test_openssl_accepts_the_issued_certificate(flow):
    transcript, user, _namespace, _workdir = flow
    inspected = transcript.step("inspect certificate")
    assert inspected.returncode == 0, inspected.stderr
    assert f"subject=O = developers, CN = {user}" in inspected.stdout
    assert "TLS Web Client Authentication" in inspected.stdout
    assert re.search(r"Basic Constraints: critical\s+CA:FALSE", inspected.stdout)
    verified = transcript.step("verify certificate")
    assert verified.stdout.strip() == f"{user}.crt: OK", verified.stderr


def test_kubeconfig_built_with_kubectl_authenticates_the_user(flow):
    transcript, user, _namespace, workdir = flow
    for step in ("set-cluster", "set-credentials", "set-context", "use-context"):
        assert transcript.step(step).returncode == 0, transcript.step(step).stderr
    assert oct(os.stat(os.path.join(workdir, f"{user}.kubeconfig")).st_mode & 0o777) == "0o600"
    whoami = transcript.step("whoami")
    assert whoami.returncode == 0, whoami.stderr
    lines = {line.split()[0]: line.split(None, 1)[1].strip() for line in whoami.stdout.splitlines()[1:3]}
    assert lines == {"Username": user, "Groups": "[developers system:authenticated]"}


def test_rbac_forbids_then_allows_after_a_rolebinding(flow):
    transcript, user, namespace, _workdir = flow
    forbidden = transcript.step("pods forbidden")
    assert forbidden.returncode == 1
    assert forbidden.stderr.strip() == (
        f'Error from server (Forbidden): pods is forbidden: User "{user}" cannot list resource "pods" '
        f'in API group "" in the namespace "{namespace}"')
    assert transcript.step("can-i before").stdout.strip() == "no"
    assert transcript.step("bind edit").stdout.strip() == \
        f"rolebinding.rbac.authorization.k8s.io/{user}-edit created"
    allowed = transcript.step("pods allowed")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stderr.strip() == f"No resources found in {namespace} namespace."
    assert transcript.step("can-i after").stdout.strip() == "yes"
    elsewhere = transcript.step("other namespace forbidden")
    assert elsewhere.returncode == 1
    assert 'in the namespace "kube-system"' in elsewhere.stderr


def test_describe_shows_the_request(flow):
    transcript, user, _namespace, _workdir = flow
    described = transcript.step("describe")
    assert described.returncode == 0, described.stderr
    fields = dict(re.findall(r"^(\w[\w ]*?):\s+(.*)$", described.stdout, re.M))
    assert fields["Name"] == user
    assert fields["Requesting User"] == "kubernetes-admin"
    assert fields["Signer"] == "kubernetes.io/kube-apiserver-client"
    assert fields["Status"] == "Approved,Issued"
    assert re.search(rf"Common Name:\s+{user}", described.stdout)
    assert re.search(r"Organization:\s+developers", described.stdout)


def test_deny_then_approve_is_refused(cluster, tmp_path):
    name = cluster.name("mallory-deny")
    try:
        transcript = seed_flow.deny_flow(cluster.kubeconfig, str(tmp_path), name)
        assert transcript.step("deny").stdout.strip() == f"certificatesigningrequest.certificates.k8s.io/{name} denied"
        assert transcript.step("denied").stdout.splitlines()[1].split()[-1] == "Denied"
        refused = transcript.step("approve denied")
        assert refused.returncode == 1
        assert refused.stderr.strip() == f'error: certificate signing request "{name}" is already Denied'
        assert transcript.step("conditions").stdout.strip() == "Denied=True reason=KubectlDeny"
    finally:
        seed_flow.cleanup(cluster.kubeconfig, [name])
