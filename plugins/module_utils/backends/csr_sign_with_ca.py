# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend of the k8s_csr_sign_with_ca module: a PEM request checked against the approval policy, then signed
with the cluster CA's key on the host where that key lives, as kube-controller-manager's
kubernetes.io/kube-apiserver-client signer would sign it (pkg/controller/certificates/authority).

There is no CSR object, so the cluster keeps no record of the request and no approval condition: what was signed is
known from the task's result and the caller's own records only.
"""

from __future__ import annotations

import datetime
import re
import secrets

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import batch_argument_spec, identity_of, run_batch
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import (
    HAS_CRYPTOGRAPHY, Certificate, CryptoInputError, Request, public_key_der, public_key_fingerprint)
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import CLIENT_SIGNER
from ansible_collections.kubeaccess.x509.plugins.module_utils.file_io import write_atomic, writable_dir_error
from ansible_collections.kubeaccess.x509.plugins.module_utils.policy import (
    POLICY_ARG_SPEC, policy_input_errors, request_violations)
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import expiration_error

if HAS_CRYPTOGRAPHY:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    try:
        # Private in cryptography, but the only way to choose an attribute's string type as Go's encoder does.
        from cryptography.x509.name import _ASN1Type
    except ImportError:
        _ASN1Type = None

CERTIFICATE_MODE = 0o644
DEFAULT_CA_CERT_PATH = "/etc/kubernetes/pki/ca.crt"
DEFAULT_CA_KEY_PATH = "/etc/kubernetes/pki/ca.key"
# The signer's PermissiveSigningPolicy: NotBefore is backdated; lifetimes of 8 h and more are counted from it.
BACKDATE = datetime.timedelta(minutes=5)
SHORT_LIFETIME_THRESHOLD = datetime.timedelta(hours=8)
SERIAL_LIMIT = 1 << 128  # authority.go serialNumberLimit
# What the kube-apiserver-client signer accepts (validAPIServerClientUsages): client auth is required.
SIGNER_USAGES = ("digital signature", "key encipherment", "client auth")
KEY_USAGE_FLAGS = {"digital signature": "digital_signature", "key encipherment": "key_encipherment"}
ALL_KEY_USAGE_FLAGS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                       "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
# The CA options are the task's, not an item's: one CA key is read once for the whole batch.
CA_OPTIONS = ("ca_cert_path", "ca_key_path", "ca_key_passphrase")

ARGUMENT_SPEC = dict(
    **POLICY_ARG_SPEC,
    csr_content=dict(type="str"),
    ca_cert_path=dict(type="path", default=DEFAULT_CA_CERT_PATH),
    ca_key_path=dict(type="path", default=DEFAULT_CA_KEY_PATH),
    ca_key_passphrase=dict(type="str", no_log=True),
    expiration_seconds=dict(type="int", default=86400),
    usages=dict(type="list", elements="str", default=["client auth"]),
    certificate_path=dict(type="path"),
)
MODULE_ARGS = dict(argument_spec=batch_argument_spec(ARGUMENT_SPEC, "requests"), supports_check_mode=True,
                   required_one_of=[("csr_content", "requests")], mutually_exclusive=[("csr_content", "requests")])


class Refusal(Exception):
    """The task (or the item) must fail, nothing signed; the message says why and what to do."""


def _read_ca_file(option, path, what):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise Refusal(f"{option}: {path} does not exist on this host; give the path of {what} and run the task on "
                      "the control-plane host that holds it (delegate_to)") from None
    except IsADirectoryError:
        raise Refusal(f"{option}: {path} is a directory; give the path of {what}") from None
    except PermissionError:
        raise Refusal(f"{option}: {path} cannot be read by this user; it is root's file on a control plane: run "
                      "the task with become: true") from None
    except OSError as exc:
        raise Refusal(f"{option}: cannot read {path}: {exc.strerror}") from None


def _load_ca_key(data, passphrase, path):
    """The CA's private key; messages name the option to fix and never carry the key's bytes."""
    try:
        return serialization.load_pem_private_key(data, passphrase.encode() if passphrase else None)
    except TypeError as exc:
        if passphrase:
            raise Refusal(f"ca_key_passphrase: given, but the key in {path} is not encrypted; leave "
                          "ca_key_passphrase out") from None
        if "encrypted" in str(exc):
            raise Refusal(f"ca_key_path: the key in {path} is encrypted; give its passphrase in "
                          "ca_key_passphrase") from None
        raise Refusal(f"ca_key_path: cannot read the key in {path}: {exc}") from None
    except (ValueError, UnsupportedAlgorithm):
        if passphrase:
            raise Refusal(f"ca_key_passphrase: cannot decrypt the key in {path} with it (a wrong passphrase), or "
                          "ca_key_path is not a PEM private key") from None
        raise Refusal(f"ca_key_path: {path} is not a PEM private key (as kubeadm writes ca.key); give the "
                      "cluster CA's private key") from None


class ClusterCa:
    """The CA certificate and its key, read and checked against each other before anything is signed."""

    def __init__(self, params, now=None):
        cert_path, key_path = params["ca_cert_path"], params["ca_key_path"]
        cert_pem = _read_ca_file("ca_cert_path", cert_path, f"the cluster CA's certificate ({DEFAULT_CA_CERT_PATH})")
        try:
            self.cert = x509.load_pem_x509_certificate(cert_pem)
        except ValueError:
            raise Refusal(f"ca_cert_path: {cert_path} is not a PEM certificate; give the cluster CA's certificate "
                          f"({DEFAULT_CA_CERT_PATH})") from None
        key = _load_ca_key(_read_ca_file("ca_key_path", key_path,
                                         f"the cluster CA's private key ({DEFAULT_CA_KEY_PATH})"),
                           params["ca_key_passphrase"], key_path)
        if public_key_der(key.public_key()) != public_key_der(self.cert.public_key()):
            raise Refusal(f"ca_key_path: the key in {key_path} (public key "
                          f"{public_key_fingerprint(key.public_key())}) is not the key of the CA in ca_cert_path "
                          f"{cert_path} ({public_key_fingerprint(self.cert.public_key())}); give the key and the "
                          "certificate of the same CA")
        now = now or datetime.datetime.now(datetime.timezone.utc)
        if now >= self.cert.not_valid_after_utc:
            raise Refusal(f"ca_cert_path: the CA in {cert_path} expired at {_iso(self.cert.not_valid_after_utc)}; "
                          "the cluster trusts nothing it signs now (renew the cluster CA)")
        self._key = key
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self.issuer = self.cert.subject.rfc4514_string()

    def __repr__(self):
        # The key stays out of any text made of this object.
        return f"ClusterCa({self.issuer!r})"

    def authority_key_identifier(self):
        """The CA's SubjectKeyIdentifier, as Go's x509.CreateCertificate copies it; computed from the CA's public
        key when the CA has none."""
        try:
            ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        except x509.ExtensionNotFound:
            return x509.AuthorityKeyIdentifier.from_issuer_public_key(self.cert.public_key())
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)

    def sign(self, builder):
        cert = builder.sign(self._key, _signature_hash(self._key))
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature):
            raise Refusal("ca_key_path: the certificate signed with this key does not verify against ca_cert_path; "
                          "the key file is damaged") from None
        return cert


def _signature_hash(key):
    """Go's choice for the CA key: SHA-256, or the curve's own size for P-384 and P-521; none for Ed25519."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {384: hashes.SHA384(), 521: hashes.SHA512()}.get(key.curve.key_size, hashes.SHA256())
    return hashes.SHA256()


