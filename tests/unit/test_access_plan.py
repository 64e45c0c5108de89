"""plugins/plugin_utils/access_plan.py and the access_plan filter: the user_access role's inventory -> plan.

The whole inventory is checked before anything changes, every problem naming the key to fix. A problem in what
users share (clusters, group grants, a user's direct grants, which make bindings) is in `errors` and stops the run;
a problem in a user's own entry refuses that user alone (`hosts[host]["errors"]`) while the others get their work;
users outside the run with such problems give `warnings`. The cluster's approval policy is checked against each
user's lifetime, groups and key before any request is made.
"""

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.kubeaccess.x509.plugins.filter import access_plan as access_filter
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import parse_renew_before
from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_plan
from ansible_collections.kubeaccess.x509.tests.unit.access_support import (
    ADMIN_KUBECONFIG, DEVELOPERS, LABEL, ROLE_PATH, SERVER, admin_kubeconfig, all_refusals, binding, binding_names,
    entries_of, entry_of, example_inventory, load_yaml, make_ca, make_plan, one_cluster, refusals, rendered_on)


@pytest.fixture(name="ca", scope="module")
def ca_fixture():
    """The CA of the clusters' admin kubeconfigs."""
    return make_ca()


def assert_starts(texts, starts):
    """`texts` are exactly as many as `starts`, each beginning with its own."""
    assert len(texts) == len(starts), texts
    for text, start in zip(texts, starts):
        assert text.startswith(start), (text, start)


def assert_any(texts, *parts):
    """One of `texts` contains every one of `parts`."""
    assert [text for text in texts if all(part in text for part in parts)], (parts, texts)


# == the example inventory ============================================================================================

def test_example_inventory_is_valid_and_gives_one_entry_per_user_and_cluster(tmp_path):
    """Nothing to fix, nobody refused: rahul and seema each have their work on the local cluster."""
    users, clusters, grants = example_inventory()
    the_plan = make_plan(tmp_path, users, clusters, grants)
    assert the_plan["errors"] == [] and the_plan["warnings"] == []
    assert the_plan["hosts"] == {"rahul": {"user": "rahul", "errors": []}, "seema": {"user": "seema", "errors": []}}
    assert [(e["host"], e["cluster"]) for e in the_plan["users"]] == [("rahul", "local"), ("seema", "local")]


def test_example_inventory_entry_of_rahul(tmp_path):
    """Files under <base_dir>/<user>/, groups as O, the role's 24h lifetime, the cluster's policy pinned."""
    users, clusters, grants = example_inventory()
    entry = entry_of(make_plan(tmp_path, users, clusters, grants), "rahul")
    user_dir = f"{tmp_path}/rahul"
    assert (entry["user"], entry["groups"], entry["namespace"], entry["approval"]) == (
        "rahul", ["developers"], "dev", "auto")
    assert entry["kubeconfig_path"] == f"{user_dir}/kubeconfig"
    assert entry["request"] == {
        "user": "rahul", "groups": ["developers"], "private_key_path": f"{user_dir}/local.key",
        "certificate_path": f"{user_dir}/local.crt", "expiration_seconds": 86400, "renew_before": "30%",
        "labels": {LABEL: "default"}, "private_key_type": "ecdsa", "signer_name": "kubernetes.io/kube-apiserver-client",
        "rotate_key": True,
    }
    assert entry["approval_policy"] == {
        "max_expiration_seconds": 86400, "expected_user": "rahul", "allowed_groups": ["developers"],
        "certificate_path": f"{user_dir}/local.crt", "wait": True, "wait_timeout": 120,
    }
    assert entry["expect"] == users["rahul"]["user_access_expect"]


def test_example_inventory_entry_of_seema_with_her_own_lifetime(tmp_path):
    """user_access_lifetime: 8h is 28800 seconds; two groups, both in the request and the approval pin."""
    users, clusters, grants = example_inventory()
    entry = entry_of(make_plan(tmp_path, users, clusters, grants), "seema")
    assert entry["request"]["expiration_seconds"] == 28800
    assert entry["groups"] == entry["request"]["groups"] == ["app1-devs", "platform-team"]
    assert entry["approval_policy"]["allowed_groups"] == ["app1-devs", "platform-team"]
    assert entry["namespace"] == "app1"
    assert entry["request"]["private_key_path"] == f"{tmp_path}/seema/local.key"


def test_example_inventory_bindings(tmp_path):
    """kubeaccess-group-<group>-<role>: a RoleBinding where the grant has a namespace, else a ClusterRoleBinding;
    labelled with the inventory's name, subjects exactly the group."""
    users, clusters, grants = example_inventory()
    the_plan = make_plan(tmp_path, users, clusters, grants, inventory="team-a")
    assert binding_names(the_plan) == ["kubeaccess-group-app1-devs-edit", "kubeaccess-group-developers-edit",
                                       "kubeaccess-group-platform-team-view"]
    assert binding(the_plan, "kubeaccess-group-developers-edit") == {
        "name": "kubeaccess-group-developers-edit", "role_kind": "ClusterRole", "role_name": "edit",
        "namespace": "dev", "subjects": [{"kind": "Group", "name": "developers"}], "labels": {LABEL: "team-a"},
        "subjects_mode": "exact"}
    assert binding(the_plan, "kubeaccess-group-app1-devs-edit")["namespace"] == "app1"
    platform = binding(the_plan, "kubeaccess-group-platform-team-view")
    assert "namespace" not in platform
    assert (platform["role_kind"], platform["role_name"]) == ("ClusterRole", "view")
    assert entry_of(the_plan, "rahul")["request"]["labels"] == {LABEL: "team-a"}


def test_namespace_defaults_to_default(tmp_path):
    """A user without user_access_namespace gets contexts in `default`."""
    entry = entry_of(make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}), "rahul")
    assert entry["namespace"] == "default"


