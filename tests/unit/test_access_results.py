"""plugins/plugin_utils/access_results.py and the access_results filters: what the role's steps returned, read back.

Each step is a module call per cluster whose item results come back in a list. They are matched to the plan by key
(requests by user, approvals by CSR name, kubeconfigs by user, requests made on users' machines by key path), so
the approvals, kubeconfigs and each user's own outcome stay right whatever order the results come in, when an item
failed (that user alone fails, and their later steps are skipped) or when a cluster's call was skipped.
"""

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kubeaccess.x509.plugins.filter import access_results as results_filter
from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import (
    batch_argument_spec, identity_of, item_params)
from ansible_collections.kubeaccess.x509.plugins.module_utils.backends import csr_request
from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_results
from ansible_collections.kubeaccess.x509.tests.unit.access_support import (
    SERVER, admin_kubeconfig, entry_of, example_inventory, failed_item, make_ca, make_plan, registered,
    request_result)


@pytest.fixture(name="ca", scope="module")
def ca_fixture():
    """The CA of the cluster's admin kubeconfig."""
    return make_ca()


def two_cluster_plan(tmp_path, **prod):
    """The example inventory (rahul, seema on `local`, auto approval, 24h policy) plus a cluster `prod`."""
    users, clusters, grants = example_inventory()
    clusters["prod"] = dict({"kubeconfig": "/etc/prod.conf", "policy": {"forbidden_groups": ["admins"]}}, **prod)
    return make_plan(tmp_path, users, clusters, grants)


def shuffled(per_cluster):
    """The same results per cluster, in the reverse order of the plan's."""
    return {cluster: list(reversed(items)) for cluster, items in per_cluster.items()}


def both_orders(per_cluster, skipped=()):
    """The registered results in the plan's order and in another."""
    return [registered(per_cluster, skipped), registered(shuffled(per_cluster), skipped)]


def issued(user, name, not_after="2030-01-01T00:00:00Z", **extra):
    """A request whose certificate is issued (and current)."""
    return request_result(user, name, "issued", not_after=not_after, **extra)


def approval(name, phase="issued", changed=True, **extra):
    """One item of k8s_csr_approve's batch result."""
    return dict({"name": name, "phase": phase, "changed": changed}, **extra)


def kubeconfig(tmp_path, user, cluster="local", changed=False, **extra):
    """One item of k8s_kubeconfig_user's batch result."""
    return dict({"user": user, "path": f"{tmp_path}/{user}/kubeconfig", "cluster_name": cluster,
                 "user_name": f"{user}@{cluster}", "changed": changed}, **extra)


def binding_results(*changed):
    """k8s_rbac_binding's items on `local`: (namespace, name) of each changed binding."""
    return registered({"local": [{"name": name, "namespace": namespace, "changed": True, "action": "update"}
                                 if namespace else {"name": name, "changed": True, "action": "update"}
                                 for namespace, name in changed]})


LOCAL_DONE = [request_result("rahul", "rahul-1a2b", "pending", changed=True), issued("seema", "seema-3c4d")]


# == approval_items ===================================================================================================

@pytest.mark.parametrize("order", ["plan", "shuffled"])
def test_approval_items_for_requests_waiting_for_approval(tmp_path, order):
    """Each pending or approved request is approved under its own user's pins, found by user, not by position."""
    the_plan = two_cluster_plan(tmp_path)
    per_cluster = {"local": LOCAL_DONE, "prod": [request_result("rahul", "rahul-5e6f", "approved"),
                                                 request_result("seema", "seema-7a8b", "pending")]}
    requests = registered(per_cluster if order == "plan" else shuffled(per_cluster))
    assert access_results.approval_items(the_plan, "local", requests) == [{
        "name": "rahul-1a2b", "expected_public_key_fingerprint": "fp:rahul-1a2b", "expected_user": "rahul",
        "allowed_groups": ["developers"], "certificate_path": f"{tmp_path}/rahul/local.crt", "wait": True,
        "wait_timeout": 120, "max_expiration_seconds": 86400,
    }]
    prod = access_results.approval_items(the_plan, "prod", requests)
    assert [(i["name"], i["expected_user"], i["allowed_groups"], i["expected_public_key_fingerprint"])
            for i in prod] == [("rahul-5e6f", "rahul", ["developers"], "fp:rahul-5e6f"),
                               ("seema-7a8b", "seema", ["app1-devs", "platform-team"], "fp:seema-7a8b")]
    assert all(i["forbidden_groups"] == ["admins"] and "max_expiration_seconds" not in i for i in prod)
    assert prod[1]["certificate_path"] == f"{tmp_path}/seema/prod.crt"


@pytest.mark.parametrize("phase", ["issued", "denied", "failed", "absent", None])
def test_no_approval_for_other_phases(tmp_path, phase):
    """Only a request waiting for approval is approved."""
    the_plan = two_cluster_plan(tmp_path)
    requests = registered({"local": [request_result("rahul", "rahul-1a2b", phase),
                                     request_result("seema", "seema-3c4d", phase)]})
    assert access_results.approval_items(the_plan, "local", requests) == []


