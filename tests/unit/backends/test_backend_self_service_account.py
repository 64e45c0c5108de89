"""plugins/module_utils/backends/self_service_account.py, run in this process against the cluster under test: the
namespace and the ServiceAccount of a self-service user (create, update, none, delete; check and diff mode), a
ServiceAccount that is not ours, a namespace being deleted, bad input, and the batch form."""
# pylint: disable=missing-function-docstring,redefined-outer-name  # pytest fixtures are parameters named as fixtures

import json
import types

import pytest

from ansible_collections.kubeaccess.x509.plugins.module_utils import self_service
from ansible_collections.kubeaccess.x509.plugins.module_utils.backends import self_service_account
from ansible_collections.kubeaccess.x509.plugins.module_utils.backends.self_service_account import AccountItem, Cluster
from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import ItemModule, SharedClient
from tests.unit.backends.backend_support import make_namespace, unique

MANAGED_BY = ("app.kubernetes.io/managed-by", "kubeaccess.x509")
HOLD = "kubeaccess.x509/test-hold"


# -- helpers ---------------------------------------------------------------------------------------------------------


def namespace_path(namespace):
    return f"/api/v1/namespaces/{namespace}"


def account_path(namespace, user):
    return f"/api/v1/namespaces/{namespace}/serviceaccounts/{self_service.account_name(user)}"


def read(admin, path):
    response = admin.request("GET", path)
    assert response.status_code in (200, 404), response.text
    return response.json() if response.status_code == 200 else None


def ok(result, changed, action=None):
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is changed, result
    if action is not None:
        assert result["action"] == action, result
    return result


def refused(result, *texts):
    assert result.get("failed") and not result["changed"], result
    for text in texts:
        assert text in result["msg"], result["msg"]
    return result


@pytest.fixture
def apply(run_backend):
    """`apply({...}, check_mode=False, diff=False)`: the backend's result for these task arguments."""
    def run(args, check_mode=False, diff=False):
        return run_backend(self_service_account, args, check_mode=check_mode, diff=diff)
    return run


# -- create, none, update, delete ------------------------------------------------------------------------------------
def test_a_new_account_and_its_namespace_are_predicted_then_created_then_left_alone(apply, admin, cleanup, cluster):
    namespace, user = unique(cluster, "ssa-new"), unique(cluster, "Rahul Sharma")
    cleanup.add(namespace_path(namespace))
    args = {"user": user, "groups": ["developers", "sre", "developers"], "namespace": namespace,
            "labels": {"team": "a"}}

    predicted = ok(apply(args, check_mode=True, diff=True), True, "create")
    assert predicted["namespace_created"] is True
    assert read(admin, namespace_path(namespace)) is None
    assert predicted["diff"]["before"] == {"service_account": None, "namespace": None}
    assert predicted["diff"]["after"]["namespace"] == {"name": namespace, "labels": dict([MANAGED_BY])}

    created = ok(apply(args, diff=True), True, "create")
    name = self_service.account_name(user)
    assert {k: created[k] for k in ("user", "namespace", "name", "csr_name", "groups", "namespace_created")} == {
        "user": user, "namespace": namespace, "name": name, "csr_name": self_service.csr_name(user),
        "groups": ["developers", "sre"], "namespace_created": True}
    assert created["diff"] == predicted["diff"]
    assert read(admin, namespace_path(namespace))["metadata"]["labels"][MANAGED_BY[0]] == MANAGED_BY[1]
    obj = read(admin, account_path(namespace, user))
    assert obj["metadata"]["labels"] == {"team": "a", MANAGED_BY[0]: MANAGED_BY[1]}
    assert obj["metadata"]["annotations"] == self_service.annotations(user, ["sre", "developers"])
    assert self_service.published(obj) == (user, ["developers", "sre"], self_service.csr_name(user))
    assert created["diff"]["after"]["service_account"] == {
        "name": name, "namespace": namespace, "labels": obj["metadata"]["labels"],
        "annotations": obj["metadata"]["annotations"]}

    again = ok(apply(dict(args, groups=["sre", "developers"]), diff=True), False, "none")
    assert again["namespace_created"] is False and "namespace" not in again["diff"]["after"]
    assert again["diff"]["before"] == again["diff"]["after"]
    ok(apply(args, check_mode=True), False, "none")
    assert read(admin, account_path(namespace, user))["metadata"]["resourceVersion"] == \
        obj["metadata"]["resourceVersion"]


