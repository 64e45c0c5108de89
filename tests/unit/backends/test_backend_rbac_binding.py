"""plugins/module_utils/backends/rbac_binding.py, run in this process against the cluster under test: what it
decides for a binding (create, none, update, recreate, delete; someone else's binding; a missing namespace), for a
role made from rules, for a batch and its pruning, and what it does when the cluster changed since it read it."""
# pylint: disable=missing-function-docstring,redefined-outer-name  # pytest fixtures are parameters named as fixtures

import types

import pytest

from ansible_collections.kubeaccess.x509.plugins.module_utils.backends import rbac_binding
from ansible_collections.kubeaccess.x509.plugins.module_utils.backends.rbac_binding import (
    LIST_OPTION, MODULE_SPEC, SHARED, BindingItem, Cluster, InputError, prune)
from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import ItemModule, SharedClient, item_params
from tests.contract.support import RBAC, bind, make_role, rule
from tests.unit.backends.backend_support import make_namespace, unique, warnings_of


MANAGED_BY = ("app.kubernetes.io/managed-by", "kubeaccess.x509")
GROUP = "rbac.authorization.k8s.io"
SINGLE_KEYS = ("changed", "kind", "name", "namespace", "role_ref", "action", "subjects", "subjects_added",
               "subjects_removed")


# -- helpers ---------------------------------------------------------------------------------------------------------


def binding_path(name, namespace=None):
    return f"{RBAC}/namespaces/{namespace}/rolebindings/{name}" if namespace else f"{RBAC}/clusterrolebindings/{name}"


def role_path(name, namespace=None):
    return f"{RBAC}/namespaces/{namespace}/roles/{name}" if namespace else f"{RBAC}/clusterroles/{name}"


def read(admin, path):
    response = admin.request("GET", path)
    assert response.status_code in (200, 404), response.text
    return response.json() if response.status_code == 200 else None


