"""Situations a playbook cannot set up by itself: CSRs made by others, a signer that never signs, a batch approver
that may not list CSRs, an untrusted server, and an overloaded API.

The decisions of k8s_csr_approve in such situations (races, missing permissions, an unreachable server, bounded
retries, signers that fail or never run) are tested on its backend, in tests/unit/backends/test_backend_csr_approve.py;
these remain end to end, through ansible-playbook."""

import base64
import copy
import datetime
import time

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.contract.support import bind, conditions, create_csr, make_role, rule
from tests.kube import CSR_PATH


def _kubeconfig_variant(cluster, tmp_path, name, **cluster_fields):
    """A copy of the admin kubeconfig with some fields of its cluster entry replaced."""
    with open(cluster.kubeconfig, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    variant = copy.deepcopy(config)
    context = next(c for c in variant["contexts"] if c["name"] == variant["current-context"])["context"]
    entry = next(c for c in variant["clusters"] if c["name"] == context["cluster"])["cluster"]
    entry.update(cluster_fields)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(variant))
    path.chmod(0o600)
    return str(path)


def _approve_args(name, **extra):
    return {"name": name, "allow_any_user": True, **extra}


def test_a_csr_not_managed_by_us_is_not_replaced_unless_forced(run_module, admin, cleanup, cluster, tmp_path):
    name = cluster.name("foreign")
    create_csr(admin, cleanup, name, "someone-else")
    args = {"name": name, "user": cluster.name("rahul"), "private_key_path": str(tmp_path / "rahul.key")}
    refused = run_module("k8s_csr_request", args)
    assert refused["failed"]
    assert f"a CSR named {name} exists and is not managed by kubeaccess.x509" in refused["msg"]
    assert not (tmp_path / "rahul.key").exists()
    forced = run_module("k8s_csr_request", dict(args, force=True))
    assert forced["changed"] and forced["action"] == "recreate"
    replaced = admin.json("GET", f"{CSR_PATH}/{name}", expect=200)
    assert replaced["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubeaccess.x509"


@pytest.mark.local_only("switches the test server's signer off")
def test_approved_but_never_signed_times_out_with_the_diagnosis(run_module, admin, cleanup, cluster):
    name = cluster.name("unsigned")
    create_csr(admin, cleanup, name, cluster.name("rahul"))
    cluster.control("PUT", "settings", {"signingEnabled": False})
    try:
        started = time.monotonic()
        result = run_module("k8s_csr_approve", _approve_args(name, wait=True, wait_timeout=3))
        elapsed = time.monotonic() - started
    finally:
        cluster.control("PUT", "settings", {"signingEnabled": True})
    assert result["failed"]
    assert result["phase"] == "approved"
    assert "no certificate was issued within 3 s" in result["msg"]
    assert "--cluster-signing-cert-file" in result["msg"]
    assert elapsed < 60


def test_a_batch_approver_allowed_get_but_not_list_reads_each_csr(run_module, admin, cleanup, cluster):
    """A batch reads the CSRs with one LIST (docs/csr-modules.md, permissions); credentials that may get but not
    list them still approve a batch, a GET per CSR, as before the LIST was used."""
    names = [cluster.name(f"batchperm{i}") for i in range(2)]
    approver = cluster.name("batchapprover")
    for name in names:
        create_csr(admin, cleanup, name, cluster.name("rahul"))
    approver_kubeconfig = cluster.make_user(approver)
    role = make_role(admin, cleanup, [
        rule(["certificates.k8s.io"], ["certificatesigningrequests"], ["get"]),
        rule(["certificates.k8s.io"], ["certificatesigningrequests/approval"], ["update"]),
        rule(["certificates.k8s.io"], ["signers"], ["approve"], ["kubernetes.io/kube-apiserver-client"])])
    bind(admin, cleanup, [("User", approver)], role)
    batch = run_module("k8s_csr_approve", {"kubeconfig": approver_kubeconfig, "wait": True,
                                           "csrs": [_approve_args(name) for name in names]})
    assert batch.get("failed") is not True, batch.get("msg")
    assert [result["phase"] for result in batch["results"]] == ["issued", "issued"]
    for name in names:
        assert "Approved" in conditions(admin.json("GET", f"{CSR_PATH}/{name}", expect=200))


def test_untrusted_server_certificate_is_named(run_module, cluster, tmp_path):
    other_ca_key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "some other CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    other_ca = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(other_ca_key.public_key()).serial_number(1)
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(other_ca_key, hashes.SHA256()))
    kubeconfig = _kubeconfig_variant(cluster, tmp_path, "untrusted", **{
        "certificate-authority-data": base64.b64encode(other_ca.public_bytes(serialization.Encoding.PEM)).decode()})
    result = run_module("k8s_csr_approve", _approve_args("any", kubeconfig=kubeconfig))
    assert result["failed"]
    assert "TLS failure talking to" in result["msg"]
    assert "give the cluster CA" in result["msg"]


@pytest.mark.local_only("injects 429 and 503 answers")
def test_overload_and_server_errors_are_retried(run_module, cluster, tmp_path):
    cluster.control("POST", "faults", {"status": 429, "retry_after": 1, "count": 2, "verb": "create",
                                       "resource": "certificatesigningrequests"})
    cluster.control("POST", "faults", {"status": 503, "retry_after": 1, "count": 1, "verb": "get",
                                       "resource": "certificatesigningrequests"})
    before = cluster.control("GET", "stats")["counters"]
    try:
        result = run_module("k8s_csr_request", {"user": cluster.name("retry"),
                                                "private_key_path": str(tmp_path / "retry.key")})
    finally:
        cluster.control("DELETE", "faults")
    assert not result.get("failed"), result.get("msg")
    assert result["phase"] == "pending"
    after = cluster.control("GET", "stats")["counters"]
    creates = after.get("create certificatesigningrequests", 0) - before.get("create certificatesigningrequests", 0)
    assert creates == 3
    run_module("k8s_csr_request", {"name": result["name"], "state": "absent"})
