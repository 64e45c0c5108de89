"""kube-controller-manager's csrsigning and csrapproving controllers (semantics §3.4): certificate lifetimes, what
goes into an issued certificate, the per-signer checks and their Failed conditions, kubelet client auto-approval.
"""
# pylint: disable=missing-function-docstring,redefined-outer-name

import base64
import datetime
import ipaddress
import json
import secrets
import threading
import time
import urllib.parse

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from tests.apiserver import pki
from tests.conftest import LocalServerProcess
from tests.contract.support import SSR_BODY, SSR_PATH, bind, conditions, create_csr, issued_certificate, make_role, \
    rule, wait_for_csr
from tests.kube import set_condition, wait_for
from tests.kube import CSR_PATH, KubeHTTP, approve, csr_manifest, new_key, wait_for_certificate, write_user_kubeconfig

KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
BACKDATE = datetime.timedelta(minutes=5)


def _name(cluster, base):
    return cluster.name(f"{base}{secrets.token_hex(3)}")


def _issue(cluster, cleanup, client=None, **kwargs):
    """Create, approve (as admin) and wait for the certificate of a CSR; returns (certificate, key)."""
    client = client or cluster.admin
    name = kwargs.pop("name", None) or _name(cluster, "sig")
    csr, key = create_csr(client, cleanup, name, **kwargs)
    approve(cluster.admin, csr["metadata"]["name"])
    cert = x509.load_pem_x509_certificate(wait_for_certificate(cluster.admin, name))
    return cert, key


def _lifetime(cert):
    return cert.not_valid_after_utc - cert.not_valid_before_utc


def _failed(cluster, name):
    csr = wait_for_csr(cluster.admin, name, lambda c: "Failed" in conditions(c), what="a Failed condition")
    return csr


def _csr_pem(key, common_name, organizations=(), extensions=()):
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _create_raw(cluster, cleanup, name, request_pem, **manifest):
    cluster.admin.json("POST", CSR_PATH, csr_manifest(name, request_pem, **manifest), expect=201)
    cleanup.add(f"{CSR_PATH}/{name}")


# -- lifetimes ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds, lifetime", [
    (600, datetime.timedelta(minutes=15)),       # the 600-second floor, plus 5 minutes of backdating
    (3600, datetime.timedelta(minutes=65)),      # short (< 8h): NotAfter = now + TTL
    (28800, datetime.timedelta(hours=8)),        # 8h and more: NotAfter = now + TTL - 5 min
    (86400, datetime.timedelta(hours=24)),
], ids=["10m-floor", "1h-short", "8h-long", "24h-long"])
def test_requested_duration_is_honoured_with_the_backdating_rules(cluster, cleanup, seconds, lifetime):
    cert, _key = _issue(cluster, cleanup, expiration=seconds)
    assert _lifetime(cert) == lifetime


@pytest.mark.local_only("the default lifetime is kube-controller-manager's --cluster-signing-duration")
def test_no_requested_duration_gets_the_configured_maximum(cluster, cleanup):
    cert, _key = _issue(cluster, cleanup, expiration=None)
    assert _lifetime(cert) == datetime.timedelta(days=365)


@pytest.fixture(scope="module")
def one_hour_signer(tmp_path_factory):
    """A second local server whose signer caps certificates at one hour (--cluster-signing-duration 1)."""
    process = LocalServerProcess(str(tmp_path_factory.mktemp("one-hour")), "--cluster-signing-duration", "1").start()
    try:
        yield KubeHTTP(process.info["kubeconfig"], str(tmp_path_factory.mktemp("one-hour-creds")))
    finally:
        process.stop()


@pytest.mark.local_only("starts a second local server with --cluster-signing-duration 1")
@pytest.mark.parametrize("seconds", [86400, None], ids=["requested-24h", "not-requested"])
def test_cluster_signing_duration_caps_the_lifetime(one_hour_signer, seconds):
    admin = one_hour_signer
    name = f"capped-{secrets.token_hex(3)}"
    key = new_key()
    admin.json("POST", CSR_PATH, csr_manifest(name, _csr_pem(key, "capped"), expiration=seconds), expect=201)
    approve(admin, name)
    cert = x509.load_pem_x509_certificate(wait_for_certificate(admin, name))
    assert _lifetime(cert) == datetime.timedelta(minutes=65)  # 1h is short: NotAfter = now + 1h, NotBefore backdated