def test_direct_grants_of_a_user(tmp_path):
    """user_access_grants are bound to the user (by user_access_name) as kubeaccess-user-<user>-<role>; a Role
    grant with rules carries them so that the Role is made too."""
    rules = [{"api_groups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]}]
    users = {"rahul": {"user_access_name": "rahul.kumar", "user_access_grants": [
        {"cluster_role": "view", "namespace": "dev"},
        {"role": "deployer", "namespace": "dev", "rules": rules},
        {"cluster_role": "cluster-reader"},
    ]}}
    the_plan = make_plan(tmp_path, users, group_grants={})
    assert the_plan["errors"] == [] and refusals(the_plan, "rahul") == []
    # A name that had to be made DNS-safe carries a hash of the exact name, so that distinct names stay apart.
    prefix = "kubeaccess-user-rahul-kumar-8c21b575"
    assert binding_names(the_plan) == [f"{prefix}-cluster-reader", f"{prefix}-role-deployer", f"{prefix}-view"]
    deployer = binding(the_plan, f"{prefix}-role-deployer")
    assert (deployer["role_kind"], deployer["role_name"]) == ("Role", "deployer")
    assert deployer["namespace"] == "dev" and deployer["rules"] == rules
    assert deployer["subjects"] == [{"kind": "User", "name": "rahul.kumar"}]
    assert "namespace" not in binding(the_plan, f"{prefix}-cluster-reader")
    assert "rules" not in binding(the_plan, f"{prefix}-view")
    assert entry_of(the_plan, "rahul")["groups"] == []


def test_grant_clusters_limit_where_a_binding_is_made(tmp_path):
    """A grant with `clusters` is bound on those clusters only; one without, everywhere."""
    clusters = {"prod": {"kubeconfig": "/etc/prod.conf"}, "staging": {"kubeconfig": "/etc/staging.conf"}}
    grants = {"developers": [{"cluster_role": "edit", "namespace": "dev", "clusters": ["staging"]},
                             {"cluster_role": "view"}]}
    users = {"rahul": {"user_access_groups": ["developers"],
                       "user_access_grants": [{"cluster_role": "admin", "namespace": "dev", "clusters": ["prod"]}]}}
    the_plan = make_plan(tmp_path, users, clusters, grants)
    assert the_plan["errors"] == []
    assert binding_names(the_plan, "staging") == ["kubeaccess-group-developers-edit",
                                                  "kubeaccess-group-developers-view"]
    assert binding_names(the_plan, "prod") == ["kubeaccess-group-developers-view", "kubeaccess-user-rahul-admin"]
    assert [e["cluster"] for e in the_plan["users"]] == ["prod", "staging"]


def test_user_clusters_limit_the_users_entries(tmp_path):
    """user_access_user_clusters: rahul on prod only; one kubeconfig per user, a context per cluster in it."""
    clusters = {"prod": {"kubeconfig": "/etc/prod.conf", "approval": "manual", "requesters": ["ci"]},
                "staging": {"kubeconfig": "/etc/staging.conf"}}
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_user_clusters": ["prod"]},
             "seema": {"user_access_groups": ["developers"]}}
    the_plan = make_plan(tmp_path, users, clusters)
    assert the_plan["errors"] == [] and all_refusals(the_plan) == []
    assert [(e["host"], e["cluster"], e["approval"]) for e in the_plan["users"]] == [
        ("rahul", "prod", "manual"), ("seema", "prod", "manual"), ("seema", "staging", "auto")]
    seema_prod, seema_staging = entry_of(the_plan, "seema", "prod"), entry_of(the_plan, "seema", "staging")
    assert seema_prod["request"]["private_key_path"] == f"{tmp_path}/seema/prod.key"
    assert seema_staging["request"]["certificate_path"] == f"{tmp_path}/seema/staging.crt"
    assert seema_prod["kubeconfig_path"] == seema_staging["kubeconfig_path"] == f"{tmp_path}/seema/kubeconfig"


def test_expectations_follow_their_clusters(tmp_path):
    """An expectation with `clusters` is checked there only (and carries no `clusters` key to the module)."""
    clusters = {"prod": {"kubeconfig": "/etc/prod.conf"}, "staging": {"kubeconfig": "/etc/staging.conf"}}
    everywhere = {"verb": "list", "resource": "pods", "namespace": "dev", "allowed": True}
    on_prod = {"verb": "delete", "resource": "pods", "namespace": "dev", "allowed": False, "clusters": ["prod"]}
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_expect": [everywhere, on_prod]}}
    the_plan = make_plan(tmp_path, users, clusters)
    assert entry_of(the_plan, "rahul", "staging")["expect"] == [everywhere]
    assert entry_of(the_plan, "rahul", "prod")["expect"] == [
        everywhere, {"verb": "delete", "resource": "pods", "namespace": "dev", "allowed": False}]


def test_user_name_key_dir_and_kubeconfig_path(tmp_path, monkeypatch):
    """The CN is user_access_name; the default directory is a safe form of it; ~ in paths is the controller
    user's home."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    users = {"rahul": {"user_access_name": "Rahul.Kumar@example.com", "user_access_groups": ["developers"]},
             "seema": {"user_access_groups": ["developers"], "user_access_key_dir": "~/keys/seema",
                       "user_access_kubeconfig_path": "~/.kube/seema.conf"},
             "asha": {"user_access_groups": ["developers"], "user_access_key_dir": str(tmp_path / "asha-keys")}}
    the_plan = make_plan("~/.kubeaccess", users)
    assert the_plan["errors"] == [] and all_refusals(the_plan) == []
    rahul = entry_of(the_plan, "rahul")
    assert rahul["user"] == rahul["request"]["user"] == rahul["approval_policy"]["expected_user"] == \
        "Rahul.Kumar@example.com"
    assert the_plan["hosts"]["rahul"]["user"] == "Rahul.Kumar@example.com"
    assert rahul["request"]["private_key_path"] == \
        f"{tmp_path}/home/.kubeaccess/rahul-kumar-example-com-382857b1/local.key"
    seema = entry_of(the_plan, "seema")
    assert seema["request"]["private_key_path"] == f"{tmp_path}/home/keys/seema/local.key"
    assert seema["request"]["certificate_path"] == f"{tmp_path}/home/keys/seema/local.crt"
    assert seema["kubeconfig_path"] == f"{tmp_path}/home/.kube/seema.conf"
    assert entry_of(the_plan, "asha")["kubeconfig_path"] == f"{tmp_path}/asha-keys/kubeconfig"


def test_user_files():
    """Where a user's files are kept by default, with or without a cluster."""
    assert access_plan.user_files("rahul", "/srv/kubeaccess") == {
        "dir": "/srv/kubeaccess/rahul", "kubeconfig": "/srv/kubeaccess/rahul/kubeconfig"}
    assert access_plan.user_files("rahul", "/srv/kubeaccess", "prod") == {
        "dir": "/srv/kubeaccess/rahul", "kubeconfig": "/srv/kubeaccess/rahul/kubeconfig",
        "private_key_path": "/srv/kubeaccess/rahul/prod.key", "certificate_path": "/srv/kubeaccess/rahul/prod.crt"}


def test_user_files_match_the_plan(tmp_path):
    """Offboarding finds a user's files where onboarding put them."""
    the_plan = make_plan(tmp_path, {"Rahul@Example.com": {"user_access_groups": ["developers"]}})
    entry = entry_of(the_plan, "Rahul@Example.com")
    files = access_plan.user_files("Rahul@Example.com", str(tmp_path), "local")
    assert files["private_key_path"] == entry["request"]["private_key_path"]
    assert files["certificate_path"] == entry["request"]["certificate_path"]
    assert files["kubeconfig"] == entry["kubeconfig_path"]


# == the users of the run =============================================================================================

def test_the_run_limits_the_work_but_never_the_bindings(tmp_path):
    """A run for one user (-e user=rahul) works on rahul only, but still makes every group's bindings, so that
    pruning never removes the others' access."""
    users, clusters, grants = example_inventory()
    everybody = make_plan(tmp_path, users, clusters, grants)
    rahul_only = make_plan(tmp_path, users, clusters, grants, run={"rahul"})
    assert rahul_only["errors"] == []
    assert [e["host"] for e in rahul_only["users"]] == ["rahul"]
    assert list(rahul_only["hosts"]) == ["rahul"]
    assert rahul_only["users"][0] == entry_of(everybody, "rahul")
    assert rahul_only["bindings"] == everybody["bindings"]
    assert "kubeaccess-group-platform-team-view" in binding_names(rahul_only)


def test_the_run_never_hides_the_direct_grants_of_others(tmp_path):
    """seema is not in the run: her direct grant is still bound."""
    users = {"rahul": {"user_access_groups": ["developers"]},
             "seema": {"user_access_grants": [{"cluster_role": "view"}]}}
    the_plan = make_plan(tmp_path, users, run={"rahul"})
    assert binding_names(the_plan) == ["kubeaccess-group-developers-edit", "kubeaccess-user-seema-view"]


def test_no_user_in_the_run_still_gives_all_bindings(tmp_path):
    """Offboarding plans on localhost: no work entry, every binding of the remaining inventory."""
    users, clusters, grants = example_inventory()
    the_plan = make_plan(tmp_path, users, clusters, grants, run={"localhost"})
    assert the_plan["errors"] == [] and the_plan["users"] == [] and the_plan["hosts"] == {}
    assert len(the_plan["bindings"]["local"]) == 3


def test_a_bad_entry_refuses_that_user_alone(tmp_path):
    """rahul's namespace is not a namespace name: rahul is refused, naming the key; seema gets her work and nothing
    stops the run."""
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_namespace": "Dev_Team"},
             "seema": {"user_access_groups": ["developers"]}}
    the_plan = make_plan(tmp_path, users)
    assert the_plan["errors"] == []
    assert_starts(refusals(the_plan, "rahul"), ["rahul: user_access_namespace: 'Dev_Team' is not a namespace name"])
    assert entries_of(the_plan, "rahul") == [] and the_plan["requests"]["local"] == [
        entry_of(the_plan, "seema")["request"]]
    assert refusals(the_plan, "seema") == []


def test_errors_of_users_outside_the_run_are_warnings(tmp_path):
    """The inventory is checked whole even in a run limited to one user; seema's mistake is a warning, not a
    refusal, and stops nothing."""
    users = {"rahul": {"user_access_groups": ["developers"]}, "seema": {"user_access_groups": ["qa"]}}
    the_plan = make_plan(tmp_path, users, run={"rahul"})
    assert the_plan["errors"] == [] and list(the_plan["hosts"]) == ["rahul"]
    assert_starts(the_plan["warnings"], ["seema (not in this run): seema: user_access_groups: group 'qa' has no "
                                         "grants"])
    assert [e["host"] for e in the_plan["users"]] == ["rahul"]


def test_force_renewal_puts_every_certificate_inside_its_renewal_window(tmp_path):
    """user_access_force_renewal: every request is renewed now, whatever its own renew_before."""
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_lifetime": "7d"},
             "seema": {"user_access_groups": ["developers"], "user_access_renew_before": "2h"}}
    the_plan = make_plan(tmp_path, users, force_renewal=True, lifetime="3d")
    assert all_refusals(the_plan) == []
    for entry in the_plan["users"]:
        kind, window = parse_renew_before(entry["request"]["renew_before"])
        assert kind == "seconds"
        assert window > entry["request"]["expiration_seconds"]
        assert window > 10 * 365 * 86400


def test_without_force_renewal_renew_before_is_the_users_or_the_roles(tmp_path):
    """Each user's own renew_before, else the one for users without their own (here 40%)."""
    users = {"rahul": {"user_access_groups": ["developers"]},
             "seema": {"user_access_groups": ["developers"], "user_access_renew_before": "2h"},
             "asha": {"user_access_groups": ["developers"], "user_access_renew_before": 0.25}}
    the_plan = make_plan(tmp_path, users, renew_before="40%")
    assert all_refusals(the_plan) == []
    assert [entry_of(the_plan, host)["request"]["renew_before"] for host in ("rahul", "seema", "asha")] == [
        "40%", "2h", "0.25"]


def test_force_renewal_still_reports_a_bad_renew_before(tmp_path):
    """A bad renew_before is a mistake to fix even when this run renews everything."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_renew_before": "soon"}}, force_renewal=True)
    assert_starts(refusals(the_plan, "rahul"), ["rahul: user_access_renew_before:"])


# == lifetimes ========================================================================================================

@pytest.mark.parametrize("lifetime, seconds", [("8h", 28800), ("10m", 600), ("7d", 604800), ("1h30m", 5400),
                                               ("3600", 3600), (7200, 7200)])
def test_lifetimes_accepted(tmp_path, lifetime, seconds):
    """Durations with units, plain seconds as text or as an unquoted YAML number."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_lifetime": lifetime}})
    assert refusals(the_plan, "rahul") == []
    assert entry_of(the_plan, "rahul")["request"]["expiration_seconds"] == seconds


def test_lifetime_for_users_without_their_own(tmp_path):
    """The play's (or the role's) lifetime applies to a user without one."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, lifetime="12h")
    assert entry_of(the_plan, "rahul")["request"]["expiration_seconds"] == 43200


@pytest.mark.parametrize("lifetime", ["5m", "599", 599, "0", "forever", "", "24 hours", "-1h", None, True])
def test_bad_lifetimes(tmp_path, lifetime):
    """Not a duration, or shorter than 10 minutes: the user is refused naming user_access_lifetime."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_lifetime": lifetime}})
    assert the_plan["errors"] == []
    assert refusals(the_plan, "rahul") == [f"rahul: user_access_lifetime: {lifetime!r} is not a duration of at "
                                           "least 10m (e.g. 24h, 7d)"]


def test_bad_lifetime_for_users_without_their_own_refuses_only_them(tmp_path):
    """lifetime 'a day' for users without their own: rahul is refused, seema with her own 1h is not."""
    users = {"rahul": {"user_access_groups": ["developers"]},
             "seema": {"user_access_groups": ["developers"], "user_access_lifetime": "1h"}}
    the_plan = make_plan(tmp_path, users, lifetime="a day")
    assert refusals(the_plan, "rahul") == ["rahul: user_access_lifetime: 'a day' is not a duration of at least 10m "
                                           "(e.g. 24h, 7d)"]
    assert refusals(the_plan, "seema") == []