def test_no_approval_for_a_request_without_a_name(tmp_path):
    """In check mode before the key exists the request has no name yet: nothing to approve."""
    the_plan = two_cluster_plan(tmp_path)
    requests = registered({"local": [request_result("rahul", "", "pending", changed=True),
                                     request_result("seema", "seema-3c4d", "pending")]})
    assert [i["name"] for i in access_results.approval_items(the_plan, "local", requests)] == ["seema-3c4d"]


def test_no_approval_for_a_failed_request(tmp_path):
    """rahul's request item failed: no approval for him, seema's goes ahead."""
    the_plan = two_cluster_plan(tmp_path)
    for requests in both_orders({"local": [failed_item("forbidden", user="rahul"),
                                           request_result("seema", "seema-3c4d", "pending")]}):
        assert [i["expected_user"] for i in access_results.approval_items(the_plan, "local", requests)] == ["seema"]


def test_no_approval_on_a_manual_cluster(tmp_path):
    """approval: manual leaves pending requests to a person."""
    the_plan = two_cluster_plan(tmp_path, approval="manual", requesters=["ci"])
    requests = registered({"local": [request_result("rahul", "rahul-1a2b", "pending")],
                           "prod": [request_result("rahul", "rahul-5e6f", "pending"),
                                    request_result("seema", "seema-7a8b", "pending")]})
    assert access_results.approval_items(the_plan, "prod", requests) == []
    assert len(access_results.approval_items(the_plan, "local", requests)) == 1


def test_no_approval_for_a_skipped_or_missing_cluster(tmp_path):
    """A cluster's call was skipped (no requests) or nothing was registered at all."""
    the_plan = two_cluster_plan(tmp_path)
    requests = registered({"local": [request_result("rahul", "rahul-1a2b", "pending")]}, skipped=["prod"])
    assert access_results.approval_items(the_plan, "prod", requests) == []
    assert access_results.approval_items(the_plan, "prod", {}) == []
    assert access_results.approval_items(the_plan, "prod", None) == []


def test_approval_items_only_for_the_users_of_the_run(tmp_path):
    """A result for a user outside the run approves nothing."""
    users, clusters, grants = example_inventory()
    the_plan = make_plan(tmp_path, users, clusters, grants, run={"seema"})
    items = access_results.approval_items(the_plan, "local", registered({"local": [
        request_result("rahul", "rahul-1a2b", "pending"), request_result("seema", "seema-3c4d", "pending")]}))
    assert [(i["name"], i["expected_user"]) for i in items] == [("seema-3c4d", "seema")]


# == kubeconfig_items =================================================================================================

def test_kubeconfig_items_only_for_users_holding_a_certificate(tmp_path):
    """Issued by the request (current) or by the approval; a pending or denied request gets no kubeconfig."""
    the_plan = two_cluster_plan(tmp_path)
    requests = registered({
        "local": LOCAL_DONE,
        "prod": [request_result("rahul", "rahul-5e6f", "pending"), request_result("seema", "seema-7a8b", "denied")],
    })
    approvals = registered({"local": [approval("rahul-1a2b")], "prod": [approval("rahul-5e6f", "pending", False)]})
    local = access_results.kubeconfig_items(the_plan, "local", requests, approvals, registered({}), "changed")
    assert [i["user"] for i in local] == ["rahul", "seema"]
    assert local[0] == {
        "path": f"{tmp_path}/rahul/kubeconfig", "user": "rahul", "cluster": "local", "namespace": "dev",
        "client_certificate_path": f"{tmp_path}/rahul/local.crt",
        "client_key_path": f"{tmp_path}/rahul/local.key", "expected_groups": ["developers"],
        "verify": True, "verify_only_if_changed": False,
        "expected_access": entry_of(the_plan, "rahul")["expect"],
    }
    assert local[1]["namespace"] == "app1" and local[1]["expected_groups"] == ["app1-devs", "platform-team"]
    assert access_results.kubeconfig_items(the_plan, "prod", requests, approvals, registered({}), "changed") == []


def test_a_rotated_key_goes_into_the_kubeconfig_and_replaces_the_old_one_once_it_is_written(tmp_path):
    """During a rotation the kubeconfig is written with the new key (<key>.next); it replaces the old key only for a
    user whose kubeconfig step succeeded, never for one whose kubeconfig failed or was not written."""
    the_plan = two_cluster_plan(tmp_path)
    staged = {user: f"{tmp_path}/{user}/local.key.next" for user in ("rahul", "seema")}
    requests = registered({"local": [
        issued(user, f"{user}-9c9c", changed=True, next_private_key_path=staged[user]) for user in ("rahul", "seema")]})
    items = access_results.kubeconfig_items(the_plan, "local", requests, registered({}), registered({}), "changed")
    assert [i["client_key_path"] for i in items] == [staged["rahul"], staged["seema"]]

    written = registered({"local": [kubeconfig(tmp_path, "rahul", changed=True, verified=True),
                                    failed_item("the new credentials are not what was expected", user="seema")]})
    assert list(access_results.rotated_keys(the_plan, "local", requests, written)) == [
        (staged["rahul"], f"{tmp_path}/rahul/local.key")]
    assert list(access_results.rotated_keys(the_plan, "local", requests, registered({}))) == []
    assert list(access_results.rotated_keys(the_plan, "local", registered({"local": LOCAL_DONE}), written)) == []


