"""plugins/plugin_utils/access_approvals.py with a real plan: which pending requests approve.yml decides and how
(each user's policy pinned to the request's key, denial of a request replaced under a user's name or labelled as the
inventory's for someone it does not have), and each user's outcome from what k8s_csr_approve returned."""
# pylint: disable=missing-function-docstring

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import default_name
from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_approvals
from tests.unit.access_support import entry_of, looped, make_plan, one_cluster

USERS = {"rahul": {"user_access_groups": ["developers"]}, "seema": {"user_access_groups": ["developers"]}}
FP_RAHUL = "ab" * 32
FP_OTHER = "cd" * 32
REQUESTER = "kubeaccess-requester"


def manual_plan(tmp_path, run=None):
    clusters = one_cluster(approval="manual", requesters=[REQUESTER], policy={"max_expiration_seconds": 86400})
    the_plan = make_plan(tmp_path, USERS, clusters=clusters, inventory="team-a", run=run)
    assert not the_plan["errors"], the_plan["errors"]
    return dict(the_plan, settings={"clusters": clusters, "inventory": "team-a"})


def csr(user, fingerprint, name=None, phase="pending", inventory="team-a", groups=("developers",),
        requester=REQUESTER):
    return {"name": name or default_name(user, fingerprint), "user": user, "groups": list(groups), "phase": phase,
            "public_key_fingerprint": fingerprint, "managed_by": "kubeaccess.x509", "inventory": inventory,
            "requester": requester}


def access(*csrs):
    return looped({"local": {"changed": False, "bindings": [], "csrs": list(csrs)}})


def test_a_request_made_by_anyone_but_a_requester_is_denied_naming_who_made_it(tmp_path):
    """Its name matches its key and it carries the labels: someone who may create CSRs made it with a key of their
    own for an inventory user."""
    the_plan = manual_plan(tmp_path)
    forged = csr("rahul", FP_OTHER, requester="mallory")
    items = access_approvals.pending_items(the_plan, "local", access(forged), True)
    assert items == [{"name": forged["name"], "state": "denied", "condition_reason": "KubeaccessUnknownRequester",
                      "condition_message": "Denied by playbooks/approve.yml: it was made by mallory, who is not one "
                                           "of the requesters of cluster local (kubeaccess-requester); only their "
                                           "requests are approved."}]


def test_each_users_request_under_the_users_policy_pinned_to_its_key(tmp_path):
    the_plan = manual_plan(tmp_path)
    items = access_approvals.pending_items(the_plan, "local", access(csr("rahul", FP_RAHUL)), True)
    policy = entry_of(the_plan, "rahul")["approval_policy"]
    assert items == [dict({k: v for k, v in policy.items() if k != "certificate_path"},
                          name=default_name("rahul", FP_RAHUL), expected_public_key_fingerprint=FP_RAHUL,
                          on_violation="deny", wait=False)]
    assert items[0]["expected_user"] == "rahul" and items[0]["allowed_groups"] == ["developers"]
    assert items[0]["max_expiration_seconds"] == 86400


def test_what_is_not_a_pending_request_of_this_inventory_is_left_alone(tmp_path):
    the_plan = manual_plan(tmp_path)
    untouched = access(csr("rahul", FP_RAHUL, phase="issued"), csr("rahul", FP_OTHER, inventory="team-b"),
                       dict(csr("seema", FP_OTHER), managed_by=None))
    assert access_approvals.pending_items(the_plan, "local", untouched, True) == []
    assert access_approvals.pending_items(the_plan, "local", {"results": [
        {"item": {"key": "local"}, "failed": True, "msg": "forbidden"}]}, True) == []


def test_a_request_replaced_under_a_users_name_is_denied(tmp_path):
    the_plan = manual_plan(tmp_path)
    replaced = csr("rahul", FP_OTHER, name=default_name("rahul", FP_RAHUL))
    (item,) = access_approvals.pending_items(the_plan, "local", access(replaced), True)
    assert item["state"] == "denied" and item["condition_reason"] == "KubeaccessNameMismatch"
    assert default_name("rahul", FP_OTHER) in item["condition_message"]


def test_a_labelled_request_for_a_user_outside_the_inventory_is_denied_on_whole_runs_only(tmp_path):
    the_plan = manual_plan(tmp_path)
    stranger = access(csr("mallory", FP_OTHER))
    (item,) = access_approvals.pending_items(the_plan, "local", stranger, True)
    assert item == {"name": default_name("mallory", FP_OTHER), "state": "denied",
                    "condition_reason": "KubeaccessNotInInventory",
                    "condition_message": "Denied by playbooks/approve.yml: mallory is not a user of the inventory "
                                         "team-a, whose label this request carries."}
    # With -e user=rahul, seema is outside the run but in the inventory: never denied as a stranger.
    limited = manual_plan(tmp_path, run=["rahul"])
    assert access_approvals.pending_items(limited, "local", stranger, False) == []
    assert access_approvals.pending_items(limited, "local", access(csr("seema", FP_OTHER)), False) == []
    # A user the plan refuses is the inventory's all the same: left pending, the user's outcome says why.
    refused = make_plan(tmp_path, dict(USERS, seema={"user_access_groups": ["nobody-grants-this"]}),
                        clusters=one_cluster(approval="manual"), inventory="team-a")
    refused = dict(refused, settings={"inventory": "team-a"})
    assert refused["hosts"]["seema"]["errors"]
    assert access_approvals.pending_items(refused, "local", access(csr("seema", FP_OTHER)), True) == []


