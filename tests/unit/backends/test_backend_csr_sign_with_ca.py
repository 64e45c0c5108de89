"""module_utils/backends/csr_sign_with_ca.py, the backend of k8s_csr_sign_with_ca, run in this process with a real
AnsibleModule and a CA made for each test: the certificate it signs compared with what the bundled server's signer
(tests/apiserver/pki.py, modelled on kube-controller-manager's) issues for the same request, the lifetime, the
policy refusals, the CA key's failures, check mode, and that the CA key never reaches the result."""
# pylint: disable=missing-function-docstring,redefined-outer-name  # pytest fixtures are parameters named as fixtures

import datetime
import json
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.kubeaccess.x509.plugins.module_utils.backends import csr_sign_with_ca
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import public_key_fingerprint
from ansible_collections.kubeaccess.x509.plugins.plugin_utils.in_process import run_module
from tests.apiserver import pki
from tests.kube import make_csr_pem, new_key

from tests.unit.backends.backend_support import warnings_of

HOUR = datetime.timedelta(hours=1)
PASSPHRASE = "correct horse battery staple"


class TestCa:
    """A cluster CA in files, as a control plane keeps it (ca.crt, and ca.key mode 0600)."""

    __test__ = False

    def __init__(self, directory, lifetime=datetime.timedelta(days=3650), passphrase=None):
        directory.mkdir(parents=True, exist_ok=True)
        self.authority = pki.CertificateAuthority.create(lifetime=lifetime)
        self.cert_path, self.key_path = str(directory / "ca.crt"), str(directory / "ca.key")
        encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                      else serialization.NoEncryption())
        self.key_pem = self.authority.key.private_bytes(serialization.Encoding.PEM,
                                                        serialization.PrivateFormat.PKCS8, encryption)
        with open(self.key_path, "wb") as handle:
            handle.write(self.key_pem)
        os.chmod(self.key_path, 0o600)
        with open(self.cert_path, "wb") as handle:
            handle.write(pki.cert_pem(self.authority.cert))

    def options(self):
        return {"ca_cert_path": self.cert_path, "ca_key_path": self.key_path}


@pytest.fixture
def ca(tmp_path):
    return TestCa(tmp_path)


@pytest.fixture
def sign(ca, tmp_path):
    """`sign({...}, check_mode=False)`: the module's result for these options, with the test CA by default."""
    def run(module_args, check_mode=False):
        args = {**ca.options(), **module_args, "_ansible_check_mode": check_mode, "_ansible_tmpdir": str(tmp_path)}
        return run_module(csr_sign_with_ca, args)
    return run


def request_pem(key, user, groups=()):
    return make_csr_pem(key, user, groups).decode()


def loaded(result):
    return x509.load_pem_x509_certificate(result["certificate"].encode())


def test_the_certificate_is_the_bundled_signers_for_the_same_request(sign, ca):
    """Several O values in one multi-valued RDN in DER order, extensions, AKI, issuer: byte for byte the parts the
    bundled server's signer writes, for the same request and usages."""
    key = new_key()
    groups = ["devs-zz", "ops", "aaa-long-group"]
    pem = make_csr_pem(key, "rahul", groups)
    result = sign({"csr_content": pem.decode(), "expected_user": "rahul", "allowed_groups": groups})
    assert result["changed"] is True and not result.get("failed"), result
    ours = loaded(result)
    theirs = ca.authority.sign_csr(x509.load_pem_x509_csr(pem), ["client auth"], datetime.timedelta(days=1))
    assert ours.subject.public_bytes() == theirs.subject.public_bytes()
    # As the real signer issued it (reference multi-o-certificate): O=ops+O=devs-zz+O=aaa-long-group, then CN.
    assert [[a.value for a in rdn] for rdn in ours.subject.rdns] == [["ops", "devs-zz", "aaa-long-group"], ["rahul"]]
    assert ours.issuer.public_bytes() == ca.authority.cert.subject.public_bytes()
    assert [(e.oid, e.critical, e.value) for e in ours.extensions] == [
        (e.oid, e.critical, e.value) for e in theirs.extensions]
    assert [e.oid._name for e in ours.extensions] == ["extendedKeyUsage", "basicConstraints",
                                                      "authorityKeyIdentifier"]
    assert ours.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH])
    ours.verify_directly_issued_by(ca.authority.cert)
    assert 0 < ours.serial_number < 2 ** 128
    assert int(result["serial"], 16) == ours.serial_number and result["serial"] == result["serial"].upper()
    # Groups as the certificate carries them, the order the API server reports them in.
    assert result["groups"] == ["ops", "devs-zz", "aaa-long-group"]
    assert result["common_name"] == "rahul" and result["violations"] == []
    assert result["subject"] == "CN=rahul,O=ops+O=devs-zz+O=aaa-long-group"
    assert result["issuer"] == "CN=kubeaccess-test-ca"
    assert result["public_key_fingerprint"] == public_key_fingerprint(key.public_key())