def test_changed_groups_or_labels_update_the_account_and_keep_what_others_set(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "ssa-update")
    user = unique(cluster, "seema")
    path = account_path(namespace, user)
    args = {"user": user, "groups": ["developers"], "namespace": namespace}
    created = ok(apply(args), True, "create")
    assert created["namespace_created"] is False
    obj = read(admin, path)
    obj["metadata"]["labels"]["theirs"] = "x"
    obj["metadata"]["annotations"]["example.com/note"] = "kept"
    admin.json("PUT", path, obj, expect=200)

    more = dict(args, groups=["developers", "sre"])
    predicted = ok(apply(more, check_mode=True, diff=True), True, "update")
    assert json.loads(read(admin, path)["metadata"]["annotations"][self_service.GROUPS_ANNOTATION]) == ["developers"]
    updated = ok(apply(more, diff=True), True, "update")
    assert updated["diff"] == predicted["diff"]
    assert updated["diff"]["before"]["service_account"]["annotations"][self_service.GROUPS_ANNOTATION] == \
        '["developers"]'
    assert updated["diff"]["after"]["service_account"]["annotations"][self_service.GROUPS_ANNOTATION] == \
        '["developers", "sre"]'
    obj = read(admin, path)
    assert obj["metadata"]["annotations"]["example.com/note"] == "kept"
    assert self_service.published(obj)[1] == ["developers", "sre"]
    ok(apply(more), False, "none")

    relabelled = ok(apply(dict(more, labels={"team": "b"})), True, "update")
    assert relabelled["groups"] == ["developers", "sre"]
    assert read(admin, path)["metadata"]["labels"] == {"team": "b", "theirs": "x", MANAGED_BY[0]: MANAGED_BY[1]}


def test_absent_deletes_our_account_and_keeps_the_namespace(apply, admin, cleanup, cluster):
    namespace, user = unique(cluster, "ssa-absent"), unique(cluster, "leaver")
    cleanup.add(namespace_path(namespace))
    ok(apply({"user": user, "groups": ["developers", "ops"], "namespace": namespace}), True, "create")
    path = account_path(namespace, user)
    args = {"user": user, "namespace": namespace, "state": "absent"}

    predicted = ok(apply(args, check_mode=True, diff=True), True, "delete")
    assert read(admin, path) is not None
    assert predicted["diff"]["after"] == {"service_account": None}
    assert predicted["diff"]["before"]["service_account"]["name"] == self_service.account_name(user)
    deleted = ok(apply(args, diff=True), True, "delete")
    assert deleted["groups"] == ["developers", "ops"] and deleted["namespace_created"] is False
    assert read(admin, path) is None
    assert read(admin, namespace_path(namespace))["metadata"].get("deletionTimestamp") is None

    ok(apply(args), False, "none")
    # Nothing to remove from a namespace that does not exist, and it is not created for that.
    missing = unique(cluster, "ssa-never-made")
    ok(apply(dict(args, namespace=missing)), False, "none")
    assert read(admin, namespace_path(missing)) is None


# -- what is not ours, and namespaces being deleted ------------------------------------------------------------------
def test_a_service_account_of_that_name_made_by_someone_else_is_never_taken_over(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "ssa-foreign")
    user = unique(cluster, "alice")
    name = self_service.account_name(user)
    admin.json("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts",
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}, expect=201)
    before = read(admin, account_path(namespace, user))

    for state in ("present", "absent"):
        for check_mode in (True, False):
            refused(apply({"user": user, "groups": ["developers"], "namespace": namespace, "state": state},
                          check_mode=check_mode),
                    f"user: ServiceAccount {namespace}/{name} exists and is not managed by kubeaccess.x509",
                    "Check who made it and delete it")
    after = read(admin, account_path(namespace, user))
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert not after["metadata"].get("annotations")


def test_a_namespace_being_deleted_gets_no_account(apply, admin, cleanup, cluster):
    # The finalizer holds the namespace in Terminating on a real cluster; the local server ignores finalizers, so
    # there its namespace controller is told to wait for longer than any test runs.
    namespace = make_namespace(admin, cleanup, cluster, "ssa-terminating", finalizers=[HOLD])
    if cluster.local:
        delay = cluster.control("GET", "settings")["namespaceDeletionDelay"]
        cluster.control("PUT", "settings", {"namespaceDeletionDelay": 3600})
    try:
        admin.json("DELETE", namespace_path(namespace), expect=200)
        assert read(admin, namespace_path(namespace))["metadata"]["deletionTimestamp"]
        user = unique(cluster, "late")
        args = {"user": user, "groups": ["developers"], "namespace": namespace}
        for check_mode in (True, False):
            refused(apply(args, check_mode=check_mode),
                    f"namespace: {namespace} is being deleted (Terminating)", "wait until it is gone")
        refused(apply({"accounts": [{"user": unique(cluster, "fine"), "groups": ["a"],
                                     "namespace": unique(cluster, "ssa-unused")}, args]}),
                f"accounts[1] (user {user}, ServiceAccount {namespace}/")
        assert read(admin, account_path(namespace, user)) is None
    finally:
        if cluster.local:
            cluster.control("PUT", "settings", {"namespaceDeletionDelay": delay})
        admin.request("PATCH", namespace_path(namespace), {"metadata": {"finalizers": None}},
                      content_type="application/merge-patch+json")