@pytest.mark.parametrize("renew_before", ["soon", "150%", "0%", "abc%", ""])
def test_bad_renew_before(tmp_path, renew_before):
    """renew_before is a duration or a fraction of the lifetime."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_renew_before": renew_before}})
    assert_starts(refusals(the_plan, "rahul"), [f"rahul: user_access_renew_before: {renew_before!r}"])


# == errors: each names the key to fix ================================================================================

SHARED_ERROR_CASES = {
    "group with an empty list of grants": (
        {"rahul": {"user_access_groups": ["developers"]}}, None, {"developers": []},
        ["user_access_group_grants.developers: has no grants; give it at least one"]),
    "group with no grants at all (null)": (
        {"rahul": {"user_access_grants": [{"cluster_role": "view"}]}}, None, dict(DEVELOPERS, qa=None),
        ["user_access_group_grants.qa: must be a list of grants",
         "user_access_group_grants.qa: has no grants; give it at least one"]),
    "group grant on a cluster not described": (
        {"rahul": {"user_access_groups": ["developers"]}}, None,
        {"developers": [{"cluster_role": "view", "clusters": ["prod"]}]},
        ["user_access_group_grants.developers[0].clusters: cluster 'prod' is not described in "
         "user_access_clusters"]),
    "direct grant on a cluster not described": (
        {"rahul": {"user_access_grants": [{"cluster_role": "view", "clusters": ["prod"]}]}}, None, {},
        ["rahul: user_access_grants[0].clusters: cluster 'prod' is not described in user_access_clusters"]),
    "bad namespace in a grant": (
        {"rahul": {"user_access_groups": ["developers"]}}, None,
        {"developers": [{"cluster_role": "edit", "namespace": "dev team"}]},
        ["user_access_group_grants.developers[0].namespace: 'dev team' is not a namespace name"]),
    "grant with cluster_role and role": (
        {"rahul": {"user_access_groups": ["developers"]}}, None,
        {"developers": [{"cluster_role": "edit", "role": "deployer", "namespace": "dev"}]},
        ["user_access_group_grants.developers[0]: give exactly one of cluster_role and role"]),
    "grant with neither cluster_role nor role": (
        {"rahul": {"user_access_groups": ["developers"]}}, None, {"developers": [{"namespace": "dev"}]},
        ["user_access_group_grants.developers[0]: give exactly one of cluster_role and role"]),
    "direct grant with neither cluster_role nor role": (
        {"rahul": {"user_access_groups": ["developers"], "user_access_grants": [{"clusterrole": "view"}]}},
        None, None,
        ["rahul: user_access_grants[0]: unknown keys ['clusterrole']",
         "rahul: user_access_grants[0]: give exactly one of cluster_role and role"]),
    "direct grants not a list": (
        {"rahul": {"user_access_groups": ["developers"], "user_access_grants": {"cluster_role": "view"}}},
        None, None, ["rahul: user_access_grants: must be a list of grants"]),
    "role without namespace": (
        {"rahul": {"user_access_groups": ["developers"]}}, None, {"developers": [{"role": "deployer"}]},
        ["user_access_group_grants.developers[0]: a role lives in a namespace: add namespace, or use "
         "cluster_role"]),
    "grant not a mapping": (
        {"rahul": {"user_access_groups": ["developers"]}}, None, {"developers": ["edit"]},
        ["user_access_group_grants.developers[0]: must be a mapping"]),
    "grants not a list": (
        {"rahul": {"user_access_groups": ["developers"]}}, None, {"developers": {"cluster_role": "edit"}},
        ["user_access_group_grants.developers: must be a list of grants"]),
    "unknown key in a grant": (
        {"rahul": {"user_access_groups": ["developers"]}}, None,
        {"developers": [{"cluster_role": "edit", "namspace": "dev"}]},
        ["user_access_group_grants.developers[0]: unknown keys ['namspace']; known: ['cluster_role', 'role', "
         "'namespace', 'clusters', 'rules']"]),
    "unknown key in a cluster": (
        {"rahul": {"user_access_groups": ["developers"]}}, one_cluster(aproval="manual"), None,
        ["user_access_clusters.local: unknown keys ['aproval']"]),
    "empty kubeconfig of a cluster": (
        {"rahul": {"user_access_groups": ["developers"]}}, {"local": {"kubeconfig": ""}}, None,
        ["user_access_clusters.local.kubeconfig: is empty; give the administrator kubeconfig of the cluster (is "
         "the environment variable it is read from set?)"]),
    "approval neither auto nor manual": (
        {"rahul": {"user_access_groups": ["developers"]}}, one_cluster(approval="automatic"), None,
        ["user_access_clusters.local.approval: 'automatic' is not auto or manual"]),
    "manual approval without requesters": (
        {"rahul": {"user_access_groups": ["developers"]}}, one_cluster(approval="manual"), None,
        ["user_access_clusters.local.requesters: required with approval: manual: the user names of the identities "
         "that run onboard.yml"]),
    "requesters not a list of names": (
        {"rahul": {"user_access_groups": ["developers"]}}, one_cluster(approval="manual", requesters="ci"), None,
        ["user_access_clusters.local.requesters: 'ci' is not a list of user names"]),
    "requesters with automatic approval": (
        {"rahul": {"user_access_groups": ["developers"]}}, one_cluster(requesters=["ci"]), None,
        ["user_access_clusters.local.requesters: only applies with approval: manual"]),
    "ca_source file without ca_file": (
        {"rahul": {"user_access_groups": ["developers"]}}, one_cluster(ca_source="file"), None,
        ["user_access_clusters.local.ca_file: required with ca_source: file"]),
    "unknown ca_source": (
        {"rahul": {"user_access_groups": ["developers"]}}, one_cluster(ca_source="secret"), None,
        ["user_access_clusters.local.ca_source: 'secret' is not connection, configmap or file"]),
    "cluster not a mapping": (
        {"rahul": {"user_access_groups": ["developers"]}}, {"local": "/etc/admin.conf"}, None,
        ["user_access_clusters.local: must be a mapping with kubeconfig"]),
    "cluster name not usable in kubeconfig entries": (
        {"rahul": {"user_access_groups": ["developers"]}}, {"Prod_1": {"kubeconfig": ADMIN_KUBECONFIG}}, None,
        ["user_access_clusters.Prod_1: the cluster name 'Prod_1' names kubeconfig entries"]),
    "no cluster described": (
        {"rahul": {"user_access_groups": ["developers"]}}, {}, None,
        ["user_access_clusters: describe at least one cluster"]),
    "group grants not a mapping": (
        {"rahul": {"user_access_grants": [{"cluster_role": "view"}]}}, None, [{"cluster_role": "view"}],
        ["user_access_group_grants: must map each Kubernetes group to its grants"]),
    "unknown policy option": (
        {"rahul": {"user_access_groups": ["developers"]}}, one_cluster(policy={"max_expiration": 86400}), None,
        ["user_access_clusters.local.policy: unknown options ['max_expiration']"]),
}


@pytest.mark.parametrize("users, clusters, group_grants, expected", list(SHARED_ERROR_CASES.values()),
                         ids=list(SHARED_ERROR_CASES))
def test_errors_in_what_users_share_stop_the_run_naming_the_key(tmp_path, users, clusters, group_grants, expected):
    """Clusters, group grants and direct grants make bindings for everybody: each mistake is in `errors`, in
    order, starting with where it is, and refuses no user for it."""
    the_plan = make_plan(tmp_path, users, clusters, group_grants)
    assert_starts(the_plan["errors"], expected)
    assert all_refusals(the_plan) == []


USER_ERROR_CASES = {
    "user in a group that has no grants": (
        {"user_access_groups": ["developers", "qa"]}, None,
        ["rahul: user_access_groups: group 'qa' has no grants; add it to user_access_group_grants (e.g. qa: "
         "[{cluster_role: view, namespace: dev}]) or remove it from the user"]),
    "user cluster not described": (
        {"user_access_groups": ["developers"], "user_access_user_clusters": ["local", "prod"]}, None,
        ["rahul: user_access_user_clusters: cluster 'prod' is not described in user_access_clusters (described: "
         "['local'])"]),
    "user clusters not a list": (
        {"user_access_groups": ["developers"], "user_access_user_clusters": "local"}, None,
        ["rahul: user_access_user_clusters: must be a list"]),
    "user without groups": (
        {}, None, ["rahul: user_access_groups: the user is in no group and has no user_access_grants"]),
    "user groups not a list": (
        {"user_access_groups": "developers"}, None,
        ["rahul: user_access_groups: must be a list of Kubernetes groups",
         "rahul: user_access_groups: the user is in no group"]),
    "system group": (
        {"user_access_groups": ["system:masters"]}, None,
        ["rahul: user_access_groups: 'system:masters' starts with 'system:'"]),
    "system user name": (
        {"user_access_groups": ["developers"], "user_access_name": "system:admin"}, None,
        ["rahul: user_access_name: 'system:admin' starts with 'system:'"]),
    "bad namespace": (
        {"user_access_groups": ["developers"], "user_access_namespace": "Dev_Team"}, None,
        ["rahul: user_access_namespace: 'Dev_Team' is not a namespace name"]),
    "unknown key in an expectation": (
        {"user_access_groups": ["developers"], "user_access_expect": [
            {"verb": "list", "resource": "pods", "allowed": True},
            {"verb": "list", "resource": "pods", "namepsace": "dev", "allowed": True}]}, None,
        ["rahul: user_access_expect[1]: must have verb, resource and allowed (true or false), optionally "
         "['namespace', 'group', 'subresource', 'name'] and clusters"]),
    "expectation without allowed": (
        {"user_access_groups": ["developers"], "user_access_expect": [
            {"verb": "list", "resource": "pods", "allowed": "yes"}, {"verb": "get", "resource": "pods"}]}, None,
        ["rahul: user_access_expect[0]: must have verb, resource and allowed",
         "rahul: user_access_expect[1]: must have verb, resource and allowed"]),
    "expectations not a list": (
        {"user_access_groups": ["developers"], "user_access_expect": {"verb": "list"}}, None,
        ["rahul: user_access_expect: must be a list"]),
    "expectation on a cluster not described": (
        {"user_access_groups": ["developers"], "user_access_expect": [
            {"verb": "list", "resource": "pods", "namespace": "dev", "allowed": True, "clusters": ["lcoal"]}]}, None,
        ["rahul: user_access_expect[0].clusters: names clusters not described in user_access_clusters: ['lcoal']"]),
    "ansible_host with a CA from the ConfigMap": (
        {"user_access_groups": ["developers"], "ansible_host": "rahul-laptop.example.com"},
        {"local": {"kubeconfig": ADMIN_KUBECONFIG, "ca_source": "configmap"}},
        ["rahul: ansible_host: the CA of cluster local comes from the kube-root-ca.crt ConfigMap "
         "(user_access_clusters.local.ca_source), which only the controller reads"]),
    "key type": (
        {"user_access_groups": ["developers"], "user_access_key_type": "ed25519"}, None,
        ["rahul: user_access_key_type: 'ed25519' is not one of ['ecdsa', 'rsa']"]),
    "key size": (
        {"user_access_groups": ["developers"], "user_access_key_type": "rsa", "user_access_key_size": 1024}, None,
        ["rahul: user_access_key_size: 1024 is not one of [2048, 3072, 4096] (bits of an RSA key)"]),
}


@pytest.mark.parametrize("variables, clusters, expected", list(USER_ERROR_CASES.values()), ids=list(USER_ERROR_CASES))
def test_errors_in_a_users_own_entry_refuse_that_user_naming_the_key(tmp_path, variables, clusters, expected):
    """Each mistake in rahul's own entry refuses rahul with exactly the expected errors, in order, starting with
    where they are; seema, whose entry is right, keeps her work and the run goes on."""
    users = {"rahul": variables, "seema": {"user_access_groups": ["developers"]}}
    the_plan = make_plan(tmp_path, users, clusters)
    assert the_plan["errors"] == []
    assert_starts(refusals(the_plan, "rahul"), expected)
    assert entries_of(the_plan, "rahul") == [] and entries_of(the_plan, "rahul", "remote_users") == []
    assert refusals(the_plan, "seema") == [] and len(entries_of(the_plan, "seema")) == 1


def test_a_system_name_from_the_host_name_says_where_the_name_comes_from(tmp_path):
    """The host system:admin, without user_access_name, would be the user system:admin."""
    the_plan = make_plan(tmp_path, {"system:admin": {"user_access_groups": ["developers"]}})
    [error] = refusals(the_plan, "system:admin")
    assert error.startswith("system:admin: user_access_name: 'system:admin' starts with 'system:'")
    assert error.endswith("(the inventory host name is the user name unless user_access_name is set)")


def test_all_errors_are_reported_together(tmp_path):
    """One pass over a badly broken inventory reports every mistake: shared ones in `errors`, those of the users
    outside the run (here everybody but rahul) as warnings."""
    broken_kubeconfig = tmp_path / "bob" / "kubeconfig"
    broken_kubeconfig.parent.mkdir()
    broken_kubeconfig.write_text("apiVersion: v1\nclusters: [\n", encoding="utf-8")
    clusters = {"local": {"kubeconfig": ADMIN_KUBECONFIG, "approval": "sometimes"},
                "prod": {"kubeconfig": "", "ca_source": "file"}}
    grants = {"developers": [{"cluster_role": "edit", "namespace": "dev"}], "qa": [],
              "ops": [{"cluster_role": "admin", "role": "admin", "namespace": "ops"}, {"role": "deployer"}]}
    users = {
        "rahul": {"user_access_groups": ["developers"]},
        "seema": {"user_access_groups": ["testers"], "user_access_lifetime": "1m"},
        "bob": {"user_access_groups": ["developers"], "user_access_renew_before": "later",
                "user_access_namespace": "Dev", "user_access_user_clusters": ["staging"]},
        "mallory": {"ansible_host": "10.0.0.7",
                    "user_access_grants": [{"cluster_role": "view", "clusters": ["dr"], "verbs": ["get"]}]},
        "eve": {},
    }
    the_plan = make_plan(tmp_path, users, clusters, grants, run={"rahul"})
    assert_starts(the_plan["errors"], [
        "user_access_clusters.local.approval: 'sometimes'",
        "user_access_clusters.prod.kubeconfig: is empty",
        "user_access_clusters.prod.ca_file: required with ca_source: file",
        "user_access_group_grants.qa: has no grants",
        "user_access_group_grants.ops[0]: give exactly one of cluster_role and role",
        "user_access_group_grants.ops[1]: a role lives in a namespace",
        "mallory: user_access_grants[0]: unknown keys ['verbs']",
        "mallory: user_access_grants[0].clusters: cluster 'dr' is not described",
    ])
    assert_starts(the_plan["warnings"], [
        "seema (not in this run): seema: user_access_groups: group 'testers' has no grants",
        "seema (not in this run): seema: user_access_lifetime: '1m' is not a duration of at least 10m",
        "bob (not in this run): bob: user_access_renew_before: 'later' is not understood",
        "bob (not in this run): bob: user_access_namespace: 'Dev' is not a namespace name",
        "bob (not in this run): bob: user_access_user_clusters: cluster 'staging' is not described",
        f"bob (not in this run): bob: user_access_kubeconfig_path: {broken_kubeconfig} is not valid YAML",
        "eve (not in this run): eve: user_access_groups: the user is in no group and has no user_access_grants",
    ])
    assert refusals(the_plan, "rahul") == []


def test_messages_never_contain_the_separator_the_role_joins_them_with(tmp_path):
    """plan.yml and the outcomes join messages with ' | ': none of them may contain it."""
    users = {"rahul": {"user_access_groups": ["qa"], "user_access_lifetime": "1s"}, "seema": {}}
    the_plan = make_plan(tmp_path, users, group_grants=dict(DEVELOPERS, ops=[]))
    messages = the_plan["errors"] + all_refusals(the_plan)
    assert len(messages) == 4
    assert all(" | " not in message for message in messages)


# == accepted inventories =============================================================================================

def test_user_without_groups_is_accepted_when_groups_are_not_required(tmp_path):
    """user_access_require_groups: false lets a user without groups or grants through."""
    the_plan = make_plan(tmp_path, {"rahul": {}, "seema": {"user_access_groups": []}}, require_groups=False)
    assert all_refusals(the_plan) == []
    assert [e["groups"] for e in the_plan["users"]] == [[], []]
    assert entry_of(the_plan, "rahul")["approval_policy"]["allowed_groups"] == []


def test_user_without_groups_is_accepted_with_direct_grants(tmp_path):
    """Direct grants are enough: the certificate grants something."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_grants": [{"cluster_role": "view"}]}}, group_grants={})
    assert the_plan["errors"] == [] and refusals(the_plan, "rahul") == []
    assert entry_of(the_plan, "rahul")["groups"] == []