def test_no_kubeconfig_items_while_a_manual_approval_is_pending(tmp_path):
    """The approval step was skipped on the manual cluster: nothing to write yet."""
    the_plan = two_cluster_plan(tmp_path, approval="manual", requesters=["ci"])
    requests = registered({"prod": [request_result("rahul", "rahul-5e6f", "pending", changed=True),
                                    request_result("seema", "seema-7a8b", "approved")]})
    assert access_results.kubeconfig_items(the_plan, "prod", requests, registered({}, skipped=["prod"]),
                                           registered({}), "always") == []


@pytest.mark.parametrize("failure", [
    failed_item("the certificate did not come", name="rahul-1a2b"),
    failed_item("the issued certificate is not for the pinned key", name="rahul-1a2b", phase="issued"),
], ids=["nothing issued", "issued but refused"])
def test_a_failed_approval_skips_that_users_kubeconfig(tmp_path, failure):
    """rahul's approval failed (or his request did), even with a certificate issued: no kubeconfig for him;
    seema's is written."""
    the_plan = two_cluster_plan(tmp_path)
    for requests, approvals in zip(both_orders({"local": LOCAL_DONE}), both_orders({"local": [failure]})):
        items = access_results.kubeconfig_items(the_plan, "local", requests, approvals, None, "changed")
        assert [i["user"] for i in items] == ["seema"]
    requests = registered({"local": [failed_item("cannot write the certificate", user="rahul", phase="issued"),
                                     issued("seema", "seema-3c4d")]})
    items = access_results.kubeconfig_items(the_plan, "local", requests, registered({}), None, "changed")
    assert [i["user"] for i in items] == ["seema"]


VERIFY_CASES = [
    # verify, what changed in this run, expected (verify, verify_only_if_changed)
    ("changed", "nothing", (True, True)),
    ("changed", "request", (True, False)),
    ("changed", "approval", (True, False)),
    ("changed", "bindings", (True, False)),
    ("changed", "bindings of another cluster", (True, True)),
    ("always", "nothing", (True, False)),
    ("always", "request", (True, False)),
    ("never", "nothing", (False, False)),
    ("never", "request", (False, False)),
    ("never", "bindings", (False, False)),
]


@pytest.mark.parametrize("verify, changed, expected", VERIFY_CASES)
def test_kubeconfig_verification(tmp_path, verify, changed, expected):
    """user_access_verify: changed verifies a kubeconfig when anything of the user's changed on its cluster."""
    clusters = {"local": {"kubeconfig": "/etc/local.conf"}, "prod": {"kubeconfig": "/etc/prod.conf"}}
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, clusters)
    requests = registered({"local": [request_result("rahul", "rahul-1a2b", "pending",
                                                    changed=changed == "request")]})
    approvals = registered({"local": [approval("rahul-1a2b", changed=changed == "approval")]})
    changed_on = {"bindings": ["local"], "bindings of another cluster": ["prod"]}.get(changed, [])
    bindings = {"results": [{"item": {"key": c}, "changed": c in changed_on, "results": []}
                            for c in ("local", "prod")]}
    items = access_results.kubeconfig_items(the_plan, "local", requests, approvals, bindings, verify)
    assert [(i["verify"], i["verify_only_if_changed"]) for i in items] == [expected]


def test_kubeconfig_items_when_the_binding_step_did_not_run(tmp_path):
    """renew.yml leaves RBAC alone: no registered bindings at all."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}})
    requests = registered({"local": [issued("rahul", "rahul-1a2b")]})
    items = access_results.kubeconfig_items(the_plan, "local", requests, registered({}, skipped=["local"]), None,
                                            "changed")
    assert [(i["user"], i["verify"], i["verify_only_if_changed"]) for i in items] == [("rahul", True, True)]


def test_each_user_is_matched_to_their_own_approval(tmp_path):
    """Only seema's approval changed: only she is verified regardless, in whatever order the results come."""
    users, clusters, grants = example_inventory()
    the_plan = make_plan(tmp_path, users, clusters, grants)
    requests = {"local": [issued("rahul", "rahul-1a2b"), request_result("seema", "seema-3c4d", "pending")]}
    approvals = {"local": [approval("seema-3c4d"), approval("someone-else-0000", changed=False)]}
    for registered_requests, registered_approvals in zip(both_orders(requests), both_orders(approvals)):
        items = access_results.kubeconfig_items(the_plan, "local", registered_requests, registered_approvals,
                                                registered({}), "changed")
        assert [(i["user"], i["verify_only_if_changed"]) for i in items] == [("rahul", True), ("seema", False)]