def test_not_after_is_truncated_to_the_signing_ca():
    """PermissiveSigningPolicy: a certificate never outlives its CA (unit level, on the server's own CA code)."""
    ca = pki.CertificateAuthority.create(lifetime=datetime.timedelta(hours=2))
    key = new_key()
    csr = x509.load_pem_x509_csr(_csr_pem(key, "outlives-the-ca"))
    cert = ca.sign_csr(csr, ["client auth"], datetime.timedelta(days=1))
    assert cert.not_valid_after_utc == ca.cert.not_valid_after_utc
    short = ca.sign_csr(csr, ["client auth"], datetime.timedelta(minutes=30))
    assert short.not_valid_after_utc < ca.cert.not_valid_after_utc


# -- what an issued certificate contains -------------------------------------------------------------------------

def _extensions(cert):
    return {e.oid: e for e in cert.extensions}


def test_issued_client_certificate_carries_the_request_subject_and_key(cluster, cleanup):
    cn, org = cluster.name("dev"), cluster.name("team")
    cert, key = _issue(cluster, cleanup, common_name=cn, organizations=[org])
    assert [(a.oid, a.value) for a in cert.subject] == [(NameOID.ORGANIZATION_NAME, org),
                                                        (NameOID.COMMON_NAME, cn)]
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    ca = x509.load_pem_x509_certificate(cluster.ca_pem)
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)