def test_cluster_options_are_kept_and_defaults_filled(tmp_path):
    """A cluster's approval and policy reach its entries; a cluster described as null gets the defaults."""
    clusters = {"prod": {"kubeconfig": "/etc/prod.conf", "context": "admin@prod", "server": "https://k8s:6443",
                         "ca_source": "file", "ca_file": "/etc/prod-ca.crt", "approval": "manual",
                         "requesters": ["ci"], "policy": {"forbidden_groups": ["admins"]}},
                "dev": None}
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, clusters)
    assert the_plan["errors"] == [] and refusals(the_plan, "rahul") == []
    assert entry_of(the_plan, "rahul", "prod")["approval"] == "manual"
    assert entry_of(the_plan, "rahul", "dev")["approval"] == "auto"
    assert entry_of(the_plan, "rahul", "dev")["approval_policy"] == {
        "expected_user": "rahul", "allowed_groups": ["developers"],
        "certificate_path": f"{tmp_path}/rahul/dev.crt", "wait": True, "wait_timeout": 120}
    assert entry_of(the_plan, "rahul", "prod")["approval_policy"]["forbidden_groups"] == ["admins"]


def test_key_type_defaults_to_ecdsa_and_can_be_rsa_per_user(tmp_path):
    """seema's own key type and size (a quoted "4096" is 4096 bits); rahul gets ECDSA."""
    users = {"rahul": {"user_access_groups": ["developers"]},
             "seema": {"user_access_groups": ["developers"], "user_access_key_type": "rsa",
                       "user_access_key_size": "4096"}}
    the_plan = make_plan(tmp_path, users)
    assert all_refusals(the_plan) == []
    assert entry_of(the_plan, "rahul")["request"]["private_key_type"] == "ecdsa"
    assert "private_key_size" not in entry_of(the_plan, "rahul")["request"]
    seema = entry_of(the_plan, "seema")["request"]
    assert (seema["private_key_type"], seema["private_key_size"]) == ("rsa", 4096)