# The signer copies the request's subject through Go's pkix.Name: ToRDNSequence writes these types in this order,
# all values of a type in one (multi-valued) RDN, which DER encoding sorts; other attribute types are dropped, and of
# the common name and serial number only the last value is kept.
_GO_SUBJECT_ORDER = ("COUNTRY_NAME", "STATE_OR_PROVINCE_NAME", "LOCALITY_NAME", "STREET_ADDRESS", "POSTAL_CODE",
                     "ORGANIZATION_NAME", "ORGANIZATIONAL_UNIT_NAME", "COMMON_NAME", "SERIAL_NUMBER")
_GO_SINGLE_VALUED = ("COMMON_NAME", "SERIAL_NUMBER")
# encoding/asn1 writes a string as a PrintableString when every character allows it, else as a UTF8String.
_PRINTABLE = re.compile(r"^[A-Za-z0-9 '()+,\-./:=?]*$")


def _go_attribute(oid, value):
    if _ASN1Type is None:
        return x509.NameAttribute(oid, value, _validate=False)
    string_type = _ASN1Type.PrintableString if _PRINTABLE.match(value) else _ASN1Type.UTF8String
    return x509.NameAttribute(oid, value, string_type, _validate=False)


def go_subject(subject):
    """The subject the signer writes into the certificate for a request with this subject."""
    rdns = []
    for name in _GO_SUBJECT_ORDER:
        oid = getattr(NameOID, name)
        values = [a.value for a in subject.get_attributes_for_oid(oid) if isinstance(a.value, str)]
        if name in _GO_SINGLE_VALUED:
            values = [value for value in values[-1:] if value]
        if values:
            rdns.append(x509.RelativeDistinguishedName([_go_attribute(oid, value) for value in values]))
    return x509.Name(rdns)


def validity(now, expiration_seconds, ca_not_after):
    """NotBefore and NotAfter as the signer's PermissiveSigningPolicy sets them, NotAfter cut to the CA's."""
    ttl = datetime.timedelta(seconds=expiration_seconds)
    not_before = now - BACKDATE
    not_after = not_before + ttl if ttl >= SHORT_LIFETIME_THRESHOLD else now + ttl
    return not_before, min(not_after, ca_not_after)