def test_key_usages_come_from_usages_as_the_signer_takes_them(sign):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    result = sign({"csr_content": request_pem(key, "rahul"), "expected_user": "rahul",
                   "usages": ["digital signature", "key encipherment", "client auth"]})
    cert = loaded(result)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.key_encipherment
    assert not usage.value.key_cert_sign
    assert [e.oid._name for e in cert.extensions][:2] == ["keyUsage", "extendedKeyUsage"]


def test_extensions_of_the_request_are_dropped_and_sans_only_when_allowed(sign):
    key = new_key()
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rahul")]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("evil.example")]), critical=False)
           .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
           .sign(key, pki.hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    refused = sign({"csr_content": csr, "expected_user": "rahul"})
    assert refused["failed"] and "certificate" not in refused
    assert any(v.startswith("allow_subject_alt_names:") for v in refused["violations"])
    cert = loaded(sign({"csr_content": csr, "expected_user": "rahul", "allow_subject_alt_names": True}))
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["evil.example"]


@pytest.mark.parametrize("seconds, backdated_end", [(86400, True), (3600, False), (600, False)])
def test_lifetime_is_the_signers(sign, seconds, backdated_end):
    """NotBefore 5 minutes back; from 8 hours on, NotAfter counts from NotBefore, below that from now."""
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    result = sign({"csr_content": request_pem(new_key(), "rahul"), "expected_user": "rahul",
                   "expiration_seconds": seconds})
    after = datetime.datetime.now(datetime.timezone.utc)
    cert = loaded(result)
    assert before - pki.BACKDATE <= cert.not_valid_before_utc <= after - pki.BACKDATE
    lifetime = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()
    assert lifetime == (seconds if backdated_end else seconds + 300)
    assert result["lifetime_seconds"] == lifetime
    assert result["not_after"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_lifetime_is_cut_at_the_ca_notafter_with_a_warning(tmp_path):
    ca = TestCa(tmp_path, lifetime=2 * HOUR)
    result = run_module(csr_sign_with_ca, {**ca.options(), "csr_content": request_pem(new_key(), "rahul"),
                                           "expected_user": "rahul", "expiration_seconds": 86400,
                                           "_ansible_tmpdir": str(tmp_path)})
    cert = loaded(result)
    assert cert.not_valid_after_utc == ca.authority.cert.not_valid_after_utc
    assert any("the CA expires at" in w for w in warnings_of(result))


def test_an_expired_ca_signs_nothing(tmp_path):
    ca = TestCa(tmp_path, lifetime=datetime.timedelta(minutes=-1))
    result = run_module(csr_sign_with_ca, {**ca.options(), "csr_content": request_pem(new_key(), "rahul"),
                                           "expected_user": "rahul", "_ansible_tmpdir": str(tmp_path)})
    assert result["failed"] and result["msg"].startswith("ca_cert_path:") and "expired" in result["msg"]


def test_above_max_expiration_seconds_is_refused_by_the_policy(sign):
    result = sign({"csr_content": request_pem(new_key(), "rahul"), "expected_user": "rahul",
                   "expiration_seconds": 8 * 86400})
    assert result["failed"] and "certificate" not in result and result["changed"] is False
    assert result["violations"] == ["max_expiration_seconds: the CSR asks for 691200 s, more than 604800 s"]


def test_a_refused_request_names_every_rule_and_signs_nothing(sign, tmp_path):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    target = tmp_path / "out" / "mallory.crt"
    result = sign({"csr_content": request_pem(weak, "mallory", ["system:masters", "admins"]),
                   "expected_user": "rahul", "allowed_groups": ["developers"],
                   "expected_public_key_fingerprint": public_key_fingerprint(new_key().public_key()),
                   "certificate_path": str(target)})
    assert result["failed"] and result["changed"] is False and "certificate" not in result
    assert result["msg"].startswith("the request breaks the approval policy, not signed: ")
    rules = [v.split(":")[0] for v in result["violations"]]
    assert rules == ["expected_user", "forbidden_groups", "allowed_groups", "key", "expected_public_key_fingerprint"]
    for violation in result["violations"]:
        assert violation in result["msg"]
    assert not target.exists()


@pytest.mark.parametrize("options, message", [
    ({}, "expected_user: required to approve"),
    ({"expected_user": "rahul", "expiration_seconds": 599}, "expiration_seconds: 599 is below 600"),
    ({"expected_user": "rahul", "usages": ["server auth", "client auth"]},
     "usages: invalid usage for client certificate: server auth"),
    ({"expected_user": "rahul", "usages": ["digital signature"]},
     "usages: missing required usage for client certificate: client auth"),
    ({"expected_user": "rahul", "csr_content": "garbage"}, "csr_content: not a PEM certificate request"),
])
def test_bad_input_is_refused_naming_the_option(sign, options, message):
    result = sign({"csr_content": request_pem(new_key(), "rahul"), **options})
    assert result["failed"] and message in result["msg"] and "certificate" not in result


def test_the_policy_allowed_usages_still_apply(sign):
    result = sign({"csr_content": request_pem(new_key(), "rahul"), "expected_user": "rahul",
                   "usages": ["key encipherment", "client auth"], "allowed_usages": ["client auth"]})
    assert result["failed"] and result["violations"] == [
        "allowed_usages: ['key encipherment'] are not in ['client auth']"]


def test_ca_key_failures_name_the_option_and_the_fix(tmp_path):
    ca = TestCa(tmp_path)
    other = TestCa(tmp_path / "other")
    encrypted = TestCa(tmp_path / "encrypted", passphrase=PASSPHRASE)
    (tmp_path / "garbage.key").write_text("not a key\n")
    unreadable = tmp_path / "unreadable.key"
    unreadable.write_bytes(ca.key_pem)
    unreadable.chmod(0)
    cases = [
        ({"ca_key_path": str(tmp_path / "missing.key")}, "ca_key_path: ", "does not exist on this host"),
        ({"ca_key_path": str(tmp_path)}, "ca_key_path: ", "is a directory"),
        ({"ca_key_path": str(tmp_path / "garbage.key")}, "ca_key_path: ", "is not a PEM private key"),
        ({"ca_key_path": other.key_path}, "ca_key_path: ", "is not the key of the CA in ca_cert_path"),
        (encrypted.options(), "ca_key_path: ", "is encrypted; give its passphrase in ca_key_passphrase"),
        ({**encrypted.options(), "ca_key_passphrase": "Tr0ub4dor&3"}, "ca_key_passphrase: ", "wrong passphrase"),
        ({"ca_key_passphrase": PASSPHRASE}, "ca_key_passphrase: ", "is not encrypted"),
        ({"ca_cert_path": str(tmp_path / "missing.crt")}, "ca_cert_path: ", "does not exist on this host"),
        ({"ca_cert_path": str(tmp_path / "garbage.key")}, "ca_cert_path: ", "is not a PEM certificate"),
    ]
    if os.geteuid() != 0:  # root reads a 0000 file
        cases.append(({"ca_key_path": str(unreadable)}, "ca_key_path: ", "become: true"))
    for options, starts, says in cases:
        for check_mode in (False, True):
            result = run_module(csr_sign_with_ca, {**ca.options(), **options, "expected_user": "rahul",
                                                   "csr_content": request_pem(new_key(), "rahul"),
                                                   "_ansible_check_mode": check_mode,
                                                   "_ansible_tmpdir": str(tmp_path)})
            assert result["failed"] and result["changed"] is False, (options, result)
            assert result["msg"].startswith(starts) and says in result["msg"], (options, result["msg"])
            assert "certificate" not in result and "violations" not in result
    result = run_module(csr_sign_with_ca, {**encrypted.options(), "ca_key_passphrase": PASSPHRASE,
                                           "expected_user": "rahul", "csr_content": request_pem(new_key(), "rahul"),
                                           "_ansible_tmpdir": str(tmp_path)})
    loaded(result).verify_directly_issued_by(encrypted.authority.cert)


def test_check_mode_checks_everything_and_issues_nothing(sign, tmp_path):
    target = tmp_path / "rahul.crt"
    result = sign({"csr_content": request_pem(new_key(), "rahul", ["devs"]), "expected_user": "rahul",
                   "certificate_path": str(target)}, check_mode=True)
    assert result["changed"] is True and not result.get("failed")
    assert "certificate" not in result and "serial" not in result and not target.exists()
    assert result["subject"] == "CN=rahul,O=devs" and result["lifetime_seconds"] == 86400
    assert result["not_before"] and result["not_after"] and result["issuer"] == "CN=kubeaccess-test-ca"
    refused = sign({"csr_content": request_pem(new_key(), "mallory"), "expected_user": "rahul"}, check_mode=True)
    assert refused["failed"] and refused["violations"]


def test_certificate_path_is_written_0644(sign, tmp_path):
    target = tmp_path / "issued" / "rahul.crt"
    result = sign({"csr_content": request_pem(new_key(), "rahul"), "expected_user": "rahul",
                   "certificate_path": str(target)})
    assert target.read_text() == result["certificate"]
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_every_call_signs_anew(sign):
    options = {"csr_content": request_pem(new_key(), "rahul"), "expected_user": "rahul"}
    first, second = sign(options), sign(options)
    assert first["changed"] and second["changed"] and first["serial"] != second["serial"]


def test_the_ca_key_never_reaches_the_result(tmp_path):
    encrypted = TestCa(tmp_path, passphrase=PASSPHRASE)
    key_der = encrypted.authority.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption())
    plain_pem = pki.key_pem(encrypted.authority.key).decode()
    secrets_in_text = [PASSPHRASE, encrypted.key_pem.decode(), plain_pem, key_der.hex()]
    secrets_in_text += [line for line in plain_pem.splitlines() if "-----" not in line]
    for check_mode in (False, True):
        for user in ("rahul", "mallory"):
            result = run_module(csr_sign_with_ca, {**encrypted.options(), "ca_key_passphrase": PASSPHRASE,
                                                   "expected_user": "rahul",
                                                   "csr_content": request_pem(new_key(), user),
                                                   "_ansible_check_mode": check_mode,
                                                   "_ansible_tmpdir": str(tmp_path)})
            text = json.dumps(result)
            assert not any(secret in text for secret in secrets_in_text), result


def test_batch_signs_each_request_with_one_ca_read(sign):
    keys = [new_key(), new_key()]
    result = sign({"requests": [{"csr_content": request_pem(keys[0], "rahul"), "expected_user": "rahul"},
                                {"csr_content": request_pem(keys[1], "mallory"), "expected_user": "seema"}],
                   "continue_on_error": True})
    ok, refused = result["results"]
    assert ok["expected_user"] == "rahul" and ok["changed"] and loaded(ok)
    assert refused["failed"] and refused["violations"] and "certificate" not in refused
    assert result["failed_items"] == 1


def test_ca_key_options_are_not_item_options(sign, ca):
    result = sign({"requests": [{"csr_content": request_pem(new_key(), "rahul"), "expected_user": "rahul",
                                 "ca_key_path": ca.key_path}]})
    assert result["failed"] and "ca_key_path" in result["msg"]


def test_ecdsa_p384_ca_signs_with_sha384(tmp_path):
    authority = pki.CertificateAuthority(ec.generate_private_key(ec.SECP384R1()), None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p384-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    authority.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                      .public_key(authority.key.public_key()).serial_number(1)
                      .not_valid_before(now - HOUR).not_valid_after(now + 100 * HOUR)
                      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                      .sign(authority.key, pki.hashes.SHA384()))
    (tmp_path / "ca.crt").write_bytes(pki.cert_pem(authority.cert))
    (tmp_path / "ca.key").write_bytes(pki.key_pem(authority.key))
    result = run_module(csr_sign_with_ca, {"ca_cert_path": str(tmp_path / "ca.crt"),
                                           "ca_key_path": str(tmp_path / "ca.key"), "expected_user": "rahul",
                                           "csr_content": request_pem(new_key(), "rahul"),
                                           "_ansible_tmpdir": str(tmp_path)})
    cert = loaded(result)
    assert cert.signature_hash_algorithm.name == "sha384"
    # No SubjectKeyIdentifier on this CA: the identifier is computed from its public key.
    assert cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value == \
        x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key())
