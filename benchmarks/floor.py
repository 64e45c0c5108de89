"""The floor: onboarding done directly in one Python process, the cost of the work itself.

    python benchmarks/floor.py --kubeconfig ADMIN --users-file USERS.json --base-dir DIR [--key-type rsa|ecdsa]

USERS.json is [{"name": ..., "group": ...}, ...]. For every user: a key (RSA 3072 or ECDSA P-256), a CSR (CN user,
O group), the CSR object, its approval, the certificate (all waited for together), a RoleBinding to the ClusterRole
edit in the namespace, and a kubeconfig (mode 0600, with current-context). Run again with the files in place, it
only checks each certificate against its key and lists the RoleBindings: no writes.
"""

import argparse
import base64
import datetime
import json
import os
import sys
import time

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from kubernetes import client, config

SIGNER = "kubernetes.io/kube-apiserver-client"
EXPIRATION_SECONDS = 86400
CLUSTER = "bench"
WAIT_TIMEOUT = 120
POLL_INTERVAL = 0.1


def new_key(key_type):
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return ec.generate_private_key(ec.SECP256R1())


def csr_pem(key, user):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user["name"]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, user["group"])])
    return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256()).public_bytes(
        serialization.Encoding.PEM)


def write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def paths(base_dir, user):
    directory = os.path.join(base_dir, user["name"])
    return {"dir": directory, "key": os.path.join(directory, "client.key"),
            "crt": os.path.join(directory, "client.crt"), "kubeconfig": os.path.join(directory, "kubeconfig")}


def public_der(key_or_cert):
    return key_or_cert.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def is_current(files, user):
    """The certificate on disk is for this key, CN and O, and not expired: nothing to do for this user."""
    if not all(os.path.exists(files[k]) for k in ("key", "crt", "kubeconfig")):
        return False
    with open(files["key"], "rb") as handle:
        # Our own key, written by this script: RSA validation (as slow as generating the key) would prove nothing.
        key = serialization.load_pem_private_key(handle.read(), password=None, unsafe_skip_rsa_key_validation=True)
    with open(files["crt"], "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    subject = cert.subject
    return (public_der(cert) == public_der(key)
            and cert.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc)
            and subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == user["name"]
            and [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [user["group"]])


def submit_and_approve(certificates, user, files, key_type):
    key = new_key(key_type)
    os.makedirs(files["dir"], mode=0o700, exist_ok=True)
    write_private(files["key"], key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    created = certificates.create_certificate_signing_request(client.V1CertificateSigningRequest(
        metadata=client.V1ObjectMeta(generate_name=f"{user['name']}-"),
        spec=client.V1CertificateSigningRequestSpec(
            request=base64.b64encode(csr_pem(key, user)).decode(), signer_name=SIGNER,
            expiration_seconds=EXPIRATION_SECONDS, usages=["client auth"])))
    created.status = client.V1CertificateSigningRequestStatus(conditions=[client.V1CertificateSigningRequestCondition(
        type="Approved", status="True", reason="BenchFloorApprove", message="Approved by the benchmark floor.")])
    certificates.replace_certificate_signing_request_approval(created.metadata.name, created)
    return created.metadata.name


def wait_for_certificates(certificates, names):
    """One LIST per poll for all the CSRs of the run, until every one has its certificate."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    issued = {}
    while True:
        for csr in certificates.list_certificate_signing_request(field_selector=f"spec.signerName={SIGNER}").items:
            if csr.metadata.name in names and csr.status and csr.status.certificate:
                issued[csr.metadata.name] = csr.status.certificate
        if len(issued) == len(names):
            return issued
        if time.monotonic() > deadline:
            sys.exit(f"certificates not issued within {WAIT_TIMEOUT} s: {sorted(set(names) - set(issued))}")
        time.sleep(POLL_INTERVAL)


def bind_missing(rbac, users, namespace):
    existing = {b.metadata.name for b in rbac.list_namespaced_role_binding(namespace).items}
    for user in users:
        name = f"bench-user-{user['name']}-edit"
        if name in existing:
            continue
        rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=name),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="edit"),
            subjects=[client.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="User", name=user["name"])]))


def write_kubeconfig(files, user, server, ca_data, namespace):
    with open(files["key"], "rb") as key_file, open(files["crt"], "rb") as cert_file:
        key_pem, cert_pem = key_file.read(), cert_file.read()
    context = f"{user['name']}@{CLUSTER}"
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": CLUSTER, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": [{"name": user["name"], "user": {"client-certificate-data": base64.b64encode(cert_pem).decode(),
                                                  "client-key-data": base64.b64encode(key_pem).decode()}}],
        "contexts": [{"name": context, "context": {"cluster": CLUSTER, "user": user["name"],
                                                   "namespace": namespace}}],
    }
    write_private(files["kubeconfig"], yaml.safe_dump(kubeconfig, sort_keys=False).encode())


def admin_cluster(kubeconfig):
    """The server URL and CA the users' kubeconfigs get: the administrator's."""
    with open(kubeconfig, encoding="utf-8") as handle:
        admin = yaml.safe_load(handle)
    context = next(c["context"] for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = next(c["cluster"] for c in admin["clusters"] if c["name"] == context["cluster"])
    if "certificate-authority-data" in cluster:
        return cluster["server"], cluster["certificate-authority-data"]
    # A real cluster's kubeconfig may name a file instead, relative to the kubeconfig.
    with open(os.path.join(os.path.dirname(os.path.abspath(kubeconfig)), cluster["certificate-authority"]),
              "rb") as handle:
        return cluster["server"], base64.b64encode(handle.read()).decode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True, help="administrator kubeconfig")
    parser.add_argument("--users-file", required=True, help='JSON list of {"name": ..., "group": ...}')
    parser.add_argument("--base-dir", required=True, help="per-user directories go here")
    parser.add_argument("--key-type", choices=["rsa", "ecdsa"], default="ecdsa")
    parser.add_argument("--namespace", default="bench")
    args = parser.parse_args()
    with open(args.users_file, encoding="utf-8") as handle:
        users = json.load(handle)
    api = config.new_client_from_config(args.kubeconfig)
    certificates, rbac = client.CertificatesV1Api(api), client.RbacAuthorizationV1Api(api)

    todo = [user for user in users if not is_current(paths(args.base_dir, user), user)]
    csr_names = {submit_and_approve(certificates, user, paths(args.base_dir, user), args.key_type): user
                 for user in todo}
    if csr_names:
        for name, certificate in wait_for_certificates(certificates, set(csr_names)).items():
            with open(paths(args.base_dir, csr_names[name])["crt"], "wb") as handle:
                handle.write(base64.b64decode(certificate))
    bind_missing(rbac, users, args.namespace)
    server, ca_data = admin_cluster(args.kubeconfig)
    for user in todo:
        write_kubeconfig(paths(args.base_dir, user), user, server, ca_data, args.namespace)
    print(json.dumps({"users": len(users), "onboarded": len(todo)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