def our_binding(admin, cleanup, name, namespace, role, subjects, labels=None):
    """A RoleBinding as this module would have made it (labelled as ours), written by someone else."""
    body = {"apiVersion": f"{GROUP}/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "labels": dict(labels or {}, **{MANAGED_BY[0]: MANAGED_BY[1]})},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [api_user(s) for s in subjects]}
    admin.json("POST", f"{RBAC}/namespaces/{namespace}/rolebindings", body, expect=201)
    return cleanup.add(binding_path(name, namespace))


def user(name):
    return {"kind": "User", "name": name}


def api_user(name):
    return {"kind": "User", "apiGroup": GROUP, "name": name}


def names(subjects):
    return [s["name"] for s in subjects]


def ok(result, changed, action=None):
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is changed, result
    if action is not None:
        assert result["action"] == action, result
    return result


@pytest.fixture
def apply(run_backend):
    """`apply({...}, check_mode=False, diff=False)`: the backend's result for these task arguments."""
    def run(args, check_mode=False, diff=False):
        return run_backend(rbac_binding, args, check_mode=check_mode, diff=diff)
    return run


@pytest.fixture
def in_module(run_backend):
    """`in_module({...}, work, check_mode=False)`: what `work(module)` returns, given a real AnsibleModule of the
    module's arguments (the classes of the backend are then driven directly)."""
    def run(args, work, check_mode=False):
        outcome = []

        def backend_run(module):
            outcome.append(work(module))
            module.exit_json(changed=False)
        backend = types.SimpleNamespace(__name__="work", MODULE_ARGS=rbac_binding.MODULE_ARGS, run=backend_run)
        result = run_backend(backend, args, check_mode=check_mode)
        assert outcome, result
        return outcome[0]
    return run


def binding_item(module, cluster=None):
    """The BindingItem of a single-form task, as run() makes it (a batch Cluster when given one)."""
    client = SharedClient(module.params)
    cluster = cluster or Cluster(False, client)
    return BindingItem(ItemModule(module, module.params, client), cluster, module.params["labels"])


# -- the binding: create, none, update -------------------------------------------------------------------------------
def test_a_new_binding_is_predicted_then_created_then_left_alone(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-create")
    name = unique(cluster, "alice-view")
    path = cleanup.add(binding_path(name, namespace))
    args = {"name": name, "namespace": namespace, "role_name": "view", "subjects": [user("alice")],
            "labels": {"team": "a"}}

    predicted = ok(apply(args, check_mode=True, diff=True), True, "create")
    assert read(admin, path) is None
    assert predicted["diff"]["before"]["binding"] is None
    assert predicted["diff"]["after"]["binding"]["subjects"] == [api_user("alice")]

    created = ok(apply(args, diff=True), True, "create")
    assert created["subjects"] == created["subjects_added"] == [api_user("alice")]
    assert created["subjects_removed"] == [] and "role_action" not in created
    assert created["diff"] == predicted["diff"]
    obj = read(admin, path)
    assert obj["roleRef"] == {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"}
    assert obj["metadata"]["labels"] == {"team": "a", MANAGED_BY[0]: MANAGED_BY[1]}

    again = ok(apply(args, diff=True), False, "none")
    assert again["diff"]["before"] == again["diff"]["after"]
    ok(apply(args, check_mode=True), False, "none")
    assert read(admin, path)["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]


def test_subjects_are_added_and_removed_and_their_order_does_not_matter(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-update")
    alice, bob = unique(cluster, "alice"), unique(cluster, "bob")
    name = unique(cluster, "devs")
    path = cleanup.add(binding_path(name, namespace))
    args = {"name": name, "namespace": namespace, "role_name": "edit", "subjects": [user(alice)]}
    ok(apply(args), True, "create")

    both = dict(args, subjects=[user(alice), {"kind": "Group", "name": bob}])
    predicted = ok(apply(both, check_mode=True), True, "update")
    assert names(read(admin, path)["subjects"]) == [alice]
    added = ok(apply(both), True, "update")
    assert {k: added[k] for k in SINGLE_KEYS} == {k: predicted[k] for k in SINGLE_KEYS}
    assert added["subjects_added"] == [{"kind": "Group", "apiGroup": GROUP, "name": bob}]
    assert [(s["kind"], s["name"]) for s in read(admin, path)["subjects"]] == [("User", alice), ("Group", bob)]

    swapped = dict(args, subjects=list(reversed(both["subjects"])))
    ok(apply(swapped), False, "none")

    only_bob = dict(args, subjects=[{"kind": "group", "name": bob}])
    removed = ok(apply(only_bob, diff=True), True, "update")
    assert removed["subjects_removed"] == [api_user(alice)]
    assert removed["diff"]["before"]["binding"]["subjects"][0] == api_user(alice)
    assert names(read(admin, path)["subjects"]) == [bob]
    ok(apply(only_bob, check_mode=True), False, "none")


def test_changed_labels_alone_update_our_binding_and_keep_the_labels_of_others(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-labels")
    name = unique(cluster, "labelled")
    path = our_binding(admin, cleanup, name, namespace, "view", ["alice"], labels={"team": "a", "theirs": "x"})
    args = {"name": name, "namespace": namespace, "role_name": "view", "subjects": [user("alice")]}
    ok(apply(args), False, "none")
    updated = ok(apply(dict(args, labels={"team": "b"})), True, "update")
    assert updated["subjects_added"] == updated["subjects_removed"] == []
    assert read(admin, path)["metadata"]["labels"] == {"team": "b", "theirs": "x", MANAGED_BY[0]: MANAGED_BY[1]}


# -- someone else's binding ------------------------------------------------------------------------------------------
def test_a_binding_made_by_someone_else_keeps_its_subjects(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-foreign")
    alice, theirs = unique(cluster, "alice"), unique(cluster, "their-group")
    name = unique(cluster, "shared")
    path = bind(admin, cleanup, [("Group", theirs)], "view", namespace=namespace, name=name)
    args = {"name": name, "namespace": namespace, "role_name": "view", "subjects": [user(alice)]}

    refused = apply(args)
    assert refused["failed"] and not refused["changed"]
    assert f"name: RoleBinding {namespace}/{name} exists and is not managed by kubeaccess.x509" in refused["msg"]
    assert "subjects_mode=merge" in refused["msg"] and "check who made it and delete it" in refused["msg"]
    assert names(read(admin, path)["subjects"]) == [theirs]

    merge = dict(args, subjects_mode="merge")
    ok(apply(merge, check_mode=True), True, "update")
    assert names(read(admin, path)["subjects"]) == [theirs]
    merged = ok(apply(merge), True, "update")
    assert names(merged["subjects"]) == [theirs, alice] and merged["subjects_removed"] == []
    obj = read(admin, path)
    assert names(obj["subjects"]) == [theirs, alice]
    assert MANAGED_BY[0] not in (obj["metadata"].get("labels") or {})
    ok(apply(merge), False, "none")

    other_role = apply(dict(merge, role_name="edit"))
    assert other_role["failed"]
    assert "binds ClusterRole/view, not ClusterRole/edit" in other_role["msg"]
    assert "roleRef is immutable" in other_role["msg"]
    assert read(admin, path)["roleRef"]["name"] == "view"

    whole = apply({"name": name, "namespace": namespace, "state": "absent"})
    assert whole["failed"] and f"name: RoleBinding {namespace}/{name} is not managed" in whole["msg"]
    assert "so it is not deleted" in whole["msg"]
    assert read(admin, path) is not None

    mine = ok(apply(dict(args, state="absent")), True, "update")
    assert mine["subjects_removed"] == [api_user(alice)]
    assert names(read(admin, path)["subjects"]) == [theirs]

    taken = ok(apply(dict(args, force=True)), True, "update")
    assert names(taken["subjects_removed"]) == [theirs]
    obj = read(admin, path)
    assert names(obj["subjects"]) == [alice]
    assert obj["metadata"]["labels"][MANAGED_BY[0]] == MANAGED_BY[1]


def test_only_force_deletes_a_binding_made_by_someone_else(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-force")
    name = unique(cluster, "theirs")
    path = bind(admin, cleanup, [("User", unique(cluster, "someone"))], "view", namespace=namespace, name=name)
    args = {"name": name, "namespace": namespace, "state": "absent"}
    assert apply(args)["failed"]
    assert read(admin, path) is not None
    ok(apply(dict(args, force=True), check_mode=True), True, "delete")
    assert read(admin, path) is not None
    ok(apply(dict(args, force=True)), True, "delete")
    assert read(admin, path) is None


def test_the_last_subject_leaving_empties_a_binding_of_someone_else_but_deletes_ours(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-last")
    alice = unique(cluster, "alice")
    ours = unique(cluster, "solo")
    ours_path = cleanup.add(binding_path(ours, namespace))
    ok(apply({"name": ours, "namespace": namespace, "role_name": "view", "subjects": [user(alice)]}), True, "create")
    ok(apply({"name": ours, "namespace": namespace, "state": "absent", "subjects": [user(alice)]}), True, "delete")
    assert read(admin, ours_path) is None

    theirs = unique(cluster, "their-solo")
    theirs_path = bind(admin, cleanup, [("User", alice)], "view", namespace=namespace, name=theirs)
    emptied = ok(apply({"name": theirs, "namespace": namespace, "state": "absent", "subjects": [user(alice)]}),
                 True, "update")
    assert emptied["subjects"] == [] and emptied["subjects_removed"] == [api_user(alice)]
    obj = read(admin, theirs_path)
    assert obj is not None and not obj.get("subjects")


# -- state=absent ----------------------------------------------------------------------------------------------------
def test_absent_reports_the_role_the_binding_holds_and_changes_nothing_when_there_is_nothing_to_remove(
        apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-absent")
    name = unique(cluster, "pair")
    path = our_binding(admin, cleanup, name, namespace, "view", ["alice", "bob"])
    version = read(admin, path)["metadata"]["resourceVersion"]

    stranger = ok(apply({"name": name, "namespace": namespace, "state": "absent", "subjects": [user("carol")]}),
                  False, "none")
    assert stranger["role_ref"] == {"kind": "ClusterRole", "name": "view"}
    assert stranger["subjects_removed"] == []
    assert read(admin, path)["metadata"]["resourceVersion"] == version

    drop_bob = {"name": name, "namespace": namespace, "state": "absent", "subjects": [user("bob")]}
    ok(apply(drop_bob, check_mode=True), True, "update")
    assert names(read(admin, path)["subjects"]) == ["alice", "bob"]
    dropped = ok(apply(drop_bob), True, "update")
    assert dropped["subjects"] == [api_user("alice")] and dropped["subjects_removed"] == [api_user("bob")]
    assert dropped["role_ref"] == {"kind": "ClusterRole", "name": "view"}
    ok(apply(drop_bob), False, "none")

    whole = {"name": name, "namespace": namespace, "state": "absent"}
    predicted = ok(apply(whole, check_mode=True, diff=True), True, "delete")
    assert predicted["diff"]["after"]["binding"] is None
    assert read(admin, path) is not None
    deleted = ok(apply(whole), True, "delete")
    assert deleted["subjects_removed"] == [api_user("alice")] and deleted["subjects"] == []
    assert read(admin, path) is None
    gone = ok(apply(whole), False, "none")
    assert gone["role_ref"] is None
    ok(apply(whole, check_mode=True), False, "none")


# -- roleRef changes -------------------------------------------------------------------------------------------------
def test_a_changed_role_deletes_and_recreates_our_binding_keeping_its_annotations(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-roleref")
    name = unique(cluster, "alice-access")
    path = cleanup.add(binding_path(name, namespace))
    args = {"name": name, "namespace": namespace, "role_name": "view", "subjects": [user("alice")],
            "labels": {"team": "a"}}
    ok(apply(args), True, "create")
    before = read(admin, path)
    before["metadata"]["annotations"] = {"example.com/ticket": "OPS-1"}
    admin.json("PUT", path, before, expect=200)
    before = read(admin, path)

    edit = dict(args, role_name="edit")
    predicted = ok(apply(edit, check_mode=True, diff=True), True, "recreate")
    assert any("roleRef changes from ClusterRole/view to ClusterRole/edit" in w for w in warnings_of(predicted))
    assert "deleted and created again: roleRef is immutable" in predicted["diff"]["after_header"]
    assert predicted["diff"]["before"]["binding"]["roleRef"] == {"kind": "ClusterRole", "name": "view"}
    assert predicted["diff"]["after"]["binding"]["roleRef"] == {"kind": "ClusterRole", "name": "edit"}
    assert read(admin, path)["metadata"]["uid"] == before["metadata"]["uid"]

    # (The same warning again in this process would be dropped as already given: the header tells it here.)
    recreated = ok(apply(edit, diff=True), True, "recreate")
    assert recreated["role_ref"] == {"kind": "ClusterRole", "name": "edit"}
    assert "deleted and created again" in recreated["diff"]["after_header"]
    after = read(admin, path)
    assert after["metadata"]["uid"] != before["metadata"]["uid"]
    assert after["roleRef"] == {"apiGroup": GROUP, "kind": "ClusterRole", "name": "edit"}
    assert after["subjects"] == [api_user("alice")]
    assert after["metadata"]["labels"] == {"team": "a", MANAGED_BY[0]: MANAGED_BY[1]}
    assert after["metadata"]["annotations"]["example.com/ticket"] == "OPS-1"
    ok(apply(edit), False, "none")


def test_force_recreates_a_binding_of_someone_else_for_a_new_role(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-roleref-force")
    name = unique(cluster, "theirs")
    path = bind(admin, cleanup, [("User", "alice")], "view", namespace=namespace, name=name)
    args = {"name": name, "namespace": namespace, "role_name": "edit", "subjects": [user("alice")],
            "subjects_mode": "merge"}
    assert apply(args)["failed"]
    recreated = ok(apply(dict(args, force=True)), True, "recreate")
    assert recreated["subjects_added"] == []
    obj = read(admin, path)
    assert obj["roleRef"]["name"] == "edit" and names(obj["subjects"]) == ["alice"]
    # merge leaves a binding that is not ours not ours, even when it had to be recreated
    assert MANAGED_BY[0] not in (obj["metadata"].get("labels") or {})


# -- the role made from rules ----------------------------------------------------------------------------------------
def test_a_role_made_from_rules_is_created_updated_and_deleted_with_its_binding(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-rules")
    name, role = unique(cluster, "cm-readers"), unique(cluster, "cm-reader")
    path, rpath = cleanup.add(binding_path(name, namespace)), cleanup.add(role_path(role, namespace))
    rules = [{"api_groups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
    args = {"name": name, "namespace": namespace, "role_kind": "Role", "role_name": role, "rules": rules,
            "subjects": [user("alice"), user("bob")]}

    predicted = ok(apply(args, check_mode=True, diff=True), True, "create")
    assert predicted["role_action"] == "create"
    assert predicted["diff"]["after"]["role"]["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
    assert read(admin, rpath) is None
    created = ok(apply(args), True, "create")
    assert created["role_action"] == "create" and created["role_ref"] == {"kind": "Role", "name": role}
    obj = read(admin, rpath)
    assert obj["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
    assert obj["metadata"]["labels"][MANAGED_BY[0]] == MANAGED_BY[1]
    assert ok(apply(args), False, "none")["role_action"] == "none"

    more = dict(args, rules=rules + [{"api_groups": [""], "resources": ["secrets"], "verbs": ["get"]}])
    assert ok(apply(more, check_mode=True), True, "none")["role_action"] == "update"
    assert len(read(admin, rpath)["rules"]) == 1
    assert ok(apply(more), True, "none")["role_action"] == "update"
    assert len(read(admin, rpath)["rules"]) == 2
    assert ok(apply(more, check_mode=True), False, "none")["role_action"] == "none"

    # The role stays while the binding does: bob leaving leaves alice bound to it.
    one_left = ok(apply(dict(more, state="absent", subjects=[user("bob")])), True, "update")
    assert one_left["role_action"] == "none"
    assert read(admin, rpath) is not None

    gone = ok(apply(dict(more, state="absent", subjects=None)), True, "delete")
    assert gone["role_action"] == "delete"
    assert read(admin, path) is None and read(admin, rpath) is None
    assert ok(apply(dict(more, state="absent", subjects=None)), False, "none")["role_action"] == "none"


def test_a_role_made_by_someone_else_is_not_overwritten_unless_forced(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-foreign-role")
    role = make_role(admin, cleanup, [rule([""], ["pods"], ["get"])], namespace=namespace,
                     name=unique(cluster, "theirs"))
    name = unique(cluster, "wants-theirs")
    path = cleanup.add(binding_path(name, namespace))
    args = {"name": name, "namespace": namespace, "role_kind": "Role", "role_name": role,
            "rules": [{"api_groups": [""], "resources": ["secrets"], "verbs": ["*"]}],
            "subjects": [user(unique(cluster, "alice"))]}
    refused = apply(args)
    assert refused["failed"] and not refused["changed"]
    assert f"role_name: Role {namespace}/{role} exists and is not managed by kubeaccess.x509" in refused["msg"]
    assert "its rules are not replaced" in refused["msg"]
    assert read(admin, role_path(role, namespace))["rules"] == [rule([""], ["pods"], ["get"])]
    assert read(admin, path) is None

    forced = ok(apply(dict(args, force=True)), True, "create")
    assert forced["role_action"] == "update"
    obj = read(admin, role_path(role, namespace))
    assert obj["rules"] == [rule([""], ["secrets"], ["*"])]
    assert obj["metadata"]["labels"][MANAGED_BY[0]] == MANAGED_BY[1]


def test_a_role_of_someone_else_is_left_in_place_when_its_binding_goes(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-keep-role")
    role = make_role(admin, cleanup, [rule([""], ["pods"], ["get"])], namespace=namespace,
                     name=unique(cluster, "theirs"))
    name = unique(cluster, "binding")
    path = our_binding(admin, cleanup, name, namespace, "view", ["alice"])
    args = {"name": name, "namespace": namespace, "role_kind": "Role", "role_name": role, "state": "absent",
            "rules": [{"api_groups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    kept = ok(apply(args), True, "delete")
    assert kept["role_action"] == "none"
    assert any(f"Role {namespace}/{role} is not managed by kubeaccess.x509" in w and "left in place" in w
               for w in warnings_of(kept))
    assert read(admin, path) is None and read(admin, role_path(role, namespace)) is not None

    forced = ok(apply(dict(args, force=True)), True, "none")  # the binding is gone; force deletes the role too
    assert forced["role_action"] == "delete"
    assert read(admin, role_path(role, namespace)) is None


def test_an_aggregated_cluster_role_is_never_given_rules(apply, admin, cleanup, cluster):
    role = unique(cluster, "aggregated")
    admin.json("POST", f"{RBAC}/clusterroles", {
        "apiVersion": f"{GROUP}/v1", "kind": "ClusterRole",
        "metadata": {"name": role, "labels": {MANAGED_BY[0]: MANAGED_BY[1]}},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"example.com/aggregate": "true"}}]},
        "rules": []}, expect=201)
    cleanup.add(role_path(role))
    name = unique(cluster, "aggregated-binding")
    cleanup.add(binding_path(name))
    refused = apply({"name": name, "role_name": role, "subjects": [user("alice")],
                     "rules": [{"api_groups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    assert refused["failed"]
    assert f"role_name: ClusterRole {role} is an aggregated ClusterRole" in refused["msg"]
    assert read(admin, binding_path(name)) is None


# -- namespaces ------------------------------------------------------------------------------------------------------
def test_a_missing_namespace_fails_the_batch_before_anything_changes(apply, admin, cleanup, cluster):
    first = make_namespace(admin, cleanup, cluster, "rbu-missing")
    missing = unique(cluster, "rbu-never-made")
    good = {"name": unique(cluster, "good"), "namespace": first, "role_name": "view",
            "subjects": [user("someone")]}
    cleanup.add(binding_path(good["name"], first))
    bad = dict(good, name=unique(cluster, "lost"), namespace=missing)
    result = apply({"bindings": [good, bad]})
    assert result["failed"] and not result["changed"]
    assert f"bindings[1] (RoleBinding {missing}/{bad['name']}): namespace: {missing} does not exist" in result["msg"]
    assert "bindings[0]" not in result["msg"]
    assert read(admin, binding_path(good["name"], first)) is None

    single = apply(bad)
    assert single["failed"] and single["msg"].startswith(f"namespace: {missing} does not exist")
    # Nothing to remove from a namespace that does not exist.
    ok(apply(dict(bad, state="absent")), False, "none")


def test_a_namespace_being_deleted_gets_no_new_binding(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-terminating")
    admin.request("DELETE", f"/api/v1/namespaces/{namespace}")
    name = unique(cluster, "late")
    cleanup.add(binding_path(name, namespace))
    result = apply({"name": name, "namespace": namespace, "role_name": "view", "subjects": [user("alice")]})
    assert result["failed"]
    # Terminating for a while (the server refuses new content), or already gone (the module refuses): either way
    # the message names the namespace and nothing is made.
    assert (f"namespace {namespace} because it is being terminated" in result["msg"]
            or result["msg"].startswith(f"namespace: {namespace} does not exist")), result["msg"]
    assert read(admin, binding_path(name, namespace)) is None


def test_the_cluster_tells_which_namespaces_exist_with_one_list_or_a_get_each(in_module, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-exists")
    missing = unique(cluster, "rbu-absent-ns")

    def exists(module, batch):
        view = Cluster(batch, SharedClient(module.params))
        return [view.namespace_exists(namespace), view.namespace_exists(missing), view.namespace_exists(namespace)]
    assert in_module({}, lambda module: exists(module, True)) == [True, False, True]
    assert in_module({}, lambda module: exists(module, False)) == [True, False, True]


# -- checks of the input ---------------------------------------------------------------------------------------------
BAD_INPUT = [
    ({"name": "Bad_Name", "role_name": "view", "subjects": [user("a")]}, "name: 'Bad_Name' is not a valid object"),
    ({"name": "x", "role_name": "view", "subjects": [{"kind": "Robot", "name": "r2"}]},
     "subjects[0].kind: 'Robot' is not a subject kind; use User, Group or ServiceAccount"),
    ({"name": "x", "role_name": "view", "subjects": [{"kind": "ServiceAccount", "name": "deployer"}]},
     "subjects[0].namespace: required for a ServiceAccount in a ClusterRoleBinding"),
    ({"name": "x", "role_kind": "Role", "role_name": "r", "subjects": [user("a")]},
     "role_kind: a Role lives in a namespace, so binding one needs namespace"),
    ({"name": "x", "role_name": "view", "subjects": []}, "subjects: must not be empty for state=present"),
    ({"name": "x", "subjects": [user("a")]}, "role_name: required for state=present"),
    ({"name": "x", "role_name": "r", "subjects": [user("a")],
      "rules": [{"api_groups": [""], "resources": ["pods"], "verbs": []}]}, "rules[0].verbs: must not be empty"),
    ({"name": "x", "namespace": "", "role_name": "view", "subjects": [user("a")]},
     "namespace: empty; leave it out (or null) for a ClusterRoleBinding"),
    ({"name": "x", "role_name": "view", "subjects": [user("a")], "labels": {"app.kubernetes.io/managed-by": "me"}},
     "labels: app.kubernetes.io/managed-by is set by this module"),
    ({"bindings": [{"name": "x", "role_name": "view", "subjects": [user("a")]}], "prune": True},
     "labels: required with prune"),
    ({"name": "x", "role_name": "view", "subjects": [user("a")], "prune": True, "labels": {"a": "b"}},
     "prune: needs bindings"),
]


@pytest.mark.parametrize("args, expected", BAD_INPUT, ids=[e.split(":")[0] for _a, e in BAD_INPUT])
def test_bad_input_is_refused_naming_the_option(apply, admin, args, expected):
    result = apply(args)
    assert result["failed"] and not result["changed"]
    assert expected in result["msg"], result["msg"]
    assert read(admin, binding_path("x")) is None


def test_every_problem_of_an_item_is_named_at_once(in_module):
    def refusal(module):
        with pytest.raises(InputError) as refused:
            binding_item(module)
        return str(refused.value)
    message = in_module({"name": "Bad_Name", "role_kind": "Role", "subjects": []}, refusal)
    assert message.startswith("name: 'Bad_Name' is not a valid object")
    assert "; role_kind: a Role lives in a namespace" in message
    assert "; role_name: required for state=present" in message
    assert "; subjects: must not be empty for state=present" in message


# -- the cluster changed since it was read ---------------------------------------------------------------------------
def _run_on_a_stale_listing(module, change):
    """A batch's view: the namespace's bindings listed, then `change()` done by someone else, then the item run."""
    client = SharedClient(module.params)
    view = Cluster(True, client)
    item = binding_item(module, view)
    view.get("RoleBinding", module.params["namespace"], module.params["name"])
    change()
    try:
        item.run()
    except InputError as exc:
        return {"refused": str(exc)}
    return item.result


def test_a_binding_made_meanwhile_is_read_again_instead_of_failing_the_create(in_module, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-raced-create")
    name = unique(cluster, "raced")
    cleanup.add(binding_path(name, namespace))
    args = {"name": name, "namespace": namespace, "role_name": "view", "subjects": [user("alice")]}
    made = {}

    def make_it():
        our_binding(admin, cleanup, name, namespace, "view", ["alice"])
        made.update(read(admin, binding_path(name, namespace)))
    result = in_module(args, lambda module: _run_on_a_stale_listing(module, make_it))
    assert result["action"] == "none" and result["subjects_added"] == []
    assert read(admin, binding_path(name, namespace))["metadata"]["resourceVersion"] == \
        made["metadata"]["resourceVersion"]


def test_a_binding_changed_meanwhile_is_decided_again_on_what_it_holds_now(in_module, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-raced-update")
    name = unique(cluster, "raced")
    path = our_binding(admin, cleanup, name, namespace, "view", ["alice"])

    def add_carol():
        obj = read(admin, path)
        obj["subjects"].append(api_user("carol"))
        admin.json("PUT", path, obj, expect=200)
    args = {"name": name, "namespace": namespace, "role_name": "view", "subjects": [user("alice"), user("bob")]}
    result = in_module(args, lambda module: _run_on_a_stale_listing(module, add_carol))
    assert result["action"] == "update"
    assert result["subjects_added"] == [api_user("bob")] and result["subjects_removed"] == [api_user("carol")]
    assert names(read(admin, path)["subjects"]) == ["alice", "bob"]


def test_a_binding_replaced_meanwhile_by_someone_else_is_not_deleted(in_module, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-raced-recreate")
    name = unique(cluster, "raced")
    path = our_binding(admin, cleanup, name, namespace, "view", ["alice"])

    def replace_with_theirs():
        admin.request("DELETE", path)
        bind(admin, cleanup, [("User", "carol")], "view", namespace=namespace, name=name)
    args = {"name": name, "namespace": namespace, "role_name": "edit", "subjects": [user("alice")]}
    result = in_module(args, lambda module: _run_on_a_stale_listing(module, replace_with_theirs))
    assert "refused" in result and "is not managed by kubeaccess.x509" in result["refused"], result
    obj = read(admin, path)
    assert obj["roleRef"]["name"] == "view" and names(obj["subjects"]) == ["carol"]


# -- the batch and pruning -------------------------------------------------------------------------------------------
def _inventory(cluster, first, second, inventory):
    """Four bindings over two namespaces and the cluster, one with a Role made from rules."""
    return {
        "labels": {"kubeaccess.x509/test-inventory": inventory},
        "bindings": [
            {"name": unique(cluster, "alice-view"), "namespace": first, "role_name": "view",
             "subjects": [user("alice")]},
            {"name": unique(cluster, "devs-edit"), "namespace": second, "role_name": "edit",
             "subjects": [{"kind": "Group", "name": "devs"}], "labels": {"tier": "dev"}},
            {"name": unique(cluster, "alice-cm"), "namespace": second, "role_kind": "Role",
             "role_name": unique(cluster, "cm-reader"), "subjects": [user("alice")],
             "rules": [{"api_groups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]},
            {"name": unique(cluster, "alice-cluster-view"), "role_name": "view", "subjects": [user("alice")]},
        ]}


def _register(cleanup, args):
    for item in args["bindings"]:
        cleanup.add(binding_path(item["name"], item.get("namespace")))
        if item.get("rules"):
            cleanup.add(role_path(item["role_name"], item.get("namespace")))


def test_a_batch_in_check_mode_predicts_from_what_earlier_items_would_write(apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-batch-check")
    role = unique(cluster, "shared-role")
    rules = [{"api_groups": [""], "resources": ["pods"], "verbs": ["get"]}]
    items = [{"name": unique(cluster, f"uses-role-{n}"), "namespace": namespace, "role_kind": "Role",
              "role_name": role, "rules": rules, "subjects": [user(f"user-{n}")]} for n in (1, 2)]
    args = {"bindings": items}
    _register(cleanup, args)
    predicted = ok(apply(args, check_mode=True), True)
    assert [r["role_action"] for r in predicted["results"]] == ["create", "none"]
    assert [(r["name"], r["namespace"]) for r in predicted["results"]] == [(i["name"], namespace) for i in items]
    assert read(admin, role_path(role, namespace)) is None
    done = ok(apply(args), True)
    assert [r["role_action"] for r in done["results"]] == ["create", "none"]


@pytest.mark.local_only("reads the local server's request counters")
def test_an_idempotent_batch_only_lists_and_writes_nothing(apply, admin, cleanup, cluster):
    first = make_namespace(admin, cleanup, cluster, "rbu-count-a")
    second = make_namespace(admin, cleanup, cluster, "rbu-count-b")
    args = _inventory(cluster, first, second, unique(cluster, "count"))
    _register(cleanup, args)
    ok(apply(args), True)

    cluster.control("DELETE", "stats")
    ok(apply(args), False)
    requests = [r for r in cluster.control("GET", "stats")["requests"]
                if r["resource"] in ("namespaces", "rolebindings", "clusterrolebindings", "roles", "clusterroles")]
    assert {r["verb"] for r in requests} == {"list"}, requests
    assert sorted((r["resource"], r["namespace"]) for r in requests) == sorted([
        ("namespaces", ""), ("rolebindings", first), ("rolebindings", second), ("clusterrolebindings", ""),
        ("roles", second)])


def test_prune_removes_what_left_the_list_and_nothing_else(apply, admin, cleanup, cluster):
    first = make_namespace(admin, cleanup, cluster, "rbu-prune-a")
    second = make_namespace(admin, cleanup, cluster, "rbu-prune-b")
    args = _inventory(cluster, first, second, unique(cluster, "prune"))
    _register(cleanup, args)
    ok(apply(dict(args, prune=True)), True)
    # A binding of another inventory: ours, but without this inventory's label value.
    other = {"name": unique(cluster, "other-inventory"), "namespace": second, "role_name": "view",
             "subjects": [user("carol")], "labels": {"kubeaccess.x509/test-inventory": "other"}}
    other_path = cleanup.add(binding_path(other["name"], second))
    ok(apply(other), True, "create")

    kept = dict(args, bindings=[args["bindings"][0], args["bindings"][3]], prune=True)
    dropped = args["bindings"][1:3]
    expected = sorted([("RoleBinding", second, dropped[0]["name"]), ("RoleBinding", second, dropped[1]["name"]),
                       ("Role", second, dropped[1]["role_name"])])
    predicted = ok(apply(kept, check_mode=True, diff=True), True)
    assert sorted((p["kind"], p["namespace"], p["name"]) for p in predicted["pruned"]) == expected
    assert f"RoleBinding {second}/{dropped[0]['name']} (pruned: no longer listed)" in [
        d.get("before_header") for d in predicted["diff"]]
    assert {"kind": "Group", "name": "devs"} in next(
        p for p in predicted["pruned"] if p["name"] == dropped[0]["name"])["subjects"]
    assert read(admin, binding_path(dropped[0]["name"], second)) is not None

    pruned = ok(apply(kept), True)
    assert [r["action"] for r in pruned["results"]] == ["none", "none"]
    assert sorted((p["kind"], p["namespace"], p["name"]) for p in pruned["pruned"]) == expected
    assert read(admin, binding_path(dropped[0]["name"], second)) is None
    assert read(admin, binding_path(dropped[1]["name"], second)) is None
    assert read(admin, role_path(dropped[1]["role_name"], second)) is None
    assert read(admin, other_path) is not None
    assert read(admin, binding_path(args["bindings"][0]["name"], first)) is not None
    assert read(admin, binding_path(args["bindings"][3]["name"])) is not None

    again = ok(apply(kept), False)
    assert again["pruned"] == []

    emptied = ok(apply(dict(kept, bindings=[])), True)
    assert sorted(p["name"] for p in emptied["pruned"]) == sorted([args["bindings"][0]["name"],
                                                                   args["bindings"][3]["name"]])
    assert read(admin, other_path) is not None


def test_prune_keeps_a_role_a_listed_item_binds_without_giving_its_rules(in_module, apply, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rbu-prune-role")
    labels = {"kubeaccess.x509/test-inventory": unique(cluster, "prune-role")}
    role = unique(cluster, "made-here")
    made = {"name": unique(cluster, "with-rules"), "namespace": namespace, "role_kind": "Role", "role_name": role,
            "rules": [{"api_groups": [""], "resources": ["pods"], "verbs": ["get"]}], "subjects": [user("alice")]}
    args = {"labels": labels, "bindings": [made]}
    _register(cleanup, args)
    ok(apply(args), True)

    still_bound = dict(made, rules=None)
    listed_args = dict(args, bindings=[{k: v for k, v in still_bound.items() if v is not None}], prune=True)

    def prune_in_check_mode(module):
        listed = item_params(module.params, MODULE_SPEC, LIST_OPTION, SHARED)
        return prune(module, Cluster(True, SharedClient(module.params)), listed)
    pruned, diffs = in_module(listed_args, prune_in_check_mode, check_mode=True)
    assert pruned == [] and diffs == []

    dropped, _diffs = in_module(dict(listed_args, bindings=[]), prune_in_check_mode, check_mode=True)
    assert sorted((p["kind"], p["name"]) for p in dropped) == [("Role", role), ("RoleBinding", made["name"])]
    assert read(admin, role_path(role, namespace)) is not None


def test_prune_that_may_not_list_fails_the_task_naming_prune_and_the_permission(apply, cluster):
    kubeconfig = cluster.make_user(unique(cluster, "no-rights"))
    result = apply({"kubeconfig": kubeconfig, "bindings": [], "prune": True,
                    "labels": {"kubeaccess.x509/test-inventory": "nothing"}})
    assert result["failed"] and not result["changed"] and result["pruned"] == []
    assert "prune: GET /apis/rbac.authorization.k8s.io/v1/rolebindings?labelSelector=" in result["msg"]
    assert 'Missing permission: list on rolebindings in API group "rbac.authorization.k8s.io"' in result["msg"]
