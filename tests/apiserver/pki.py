"""Cluster CA, serving certificate and the signer's certificate policy.

The lifetime rules are those of kube-controller-manager's csrsigning controller
(pkg/controller/certificates/signer and authority/policies.go).
"""

import datetime
import hashlib
import ipaddress
import re
import secrets

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BACKDATE = datetime.timedelta(minutes=5)
SHORT_LIFETIME_THRESHOLD = datetime.timedelta(hours=8)
MIN_SIGNING_DURATION = datetime.timedelta(minutes=10)
SERIAL_LIMIT = 1 << 128  # the signer draws serials below 2**128 (authority.go serialNumberLimit)

# spec.usages → (KeyUsage flag or None, ExtendedKeyUsage OID or None), as in authority/policies.go keyUsagesFromStrings.
KEY_USAGES = {
    "signing": "digital_signature",
    "digital signature": "digital_signature",
    "content commitment": "content_commitment",
    "key encipherment": "key_encipherment",
    "key agreement": "key_agreement",
    "data encipherment": "data_encipherment",
    "cert sign": "key_cert_sign",
    "crl sign": "crl_sign",
    "encipher only": "encipher_only",
    "decipher only": "decipher_only",
}
EXT_KEY_USAGES = {
    "any": x509.oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec end system": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec tunnel": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec user": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft sgc": x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape sgc": x509.ObjectIdentifier("2.16.840.1.113730.4.1"),
}
KNOWN_USAGES = sorted(set(KEY_USAGES) | set(EXT_KEY_USAGES))


def key_usage(flags):
    """A KeyUsage extension with exactly the named flags set."""
    return x509.KeyUsage(**{name: name in flags for name in set(KEY_USAGES.values())})


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def credential_id(cert):
    """The `authentication.kubernetes.io/credential-id` extra the real authenticator adds."""
    return "X509SHA256=" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


# The signer copies a request's subject through Go's pkix.Name: ToRDNSequence writes these types in this order, all
# values of a type in one (multi-valued) RDN, which DER encoding sorts; other attribute types are dropped, and of the
# common name and serial number only the last value is kept.
_GO_SUBJECT_ORDER = [
    NameOID.COUNTRY_NAME, NameOID.STATE_OR_PROVINCE_NAME, NameOID.LOCALITY_NAME, NameOID.STREET_ADDRESS,
    NameOID.POSTAL_CODE, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.COMMON_NAME,
    NameOID.SERIAL_NUMBER,
]
_GO_SINGLE_VALUED = {NameOID.COMMON_NAME, NameOID.SERIAL_NUMBER}
# encoding/asn1 writes a string as a PrintableString when every character allows it, else as a UTF8String.
_PRINTABLE = re.compile(r"^[A-Za-z0-9 '()+,\-./:=?]*$")


def _go_string(oid, value):
    string_type = _ASN1Type.PrintableString if _PRINTABLE.match(value) else _ASN1Type.UTF8String
    return x509.NameAttribute(oid, value, string_type, _validate=False)


def go_subject(subject):
    """The subject of a certificate the signer issues for a request with this subject."""
    rdns = []
    for oid in _GO_SUBJECT_ORDER:
        values = [a.value for a in subject.get_attributes_for_oid(oid) if isinstance(a.value, str)]
        if oid in _GO_SINGLE_VALUED:
            values = [value for value in values[-1:] if value]
        if values:
            rdns.append(x509.RelativeDistinguishedName([_go_string(oid, value) for value in values]))
    return x509.Name(rdns)


def _name(common_name, organizations=()):
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


class CertificateAuthority:
    """The cluster CA: it signs the serving certificate, the admin certificate and approved CSRs."""

    def __init__(self, key, cert):
        self.key = key
        self.cert = cert

    @classmethod
    def create(cls, common_name="kubeaccess-test-ca", lifetime=datetime.timedelta(days=3650)):
        key = new_key()
        now = utcnow()
        name = _name(common_name)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + lifetime)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(key_usage({"digital_signature", "key_encipherment", "key_cert_sign"}), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @classmethod
    def load(cls, key_bytes, cert_bytes):
        return cls(serialization.load_pem_private_key(key_bytes, None), x509.load_pem_x509_certificate(cert_bytes))

    def _builder(self, subject, public_key, not_before, not_after, leading=()):
        """`leading` (extension, critical) pairs come first: Go writes KeyUsage and ExtKeyUsage before the rest."""
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(secrets.randbelow(SERIAL_LIMIT - 1) + 1)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        for extension, critical in leading:
            builder = builder.add_extension(extension, critical=critical)
        return (
            builder
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )

    def issue_client(self, common_name, organizations, public_key, lifetime=datetime.timedelta(days=365),
                     not_before=None):
        """A client certificate signed directly (admin credential, test fixtures for expired certificates)."""
        now = utcnow()
        not_before = not_before or now - BACKDATE
        builder = self._builder(_name(common_name, organizations), public_key, not_before, not_before + lifetime)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def issue_serving(self, hosts):
        key = new_key()
        now = utcnow()
        sans = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        cert = (
            self._builder(_name("kube-apiserver"), key.public_key(), now - BACKDATE, now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(key_usage({"digital_signature", "key_encipherment"}), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        return key, cert

    def sign_csr(self, csr, usages, ttl, now=None):
        """Sign like PermissiveSigningPolicy: extensions of the request are dropped, usages come from the spec."""
        now = now or utcnow()
        not_before = now - BACKDATE
        not_after = now + ttl - BACKDATE if ttl >= SHORT_LIFETIME_THRESHOLD else now + ttl
        not_after = min(not_after, self.cert.not_valid_after_utc)
        leading = []
        key_usage_flags = {KEY_USAGES[u] for u in usages if u in KEY_USAGES}
        if key_usage_flags:
            leading.append((key_usage(key_usage_flags), True))
        ext_usages = []
        for usage in usages:
            oid = EXT_KEY_USAGES.get(usage)
            if oid is not None and oid not in ext_usages:
                ext_usages.append(oid)
        if ext_usages:
            leading.append((x509.ExtendedKeyUsage(ext_usages), False))
        builder = self._builder(go_subject(csr.subject), csr.public_key(), not_before, not_after, leading)
        try:
            sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            builder = builder.add_extension(sans, critical=False)
        except x509.ExtensionNotFound:
            pass
        return builder.sign(self.key, hashes.SHA256())

    def verify_client(self, cert, now=None):
        """True when `cert` was issued by this CA and is within its validity period."""
        now = now or utcnow()
        if cert.issuer != self.cert.subject:
            return False
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def signing_duration(expiration_seconds, max_duration):
    """duration() of the signer: the request is honoured between the 10-minute floor and the configured maximum."""
    if expiration_seconds is None:
        return max_duration
    requested = datetime.timedelta(seconds=expiration_seconds)
    return max(MIN_SIGNING_DURATION, min(requested, max_duration))