def test_client_auth_only_gives_an_extended_key_usage_and_no_key_usage(cluster, cleanup):
    cert, _key = _issue(cluster, cleanup, usages=("client auth",))
    extensions = _extensions(cert)
    assert set(extensions) == {ExtensionOID.EXTENDED_KEY_USAGE, ExtensionOID.BASIC_CONSTRAINTS,
                               ExtensionOID.AUTHORITY_KEY_IDENTIFIER}
    assert list(extensions[ExtensionOID.EXTENDED_KEY_USAGE].value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert extensions[ExtensionOID.EXTENDED_KEY_USAGE].critical is False
    basic = extensions[ExtensionOID.BASIC_CONSTRAINTS]
    assert basic.critical is True and basic.value.ca is False


def test_usages_become_key_usage_and_extended_key_usage(cluster, cleanup):
    cert, _key = _issue(cluster, cleanup, usages=("digital signature", "key encipherment", "client auth"))
    extensions = _extensions(cert)
    key_usage = extensions[ExtensionOID.KEY_USAGE]
    assert key_usage.critical is True
    assert key_usage.value.digital_signature and key_usage.value.key_encipherment
    assert not (key_usage.value.key_cert_sign or key_usage.value.crl_sign or key_usage.value.content_commitment
                or key_usage.value.data_encipherment or key_usage.value.key_agreement)
    assert list(extensions[ExtensionOID.EXTENDED_KEY_USAGE].value) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_extensions_of_the_request_are_dropped_but_sans_are_kept(cluster, cleanup):
    key = new_key()
    name = _name(cluster, "ext")
    request = _csr_pem(key, "wants-to-be-a-ca", extensions=[
        (x509.BasicConstraints(ca=True, path_length=None), True),
        (pki.key_usage({"key_cert_sign", "crl_sign"}), True),
        (x509.SubjectAlternativeName([x509.DNSName("svc.example.com"),
                                      x509.IPAddress(ipaddress.ip_address("10.0.0.7"))]), False)])
    _create_raw(cluster, cleanup, name, request)
    approve(cluster.admin, name)
    cert = x509.load_pem_x509_certificate(wait_for_certificate(cluster.admin, name))
    extensions = _extensions(cert)
    assert extensions[ExtensionOID.BASIC_CONSTRAINTS].value.ca is False
    assert ExtensionOID.KEY_USAGE not in extensions
    sans = extensions[ExtensionOID.SUBJECT_ALTERNATIVE_NAME].value
    assert sans.get_values_for_type(x509.DNSName) == ["svc.example.com"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]


def _whoami_with(cluster, tmp_path, cert, key):
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    common_name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    kubeconfig = write_user_kubeconfig(str(tmp_path / "whoami.kubeconfig"), cluster.server, cluster.ca_pem,
                                       common_name, cert.public_bytes(serialization.Encoding.PEM), key_pem)
    review = KubeHTTP(kubeconfig, str(tmp_path / "whoami")).json("POST", SSR_PATH, SSR_BODY, expect=201)
    return review["status"]["userInfo"]


def test_all_organizations_go_into_one_der_sorted_rdn_and_groups_follow_it(cluster, cleanup, tmp_path):
    """Go's signer writes every O value into one multi-valued RDN, which DER sorts: shorter encodings first, then
    UTF8String (what PrintableString cannot hold, such as "@") before PrintableString, then byte order."""
    cn = cluster.name("multi")
    cert, key = _issue(cluster, cleanup, common_name=cn, organizations=["devs-zz", "ops", "aaa-long-group", "zz@"])
    assert [[(a.oid, a.value) for a in rdn] for rdn in cert.subject.rdns] == [
        [(NameOID.ORGANIZATION_NAME, group) for group in ("zz@", "ops", "devs-zz", "aaa-long-group")],
        [(NameOID.COMMON_NAME, cn)]]
    assert cert.subject.rfc4514_string() == f"CN={cn},O=zz@+O=ops+O=devs-zz+O=aaa-long-group"
    info = _whoami_with(cluster, tmp_path, cert, key)
    assert info["groups"] == ["zz@", "ops", "devs-zz", "aaa-long-group", "system:authenticated"]


def test_subject_is_rewritten_in_go_order_without_other_attribute_types(cluster, cleanup):
    """pkix.Name keeps C, ST, L, street, postal code, O, OU, CN and serial number, in that order; an e-mail address
    in the subject is not among them."""
    key = new_key()
    name = _name(cluster, "order")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ordered"),
                         x509.NameAttribute(NameOID.EMAIL_ADDRESS, "ordered@example.com"),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "unit"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "org"),
                         x509.NameAttribute(NameOID.LOCALITY_NAME, "Lyon"),
                         x509.NameAttribute(NameOID.COUNTRY_NAME, "FR")])
    request = (x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
               .public_bytes(serialization.Encoding.PEM))
    _create_raw(cluster, cleanup, name, request)
    approve(cluster.admin, name)
    cert = x509.load_pem_x509_certificate(wait_for_certificate(cluster.admin, name))
    assert [(a.oid, a.value) for a in cert.subject] == [
        (NameOID.COUNTRY_NAME, "FR"), (NameOID.LOCALITY_NAME, "Lyon"), (NameOID.ORGANIZATION_NAME, "org"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "unit"), (NameOID.COMMON_NAME, "ordered")]


def test_issued_certificate_authenticates_the_requested_identity(cluster, cleanup, tmp_path):
    cn, org = cluster.name("who"), cluster.name("crew")
    cert, key = _issue(cluster, cleanup, common_name=cn, organizations=[org])
    cert_file, key_file = tmp_path / "c.crt", tmp_path / "c.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    response = requests.post(cluster.server + "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                             json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                             cert=(str(cert_file), str(key_file)), verify=cluster.admin.ca_file, timeout=30)
    assert response.status_code == 201, response.text
    info = response.json()["status"]["userInfo"]
    assert (info["username"], info["groups"]) == (cn, [org, "system:authenticated"])


# -- kube-apiserver-client checks --------------------------------------------------------------------------------

@pytest.mark.parametrize("usages, message", [
    (("server auth",), "invalid usage for client certificate: server auth"),
    (("client auth", "server auth"), "invalid usage for client certificate: server auth"),
    (("digital signature", "client auth", "code signing"), "invalid usage for client certificate: code signing"),
    (("digital signature", "key encipherment"), "missing required usage for client certificate: client auth"),
], ids=["server-auth", "client-and-server-auth", "code-signing", "no-client-auth"])
def test_client_signer_fails_requests_with_other_usages(cluster, cleanup, usages, message):
    name = _name(cluster, "bad")
    create_csr(cluster.admin, cleanup, name, usages=usages)
    approve(cluster.admin, name)
    csr = _failed(cluster, name)
    failed = conditions(csr)["Failed"]
    assert (failed["status"], failed["reason"], failed["message"]) == ("True", "SignerValidationFailure", message)
    assert failed["lastUpdateTime"]
    assert list(conditions(csr)) == ["Approved", "Failed"]
    assert not (csr.get("status") or {}).get("certificate")