def test_outcomes_per_user(tmp_path):
    the_plan = manual_plan(tmp_path)
    rahul_csr, seema_csr = csr("rahul", FP_RAHUL), csr("seema", FP_OTHER)
    decided = looped({"local": {"results": [
        {"name": rahul_csr["name"], "phase": "approved", "changed": True, "user": "rahul"},
        {"name": seema_csr["name"], "phase": "denied", "changed": True, "user": "seema",
         "violations": ["allowed_groups: admins is not allowed"]}]}})
    outcomes = access_approvals.outcomes(the_plan, access(rahul_csr, seema_csr), decided)
    assert outcomes["rahul"] == {"changed": True, "failed": False, "msg": [
        f"rahul@local: CSR {rahul_csr['name']} approved under the policy (groups developers); the next onboarding run "
        "writes the kubeconfig"]}
    assert outcomes["seema"]["failed"] and outcomes["seema"]["msg"] == [
        f"seema@local: CSR {seema_csr['name']} denied: allowed_groups: admins is not allowed"]

    nothing = access_approvals.outcomes(the_plan, access(), {"results": []})
    assert nothing["rahul"] == {"changed": False, "failed": False,
                                "msg": ["rahul@local: no request waits for approval"]}
    unread = access_approvals.outcomes(the_plan, {"results": [
        {"item": {"key": "local"}, "failed": True, "msg": "403 forbidden"}]}, {"results": []})
    assert unread["rahul"]["failed"] and "403 forbidden" in unread["rahul"]["msg"][0]
    undecided = access_approvals.outcomes(the_plan, access(rahul_csr), looped({"local": {"results": [
        {"name": rahul_csr["name"], "failed": True, "msg": "conflict"}]}}))
    assert undecided["rahul"]["failed"] and undecided["rahul"]["msg"] == [
        f"rahul@local: CSR {rahul_csr['name']} could not be decided: conflict"]


def test_requests_denied_as_nobodys_are_named(tmp_path):
    the_plan = manual_plan(tmp_path)
    decided = looped({"local": {"results": [
        {"name": "mallory-1", "phase": "denied", "user": "mallory", "changed": True},
        {"name": "rahul-1", "phase": "denied", "user": "rahul", "changed": True}]}})
    assert access_approvals.foreign_denials(the_plan, decided) == [
        "local: CSR mallory-1 for mallory denied: not a user of this inventory"]


# == self-service requests ===========================================================================================

def self_service_plan(tmp_path):
    users = dict(USERS, rahul={"user_access_groups": ["developers"], "user_access_self_service": True})
    clusters = one_cluster(policy={"max_expiration_seconds": 86400}, self_service_namespace="ss")
    the_plan = make_plan(tmp_path, users, clusters=clusters, inventory="team-a")
    assert not the_plan["errors"], the_plan["errors"]
    return dict(the_plan, settings={"clusters": clusters, "inventory": "team-a"})


def self_service_csr(name="kubeaccess-self-service-rahul", user="rahul", requester="system:serviceaccount:ss:"
                     "kubeaccess-rahul", groups=("developers",)):
    """A request the account made itself: no inventory label, its key unknown to the approver."""
    return dict(csr(user, FP_OTHER, name=name, groups=groups), managed_by=None, inventory=None, requester=requester)


def test_a_self_service_request_is_checked_against_what_the_account_publishes(tmp_path):
    """Found by who made it (spec.username, set by the API server), checked as the user's: name and groups."""
    the_plan = self_service_plan(tmp_path)
    (item,) = access_approvals.pending_items(the_plan, "local", access(self_service_csr()), True)
    assert (item["name"], item["expected_user"], item["allowed_groups"], item["on_violation"]) == (
        "kubeaccess-self-service-rahul", "rahul", ["developers"], "deny")
    assert item["max_expiration_seconds"] == 86400 and "expected_public_key_fingerprint" not in item


def test_a_self_service_request_under_another_name_is_denied_and_others_requests_are_not_taken_for_it(tmp_path):
    the_plan = self_service_plan(tmp_path)
    (item,) = access_approvals.pending_items(the_plan, "local", access(self_service_csr(name="rahul-admin")), True)
    assert item["state"] == "denied" and "is named kubeaccess-self-service-rahul" in item["condition_message"]
    # The same name and CN from anyone but the account: not a self-service request (nor the inventory's).
    foreign = self_service_csr(requester="system:serviceaccount:ss:kubeaccess-seema")
    assert access_approvals.pending_items(the_plan, "local", access(foreign), True) == []


def test_a_self_service_users_outcome_names_the_decision_and_who_writes_the_kubeconfig(tmp_path):
    the_plan = self_service_plan(tmp_path)
    decided = looped({"local": {"changed": True, "results": [
        {"name": "kubeaccess-self-service-rahul", "phase": "approved", "changed": True}]}})
    outcome = access_approvals.outcomes(the_plan, access(self_service_csr()), decided)["rahul"]
    assert outcome["changed"] and not outcome["failed"]
    assert outcome["msg"] == ["rahul@local: CSR kubeaccess-self-service-rahul approved under the policy (groups "
                              "developers); the user's next run of playbooks/request.yml writes the kubeconfig"]


def test_onboarding_decides_self_service_requests_only_where_approval_is_automatic(tmp_path):
    the_plan = self_service_plan(tmp_path)
    (item,) = access_approvals.onboarding_items(the_plan, "local", access(self_service_csr()))
    assert (item["name"], item["expected_user"], item["on_violation"]) == (
        "kubeaccess-self-service-rahul", "rahul", "deny")
    manual = dict(the_plan, settings={"clusters": {"local": {"approval": "manual"}}, "inventory": "team-a"})
    assert access_approvals.onboarding_items(manual, "local", access(self_service_csr())) == []