# == each user's outcome ==============================================================================================

def summary_results(tmp_path):
    """Results of a run on two clusters, prod with manual approval: (requests, approvals, kubeconfigs)."""
    requests = {
        "local": [request_result("rahul", "rahul-1a2b", "pending", changed=True),
                  issued("seema", "seema-3c4d", not_after="2030-01-02T03:04:05Z")],
        "prod": [request_result("rahul", "rahul-5e6f", "pending", changed=True),
                 request_result("seema", "seema-7a8b", "approved")],
    }
    approvals = {"local": [approval("rahul-1a2b", not_after="2030-01-01T00:00:00Z")]}
    kubeconfigs = {"local": [kubeconfig(tmp_path, "rahul", changed=True,
                                        verified={"username": "rahul", "groups": ["developers"]}),
                             kubeconfig(tmp_path, "seema")]}
    return requests, approvals, kubeconfigs


def test_outcomes_say_what_each_user_has_on_each_cluster(tmp_path):
    """One line per cluster in the user's own outcome: groups, kubeconfig (verified), NotAfter or what the
    certificate waits for (with the kubectl command on a manual cluster), bindings; changed when anything of the
    user's changed."""
    the_plan = two_cluster_plan(tmp_path, approval="manual", requesters=["ci"])
    requests, approvals, kubeconfigs = summary_results(tmp_path)
    outcomes = access_results.outcomes(the_plan, registered(requests), registered(approvals, skipped=["prod"]),
                                       registered(kubeconfigs, skipped=["prod"]), None)
    assert outcomes == {
        "rahul": {"changed": True, "failed": False, "msg": [
            f"rahul@local: groups developers; kubeconfig {tmp_path}/rahul/kubeconfig verified; NotAfter "
            "2030-01-01T00:00:00Z; bindings kubeaccess-group-developers-edit (dev)",
            f"rahul@prod: groups developers; kubeconfig {tmp_path}/rahul/kubeconfig; certificate pending (CSR "
            "rahul-5e6f: an approver decides it under the policy with playbooks/approve.yml); bindings "
            "kubeaccess-group-developers-edit (dev)"]},
        "seema": {"changed": False, "failed": False, "msg": [
            f"seema@local: groups app1-devs, platform-team; kubeconfig {tmp_path}/seema/kubeconfig; NotAfter "
            "2030-01-02T03:04:05Z; bindings kubeaccess-group-app1-devs-edit (app1), "
            "kubeaccess-group-platform-team-view (cluster-wide)",
            f"seema@prod: groups app1-devs, platform-team; kubeconfig {tmp_path}/seema/kubeconfig; certificate "
            "approved; bindings kubeaccess-group-app1-devs-edit (app1), kubeaccess-group-platform-team-view "
            "(cluster-wide)"]},
    }


def test_outcomes_do_not_depend_on_the_order_of_the_results(tmp_path):
    """The same results in another order give every user the same outcome."""
    the_plan = two_cluster_plan(tmp_path, approval="manual", requesters=["ci"])
    requests, approvals, kubeconfigs = summary_results(tmp_path)
    approvals["local"].append(approval("someone-else-0000", changed=False))
    in_order = access_results.outcomes(the_plan, registered(requests), registered(approvals),
                                       registered(kubeconfigs), None)
    reordered = access_results.outcomes(the_plan, registered(shuffled(requests)), registered(shuffled(approvals)),
                                        registered(shuffled(kubeconfigs)), None)
    assert reordered == in_order


@pytest.mark.parametrize("step, requests, approvals, kubeconfigs", [
    ("certificate request", [failed_item("the API refused it", user="rahul")], [], []),
    ("approval", [request_result("rahul", "rahul-1a2b", "pending", changed=True)],
     [failed_item("the API refused it", name="rahul-1a2b")], []),
    ("kubeconfig", [issued("rahul", "rahul-1a2b")], [], [failed_item("the API refused it", user="rahul")]),
], ids=["request", "approval", "kubeconfig"])
def test_a_failed_step_fails_that_user_alone(tmp_path, step, requests, approvals, kubeconfigs):
    """rahul's item of a step failed: rahul fails naming the step and the message; seema, done in the same calls
    (her results listed first), is unaffected."""
    the_plan = make_plan(tmp_path, *example_inventory())
    seema = (issued("seema", "seema-3c4d"), approval("seema-3c4d", changed=False), kubeconfig(tmp_path, "seema"))
    outcomes = access_results.outcomes(
        the_plan, registered({"local": [seema[0]] + requests}), registered({"local": [seema[1]] + approvals}),
        registered({"local": [seema[2]] + kubeconfigs}), None)
    assert outcomes["rahul"]["failed"] is True
    assert outcomes["rahul"]["msg"][0] == f"rahul@local: the {step} failed: the API refused it"
    assert outcomes["rahul"]["msg"][1].startswith("rahul@local: groups developers;")
    assert outcomes["seema"]["failed"] is False and len(outcomes["seema"]["msg"]) == 1


