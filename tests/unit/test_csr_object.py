"""plugins/module_utils/csr_object.py: the phase users see, what counts as the same request, and the checks on an
issued certificate."""
# pylint: disable=missing-function-docstring

import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.kubeaccess.x509.plugins.module_utils import csr_object
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import Request, build_csr_pem

CA_KEY = ec.generate_private_key(ec.SECP256R1())
CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unit-test-ca")])
NOW = datetime.datetime.now(datetime.timezone.utc)
CA_PEM = (x509.CertificateBuilder().subject_name(CA_NAME).issuer_name(CA_NAME).public_key(CA_KEY.public_key())
          .serial_number(1).not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(CA_KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


def sign(public_key, common_name, organizations=()):
    """A certificate as the client signer would issue it, from the unit-test CA."""
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    subject += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    cert = (x509.CertificateBuilder().subject_name(x509.Name(subject)).issuer_name(CA_NAME).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(NOW)
            .not_valid_after(NOW + datetime.timedelta(hours=8)).sign(CA_KEY, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(name="key", scope="module")
def fixture_key():
    return ec.generate_private_key(ec.SECP256R1())


def obj(key, conditions=(), certificate=None, user="rahul", expiration=3600):
    made = csr_object.manifest("rahul-1", build_csr_pem(key, user, ["developers"]), csr_object.CLIENT_SIGNER,
                               ["client auth"], expiration)
    made["status"] = {"conditions": [{"type": t, "status": "True"} for t in conditions]}
    if certificate:
        made["status"]["certificate"] = base64.b64encode(certificate).decode()
    return made


def test_phase_is_what_kubectl_shows_with_issuance_explicit(key):
    cert = sign(key.public_key(), "rahul", ["developers"])
    assert csr_object.phase(obj(key)) == "pending"
    assert csr_object.phase(obj(key, ["Approved"])) == "approved"
    assert csr_object.phase(obj(key, ["Approved"], cert)) == "issued"
    assert csr_object.phase(obj(key, ["Denied"])) == "denied"
    assert csr_object.phase(obj(key, ["Approved", "Failed"])) == "failed"


def test_manifest_always_carries_the_managed_by_label(key):
    made = csr_object.manifest("x", build_csr_pem(key, "rahul"), csr_object.CLIENT_SIGNER, ["client auth"], 600,
                               labels={"team": "a", csr_object.MANAGED_BY_LABEL: "someone-else"})
    assert made["metadata"]["labels"] == {"team": "a", csr_object.MANAGED_BY_LABEL: csr_object.MANAGED_BY}
    assert csr_object.is_managed(made)


def test_two_signings_of_one_request_are_the_same_spec_but_not_another_lifetime_or_key(key):
    assert csr_object.same_spec(obj(key), obj(key))
    assert not csr_object.same_spec(obj(key), obj(key, expiration=7200))
    assert not csr_object.same_spec(obj(key), obj(ec.generate_private_key(ec.SECP256R1())))
    assert not csr_object.same_spec(obj(key), obj(key, user="seema"))


def test_an_issued_certificate_is_checked_against_the_request(key):
    request = Request(build_csr_pem(key, "rahul", ["developers"]))
    cert, checked = csr_object.verify_certificate(sign(key.public_key(), "rahul", ["developers"]), request, CA_PEM)
    assert checked == {"public_key": True, "subject": True, "chains_to_cluster_ca": True}
    assert cert.common_name == "rahul"
    _cert, unknown_ca = csr_object.verify_certificate(sign(key.public_key(), "rahul", ["developers"]), request)
    assert unknown_ca["chains_to_cluster_ca"] is None


def test_a_certificate_for_another_key_or_subject_is_refused(key):
    request = Request(build_csr_pem(key, "rahul", ["developers"]))
    other_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(csr_object.IssuanceError, match="public key .* is not the requested one"):
        csr_object.verify_certificate(sign(other_key, "rahul", ["developers"]), request)
    with pytest.raises(csr_object.IssuanceError, match="is for CN='rahul', O=\\['system:masters'\\]"):
        csr_object.verify_certificate(sign(key.public_key(), "rahul", ["system:masters"]), request)


def test_approval_keeps_the_resource_version_that_was_read(key):
    read = obj(key)
    read["metadata"]["resourceVersion"] = "42"
    updated = csr_object.with_condition(read, "Approved", "KubeaccessApprove", "ok")
    assert updated["metadata"]["resourceVersion"] == "42"
    assert updated["status"]["conditions"][-1]["type"] == "Approved"
    assert read["status"]["conditions"] == []
