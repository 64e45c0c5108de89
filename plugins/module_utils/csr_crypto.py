# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keys, PKCS#10 requests and certificates, with `cryptography`.

Kubernetes reads the user name from the subject CN and one group from each O, so requests carry exactly those and,
unless asked, no extensions: the client signer drops them anyway and takes usages from the CSR object.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.x509.oid import NameOID
except ImportError:
    HAS_CRYPTOGRAPHY = False
else:
    HAS_CRYPTOGRAPHY = True

KEY_TYPES = ("ecdsa", "rsa")
DEFAULT_KEY_TYPE = "ecdsa"
DEFAULT_CURVE = "secp256r1"
DEFAULT_RSA_SIZE = 3072
RSA_SIZES = (2048, 3072, 4096)
CURVES = ("secp256r1", "secp384r1")
# What Go's crypto/x509 (and so the kube-apiserver) can verify in a client certificate.
_USABLE_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
SAN_PREFIXES = ("DNS", "IP", "email", "URI")


class CryptoInputError(ValueError):
    """A key, request or certificate that cannot be used; the message says which and why."""


def generate_private_key(key_type=DEFAULT_KEY_TYPE, rsa_size=DEFAULT_RSA_SIZE, curve=DEFAULT_CURVE):
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_size)
    return ec.generate_private_key({"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1()}[curve])


def private_key_pem(key, passphrase=None):
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def load_private_key(data, passphrase=None, source="private_key_path"):
    try:
        # The RSA consistency check costs as much as making a 3072-bit key (0.12 s) on every load; these are keys
        # from the user's own 0600 files, and a broken one yields a CSR or certificate that does not verify.
        return serialization.load_pem_private_key(data, passphrase.encode() if passphrase else None,
                                                  unsafe_skip_rsa_key_validation=True)
    except TypeError as exc:
        if "encrypted" in str(exc) and not passphrase:
            raise CryptoInputError(f"{source}: the key is encrypted; give private_key_passphrase") from None
        raise CryptoInputError(f"{source}: {exc}") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        hint = "the passphrase is wrong or " if passphrase else ""
        raise CryptoInputError(f"{source}: cannot read the private key ({hint}it is not a PEM private key): "
                               f"{exc}") from None


def key_description(public_key):
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"ECDSA {_USABLE_CURVES.get(public_key.curve.name, public_key.curve.name)}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    return type(public_key).__name__


def unusable_key_reason(public_key):
    """Why a cluster could not authenticate a certificate for this key, or None."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return None if public_key.key_size >= 2048 else (
            f"RSA {public_key.key_size} is too weak; the API server's TLS stack refuses RSA below 2048 bits")
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return None if public_key.curve.name in _USABLE_CURVES else (
            f"curve {public_key.curve.name} is not supported by Kubernetes; use P-256, P-384 or P-521")
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return None
    return f"{key_description(public_key)} keys cannot be used for Kubernetes client certificates; use ECDSA or RSA"


def key_strength_bits(public_key):
    """Comparable strength: RSA modulus bits; for ECDSA the curve size; Ed25519 as 256."""
    if isinstance(public_key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        return public_key.key_size if isinstance(public_key, rsa.RSAPublicKey) else public_key.curve.key_size
    return 256


def public_key_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_fingerprint(public_key):
    """SHA-256 over the SubjectPublicKeyInfo, colon-separated hex (as `openssl dgst -sha256 -c` prints it)."""
    digest = hashlib.sha256(public_key_der(public_key)).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def normalize_fingerprint(value):
    """Accept 'sha256:…', colons or none, any case."""
    text = value.strip().lower()
    if text.startswith("sha256:"):
        text = text[len("sha256:"):]
    text = text.replace(":", "")
    return ":".join(text[i:i + 2] for i in range(0, len(text), 2))


def _subject(common_name, organizations):
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    return x509.Name(attributes)


def _general_name(entry):
    kind, sep, value = entry.partition(":")
    if not sep or kind not in SAN_PREFIXES or not value:
        raise CryptoInputError(f"subject_alt_names: {entry!r} is not understood; write DNS:name, IP:address, "
                               "email:address or URI:uri")
    if kind == "DNS":
        return x509.DNSName(value)
    if kind == "IP":
        try:
            return x509.IPAddress(ipaddress.ip_address(value))
        except ValueError:
            raise CryptoInputError(f"subject_alt_names: {value!r} is not an IP address") from None
    if kind == "email":
        return x509.RFC822Name(value)
    return x509.UniformResourceIdentifier(value)


def _signature_hash(key):
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def build_csr_pem(key, common_name, organizations=(), subject_alt_names=()):
    builder = x509.CertificateSigningRequestBuilder().subject_name(_subject(common_name, organizations))
    if subject_alt_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(entry) for entry in subject_alt_names]), critical=False)
    return builder.sign(key, _signature_hash(key)).public_bytes(serialization.Encoding.PEM)


def _names(name, oid):
    return [attribute.value for attribute in name.get_attributes_for_oid(oid)]


def _san_strings(extensions):
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    kinds = ((x509.DNSName, "DNS"), (x509.IPAddress, "IP"), (x509.RFC822Name, "email"),
             (x509.UniformResourceIdentifier, "URI"))
    return [f"{label}:{entry.value}" for entry in san for kind, label in kinds if isinstance(entry, kind)]


class Request:
    """A parsed PKCS#10 request: what Kubernetes will read from it."""

    def __init__(self, pem):
        if b"-----BEGIN CERTIFICATE REQUEST-----" not in pem:
            raise CryptoInputError("not a PEM certificate request (expected a '-----BEGIN CERTIFICATE REQUEST-----' "
                                   "block, as `openssl req -new` writes)")
        try:
            self.csr = x509.load_pem_x509_csr(pem)
            self.public_key = self.csr.public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise CryptoInputError(f"not a valid certificate request: {exc}") from None
        if not self.csr.is_signature_valid:
            raise CryptoInputError("the certificate request's signature is broken: it was altered after signing, "
                                   "or was signed with another key")
        self.pem = self.csr.public_bytes(serialization.Encoding.PEM)
        self.common_name = ", ".join(_names(self.csr.subject, NameOID.COMMON_NAME))
        self.organizations = _names(self.csr.subject, NameOID.ORGANIZATION_NAME)
        self.subject_alt_names = _san_strings(self.csr.extensions)
        self.fingerprint = public_key_fingerprint(self.public_key)
        self.key_description = key_description(self.public_key)

    def same_request_as(self, other):
        """Same key, subject and SANs: the signature bytes differ between two signings of the same request."""
        return (self.fingerprint == other.fingerprint and self.csr.subject == other.csr.subject
                and sorted(self.subject_alt_names) == sorted(other.subject_alt_names))


class Certificate:
    """A parsed certificate with what a Kubernetes user and an auditor look at."""

    def __init__(self, pem):
        try:
            self.cert = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise CryptoInputError(f"not a PEM certificate: {exc}") from None
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self.public_key = self.cert.public_key()
        self.fingerprint = public_key_fingerprint(self.public_key)
        self.common_name = ", ".join(_names(self.cert.subject, NameOID.COMMON_NAME))
        self.organizations = _names(self.cert.subject, NameOID.ORGANIZATION_NAME)
        self.not_before = self.cert.not_valid_before_utc
        self.not_after = self.cert.not_valid_after_utc

    @property
    def serial(self):
        """Upper-case hex without separators, as `openssl x509 -serial` prints it."""
        text = f"{self.cert.serial_number:X}"
        return text if len(text) % 2 == 0 else "0" + text

    def lifetime_seconds(self):
        return (self.not_after - self.not_before).total_seconds()

    def remaining_seconds(self, now=None):
        now = now or datetime.datetime.now(datetime.timezone.utc)
        return (self.not_after - now).total_seconds()

    def in_renewal_window(self, renew_before, now=None):
        """`renew_before` as validation.parse_renew_before returns it: a duration, or a fraction of the lifetime."""
        kind, amount = renew_before
        margin = amount if kind == "seconds" else amount * self.lifetime_seconds()
        return self.remaining_seconds(now) <= margin

    def issued_by(self, ca_pem):
        """True when one certificate of the CA bundle signed this one."""
        for ca in _load_bundle(ca_pem):
            try:
                self.cert.verify_directly_issued_by(ca)
                return True
            except (ValueError, TypeError, InvalidSignature):
                continue
        return False

    def describe(self):
        return {
            "subject": self.cert.subject.rfc4514_string(),
            "common_name": self.common_name,
            "groups": self.organizations,
            "serial": self.serial,
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "public_key_fingerprint": self.fingerprint,
        }


def _load_bundle(pem):
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        return []


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
