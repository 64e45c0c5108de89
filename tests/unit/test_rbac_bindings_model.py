"""plugins/module_utils/rbac.py: subjects and rules in API form, what counts as the same grant, what a run changes,
and the input checks that name the option."""
# pylint: disable=missing-function-docstring

import pytest

from ansible_collections.kubeaccess.x509.plugins.module_utils import rbac
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import delete_options

GROUP = "rbac.authorization.k8s.io"


def user(name):
    return {"kind": "User", "apiGroup": GROUP, "name": name}


def group(name):
    return {"kind": "Group", "apiGroup": GROUP, "name": name}


def account(name, namespace):
    return {"kind": "ServiceAccount", "apiGroup": "", "name": name, "namespace": namespace}


def test_subjects_get_their_api_group_and_a_service_account_the_binding_namespace():
    given = [{"kind": "user", "name": "rahul"}, {"kind": "Group", "name": "developers"},
             {"kind": "ServiceAccount", "name": "deployer"}, {"kind": "serviceaccount", "name": "ci", "namespace": "x"}]
    assert rbac.normalise_subjects(given, "dev") == [user("rahul"), group("developers"), account("deployer", "dev"),
                                                     account("ci", "x")]


def test_subjects_as_the_api_returns_them_compare_equal_to_what_was_asked():
    # The API leaves out an empty apiGroup, and a RoleBinding's ServiceAccount may omit its namespace.
    from_api = rbac.normalise_subjects([{"kind": "ServiceAccount", "name": "deployer"}], "dev")
    asked = rbac.normalise_subjects([{"kind": "ServiceAccount", "name": "deployer", "namespace": "dev"}], "dev")
    assert [rbac.subject_key(s) for s in from_api] == [rbac.subject_key(s) for s in asked]


def test_a_grantee_listed_twice_is_kept_once_in_first_position():
    given = [{"kind": "User", "name": "b"}, {"kind": "User", "name": "a"}, {"kind": "User", "name": "b"}]
    assert rbac.normalise_subjects(given, None) == [user("b"), user("a")]


def test_a_user_and_a_group_of_the_same_name_are_different_grantees():
    assert rbac.subject_key(user("ops")) != rbac.subject_key(group("ops"))
    assert rbac.subject_key(account("a", "one")) != rbac.subject_key(account("a", "two"))


def test_exact_mode_ignores_order_and_keeps_the_binding_as_it_is():
    current = [user("b"), user("a")]
    after, added, removed = rbac.plan_subjects(current, [user("a"), user("b")], "exact")
    assert (after, added, removed) == (current, [], [])


def test_exact_mode_writes_the_wanted_order_and_reports_both_sides():
    after, added, removed = rbac.plan_subjects([user("a"), user("old")], [user("new"), user("a")], "exact")
    assert after == [user("new"), user("a")]
    assert added == [user("new")]
    assert removed == [user("old")]


def test_merge_mode_appends_and_never_removes():
    current = [group("theirs"), user("a")]
    after, added, removed = rbac.plan_subjects(current, [user("a"), user("b")], "merge")
    assert after == [group("theirs"), user("a"), user("b")]
    assert (added, removed) == ([user("b")], [])
    assert rbac.plan_subjects(current, [user("a")], "merge") == (current, [], [])


def test_removing_subjects_reports_only_those_present():
    after, removed = rbac.without_subjects([user("a"), group("g"), user("b")], [user("b"), user("missing")])
    assert after == [user("a"), group("g")]
    assert removed == [user("b")]


def test_rules_go_to_the_api_in_camel_case_without_empty_fields():
    rule = {"api_groups": [""], "resources": ["pods"], "verbs": ["get"], "resource_names": None,
            "non_resource_urls": []}
    assert rbac.rule_to_api(rule) == {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}
    assert rbac.rule_to_api({"non_resource_urls": ["/healthz"], "verbs": ["get"]}) == {
        "nonResourceURLs": ["/healthz"], "verbs": ["get"]}


def test_rules_compare_as_grants_not_as_text():
    one = [{"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list"]},
           {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]
    reordered = [{"verbs": ["get"], "resources": ["deployments"], "apiGroups": ["apps"]},
                 {"apiGroups": [""], "resources": ["configmaps", "pods"], "verbs": ["list", "get"],
                  "resourceNames": []}]
    assert rbac.same_rules(one, reordered)
    assert not rbac.same_rules(one, one[:1])
    assert not rbac.same_rules(one, [one[0], dict(one[1], verbs=["get", "delete"])])


def test_role_ref_changes_are_seen_on_kind_and_name():
    wanted = rbac.role_ref("ClusterRole", "edit")
    assert rbac.same_role_ref({"apiGroup": GROUP, "kind": "ClusterRole", "name": "edit"}, wanted)
    assert not rbac.same_role_ref({"apiGroup": GROUP, "kind": "Role", "name": "edit"}, wanted)
    assert not rbac.same_role_ref({"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"}, wanted)


def test_owned_labels_always_carry_managed_by_and_select_on_all_labels():
    assert rbac.owned_labels({"team": "a", "tier": 1}) == {"team": "a", "tier": "1",
                                                           "app.kubernetes.io/managed-by": "kubeaccess.x509"}
    assert rbac.label_selector({"team": "a"}) == "app.kubernetes.io/managed-by=kubeaccess.x509,team=a"