def usage_errors(usages):
    """What the kube-apiserver-client signer would refuse to sign (it writes them as a Failed condition)."""
    errors = []
    if not usages:
        errors.append("usages: must not be empty; client certificates use ['client auth']")
    duplicates = sorted({u for u in usages if usages.count(u) > 1})
    if duplicates:
        errors.append(f"usages: {duplicates} are given more than once")
    invalid = [u for u in usages if u not in SIGNER_USAGES]
    if invalid:
        errors.append(f"usages: invalid usage for client certificate: {', '.join(invalid)} (the {CLIENT_SIGNER} "
                      f"signer allows only {list(SIGNER_USAGES)})")
    elif usages and "client auth" not in usages:
        errors.append("usages: missing required usage for client certificate: client auth")
    return errors


class CaSigning:
    """One request: checked when built, signed (or, in check mode, described) by run()."""

    def __init__(self, module, ca):
        self.module = module
        self.params = params = module.params
        self.ca = ca
        self.result = {"changed": False}
        errors = policy_input_errors(params) + usage_errors(params["usages"])
        errors.append(expiration_error("expiration_seconds", params["expiration_seconds"]))
        if params["certificate_path"]:
            errors.append(writable_dir_error("certificate_path", params["certificate_path"]))
        if not params["csr_content"]:
            errors.append("csr_content: required, the PEM certificate request to sign")
        else:
            try:
                self.request = Request(params["csr_content"].encode())
            except CryptoInputError as exc:
                errors.append(f"csr_content: {exc}")
            else:
                if not self.request.common_name:
                    errors.append("csr_content: the request has no CN, the user name the cluster would read")
        errors = [e for e in errors if e]
        if errors:
            raise Refusal("; ".join(errors))

    def run(self):
        params, request = self.params, self.request
        self.result.update(common_name=request.common_name, groups=request.organizations,
                           public_key_fingerprint=request.fingerprint, issuer=self.ca.issuer)
        # The same policy as k8s_csr_approve, for the spec a CSR object would have carried.
        spec = {"signerName": CLIENT_SIGNER, "usages": params["usages"],
                "expirationSeconds": params["expiration_seconds"]}
        found = request_violations(request, spec, params)
        self.result["violations"] = found
        if found:
            raise Refusal("the request breaks the approval policy, not signed: " + "; ".join(found))
        now = datetime.datetime.now(datetime.timezone.utc)
        not_before, not_after = validity(now, params["expiration_seconds"], self.ca.cert.not_valid_after_utc)
        if not_after == self.ca.cert.not_valid_after_utc:
            self.module.warn(f"the CA expires at {_iso(not_after)}, before the {params['expiration_seconds']} s "
                             "asked for, so the certificate ends then (as the cluster's signer would cut it)")
        self.result["changed"] = True
        if self.module.check_mode:
            subject = go_subject(request.csr.subject)
            self.result.update(subject=subject.rfc4514_string(), not_before=_iso(not_before),
                               not_after=_iso(not_after),
                               lifetime_seconds=int((not_after - not_before).total_seconds()))
            return
        issued = Certificate(self.ca.sign(self.builder(not_before, not_after)).public_bytes(
            serialization.Encoding.PEM))
        described = issued.describe()
        self.result.update(certificate=issued.pem.decode(), lifetime_seconds=int(issued.lifetime_seconds()),
                           **{k: described[k] for k in ("subject", "common_name", "groups", "serial", "not_before",
                                                        "not_after", "public_key_fingerprint")})
        if params["certificate_path"]:
            write_atomic(params["certificate_path"], issued.pem, CERTIFICATE_MODE)

    def builder(self, not_before, not_after):
        """The signer's certificate: Go writes KeyUsage and ExtKeyUsage first, then BasicConstraints, the
        AuthorityKeyIdentifier and the request's SANs; every other extension of the request is dropped."""
        request, usages = self.request, self.params["usages"]
        builder = (
            x509.CertificateBuilder()
            .subject_name(go_subject(request.csr.subject))
            .issuer_name(self.ca.cert.subject)
            .public_key(request.public_key)
            .serial_number(secrets.randbelow(SERIAL_LIMIT - 1) + 1)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        flags = {KEY_USAGE_FLAGS[u] for u in usages if u in KEY_USAGE_FLAGS}
        if flags:
            builder = builder.add_extension(
                x509.KeyUsage(**{flag: flag in flags for flag in ALL_KEY_USAGE_FLAGS}), critical=True)
        builder = (
            builder
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(self.ca.authority_key_identifier(), critical=False)
        )
        # Reached only when the policy allows SANs (allow_subject_alt_names); the signer forwards them.
        try:
            sans = request.csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return builder
        return builder.add_extension(sans, critical=False)


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run(module):
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    try:
        # Read and checked once, before any request is looked at or signed.
        ca = ClusterCa(module.params)
    except Refusal as exc:
        module.fail_json(msg=str(exc), changed=False)
    run_batch(module, ARGUMENT_SPEC, "requests", lambda item: CaSigning(item, ca), (Refusal,),
              describe=lambda params: params["expected_user"] or "request", shared=CA_OPTIONS,
              identity=identity_of("expected_user"))
