"""k8s_rbac_binding through ansible-playbook: what it writes, checked with the API as admin, and what it grants,
checked with kubectl as the users it binds."""

from tests.contract.support import bind, make_role, rule
from tests.kube import kubectl, wait_for
from tests.unit.backends.test_backend_rbac_binding import (
    GROUP, MANAGED_BY, _register, api_user, binding_path, make_namespace, names, ok, read, role_path, unique, user)

MODULE = "k8s_rbac_binding"


def can_i(kubeconfig, verb, resource, namespace=None):
    """What the API server answers the user (SelfSubjectAccessReview through kubectl)."""
    scope = ["-n", namespace] if namespace else ["--all-namespaces"]
    answer = kubectl(kubeconfig, "auth", "can-i", verb, resource, *scope)
    assert answer.returncode in (0, 1), answer.stderr
    return answer.stdout.strip() == "yes"


def assert_access(allowed, kubeconfig, verb, resource, namespace=None):
    """The server answers as expected; a real one's authorizer sees RBAC changes shortly after they are written."""
    wait_for(lambda: can_i(kubeconfig, verb, resource, namespace) is allowed, timeout=20,
             what=f"can-i {verb} {resource} in {namespace or 'all namespaces'} to be {allowed}")


def test_create_check_run_repeat_and_the_user_gets_access(run_module, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rb-create")
    alice = unique(cluster, "alice")
    kubeconfig = cluster.make_user(alice)
    name = unique(cluster, "alice-view")
    path = cleanup.add(binding_path(name, namespace))
    args = {"name": name, "namespace": namespace, "role_name": "view", "subjects": [user(alice)],
            "labels": {"team": "a"}}
    assert_access(False, kubeconfig, "list", "configmaps", namespace)

    predicted = ok(run_module(MODULE, args, check=True, diff=True), True, "create")
    assert read(admin, path) is None
    assert predicted["diff"]["before"]["binding"] is None
    assert predicted["diff"]["after"]["binding"]["subjects"] == [api_user(alice)]
    assert predicted["diff"]["after"]["binding"]["roleRef"] == {"kind": "ClusterRole", "name": "view"}

    created = ok(run_module(MODULE, args, diff=True), True, "create")
    assert created["kind"] == "RoleBinding" and created["namespace"] == namespace and created["name"] == name
    assert created["role_ref"] == {"kind": "ClusterRole", "name": "view"}
    assert created["subjects"] == created["subjects_added"] == [api_user(alice)]
    assert created["subjects_removed"] == [] and "role_action" not in created
    assert created["diff"] == predicted["diff"]
    obj = read(admin, path)
    assert obj["roleRef"] == {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"}
    assert obj["subjects"] == [api_user(alice)]
    assert obj["metadata"]["labels"] == {"team": "a", MANAGED_BY[0]: MANAGED_BY[1]}
    assert_access(True, kubeconfig, "list", "configmaps", namespace)
    assert_access(False, kubeconfig, "create", "configmaps", namespace)
    assert_access(False, kubeconfig, "list", "configmaps", "default")

    again = ok(run_module(MODULE, args, diff=True), False, "none")
    assert again["subjects"] == [api_user(alice)] and again["subjects_added"] == []
    assert again["diff"]["before"] == again["diff"]["after"]
    ok(run_module(MODULE, args, check=True), False, "none")
    assert read(admin, path)["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]


def test_merging_into_a_binding_made_by_someone_else_grants_and_removes_access(run_module, admin, cleanup, cluster):
    """End to end; what is refused, taken over with force or kept of such a binding is decided in the backend's unit
    tests (tests/unit/backends/test_backend_rbac_binding.py)."""
    namespace = make_namespace(admin, cleanup, cluster, "rb-foreign")
    alice, theirs = unique(cluster, "alice"), unique(cluster, "their-group")
    name = unique(cluster, "shared")
    path = bind(admin, cleanup, [("Group", theirs)], "view", namespace=namespace, name=name)
    kubeconfig = cluster.make_user(alice)
    args = {"name": name, "namespace": namespace, "role_name": "view", "subjects": [user(alice)],
            "subjects_mode": "merge"}

    merged = ok(run_module(MODULE, args), True, "update")
    assert names(merged["subjects"]) == [theirs, alice] and merged["subjects_removed"] == []
    obj = read(admin, path)
    assert names(obj["subjects"]) == [theirs, alice]
    assert MANAGED_BY[0] not in (obj["metadata"].get("labels") or {})
    assert_access(True, kubeconfig, "list", "pods", namespace)

    mine = ok(run_module(MODULE, dict(args, state="absent")), True, "update")
    assert mine["subjects_removed"] == [api_user(alice)]
    assert names(read(admin, path)["subjects"]) == [theirs]
    assert_access(False, kubeconfig, "list", "pods", namespace)


def test_a_changed_role_recreates_the_binding_and_the_user_keeps_access(run_module, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rb-roleref")
    alice = unique(cluster, "alice")
    kubeconfig = cluster.make_user(alice)
    name = unique(cluster, "alice-access")
    path = cleanup.add(binding_path(name, namespace))
    args = {"name": name, "namespace": namespace, "role_name": "view", "subjects": [user(alice)]}
    ok(run_module(MODULE, args), True, "create")
    before = read(admin, path)
    assert_access(False, kubeconfig, "create", "configmaps", namespace)

    edit = dict(args, role_name="edit")
    predicted = ok(run_module(MODULE, edit, check=True, diff=True), True, "recreate")
    assert any("roleRef is immutable" in w for w in predicted["warnings"])
    assert "roleRef is immutable" in predicted["diff"]["after_header"]
    assert predicted["diff"]["before"]["binding"]["roleRef"] == {"kind": "ClusterRole", "name": "view"}
    assert predicted["diff"]["after"]["binding"]["roleRef"] == {"kind": "ClusterRole", "name": "edit"}
    assert read(admin, path)["metadata"]["uid"] == before["metadata"]["uid"]

    recreated = ok(run_module(MODULE, edit), True, "recreate")
    assert recreated["role_ref"] == {"kind": "ClusterRole", "name": "edit"}
    assert any("deleted and created again" in w for w in recreated["warnings"])
    after = read(admin, path)
    assert after["metadata"]["uid"] != before["metadata"]["uid"]
    assert after["roleRef"]["name"] == "edit" and after["subjects"] == [api_user(alice)]
    assert after["metadata"]["labels"][MANAGED_BY[0]] == MANAGED_BY[1]
    assert_access(True, kubeconfig, "create", "configmaps", namespace)
    assert_access(True, kubeconfig, "list", "configmaps", namespace)

    ok(run_module(MODULE, edit), False, "none")
    ok(run_module(MODULE, edit, check=True), False, "none")


def test_a_role_made_from_rules_is_created_updated_and_removed(run_module, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rb-rules")
    alice = unique(cluster, "alice")
    kubeconfig = cluster.make_user(alice)
    name, role = unique(cluster, "cm-readers"), unique(cluster, "cm-reader")
    path, rpath = cleanup.add(binding_path(name, namespace)), cleanup.add(role_path(role, namespace))
    rules = [{"api_groups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
    args = {"name": name, "namespace": namespace, "role_kind": "Role", "role_name": role, "rules": rules,
            "subjects": [user(alice)]}

    predicted = ok(run_module(MODULE, args, check=True, diff=True), True, "create")
    assert predicted["role_action"] == "create"
    assert predicted["diff"]["after"]["role"]["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
    assert read(admin, rpath) is None
    created = ok(run_module(MODULE, args), True, "create")
    assert created["role_action"] == "create" and created["role_ref"] == {"kind": "Role", "name": role}
    obj = read(admin, rpath)
    assert obj["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
    assert obj["metadata"]["labels"][MANAGED_BY[0]] == MANAGED_BY[1]
    assert_access(True, kubeconfig, "list", "configmaps", namespace)
    assert_access(False, kubeconfig, "get", "secrets", namespace)
    again = ok(run_module(MODULE, args), False, "none")
    assert again["role_action"] == "none"

    more = dict(args, rules=rules + [{"api_groups": [""], "resources": ["secrets"], "verbs": ["get"]}])
    predicted = ok(run_module(MODULE, more, check=True), True, "none")
    assert predicted["role_action"] == "update"
    updated = ok(run_module(MODULE, more), True, "none")
    assert updated["role_action"] == "update"
    assert len(read(admin, rpath)["rules"]) == 2
    assert_access(True, kubeconfig, "get", "secrets", namespace)
    assert ok(run_module(MODULE, more, check=True), False, "none")["role_action"] == "none"

    gone = ok(run_module(MODULE, dict(more, state="absent", subjects=None)), True, "delete")
    assert gone["role_action"] == "delete"
    assert read(admin, path) is None and read(admin, rpath) is None
    assert_access(False, kubeconfig, "list", "configmaps", namespace)
    assert ok(run_module(MODULE, dict(more, state="absent", subjects=None)), False, "none")["role_action"] == "none"


def test_absent_removes_one_subject_then_the_whole_binding(run_module, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rb-absent")
    alice, bob = unique(cluster, "alice"), unique(cluster, "bob")
    alice_config, bob_config = cluster.make_user(alice), cluster.make_user(bob)
    name = unique(cluster, "pair")
    path = cleanup.add(binding_path(name, namespace))
    args = {"name": name, "namespace": namespace, "role_name": "view", "subjects": [user(alice), user(bob)]}
    ok(run_module(MODULE, args), True, "create")
    assert_access(True, bob_config, "list", "pods", namespace)

    drop_bob = {"name": name, "namespace": namespace, "state": "absent", "subjects": [user(bob)]}
    ok(run_module(MODULE, drop_bob, check=True), True, "update")
    assert_access(True, bob_config, "list", "pods", namespace)
    dropped = ok(run_module(MODULE, drop_bob), True, "update")
    assert dropped["subjects"] == [api_user(alice)] and dropped["subjects_removed"] == [api_user(bob)]
    assert dropped["role_ref"] == {"kind": "ClusterRole", "name": "view"}
    assert_access(False, bob_config, "list", "pods", namespace)
    assert_access(True, alice_config, "list", "pods", namespace)
    ok(run_module(MODULE, drop_bob), False, "none")

    whole = {"name": name, "namespace": namespace, "state": "absent"}
    predicted = ok(run_module(MODULE, whole, check=True, diff=True), True, "delete")
    assert predicted["diff"]["after"]["binding"] is None
    assert read(admin, path) is not None
    deleted = ok(run_module(MODULE, whole), True, "delete")
    assert deleted["subjects_removed"] == [api_user(alice)] and deleted["subjects"] == []
    assert read(admin, path) is None
    assert_access(False, alice_config, "list", "pods", namespace)
    ok(run_module(MODULE, whole), False, "none")
    ok(run_module(MODULE, whole, check=True), False, "none")


def test_cluster_binding_of_a_group_and_a_service_account(run_module, admin, cleanup, cluster):
    group, account_namespace = unique(cluster, "auditors"), unique(cluster, "ci")
    name = unique(cluster, "auditors-view")
    path = cleanup.add(binding_path(name))
    kubeconfig = cluster.make_user(unique(cluster, "auditor"), [group])
    args = {"name": name, "role_name": "view",
            "subjects": [{"kind": "Group", "name": group},
                         {"kind": "ServiceAccount", "name": "deployer", "namespace": account_namespace}]}
    created = ok(run_module(MODULE, args), True, "create")
    assert created["kind"] == "ClusterRoleBinding" and created["namespace"] is None
    assert created["subjects"] == [
        {"kind": "Group", "apiGroup": GROUP, "name": group},
        {"kind": "ServiceAccount", "apiGroup": "", "name": "deployer", "namespace": account_namespace}]
    obj = read(admin, path)
    assert obj["subjects"][1]["namespace"] == account_namespace and not obj["subjects"][1].get("apiGroup")
    assert_access(True, kubeconfig, "list", "pods")
    ok(run_module(MODULE, args), False, "none")
    ok(run_module(MODULE, {"name": name, "state": "absent"}), True, "delete")
    assert_access(False, kubeconfig, "list", "pods")


def _inventory(cluster, first, second, inventory, alice):
    """Four bindings over two namespaces and the cluster, one with a Role made from rules."""
    devs = unique(cluster, "devs")
    return {
        "labels": {"kubeaccess.x509/test-inventory": inventory},
        "bindings": [
            {"name": unique(cluster, "alice-view"), "namespace": first, "role_name": "view",
             "subjects": [user(alice)]},
            {"name": unique(cluster, "devs-edit"), "namespace": second, "role_name": "edit",
             "subjects": [{"kind": "Group", "name": devs}], "labels": {"tier": "dev"}},
            {"name": unique(cluster, "alice-cm"), "namespace": second, "role_kind": "Role",
             "role_name": unique(cluster, "cm-reader"), "subjects": [user(alice)],
             "rules": [{"api_groups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]},
            {"name": unique(cluster, "alice-cluster-view"), "role_name": "view", "subjects": [user(alice)]},
        ]}


def test_batch_over_two_namespaces_and_the_cluster(run_module, admin, cleanup, cluster):
    first = make_namespace(admin, cleanup, cluster, "rb-batch-a")
    second = make_namespace(admin, cleanup, cluster, "rb-batch-b")
    alice = unique(cluster, "alice")
    args = _inventory(cluster, first, second, unique(cluster, "batch"), alice)
    _register(cleanup, args)
    kubeconfig = cluster.make_user(alice)
    developer = cluster.make_user(unique(cluster, "dev"), [args["bindings"][1]["subjects"][0]["name"]])

    predicted = ok(run_module(MODULE, args, check=True), True)
    assert [r["action"] for r in predicted["results"]] == ["create"] * 4
    assert predicted["results"][2]["role_action"] == "create"
    assert predicted["pruned"] == []
    assert all(read(admin, binding_path(i["name"], i.get("namespace"))) is None for i in args["bindings"])

    done = ok(run_module(MODULE, args), True)
    assert [(r["kind"], r["namespace"], r["action"]) for r in done["results"]] == [
        ("RoleBinding", first, "create"), ("RoleBinding", second, "create"), ("RoleBinding", second, "create"),
        ("ClusterRoleBinding", None, "create")]
    labels = read(admin, binding_path(args["bindings"][1]["name"], second))["metadata"]["labels"]
    assert labels == {"kubeaccess.x509/test-inventory": args["labels"]["kubeaccess.x509/test-inventory"],
                      "tier": "dev", MANAGED_BY[0]: MANAGED_BY[1]}
    assert_access(True, kubeconfig, "list", "pods")
    assert_access(False, kubeconfig, "create", "configmaps", second)
    assert_access(True, developer, "create", "configmaps", second)
    assert_access(False, developer, "create", "configmaps", first)
    role = read(admin, role_path(args["bindings"][2]["role_name"], second))
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]

    again = ok(run_module(MODULE, args), False)
    assert [r["action"] for r in again["results"]] == ["none"] * 4
    assert again["results"][2]["role_action"] == "none"
    ok(run_module(MODULE, args, check=True), False)


def test_prune_removes_what_left_the_list_and_nothing_else(run_module, admin, cleanup, cluster):
    first = make_namespace(admin, cleanup, cluster, "rb-prune-a")
    second = make_namespace(admin, cleanup, cluster, "rb-prune-b")
    inventory = unique(cluster, "prune")
    args = _inventory(cluster, first, second, inventory, unique(cluster, "alice"))
    _register(cleanup, args)
    ok(run_module(MODULE, dict(args, prune=True)), True)
    # A binding of another inventory: ours, but without this inventory's label value.
    other = {"name": unique(cluster, "other-inventory"), "namespace": second, "role_name": "view",
             "subjects": [user(unique(cluster, "carol"))], "labels": {"kubeaccess.x509/test-inventory": "other"}}
    other_path = cleanup.add(binding_path(other["name"], second))
    ok(run_module(MODULE, other), True, "create")

    kept = dict(args, bindings=[args["bindings"][0], args["bindings"][3]], prune=True)
    dropped = args["bindings"][1:3]
    expected = sorted([("RoleBinding", second, dropped[0]["name"]), ("RoleBinding", second, dropped[1]["name"]),
                       ("Role", second, dropped[1]["role_name"])])
    predicted = ok(run_module(MODULE, kept, check=True, diff=True), True)
    assert sorted((p["kind"], p["namespace"], p["name"]) for p in predicted["pruned"]) == expected
    assert any("pruned" in d.get("before_header", "") for d in predicted["diff"])
    assert read(admin, binding_path(dropped[0]["name"], second)) is not None

    pruned = ok(run_module(MODULE, kept), True)
    assert [r["action"] for r in pruned["results"]] == ["none", "none"]
    assert sorted((p["kind"], p["namespace"], p["name"]) for p in pruned["pruned"]) == expected
    assert read(admin, binding_path(dropped[0]["name"], second)) is None
    assert read(admin, binding_path(dropped[1]["name"], second)) is None
    assert read(admin, role_path(dropped[1]["role_name"], second)) is None
    assert read(admin, other_path) is not None
    assert read(admin, binding_path(args["bindings"][0]["name"], first)) is not None
    assert read(admin, binding_path(args["bindings"][3]["name"])) is not None


def test_bad_input_in_a_batch_names_the_item_and_changes_nothing(run_module, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rb-bad-batch")
    good = {"name": unique(cluster, "fine"), "namespace": namespace, "role_name": "view", "subjects": [user("a")]}
    cleanup.add(binding_path(good["name"], namespace))
    bad = unique(cluster, "bad")
    result = run_module(MODULE, {"bindings": [
        good, dict(good, name=bad, subjects=[{"kind": "Usr", "name": "a"}]),
        dict(good, name=unique(cluster, "bad2"), role_kind="Role", role_name="r",
             rules=[{"api_groups": [""], "resources": ["pods"]}])]})
    assert result["failed"] and not result["changed"]
    assert f"bindings[1] (RoleBinding {namespace}/{bad}): subjects[0].kind: 'Usr'" in result["msg"]
    assert "bindings[2]" in result["msg"] and "rules[0].verbs: must not be empty" in result["msg"]
    assert read(admin, binding_path(good["name"], namespace)) is None


def test_refusals_of_the_server_are_passed_on(run_module, admin, cleanup, cluster):
    namespace = make_namespace(admin, cleanup, cluster, "rb-denied")
    binder = unique(cluster, "binder")
    # May manage bindings in the namespace, but holds none of what `edit` grants and may not `bind` it.
    role = make_role(admin, cleanup, [rule([""], ["namespaces"], ["get"]),
                                      rule([GROUP], ["rolebindings"], ["get", "list", "create", "update"])],
                     namespace=namespace)
    bind(admin, cleanup, [("User", binder)], role, namespace=namespace, role_kind="Role")
    kubeconfig = cluster.make_user(binder)
    name = unique(cluster, "escalate")
    cleanup.add(binding_path(name, namespace))
    args = {"kubeconfig": kubeconfig, "name": name, "namespace": namespace, "role_name": "edit",
            "subjects": [user(binder)]}
    escalation = run_module(MODULE, args)
    assert escalation["failed"]
    assert "is attempting to grant RBAC permissions not currently held" in escalation["msg"]
    assert read(admin, binding_path(name, namespace)) is None

    cluster_wide = run_module(MODULE, dict(args, namespace=None))
    assert cluster_wide["failed"]
    assert "Missing permission: get on clusterrolebindings" in cluster_wide["msg"]