def test_rsa_keys_for_users_without_their_own_take_that_size(tmp_path):
    """key_type rsa and key_size 2048 for users without their own."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, key_type="rsa", key_size=2048)
    request = entry_of(the_plan, "rahul")["request"]
    assert (request["private_key_type"], request["private_key_size"]) == ("rsa", 2048)


@pytest.mark.parametrize("variables, group_grants", [
    ({"user_access_groups": ["developers"], "user_access_namespace": 2024}, None),
    ({"user_access_groups": ["developers"]}, {"developers": [{"cluster_role": "edit", "namespace": 2024}]}),
    ({"user_access_groups": ["developers"], "user_access_name": 1234}, None),
    ({"user_access_groups": [2024]}, {2024: [{"cluster_role": "view"}]}),
    ({"user_access_groups": ["developers"], "user_access_lifetime": 7200, "user_access_key_type": "rsa",
      "user_access_key_size": 2048}, None),
], ids=["user namespace", "grant namespace", "user name", "group", "lifetime and key size"])
def test_unquoted_yaml_numbers_are_accepted(tmp_path, variables, group_grants):
    """`user_access_namespace: 2024` (a valid namespace name), an employee number as user name, or a number of
    seconds reach the plan as int from YAML: the plan takes them as the text they are, never failing."""
    the_plan = make_plan(tmp_path, {"rahul": variables}, group_grants=group_grants)
    assert the_plan["errors"] == [] and refusals(the_plan, "rahul") == []
    entry = entry_of(the_plan, "rahul")
    assert all(isinstance(value, str) for value in [entry["user"], entry["namespace"]] + entry["groups"])


# == files on the controller ==========================================================================================

def test_kubeconfig_that_is_not_yaml_refuses_the_user_and_is_left_untouched(tmp_path):
    """The error names the file, never quotes it (it may hold tokens), and the file is not touched."""
    path = tmp_path / "rahul" / "kubeconfig"
    path.parent.mkdir()
    content = b"apiVersion: v1\nusers:\n- name: rahul\n  user: {token: \"s3cret\"\n"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    before = os.stat(path)
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}})
    [error] = refusals(the_plan, "rahul")
    assert error.startswith(f"rahul: user_access_kubeconfig_path: {path} is not valid YAML")
    assert "left untouched" in error and "s3cret" not in error
    assert path.read_bytes() == content
    after = os.stat(path)
    assert (after.st_mtime_ns, after.st_mode, after.st_size) == (before.st_mtime_ns, before.st_mode, before.st_size)


def test_kubeconfig_path_given_by_the_user_that_is_not_a_kubeconfig(tmp_path):
    """A YAML list is not a kubeconfig: refused, left as it is."""
    path = tmp_path / "notes.yml"
    path.write_text("- a list\n- not a kubeconfig\n", encoding="utf-8")
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_kubeconfig_path": str(path)}})
    assert_starts(refusals(the_plan, "rahul"), [f"rahul: user_access_kubeconfig_path: {path} is not a kubeconfig"])
    assert path.read_text(encoding="utf-8") == "- a list\n- not a kubeconfig\n"


def test_existing_kubeconfig_is_accepted(tmp_path):
    """A kubeconfig, or an empty file, is merged into."""
    path = tmp_path / "rahul" / "kubeconfig"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [],
                                    "contexts": [], "current-context": ""}), encoding="utf-8")
    empty = tmp_path / "seema" / "kubeconfig"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    users = {"rahul": {"user_access_groups": ["developers"]}, "seema": {"user_access_groups": ["developers"]}}
    assert all_refusals(make_plan(tmp_path, users)) == []


def test_kubeconfig_path_that_is_a_directory(tmp_path):
    """A directory where the kubeconfig should be."""
    directory = tmp_path / "kube"
    directory.mkdir()
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_kubeconfig_path": str(directory)}})
    assert_starts(refusals(the_plan, "rahul"), [f"rahul: user_access_kubeconfig_path: {directory} is a directory"])


def test_planning_creates_nothing(tmp_path):
    """The plan only looks: a base_dir that does not exist yet is fine, and is still not there afterwards."""
    base_dir = tmp_path / "not" / "yet"
    users, clusters, grants = example_inventory()
    the_plan = make_plan(base_dir, users, clusters, grants)
    assert the_plan["errors"] == [] and all_refusals(the_plan) == []
    assert not (tmp_path / "not").exists()


def test_key_dir_that_is_a_regular_file_is_reported(tmp_path):
    """A regular file where the user's directory should be: nothing of the user's could be written, which refuses
    the user (naming user_access_key_dir) before anything changes on the cluster."""
    in_the_way = tmp_path / "rahul"
    in_the_way.write_text("not a directory\n", encoding="utf-8")
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}})
    assert in_the_way.read_text(encoding="utf-8") == "not a directory\n"
    assert_any(refusals(the_plan, "rahul"), "rahul: user_access_key_dir:")


def test_key_dir_given_under_a_regular_file_is_reported(tmp_path):
    """user_access_key_dir below a regular file."""
    in_the_way = tmp_path / "keys"
    in_the_way.write_text("", encoding="utf-8")
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_key_dir": str(in_the_way / "rahul")}})
    assert_any(refusals(the_plan, "rahul"), "rahul: user_access_key_dir:")


# == what the inventory must not get wrong silently ===================================================================

@pytest.mark.parametrize("first, second", [("jane.doe", "jane_doe"), ("Rahul", "rahul"),
                                           ("ops@example.com", "ops.example.com")])
def test_distinct_users_never_share_key_files(tmp_path, first, second):
    """Two users are two identities: sharing a key, certificate or kubeconfig would hand one the other's access
    (and offboarding one would delete the other's files). Their files differ."""
    users = {first: {"user_access_groups": ["developers"]}, second: {"user_access_groups": ["developers"]}}
    the_plan = make_plan(tmp_path, users)
    assert all_refusals(the_plan) == []
    one, other = entry_of(the_plan, first), entry_of(the_plan, second)
    for key in ("private_key_path", "certificate_path"):
        assert one["request"][key] != other["request"][key]
    assert one["kubeconfig_path"] != other["kubeconfig_path"]


def test_two_users_with_one_kubernetes_name_are_both_refused_naming_each_other(tmp_path):
    """rahul and rahul2 both have user_access_name rahul: one certificate identity for two people; both are refused,
    each naming the other, and asha goes on."""
    users = {"rahul": {"user_access_groups": ["developers"]},
             "rahul2": {"user_access_groups": ["developers"], "user_access_name": "rahul",
                        "user_access_key_dir": str(tmp_path / "rahul2")},
             "asha": {"user_access_groups": ["developers"]}}
    the_plan = make_plan(tmp_path, users)
    assert the_plan["errors"] == []
    assert_any(refusals(the_plan, "rahul"), "user_access_name: 'rahul' on cluster local is also the user name of "
                                            "rahul2", "give each its own user_access_name")
    assert_any(refusals(the_plan, "rahul2"), "user_access_name: 'rahul' on cluster local is also the user name of "
                                             "rahul;")
    assert [e["host"] for e in the_plan["users"]] == ["asha"]


def test_one_kubernetes_name_outside_the_run_is_a_warning(tmp_path):
    """rahul2 (outside the run) shares rahul's name: rahul is refused, rahul2's side is a warning."""
    users = {"rahul": {"user_access_groups": ["developers"]},
             "rahul2": {"user_access_groups": ["developers"], "user_access_name": "rahul",
                        "user_access_key_dir": str(tmp_path / "rahul2")}}
    the_plan = make_plan(tmp_path, users, run={"rahul"})
    assert_any(refusals(the_plan, "rahul"), "also the user name of rahul2")
    assert_any(the_plan["warnings"], "rahul2 (not in this run): user_access_name: 'rahul'", "user name of rahul;")


def test_two_users_with_one_key_dir_are_both_refused(tmp_path):
    """One user_access_key_dir for two users would share a key file: both are refused, naming the file."""
    shared = str(tmp_path / "keys")
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_key_dir": shared},
             "seema": {"user_access_groups": ["developers"], "user_access_key_dir": shared}}
    the_plan = make_plan(tmp_path, users)
    assert_any(refusals(the_plan, "rahul"), f"its file {shared}/local.key is also seema's",
               "give each user its own user_access_key_dir")
    assert_any(refusals(the_plan, "seema"), f"its file {shared}/local.key is also rahul's")
    assert the_plan["users"] == [] and the_plan["requests"] == {"local": []}


@pytest.mark.parametrize("first, second", [
    ("developers", "Developers"),
    ("team:dev", "team.dev"),
    ("platform-engineering-europe-west-frankfurt-a", "platform-engineering-europe-west-frankfurt-b"),
])
def test_every_granted_group_gets_its_binding(tmp_path, first, second):
    """Two groups granted the same role: each is bound. A grant silently dropped leaves the members of a group
    without the access the inventory gives them."""
    grants = {first: [{"cluster_role": "edit", "namespace": "dev"}],
              second: [{"cluster_role": "edit", "namespace": "dev"}]}
    users = {"rahul": {"user_access_groups": [first]}, "seema": {"user_access_groups": [second]}}
    the_plan = make_plan(tmp_path, users, group_grants=grants)
    assert the_plan["errors"] == []
    bound = {s["name"] for b in the_plan["bindings"]["local"] for s in b["subjects"] if s["kind"] == "Group"}
    assert bound == {first, second}


def test_role_and_cluster_role_of_the_same_name_are_both_bound(tmp_path):
    """{cluster_role: edit, namespace: dev} and {role: edit, namespace: dev} are different grants."""
    grants = {"developers": [{"cluster_role": "edit", "namespace": "dev"}, {"role": "edit", "namespace": "dev"}]}
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, group_grants=grants)
    assert sorted(b["role_kind"] for b in the_plan["bindings"]["local"]) == ["ClusterRole", "Role"]


def test_same_grant_twice_is_one_binding(tmp_path):
    """The same grant of a group listed twice (or once per cluster list) is one binding, not a conflict."""
    clusters = {"prod": {"kubeconfig": "/etc/prod.conf"}, "staging": {"kubeconfig": "/etc/staging.conf"}}
    grants = {"developers": [{"cluster_role": "view"}, {"cluster_role": "view", "clusters": ["prod"]}]}
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, clusters, grants)
    assert the_plan["errors"] == []
    assert binding_names(the_plan, "prod") == binding_names(the_plan, "staging") == [
        "kubeaccess-group-developers-view"]


def test_one_binding_name_for_two_different_grants_is_a_shared_error(tmp_path):
    """Two grants of one group that map to one binding name with different content (rules) cannot both hold."""
    grants = {"developers": [{"role": "deployer", "namespace": "dev", "rules": [{"verbs": ["get"]}]},
                             {"role": "deployer", "namespace": "dev"}]}
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, group_grants=grants)
    assert_starts(the_plan["errors"], ["Group developers: its grant of Role deployer in dev on local maps to the "
                                       "binding kubeaccess-group-developers-role-deployer"])


@pytest.mark.parametrize("namespace", ["dev.team", "n" * 64])
def test_user_namespace_must_be_a_namespace_name(tmp_path, namespace):
    """Namespaces are DNS labels (at most 63 characters, no dots): such a default namespace can never exist."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_namespace": namespace}})
    assert_starts(refusals(the_plan, "rahul"), ["rahul: user_access_namespace:"])


@pytest.mark.parametrize("policy", [["max_expiration_seconds"], "strict"], ids=["list", "string"])
def test_policy_that_is_not_a_mapping_is_reported(tmp_path, policy):
    """The plan still returns (with that error and every other mistake) rather than fail on it: a filter that
    raises names no inventory key."""
    users = {"rahul": {"user_access_groups": ["developers"]}, "seema": {"user_access_groups": ["qa"]}}
    the_plan = make_plan(tmp_path, users, one_cluster(policy=policy))
    assert_starts(the_plan["errors"], ["user_access_clusters.local.policy: must be a mapping"])
    assert_starts(refusals(the_plan, "seema"), ["seema: user_access_groups: group 'qa' has no grants"])


# == the cluster's approval policy against each user ==================================================================

POLICY_CASES = {
    "lifetime above the default maximum of 7 days": (
        {}, {"user_access_lifetime": "8d"},
        ["rahul: user_access_lifetime: 691200 s is more than user_access_clusters.local.policy."
         "max_expiration_seconds (604800 s)"]),
    "lifetime above the policy's maximum": (
        {"max_expiration_seconds": 3600}, {"user_access_lifetime": "2h"},
        ["rahul: user_access_lifetime: 7200 s is more than user_access_clusters.local.policy.max_expiration_seconds "
         "(3600 s)"]),
    "group outside allowed_groups": (
        {"allowed_groups": ["developers"]}, {"user_access_groups": ["developers", "qa"]},
        ["rahul: user_access_groups: ['qa'] are not in user_access_clusters.local.policy.allowed_groups "
         "['developers']"]),
    "group in forbidden_groups": (
        {"forbidden_groups": ["qa"]}, {"user_access_groups": ["developers", "qa"]},
        ["rahul: user_access_groups: ['qa'] are in user_access_clusters.local.policy.forbidden_groups"]),
    "RSA key below min_rsa_key_size": (
        {"min_rsa_key_size": 4096}, {"user_access_key_type": "rsa", "user_access_key_size": 3072},
        ["rahul: user_access_key_size: 3072 bits is below user_access_clusters.local.policy.min_rsa_key_size "
         "(4096)"]),
    "ECDSA key below min_ecdsa_key_size": (
        {"min_ecdsa_key_size": 384}, {"user_access_key_type": "ecdsa"},
        ["rahul: user_access_key_type: ecdsa (P-256, 256 bits) is below "
         "user_access_clusters.local.policy.min_ecdsa_key_size (384); use rsa"]),
}


@pytest.mark.parametrize("policy, variables, expected", list(POLICY_CASES.values()), ids=list(POLICY_CASES))
def test_what_the_policy_would_refuse_refuses_the_user_before_any_request(tmp_path, policy, variables, expected):
    """The approval would fail after the request was made: the plan refuses rahul first, naming his key and the
    policy's; seema, within the policy, keeps her work."""
    grants = dict(DEVELOPERS, qa=[{"cluster_role": "view"}])
    users = {"rahul": dict({"user_access_groups": ["developers"]}, **variables),
             "seema": {"user_access_groups": ["developers"], "user_access_key_type": "rsa",
                       "user_access_key_size": 4096, "user_access_lifetime": "1h"}}
    the_plan = make_plan(tmp_path, users, one_cluster(policy=policy), grants)
    assert the_plan["errors"] == []
    assert_starts(refusals(the_plan, "rahul"), expected)
    assert [e["host"] for e in the_plan["users"]] == ["seema"]


