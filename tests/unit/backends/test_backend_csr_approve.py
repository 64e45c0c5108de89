"""module_utils/backends/csr_approve.py: what k8s_csr_approve decides for a CSR as the cluster holds it.

The decision table of CsrApproval: the CSR's phase (pending, approved or issued by someone else, denied, failed)
x the policy x the pins (expected_public_key_fingerprint, expected_request) x state and on_violation gives
approve, deny, leave it as it is, or refuse with a message naming the option and what to do. Each row runs the
backend in this process (`run_backend`) against the cluster under test and looks at the CSR there afterwards.
"""
# pylint: disable=missing-function-docstring,redefined-outer-name

import base64
import collections
import datetime
import os
import threading

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubeaccess.x509.plugins.module_utils import csr_object
from ansible_collections.kubeaccess.x509.plugins.module_utils.backends import csr_approve
from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import ItemModule, SharedClient
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import public_key_fingerprint
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import remove_material

from tests.contract.support import bind, conditions, create_csr, make_role, rule, wait_for_csr
from tests.kube import CSR_PATH, approve, csr_manifest, make_csr_pem, new_key, wait_for

from tests.unit.backends.backend_support import warnings_of

TOOL = "kubeaccess.x509.k8s_csr_approve"
PendingCsr = collections.namedtuple("PendingCsr", "name user key")


@pytest.fixture
def pending(admin, cleanup, cluster):
    """`pending("base", groups=(), **manifest)`: a new pending CSR for a user of this session, as a PendingCsr
    (name, user, key)."""
    def make(base, groups=(), user=None, **manifest):
        name, user = cluster.name(base), user or cluster.name("rahul")
        return PendingCsr(name, user, create_csr(admin, cleanup, name, user, groups, **manifest)[1])
    return make


@pytest.fixture
def approval(cluster):
    """`approval({...}, check_mode=False, diff=False, batch=False)`: a CsrApproval built as the backend builds it,
    with a real AnsibleModule, the module's CSR reads and the admin connection of the cluster under test."""
    def make(module_args, check_mode=False, diff=False, batch=False):
        args = {"kubeconfig": cluster.kubeconfig, **module_args, "_ansible_check_mode": check_mode,
                "_ansible_diff": diff}
        with patch_module_args(args):
            module = AnsibleModule(**csr_approve.MODULE_ARGS)
        client = SharedClient(module.params)
        return csr_approve.CsrApproval(ItemModule(module, module.params, client),
                                       csr_object.reads(client, batch=batch))
    yield make
    remove_material()


def the_csr(admin, name):
    return admin.json("GET", f"{CSR_PATH}/{name}", expect=200)


def fingerprint(key):
    return public_key_fingerprint(key.public_key())


def request_pem(key, user, groups=()):
    return make_csr_pem(key, user, groups).decode()


