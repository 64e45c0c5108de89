"""The policy abuse catalogue: certificate requests crafted as an attacker would (a user who may create CSRs and
nothing else), each refused by the default approval policy, naming the rule it breaks.

The approver is given what the role gives it and nothing more: the user name it expects and, for a request the
requester made, the pin to the requester's key or request; no policy option. Four ways of deciding are exercised:
k8s_csr_approve over all the crafted requests in one batch, one approval during which the request is replaced
under its name, the role's renewal, and the role's approval loop (playbooks/approve.yml) for the requests that only
the inventory can judge. Every case asserts that the request is not approved on the cluster, and that the refusal
names the rule.
"""

import ipaddress
import os
import secrets
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import Request
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import default_name
from tests.contract.support import conditions
from tests.integration.test_onboarding import RBAC, Onboarding, whoami
from tests.kube import CSR_PATH, Cleanup, KubeHTTP, csr_manifest, new_key, wait_for

pytestmark = pytest.mark.policy_abuse

OURS = {"app.kubernetes.io/managed-by": "kubeaccess.x509"}
WEEK = 7 * 86400

# Each case: what the request asks (`asks`, for docs/reliability.md) and the rule the refusal names. `flow` says who
# decides: "batch" (k8s_csr_approve, all in one task), "race" (replaced while it is being approved), "role" (the
# role's renewal) or "loop" (approve.yml with the inventory). The other keys shape the request (`groups` may use
# {suffix}).
CASES = [
    {"id": "rsa-1024", "asks": "an RSA 1024-bit key", "key": ("rsa", 1024), "rule": "key: RSA 1024 is too weak"},
    {"id": "ecdsa-p224", "asks": "an ECDSA key on P-224, a curve Kubernetes clients cannot use",
     "key": ("ec", ec.SECP224R1()), "rule": "key: curve secp224r1"},
    {"id": "san-dns", "asks": "a DNS name (kubernetes.default.svc) besides the user name",
     "sans": [x509.DNSName("kubernetes.default.svc")], "rule": "allow_subject_alt_names:"},
    {"id": "san-ip", "asks": "an IP address (10.96.0.1)", "sans": [x509.IPAddress(ipaddress.ip_address("10.96.0.1"))],
     "rule": "allow_subject_alt_names:"},
    {"id": "san-email", "asks": "an e-mail address", "sans": [x509.RFC822Name("admin@example.com")],
     "rule": "allow_subject_alt_names:"},
    {"id": "san-uri", "asks": "a SPIFFE URI of a kube-system ServiceAccount",
     "sans": [x509.UniformResourceIdentifier("spiffe://cluster.local/ns/kube-system/sa/default")],
     "rule": "allow_subject_alt_names:"},
    {"id": "system-user", "asks": "the user name system:kube-scheduler (and the approver told to expect it)",
     "user": "system:kube-scheduler", "rule": "system names:"},
    {"id": "system-group", "asks": "the group system:nodes", "groups": ["system:nodes"],
     "rule": "forbidden_groups: ['system:nodes'] are system: groups"},
    {"id": "system-masters-other-signer", "asks": "system:masters from a signer other than the API server client "
     "signer (CertificateSubjectRestriction only guards that one)", "groups": ["system:masters"],
     "signer": "example.com/client", "rule": "forbidden_groups: ['system:masters'] are system: groups"},
    {"id": "no-lifetime", "asks": "no expirationSeconds (the signer's default applies: a year)", "expiration": None,
     "rule": "require_expiration_seconds:"},
    {"id": "over-max-lifetime", "asks": "7 days and 1 second", "expiration": WEEK + 1,
     "rule": "max_expiration_seconds:"},
    {"id": "one-year", "asks": "a year", "expiration": 365 * 86400, "rule": "max_expiration_seconds:"},
    {"id": "server-auth", "asks": "the usage server auth besides client auth", "usages": ["client auth", "server auth"],
     "rule": "allowed_usages: ['server auth']"},
    {"id": "kubelet-signer", "asks": "the signer kubernetes.io/kube-apiserver-client-kubelet",
     "signer": "kubernetes.io/kube-apiserver-client-kubelet", "rule": "allowed_signers:"},
    {"id": "other-signer", "asks": "a signer of its own choosing (example.com/client)", "signer": "example.com/client",
     "rule": "allowed_signers:"},
    {"id": "replaced-other-key", "asks": "the requester's request deleted and made again under its name for the "
     "attacker's key, same subject (approver pins the key)", "replace": {"pin": "expected_public_key_fingerprint"},
     "rule": "expected_public_key_fingerprint:"},
    {"id": "replaced-other-subject", "asks": "the same, with one more group (approver pins the request)",
     "replace": {"pin": "expected_request", "groups": ["cluster-admins-{suffix}"]}, "rule": "expected_request:"},
    {"id": "labelled-foreign-key", "asks": "our labels and the name kubeaccess.x509 gives the user's key, for the "
     "attacker's key (approver pins the user's key)", "labelled_for_victim": True,
     "rule": "expected_public_key_fingerprint:"},
    {"id": "role-labelled-foreign-key", "flow": "role", "asks": "at renewal (keys kept), the user's issued request "
     "deleted and made again under its name, with our labels, for the attacker's key", "rule": "asks for another key"},
    {"id": "replaced-during-approval", "flow": "race", "asks": "the request replaced under its name (another key) "
     "after the approver read it, before its approval arrives", "rule": "expected_public_key_fingerprint:"},
    {"id": "loop-groups-not-given", "flow": "loop", "asks": "an inventory user's labelled request, made with the "
     "requester's own credential, with a group the inventory does not give them", "rule": "allowed_groups:"},
    {"id": "loop-replaced", "flow": "loop", "asks": "an inventory user's pending request replaced under its name for "
     "another key", "rule": "KubeaccessUnknownRequester"},
    {"id": "loop-labelled-foreign-key", "flow": "loop", "asks": "an inventory user's labelled request with exactly "
     "the user's groups, named as kubeaccess.x509 names it, for the attacker's key",
     "rule": "KubeaccessUnknownRequester"},
    {"id": "loop-not-in-inventory", "flow": "loop", "asks": "a request labelled as the inventory's for a user it "
     "does not have", "rule": "KubeaccessNotInInventory"},
]
BATCH = [case for case in CASES if case.get("flow", "batch") == "batch"]