def test_a_lifetime_within_the_policy_is_accepted(tmp_path):
    """Exactly the maximum, and 2 weeks under a policy that allows them."""
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_lifetime": "7d"}}
    assert refusals(make_plan(tmp_path, users), "rahul") == []
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_lifetime": "2w"}}
    the_plan = make_plan(tmp_path, users, one_cluster(policy={"max_expiration_seconds": 1209600}))
    assert entry_of(the_plan, "rahul")["request"]["expiration_seconds"] == 1209600


@pytest.mark.parametrize("policy, variables, key", [
    ({"max_expiration_seconds": "3600"}, {}, "max_expiration_seconds"),
    ({"min_rsa_key_size": "4096"}, {"user_access_key_type": "rsa", "user_access_key_size": 3072},
     "min_rsa_key_size"),
], ids=["max_expiration_seconds", "min_rsa_key_size"])
def test_policy_numbers_quoted_in_yaml_are_checked_like_numbers(tmp_path, policy, variables, key):
    """k8s_csr_approve takes `max_expiration_seconds: "3600"` as 3600: the plan checks rahul's 24h lifetime (or
    his 3072-bit key) against it the same way, naming the policy key, instead of failing with a Python error."""
    users = {"rahul": dict({"user_access_groups": ["developers"]}, **variables)}
    the_plan = make_plan(tmp_path, users, one_cluster(policy=policy))
    assert_any(the_plan["errors"] + refusals(the_plan, "rahul"), f"user_access_clusters.local.policy.{key}")


@pytest.mark.parametrize("policy, expected", [
    ({"expected_user": "mallory"}, "user_access_clusters.local.policy: expected_user: the role sets it for every "
                                   "request (the user's name, groups and key); remove it"),
    ({"allow_any_user": True}, "user_access_clusters.local.policy: allow_any_user: the role sets it"),
    ({"expected_public_key_fingerprint": "ab:cd"},
     "user_access_clusters.local.policy: expected_public_key_fingerprint: the role sets it"),
    ({"expected_request": "-----BEGIN CERTIFICATE REQUEST-----"},
     "user_access_clusters.local.policy: expected_request: the role sets it"),
    ({"allowed_signers": ["example.com/signer"]},
     "user_access_clusters.local.policy: allowed_signers: ['example.com/signer'] does not include "
     "kubernetes.io/kube-apiserver-client, the cluster's signer_name that the role's requests name; add it to "
     "allowed_signers, or set signer_name to one of them"),
    ({"allowed_usages": ["digital signature"]},
     "user_access_clusters.local.policy: allowed_usages: ['digital signature'] does not include ['client auth']"),
], ids=["expected_user", "allow_any_user", "fingerprint pin", "request pin", "signer", "usages"])
def test_a_policy_no_request_of_the_role_could_pass_is_a_shared_error(tmp_path, policy, expected):
    """What the role sets itself for every request, or a policy that refuses every request it makes, stops the
    run naming the policy key; no user is refused for it."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, one_cluster(policy=policy))
    assert_starts(the_plan["errors"], [expected])
    assert refusals(the_plan, "rahul") == []


@pytest.mark.parametrize("clusters, group_grants, expected", [
    (one_cluster(self_service_namespace="Self Service"), None,
     "user_access_clusters.local.self_service_namespace: 'Self Service' is not a namespace name: use at most 63"),
    (one_cluster(kubeconfig=42), None, "user_access_clusters.local.kubeconfig: is a number; give the path of the "
                                       "administrator kubeconfig, or its content as a mapping"),
    (one_cluster(kubeconfig=["admin.conf"]), None, "user_access_clusters.local.kubeconfig: is a list; give the path"),
    (None, {"developers": [{"cluster_role": "view"}], "system:x": [{"cluster_role": "view"}]},
     "user_access_group_grants.system:x: 'system:x' starts with 'system:'"),
], ids=["self-service-namespace", "kubeconfig-number", "kubeconfig-list", "system-group"])
def test_a_shared_error_names_its_key_once_and_in_the_inventorys_words(tmp_path, clusters, group_grants, expected):
    """The key is named once, as the inventory has it, and a value's kind as YAML says it, not as Python does."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, clusters, group_grants)
    assert_starts(the_plan["errors"], [expected])


def test_an_inventory_name_that_is_no_label_value_is_a_shared_error(tmp_path):
    """user_access_inventory labels every binding and request: refused in the plan, naming it, not by the API at the
    first write naming a label the user never typed."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, inventory="team a")
    assert_starts(the_plan["errors"], ["user_access_inventory: value 'team a' of 'kubeaccess.x509/inventory' is "
                                       "invalid; use at most 63 letters, digits, '-', '_' and '.'"])


def test_a_clusters_signer_and_wait_timeout_go_into_its_requests_and_approvals(tmp_path):
    """signer_name names the signer of every request of the cluster, and the approval waits wait_timeout for it."""
    signer = "clusterissuers.cert-manager.io/team-ca"
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, one_cluster(
        signer_name=signer, wait_timeout="10m", policy={"allowed_signers": [signer]}))
    assert the_plan["errors"] == []
    entry = entry_of(the_plan, "rahul")
    assert entry["request"]["signer_name"] == signer
    assert (entry["approval_policy"]["allowed_signers"], entry["approval_policy"]["wait_timeout"]) == ([signer], 600)


def test_the_default_signer_is_the_kube_apiserver_client_signer_with_two_minutes_to_sign(tmp_path):
    entry = entry_of(make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}), "rahul")
    assert (entry["request"]["signer_name"], entry["approval_policy"]["wait_timeout"]) == (
        "kubernetes.io/kube-apiserver-client", 120)


@pytest.mark.parametrize("cluster, expected", [
    ({"signer_name": "clusterissuers.cert-manager.io/team-ca"},
     "user_access_clusters.local.policy: allowed_signers: ['kubernetes.io/kube-apiserver-client'] does not include "
     "clusterissuers.cert-manager.io/team-ca, the cluster's signer_name"),
    ({"signer_name": "team-ca"},
     "user_access_clusters.local: signer_name: 'team-ca' is not a signer name; give a lower-case domain and a path"),
    ({"signer_name": "Example.COM/ca"}, "user_access_clusters.local: signer_name: 'Example.COM/ca' is not"),
    ({"wait_timeout": 0}, "user_access_clusters.local.wait_timeout: 0 is not a number of seconds of at least 1"),
    ({"wait_timeout": "soon"}, "user_access_clusters.local.wait_timeout: 'soon' is not a number of seconds"),
], ids=["signer not allowed", "no path", "upper case", "zero wait", "not a duration"])
def test_a_signer_the_policy_refuses_or_a_bad_wait_stops_the_run_naming_the_key(tmp_path, cluster, expected):
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, one_cluster(**cluster))
    assert_starts(the_plan["errors"], [expected])


def test_key_rotation_is_each_users_own_and_checked(tmp_path):
    """user_access_rotate_key: on by default, off for a user who says so, refused by name when it is not a bool."""
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_rotate_key": False},
             "seema": {"user_access_groups": ["developers"]},
             "bob": {"user_access_groups": ["developers"], "user_access_rotate_key": "sometimes"}}
    the_plan = make_plan(tmp_path, users)
    assert entry_of(the_plan, "rahul")["request"]["rotate_key"] is False
    assert entry_of(the_plan, "seema")["request"]["rotate_key"] is True
    assert_starts(refusals(the_plan, "bob"), ["bob: user_access_rotate_key: 'sometimes' is not true or false"])


def test_a_self_service_user_gets_an_account_and_its_rbac_and_nothing_on_the_controller(tmp_path):
    """user_access_self_service: no key, request or kubeconfig of the role's; the account publishes the user's name
    and groups; a ClusterRole lets it create requests and read, watch and replace only its own, and read itself."""
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_self_service": True},
             "seema": {"user_access_groups": ["developers"]}}
    the_plan = make_plan(tmp_path, users, one_cluster(self_service_namespace="ss"))
    assert the_plan["errors"] == [] and all_refusals(the_plan) == []
    assert [e["user"] for e in the_plan["users"]] == ["seema"]
    assert [r["user"] for r in the_plan["requests"]["local"]] == ["seema"]
    (entry,) = the_plan["self_service_users"]
    assert entry["self_service"] == {"namespace": "ss", "service_account": "kubeaccess-rahul",
                                     "csr_name": "kubeaccess-self-service-rahul",
                                     "requester": "system:serviceaccount:ss:kubeaccess-rahul"}
    assert entry["self_service_account"] == {"user": "rahul", "groups": ["developers"], "namespace": "ss",
                                             "labels": {LABEL: "default"}}
    (binding,) = [b for b in the_plan["bindings"]["local"] if b["name"] == "kubeaccess-self-service-rahul"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kubeaccess-rahul", "namespace": "ss"}]
    assert [(r["verbs"], r.get("resource_names")) for r in binding["rules"]] == [
        (["create"], None), (["get", "watch", "delete"], ["kubeaccess-self-service-rahul"]),
        (["get"], ["kubeaccess-rahul"])]


def test_self_service_for_every_user_of_a_cluster_unless_a_user_says_otherwise(tmp_path):
    users = {"rahul": {"user_access_groups": ["developers"]},
             "seema": {"user_access_groups": ["developers"], "user_access_self_service": False}}
    the_plan = make_plan(tmp_path, users, one_cluster(self_service=True))
    assert [e["user"] for e in the_plan["self_service_users"]] == ["rahul"]
    assert [e["user"] for e in the_plan["users"]] == ["seema"]
    assert the_plan["self_service_users"][0]["self_service"]["namespace"] == "kubeaccess-self-service"


@pytest.mark.parametrize("variables, expected", [
    ({"user_access_grants": [{"cluster_role": "view"}]},
     "rahul: user_access_self_service: the user is in no group, so their ServiceAccount would publish nothing"),
    ({"user_access_groups": ["developers"], "ansible_host": "laptop"},
     "rahul: user_access_self_service: the user requests their certificate from their own machine"),
    ({"user_access_groups": ["developers"], "user_access_self_service": "often"},
     "rahul: user_access_self_service: 'often' is not true or false"),
], ids=["no groups", "ansible_host", "not a bool"])
def test_a_self_service_user_the_role_cannot_serve_is_refused_naming_the_variable(tmp_path, variables, expected):
    users = {"rahul": dict({"user_access_self_service": True}, **variables)}
    assert_starts(refusals(make_plan(tmp_path, users), "rahul"), [expected])


def test_the_approval_pins_the_users_own_groups(tmp_path):
    """A policy that allows more groups than the user has: the approval allows exactly the user's groups."""
    policy = {"allowed_groups": ["developers", "qa"], "max_expiration_seconds": 86400}
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, one_cluster(policy=policy))
    pinned = entry_of(the_plan, "rahul")["approval_policy"]
    assert (pinned["expected_user"], pinned["allowed_groups"], pinned["max_expiration_seconds"]) == (
        "rahul", ["developers"], 86400)