def test_unapproved_and_denied_requests_are_never_signed(cluster, cleanup):
    pending, denied, approved = (_name(cluster, base) for base in ("pend", "deny", "appr"))
    for name in (pending, denied, approved):
        create_csr(cluster.admin, cleanup, name)
    assert set_condition(cluster.admin, denied, "Denied").status_code == 200
    approve(cluster.admin, approved)
    wait_for_certificate(cluster.admin, approved)  # the signer has been through the queue since
    for name in (pending, denied):
        assert not (cluster.admin.json("GET", f"{CSR_PATH}/{name}", expect=200).get("status") or {}).get("certificate")


# -- kubelet signers ---------------------------------------------------------------------------------------------

def _node_csr(cluster, cleanup, signer, usages, *, common_name=None,  # pylint: disable=too-many-arguments
              organizations=("system:nodes",), sans=(), key=None):
    key = key or new_key()
    node = common_name or f"system:node:{_name(cluster, 'node')}"
    extensions = [(x509.SubjectAlternativeName(list(sans)), False)] if sans else []
    name = _name(cluster, "node")
    _create_raw(cluster, cleanup, name, _csr_pem(key, node, organizations, extensions), signer=signer,
                usages=usages)
    return name


def test_kubelet_client_request_is_auto_approved_and_issued(cluster, cleanup):
    name = _node_csr(cluster, cleanup, KUBELET_CLIENT, ("digital signature", "client auth"))
    csr = wait_for_csr(cluster.admin, name, lambda c: (c.get("status") or {}).get("certificate"),
                       what="auto-approval and issuance")
    approved = conditions(csr)["Approved"]
    assert (approved["reason"], approved["message"]) == (
        "AutoApproved", "Auto approving kubelet client certificate after SubjectAccessReview.")
    cert = issued_certificate(csr)
    assert list(_extensions(cert)[ExtensionOID.EXTENDED_KEY_USAGE].value) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_kubelet_client_request_with_rsa_key_and_key_encipherment_is_auto_approved(cluster, cleanup):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = _node_csr(cluster, cleanup, KUBELET_CLIENT, ("digital signature", "key encipherment", "client auth"),
                     key=key)
    csr = wait_for_csr(cluster.admin, name, lambda c: (c.get("status") or {}).get("certificate"),
                       what="auto-approval and issuance")
    assert conditions(csr)["Approved"]["reason"] == "AutoApproved"


def test_node_renewing_its_own_client_certificate_is_auto_approved_as_self(cluster, make_user, cleanup):
    node = make_user("system:node:n")
    role = make_role(cluster.admin, cleanup, [
        rule(["certificates.k8s.io"], ["certificatesigningrequests"], ["create", "get"]),
        rule(["certificates.k8s.io"], ["certificatesigningrequests/selfnodeclient"], ["create"])])
    bind(cluster.admin, cleanup, [("User", node.name)], role)
    wait_for(lambda: node.http.request("GET", f"{CSR_PATH}/none").status_code == 404, timeout=15,
             what="the CSR grant")
    name = _name(cluster, "self")
    request = _csr_pem(new_key(), node.name, ["system:nodes"])
    node.http.json("POST", CSR_PATH, csr_manifest(name, request, signer=KUBELET_CLIENT,
                                                  usages=("digital signature", "client auth")), expect=201)
    cleanup.add(f"{CSR_PATH}/{name}")
    csr = wait_for_csr(cluster.admin, name, lambda c: (c.get("status") or {}).get("certificate"),
                       what="auto-approval and issuance")
    approved = conditions(csr)["Approved"]
    assert (approved["reason"], approved["message"]) == (
        "AutoApproved", "Auto approving self kubelet client certificate after SubjectAccessReview.")


