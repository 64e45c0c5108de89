"""A signer outside the API server, as cert-manager or a Vault signer is: it watches (here: lists every 0.2 s) the
approved CSRs of its signer name and writes each certificate into the CSR's status, `delay` seconds after it first
sees the approval. It signs with a CA of its own through the API with an admin kubeconfig, so it works the same on
the local test API server and on a real cluster; the API server does not trust that CA for client authentication."""

import base64
import datetime
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.kube import CSR_PATH, KubeHTTP


def _conditions(obj):
    return {c["type"] for c in (obj.get("status") or {}).get("conditions") or []}


class ExternalSigner(threading.Thread):
    def __init__(self, kubeconfig, workdir, signer_name, delay):
        super().__init__(daemon=True)
        self.client = KubeHTTP(kubeconfig, workdir)  # its own connection: the test's admin client is not shared
        self.signer_name = signer_name
        self.delay = delay
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test signer {signer_name}")])
        self.ca_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                        .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
                        .not_valid_before(now - datetime.timedelta(minutes=5))
                        .not_valid_after(now + datetime.timedelta(days=1))
                        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                        .sign(self.ca_key, hashes.SHA256()))
        self.first_seen = {}  # CSR name -> monotonic time its approval was first seen
        self.issued = []
        self.errors = []
        self._halt = threading.Event()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._halt.set()
        # Until it has stopped: a poller left running would show in the next test's request counters.
        self.join()

    def run(self):
        selector = urllib.parse.quote(f"spec.signerName={self.signer_name}")
        while not self._halt.wait(0.2):
            try:
                listed = self.client.json("GET", f"{CSR_PATH}?fieldSelector={selector}", expect=200)["items"]
                for obj in listed:
                    self.consider(obj)
            except Exception as exc:  # pylint: disable=broad-exception-caught  # reported by the test
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def consider(self, obj):
        name = obj["metadata"]["name"]
        if "Approved" not in _conditions(obj) or {"Denied", "Failed"} & _conditions(obj) \
                or (obj.get("status") or {}).get("certificate"):
            return
        seen = self.first_seen.setdefault(name, time.monotonic())
        if time.monotonic() - seen < self.delay:
            return
        obj.setdefault("status", {})["certificate"] = base64.b64encode(self.sign(obj)).decode()
        self.client.json("PUT", f"{CSR_PATH}/{name}/status", obj, expect=200)
        self.issued.append(name)

    def sign(self, obj):
        request = x509.load_pem_x509_csr(base64.b64decode(obj["spec"]["request"]))
        now = datetime.datetime.now(datetime.timezone.utc)
        seconds = obj["spec"].get("expirationSeconds") or 86400
        cert = (x509.CertificateBuilder().subject_name(request.subject).issuer_name(self.ca_cert.subject)
                .public_key(request.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(seconds=seconds))
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(self.ca_key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM)

    def signed_this(self, cert_pem):
        """`cert_pem` is a certificate of this signer's CA (its signature checks with the CA's key)."""
        cert = x509.load_pem_x509_certificate(cert_pem)
        try:
            cert.verify_directly_issued_by(self.ca_cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True