def test_refused_users_fail_and_nothing_of_theirs_changed(tmp_path):
    """bob's entry was refused by the plan: his outcome fails with every reason; the others' are theirs."""
    users, clusters, grants = example_inventory()
    users["bob"] = {"user_access_groups": ["qa"], "user_access_namespace": "Dev"}
    the_plan = make_plan(tmp_path, users, clusters, grants)
    outcomes = access_results.outcomes(the_plan, registered({"local": LOCAL_DONE}), registered({}),
                                       registered({}), None)
    assert outcomes["bob"] == {"changed": False, "failed": True, "msg": (
        "bob: refused, nothing of theirs was changed: bob: user_access_groups: group 'qa' has no grants; add it to "
        "user_access_group_grants (e.g. qa: [{cluster_role: view, namespace: dev}]) or remove it from the user | "
        "bob: user_access_namespace: 'Dev' is not a namespace name: use at most 63 lower-case letters, digits and '-', "
        "starting and ending with a letter or digit")}
    assert outcomes["rahul"]["failed"] is False and outcomes["seema"]["failed"] is False


@pytest.mark.parametrize("changed_binding, changed_user", [
    ((("dev", "kubeaccess-group-developers-edit"),), "rahul"),
    ((("app1", "kubeaccess-group-app1-devs-edit"),), "seema"),
    (((None, "kubeaccess-group-platform-team-view"),), "seema"),
    (((None, "kubeaccess-user-seema-view"),), "seema"),
], ids=["rahul's group", "seema's group", "a cluster-wide grant of seema's group", "seema by name"])
def test_a_changed_binding_changes_the_users_it_grants_and_nobody_else(tmp_path, changed_binding, changed_user):
    """Nothing else of theirs changed: the user a changed binding grants (by group or by name) is changed, the
    other is not."""
    users, clusters, grants = example_inventory()
    users["seema"]["user_access_grants"] = [{"cluster_role": "view"}]
    the_plan = make_plan(tmp_path, users, clusters, grants)
    requests = registered({"local": [issued("rahul", "rahul-1a2b"), issued("seema", "seema-3c4d")]})
    outcomes = access_results.outcomes(the_plan, requests, registered({}), registered({}),
                                       binding_results(*changed_binding))
    assert {host: outcome["changed"] for host, outcome in outcomes.items()} == {
        "rahul": changed_user == "rahul", "seema": changed_user == "seema"}


def test_a_binding_of_the_same_name_in_another_namespace_changes_nobody(tmp_path):
    """Bindings are matched by namespace and name."""
    the_plan = make_plan(tmp_path, *example_inventory())
    requests = registered({"local": [issued("rahul", "rahul-1a2b"), issued("seema", "seema-3c4d")]})
    outcomes = access_results.outcomes(the_plan, requests, registered({}), registered({}),
                                       binding_results(("app1", "kubeaccess-group-developers-edit")))
    assert [outcome["changed"] for outcome in outcomes.values()] == [False, False]


def test_a_stale_pending_csr_deleted_is_in_the_users_lines(tmp_path):
    """The request step deleted rahul's stale pending CSR: his outcome says so and counts as changed."""
    the_plan = make_plan(tmp_path, *example_inventory())
    stale = "CSR rahul-9f9f was pending (asking for 86400 s) while the certificate is current; deleted"
    requests = registered({"local": [issued("seema", "seema-3c4d"),
                                     issued("rahul", "rahul-9f9f", changed=True, action="delete_stale",
                                            stale=stale)]})
    outcomes = access_results.outcomes(the_plan, requests, registered({}), registered({}), None)
    assert outcomes["rahul"]["msg"][1] == f"rahul@local: {stale}"
    assert outcomes["rahul"]["changed"] is True
    assert len(outcomes["seema"]["msg"]) == 1


