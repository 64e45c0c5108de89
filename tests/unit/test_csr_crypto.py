"""plugins/module_utils/csr_crypto.py: the requests we build say what Kubernetes will read, and bad input is refused
with a message a user can act on."""
# pylint: disable=missing-function-docstring

import base64
import datetime
import re
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import (
    Certificate, CryptoInputError, Request, build_csr_pem, generate_private_key, load_private_key,
    normalize_fingerprint, private_key_pem, public_key_fingerprint, unusable_key_reason)

NOW = datetime.datetime.now(datetime.timezone.utc)

# Key types a cluster can authenticate: what both the fingerprint and the usability tests run over.
USABLE_KEYS = [
    lambda: ec.generate_private_key(ec.SECP256R1()),
    lambda: ec.generate_private_key(ec.SECP384R1()),
    lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ed25519.Ed25519PrivateKey.generate,
]
USABLE_KEY_NAMES = ["p256", "p384", "rsa2048", "ed25519"]


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def other_key():
    return ec.generate_private_key(ec.SECP256R1())


def _openssl(args, data):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def _public_pem(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _certificate(subject_key, subject_cn, issuer_key, issuer_cn, serial=None, ca=False):
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
               .public_key(subject_key.public_key())
               .serial_number(serial if serial is not None else x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(minutes=5))
               .not_valid_after(NOW + datetime.timedelta(days=1)))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _self_signed_ca(ca_key, name):
    return _certificate(ca_key, name, ca_key, name, ca=True)


# build_csr_pem → Request round trip

def test_round_trip_subject(key):
    """The request carries the user as CN and one O per group, in the order given."""
    request = Request(build_csr_pem(key, "rahul@example.com", ["developers", "ops", "audit"]))
    assert request.common_name == "rahul@example.com"
    assert request.organizations == ["developers", "ops", "audit"]


def test_round_trip_without_groups(key):
    """No groups means no O at all."""
    request = Request(build_csr_pem(key, "rahul"))
    assert request.common_name == "rahul"
    assert request.organizations == []


def test_no_subject_alt_names_unless_asked(key):
    """By default the request carries no SAN extension (nor any other extension)."""
    request = Request(build_csr_pem(key, "rahul", ["developers"]))
    assert request.subject_alt_names == []
    assert len(request.csr.extensions) == 0


def test_subject_alt_names_when_asked(key):
    """Every SAN kind asked for is in the request, in the order given."""
    wanted = ["DNS:rahul.example.com", "IP:10.0.0.1", "IP:2001:db8::1", "email:rahul@example.com",
              "URI:spiffe://example.com/rahul"]
    request = Request(build_csr_pem(key, "rahul", subject_alt_names=wanted))
    assert request.subject_alt_names == wanted


@pytest.mark.parametrize("entry", ["rahul.example.com", "dns:rahul", "DNS:", "IP:not-an-ip", "X400:foo"])
def test_bad_subject_alt_name_is_refused(key, entry):
    """SAN entries that are not DNS:, IP:, email: or URI: with a value are refused, naming the option."""
    with pytest.raises(CryptoInputError) as caught:
        build_csr_pem(key, "rahul", subject_alt_names=[entry])
    assert str(caught.value).startswith("subject_alt_names:")


def test_fingerprint_is_that_of_the_key(key):
    """The request's fingerprint is the SHA-256 of the key's SubjectPublicKeyInfo."""
    request = Request(build_csr_pem(key, "rahul"))
    assert request.fingerprint == public_key_fingerprint(key.public_key())
    assert re.fullmatch(r"([0-9a-f]{2}:){31}[0-9a-f]{2}", request.fingerprint)


@pytest.mark.parametrize("make_key", USABLE_KEYS, ids=USABLE_KEY_NAMES)
def test_fingerprint_matches_openssl(make_key):
    """The fingerprint is what `openssl pkey -pubin -outform DER | openssl dgst -sha256 -c` prints."""
    private = make_key()
    request = Request(build_csr_pem(private, "rahul"))
    der = _openssl(["pkey", "-pubin", "-outform", "DER"], _public_pem(private.public_key()))
    printed = _openssl(["dgst", "-sha256", "-c"], der).decode().strip()
    assert request.fingerprint == printed.rsplit("= ", 1)[1]


# Request refuses what is not a usable request

@pytest.mark.parametrize("data", [b"", b"hello", b"MIIBkTCB+wIBADA", base64.b64encode(b"not a csr")])
def test_request_refuses_non_pem(data):
    """Something that is not a PEM request is refused with a message saying what is expected."""
    with pytest.raises(CryptoInputError) as caught:
        Request(data)
    assert "not a PEM certificate request" in str(caught.value)
    assert "BEGIN CERTIFICATE REQUEST" in str(caught.value)