def self_signed_certificate(common_name):
    """A certificate of a key that is not the CSR's, as another run could have left in certificate_path."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), fingerprint(key)


# --- Input refused before any CSR is read -------------------------------------------------------------------------

def test_approving_needs_an_expected_user_or_allow_any_user(approval):
    with pytest.raises(csr_approve.Refusal) as refused:
        approval({"name": "any"}).validate()
    assert "expected_user: required to approve" in str(refused.value)
    assert "allow_any_user=true" in str(refused.value)
    approval({"name": "any", "allow_any_user": True}).validate()
    # Denying checks no policy, so it needs no user.
    approval({"name": "any", "state": "denied"}).validate()


def test_every_input_mistake_is_named_at_once(approval, tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(csr_approve.Refusal) as refused:
        approval({"name": "Not_A_Name", "expected_user": "rahul", "expected_request": "not a PEM request",
                  "wait_timeout": -1, "certificate_path": str(tmp_path / "a-file" / "rahul.crt")}).validate()
    message = str(refused.value)
    for part in ("name: 'Not_A_Name' is not a valid object name", "expected_request:",
                 "wait_timeout: must be 0 or more seconds",
                 f"certificate_path: cannot create {tmp_path / 'a-file' / 'rahul.crt'}: {tmp_path / 'a-file'} is not a "
                 "directory"):
        assert part in message


def test_a_batch_item_without_a_name_is_refused_before_any_csr_is_touched(run_backend, admin, pending):
    name, user = pending("batchnoname")[:2]
    result = run_backend(csr_approve, {"csrs": [{"name": name, "expected_user": user}, {"expected_user": user}]})
    assert result["failed"]
    assert "csrs[1]" in result["msg"] and "name: required, the CSR to decide on" in result["msg"]
    assert "Approved" not in conditions(the_csr(admin, name))


def test_a_csr_that_does_not_exist_is_named_with_why_it_may_be_gone(run_backend, cluster):
    name = cluster.name("nonexistent")
    result = run_backend(csr_approve, {"name": name, "allow_any_user": True})
    assert result["failed"]
    assert f"name: CSR {name} does not exist (the cluster deletes CSRs one hour after" in result["msg"]
    assert "give the name of an existing one, as kubectl get csr lists them" in result["msg"]


# --- A pending CSR ---------------------------------------------------------------------------------------------

def test_a_compliant_pending_csr_is_approved_with_the_default_condition(run_backend, admin, pending):
    name, user, key = pending("approve", groups=("developers",))
    result = run_backend(csr_approve, {"name": name, "expected_user": user, "allowed_groups": ["developers"],
                                       "expected_public_key_fingerprint": fingerprint(key)})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] and result["phase"] == "approved"
    assert result["violations"] == []
    assert (result["user"], result["groups"]) == (user, ["developers"])
    approved = conditions(the_csr(admin, name))["Approved"]
    assert approved["reason"] == "KubeaccessApprove"
    assert approved["message"] == f"This CSR was approved by {TOOL}."


def test_the_condition_takes_the_given_reason_and_message(run_backend, admin, pending):
    name, user = pending("approvereason")[:2]
    result = run_backend(csr_approve, {"name": name, "expected_user": user, "condition_reason": "TicketOps1234",
                                       "condition_message": "Approved for OPS-1234."})
    assert result["changed"]
    approved = conditions(the_csr(admin, name))["Approved"]
    assert (approved["reason"], approved["message"]) == ("TicketOps1234", "Approved for OPS-1234.")


def test_check_mode_predicts_the_approval_and_diff_shows_the_condition(run_backend, admin, pending):
    name, user = pending("approvecheck")[:2]
    result = run_backend(csr_approve, {"name": name, "expected_user": user}, check_mode=True, diff=True)
    assert result["changed"] and result["phase"] == "approved"
    assert result["diff"]["before"] == {"conditions": []}
    [added] = result["diff"]["after"]["conditions"]
    assert (added["type"], added["reason"]) == ("Approved", "KubeaccessApprove")
    assert conditions(the_csr(admin, name)) == {}


def test_a_policy_violation_fails_naming_every_broken_rule_and_changes_nothing(run_backend, admin, pending):
    # The API server itself refuses system:masters for this signer; other system: groups reach the policy.
    name, user = pending("violation", groups=("system:nodes", "platform-admins"), expiration=30 * 86400)[:2]
    result = run_backend(csr_approve, {"name": name, "expected_user": user, "forbidden_groups": ["platform-admins"]})
    assert result["failed"] and not result["changed"]
    assert f"CSR {name} breaks the approval policy, not approved: " in result["msg"]
    assert "forbidden_groups: ['system:nodes'] are system: groups" in result["msg"]
    assert "forbidden_groups: ['platform-admins'] are in forbidden_groups" in result["msg"]
    assert "max_expiration_seconds: the CSR asks for 2592000 s, more than 604800 s" in result["msg"]
    assert conditions(the_csr(admin, name)) == {}


def test_weak_key_and_missing_lifetime_are_refused(run_backend, admin, pending):
    """Moved from tests/integration/test_csr_edge_cases.py."""
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = pending("weak", key=weak_key, expiration=None).name
    result = run_backend(csr_approve, {"name": name, "allow_any_user": True})
    assert result["failed"]
    assert "key: RSA 1024 is too weak" in result["msg"]
    assert "require_expiration_seconds:" in result["msg"]
    assert "Approved" not in conditions(the_csr(admin, name))


def test_on_violation_deny_denies_with_the_violations_and_does_not_fail(run_backend, admin, pending, cluster):
    name = pending("sweep", user=cluster.name("mallory")).name
    expected = cluster.name("seema")
    result = run_backend(csr_approve, {"name": name, "expected_user": expected, "on_violation": "deny"})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] and result["phase"] == "denied"
    wrong_user = f"expected_user: the CSR is for CN='{cluster.name('mallory')}', not '{expected}'"
    assert result["violations"] == [wrong_user]
    assert any(f"CSR {name} denied for breaking the policy: {wrong_user}" in w for w in warnings_of(result))
    denied = conditions(the_csr(admin, name))["Denied"]
    assert denied["reason"] == "KubeaccessPolicyViolation"
    assert denied["message"] == f"Denied by {TOOL}: {wrong_user}"


def test_a_pending_csr_for_another_key_than_the_pinned_one_is_not_approved(run_backend, admin, pending):
    name, user = pending("pinpending")[:2]
    other = new_key()
    result = run_backend(csr_approve, {"name": name, "expected_user": user,
                                       "expected_public_key_fingerprint": fingerprint(other),
                                       "expected_request": request_pem(other, user)})
    assert result["failed"]
    assert "expected_public_key_fingerprint: the CSR's key is" in result["msg"]
    assert "expected_request: the CSR is not the request that was validated" in result["msg"]
    assert conditions(the_csr(admin, name)) == {}


def test_a_fingerprint_pin_is_compared_whatever_its_case_and_separators(run_backend, pending):
    name, user, key = pending("pincase")
    pin = fingerprint(key).replace(":", "").lower()
    result = run_backend(csr_approve, {"name": name, "expected_user": user, "expected_public_key_fingerprint": pin})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"]


def test_a_pending_csr_is_denied_with_the_default_condition(run_backend, admin, pending):
    name = pending("deny").name
    result = run_backend(csr_approve, {"name": name, "state": "denied"})
    assert result["changed"] and result["phase"] == "denied"
    assert "violations" not in result  # no policy is evaluated to deny
    denied = conditions(the_csr(admin, name))["Denied"]
    assert (denied["reason"], denied["message"]) == ("KubeaccessDeny", f"This CSR was denied by {TOOL}.")
    again = run_backend(csr_approve, {"name": name, "state": "denied"})
    assert not again.get("failed") and not again["changed"] and again["phase"] == "denied"


@pytest.mark.local_only("holds the approval request with a fault delay while the CSR is swapped")
def test_csr_swapped_between_read_and_approval_is_not_approved(run_backend, admin, pending, cluster):
    """The approval carries the resourceVersion read; the swap makes it a 409, and the re-check refuses B.
    Moved from tests/integration/test_csr_edge_cases.py."""
    name, user = pending("race")[:2]

    def gets():
        return cluster.control("GET", "stats")["counters"].get("get certificatesigningrequests", 0)

    before = gets()
    cluster.control("POST", "faults", {"verb": "update", "resource": "certificatesigningrequests/approval",
                                       "delay": 3.0})

    def swap_after_the_module_reads():
        wait_for(lambda: gets() > before, timeout=60, interval=0.02, what="the module's read")
        admin.request("DELETE", f"{CSR_PATH}/{name}")
        admin.json("POST", CSR_PATH, csr_manifest(name, make_csr_pem(new_key(), "mallory")), expect=201)

    swapper = threading.Thread(target=swap_after_the_module_reads)
    swapper.start()
    try:
        result = run_backend(csr_approve, {"name": name, "expected_user": user})
    finally:
        swapper.join()
        cluster.control("DELETE", "faults")
    assert result["failed"]
    assert "expected_user: the CSR is for CN='mallory'" in result["msg"]
    assert "Approved" not in conditions(the_csr(admin, name))


# --- A CSR someone else already decided --------------------------------------------------------------------------

def test_a_csr_approved_by_someone_else_for_the_pinned_key_is_left_as_it_is(run_backend, admin, pending):
    name, user, key = pending("approvedok")
    approve(admin, name)
    result = run_backend(csr_approve, {"name": name, "expected_user": user,
                                       "expected_public_key_fingerprint": fingerprint(key)})
    assert not result.get("failed"), result.get("msg")
    assert not result["changed"] and result["phase"] in ("approved", "issued")
    assert [c["reason"] for c in the_csr(admin, name)["status"]["conditions"] if c["type"] == "Approved"] == [
        "KubeaccessTest"]


def test_a_csr_approved_by_someone_else_against_the_policy_is_left_with_a_warning(run_backend, admin, pending):
    name = pending("approvedwarn", groups=("platform-admins",)).name
    approve(admin, name)
    result = run_backend(csr_approve, {"name": name, "allow_any_user": True, "forbidden_groups": ["platform-admins"]})
    assert not result.get("failed"), result.get("msg")
    assert not result["changed"]
    assert result["violations"] == ["forbidden_groups: ['platform-admins'] are in forbidden_groups"]
    assert any(f"CSR {name} was already approved although it breaks the policy: forbidden_groups:" in warning
               for warning in warnings_of(result))


@pytest.mark.parametrize("pin", ["expected_public_key_fingerprint", "expected_request"])
def test_a_csr_approved_by_someone_else_for_another_key_fails_and_writes_nothing(run_backend, admin, pending,
                                                                                 tmp_path, pin):
    name, user = pending(f"approvedother{pin[9:12]}")[:2]
    approve(admin, name)
    ours = new_key()
    value = fingerprint(ours) if pin == "expected_public_key_fingerprint" else request_pem(ours, user)
    certificate_path = tmp_path / "rahul.crt"
    result = run_backend(csr_approve, {"name": name, "expected_user": user, pin: value, "wait": True,
                                       "certificate_path": str(certificate_path)})
    assert result["failed"]
    assert "approved by someone else for what the pins do not allow, so its certificate is not ours and is not " \
           "used (nothing written): " + pin + ":" in result["msg"]
    assert not certificate_path.exists()


@pytest.mark.parametrize("current", ["denied", "failed"])
def test_a_denied_or_failed_csr_is_never_approved_and_the_message_says_submit_a_new_one(run_backend, admin, pending,
                                                                                        current):
    if current == "denied":
        name, user = pending("wasdenied")[:2]
        approve(admin, name, ctype="Denied", reason="NotInInventory", message="ask the platform team")
        reason = "reason NotInInventory: ask the platform team"
    else:
        # The client signer refuses 'server auth' and marks the CSR Failed.
        name, user = pending("wasfailed", usages=("client auth", "server auth"))[:2]
        approve(admin, name)
        wait_for_csr(admin, name, lambda csr: "Failed" in conditions(csr), what="the signer's Failed condition")
        reason = "reason SignerValidationFailure"
    result = run_backend(csr_approve, {"name": name, "expected_user": user,
                                       "allowed_usages": ["client auth", "server auth"]})
    assert result["failed"]
    assert f"CSR {name} is {current}, {reason}" in result["msg"]
    assert "The API never lets a decision be reversed; submit a new CSR" in result["msg"]


def test_an_approved_csr_cannot_be_denied_and_the_message_says_how_to_cut_access(run_backend, admin, pending):
    # A signer that does not run: the CSR stays approved, never issued (issued ones: see the test below).
    name = pending("denyapproved", signer="kubeaccess.example.com/not-running").name
    approve(admin, name)
    result = run_backend(csr_approve, {"name": name, "state": "denied"})
    assert result["failed"]
    assert f"CSR {name} is already approved" in result["msg"]
    assert "the API does not allow denying it now" in result["msg"]
    assert "remove the user's RBAC bindings to cut access" in result["msg"]
    assert "Denied" not in conditions(the_csr(admin, name))


# --- A request that cannot be read -----------------------------------------------------------------------------

def unreadable(obj, approved):
    """`obj` with a request no parser reads (the API server refuses to store one, so it is planted in the run's
    reads), pending or approved."""
    planted = dict(obj, spec=dict(obj["spec"], request=base64.b64encode(b"not a request").decode()))
    if approved:
        planted["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Someone"}]}
    return planted


@pytest.mark.parametrize("approved", [False, True])
def test_a_csr_whose_request_cannot_be_read_is_never_approved_nor_used(approval, admin, pending, approved):
    name, user = pending(f"unreadable{int(approved)}")[:2]
    decision = approval({"name": name, "expected_user": user}, check_mode=True, batch=True)
    decision.csrs.get(name)  # the batch's LIST
    decision.csrs.remember(name, unreadable(the_csr(admin, name), approved))
    with pytest.raises(csr_approve.Refusal) as refused:
        decision.decide_and_apply(fresh=False)
    assert "request: the CSR's request cannot be read" in str(refused.value)
    if approved:
        # Without any pin: a certificate for a request nobody can read is for a key nobody can check.
        assert "approved by someone else for what the pins do not allow" in str(refused.value)
    else:
        assert "breaks the approval policy, not approved" in str(refused.value)
    assert not decision.result["changed"]
    assert decision.result["violations"][0].startswith("request: the CSR's request cannot be read")


# --- The decision classes' own steps -------------------------------------------------------------------------------

def test_decide_in_check_mode_changes_nothing_on_the_cluster_but_reports_the_change(approval, admin, pending):
    name, user = pending("decidecheck")[:2]
    decision = approval({"name": name, "expected_user": user}, check_mode=True, diff=True)
    obj = the_csr(admin, name)
    updated = decision.decide(None, obj, "Approved", "Why", "What")  # no client: check mode makes no call
    assert decision.result["changed"]
    assert csr_object.phase(updated) == "approved"
    assert decision.result["diff"]["after"]["conditions"][-1]["reason"] == "Why"
    assert conditions(the_csr(admin, name)) == {}


def test_deny_unless_decided_leaves_a_denied_csr_and_refuses_an_issued_one(approval, admin, pending):
    name = pending("denysteps").name
    decision = approval({"name": name, "state": "denied"})
    obj = the_csr(admin, name)
    denied = dict(obj, status={"conditions": [{"type": "Denied", "status": "True", "reason": "Earlier"}]})
    assert decision.deny_unless_decided(None, denied, "denied") is denied
    with pytest.raises(csr_approve.Refusal) as refused:
        decision.deny_unless_decided(None, obj, "issued")
    assert f"CSR {name} is already issued; the API does not allow denying it now" in str(refused.value)
    assert not decision.result["changed"]


# --- The certificate ------------------------------------------------------------------------------------------

def test_wait_returns_the_verified_certificate_and_stores_it_readable(run_backend, pending, tmp_path):
    name, user, key = pending("issued", groups=("developers",), expiration=3600)
    certificate_path = tmp_path / "rahul.crt"
    result = run_backend(csr_approve, {"name": name, "expected_user": user,
                                       "expected_public_key_fingerprint": fingerprint(key), "wait": True,
                                       "certificate_path": str(certificate_path)})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] and result["phase"] == "issued"
    assert result["verification"]["public_key"] and result["verification"]["subject"]
    assert result["public_key_fingerprint"] == fingerprint(key)
    assert result["common_name"] == user
    assert result["requested_expiration_seconds"] == 3600
    assert certificate_path.read_text() == result["certificate"]
    assert os.stat(certificate_path).st_mode & 0o777 == 0o644
    again = run_backend(csr_approve, {"name": name, "expected_user": user, "wait": True,
                                      "certificate_path": str(certificate_path)})
    assert not again.get("failed"), again.get("msg")
    assert not again["changed"] and again["certificate"] == result["certificate"]


def test_a_certificate_of_another_key_is_replaced_only_when_the_new_key_is_pinned(run_backend, pending, tmp_path):
    name, user, key = pending("otherkey")
    certificate_path = tmp_path / "rahul.crt"
    old_pem, old_fingerprint = self_signed_certificate(user)
    certificate_path.write_bytes(old_pem)
    args = {"name": name, "expected_user": user, "wait": True, "certificate_path": str(certificate_path)}
    refused = run_backend(csr_approve, args)
    assert refused["failed"]
    assert (f"certificate_path: {certificate_path} holds the certificate of another key ({old_fingerprint}), which "
            "would no longer match the key beside it") in refused["msg"]
    assert "give expected_public_key_fingerprint (or expected_request)" in refused["msg"]
    assert certificate_path.read_bytes() == old_pem
    pinned = run_backend(csr_approve, dict(args, expected_public_key_fingerprint=fingerprint(key)))
    assert not pinned.get("failed"), pinned.get("msg")
    assert pinned["changed"] and certificate_path.read_text() == pinned["certificate"]


def test_denying_never_waits_for_a_certificate(run_backend, pending, tmp_path):
    name = pending("denynowait").name
    result = run_backend(csr_approve, {"name": name, "state": "denied", "wait": True,
                                       "certificate_path": str(tmp_path / "x.crt")})
    assert not result.get("failed") and result["phase"] == "denied"
    assert "certificate" not in result and not (tmp_path / "x.crt").exists()


def test_custom_signer_that_is_not_running_times_out_with_the_diagnosis(run_backend, pending):
    """Moved from tests/integration/test_csr_edge_cases.py."""
    signer = "kubeaccess.example.com/not-running"
    name = pending("custom", signer=signer).name
    result = run_backend(csr_approve, {"name": name, "allow_any_user": True, "allowed_signers": [signer],
                                       "wait": True, "wait_timeout": 3})
    assert result["failed"]
    assert f"its signer {signer} issued no certificate within 3 s" in result["msg"]
    assert "raise wait_timeout" in result["msg"] and "kube-controller-manager" not in result["msg"]


def test_signer_failure_ends_the_wait_with_its_reason(run_backend, pending):
    """The client signer refuses 'server auth' and writes a Failed condition; the wait reports it at once.
    Moved from tests/integration/test_csr_edge_cases.py."""
    name = pending("failed", usages=("client auth", "server auth")).name
    result = run_backend(csr_approve, {"name": name, "allow_any_user": True,
                                       "allowed_usages": ["client auth", "server auth"], "wait": True,
                                       "wait_timeout": 60})
    assert result["failed"]
    assert (f"CSR {name} is failed, reason SignerValidationFailure: invalid usage for client certificate"
            in result["msg"])


# --- The connection ------------------------------------------------------------------------------------------

def test_missing_permissions_are_named(run_backend, admin, cleanup, pending, cluster):
    """Moved from tests/integration/test_csr_edge_cases.py."""
    name = pending("perm").name
    approver = cluster.name("approver")
    approver_kubeconfig = cluster.make_user(approver)
    nothing = run_backend(csr_approve, {"name": name, "allow_any_user": True, "kubeconfig": approver_kubeconfig})
    assert "HTTP 403" in nothing["msg"]
    assert ('Missing permission: get on certificatesigningrequests in API group "certificates.k8s.io" at the '
            "cluster scope") in nothing["msg"]
    role = make_role(admin, cleanup, [rule(["certificates.k8s.io"], ["certificatesigningrequests"], ["get"]),
                                      rule(["certificates.k8s.io"], ["certificatesigningrequests/approval"],
                                           ["update"])])
    bind(admin, cleanup, [("User", approver)], role)
    no_signer = run_backend(csr_approve, {"name": name, "allow_any_user": True, "kubeconfig": approver_kubeconfig})
    assert ('Missing permission: approve on signers (resourceNames: ["kubernetes.io/kube-apiserver-client"]) '
            'in API group "certificates.k8s.io"') in no_signer["msg"]
    assert "Approved" not in conditions(the_csr(admin, name))


def test_unreachable_server_is_named(run_backend, cluster, tmp_path):
    """Moved from tests/integration/test_csr_edge_cases.py."""
    kubeconfig = kubeconfig_variant(cluster, tmp_path, "unreachable", server="https://127.0.0.1:9")
    result = run_backend(csr_approve, {"name": "any", "allow_any_user": True, "kubeconfig": kubeconfig})
    assert result["failed"]
    assert "cannot reach the API server at https://127.0.0.1:9" in result["msg"]


@pytest.mark.local_only("answers every request with 503")
def test_retries_are_bounded(run_backend, cluster):
    """Moved from tests/integration/test_csr_edge_cases.py."""
    cluster.control("POST", "faults", {"status": 503, "retry_after": 0, "count": 0,
                                       "resource": "certificatesigningrequests"})
    try:
        result = run_backend(csr_approve, {"name": "any", "allow_any_user": True})
    finally:
        cluster.control("DELETE", "faults")
    assert result["failed"]
    assert "HTTP 503" in result["msg"]


def kubeconfig_variant(cluster, tmp_path, name, **cluster_fields):
    """A copy of the admin kubeconfig with some fields of its cluster entry replaced."""
    with open(cluster.kubeconfig, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    next(c for c in config["clusters"] if c["name"] == context["cluster"])["cluster"].update(cluster_fields)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return str(path)