def test_outcome_of_a_pending_automatic_approval_names_no_kubectl_command(tmp_path):
    """In check mode the request is pending on an auto cluster: nobody has to approve anything by hand."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_grants": [{"cluster_role": "view"}]}}, group_grants={})
    requests = registered({"local": [request_result("rahul", "", "pending", changed=True)]})
    outcomes = access_results.outcomes(the_plan, requests, registered({}, skipped=["local"]),
                                       registered({}, skipped=["local"]), None)
    assert outcomes["rahul"]["msg"] == [
        f"rahul@local: groups (none); kubeconfig {tmp_path}/rahul/kubeconfig; certificate pending; bindings "
        "kubeaccess-user-rahul-view (cluster-wide)"]


def test_outcome_without_phase_or_bindings(tmp_path):
    """Nothing came back for the user: the line says so."""
    the_plan = make_plan(tmp_path, {"rahul": {}}, group_grants={}, require_groups=False)
    outcomes = access_results.outcomes(the_plan, registered({"local": [{"user": "rahul", "name": "",
                                                                       "changed": False}]}), {}, {}, None)
    assert outcomes["rahul"]["msg"] == [f"rahul@local: groups (none); kubeconfig {tmp_path}/rahul/kubeconfig; "
                                        "certificate not requested; bindings (none)"]


def test_no_outcomes_without_users_in_the_run(tmp_path):
    """Offboarding plans on localhost: nobody's outcome."""
    the_plan = make_plan(tmp_path, *example_inventory(), run=set())
    assert access_results.outcomes(the_plan, {}, {}, {}, None) == {}


# == users whose keys are on their own machines =======================================================================

def remote_inventory(tmp_path, ca_pair):
    """rahul keeps his key on the controller; seema, amit and omar on their laptops."""
    path, ca_pem = admin_kubeconfig(tmp_path, ca_pair)
    users = {"rahul": {"user_access_groups": ["developers"]}}
    for host in ("seema", "amit", "omar"):
        users[host] = {"user_access_groups": ["developers"], "ansible_host": f"{host}-laptop"}
    return make_plan(tmp_path / "base", users, {"local": {"kubeconfig": path}}), ca_pem


def made_on(host, *results):
    """hostvars of a machine that made its keys and requests (registered as user_access_remote_keys)."""
    return {host: {"user_access_remote_keys": {"results": list(results)}}}


def test_remote_plan_takes_the_requests_the_machines_made(tmp_path, ca):
    """Each machine's request is matched by its key path; a machine still in the play without one (check mode,
    before the key exists) waits; a machine that left the play (failed, unreachable) is not mentioned."""
    the_plan, _ca_pem = remote_inventory(tmp_path, ca)
    hostvars = dict(made_on("seema", {"user": "seema", "private_key_path": "~/.kube/kubeaccess/other.key",
                                      "request": "NOT SEEMA'S CSR"},
                            {"user": "seema", "private_key_path": "~/.kube/kubeaccess/local.key",
                             "request": "SEEMA CSR", "phase": "unsubmitted"}),
                    **made_on("amit", {"user": "amit", "private_key_path": "~/.kube/kubeaccess/local.key",
                                       "phase": "unsubmitted", "changed": True}), omar={})
    remote = access_results.remote_plan(the_plan, hostvars, ["localhost", "rahul", "seema", "amit"])
    [seema] = remote["users"]
    assert seema["host"] == "seema"
    assert seema["request"]["csr_content"] == "SEEMA CSR" and "private_key_path" not in seema["request"]
    assert remote["requests"] == {"local": [seema["request"]]}
    assert remote["waiting"] == {"amit": ["amit@local: the key and request would be made on amit"]}
    assert remote["bindings"] == the_plan["bindings"] and remote["endpoints"] == the_plan["endpoints"]


def test_a_failed_key_on_a_machine_submits_nothing(tmp_path, ca):
    """seema's machine failed to make her key: no request is submitted for her."""
    the_plan, _ca_pem = remote_inventory(tmp_path, ca)
    hostvars = made_on("seema", failed_item("cannot write", user="seema",
                                            private_key_path="~/.kube/kubeaccess/local.key"))
    assert access_results.remote_plan(the_plan, hostvars, ["seema"])["users"] == []


def requests_as_the_machine_returns_them(requests):
    """The identities k8s_csr_request gives its results for `requests`, from its own argument handling."""
    spec = csr_request.ARGUMENT_SPEC
    params = ArgumentSpecValidator(batch_argument_spec(spec, "requests")).validate(
        {"requests": requests}).validated_parameters
    return [dict(identity_of("user", "private_key_path")(item), request=f"CSR of {item['user']}",
                 phase="unsubmitted", changed=True)
            for item in item_params(params, spec, "requests", csr_request.AUTH_ARG_SPEC)]


def test_remote_plan_matches_the_request_k8s_csr_request_returned_for_the_default_key_dir(tmp_path, ca,
                                                                                          monkeypatch):
    """seema's key in the default ~/.kube/kubeaccess: the result her machine registers (k8s_csr_request's own
    identity of the item, whose path option expands `~`) is matched to her entry and submitted."""
    monkeypatch.setenv("HOME", "/home/seema")
    the_plan, _ca_pem = remote_inventory(tmp_path, ca)
    made = requests_as_the_machine_returns_them(the_plan["host_requests"]["seema"])
    assert [result["private_key_path"] for result in made] == ["/home/seema/.kube/kubeaccess/local.key"]
    remote = access_results.remote_plan(the_plan, made_on("seema", *made), ["seema"])
    assert [entry["user"] for entry in remote["users"]] == ["seema"]
    assert remote["waiting"] == {}


