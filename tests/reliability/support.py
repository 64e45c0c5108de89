"""Helpers shared by the reliability tests: what a run leaves on disk and on the cluster, compared before and after;
files a user may have in place of the right one."""

import base64
import datetime
import hashlib
import os
import stat

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.kubeaccess.x509.plugins.module_utils.kubeconfig import merge_kubeconfigs, read_kubeconfig

# The kinds the collection writes, listed across namespaces.
WRITTEN_KINDS = {
    "CertificateSigningRequest": "/apis/certificates.k8s.io/v1/certificatesigningrequests",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/rolebindings",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "Role": "/apis/rbac.authorization.k8s.io/v1/roles",
    "ServiceAccount": "/api/v1/serviceaccounts",
}


def files_state(*roots):
    """Every directory, file and symlink under `roots` (the roots included): path -> (kind, mode, content digest).
    Equal before and after a run when the run left the disk exactly as it found it: names, bytes and modes."""
    found = {}
    for root in roots:
        if not os.path.lexists(root):
            continue
        found[root] = _entry(root)
        for top, dirs, names in os.walk(root):
            for name in dirs + names:
                path = os.path.join(top, name)
                found[path] = _entry(path)
    return found


def _entry(path):
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return "link", stat.S_IMODE(info.st_mode), os.readlink(path)
    if stat.S_ISDIR(info.st_mode):
        return "dir", stat.S_IMODE(info.st_mode), None
    with open(path, "rb") as handle:
        return "file", stat.S_IMODE(info.st_mode), hashlib.sha256(handle.read()).hexdigest()


def cluster_objects(admin, token):
    """The objects of the kinds the collection writes whose name or label values contain `token` (a test's unique
    names): (kind, namespace, name) -> resourceVersion, so that a write to one shows as well as a new one."""
    found = {}
    for kind, path in WRITTEN_KINDS.items():
        for item in admin.json("GET", path, expect=200)["items"]:
            metadata = item["metadata"]
            labels = metadata.get("labels") or {}
            if token in metadata["name"] or any(token in str(value) for value in labels.values()):
                found[(kind, metadata.get("namespace"), metadata["name"])] = metadata.get("resourceVersion")
    return found


# -- files a user may have lying around in place of the right one ------------------------------------------------
def private_key(kind="ec"):
    """A private key of a kind a cluster can or cannot use: ec (P-256), dsa, rsa1024, secp256k1."""
    if kind == "dsa":
        return dsa.generate_private_key(2048)
    if kind == "rsa1024":
        return rsa.generate_private_key(65537, 1024)
    return ec.generate_private_key(ec.SECP256K1() if kind == "secp256k1" else ec.SECP256R1())


def key_pem(key, passphrase=None):
    encryption = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase \
        else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def certificate_pem(key, common_name):
    """A self-signed certificate of `key` for `common_name`: what a user's certificate file looks like to a module
    that checks whose it is, not who issued it."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM))


def kubeconfig_with(admin_kubeconfig, server=None, ca_pem=None):
    """The admin kubeconfig with its current cluster's server or CA replaced (a server that cannot be reached, or
    one whose certificate it does not trust), its relative paths made absolute so that it can live elsewhere."""
    config = merge_kubeconfigs([(admin_kubeconfig, read_kubeconfig(admin_kubeconfig).config)])
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    if server:
        cluster["server"] = server
    if ca_pem:
        for key in ("certificate-authority", "insecure-skip-tls-verify"):
            cluster.pop(key, None)
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return yaml.safe_dump(config).encode()