def request_pem(key, user, groups=(), sans=()):
    """A PKCS#10 request as anybody can make one: any subject, any extension."""
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, user)]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def make_key(spec):
    kind, size = spec
    return rsa.generate_private_key(65537, size) if kind == "rsa" else ec.generate_private_key(size)


class Attacker:
    """A user who may create, read and delete CSRs, nothing else: what a requester's credential, or any identity
    allowed to ask for certificates, gives."""

    def __init__(self, cluster, cleanup, workdir):
        self.name = cluster.name(f"abuse-attacker-{secrets.token_hex(2)}")
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": self.name},
                "rules": [{"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"],
                           "verbs": ["create", "get", "list", "delete"]}]}
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": self.name},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": self.name},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": self.name}]}
        for plural, obj in (("clusterroles", role), ("clusterrolebindings", binding)):
            cluster.admin.json("POST", f"{RBAC}/{plural}", obj, expect=201)
            cleanup.add(f"{RBAC}/{plural}/{self.name}")
        self.http = KubeHTTP(cluster.make_user(self.name), os.path.join(workdir, "attacker"))
        self.cleanup = cleanup

    def submit(self, name, pem, labels=None, **manifest):
        created = self.http.json("POST", CSR_PATH, csr_manifest(name, pem, labels=labels, **manifest), expect=201)
        self.cleanup.add(f"{CSR_PATH}/{name}")
        return created

    def replace(self, name, key, user, groups=()):
        """Delete the CSR `name` and make it again, with the same labels, for `key`."""
        old = self.http.json("GET", f"{CSR_PATH}/{name}", expect=200)
        self.http.json("DELETE", f"{CSR_PATH}/{name}", expect=200)
        wait_for(lambda: self.http.request("GET", f"{CSR_PATH}/{name}").status_code == 404, what=f"{name} deleted")
        return self.submit(name, request_pem(key, user, groups), labels=old["metadata"].get("labels"),
                           expiration=old["spec"].get("expirationSeconds"))