def seema_remote_plan(tmp_path, ca_pair):
    """The remote plan once seema's machine made her request."""
    the_plan, ca_pem = remote_inventory(tmp_path, ca_pair)
    remote = access_results.remote_plan(the_plan, made_on("seema", {
        "user": "seema", "private_key_path": "~/.kube/kubeaccess/local.key", "request": "SEEMA CSR"}), ["seema"])
    return remote, ca_pem


def test_the_machine_gets_its_certificate_the_ca_and_a_kubeconfig_of_its_own_paths(tmp_path, ca):
    """Once issued: the certificate (kept on the controller) and the CA are copied next to the key, and the
    kubeconfig names the machine's own paths and the cluster's server."""
    remote, ca_pem = seema_remote_plan(tmp_path, ca)
    requests = registered({"local": [request_result("seema", "seema-0123", "pending", changed=True)]})
    approvals = registered({"local": [approval("seema-0123")]})
    [item] = access_results.host_kubeconfig_items(remote, "seema", requests, approvals, None, "changed")
    assert item == {
        "path": "~/.kube/config", "user": "seema", "cluster": "local", "namespace": "default",
        "client_certificate_path": "~/.kube/kubeaccess/local.crt", "client_key_path": "~/.kube/kubeaccess/local.key",
        "expected_groups": ["developers"], "verify": True, "verify_only_if_changed": False, "expected_access": [],
        "server": SERVER, "ca_source": "file", "ca_file": "~/.kube/kubeaccess/local-ca.crt"}
    assert access_results.host_copies(remote, "seema", requests, approvals) == [
        {"src": f"{tmp_path}/base/seema/local.crt", "dest": "~/.kube/kubeaccess/local.crt"},
        {"content": ca_pem, "dest": "~/.kube/kubeaccess/local-ca.crt"}]
    assert access_results.host_kubeconfig_items(remote, "rahul", requests, approvals, None, "changed") == []
    # Nothing is copied or written before the certificate is issued (manual approval, check mode).
    pending = registered({"local": [approval("seema-0123", "pending", False)]})
    assert access_results.host_copies(remote, "seema", requests, pending) == []


def test_outcome_shows_the_machine_of_the_kubeconfig_and_who_waits(tmp_path, ca):
    """seema's line names her machine; amit, still waiting for his key in check mode, is told so."""
    the_plan, _ca_pem = remote_inventory(tmp_path, ca)
    remote = access_results.remote_plan(the_plan, dict(made_on("seema", {
        "user": "seema", "private_key_path": "~/.kube/kubeaccess/local.key", "request": "SEEMA CSR"}), amit={}),
        ["seema", "amit"])
    requests = registered({"local": [issued("seema", "seema-0123", not_after="2026-11-23T10:00:00Z")]})
    kubeconfigs = access_results.host_kubeconfig_results(remote, {"seema": {"user_access_remote_kubeconfigs": {
        "results": [{"user": "seema", "path": "/home/seema/.kube/config", "cluster_name": "local",
                     "user_name": "seema@local", "verified": {"username": "seema"}, "changed": True}]}}},
        ["seema"])
    outcomes = access_results.outcomes(remote, requests, {}, kubeconfigs, None)
    assert outcomes == {
        "seema": {"changed": True, "failed": False, "msg": [
            "seema@local: groups developers; kubeconfig seema:~/.kube/config verified; NotAfter "
            "2026-11-23T10:00:00Z; bindings kubeaccess-group-developers-edit (dev)"]},
        "amit": {"changed": False, "failed": False, "msg": ["amit@local: the key and request would be made on amit"]}}


def test_a_kubeconfig_refused_on_the_users_machine_fails_that_user(tmp_path, ca):
    """seema's ~/.kube/config on her laptop is not valid YAML: k8s_kubeconfig_user refuses her item (with
    continue_on_error, before it resolves cluster_name; the item's identity still carries its cluster); her outcome
    fails with the kubeconfig step's message."""
    remote, _ca_pem = seema_remote_plan(tmp_path, ca)
    requests = registered({"local": [issued("seema", "seema-0123")]})
    message = "path: /home/seema/.kube/config is not valid YAML (line 3, column 1); it was left untouched"
    kubeconfigs = access_results.host_kubeconfig_results(remote, {"seema": {"user_access_remote_kubeconfigs": {
        "results": [failed_item(message, user="seema", path="/home/seema/.kube/config", cluster="local")]}}},
        ["seema"])
    outcome = access_results.outcomes(remote, requests, {}, kubeconfigs, None)["seema"]
    assert outcome["failed"] is True
    assert outcome["msg"][0] == f"seema@local: the kubeconfig failed: {message}"