def test_kubelet_client_request_of_a_requester_without_node_rights_stays_pending(cluster, make_user, cleanup):
    ivy = make_user("ivy")
    role = make_role(cluster.admin, cleanup, [
        rule(["certificates.k8s.io"], ["certificatesigningrequests"], ["create", "get"])])
    bind(cluster.admin, cleanup, [("User", ivy.name)], role)
    wait_for(lambda: ivy.http.request("GET", f"{CSR_PATH}/none").status_code == 404, timeout=15,
             what="the CSR grant")
    mine = _name(cluster, "ivy")
    request = _csr_pem(new_key(), f"system:node:{_name(cluster, 'n')}", ["system:nodes"])
    ivy.http.json("POST", CSR_PATH, csr_manifest(mine, request, signer=KUBELET_CLIENT,
                                                 usages=("digital signature", "client auth")), expect=201)
    cleanup.add(f"{CSR_PATH}/{mine}")
    admins = _node_csr(cluster, cleanup, KUBELET_CLIENT, ("digital signature", "client auth"))
    wait_for_csr(cluster.admin, admins, lambda c: "Approved" in conditions(c), what="the approver's pass")
    assert conditions(cluster.admin.json("GET", f"{CSR_PATH}/{mine}", expect=200)) == {}


@pytest.mark.parametrize("variant, message", [
    ("organization", "subject organization is not system:nodes"),
    ("common-name", "subject common name does not begin with system:node:"),
    ("dns-san", "DNS subjectAltNames are not allowed"),
    ("usages", "usages did not match [client auth digital signature key encipherment]"),
])
def test_kubelet_client_signer_checks(cluster, cleanup, variant, message):
    kwargs = {"signer": KUBELET_CLIENT, "usages": ("digital signature", "client auth")}
    if variant == "organization":
        kwargs["organizations"] = ("system:nodes", "devs")
    elif variant == "common-name":
        kwargs["common_name"] = _name(cluster, "not-a-node")
    elif variant == "dns-san":
        kwargs["sans"] = [x509.DNSName("node.example.com")]
    else:
        kwargs["usages"] = ("client auth",)
    name = _node_csr(cluster, cleanup, **kwargs)
    approve(cluster.admin, name)  # not recognised, so not auto-approved: an administrator approves it
    failed = conditions(_failed(cluster, name))["Failed"]
    assert (failed["reason"], failed["message"]) == ("SignerValidationFailure", message)