# -- input -----------------------------------------------------------------------------------------------------------
BAD_INPUT = [
    ({"user": "rahul", "groups": []}, "groups: self-service needs at least one group to publish; list the groups"),
    ({"user": "rahul"}, "groups: self-service needs at least one group to publish"),
    ({"groups": ["developers"]}, "user: required"),
    ({"user": " rahul", "groups": ["developers"]}, "user: ' rahul' has leading or trailing spaces"),
    ({"user": "system:admin", "groups": ["developers"]}, "user: 'system:admin' starts with 'system:'"),
    ({"user": "rahul", "groups": ["developers", "system:masters"]}, "groups[1]: 'system:masters' starts with"),
    ({"user": "rahul", "groups": ["a"], "namespace": "Bad_NS"}, "namespace: 'Bad_NS' is not a namespace name"),
    ({"user": "rahul", "groups": ["a"], "labels": {"app.kubernetes.io/managed-by": "me"}},
     "labels: app.kubernetes.io/managed-by is set by this module"),
    ({"user": "rahul", "groups": ["a"], "labels": {"bad key!": "x"}}, "labels: key 'bad key!' is invalid"),
    ({"accounts": [{"user": "rahul", "groups": []}, {"user": "seema", "groups": ["a"], "namespace": "-x"}]},
     "accounts[0] (user rahul, ServiceAccount kubeaccess-self-service/kubeaccess-rahul): groups: self-service"),
]


@pytest.mark.parametrize("args,message", BAD_INPUT)
def test_bad_input_is_refused_before_any_request(apply, args, message):
    # No connection options that work: a request would fail with another message.
    result = apply(dict(args, kubeconfig=None, host="https://127.0.0.1:1"))
    refused(result, message)


def test_one_bad_item_refuses_the_batch_with_nothing_done(apply, admin, cluster):
    namespace, good = unique(cluster, "ssa-refused"), unique(cluster, "good")
    result = apply({"namespace": namespace, "accounts": [{"user": good, "groups": ["developers"]},
                                                         {"user": "seema", "groups": []}]})
    refused(result, f"accounts[1] (user seema, ServiceAccount {namespace}/kubeaccess-seema): groups: self-service")
    assert "accounts[0]" not in result["msg"]
    assert read(admin, namespace_path(namespace)) is None


def test_groups_are_not_needed_to_delete(apply, cluster):
    ok(apply({"user": unique(cluster, "gone"), "namespace": unique(cluster, "ssa-none"), "state": "absent"}),
       False, "none")


# -- the batch form --------------------------------------------------------------------------------------------------
def test_a_batch_makes_the_namespace_once_and_each_account(apply, admin, cleanup, cluster):
    namespace = unique(cluster, "ssa-batch")
    cleanup.add(namespace_path(namespace))
    users = [unique(cluster, "b1"), unique(cluster, "b2")]
    args = {"namespace": namespace, "labels": {"inventory": "team-a"},
            "accounts": [{"user": users[0], "groups": ["developers"]},
                         {"user": users[1], "groups": ["sre"], "labels": {"extra": "yes"}}]}

    predicted = ok(apply(args, check_mode=True), True)
    assert [(r["user"], r["action"], r["namespace_created"]) for r in predicted["results"]] == [
        (users[0], "create", True), (users[1], "create", False)]
    assert read(admin, namespace_path(namespace)) is None

    done = ok(apply(args), True)
    assert [(r["user"], r["namespace"], r["action"], r["namespace_created"]) for r in done["results"]] == [
        (users[0], namespace, "create", True), (users[1], namespace, "create", False)]
    assert read(admin, account_path(namespace, users[1]))["metadata"]["labels"] == {
        "inventory": "team-a", "extra": "yes", MANAGED_BY[0]: MANAGED_BY[1]}

    ok(apply(args), False)
    removed = ok(apply(dict(args, state="absent")), True)
    assert [r["action"] for r in removed["results"]] == ["delete", "delete"]
    assert all(read(admin, account_path(namespace, user)) is None for user in users)


# -- a cluster that changed since it was read ------------------------------------------------------------------------
def test_an_update_that_lost_a_race_is_made_again_on_a_fresh_read(run_backend, apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "ssa-race")
    user = unique(cluster, "racer")
    path = account_path(namespace, user)
    ok(apply({"user": user, "groups": ["developers"], "namespace": namespace}), True, "create")
    outcome = []

    def planned_then_changed_then_run(module):
        client = SharedClient(module.params)
        item = AccountItem(ItemModule(module, module.params, client), Cluster(False, client), {})
        assert item.result["action"] == "update"
        # Someone else writes between the read and the PUT: the PUT of the object as read is a conflict.
        obj = read(admin, path)
        obj["metadata"]["annotations"]["example.com/meanwhile"] = "yes"
        admin.json("PUT", path, obj, expect=200)
        item.run()
        outcome.append(item.result)
        module.exit_json(changed=False)
    backend = types.SimpleNamespace(__name__="work", MODULE_ARGS=self_service_account.MODULE_ARGS,
                                    run=planned_then_changed_then_run)
    result = run_backend(backend, {"user": user, "groups": ["developers", "sre"], "namespace": namespace})
    assert outcome, result
    assert outcome[0]["action"] == "update" and outcome[0]["changed"]
    annotations = read(admin, path)["metadata"]["annotations"]
    assert annotations["example.com/meanwhile"] == "yes"
    assert json.loads(annotations[self_service.GROUPS_ANNOTATION]) == ["developers", "sre"]