def test_host_kubeconfig_results_are_shaped_like_the_controllers(tmp_path, ca):
    """The machines' registered results, per cluster as a loop over the clusters registers them."""
    remote, _ca_pem = seema_remote_plan(tmp_path, ca)
    result = {"user": "seema", "path": "/home/seema/.kube/config", "cluster_name": "local", "changed": False}
    hostvars = {"seema": {"user_access_remote_kubeconfigs": {"results": [result]}}}
    assert access_results.host_kubeconfig_results(remote, hostvars, ["seema"]) == {
        "results": [{"item": {"key": "local"}, "results": [result]}]}
    assert access_results.host_kubeconfig_results(remote, hostvars, []) == {"results": []}
    assert access_results.host_kubeconfig_results(remote, {"seema": {}}, ["seema"]) == {"results": []}


def test_filter_names():
    """The role's tasks call these filters by these names."""
    assert results_filter.FilterModule().filters() == {
        "access_approvals": access_results.approval_items, "access_kubeconfigs": access_results.kubeconfig_items,
        "access_outcomes": access_results.outcomes, "access_remote_plan": access_results.remote_plan,
        "access_host_copies": access_results.host_copies,
        "access_host_kubeconfigs": access_results.host_kubeconfig_items,
        "access_host_kubeconfig_results": access_results.host_kubeconfig_results,
        "access_ca_sign_items": access_results.ca_sign_items, "access_ca_signed": access_results.ca_signed,
        "access_ca_certificates": access_results.ca_certificates}


def test_a_self_service_users_outcome_names_the_account_and_fails_when_it_was_not_made(tmp_path):
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_self_service": True}}
    the_plan = make_plan(tmp_path, users)
    made = registered({"local": [{"user": "rahul", "namespace": "kubeaccess-self-service", "name": "kubeaccess-rahul",
                                  "action": "create", "changed": True}]})
    outcome = access_results.outcomes(the_plan, registered({}), registered({}), registered({}), registered({}),
                                      made)["rahul"]
    assert outcome["changed"] and not outcome["failed"]
    assert outcome["msg"][0].startswith(
        "rahul@local: groups developers; self-service: the user requests their own certificate with "
        "playbooks/request.yml and a token of the ServiceAccount kubeaccess-self-service/kubeaccess-rahul")
    refused = registered({"local": [failed_item("namespace: kubeaccess-self-service is being deleted", user="rahul")]})
    outcome = access_results.outcomes(the_plan, registered({}), registered({}), registered({}), registered({}),
                                      refused)["rahul"]
    assert outcome["failed"] and outcome["msg"][0] == (
        "rahul@local: the self-service account failed: namespace: kubeaccess-self-service is being deleted")


# == clusters that sign with their CA key =============================================================================

def test_ca_key_signing_items_and_results_read_back_by_user(tmp_path):
    """Only requests made because the certificate is due are signed, each pinned to its key under the user's
    policy; the signatures come back as issued approvals, and a call that failed as a whole fails every request."""
    users = {"rahul": {"user_access_groups": ["developers"]}, "seema": {"user_access_groups": ["developers"]}}
    the_plan = make_plan(tmp_path, users, {"local": {"kubeconfig": "/etc/local.conf", "ca_key_host": "cp1",
                                                     "policy": {"max_expiration_seconds": 86400}}})
    requests = registered({"local": [request_result("rahul", "rahul-1a2b", "unsubmitted", changed=True,
                                                    request="-----BEGIN CERTIFICATE REQUEST-----"),
                                     issued("seema", "seema-3c4d")]})
    (item,) = access_results.ca_sign_items(the_plan, "local", requests)
    assert (item["expected_user"], item["allowed_groups"], item["expected_public_key_fingerprint"]) == (
        "rahul", ["developers"], "fp:rahul-1a2b")
    assert item["max_expiration_seconds"] == 86400 and item["expiration_seconds"] == 86400
    assert not {"certificate_path", "wait", "wait_timeout"} & set(item)

    signed = registered({"local": [{"expected_user": "rahul", "certificate": "PEM", "not_after": "2030-01-01T00:00:00Z",
                                    "changed": True}]})
    shaped = access_results.ca_signed(the_plan, requests, signed)
    assert access_results.cluster_results(shaped, "local") == [{
        "name": "rahul-1a2b", "changed": True, "phase": "issued", "not_after": "2030-01-01T00:00:00Z",
        "certificate": "PEM", "certificate_path": f"{tmp_path}/rahul/local.crt"}]
    assert access_results.ca_certificates(shaped) == [{"dest": f"{tmp_path}/rahul/local.crt", "content": "PEM"}]

    refused = {"results": [{"item": {"key": "local"}, "failed_when_result": False, "changed": False,
                            "msg": "ca_key_path: /etc/kubernetes/pki/ca.key cannot be read"}]}
    assert access_results.cluster_results(access_results.ca_signed(the_plan, requests, refused), "local") == [{
        "name": "rahul-1a2b", "failed": True, "changed": False,
        "msg": "ca_key_path: /etc/kubernetes/pki/ca.key cannot be read"}]
