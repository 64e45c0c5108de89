"""Helpers of the contract tests: users made through the CSR API, RBAC objects, CSRs, Status assertions.

Everything here talks plain HTTP through KubeHTTP, so the same tests run against a real cluster.
"""
# Helpers that build API objects take the object's fields as arguments.
# pylint: disable=too-many-arguments,too-many-positional-arguments

import base64
import os
import secrets

from cryptography import x509

from tests.kube import CSR_PATH, KubeHTTP, csr_manifest, make_csr_pem, new_key, wait_for

RBAC = "/apis/rbac.authorization.k8s.io/v1"
SSR_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SSRR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
SSR_BODY = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


class User:
    """One person with a certificate from the cluster's CSR API, and an HTTP client with their credentials."""

    def __init__(self, name, groups, kubeconfig, workdir):
        self.name = name
        self.groups = list(groups)
        self.kubeconfig = kubeconfig
        self.http = KubeHTTP(kubeconfig, workdir)

    def whoami(self):
        """The userInfo the API server sees for this user (SelfSubjectReview)."""
        review = self.http.json("POST", SSR_PATH, SSR_BODY, expect=201)
        return review["status"]["userInfo"]


def bind(admin, cleanup, subjects, role, namespace=None, role_kind="ClusterRole", name=None):
    """A RoleBinding (with namespace) or ClusterRoleBinding of `role` to subjects given as (kind, name[, ns])."""
    name = name or f"bind-{secrets.token_hex(4)}"
    body = {"apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [subject_entry(s) for s in subjects]}
    path = f"{RBAC}/namespaces/{namespace}/rolebindings" if namespace else f"{RBAC}/clusterrolebindings"
    admin.json("POST", path, body, expect=201)
    return cleanup.add(f"{path}/{name}")


def subject_entry(subject):
    """An RBAC subject from (kind, name) or ("ServiceAccount", name, namespace)."""
    kind, name = subject[0], subject[1]
    if kind == "ServiceAccount":
        return {"kind": kind, "name": name, "namespace": subject[2]}
    return {"kind": kind, "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def make_role(admin, cleanup, rules, namespace=None, name=None):
    """A Role (with namespace) or ClusterRole with these rules; returns its name."""
    name = name or f"role-{secrets.token_hex(4)}"
    body = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role" if namespace else "ClusterRole",
            "metadata": {"name": name}, "rules": rules}
    path = f"{RBAC}/namespaces/{namespace}/roles" if namespace else f"{RBAC}/clusterroles"
    admin.json("POST", path, body, expect=201)
    cleanup.add(f"{path}/{name}")
    return name


def rule(groups, resources, verbs, names=None):
    """A PolicyRule."""
    entry = {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}
    if names:
        entry["resourceNames"] = list(names)
    return entry


def create_csr(client, cleanup, name, common_name="someone", organizations=(), key=None, **manifest):
    """POST a CSR (expecting 201) and register it for deletion; returns (created object, private key)."""
    key = key or new_key()
    body = csr_manifest(name, make_csr_pem(key, common_name, organizations), **manifest)
    created = client.json("POST", CSR_PATH, body, expect=201)
    cleanup.add(f"{CSR_PATH}/{name}")
    return created, key


def conditions(csr):
    """The CSR's conditions by type."""
    return {c["type"]: c for c in (csr.get("status") or {}).get("conditions") or []}


def wait_for_csr(client, name, check, timeout=60.0, what="CSR state"):
    """Poll the CSR until check(csr) is truthy; returns the CSR."""
    def poll():
        csr = client.json("GET", f"{CSR_PATH}/{name}", expect=200)
        return csr if check(csr) else None
    return wait_for(poll, timeout, what=f"{what} of {name}")


def issued_certificate(csr):
    """The issued certificate of a CSR object, or None."""
    cert = (csr.get("status") or {}).get("certificate")
    return x509.load_pem_x509_certificate(base64.b64decode(cert)) if cert else None


def assert_status(response, code, reason, message=None):
    """A Status error as the real server words it: code, reason and (when given) the exact message."""
    assert response.status_code == code, (response.status_code, response.text)
    body = response.json()
    assert body["kind"] == "Status", body
    assert body["status"] == "Failure", body
    assert body["code"] == code, body
    assert body.get("reason") == reason, body
    if message is not None:
        assert body["message"] == message, body
    return body


def server_workdir(cluster):
    """The local server's work directory (ca.crt, ca.key, admin.kubeconfig)."""
    return os.path.dirname(cluster.kubeconfig)