# == requests, keys on the users' own machines and endpoints ==========================================================

def mixed_inventory(tmp_path, ca_pair):
    """Two clusters; rahul and seema keep keys on the controller (rahul on prod only), amit on his laptop, bob is
    refused and omar is outside the run."""
    kubeconfig, ca_pem = admin_kubeconfig(tmp_path, ca_pair)
    clusters = {"local": {"kubeconfig": kubeconfig}, "prod": {"kubeconfig": kubeconfig}}
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_user_clusters": ["prod"]},
             "seema": {"user_access_groups": ["developers"]},
             "amit": {"user_access_groups": ["developers"], "ansible_host": "amit-laptop"},
             "bob": {"user_access_groups": ["qa"]},
             "omar": {"user_access_groups": ["developers"]}}
    return make_plan(tmp_path / "base", users, clusters, run={"rahul", "seema", "amit", "bob"}), ca_pem


def test_requests_are_those_of_the_runs_controller_users_per_cluster(tmp_path, ca):
    """requests: per cluster, exactly the requests of the users of the run whose keys are on the controller; not
    refused bob's, not omar's (outside the run), not amit's (made on his machine)."""
    the_plan, _ca_pem = mixed_inventory(tmp_path, ca)
    assert the_plan["requests"] == {
        "local": [entry_of(the_plan, "seema", "local")["request"]],
        "prod": [entry_of(the_plan, "rahul", "prod")["request"], entry_of(the_plan, "seema", "prod")["request"]]}
    assert [r["private_key_path"] for r in the_plan["requests"]["prod"]] == [
        f"{tmp_path}/base/rahul/prod.key", f"{tmp_path}/base/seema/prod.key"]


def test_host_requests_are_the_keys_made_on_the_users_machines(tmp_path, ca):
    """host_requests: per machine, the key and request items made there (not submitted from there)."""
    the_plan, _ca_pem = mixed_inventory(tmp_path, ca)
    assert the_plan["host_requests"] == {"amit": [
        {"user": "amit", "groups": ["developers"], "private_key_path": f"~/.kube/kubeaccess/{cluster}.key",
         "submit": False, "private_key_type": "ecdsa"} for cluster in ("local", "prod")]}
    assert [e["host"] for e in the_plan["remote_users"]] == ["amit", "amit"]


def test_a_user_with_ansible_host_keeps_the_key_on_that_machine(tmp_path, ca):
    """The controller submits the request the machine makes and keeps the (public) certificate; no key path on the
    controller, the machine's paths with `~` as they are, the cluster's server and CA for its kubeconfig."""
    kubeconfig, ca_pem = admin_kubeconfig(tmp_path, ca)
    users = {"rahul": {"user_access_groups": ["developers"]},
             "seema": {"user_access_groups": ["developers"], "ansible_host": "seema-laptop"}}
    the_plan = make_plan(tmp_path / "base", users, {"local": {"kubeconfig": kubeconfig}})
    assert the_plan["errors"] == [] and all_refusals(the_plan) == []
    assert [e["host"] for e in the_plan["users"]] == ["rahul"]
    [seema] = the_plan["remote_users"]
    certificate = f"{tmp_path}/base/seema/local.crt"
    assert seema["request"] == {"user": "seema", "groups": ["developers"], "certificate_path": certificate,
                                "expiration_seconds": 86400, "renew_before": "30%", "labels": {LABEL: "default"},
                                "signer_name": "kubernetes.io/kube-apiserver-client"}
    assert seema["approval_policy"]["certificate_path"] == certificate
    assert seema["on_host"] == {
        "request": {"user": "seema", "groups": ["developers"], "private_key_path": "~/.kube/kubeaccess/local.key",
                    "submit": False, "private_key_type": "ecdsa"},
        "certificate_path": "~/.kube/kubeaccess/local.crt", "ca_path": "~/.kube/kubeaccess/local-ca.crt"}
    assert seema["kubeconfig_path"] == "~/.kube/config"
    assert the_plan["endpoints"] == {"local": {"server": SERVER, "ca": ca_pem}}


def test_paths_on_the_users_machine_are_not_checked_on_the_controller(tmp_path, ca):
    """A key dir under what is a regular file on the controller is fine: it is a path on seema's machine."""
    kubeconfig, _ca_pem = admin_kubeconfig(tmp_path, ca)
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    users = {"seema": {"user_access_groups": ["developers"], "ansible_host": "seema-laptop",
                       "user_access_key_dir": f"{blocker}/keys", "user_access_kubeconfig_path": f"{blocker}/config",
                       "user_access_key_type": "rsa"}}
    the_plan = make_plan(tmp_path / "base", users, {"local": {"kubeconfig": kubeconfig}})
    assert refusals(the_plan, "seema") == []
    [seema] = the_plan["remote_users"]
    assert seema["on_host"]["request"]["private_key_path"] == f"{blocker}/keys/local.key"
    assert seema["on_host"]["request"]["private_key_size"] == 3072
    assert seema["kubeconfig_path"] == f"{blocker}/config"


def test_endpoints_come_from_the_cluster_description_first(tmp_path, ca):
    """server and ca_file of the description win over the admin kubeconfig; a missing ca_file is a shared error."""
    kubeconfig, _ca_pem = admin_kubeconfig(tmp_path, ca)
    ca_file = tmp_path / "public-ca.crt"
    ca_file.write_text("the CA users should trust\n", encoding="utf-8")
    clusters = {"local": {"kubeconfig": kubeconfig, "server": "https://k8s.example.com", "ca_source": "file",
                          "ca_file": str(ca_file)}}
    users = {"seema": {"user_access_groups": ["developers"], "ansible_host": "seema-laptop"}}
    the_plan = make_plan(tmp_path / "base", users, clusters)
    assert the_plan["endpoints"] == {"local": {"server": "https://k8s.example.com",
                                               "ca": "the CA users should trust\n"}}
    ca_file.unlink()
    the_plan = make_plan(tmp_path / "base", users, clusters)
    assert the_plan["errors"] == [f"user_access_clusters.local.ca_file: {ca_file} does not exist on the controller"]


def test_no_endpoints_are_read_without_users_on_their_own_machines(tmp_path):
    """The admin kubeconfig (here one that does not exist) is read by the modules only, unless a user of the run
    needs its server and CA."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]},
                                    "seema": {"user_access_groups": ["developers"], "ansible_host": "laptop"}},
                         run={"rahul"})
    assert the_plan["errors"] == [] and the_plan["endpoints"] == {}


def test_ansible_host_with_a_local_connection_would_keep_the_key_on_the_controller(tmp_path, ca):
    """seema is refused (the local connection runs on the controller); a loopback ansible_host is fine."""
    kubeconfig, _ca_pem = admin_kubeconfig(tmp_path, ca)
    users = {"rahul": {"user_access_groups": ["developers"]},
             "seema": {"user_access_groups": ["developers"], "ansible_host": "seema-laptop",
                       "ansible_connection": "local"}}
    the_plan = make_plan(tmp_path / "base", users, {"local": {"kubeconfig": kubeconfig}})
    assert refusals(the_plan, "seema") == [
        "seema: ansible_host: seema-laptop would be reached with ansible_connection local, which runs on the "
        "controller and would keep the key there; give this host the connection that reaches that machine (e.g. "
        "ansible_connection: ssh), or remove ansible_host"]
    assert the_plan["host_requests"] == {} and len(the_plan["users"]) == 1
    users["seema"]["ansible_host"] = "127.0.0.1"  # a machine that is the controller, on purpose (tests)
    assert all_refusals(make_plan(tmp_path / "base", users, {"local": {"kubeconfig": kubeconfig}})) == []


# == the access_plan filter ===========================================================================================

class Variables(dict):
    """A host's variables that remember which were read: in Ansible each read of hostvars templates."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reads = []

    def __getitem__(self, name):
        self.reads.append(name)
        return super().__getitem__(name)


def example_hostvars(base_dir, not_in_all=()):
    """hostvars of the example inventory: every host gets group_vars/all (clusters, grants, base_dir, lifetime;
    without the variables `not_in_all`), the users also group_vars/kube_users.yml, their host vars and Ansible's
    magic variables."""
    users, clusters, grants = example_inventory()
    all_vars = dict(load_yaml("examples", "inventory", "group_vars", "all.yml"), user_access_clusters=clusters,
                    user_access_group_grants=grants, user_access_base_dir=str(base_dir))
    all_vars = {name: value for name, value in all_vars.items() if name not in not_in_all}
    kube_users = load_yaml("examples", "inventory", "group_vars", "kube_users.yml")
    hostvars = Variables({host: Variables(all_vars, **kube_users, inventory_hostname=host,
                                          group_names=["kube_users"], **variables)
                          for host, variables in users.items()})
    hostvars["localhost"] = Variables(all_vars, inventory_hostname="localhost", group_names=[])
    return hostvars


def run_filter(hostvars, renderer="localhost", run=None, play=None, users=None):
    """The filter as plan.yml calls it on `renderer`, for the users of kube_users."""
    users = [host for host in hostvars if host != "localhost"] if users is None else users
    inventory_options = ("clusters", "group_grants", "base_dir", "lifetime")
    own = {option: hostvars[renderer][f"user_access_{option}"] for option in inventory_options
           if f"user_access_{option}" in hostvars[renderer]}
    hostvars.reads.clear()
    for variables in hostvars.values():
        variables.reads.clear()
    return access_filter.access_plan(users, hostvars, ["localhost"] + users if run is None else run, renderer,
                                     rendered_on(own, play), ROLE_PATH)