def test_kubelet_serving_request_is_never_auto_approved_but_issued_once_approved(cluster, cleanup):
    serving = _node_csr(cluster, cleanup, KUBELET_SERVING, ("digital signature", "server auth"),
                        sans=[x509.DNSName("node-1.example.com"), x509.IPAddress(ipaddress.ip_address("10.1.2.3"))])
    client = _node_csr(cluster, cleanup, KUBELET_CLIENT, ("digital signature", "client auth"))
    wait_for_csr(cluster.admin, client, lambda c: "Approved" in conditions(c), what="the approver's pass")
    assert conditions(cluster.admin.json("GET", f"{CSR_PATH}/{serving}", expect=200)) == {}
    approve(cluster.admin, serving)
    cert = x509.load_pem_x509_certificate(wait_for_certificate(cluster.admin, serving))
    extensions = _extensions(cert)
    assert list(extensions[ExtensionOID.EXTENDED_KEY_USAGE].value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert extensions[ExtensionOID.SUBJECT_ALTERNATIVE_NAME].value.get_values_for_type(x509.DNSName) == [
        "node-1.example.com"]


@pytest.mark.parametrize("variant, message", [
    ("organization", "subject organization is not system:nodes"),
    ("no-san", "DNS or IP subjectAltName is required"),
    ("email-san", "Email subjectAltNames are not allowed"),
    ("usages", "usages did not match [digital signature key encipherment server auth]"),
    ("common-name", "subject common name does not begin with system:node:"),
])
def test_kubelet_serving_signer_checks(cluster, cleanup, variant, message):
    kwargs = {"signer": KUBELET_SERVING, "usages": ("digital signature", "server auth"),
              "sans": [x509.DNSName("node.example.com")]}
    if variant == "organization":
        kwargs["organizations"] = ("devs",)
    elif variant == "no-san":
        kwargs["sans"] = []
    elif variant == "email-san":
        kwargs["sans"] = [x509.DNSName("node.example.com"), x509.RFC822Name("node@example.com")]
    elif variant == "usages":
        kwargs["usages"] = ("digital signature", "server auth", "client auth")
    else:
        kwargs["common_name"] = _name(cluster, "not-a-node")
    name = _node_csr(cluster, cleanup, **kwargs)
    approve(cluster.admin, name)
    failed = conditions(_failed(cluster, name))["Failed"]
    assert (failed["reason"], failed["message"]) == ("SignerValidationFailure", message)


def test_requests_for_other_signers_are_left_alone(cluster, cleanup):
    other, ours = _name(cluster, "ext"), _name(cluster, "ours")
    create_csr(cluster.admin, cleanup, other, signer="example.com/external-signer")
    approve(cluster.admin, other)
    create_csr(cluster.admin, cleanup, ours)
    approve(cluster.admin, ours)
    wait_for_certificate(cluster.admin, ours)
    csr = cluster.admin.json("GET", f"{CSR_PATH}/{other}", expect=200)
    assert list(conditions(csr)) == ["Approved"]
    assert not csr["status"].get("certificate")


# -- when the signer writes: at once, and at its client's rate ----------------------------------------------------

def test_certificate_is_issued_within_milliseconds_of_the_approval(cluster, cleanup):
    """The real signer issued 18 ms after an approval (multi-o-certificate.json): a client that reads the CSR right
    after approving it must expect the certificate, and a write based on an earlier read to conflict."""
    name = _name(cluster, "fast")
    create_csr(cluster.admin, cleanup, name)
    as_approved = approve(cluster.admin, name)
    approved_at = time.monotonic()
    wait_for_certificate(cluster.admin, name, interval=0.002)
    assert time.monotonic() - approved_at < (0.25 if cluster.local else 5.0)
    as_approved["status"]["conditions"].append({"type": "Denied", "status": "True", "reason": "R", "message": "m"})
    response = cluster.admin.request("PUT", f"{CSR_PATH}/{name}/approval", as_approved)
    assert response.status_code == 409 and response.json()["reason"] == "Conflict", response.text


class IssuanceWatch:
    """When each of `count` CSRs with a label got its certificate, as a watch started before the approvals sees it."""

    def __init__(self, client, label, resource_version, count):
        self.count = count
        self.issued_at = {}
        self.response = client.request(
            "GET", f"{CSR_PATH}?watch=true&labelSelector={urllib.parse.quote(label)}"
                   f"&resourceVersion={resource_version}&timeoutSeconds=60", stream=True)
        assert self.response.status_code == 200, self.response.text
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        with self.response:
            for line in self.response.iter_lines():
                obj = json.loads(line)["object"] if line else {}
                if (obj.get("status") or {}).get("certificate"):
                    self.issued_at.setdefault(obj["metadata"]["name"], time.monotonic())
                if len(self.issued_at) == self.count:
                    return

    def wait(self):
        self.thread.join(timeout=60)
        assert len(self.issued_at) == self.count, f"{len(self.issued_at)} of {self.count} certificates issued"
        return self.issued_at


def _pending_batch(cluster, cleanup, count):
    """`count` pending CSRs with a label of their own; returns (names, label selector, list resourceVersion)."""
    label = f"kubeaccess-test/batch={secrets.token_hex(4)}"
    key, value = label.split("=")
    names = [_name(cluster, "batch") for _index in range(count)]
    for name in names:
        create_csr(cluster.admin, cleanup, name, labels={key: value})
    listing = cluster.admin.json("GET", f"{CSR_PATH}?labelSelector={urllib.parse.quote(label)}", expect=200)
    return names, label, listing["metadata"]["resourceVersion"]


def _approve_all(cluster, names):
    """Approve one after the other; returns when each approval was answered."""
    approved_at = {}
    for name in names:
        approve(cluster.admin, name)
        approved_at[name] = time.monotonic()
    return approved_at


SIGNER_QPS, SIGNER_BURST = 20, 30  # kube-controller-manager's --kube-api-qps and --kube-api-burst defaults


@pytest.mark.local_only("the signer's rate is kube-controller-manager's --kube-api-qps/--kube-api-burst there")
def test_a_burst_of_approvals_is_issued_at_the_signer_clients_rate(cluster, cleanup):
    """The signer spends one status update per certificate from a client allowed 30 requests at once and 20 a second
    after that: 90 approvals at once are issued over 3 s."""
    count = 90
    names, label, resource_version = _pending_batch(cluster, cleanup, count)
    time.sleep(SIGNER_BURST / SIGNER_QPS)  # whatever earlier tests spent, the bucket is full again
    watch = IssuanceWatch(cluster.admin, label, resource_version, count)
    started = time.monotonic()
    approved_at = _approve_all(cluster, names)
    issued_at = watch.wait()
    assert all(issued_at[name] - approved_at[name] < 0.25 for name in names[:SIGNER_BURST]), "the burst waits"
    last = max(issued_at.values())
    at_the_rate = started + (count - SIGNER_BURST) / SIGNER_QPS
    assert at_the_rate - 0.05 <= last <= max(at_the_rate, *approved_at.values()) + 0.5, last - started


@pytest.mark.local_only("switches the local signer's rate limit and delay through /_testserver/settings")
def test_rate_limit_and_delay_are_switches(cluster, cleanup):
    before = cluster.control("GET", "settings")
    names, label, resource_version = _pending_batch(cluster, cleanup, 60)
    cluster.control("PUT", "settings", {"signerQPS": 0})
    try:
        watch = IssuanceWatch(cluster.admin, label, resource_version, len(names))
        approved_at = _approve_all(cluster, names)
        issued_at = watch.wait()
        assert max(issued_at[name] - approved_at[name] for name in names) < 0.25
        cluster.control("PUT", "settings", {"signingDelay": 0.6})
        name = _name(cluster, "slow")
        create_csr(cluster.admin, cleanup, name)
        approve(cluster.admin, name)
        approved = time.monotonic()
        wait_for_certificate(cluster.admin, name, interval=0.02)
        assert 0.55 <= time.monotonic() - approved < 1.2  # the delay counts from when the signer saw the approval
    finally:
        cluster.control("PUT", "settings", {key: before[key] for key in ("signerQPS", "signingDelay")})


# -- signing switched off ----------------------------------------------------------------------------------------

@pytest.mark.local_only("switches the local signer off through /_testserver/settings")
def test_approved_but_never_issued_when_signing_is_off(cluster, cleanup):
    before = cluster.control("GET", "settings")
    cluster.control("PUT", "settings", {"signingEnabled": False})
    try:
        name = _name(cluster, "eks")
        create_csr(cluster.admin, cleanup, name)
        approve(cluster.admin, name)
        kubelet = _node_csr(cluster, cleanup, KUBELET_CLIENT, ("digital signature", "client auth"))
        wait_for_csr(cluster.admin, kubelet, lambda c: "Approved" in conditions(c), what="the approver's pass")
        with pytest.raises(AssertionError, match="timed out"):
            wait_for(lambda: (cluster.admin.json("GET", f"{CSR_PATH}/{name}", expect=200).get("status") or {})
                     .get("certificate"), timeout=2 + before["signingDelay"], what="a certificate")
        assert list(conditions(cluster.admin.json("GET", f"{CSR_PATH}/{name}", expect=200))) == ["Approved"]
    finally:
        cluster.control("PUT", "settings", {"signingEnabled": before["signingEnabled"]})
    wait_for_certificate(cluster.admin, name)  # switched back on, the signer catches up


def test_certificate_is_base64_pem_of_one_certificate(cluster, cleanup):
    name = _name(cluster, "pem")
    create_csr(cluster.admin, cleanup, name)
    approve(cluster.admin, name)
    pem = wait_for_certificate(cluster.admin, name)
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----\n")
    assert len(x509.load_pem_x509_certificates(pem)) == 1
    raw = cluster.admin.json("GET", f"{CSR_PATH}/{name}", expect=200)["status"]["certificate"]
    assert base64.b64decode(raw) == pem