class Abuse:
    """The crafted requests of the batch cases, and the one approval task that decides them all."""

    def __init__(self, cluster, workdir):
        self.cluster, self.workdir = cluster, workdir
        self.cleanup = Cleanup(cluster.admin)
        self.attacker = Attacker(cluster, self.cleanup, workdir)
        self.suffix = f"{cluster.suffix}{secrets.token_hex(2)}"
        self.user = f"victim-{self.suffix}"
        self.names = {}
        self.results = None

    def prepare(self, case):
        """Submit the case's request(s); returns the approval item for it."""
        name = self.names[case["id"]] = self.cluster.name(f"abuse-{case['id']}-{secrets.token_hex(2)}")
        user = case.get("user", self.user)
        item = {"name": name, "expected_user": user}
        groups = [g.format(suffix=self.suffix) for g in case.get("groups", [])]
        if "replace" in case or case.get("labelled_for_victim"):
            victim_key = new_key()
            victim_pem = request_pem(victim_key, user)
            pin = case.get("replace", {}).get("pin", "expected_public_key_fingerprint")
            item[pin] = victim_pem.decode() if pin == "expected_request" else Request(victim_pem).fingerprint
            if case.get("labelled_for_victim"):
                # The name the victim's own request will have: the key's public half is no secret (the certificate).
                item["name"] = name = self.names[case["id"]] = default_name(user, Request(victim_pem).fingerprint)
                self.attacker.submit(name, request_pem(new_key(), user), labels=OURS)
                return item
            self.cluster.admin.json("POST", CSR_PATH, csr_manifest(name, victim_pem, labels=OURS), expect=201)
            self.cleanup.add(f"{CSR_PATH}/{name}")
            replacement = [g.format(suffix=self.suffix) for g in case["replace"].get("groups", [])]
            self.attacker.replace(name, new_key(), user, replacement)
            return item
        pem = request_pem(make_key(case.get("key", ("ec", ec.SECP256R1()))), user, groups, case.get("sans", ()))
        self.attacker.submit(name, pem, signer=case.get("signer", "kubernetes.io/kube-apiserver-client"),
                             usages=case.get("usages", ["client auth"]), expiration=case.get("expiration", 86400))
        return item

    def decide(self, run_module):
        """Every batch case submitted, then decided by one k8s_csr_approve task: id -> the item's result."""
        if self.results is None:
            items = [self.prepare(case) for case in BATCH]
            result = run_module("k8s_csr_approve", {"csrs": items, "continue_on_error": True})
            assert "results" in result, result
            by_name = {item["name"]: item for item in result["results"]}
            self.results = {case["id"]: by_name[self.names[case["id"]]] for case in BATCH}
        return self.results


@pytest.fixture(scope="module")
def abuse(cluster, tmp_path_factory):
    state = Abuse(cluster, str(tmp_path_factory.mktemp("abuse")))
    yield state
    state.cleanup.run()


def not_approved(admin, name):
    found = conditions(admin.json("GET", f"{CSR_PATH}/{name}", expect=200))
    assert "Approved" not in found, found
    return found


@pytest.mark.parametrize("case", BATCH, ids=[case["id"] for case in BATCH])
def test_refused_by_the_default_policy(abuse, run_module, admin, case):
    result = abuse.decide(run_module)[case["id"]]
    assert result.get("failed") and not result.get("changed"), result
    assert case["rule"] in result["msg"], result["msg"]
    assert "not approved" in result["msg"] or "pins do not allow" in result["msg"], result["msg"]
    assert not_approved(admin, abuse.names[case["id"]]) == {}  # no decision written: left for nobody to approve


RACE = next(case for case in CASES if case["id"] == "replaced-during-approval")


@pytest.mark.local_only("holds the approval in the server (a fault's delay) while the request is replaced")
@pytest.mark.parametrize("case", [RACE], ids=[RACE["id"]])
def test_replaced_between_the_check_and_the_approval(cluster, abuse, run_module, admin, case):
    """The approval carries the resourceVersion it checked: a request replaced in between makes it a 409 Conflict,
    and the approver reads and checks the request again, finding the key is not the pinned one."""
    user, name = abuse.user, cluster.name(f"abuse-race-{secrets.token_hex(2)}")
    victim_pem = request_pem(new_key(), user)
    admin.json("POST", CSR_PATH, csr_manifest(name, victim_pem, labels=OURS), expect=201)
    abuse.cleanup.add(f"{CSR_PATH}/{name}")
    cluster.control("POST", "faults", {"verb": "update", "resource": "certificatesigningrequests/approval",
                                       "delay": 5.0, "count": 1})
    decided = {}
    approver = threading.Thread(target=lambda: decided.update(run_module("k8s_csr_approve", {
        "name": name, "expected_user": user, "expected_public_key_fingerprint": Request(victim_pem).fingerprint})))
    approver.start()
    try:
        # The fault is taken when the approval arrives; it is held there for the delay.
        wait_for(lambda: not cluster.control("GET", "faults")["faults"], timeout=120, what="the approval to arrive")
        abuse.attacker.replace(name, new_key(), user)
    finally:
        approver.join()
        cluster.control("DELETE", "faults")
    log = cluster.control("GET", "stats")["requests"]
    approvals = [e["code"] for e in log if e["name"] == name and e["resource"] == "certificatesigningrequests/approval"]
    assert approvals == [409], f"the approval was not held until the request was replaced: {approvals}"
    assert decided.get("failed"), decided
    assert case["rule"] in decided["msg"], decided["msg"]
    not_approved(admin, name)