def test_manifests_and_paths_follow_the_binding_scope():
    binding = rbac.binding_manifest("b", "dev", rbac.role_ref("Role", "r"), [user("a")], {"x": "y"})
    assert binding["kind"] == "RoleBinding"
    assert binding["metadata"] == {"name": "b", "namespace": "dev", "labels": {"x": "y"}}
    cluster_binding = rbac.binding_manifest("b", None, rbac.role_ref("ClusterRole", "r"), [user("a")], {})
    assert cluster_binding["kind"] == "ClusterRoleBinding"
    assert "namespace" not in cluster_binding["metadata"]
    assert rbac.object_path("RoleBinding", "dev", "b") == \
        "/apis/rbac.authorization.k8s.io/v1/namespaces/dev/rolebindings/b"
    assert rbac.collection_path("ClusterRole") == "/apis/rbac.authorization.k8s.io/v1/clusterroles"
    assert rbac.role_namespace("Role", "dev") == "dev"
    assert rbac.role_namespace("ClusterRole", "dev") is None


def test_an_update_keeps_the_resource_version_read():
    read = {"metadata": {"name": "b", "namespace": "dev", "resourceVersion": "42", "uid": "u1"},
            "roleRef": rbac.role_ref("ClusterRole", "view"), "subjects": []}
    written = rbac.updated(read, "RoleBinding", {"a": "b"}, subjects=[user("x")])
    assert written["metadata"]["resourceVersion"] == "42"
    assert written["metadata"]["labels"] == {"a": "b"}
    assert written["kind"] == "RoleBinding" and written["subjects"] == [user("x")]
    assert read["subjects"] == [] and "labels" not in read["metadata"]
    assert delete_options(read)["preconditions"] == {"uid": "u1"}


def test_the_diff_view_shows_what_a_reviewer_decides_on():
    obj = {"metadata": {"name": "b", "namespace": "dev", "uid": "u", "labels": {"x": "y"}},
           "roleRef": rbac.role_ref("ClusterRole", "view"),
           "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}
    assert rbac.binding_view("RoleBinding", obj) == {
        "kind": "RoleBinding", "name": "b", "namespace": "dev", "labels": {"x": "y"},
        "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [account("sa", "dev")]}
    assert rbac.binding_view("RoleBinding", None) is None
    role = {"metadata": {"name": "r"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]}
    assert rbac.role_view("ClusterRole", role)["rules"] == role["rules"]


@pytest.mark.parametrize("subject, binding_namespace, expected", [
    ({"kind": "Robot", "name": "r2"}, "dev", "subjects[0].kind: 'Robot' is not a subject kind; use User, Group"),
    ({"kind": "User", "name": ""}, "dev", "subjects[0].name: required"),
    ({"kind": "User", "name": " rahul"}, "dev", "subjects[0].name: ' rahul' has leading or trailing spaces"),
    ({"kind": "ServiceAccount", "name": "deployer"}, None,
     "subjects[0].namespace: required for a ServiceAccount in a ClusterRoleBinding"),
    ({"kind": "ServiceAccount", "name": "Deployer", "namespace": "ci"}, None,
     "subjects[0].name: 'Deployer' is not a valid object name"),
    ({"kind": "ServiceAccount", "name": "d", "namespace": "a.b"}, None,
     "subjects[0].namespace: 'a.b' is not a namespace name"),
    ({"kind": "Group", "name": "g", "namespace": "dev"}, "dev",
     "subjects[0].namespace: only ServiceAccount subjects have a namespace"),
])
def test_bad_subjects_are_named_with_the_fix(subject, binding_namespace, expected):
    errors = rbac.subject_errors("subjects", [subject], binding_namespace)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_good_subjects_pass_including_system_groups():
    subjects = [{"kind": "User", "name": "rahul"}, {"kind": "Group", "name": "system:serviceaccounts:ci"},
                {"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}]
    assert not rbac.subject_errors("subjects", subjects, None)


@pytest.mark.parametrize("rule, namespaced, expected", [
    ({"api_groups": [""], "resources": ["pods"], "verbs": []}, False, "rules[0].verbs: must not be empty"),
    ({"resources": ["pods"], "verbs": ["get"]}, False, "rules[0].api_groups: required with resources; use ['']"),
    ({"api_groups": [""], "verbs": ["get"]}, False, "rules[0]: grants nothing"),
    ({"api_groups": [""], "resources": ["pods"], "non_resource_urls": ["/x"], "verbs": ["get"]}, False,
     "rules[0]: a rule takes resources or non_resource_urls, not both"),
    ({"non_resource_urls": ["/healthz"], "verbs": ["get"]}, True,
     "rules[0].non_resource_urls: a Role cannot grant non-resource URLs"),
    ({"non_resource_urls": ["/healthz"], "resource_names": ["x"], "verbs": ["get"]}, False,
     "rules[0]: api_groups and resource_names do not apply to non_resource_urls"),
])
def test_bad_rules_are_named_with_the_fix(rule, namespaced, expected):
    errors = rbac.rule_errors("rules", [rule], namespaced)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_good_rules_pass():
    rules = [{"api_groups": [""], "resources": ["pods"], "verbs": ["get"], "resource_names": ["p"]},
             {"non_resource_urls": ["/healthz"], "verbs": ["get"]}]
    assert not rbac.rule_errors("rules", rules, namespaced=False)


def test_names_of_namespaces_and_roles():
    assert rbac.namespace_error("namespace", "dev") is None
    assert "not a namespace name" in rbac.namespace_error("namespace", "Dev")
    assert "not a namespace name" in rbac.namespace_error("namespace", "x" * 64)
    assert rbac.role_name_error("role_name", "system:aggregate-to-view") is None
    assert "may not contain '/'" in rbac.role_name_error("role_name", "a/b")
    assert "must not be empty" in rbac.role_name_error("role_name", "")
