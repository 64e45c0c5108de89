"""Replay every exchange recorded from a real kube-apiserver 1.36 and compare the answers.

The recordings are the fixtures in tests/fixtures/real-apiserver/ (one HTTP exchange per JSON file; see its
README.md). Each case sets up what the recording had (a CSR in some state, a user without permissions, a
RoleBinding...), sends the recorded request with fresh names and fresh keys, and compares the answer: Status bodies
in full once volatile values are normalised, objects by kind, apiVersion, metadata keys, what the server fills in,
conditions and shapes. Everything goes through KubeHTTP, so the same replay runs against a real cluster
(KUBEACCESS_TEST_KUBECONFIG).
"""

import base64
import copy
import datetime
import hashlib
import json
import os
import re
import secrets
import time
import urllib.parse

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from tests.kube import (CSR_PATH, KubeHTTP, approve, csr_manifest, make_csr_pem, new_key, wait_for,
                        wait_for_certificate, write_user_kubeconfig)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(ROOT, "tests", "fixtures", "real-apiserver")
FACTS_FILE = "issued-certificate-facts.json"
# Every name and identity in the recordings carries the token of its recording session; each run substitutes its own.
RECORDED_TOKENS = ("1795340056", "1796201828")

NAMESPACES_PATH = "/api/v1/namespaces"
RBAC_PATH = "/apis/rbac.authorization.k8s.io/v1"
ROLEBINDINGS_PATH = f"{RBAC_PATH}/namespaces/default/rolebindings"
SSR_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
SERVED_GROUPS = ("certificates.k8s.io", "rbac.authorization.k8s.io", "authentication.k8s.io", "authorization.k8s.io")
DISCOVERY_FIELDS = ("name", "namespaced", "kind", "verbs", "shortNames", "singularName")
# The real answers carry managedFields; this replay does not compare them (the local server keeps none).
IGNORED_METADATA = {"managedFields"}


def recorded_case_names():
    """Stems of the recorded exchanges (the facts file is not an exchange)."""
    return {entry[:-len(".json")] for entry in os.listdir(REFERENCE)
            if entry.endswith(".json") and entry != FACTS_FILE}


def load_recording(filename):
    with open(os.path.join(REFERENCE, filename), encoding="utf-8") as handle:
        return json.load(handle)


# -- helpers -----------------------------------------------------------------------------------------------------
def b64(data):
    return base64.b64encode(data).decode()


def pem_block(kind, der):
    lines = [b64(der)[index:index + 64] for index in range(0, len(b64(der)), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (kind, "\n".join(lines), kind)).encode()


def csr_with_flipped_key_byte(pem):
    """The same CSR with one byte of the public point changed: the signature can no longer be checked."""
    der = x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)
    point = der.find(b"\x03\x42\x00\x04")  # BIT STRING holding the uncompressed P-256 point
    assert point > 0, "not a P-256 CSR"
    position = point + 4 + 16
    flipped = der[:position] + bytes([der[position] ^ 0x05]) + der[position + 1:]
    return pem_block("CERTIFICATE REQUEST", flipped)


def credential_id(cert_pem):
    cert = x509.load_pem_x509_certificate(cert_pem)
    return "X509SHA256=" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def client_cert_pem(http):
    """The client certificate a KubeHTTP presents, or None (token or anonymous)."""
    cert = http.session.cert
    if not cert:
        return None
    with open(cert[0] if isinstance(cert, tuple) else cert, "rb") as handle:
        return handle.read()