ROLE = next(case for case in CASES if case["id"] == "role-labelled-foreign-key")


@pytest.mark.parametrize("case", [ROLE], ids=[ROLE["id"]])
def test_the_role_never_takes_a_labelled_request_for_another_key(onboarding, abuse, admin, case):
    """With keys kept at renewal, the name of the user's next request is known to anybody who has seen the last
    one; a request the attacker puts there, labelled as the inventory's, is neither replaced nor approved."""
    rahul = onboarding.rahul
    onboarding.settings["user_access_rotate_key"] = False
    onboarding.write_inventory()
    onboarding.run("onboard.yml", "-e", f"user={rahul}").ok()
    with open(onboarding.kubeconfig(rahul), "rb") as handle:
        before = handle.read()
    (issued,) = onboarding.csrs()
    name = issued["metadata"]["name"]
    abuse.attacker.replace(name, new_key(), rahul, onboarding.users[rahul]["user_access_groups"])
    renewal = onboarding.run("renew.yml", "-e", "renew_now=true", "-e", f"user={rahul}").failed()
    assert renewal.recap(rahul)["failed"] == 1
    assert case["rule"] in renewal.output and name in renewal.output, renewal.output[-6000:]
    not_approved(admin, name)
    with open(onboarding.kubeconfig(rahul), "rb") as handle:
        assert handle.read() == before


class Requester:
    """The requester's own credential (the inventory's), submitting a request as an insider could."""

    def __init__(self, onboarding):
        self.onboarding = onboarding

    def submit(self, name, pem, labels=None):
        self.onboarding.admin.json("POST", CSR_PATH, csr_manifest(name, pem, labels=labels), expect=201)
        self.onboarding.cleanup_labelled.add(f"{CSR_PATH}/{name}")


class Loop:
    """An inventory with `approval: manual` and the default policy: onboarding leaves both users' requests pending,
    the attacker adds and replaces labelled requests, and approve.yml decides them all in one run."""

    def __init__(self, abuse, workdir):
        cluster = abuse.cluster
        self.onboarding = Onboarding(cluster, cluster.admin, abuse.cleanup, workdir)
        # The requester here is the administrator whose kubeconfig the inventory gives.
        self.onboarding.clusters = {"local": {"kubeconfig": cluster.kubeconfig, "approval": "manual",
                                              "requesters": [whoami(cluster.kubeconfig)["username"]]}}
        self.onboarding.write_inventory()
        self.attacker, self.names, self.run = abuse.attacker, {}, None

    def decide(self):
        if self.run is not None:
            return self.run
        onboarding, attacker = self.onboarding, self.attacker
        onboarding.run("onboard.yml").ok()
        labels = dict(OURS, **{"kubeaccess.x509/inventory": onboarding.label})
        seema_groups = onboarding.users[onboarding.seema]["user_access_groups"]

        def labelled(case, user, groups, by=attacker):
            pem = request_pem(new_key(), user, groups)
            name = self.names[case] = default_name(user, Request(pem).fingerprint)
            by.submit(name, pem, labels=labels)

        labelled("loop-groups-not-given", onboarding.seema, seema_groups + [f"cluster-admins-{onboarding.suffix}"],
                 by=Requester(onboarding))
        labelled("loop-not-in-inventory", f"mallory-{onboarding.suffix}", [])
        labelled("loop-labelled-foreign-key", onboarding.seema, seema_groups)
        (own,) = [c for c in onboarding.csrs() if c["metadata"]["name"].startswith(onboarding.rahul)]
        self.names["loop-replaced"] = own["metadata"]["name"]
        attacker.replace(own["metadata"]["name"], new_key(), onboarding.rahul,
                         onboarding.users[onboarding.rahul]["user_access_groups"])
        self.run = onboarding.run("approve.yml")
        return self.run

    def remove_everything(self):
        self.onboarding.remove_everything()


@pytest.fixture(scope="module")
def loop(abuse, tmp_path_factory):
    state = Loop(abuse, str(tmp_path_factory.mktemp("loop")))
    yield state
    state.remove_everything()


LOOP = [pytest.param(case, id=case["id"]) for case in CASES if case.get("flow") == "loop"]


@pytest.mark.parametrize("case", LOOP)
def test_refused_by_the_approval_loop(loop, admin, case):
    run = loop.decide()
    assert run.returncode == 2, run.output[-6000:]  # a request of an inventory user was denied
    name = loop.names[case["id"]]
    denied = not_approved(admin, name)["Denied"]
    assert case["rule"] is None or case["rule"] in (denied["reason"] + ": " + denied["message"]), denied
    assert f"CSR {name}" in run.output, run.output[-6000:]