def test_filter_plans_the_example_inventory_from_hostvars(tmp_path):
    """On localhost, as the collection's playbooks run it: the same plan as from the inventory itself, the run's
    settings, and the steps' changes do not show on a user's host."""
    users, clusters, grants = example_inventory()
    the_plan = run_filter(example_hostvars(tmp_path))
    expected = make_plan(tmp_path, users, clusters, grants)
    assert {key: value for key, value in the_plan.items() if key not in ("settings", "batch_on_user_host")} == \
        expected
    assert the_plan["settings"] == {"clusters": clusters, "group_grants": grants, "base_dir": str(tmp_path),
                                    "inventory": "default", "require_groups": True, "force_renewal": False,
                                    "verify": "changed", "prune": True}
    assert the_plan["batch_on_user_host"] is False


def test_filter_on_a_user_host_says_so(tmp_path):
    """Rendered on rahul's host (a play without localhost): batch_on_user_host, for the changed_when of steps."""
    the_plan = run_filter(example_hostvars(tmp_path), renderer="rahul", run=["rahul", "seema"])
    assert the_plan["errors"] == [] and the_plan["batch_on_user_host"] is True


def test_filter_reads_only_the_role_variables_once_per_host(tmp_path):
    """Each host's variables are looked up once, and of them only the role's and the connection's are read:
    unrelated variables (which may not even template) are never touched."""
    hostvars = example_hostvars(tmp_path)
    hostvars["rahul"]["unrelated"] = "{{ undefined_variable }}"
    hostvars["rahul"]["user_access_lifetime_comment"] = "not a role variable"
    run_filter(hostvars)
    assert sorted(hostvars.reads) == ["localhost", "rahul", "seema"]
    role_variables = {f"user_access_{name}" for name in access_filter.ROLE_OPTIONS} | {
        "user_access_name", "user_access_groups", "user_access_grants", "user_access_namespace",
        "user_access_user_clusters", "user_access_key_dir", "user_access_kubeconfig_path", "user_access_expect",
        "ansible_host", "ansible_connection"}
    for host in ("rahul", "seema", "localhost"):
        reads = hostvars[host].reads
        assert set(reads) <= role_variables and len(reads) == len(set(reads)), (host, reads)
    assert "user_access_groups" in hostvars["rahul"].reads and "ansible_connection" in hostvars["rahul"].reads


def test_filter_gives_each_user_their_own_lifetime_not_the_renderers(tmp_path):
    """Rendered on seema's host (her own 8h): rahul, who sets none, gets the role's 24h, not her 8h."""
    hostvars = example_hostvars(tmp_path, not_in_all=["user_access_lifetime"])
    the_plan = run_filter(hostvars, renderer="seema", run=["rahul", "seema"])
    assert entry_of(the_plan, "rahul")["request"]["expiration_seconds"] == 86400
    assert entry_of(the_plan, "seema")["request"]["expiration_seconds"] == 28800


def test_filter_gives_the_plays_lifetime_to_every_user(tmp_path):
    """Play vars win over the inventory, as in Ansible: 12h for rahul and for seema despite her own 8h."""
    the_plan = run_filter(example_hostvars(tmp_path, not_in_all=["user_access_lifetime"]), play={"lifetime": "12h"})
    assert entry_of(the_plan, "rahul")["request"]["expiration_seconds"] == 43200
    assert entry_of(the_plan, "seema")["request"]["expiration_seconds"] == 43200


def test_filter_gives_each_user_their_own_lifetime_when_the_play_sets_none(tmp_path):
    """No play value: rahul gets the role default 24h, seema her own 8h, whichever host renders."""
    the_plan = run_filter(example_hostvars(tmp_path, not_in_all=["user_access_lifetime"]))
    assert entry_of(the_plan, "rahul")["request"]["expiration_seconds"] == 86400
    assert entry_of(the_plan, "seema")["request"]["expiration_seconds"] == 28800


def test_filter_defaults_are_the_role_defaults(tmp_path, monkeypatch):
    """No base_dir, lifetime, renew_before or inventory anywhere: ~/.kubeaccess, 24h, 30%, label default."""
    monkeypatch.setenv("HOME", str(tmp_path))
    hostvars = example_hostvars(tmp_path, not_in_all=["user_access_base_dir", "user_access_lifetime"])
    request = entry_of(run_filter(hostvars), "rahul")["request"]
    assert request["private_key_path"] == f"{tmp_path}/.kubeaccess/rahul/local.key"
    assert (request["expiration_seconds"], request["renew_before"], request["labels"]) == (
        86400, "30%", {LABEL: "default"})


def test_filter_takes_what_the_play_sets(tmp_path):
    """Play vars: groups not required, 1h certificates, renewed now."""
    hostvars = example_hostvars(tmp_path, not_in_all=["user_access_lifetime"])
    hostvars["rahul"]["user_access_groups"] = []
    the_plan = run_filter(hostvars, play={"require_groups": False, "lifetime": "1h", "force_renewal": True})
    assert the_plan["settings"]["require_groups"] is False and the_plan["settings"]["force_renewal"] is True
    request = entry_of(the_plan, "rahul")["request"]
    assert request["expiration_seconds"] == 3600
    assert request["renew_before"] == access_plan.FORCE_RENEWAL_WINDOW


def test_filter_returns_only_the_errors_of_role_wide_options(tmp_path):
    """A role-wide option that differs between users: the run cannot start; there is no plan to act on."""
    hostvars = example_hostvars(tmp_path)
    hostvars["rahul"]["user_access_prune"] = False
    the_plan = run_filter(hostvars)
    assert list(the_plan) == ["errors"]
    assert_starts(the_plan["errors"], ["user_access_prune: one value for the whole run, but the users' inventory "
                                       "variables differ (rahul: False; seema: not set)"])


def test_filter_reports_a_bad_role_wide_option_in_ansibles_words(tmp_path):
    """user_access_prune: maybe, as Ansible's own role argument check would say it."""
    the_plan = run_filter(example_hostvars(tmp_path), play={"prune": "maybe"})
    assert_starts(the_plan["errors"], ["argument 'user_access_prune' is of type str and we were unable to convert "
                                       "to bool"])


def test_filter_takes_the_clusters_of_the_users_group_vars_on_localhost(tmp_path):
    """user_access_clusters in group_vars/kube_users.yml, not all.yml: localhost has none of its own and renders
    the role default {}; the users' clusters still apply."""
    hostvars = example_hostvars(tmp_path, not_in_all=["user_access_clusters"])
    for host in ("rahul", "seema"):
        hostvars[host]["user_access_clusters"] = example_inventory()[1]
    the_plan = run_filter(hostvars)
    assert the_plan["errors"] == []
    assert [e["host"] for e in the_plan["users"]] == ["rahul", "seema"]


def test_filter_reads_only_the_users_in_its_input(tmp_path):
    """Hosts of the play that are not in the users group are not users."""
    the_plan = run_filter(example_hostvars(tmp_path), users=["rahul"], run=["localhost", "rahul", "seema"])
    assert [e["host"] for e in the_plan["users"]] == ["rahul"] and list(the_plan["hosts"]) == ["rahul"]


def test_filter_refuses_unknown_settings(tmp_path):
    """A misspelt option in plan.yml's rendered settings, or play_hosts passed as one, is refused by name."""
    hostvars = example_hostvars(tmp_path)
    for extra, unknown in (({"lifetme": "1h"}, "['lifetme']"), ({"play_hosts": ["seema"]}, "['play_hosts']")):
        with pytest.raises(AnsibleFilterError) as caught:
            access_filter.access_plan(["rahul"], hostvars, ["rahul"], "localhost", dict(rendered_on(), **extra),
                                      ROLE_PATH)
        assert f"unknown settings {unknown}; known: ['base_dir', 'clusters', 'force_renewal', 'group_grants', " \
            "'inventory', 'key_size', 'key_type', 'lifetime', 'prune', 'renew_before', 'require_groups', " \
            "'rotate_key', 'verify']" in str(caught.value)


@pytest.mark.parametrize("users", ["rahul", {"rahul": {}}, None])
def test_filter_input_must_be_the_list_of_user_hosts(tmp_path, users):
    """groups['kube_users'] is a list; anything else is refused, saying what to give."""
    with pytest.raises(AnsibleFilterError, match="the input must be the list of user hosts"):
        access_filter.access_plan(users, example_hostvars(tmp_path), ["rahul"], "localhost", rendered_on(),
                                  ROLE_PATH)


def test_filter_module_names():
    """The role calls the plan as kubeaccess.x509.access_plan."""
    assert access_filter.FilterModule().filters() == {"access_plan": access_filter.access_plan}


# == clusters that sign with their CA key =============================================================================

def test_a_cluster_with_a_ca_key_host_signs_there_and_its_requests_are_not_submitted(tmp_path):
    users = {"rahul": {"user_access_groups": ["developers"]}}
    the_plan = make_plan(tmp_path, users, one_cluster(ca_key_host="cp1"))
    assert the_plan["errors"] == [] and the_plan["users"] == [] and the_plan["requests"] == {"local": []}
    (entry,) = the_plan["ca_key_users"]
    assert (entry["request"]["submit"], entry["request"]["rotate_key"]) == (False, False)
    assert the_plan["ca_key_clusters"] == {"local": {
        "host": "cp1", "ca_key_path": "/etc/kubernetes/pki/ca.key", "ca_cert_path": "/etc/kubernetes/pki/ca.crt",
        "become": True, "requests": [entry["request"]]}}


@pytest.mark.parametrize("cluster, expected", [
    ({"ca_key_path": "/etc/ca.key"}, "user_access_clusters.local: ['ca_key_path'] only apply with ca_key_host"),
    ({"ca_key_host": "cp1", "approval": "manual", "requesters": ["ci"]},
     "user_access_clusters.local: ca_key_host signs each request in the run, under the policy: it takes neither"),
    ({"ca_key_host": "cp1", "ca_key_become": "maybe"}, "user_access_clusters.local.ca_key_become: 'maybe' is not"),
], ids=["without host", "manual approval", "become not a bool"])
def test_ca_key_settings_that_cannot_work_stop_the_run_naming_the_key(tmp_path, cluster, expected):
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, one_cluster(**cluster))
    assert_starts(the_plan["errors"], [expected])


def test_a_user_with_a_key_on_their_machine_is_refused_on_a_cluster_that_signs_with_its_ca_key(tmp_path):
    users = {"rahul": {"user_access_groups": ["developers"], "ansible_host": "laptop"}}
    refused = refusals(make_plan(tmp_path, users, one_cluster(ca_key_host="cp1")), "rahul")
    assert_any(refused, "ansible_host: cluster local signs with its CA key (ca_key_host)")