def self_signed_client(common_name, organizations):
    key = new_key()
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    name = x509.Name(attrs)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def anonymous_kubeconfig(path, server, ca_pem):
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "anonymous",
        "clusters": [{"name": "replay", "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
        "users": [{"name": "anonymous", "user": {}}],
        "contexts": [{"name": "anonymous", "context": {"cluster": "replay", "user": "anonymous"}}],
    }
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    return path


def metadata_keys(obj):
    return set(obj.get("metadata") or {}) - IGNORED_METADATA


def condition_summary(obj):
    """(type, status, reason, message, keys) per condition, in order: what must match a recording."""
    return [(c.get("type"), c.get("status"), c.get("reason"), c.get("message"), sorted(c))
            for c in (obj.get("status") or {}).get("conditions") or []]


def strip_go_detail(status_body):
    """Drop what follows the last ': ' of the message and of each cause (Go library error wording)."""
    body = copy.deepcopy(status_body)
    body["message"] = body["message"].rsplit(": ", 1)[0]
    for cause in (body.get("details") or {}).get("causes") or []:
        cause["message"] = cause["message"].rsplit(": ", 1)[0]
    return body


class Rahul:
    """The recordings' user "rahul" in group "developers", made through the CSR API, without permissions."""

    def __init__(self, name, group, kubeconfig, workdir):
        self.name = name
        self.group = group
        self.http = KubeHTTP(kubeconfig, workdir)
        self.cert_pem = client_cert_pem(self.http)


class Replay:
    """One replayed case: name mapping, the request as recorded, setup helpers and cleanup."""

    def __init__(self, cluster, rahul, admin_identity, workdir):
        self.cluster = cluster
        self.admin = cluster.admin
        self.rahul = rahul
        self.admin_identity = admin_identity
        self.workdir = workdir
        self.tag = rahul.name[len("rahul"):]
        self.cleanups = []

    # names and normalisation
    def name(self, recorded):
        for token in RECORDED_TOKENS:
            recorded = recorded.replace(token, self.tag)
        return recorded

    def localise(self, value, replacements=None):
        """The recorded value with this run's names (and any other recorded→actual string replacements)."""
        pairs = [(token, self.tag) for token in RECORDED_TOKENS] + list((replacements or {}).items())

        def walk(item):
            if isinstance(item, dict):
                return {walk(key): walk(inner) for key, inner in item.items()}
            if isinstance(item, list):
                return [walk(inner) for inner in item]
            if isinstance(item, str):
                for old, new in sorted(pairs, key=lambda pair: -len(pair[0])):
                    item = item.replace(old, new)
            return item

        return walk(value)

    # requests
    def send(self, recorded, http=None, body=None, path=None):
        """The recorded request (method, path, content type, headers) with this run's names, as admin unless told."""
        request = recorded["request"]
        if body is None and request.get("body") is not None:
            body = self.localise(request["body"])
        return (http or self.admin).request(request["method"], path or self.name(request["path"]), body,
                                            content_type=request.get("content_type") or "application/json",
                                            headers=self.localise(request.get("headers") or {}))

    def later(self, path):
        self.cleanups.append(path)

    def run_cleanups(self):
        for path in reversed(self.cleanups):
            self.admin.request("DELETE", path)
        if any(path.startswith(ROLEBINDINGS_PATH) for path in self.cleanups):
            # The next case may need rahul without permissions again: wait out the authorizer's cache.
            wait_for(lambda: not self.rahul_can_list_pods(), timeout=30, what="rahul's RoleBinding to be gone")
        self.cleanups.clear()

    # namespaces
    def unique_namespace(self, recorded_name):
        """A namespace name of its own for this case, and the replacement that puts it into the recorded answers.

        A deleted namespace stays Terminating for seconds, so no two cases may share one name."""
        name = f"{self.name(recorded_name)}-{secrets.token_hex(2)}"
        return name, {recorded_name: name}

    def create_namespace(self, name):
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        created = self.admin.json("POST", NAMESPACES_PATH, body, expect=201)
        self.later(f"{NAMESPACES_PATH}/{name}")
        return created

    # CSRs
    def csr_request(self, name, common_name=None, organizations=None, **manifest):
        """A CSR manifest with a fresh key, for rahul/developers unless told otherwise."""
        common_name = common_name or self.rahul.name
        organizations = [self.rahul.group] if organizations is None else organizations
        return csr_manifest(name, make_csr_pem(new_key(), common_name, organizations), **manifest)

    def create_csr(self, name, **kwargs):
        body = self.csr_request(name, **kwargs)
        created = self.admin.json("POST", CSR_PATH, body, expect=201)
        self.later(f"{CSR_PATH}/{urllib.parse.quote(name)}")
        return created

    def get_csr(self, name):
        return self.admin.json("GET", f"{CSR_PATH}/{urllib.parse.quote(name)}", expect=200)

    def issued_csr(self, name, reason="RecordedApprove", message="approved by the recorder"):
        self.create_csr(name)
        approve(self.admin, name, reason=reason, message=message)
        wait_for_certificate(self.admin, name)
        return self.get_csr(name)

    def failed_csr(self, name):
        self.create_csr(name, usages=["server auth"])
        approve(self.admin, name, reason="Rec", message="m")
        return wait_for(lambda: [c for c in condition_summary(self.get_csr(name)) if c[0] == "Failed"],
                        timeout=60, what=f"Failed condition on {name}")

    def approval_body(self, csr, conditions):
        body = copy.deepcopy(csr)
        body["status"] = {key: value for key, value in (csr.get("status") or {}).items() if key != "conditions"}
        body["status"]["conditions"] = conditions
        return body

    # RBAC
    def create_binding(self, recorded_binding):
        body = self.localise(recorded_binding)
        created = self.admin.json("POST", ROLEBINDINGS_PATH, body, expect=201)
        self.later(f"{ROLEBINDINGS_PATH}/{body['metadata']['name']}")
        return created

    def rahul_can_list_pods(self):
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"}}}
        return self.rahul.http.json("POST", SSAR_PATH, review, expect=201)["status"]["allowed"]


# -- comparisons -------------------------------------------------------------------------------------------------
def assert_status_answer(response, recorded, expected_body):
    assert response.status_code == recorded["response"]["status"], response.text
    assert response.json() == expected_body


def assert_same_status(replay, response, recorded, replacements=None):
    """A Status answer equal to the recorded one once names (and other volatile strings) are this run's."""
    assert_status_answer(response, recorded, replay.localise(recorded["response"]["body"], replacements))


def assert_csr_answer(replay, response, recorded, sent_spec):
    """A CSR object as recorded: type, metadata keys, the spec we sent plus the requester, status and conditions."""
    assert response.status_code == recorded["response"]["status"], response.text
    expected = replay.localise(recorded["response"]["body"])
    actual = response.json()
    assert_csr_object(replay, actual, expected, sent_spec)
    return actual


def assert_csr_object(replay, actual, expected, sent_spec, typed=True):
    if typed:
        assert (actual.get("kind"), actual.get("apiVersion")) == (expected["kind"], expected["apiVersion"])
    else:
        assert "kind" not in actual and "apiVersion" not in actual, "list items carry no kind/apiVersion"
    assert metadata_keys(actual) == metadata_keys(expected)
    spec, expected_spec = actual["spec"], expected["spec"]
    assert set(spec) == set(expected_spec)
    for field in ("request", "signerName", "expirationSeconds", "usages"):
        assert spec.get(field) == sent_spec.get(field), field
    identity = replay.admin_identity
    assert spec["username"] == identity["username"]
    assert spec["groups"] == identity["groups"]
    assert sorted(spec.get("extra") or {}) == sorted(expected_spec.get("extra") or {})
    assert spec.get("extra") == identity.get("extra")
    assert set(actual.get("status") or {}) == set(expected.get("status") or {})
    assert condition_summary(actual) == condition_summary(expected)


def assert_object_answer(replay, response, recorded, fields, replacements=None):
    """Type, metadata keys and the listed top-level fields equal to the recording (names localised)."""
    assert response.status_code == recorded["response"]["status"], response.text
    expected = replay.localise(recorded["response"]["body"], replacements)
    actual = response.json()
    assert (actual.get("kind"), actual.get("apiVersion")) == (expected["kind"], expected["apiVersion"])
    assert metadata_keys(actual) == metadata_keys(expected)
    for field in ("name", "namespace"):
        assert actual["metadata"].get(field) == expected["metadata"].get(field), field
    for field in fields:
        assert actual.get(field) == expected.get(field), field
    return actual


def assert_discovery_resources(response, recorded):
    """Every resource we serve in this group version is described as the real server describes it."""
    assert response.status_code == recorded["response"]["status"], response.text
    expected, actual = recorded["response"]["body"], response.json()
    for field in ("kind", "apiVersion", "groupVersion"):
        assert actual.get(field) == expected[field], field
    recorded_resources = {entry["name"]: entry for entry in expected["resources"]}
    assert actual["resources"], "no resources served"
    for entry in actual["resources"]:
        assert entry["name"] in recorded_resources, f"{entry['name']} is not served by the real server"
        wanted = recorded_resources[entry["name"]]
        for field in DISCOVERY_FIELDS:
            assert entry.get(field) == wanted.get(field), (entry["name"], field)


# -- the replays -------------------------------------------------------------------------------------------------
REPLAYS = {}


def replays(case):
    def register(function):
        REPLAYS[case] = function
        return function
    return register


def csr_name_in(recorded):
    """The CSR name of a recorded path (…/certificatesigningrequests/NAME[/approval])."""
    parts = recorded["request"]["path"].split("/")
    return parts[parts.index("certificatesigningrequests") + 1]


def replay_csr_create(replay, recorded, spec_changes=None, common_name=None, organizations=None, request_pem=None):
    """POST a CSR like the recorded one, with a fresh key (or the given PEM) and the recorded spec otherwise."""
    sent = replay.localise(recorded["request"]["body"])
    fresh = replay.csr_request(sent["metadata"]["name"], common_name=common_name, organizations=organizations)
    original_request = recorded["request"]["body"]["spec"]["request"]
    sent["spec"]["request"] = b64(request_pem) if request_pem else fresh["spec"]["request"]
    sent["spec"].update(spec_changes or {})
    replay.later(f"{CSR_PATH}/{urllib.parse.quote(sent['metadata']['name'])}")
    response = replay.send(recorded, body=sent)
    return response, sent, {original_request: sent["spec"]["request"]}


@replays("csr-create-valid")
def csr_create_valid(replay, recorded):
    response, sent, dummy = replay_csr_create(replay, recorded)
    assert_csr_answer(replay, response, recorded, sent["spec"])


@replays("csr-create-invalid-name")
def csr_create_invalid_name(replay, recorded):
    # Still upper case and spaces, made unique for a shared cluster: a CSR name is a path segment name.
    name = f"Not A Valid Name {replay.tag}"
    sent = replay.localise(recorded["request"]["body"])
    sent["metadata"]["name"] = name
    sent["spec"]["request"] = replay.csr_request(name, common_name="x", organizations=[])["spec"]["request"]
    replay.later(f"{CSR_PATH}/{urllib.parse.quote(name)}")
    response = replay.send(recorded, body=sent)
    created = assert_csr_answer(replay, response, recorded, sent["spec"])
    assert created["metadata"]["name"] == name
    assert replay.get_csr(name)["metadata"]["uid"] == created["metadata"]["uid"]


@replays("csr-create-duplicate")
def csr_create_duplicate(replay, recorded):
    replay.create_csr(replay.name(recorded["request"]["body"]["metadata"]["name"]))
    response, dummy, replacements = replay_csr_create(replay, recorded)
    assert_same_status(replay, response, recorded, replacements)


def _invalid_create(usages=None, drop_signer=False, signer=None, expiration=None):
    def run(replay, recorded):
        changes = {}
        if usages is not None:
            changes["usages"] = usages
        if signer is not None:
            changes["signerName"] = signer
        if expiration is not None:
            changes["expirationSeconds"] = expiration
        response, sent, replacements = replay_csr_create(replay, recorded, changes)
        if drop_signer:
            assert "signerName" not in sent["spec"]
        assert_same_status(replay, response, recorded, replacements)
    return run


replays("csr-create-duplicate-usage")(_invalid_create(usages=["client auth", "client auth"]))
replays("csr-create-unknown-usage")(_invalid_create(usages=["client auth", "banana"]))
replays("csr-create-no-usages")(_invalid_create(usages=[]))
replays("csr-create-no-signer")(_invalid_create(drop_signer=True))
replays("csr-create-legacy-signer")(_invalid_create(signer="kubernetes.io/legacy-unknown"))
replays("csr-create-short-expiration")(_invalid_create(expiration=300))


@replays("csr-create-system-masters")
def csr_create_system_masters(replay, recorded):
    response, dummy, replacements = replay_csr_create(replay, recorded, common_name="mallory",
                                                      organizations=["system:masters"])
    assert_same_status(replay, response, recorded, replacements)


@replays("csr-create-bad-signature")
def csr_create_bad_signature(replay, recorded):
    good = make_csr_pem(new_key(), replay.rahul.name, [replay.rahul.group])
    response, dummy, replacements = replay_csr_create(replay, recorded, request_pem=csr_with_flipped_key_byte(good))
    assert response.status_code == recorded["response"]["status"], response.text
    expected = replay.localise(recorded["response"]["body"], replacements)
    assert strip_go_detail(response.json()) == strip_go_detail(expected)
    if replay.cluster.local:
        # The local server words the detail as the recorded Go 1.27 does ("P256 point not on curve").
        assert response.json() == expected


@replays("csr-create-garbage-request")
def csr_create_garbage_request(replay, recorded):
    # The recorded request ("this is not a csr") is sent as it is.
    replay.later(f"{CSR_PATH}/{replay.name(recorded['request']['body']['metadata']['name'])}")
    assert_same_status(replay, replay.send(recorded), recorded)


@replays("csr-create-wrong-pem-type")
def csr_create_wrong_pem_type(replay, recorded):
    throwaway = new_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    response, dummy, replacements = replay_csr_create(replay, recorded, request_pem=throwaway)
    assert_same_status(replay, response, recorded, replacements)


@replays("csr-get-missing")
def csr_get_missing(replay, recorded):
    assert_same_status(replay, replay.send(recorded), recorded)


@replays("csr-get-issued")
def csr_get_issued(replay, recorded):
    name = replay.name(csr_name_in(recorded))
    spec = replay.issued_csr(name)["spec"]
    response = replay.send(recorded)
    actual = assert_csr_answer(replay, response, recorded, spec)
    certs = x509.load_pem_x509_certificates(base64.b64decode(actual["status"]["certificate"]))
    assert len(certs) == 1


@replays("csr-delete")
def csr_delete(replay, recorded):
    name = replay.name(csr_name_in(recorded))
    uid = replay.issued_csr(name)["metadata"]["uid"]
    recorded_uid = recorded["response"]["body"]["details"]["uid"]
    assert_same_status(replay, replay.send(recorded), recorded, {recorded_uid: uid})
    assert replay.admin.request("GET", f"{CSR_PATH}/{name}").status_code == 404


@replays("csr-list")
def csr_list(replay, recorded):
    expected = replay.localise(recorded["response"]["body"])
    invalid_name = f"Not A Valid Name {replay.tag}"
    wanted = {}
    for item in expected["items"]:
        name = item["metadata"]["name"]
        if name == "Not A Valid Name":
            name = invalid_name
            replay.create_csr(name, common_name="x", organizations=[])
        elif "Failed" in [c[0] for c in condition_summary(item)]:
            replay.failed_csr(name)
        elif condition_summary(item):
            replay.create_csr(name, common_name="denyme", organizations=["developers"])
            approve(replay.admin, name, reason="RecordedDeny", message="no", ctype="Denied")
        else:
            replay.create_csr(name)
        wanted[name] = item
    response = replay.send(recorded)
    assert response.status_code == recorded["response"]["status"], response.text
    actual = response.json()
    assert (actual["kind"], actual["apiVersion"]) == (expected["kind"], expected["apiVersion"])
    assert set(actual["metadata"]) == set(expected["metadata"])
    ours = [item for item in actual["items"] if item["metadata"]["name"] in wanted]
    assert [item["metadata"]["name"] for item in ours] == sorted(wanted), "items in etcd key order"
    for item in ours:
        spec = replay.get_csr(item["metadata"]["name"])["spec"]
        assert_csr_object(replay, item, wanted[item["metadata"]["name"]], spec, typed=False)


@replays("csr-signer-failed-server-auth")
def csr_signer_failed_server_auth(replay, recorded):
    name = replay.name(csr_name_in(recorded))
    replay.failed_csr(name)
    response = replay.send(recorded)
    assert_csr_answer(replay, response, recorded, replay.get_csr(name)["spec"])


@replays("csr-update-spec")
def csr_update_spec(replay, recorded):
    name = replay.name(csr_name_in(recorded))
    original = replay.create_csr(name)
    changed = copy.deepcopy(original)
    changed["spec"]["request"] = replay.csr_request(name, "other", ["developers"])["spec"]["request"]
    changed["spec"]["usages"] = ["client auth", "digital signature"]
    response = replay.send(recorded, body=changed)
    actual = assert_csr_answer(replay, response, recorded, original["spec"])
    assert actual["spec"] == original["spec"], "a PUT leaves the spec unchanged"
    # Nothing changed, so the write was a no-op: the resourceVersion is the one sent.
    assert actual["metadata"]["resourceVersion"] == original["metadata"]["resourceVersion"]


def _approval_case(conditions, issued=False, stale=False):
    """PUT /approval on a CSR (pending, or approved and issued) with the recorded conditions."""
    def run(replay, recorded):
        name = replay.name(csr_name_in(recorded))
        csr = replay.issued_csr(name) if issued else replay.create_csr(name)
        body = replay.approval_body(csr, conditions(replay.localise(recorded["request"]["body"]), csr))
        if stale:
            body["metadata"]["resourceVersion"] = recorded["request"]["body"]["metadata"]["resourceVersion"]
        response = replay.send(recorded, body=body)
        if recorded["response"]["body"]["kind"] == "Status":
            assert_same_status(replay, response, recorded)
        else:
            actual = assert_csr_answer(replay, response, recorded, csr["spec"])
            for condition in actual["status"]["conditions"]:
                assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", condition["lastUpdateTime"])
    return run


def recorded_conditions(sent, dummy):
    return sent["status"]["conditions"]


def recorded_new_conditions(sent, current):
    """The conditions the recording added to those the CSR already had (an Approved from issued_csr)."""
    return current["status"]["conditions"] + [c for c in sent["status"]["conditions"] if "lastUpdateTime" not in c]


replays("csr-approval-valid")(_approval_case(recorded_conditions))
replays("csr-approval-both")(_approval_case(recorded_conditions))
replays("csr-approval-status-false")(_approval_case(recorded_conditions))
replays("csr-approval-stale-rv")(_approval_case(recorded_conditions, stale=True))
replays("csr-approval-remove")(_approval_case(recorded_conditions, issued=True))
replays("csr-approval-deny-after-approve")(_approval_case(recorded_new_conditions, issued=True))
replays("csr-denial-valid")(_approval_case(recorded_conditions))


@replays("forbidden-approve")
def forbidden_approve(replay, recorded):
    name = replay.name(csr_name_in(recorded))
    csr = replay.create_csr(name)
    body = replay.approval_body(csr, replay.localise(recorded["request"]["body"])["status"]["conditions"])
    assert_same_status(replay, replay.send(recorded, http=replay.rahul.http, body=body), recorded)
    assert condition_summary(replay.get_csr(name)) == []


@replays("forbidden-create-csr")
def forbidden_create_csr(replay, recorded):
    sent = replay.localise(recorded["request"]["body"])
    sent["spec"]["request"] = replay.csr_request(sent["metadata"]["name"])["spec"]["request"]
    replay.later(f"{CSR_PATH}/{sent['metadata']['name']}")
    assert_same_status(replay, replay.send(recorded, http=replay.rahul.http, body=sent), recorded)


def _as_rahul_status(replay, recorded):
    assert_same_status(replay, replay.send(recorded, http=replay.rahul.http), recorded)


replays("forbidden-get-secret")(_as_rahul_status)
replays("forbidden-list-pods")(_as_rahul_status)
replays("forbidden-list-pods-cluster")(_as_rahul_status)


@replays("allowed-list-pods")
def allowed_list_pods(replay, recorded):
    create = load_recording("rbac-create-rolebinding.json")
    replay.create_binding(create["request"]["body"])
    wait_for(replay.rahul_can_list_pods, timeout=30, what="rahul's RoleBinding to take effect")
    response = replay.send(recorded, http=replay.rahul.http)
    assert response.status_code == recorded["response"]["status"], response.text
    expected, actual = recorded["response"]["body"], response.json()
    assert (actual["kind"], actual["apiVersion"]) == (expected["kind"], expected["apiVersion"])
    assert set(actual["metadata"]) == set(expected["metadata"])
    assert isinstance(actual["items"], list)
    assert all("kind" not in item and "apiVersion" not in item for item in actual["items"])


@replays("unauthenticated")
def unauthenticated(replay, recorded):
    path = anonymous_kubeconfig(os.path.join(replay.workdir, "anonymous.kubeconfig"), replay.cluster.server,
                                replay.cluster.ca_pem)
    anonymous = KubeHTTP(path, os.path.join(replay.workdir, "anonymous"))
    assert_same_status(replay, replay.send(recorded, http=anonymous), recorded)


@replays("unknown-ca-client-cert")
def unknown_ca_client_cert(replay, recorded):
    cert_pem, key_pem = self_signed_client("mallory", ["system:masters"])
    path = write_user_kubeconfig(os.path.join(replay.workdir, "mallory.kubeconfig"), replay.cluster.server,
                                 replay.cluster.ca_pem, "mallory", cert_pem, key_pem)
    mallory = KubeHTTP(path, os.path.join(replay.workdir, "mallory"))
    assert_same_status(replay, replay.send(recorded, http=mallory), recorded)


@replays("configmap-kube-root-ca")
def configmap_kube_root_ca(replay, recorded):
    actual = assert_object_answer(replay, replay.send(recorded), recorded, ())
    expected = recorded["response"]["body"]
    assert actual["metadata"]["annotations"] == expected["metadata"]["annotations"]
    assert sorted(actual["data"]) == sorted(expected["data"])
    bundle = x509.load_pem_x509_certificates(actual["data"]["ca.crt"].encode())
    assert x509.load_pem_x509_certificate(replay.cluster.ca_pem) in bundle


@replays("rbac-create-rolebinding")
def rbac_create_rolebinding(replay, recorded):
    replay.later(f"{ROLEBINDINGS_PATH}/{replay.name(recorded['request']['body']['metadata']['name'])}")
    assert_object_answer(replay, replay.send(recorded), recorded, ("subjects", "roleRef"))


@replays("rbac-missing-roleref-role")
def rbac_missing_roleref_role(replay, recorded):
    rbac_create_rolebinding(replay, recorded)


@replays("rbac-merge-patch-subjects")
def rbac_merge_patch_subjects(replay, recorded):
    replay.create_binding(load_recording("rbac-create-rolebinding.json")["request"]["body"])
    assert_object_answer(replay, replay.send(recorded), recorded, ("subjects", "roleRef"))


@replays("rbac-change-roleref")
def rbac_change_roleref(replay, recorded):
    created = replay.create_binding(load_recording("rbac-create-rolebinding.json")["request"]["body"])
    body = copy.deepcopy(created)
    body["roleRef"] = replay.localise(recorded["request"]["body"]["roleRef"])
    assert_same_status(replay, replay.send(recorded, body=body), recorded)


@replays("ssar-rahul-list-pods")
def ssar_rahul_list_pods(replay, recorded):
    response = replay.send(recorded, http=replay.rahul.http)
    actual = assert_object_answer(replay, response, recorded, ("spec", "status"))
    assert actual["spec"] == recorded["request"]["body"]["spec"]


@replays("ssr-rahul")
def ssr_rahul(replay, recorded):
    response = replay.send(recorded, http=replay.rahul.http)
    assert_object_answer(replay, response, recorded, ())
    expected = replay.localise(recorded["response"]["body"]["status"]["userInfo"])
    user_info = response.json()["status"]["userInfo"]
    assert set(user_info) == set(expected)
    assert (user_info["username"], user_info["groups"]) == (expected["username"], expected["groups"])
    assert user_info["extra"] == {CREDENTIAL_ID: [credential_id(replay.rahul.cert_pem)]}
    assert sorted(expected["extra"]) == [CREDENTIAL_ID]


@replays("discovery-version")
def discovery_version(replay, recorded):
    response = replay.send(recorded)
    assert response.status_code == recorded["response"]["status"], response.text
    expected, actual = recorded["response"]["body"], response.json()
    assert set(actual) == set(expected)
    assert re.match(r"^v\d+\.\d+\.\d+", actual["gitVersion"])
    if replay.cluster.local:
        for field in ("major", "minor", "emulationMajor", "emulationMinor", "minCompatibilityMajor",
                      "minCompatibilityMinor", "gitTreeState", "goVersion", "compiler", "platform"):
            assert actual[field] == expected[field], field
        assert actual["gitVersion"].startswith(expected["gitVersion"])


@replays("discovery-api")
def discovery_api(replay, recorded):
    response = replay.send(recorded)
    assert response.status_code == recorded["response"]["status"], response.text
    expected, actual = recorded["response"]["body"], response.json()
    assert set(actual) == set(expected)
    assert (actual["kind"], actual["versions"]) == (expected["kind"], expected["versions"])
    assert [set(entry) for entry in actual["serverAddressByClientCIDRs"]] == \
        [set(entry) for entry in expected["serverAddressByClientCIDRs"]]
    assert actual["serverAddressByClientCIDRs"][0]["clientCIDR"] == "0.0.0.0/0"
    assert re.match(r"^\S+:\d+$", actual["serverAddressByClientCIDRs"][0]["serverAddress"])


@replays("discovery-apis")
def discovery_apis(replay, recorded):
    response = replay.send(recorded)
    assert response.status_code == recorded["response"]["status"], response.text
    expected, actual = recorded["response"]["body"], response.json()
    assert (actual["kind"], actual["apiVersion"]) == (expected["kind"], expected["apiVersion"])
    recorded_groups = {group["name"]: group for group in expected["groups"]}
    served = [group["name"] for group in actual["groups"]]
    assert set(SERVED_GROUPS) <= set(served)
    for group in actual["groups"]:
        if group["name"] in recorded_groups:
            assert group == recorded_groups[group["name"]], group["name"]
    recorded_order = [name for name in recorded_groups if name in served]
    assert [name for name in served if name in recorded_groups] == recorded_order, "group priority order"


def _discovery_resources(replay, recorded):
    assert_discovery_resources(replay.send(recorded), recorded)


replays("discovery-authentication-v1")(_discovery_resources)
replays("discovery-authorization-v1")(_discovery_resources)
replays("discovery-certificates-v1")(_discovery_resources)
replays("discovery-rbac-v1")(_discovery_resources)


# -- namespaces: Terminating for a while after DELETE ------------------------------------------------------------
def namespace_in(recorded):
    """The namespace name of a recorded request (its body, or its path)."""
    body = recorded.get("request", {}).get("body")
    return body["metadata"]["name"] if body else recorded["request"]["path"].rsplit("/", 1)[1]


@replays("namespace-create")
def namespace_create(replay, recorded):
    name, replacements = replay.unique_namespace(namespace_in(recorded))
    replay.later(f"{NAMESPACES_PATH}/{name}")
    response = replay.send(recorded, body=replay.localise(recorded["request"]["body"], replacements))
    actual = assert_object_answer(replay, response, recorded, ("spec", "status"), replacements)
    expected = replay.localise(recorded["response"]["body"], replacements)
    assert actual["metadata"]["labels"] == expected["metadata"]["labels"]


@replays("namespace-delete")
def namespace_delete(replay, recorded):
    name, replacements = replay.unique_namespace(namespace_in(recorded))
    created = replay.create_namespace(name)
    response = replay.send(recorded, path=f"{NAMESPACES_PATH}/{name}")
    deleted = assert_object_answer(replay, response, recorded, ("spec", "status"), replacements)
    assert deleted["metadata"]["uid"] == created["metadata"]["uid"]
    assert int(deleted["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    still_there = replay.admin.json("GET", f"{NAMESPACES_PATH}/{name}", expect=200)
    assert still_there["status"]["phase"] == "Terminating"
    assert still_there["metadata"]["deletionTimestamp"] == deleted["metadata"]["deletionTimestamp"]


@replays("namespace-create-while-terminating")
def namespace_create_while_terminating(replay, recorded):
    name, replacements = replay.unique_namespace(namespace_in(recorded))
    replay.create_namespace(name)
    replay.admin.json("DELETE", f"{NAMESPACES_PATH}/{name}", expect=200)
    response = replay.send(recorded, body=replay.localise(recorded["request"]["body"], replacements))
    assert_same_status(replay, response, recorded, replacements)


@replays("namespace-termination-timeline")
def namespace_termination_timeline(replay, recorded):
    name, dummy = replay.unique_namespace(namespace_in(load_recording("namespace-create.json")))
    replay.create_namespace(name)
    path = f"{NAMESPACES_PATH}/{name}"
    deleted_at = time.monotonic()
    replay.admin.json("DELETE", path, expect=200)
    assert replay.admin.json("GET", path, expect=200)["status"]["phase"] == "Terminating"
    wait_for(lambda: replay.admin.request("GET", path).status_code == recorded["final_get_status"], timeout=60,
             interval=0.05, what=f"namespace {name} to be gone")
    seconds = time.monotonic() - deleted_at
    if replay.cluster.local:
        # The local server's default is the real controller's: an empty namespace goes after about 5 s.
        assert abs(seconds - recorded["seconds_until_404"]) < 1.0, seconds


# -- certificates with several organizations ---------------------------------------------------------------------
RDN_TYPE_NAMES = {NameOID.ORGANIZATION_NAME: "organizationName", NameOID.COMMON_NAME: "commonName"}


@replays("multi-o-certificate")
def multi_o_certificate(replay, recorded):
    common_name = replay.localise(recorded["certificate_rdns"][-1][0]).removeprefix("commonName=")
    key = new_key()
    replay.admin.json("POST", CSR_PATH, csr_manifest(common_name, make_csr_pem(key, common_name,
                                                                               recorded["csr_subject_order"])),
                      expect=201)
    replay.later(f"{CSR_PATH}/{common_name}")
    approve(replay.admin, common_name)
    approved_at = time.monotonic()
    cert_pem = wait_for_certificate(replay.admin, common_name, interval=0.005)
    issued_after = time.monotonic() - approved_at
    # The real signer issued 18 ms after the approval; within a quarter of a second the two agree.
    assert issued_after < (0.25 if replay.cluster.local else 5.0), issued_after

    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.subject.rfc4514_string() == replay.localise(recorded["certificate_subject_rfc4514"])
    assert [[f"{RDN_TYPE_NAMES[attr.oid]}={attr.value}" for attr in rdn] for rdn in cert.subject.rdns] == \
        replay.localise(recorded["certificate_rdns"])

    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    kubeconfig = write_user_kubeconfig(os.path.join(replay.workdir, "multi.kubeconfig"), replay.cluster.server,
                                       replay.cluster.ca_pem, common_name, cert_pem, key_pem)
    response = KubeHTTP(kubeconfig, os.path.join(replay.workdir, "multi")).request(
        "POST", SSR_PATH, {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert response.status_code == recorded["whoami"]["status"], response.text
    user_info = response.json()["status"]["userInfo"]
    assert (user_info["username"], user_info["groups"]) == (common_name, recorded["whoami"]["groups"])


# -- constrained impersonation (1.36) ----------------------------------------------------------------------------
def _impersonation_refused(replay, recorded):
    # The recordings' user without any RBAC is rahul here.
    impersonator = recorded["request"]["as"].split()[0]
    response = replay.send(recorded, http=replay.rahul.http)
    assert_same_status(replay, response, recorded, {impersonator: replay.rahul.name})


replays("impersonate-user-forbidden")(_impersonation_refused)
replays("impersonate-serviceaccount-forbidden")(_impersonation_refused)
replays("impersonate-group-without-user")(_impersonation_refused)


# -- the built-in roles ------------------------------------------------------------------------------------------
def grants(rules):
    """apiGroups x resources x verbs summed over the rules, as the recording counts them."""
    return sum(len(rule.get("apiGroups") or [""]) * len(rule.get("resources") or rule.get("nonResourceURLs") or [])
               * len(rule["verbs"]) for rule in rules)


def canonical_rules(rules):
    return sorted(json.dumps(rule, sort_keys=True) for rule in rules)


@replays("bootstrap-clusterroles")
def bootstrap_clusterroles(replay, recorded):
    for name, expected in recorded["roles"].items():
        role = replay.admin.json("GET", f"{RBAC_PATH}/clusterroles/{name}", expect=200)
        assert canonical_rules(role["rules"]) == canonical_rules(expected["rules"]), name
        assert grants(role["rules"]) == expected["grants"], name
        assert role.get("aggregationRule") == expected["aggregationRule"], name
        assert role["metadata"]["labels"] == expected["labels"], name


# -- fixtures and tests ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rahul(cluster, tmp_path_factory):
    tag = "r" + cluster.suffix
    name, group = f"rahul{tag}", f"developers{tag}"
    kubeconfig = cluster.make_user(name, [group])
    return Rahul(name, group, kubeconfig, str(tmp_path_factory.mktemp("rahul")))


@pytest.fixture(scope="module")
def admin_identity(cluster):
    """Who the admin is: the requester the server writes into a CSR's spec."""
    user_info = cluster.admin.json("POST", SSR_PATH, {"apiVersion": "authentication.k8s.io/v1",
                                                      "kind": "SelfSubjectReview"}, expect=201)["status"]["userInfo"]
    if cluster.local:
        # The local server's admin is the recordings' admin.
        recorded = load_recording("csr-create-valid.json")["response"]["body"]["spec"]
        assert (user_info["username"], user_info["groups"]) == (recorded["username"], recorded["groups"])
    cert_pem = client_cert_pem(cluster.admin)
    if cert_pem:
        assert user_info.get("extra") == {CREDENTIAL_ID: [credential_id(cert_pem)]}
    return user_info


@pytest.fixture
def replay(cluster, rahul, admin_identity, tmp_path):
    current = Replay(cluster, rahul, admin_identity, str(tmp_path))
    yield current
    current.run_cleanups()


def test_every_recording_has_a_replay():
    assert recorded_case_names() == set(REPLAYS)
    for case in recorded_case_names():
        assert load_recording(f"{case}.json")["case"] == case


@pytest.mark.parametrize("case", sorted(recorded_case_names() | set(REPLAYS)))
def test_recorded_case(case, request):
    assert case in REPLAYS, f"recorded case {case} has no replay: add one to this file"
    assert case in recorded_case_names(), f"the recording {case}.json is gone"
    REPLAYS[case](request.getfixturevalue("replay"), load_recording(f"{case}.json"))


def test_issued_certificate_matches_recorded_facts(request):
    replay = request.getfixturevalue("replay")
    facts = load_recording(FACTS_FILE)
    user, group = replay.rahul.name, replay.rahul.group
    name = replay.name("facts-1795340056")
    key = new_key()
    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    replay.admin.json("POST", CSR_PATH, csr_manifest(name, make_csr_pem(key, user, [group]), expiration=86400),
                      expect=201)
    replay.later(f"{CSR_PATH}/{name}")
    approve(replay.admin, name)
    cert = x509.load_pem_x509_certificate(wait_for_certificate(replay.admin, name))
    seen = datetime.datetime.now(datetime.timezone.utc)
    ca_cert = x509.load_pem_x509_certificates(replay.cluster.ca_pem)[0]

    # Subject: the signer re-encodes it O first, then CN ("CN=x,O=y" read in RFC 4514 order).
    assert cert.subject.rfc4514_string() == replay.localise(facts["subject"])
    assert [attr.oid for attr in cert.subject] == [NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME]
    assert cert.issuer == ca_cert.subject
    cert.verify_directly_issued_by(ca_cert)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()

    # Validity: NotBefore backdated 5 minutes from issuance, lifetime as requested.
    recorded_before = datetime.datetime.fromisoformat(facts["not_before"])
    recorded_after = datetime.datetime.fromisoformat(facts["not_after"])
    recorded_created = datetime.datetime.fromisoformat(facts["csr_created"].replace("Z", "+00:00"))
    backdate = datetime.timedelta(minutes=5)
    assert datetime.timedelta(0) <= recorded_before + backdate - recorded_created <= datetime.timedelta(seconds=5)
    issued_at = cert.not_valid_before_utc + backdate
    assert started - datetime.timedelta(seconds=1) <= issued_at <= seen + datetime.timedelta(seconds=1)
    lifetime = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()
    assert lifetime == facts["lifetime_seconds"] == (recorded_after - recorded_before).total_seconds()

    # Extensions: exactly these, in this order, with this criticality.
    extension_names = {ExtensionOID.EXTENDED_KEY_USAGE: "extendedKeyUsage",
                       ExtensionOID.BASIC_CONSTRAINTS: "basicConstraints",
                       ExtensionOID.AUTHORITY_KEY_IDENTIFIER: "authorityKeyIdentifier"}
    described = [f"{extension_names.get(ext.oid, ext.oid.dotted_string)}: {ext.value!r}" for ext in cert.extensions]
    assert [text.split(":", 1)[0] for text in described] == [fact.split(":", 1)[0] for fact in facts["extensions"]]
    # Values as recorded, but for the authority key identifier, which names this cluster's CA (checked below).
    assert [text for text in described if not text.startswith("authorityKeyIdentifier")] == \
        [fact for fact in facts["extensions"] if not fact.startswith("authorityKeyIdentifier")]
    criticality = {ext.oid: ext.critical for ext in cert.extensions}
    assert criticality == {ExtensionOID.EXTENDED_KEY_USAGE: False, ExtensionOID.BASIC_CONSTRAINTS: True,
                           ExtensionOID.AUTHORITY_KEY_IDENTIFIER: False}
    authority = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert (authority.authority_cert_issuer, authority.authority_cert_serial_number) == (None, None)
    try:
        ca_key_id = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        ca_key_id = x509.SubjectKeyIdentifier.from_public_key(ca_cert.public_key()).digest
    assert authority.key_identifier == ca_key_id

    # Serial: random below 2**128 as Go's signer draws it; signature over SHA-256.
    assert facts["serial_bits"] - 16 < cert.serial_number.bit_length() <= facts["serial_bits"]
    assert cert.signature_hash_algorithm.name == facts["signature_hash"]