def test_request_refuses_a_certificate(key):
    """A certificate given where a request is expected is refused, not misread."""
    with pytest.raises(CryptoInputError) as caught:
        Request(_self_signed_ca(key, "some-ca"))
    assert "not a PEM certificate request" in str(caught.value)


def test_request_refuses_a_mangled_pem_body():
    """A request PEM block whose content is not DER is refused as an invalid request."""
    pem = b"-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(CryptoInputError) as caught:
        Request(pem)
    assert "not a valid certificate request" in str(caught.value)


def test_request_refuses_a_broken_signature(key):
    """A request altered after signing (here its CN) is refused: its signature does not verify."""
    der = x509.load_pem_x509_csr(build_csr_pem(key, "rahul", ["developers"])).public_bytes(
        serialization.Encoding.DER)
    assert der.count(b"rahul") == 1
    tampered = der.replace(b"rahul", b"rahum")
    pem = (b"-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(tampered)
           + b"-----END CERTIFICATE REQUEST-----\n")
    assert x509.load_pem_x509_csr(pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "rahum"
    with pytest.raises(CryptoInputError) as caught:
        Request(pem)
    assert "signature is broken" in str(caught.value)


# same_request_as

def test_same_request_for_two_signings(key):
    """Two signings of the same key and subject differ in bytes but are the same request."""
    first = build_csr_pem(key, "rahul", ["developers"])
    second = build_csr_pem(key, "rahul", ["developers"])
    assert first != second  # ECDSA signatures are randomised
    assert Request(first).same_request_as(Request(second))


def test_not_the_same_request_for_another_key(key, other_key):
    """The same subject with another key is another request."""
    assert not Request(build_csr_pem(key, "rahul", ["developers"])).same_request_as(
        Request(build_csr_pem(other_key, "rahul", ["developers"])))


def test_not_the_same_request_for_another_subject_or_sans(key):
    """Same key, but another group or other SANs, is another request."""
    base = Request(build_csr_pem(key, "rahul", ["developers"]))
    assert not base.same_request_as(Request(build_csr_pem(key, "rahul", ["ops"])))
    assert not base.same_request_as(Request(build_csr_pem(key, "rahul", ["developers"], ["DNS:x.example.com"])))


# key generation

def test_default_key_is_ecdsa_p256():
    """Without options the key is ECDSA on P-256."""
    private = generate_private_key()
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.curve.name == "secp256r1"
    assert Request(build_csr_pem(private, "rahul")).key_description == "ECDSA P-256"


def test_p384_key():
    """curve=secp384r1 gives a P-384 key, whose request is signed with SHA-384."""
    private = generate_private_key("ecdsa", curve="secp384r1")
    assert private.curve.name == "secp384r1"
    request = Request(build_csr_pem(private, "rahul"))
    assert request.key_description == "ECDSA P-384"
    assert isinstance(request.csr.signature_hash_algorithm, hashes.SHA384)


def test_rsa_2048_key():
    """key_type=rsa with rsa_size=2048 gives an RSA 2048 key."""
    private = generate_private_key("rsa", rsa_size=2048)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.key_size == 2048
    assert Request(build_csr_pem(private, "rahul")).key_description == "RSA 2048"


# unusable_key_reason

def test_rsa_1024_is_unusable():
    """RSA below 2048 bits is refused, saying it is too weak."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    reason = unusable_key_reason(Request(build_csr_pem(private, "rahul")).public_key)
    assert reason is not None
    assert "1024" in reason and "2048" in reason


def test_secp256k1_is_unusable():
    """A curve Kubernetes cannot verify (secp256k1) is refused, naming the curves that work."""
    private = ec.generate_private_key(ec.SECP256K1())
    reason = unusable_key_reason(Request(build_csr_pem(private, "rahul")).public_key)
    assert reason is not None
    assert "secp256k1" in reason and "P-256" in reason


def test_dsa_is_unusable():
    """A DSA key cannot be used for a Kubernetes client certificate."""
    private = dsa.generate_private_key(key_size=2048)
    pem = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rahul")]))
           .sign(private, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    reason = unusable_key_reason(Request(pem).public_key)
    assert reason is not None
    assert "ECDSA or RSA" in reason


@pytest.mark.parametrize("make_key", USABLE_KEYS, ids=USABLE_KEY_NAMES)
def test_usable_keys(make_key):
    """P-256, P-384, RSA 2048 and Ed25519 keys are usable."""
    assert unusable_key_reason(Request(build_csr_pem(make_key(), "rahul")).public_key) is None


# load_private_key

@pytest.fixture(scope="module")
def encrypted_pem(key):
    return private_key_pem(key, passphrase="correct horse")


def test_load_encrypted_key_with_passphrase(key, encrypted_pem):
    """The right passphrase opens the key."""
    assert b"ENCRYPTED" in encrypted_pem
    loaded = load_private_key(encrypted_pem, "correct horse")
    assert public_key_fingerprint(loaded.public_key()) == public_key_fingerprint(key.public_key())


def test_load_encrypted_key_without_passphrase(encrypted_pem):
    """Without a passphrase the user is told the key is encrypted and which option to give."""
    with pytest.raises(CryptoInputError) as caught:
        load_private_key(encrypted_pem)
    assert str(caught.value).startswith("private_key_path:")
    assert "private_key_passphrase" in str(caught.value)


def test_load_encrypted_key_with_wrong_passphrase(encrypted_pem):
    """A wrong passphrase is reported as possibly wrong passphrase, for the option that named the file."""
    with pytest.raises(CryptoInputError) as caught:
        load_private_key(encrypted_pem, "wrong", source="client_key")
    assert str(caught.value).startswith("client_key:")
    assert "passphrase" in str(caught.value)


def test_load_garbage_key():
    """Data that is not a PEM key is refused, saying so."""
    with pytest.raises(CryptoInputError) as caught:
        load_private_key(b"not a key")
    assert "not a PEM private key" in str(caught.value)


def test_load_unencrypted_key(key):
    """A plain PEM key loads without a passphrase."""
    loaded = load_private_key(private_key_pem(key))
    assert public_key_fingerprint(loaded.public_key()) == public_key_fingerprint(key.public_key())


# Certificate

@pytest.mark.parametrize("serial", [1, 0x0F, 0x80, 0xABC, 0xFF00, 0x7F << 152, (1 << 159) - 1, None])
def test_certificate_serial_as_openssl_prints_it(key, serial):
    """The serial is what `openssl x509 -serial -noout` prints, after 'serial='."""
    pem = _certificate(key, "rahul", key, "rahul", serial=serial)
    printed = _openssl(["x509", "-serial", "-noout"], pem).decode().strip()
    assert printed.startswith("serial=")
    assert Certificate(pem).serial == printed[len("serial="):]


def test_certificate_issued_by_its_ca(key):
    """issued_by is true for the CA that signed the certificate, also inside a bundle."""
    ca_key, other_ca_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_pem, other_ca_pem = _self_signed_ca(ca_key, "cluster-ca"), _self_signed_ca(other_ca_key, "other-ca")
    cert = Certificate(_certificate(key, "rahul", ca_key, "cluster-ca"))
    assert cert.issued_by(ca_pem)
    assert cert.issued_by(other_ca_pem + ca_pem)


def test_certificate_not_issued_by_another_ca(key):
    """issued_by is false for another CA, even one with the same name, and for junk."""
    ca_key, impostor_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    cert = Certificate(_certificate(key, "rahul", ca_key, "cluster-ca"))
    assert not cert.issued_by(_self_signed_ca(impostor_key, "cluster-ca"))
    assert not cert.issued_by(_self_signed_ca(impostor_key, "other-ca"))
    assert not cert.issued_by(b"not a bundle")


def test_certificate_refuses_non_certificate(key):
    """A request given where a certificate is expected is refused."""
    with pytest.raises(CryptoInputError) as caught:
        Certificate(build_csr_pem(key, "rahul"))
    assert "not a PEM certificate" in str(caught.value)


def test_certificate_facts(key):
    """The certificate's CN, groups and key fingerprint are read as a user would expect."""
    cert = Certificate(_certificate(key, "rahul", key, "rahul"))
    assert cert.common_name == "rahul"
    assert cert.organizations == []
    assert cert.fingerprint == public_key_fingerprint(key.public_key())
    assert cert.describe()["serial"] == cert.serial


# normalize_fingerprint

@pytest.mark.parametrize("value, expected", [
    ("SHA256:AA:BB", "aa:bb"),
    ("aabb", "aa:bb"),
    ("AA:BB", "aa:bb"),
    ("sha256:aabb", "aa:bb"),
    ("  Aa:bB  ", "aa:bb"),
])
def test_normalize_fingerprint(value, expected):
    """Pins are accepted with or without 'SHA256:', colons, in any case."""
    assert normalize_fingerprint(value) == expected


def test_normalized_openssl_style_pin_matches(key):
    """A pin copied from openssl output or written plain compares equal to the request's fingerprint."""
    fingerprint = public_key_fingerprint(key.public_key())
    assert normalize_fingerprint("SHA256:" + fingerprint.upper()) == fingerprint
    assert normalize_fingerprint(fingerprint.replace(":", "")) == fingerprint
