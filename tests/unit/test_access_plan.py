"""plugins/plugin_utils/access_plan.py and the access_plan filter: the user_access role's inventory model.

The inventory is checked whole (every error, each naming the key to fix) before anything changes; the plan's work
entries and bindings, and what the role makes of the registered results of its looped module calls (approvals,
kubeconfigs, the summary and the offboarding report), are checked here as a user of the inventory sees them.
"""
# pylint: disable=missing-function-docstring

import base64
import copy
import datetime
import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.kubeaccess.x509.plugins.filter import access_plan as access_filter
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import Certificate
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import parse_duration, parse_renew_before
from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_plan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE_INVENTORY = os.path.join(ROOT, "examples", "inventory")
ADMIN_KUBECONFIG = "/etc/kubeaccess/local-admin.conf"
LABEL = "kubeaccess.x509/inventory"
UTC = datetime.timezone.utc


# -- inventories and plans -------------------------------------------------------------------------------------------

def load_yaml(*parts):
    with open(os.path.join(EXAMPLE_INVENTORY, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def example_inventory():
    """The shipped example inventory as Ansible hands it to the role: users' host vars, clusters, group grants.

    The admin kubeconfig of the example is read from the environment; here it is what that lookup would give.
    """
    users = load_yaml("hosts.yml")["kube_users"]["hosts"]
    group_vars = load_yaml("group_vars", "all.yml")
    clusters = copy.deepcopy(group_vars["user_access_clusters"])
    clusters["local"]["kubeconfig"] = ADMIN_KUBECONFIG
    return copy.deepcopy(users), clusters, copy.deepcopy(group_vars["user_access_group_grants"])


def one_cluster(**spec):
    return {"local": dict({"kubeconfig": ADMIN_KUBECONFIG}, **spec)}


DEVELOPERS = {"developers": [{"cluster_role": "edit", "namespace": "dev"}]}


def settings(base_dir, play_hosts, **overrides):
    """The role-level settings as roles/user_access/tasks/plan.yml passes them (role defaults), plus play_hosts."""
    values = {"base_dir": str(base_dir), "lifetime": "24h", "renew_before": "30%", "force_renewal": False,
              "inventory": "default", "require_groups": True, "key_type": "ecdsa", "key_size": 3072,
              "play_hosts": set(play_hosts)}
    values.update(overrides)
    return values


def make_plan(base_dir, users, clusters=None, group_grants=None, **overrides):
    """plan() for `users`, every one of them in the play unless play_hosts is given."""
    overrides.setdefault("play_hosts", set(users))
    return access_plan.plan(users, one_cluster() if clusters is None else clusters,
                            DEVELOPERS if group_grants is None else group_grants, settings(base_dir, **overrides))


def entry_of(the_plan, host, cluster="local"):
    found = [e for e in the_plan["users"] if e["host"] == host and e["cluster"] == cluster]
    assert len(found) == 1, the_plan["users"]
    return found[0]


def binding_names(the_plan, cluster="local"):
    return sorted(b["name"] for b in the_plan["bindings"][cluster])


def binding(the_plan, name, cluster="local"):
    found = [b for b in the_plan["bindings"][cluster] if b["name"] == name]
    assert len(found) == 1, the_plan["bindings"][cluster]
    return found[0]


# -- registered results, as an Ansible loop over `user_access_clusters | dict2items` registers them ------------------

def registered(per_cluster, skipped=()):
    """{"results": [{"item": {"key": cluster, ...}, "results": [per item...]}]}; `skipped` clusters were skipped."""
    results = []
    for cluster, items in per_cluster.items():
        results.append({"item": {"key": cluster, "value": {"kubeconfig": ADMIN_KUBECONFIG}}, "results": items,
                        "changed": any(i.get("changed") for i in items), "failed": False,
                        "ansible_loop_var": "item"})
    for cluster in skipped:
        results.append({"item": {"key": cluster, "value": {}}, "skipped": True, "changed": False,
                        "skip_reason": "Conditional result was False", "ansible_loop_var": "item"})
    return {"results": results, "changed": any(r["changed"] for r in results), "msg": "All items completed"}


def request_result(name, phase, changed=False, not_after=None, fingerprint=None):
    """One item of k8s_csr_request's batch result."""
    result = {"name": name, "phase": phase, "changed": changed, "action": "none" if not changed else "create",
              "public_key_fingerprint": fingerprint or f"fp:{name}"}
    if not_after:
        result["not_after"] = not_after
    return result


def bindings_registered(changed_on=(), clusters=("local",)):
    """The registered k8s_rbac_binding loop: `changed` on the clusters in changed_on."""
    return {"results": [{"item": {"key": c, "value": {}}, "changed": c in changed_on, "results": []}
                        for c in clusters]}


# -- certificates ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca():
    """A self-signed CA (key, certificate) that signs the users' client certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubeaccess-test-ca")])
    now = datetime.datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def client_certificate(ca_pair, common_name, organizations, not_after, serial=0x1F2E3D, lifetime_days=1):
    """A client certificate as the Kubernetes signer issues it: CN the user, one O per group."""
    ca_key, ca_cert = ca_pair
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in organizations]
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name(attributes)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(not_after - datetime.timedelta(days=lifetime_days)).not_valid_after(not_after)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def in_hours(hours):
    return (datetime.datetime.now(UTC) + datetime.timedelta(hours=hours)).replace(microsecond=0)


def slurp(path, user, cluster, files):
    """One item of the registered ansible.builtin.slurp loop of roles/user_access/tasks/offboard.yml."""
    item = dict(files, user=user, cluster=cluster)
    if not os.path.exists(path):
        return {"failed": True, "msg": f"file not found: {path}", "item": item, "changed": False,
                "ansible_loop_var": "item"}
    with open(path, "rb") as handle:
        content = base64.b64encode(handle.read()).decode()
    return {"content": content, "encoding": "base64", "source": path, "item": item, "changed": False,
            "failed": False, "ansible_loop_var": "item"}


# == the example inventory ===========================================================================================

def test_example_inventory_is_valid_and_gives_one_entry_per_user_and_cluster(tmp_path):
    users, clusters, grants = example_inventory()
    the_plan = make_plan(tmp_path, users, clusters, grants)
    assert the_plan["errors"] == []
    assert [(e["host"], e["cluster"]) for e in the_plan["users"]] == [("rahul", "local"), ("seema", "local")]


def test_example_inventory_entry_of_rahul(tmp_path):
    """Files under <base_dir>/<user>/, groups as O, the role-level 24h lifetime, the cluster's policy pinned."""
    users, clusters, grants = example_inventory()
    entry = entry_of(make_plan(tmp_path, users, clusters, grants), "rahul")
    user_dir = f"{tmp_path}/rahul"
    assert entry["user"] == "rahul"
    assert entry["groups"] == ["developers"]
    assert entry["namespace"] == "dev"
    assert entry["approval"] == "auto"
    assert entry["kubeconfig_path"] == f"{user_dir}/kubeconfig"
    assert entry["request"] == {
        "user": "rahul", "groups": ["developers"], "private_key_path": f"{user_dir}/local.key",
        "certificate_path": f"{user_dir}/local.crt", "expiration_seconds": 86400, "renew_before": "30%",
        "labels": {LABEL: "default"}, "private_key_type": "ecdsa",
    }
    assert entry["approval_policy"] == {
        "max_expiration_seconds": 86400, "expected_user": "rahul", "allowed_groups": ["developers"],
        "certificate_path": f"{user_dir}/local.crt", "wait": True,
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
    developers = binding(the_plan, "kubeaccess-group-developers-edit")
    assert developers == {"name": "kubeaccess-group-developers-edit", "role_kind": "ClusterRole",
                          "role_name": "edit", "namespace": "dev",
                          "subjects": [{"kind": "Group", "name": "developers"}],
                          "labels": {LABEL: "team-a"}, "subjects_mode": "exact"}
    assert binding(the_plan, "kubeaccess-group-app1-devs-edit")["namespace"] == "app1"
    platform = binding(the_plan, "kubeaccess-group-platform-team-view")
    assert "namespace" not in platform
    assert platform["role_kind"] == "ClusterRole" and platform["role_name"] == "view"
    assert entry_of(the_plan, "rahul")["request"]["labels"] == {LABEL: "team-a"}


def test_namespace_defaults_to_default(tmp_path):
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
    assert the_plan["errors"] == []
    # A name that had to be made DNS-safe carries a hash of the exact name, so that distinct names stay apart.
    assert binding_names(the_plan) == ["kubeaccess-user-rahul-kumar-8c21b575-cluster-reader",
                                       "kubeaccess-user-rahul-kumar-8c21b575-role-deployer", "kubeaccess-user-rahul-kumar-8c21b575-view"]
    deployer = binding(the_plan, "kubeaccess-user-rahul-kumar-8c21b575-role-deployer")
    assert deployer["role_kind"] == "Role" and deployer["role_name"] == "deployer"
    assert deployer["namespace"] == "dev" and deployer["rules"] == rules
    assert deployer["subjects"] == [{"kind": "User", "name": "rahul.kumar"}]
    assert "namespace" not in binding(the_plan, "kubeaccess-user-rahul-kumar-8c21b575-cluster-reader")
    assert "rules" not in binding(the_plan, "kubeaccess-user-rahul-kumar-8c21b575-view")
    assert entry_of(the_plan, "rahul")["groups"] == []


def test_grant_clusters_limit_where_a_binding_is_made(tmp_path):
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
    clusters = {"prod": {"kubeconfig": "/etc/prod.conf", "approval": "manual"},
                "staging": {"kubeconfig": "/etc/staging.conf"}}
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_user_clusters": ["prod"]},
             "seema": {"user_access_groups": ["developers"]}}
    the_plan = make_plan(tmp_path, users, clusters)
    assert the_plan["errors"] == []
    assert [(e["host"], e["cluster"], e["approval"]) for e in the_plan["users"]] == [
        ("rahul", "prod", "manual"), ("seema", "prod", "manual"), ("seema", "staging", "auto")]
    seema_prod = entry_of(the_plan, "seema", "prod")
    seema_staging = entry_of(the_plan, "seema", "staging")
    assert seema_prod["request"]["private_key_path"] == f"{tmp_path}/seema/prod.key"
    assert seema_staging["request"]["certificate_path"] == f"{tmp_path}/seema/staging.crt"
    # One kubeconfig per user, a context per cluster in it.
    assert seema_prod["kubeconfig_path"] == seema_staging["kubeconfig_path"] == f"{tmp_path}/seema/kubeconfig"


def test_expectations_follow_their_clusters(tmp_path):
    clusters = {"prod": {"kubeconfig": "/etc/prod.conf"}, "staging": {"kubeconfig": "/etc/staging.conf"}}
    everywhere = {"verb": "list", "resource": "pods", "namespace": "dev", "allowed": True}
    on_prod = {"verb": "delete", "resource": "pods", "namespace": "dev", "allowed": False, "clusters": ["prod"]}
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_expect": [everywhere, on_prod]}}
    the_plan = make_plan(tmp_path, users, clusters)
    assert the_plan["errors"] == []
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
    assert the_plan["errors"] == []
    rahul = entry_of(the_plan, "rahul")
    assert rahul["user"] == rahul["request"]["user"] == rahul["approval_policy"]["expected_user"] == \
        "Rahul.Kumar@example.com"
    assert rahul["request"]["private_key_path"] == f"{tmp_path}/home/.kubeaccess/rahul-kumar-example-com-382857b1/local.key"
    seema = entry_of(the_plan, "seema")
    assert seema["request"]["private_key_path"] == f"{tmp_path}/home/keys/seema/local.key"
    assert seema["request"]["certificate_path"] == f"{tmp_path}/home/keys/seema/local.crt"
    assert seema["kubeconfig_path"] == f"{tmp_path}/home/.kube/seema.conf"
    asha = entry_of(the_plan, "asha")
    assert asha["kubeconfig_path"] == f"{tmp_path}/asha-keys/kubeconfig"


def test_user_files():
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


# == play_hosts and force_renewal ====================================================================================

def test_play_hosts_limit_the_work_but_never_the_bindings(tmp_path):
    """A run for one user (-e user=rahul) works on rahul only, but still computes every group's bindings, so that
    pruning never removes the others' access."""
    users, clusters, grants = example_inventory()
    everybody = make_plan(tmp_path, users, clusters, grants)
    rahul_only = make_plan(tmp_path, users, clusters, grants, play_hosts={"rahul"})
    assert rahul_only["errors"] == []
    assert [e["host"] for e in rahul_only["users"]] == ["rahul"]
    assert rahul_only["users"][0] == entry_of(everybody, "rahul")
    assert rahul_only["bindings"] == everybody["bindings"]
    assert "kubeaccess-group-platform-team-view" in binding_names(rahul_only)


def test_play_hosts_limit_never_hides_the_direct_grants_of_others(tmp_path):
    users = {"rahul": {"user_access_groups": ["developers"]},
             "seema": {"user_access_grants": [{"cluster_role": "view"}]}}
    the_plan = make_plan(tmp_path, users, play_hosts={"rahul"})
    assert binding_names(the_plan) == ["kubeaccess-group-developers-edit", "kubeaccess-user-seema-view"]


def test_no_user_in_the_play_still_gives_all_bindings(tmp_path):
    """Offboarding plans on localhost: no work entry, every binding of the remaining inventory."""
    users, clusters, grants = example_inventory()
    the_plan = make_plan(tmp_path, users, clusters, grants, play_hosts={"localhost"})
    assert the_plan["errors"] == [] and the_plan["users"] == []
    assert len(the_plan["bindings"]["local"]) == 3


def test_play_hosts_do_not_hide_errors_of_other_users(tmp_path):
    """The inventory is checked whole even in a run limited to one user."""
    users = {"rahul": {"user_access_groups": ["developers"]}, "seema": {"user_access_groups": ["qa"]}}
    the_plan = make_plan(tmp_path, users, play_hosts={"rahul"})
    assert len(the_plan["errors"]) == 1
    assert the_plan["errors"][0].startswith("seema: user_access_groups: group 'qa' has no grants")


def test_force_renewal_puts_every_certificate_inside_its_renewal_window(tmp_path):
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_lifetime": "7d"},
             "seema": {"user_access_groups": ["developers"], "user_access_renew_before": "2h"}}
    the_plan = make_plan(tmp_path, users, force_renewal=True, lifetime="365d")
    assert the_plan["errors"] == []
    for entry in the_plan["users"]:
        kind, window = parse_renew_before(entry["request"]["renew_before"])
        assert kind == "seconds"
        assert window > entry["request"]["expiration_seconds"]
        assert window > 10 * 365 * 86400


def test_without_force_renewal_renew_before_is_the_users_or_the_roles(tmp_path):
    users = {"rahul": {"user_access_groups": ["developers"]},
             "seema": {"user_access_groups": ["developers"], "user_access_renew_before": "2h"},
             "asha": {"user_access_groups": ["developers"], "user_access_renew_before": 0.25}}
    the_plan = make_plan(tmp_path, users, renew_before="40%")
    assert the_plan["errors"] == []
    assert entry_of(the_plan, "rahul")["request"]["renew_before"] == "40%"
    assert entry_of(the_plan, "seema")["request"]["renew_before"] == "2h"
    assert entry_of(the_plan, "asha")["request"]["renew_before"] == "0.25"


def test_force_renewal_still_reports_a_bad_renew_before(tmp_path):
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_renew_before": "soon"}}, force_renewal=True)
    assert len(the_plan["errors"]) == 1
    assert the_plan["errors"][0].startswith("rahul: user_access_renew_before:")


# == lifetimes =======================================================================================================

@pytest.mark.parametrize("lifetime, seconds", [("8h", 28800), ("10m", 600), ("7d", 604800), ("1h30m", 5400),
                                               ("3600", 3600), (7200, 7200), ("2w", 1209600)])
def test_lifetimes_accepted(tmp_path, lifetime, seconds):
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_lifetime": lifetime}})
    assert the_plan["errors"] == []
    assert entry_of(the_plan, "rahul")["request"]["expiration_seconds"] == seconds


def test_role_level_lifetime_is_the_default(tmp_path):
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, lifetime="12h")
    assert entry_of(the_plan, "rahul")["request"]["expiration_seconds"] == 43200


@pytest.mark.parametrize("lifetime", ["5m", "599", 599, "0", "forever", "", "24 hours", "-1h", None, True])
def test_bad_lifetimes(tmp_path, lifetime):
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_lifetime": lifetime}})
    assert the_plan["errors"] == [f"rahul: user_access_lifetime: {lifetime!r} is not a duration of at least 10m "
                                  "(e.g. 24h, 7d)"]


def test_bad_role_level_lifetime_is_reported_for_every_user(tmp_path):
    users = {"rahul": {"user_access_groups": ["developers"]},
             "seema": {"user_access_groups": ["developers"], "user_access_lifetime": "1h"}}
    the_plan = make_plan(tmp_path, users, lifetime="a day")
    assert the_plan["errors"] == ["rahul: user_access_lifetime: 'a day' is not a duration of at least 10m "
                                  "(e.g. 24h, 7d)"]


@pytest.mark.parametrize("renew_before", ["soon", "150%", "0%", "abc%", ""])
def test_bad_renew_before(tmp_path, renew_before):
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_renew_before": renew_before}})
    assert len(the_plan["errors"]) == 1
    assert the_plan["errors"][0].startswith(f"rahul: user_access_renew_before: renew_before: {renew_before!r}")


# == errors: each names the key to fix ================================================================================

ERROR_CASES = {
    "group with an empty list of grants": (
        {"rahul": {"user_access_groups": ["developers"]}}, None, {"developers": []},
        ["user_access_group_grants.developers: has no grants; give it at least one"]),
    "group with no grants at all (null)": (
        {"rahul": {"user_access_grants": [{"cluster_role": "view"}]}}, None,
        dict(DEVELOPERS, qa=None),
        ["user_access_group_grants.qa: must be a list of grants",
         "user_access_group_grants.qa: has no grants; give it at least one"]),
    "user in a group that has no grants": (
        {"rahul": {"user_access_groups": ["developers", "qa"]}}, None, None,
        ["rahul: user_access_groups: group 'qa' has no grants; add it to user_access_group_grants (e.g. qa: "
         "[{cluster_role: view, namespace: dev}]) or remove it from the user"]),
    "user cluster not described": (
        {"rahul": {"user_access_groups": ["developers"], "user_access_user_clusters": ["local", "prod"]}},
        None, None,
        ["rahul: user_access_user_clusters: cluster 'prod' is not described in user_access_clusters (described: "
         "['local'])"]),
    "user clusters not a list": (
        {"rahul": {"user_access_groups": ["developers"], "user_access_user_clusters": "local"}}, None, None,
        ["rahul: user_access_user_clusters: must be a list"]),
    "group grant on a cluster not described": (
        {"rahul": {"user_access_groups": ["developers"]}}, None,
        {"developers": [{"cluster_role": "view", "clusters": ["prod"]}]},
        ["user_access_group_grants.developers[0].clusters: cluster 'prod' is not described in "
         "user_access_clusters"]),
    "direct grant on a cluster not described": (
        {"rahul": {"user_access_grants": [{"cluster_role": "view", "clusters": ["prod"]}]}}, None, {},
        ["rahul: user_access_grants[0].clusters: cluster 'prod' is not described in user_access_clusters"]),
    "user without groups": (
        {"rahul": {}}, None, None,
        ["rahul: user_access_groups: the user is in no group and has no user_access_grants"]),
    "user groups not a list": (
        {"rahul": {"user_access_groups": "developers"}}, None, None,
        ["rahul: user_access_groups: must be a list of Kubernetes groups",
         "rahul: user_access_groups: the user is in no group"]),
    "system group": (
        {"rahul": {"user_access_groups": ["system:masters"]}}, None, None,
        ["rahul: user_access_groups: 'system:masters' starts with 'system:'"]),
    "system user name from the host name": (
        {"system:admin": {"user_access_groups": ["developers"]}}, None, None,
        ["system:admin: user_access_name: 'system:admin' starts with 'system:'"]),
    "bad namespace": (
        {"rahul": {"user_access_groups": ["developers"], "user_access_namespace": "Dev_Team"}}, None, None,
        ["rahul: user_access_namespace: 'Dev_Team' is not a namespace name"]),
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
        {"rahul": {"user_access_groups": ["developers"]}}, {"local": {"kubeconfig": ADMIN_KUBECONFIG,
                                                                      "aproval": "manual"}}, None,
        ["user_access_clusters.local: unknown keys ['aproval']"]),
    "unknown key in an expectation": (
        {"rahul": {"user_access_groups": ["developers"], "user_access_expect": [
            {"verb": "list", "resource": "pods", "allowed": True},
            {"verb": "list", "resource": "pods", "namepsace": "dev", "allowed": True}]}}, None, None,
        ["rahul: user_access_expect[1]: must have verb, resource and allowed (true or false), optionally "
         "['namespace', 'group', 'subresource', 'name'] and clusters"]),
    "expectation without allowed": (
        {"rahul": {"user_access_groups": ["developers"], "user_access_expect": [
            {"verb": "list", "resource": "pods", "allowed": "yes"}, {"verb": "get", "resource": "pods"}]}},
        None, None,
        ["rahul: user_access_expect[0]: must have verb, resource and allowed",
         "rahul: user_access_expect[1]: must have verb, resource and allowed"]),
    "expectations not a list": (
        {"rahul": {"user_access_groups": ["developers"], "user_access_expect": {"verb": "list"}}}, None, None,
        ["rahul: user_access_expect: must be a list"]),
    "empty kubeconfig of a cluster": (
        {"rahul": {"user_access_groups": ["developers"]}}, {"local": {"kubeconfig": ""}}, None,
        ["user_access_clusters.local.kubeconfig: is empty; give the administrator kubeconfig of the cluster (is "
         "the environment variable it is read from set?)"]),
    "approval neither auto nor manual": (
        {"rahul": {"user_access_groups": ["developers"]}}, one_cluster(approval="automatic"), None,
        ["user_access_clusters.local.approval: 'automatic' is not auto or manual"]),
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
    "ansible_host with a CA from the ConfigMap": (
        {"rahul": {"user_access_groups": ["developers"], "ansible_host": "rahul-laptop.example.com"}},
        {"local": {"kubeconfig": ADMIN_KUBECONFIG, "ca_source": "configmap"}}, None,
        ["rahul: ansible_host: the CA of cluster local comes from the kube-root-ca.crt ConfigMap "
         "(user_access_clusters.local.ca_source), which only the controller reads"]),
}


@pytest.mark.parametrize("users, clusters, group_grants, expected", list(ERROR_CASES.values()),
                         ids=list(ERROR_CASES))
def test_inventory_errors_name_the_key_to_fix(tmp_path, users, clusters, group_grants, expected):
    """Each mistake gives exactly the expected errors, in order, each starting with where it is."""
    errors = make_plan(tmp_path, users, clusters, group_grants)["errors"]
    assert len(errors) == len(expected), errors
    for error, start in zip(errors, expected):
        assert error.startswith(start), (error, start)


def test_all_errors_are_reported_together(tmp_path):
    """One pass over a badly broken inventory reports every mistake, across clusters, groups and users."""
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
    the_plan = make_plan(tmp_path, users, clusters, grants, play_hosts={"rahul"})
    expected = [
        "user_access_clusters.local.approval: 'sometimes'",
        "user_access_clusters.prod.kubeconfig: is empty",
        "user_access_clusters.prod.ca_file: required with ca_source: file",
        "user_access_group_grants.qa: has no grants",
        "user_access_group_grants.ops[0]: give exactly one of cluster_role and role",
        "user_access_group_grants.ops[1]: a role lives in a namespace",
        "seema: user_access_groups: group 'testers' has no grants",
        "seema: user_access_lifetime: '1m' is not a duration of at least 10m",
        "bob: user_access_renew_before: renew_before: 'later' is not understood",
        "bob: user_access_namespace: 'Dev' is not a namespace name",
        "bob: user_access_user_clusters: cluster 'staging' is not described",
        f"bob: user_access_kubeconfig_path: {broken_kubeconfig} is not valid YAML",
        "mallory: user_access_grants[0]: unknown keys ['verbs']",
        "mallory: user_access_grants[0].clusters: cluster 'dr' is not described",
        "eve: user_access_groups: the user is in no group and has no user_access_grants",
    ]
    for start in expected:
        assert [e for e in the_plan["errors"] if e.startswith(start)], (start, the_plan["errors"])
    assert len(the_plan["errors"]) == len(expected), the_plan["errors"]


def test_filter_caller_joins_the_errors_into_one_message(tmp_path):
    """plan.yml fails once with every error joined by ' | ': none of them may contain that separator."""
    users = {"rahul": {"user_access_groups": ["qa"], "user_access_lifetime": "1s"}, "seema": {}}
    errors = make_plan(tmp_path, users)["errors"]
    assert len(errors) == 3
    assert all(" | " not in error for error in errors)


# == accepted inventories ============================================================================================

def test_user_without_groups_is_accepted_when_groups_are_not_required(tmp_path):
    the_plan = make_plan(tmp_path, {"rahul": {}, "seema": {"user_access_groups": []}}, require_groups=False)
    assert the_plan["errors"] == []
    assert [e["groups"] for e in the_plan["users"]] == [[], []]
    assert entry_of(the_plan, "rahul")["approval_policy"]["allowed_groups"] == []


def test_user_without_groups_is_accepted_with_direct_grants(tmp_path):
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_grants": [{"cluster_role": "view"}]}}, group_grants={})
    assert the_plan["errors"] == []
    assert entry_of(the_plan, "rahul")["groups"] == []


def test_cluster_options_are_kept_and_defaults_filled(tmp_path):
    clusters = {"prod": {"kubeconfig": "/etc/prod.conf", "context": "admin@prod", "server": "https://k8s:6443",
                         "ca_source": "file", "ca_file": "/etc/prod-ca.crt", "approval": "manual",
                         "policy": {"forbidden_groups": ["admins"]}},
                "dev": None}
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, clusters)
    assert the_plan["errors"] == []
    assert entry_of(the_plan, "rahul", "prod")["approval"] == "manual"
    assert entry_of(the_plan, "rahul", "dev")["approval"] == "auto"
    assert entry_of(the_plan, "rahul", "dev")["approval_policy"] == {
        "expected_user": "rahul", "allowed_groups": ["developers"],
        "certificate_path": f"{tmp_path}/rahul/dev.crt", "wait": True}
    assert entry_of(the_plan, "rahul", "prod")["approval_policy"]["forbidden_groups"] == ["admins"]


# == files on the controller =========================================================================================

def test_kubeconfig_that_is_not_yaml_is_reported_and_left_untouched(tmp_path):
    path = tmp_path / "rahul" / "kubeconfig"
    path.parent.mkdir()
    content = b"apiVersion: v1\nusers:\n- name: rahul\n  user: {token: \"s3cret\"\n"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    before = os.stat(path)
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}})
    assert len(the_plan["errors"]) == 1
    error = the_plan["errors"][0]
    assert error.startswith(f"rahul: user_access_kubeconfig_path: {path} is not valid YAML")
    assert "left untouched" in error
    assert "s3cret" not in error
    assert path.read_bytes() == content
    after = os.stat(path)
    assert (after.st_mtime_ns, after.st_mode, after.st_size) == (before.st_mtime_ns, before.st_mode, before.st_size)


def test_kubeconfig_path_given_by_the_user_that_is_not_a_kubeconfig(tmp_path):
    path = tmp_path / "notes.yml"
    path.write_text("- a list\n- not a kubeconfig\n", encoding="utf-8")
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_kubeconfig_path": str(path)}})
    assert len(the_plan["errors"]) == 1
    assert the_plan["errors"][0].startswith(f"rahul: user_access_kubeconfig_path: {path} is not a kubeconfig")
    assert path.read_text(encoding="utf-8") == "- a list\n- not a kubeconfig\n"


def test_existing_kubeconfig_is_accepted(tmp_path):
    path = tmp_path / "rahul" / "kubeconfig"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [],
                                    "contexts": [], "current-context": ""}), encoding="utf-8")
    empty = tmp_path / "seema" / "kubeconfig"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    users = {"rahul": {"user_access_groups": ["developers"]}, "seema": {"user_access_groups": ["developers"]}}
    assert make_plan(tmp_path, users)["errors"] == []


def test_kubeconfig_path_that_is_a_directory(tmp_path):
    directory = tmp_path / "kube"
    directory.mkdir()
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_kubeconfig_path": str(directory)}})
    assert len(the_plan["errors"]) == 1
    assert the_plan["errors"][0].startswith(f"rahul: user_access_kubeconfig_path: {directory} is a directory")


def test_planning_creates_nothing(tmp_path):
    """The plan only looks: a base_dir that does not exist yet is fine, and is still not there afterwards."""
    base_dir = tmp_path / "not" / "yet"
    users, clusters, grants = example_inventory()
    the_plan = make_plan(base_dir, users, clusters, grants)
    assert the_plan["errors"] == []
    assert not (tmp_path / "not").exists()


def test_key_dir_that_is_a_regular_file_is_reported(tmp_path):
    """A regular file where the user's directory should be: keys, certificates and the kubeconfig cannot be
    written there, which must be reported (naming user_access_key_dir) before anything changes on the cluster."""
    in_the_way = tmp_path / "rahul"
    in_the_way.write_text("not a directory\n", encoding="utf-8")
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}})
    assert in_the_way.read_text(encoding="utf-8") == "not a directory\n"
    assert [e for e in the_plan["errors"] if e.startswith("rahul: user_access_key_dir:")], the_plan["errors"]


def test_key_dir_given_under_a_regular_file_is_reported(tmp_path):
    in_the_way = tmp_path / "keys"
    in_the_way.write_text("", encoding="utf-8")
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_key_dir": str(in_the_way / "rahul")}})
    assert [e for e in the_plan["errors"] if e.startswith("rahul: user_access_key_dir:")], the_plan["errors"]


# == what the inventory must not get wrong silently ==================================================================

@pytest.mark.parametrize("first, second", [("jane.doe", "jane_doe"), ("Rahul", "rahul"),
                                           ("ops@example.com", "ops.example.com")])
def test_distinct_users_never_share_key_files(tmp_path, first, second):
    """Two users are two identities: sharing a key, certificate or kubeconfig would hand one the other's access
    (and offboarding one would delete the other's files). Either their files differ or the plan says why not."""
    users = {first: {"user_access_groups": ["developers"]}, second: {"user_access_groups": ["developers"]}}
    the_plan = make_plan(tmp_path, users)
    one, other = entry_of(the_plan, first), entry_of(the_plan, second)
    shared = [k for k in ("private_key_path", "certificate_path") if one["request"][k] == other["request"][k]]
    if one["kubeconfig_path"] == other["kubeconfig_path"]:
        shared.append(f"kubeconfig_path {one['kubeconfig_path']}")
    assert not shared or the_plan["errors"], f"{first} and {second} share {shared}; the plan reports nothing"


@pytest.mark.parametrize("first, second", [
    ("developers", "Developers"),
    ("team:dev", "team.dev"),
    ("platform-engineering-europe-west-frankfurt-a", "platform-engineering-europe-west-frankfurt-b"),
])
def test_every_granted_group_gets_its_binding(tmp_path, first, second):
    """Two groups granted the same role: each is bound, or the plan reports that their binding names collide.
    A grant silently dropped leaves the members of a group without the access the inventory gives them."""
    grants = {first: [{"cluster_role": "edit", "namespace": "dev"}],
              second: [{"cluster_role": "edit", "namespace": "dev"}]}
    users = {"rahul": {"user_access_groups": [first]}, "seema": {"user_access_groups": [second]}}
    the_plan = make_plan(tmp_path, users, group_grants=grants)
    bound = {s["name"] for b in the_plan["bindings"]["local"] for s in b["subjects"] if s["kind"] == "Group"}
    assert bound == {first, second} or the_plan["errors"], the_plan["bindings"]["local"]


def test_role_and_cluster_role_of_the_same_name_are_both_bound(tmp_path):
    """{cluster_role: edit, namespace: dev} and {role: edit, namespace: dev} are different grants."""
    grants = {"developers": [{"cluster_role": "edit", "namespace": "dev"}, {"role": "edit", "namespace": "dev"}]}
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, group_grants=grants)
    kinds = sorted(b["role_kind"] for b in the_plan["bindings"]["local"])
    assert kinds == ["ClusterRole", "Role"] or the_plan["errors"], the_plan["bindings"]["local"]


def test_same_grant_twice_is_one_binding(tmp_path):
    """The same grant of a group listed twice (or once per cluster list) is one binding, not a conflict."""
    clusters = {"prod": {"kubeconfig": "/etc/prod.conf"}, "staging": {"kubeconfig": "/etc/staging.conf"}}
    grants = {"developers": [{"cluster_role": "view"}, {"cluster_role": "view", "clusters": ["prod"]}]}
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, clusters, grants)
    assert the_plan["errors"] == []
    assert binding_names(the_plan, "prod") == binding_names(the_plan, "staging") == [
        "kubeaccess-group-developers-view"]


@pytest.mark.parametrize("namespace", ["dev.team", "n" * 64])
def test_user_namespace_must_be_a_namespace_name(tmp_path, namespace):
    """Namespaces are DNS labels (at most 63 characters, no dots): such a default namespace can never exist."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"],
                                              "user_access_namespace": namespace}})
    assert [e for e in the_plan["errors"] if e.startswith("rahul: user_access_namespace:")], the_plan["errors"]


def test_unknown_policy_option_is_reported_before_anything_changes(tmp_path):
    """The cluster policy is passed to k8s_csr_approve, which refuses unknown options, but only after the bindings
    were applied and the CSRs submitted: the plan must name it first, like any other inventory mistake."""
    clusters = one_cluster(policy={"max_expiration": 86400})
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, clusters)
    assert [e for e in the_plan["errors"] if e.startswith("user_access_clusters.local.policy")], the_plan["errors"]


def test_expectation_on_a_cluster_not_described_is_reported(tmp_path):
    """An expectation limited to a misspelt cluster would silently never be checked."""
    users = {"rahul": {"user_access_groups": ["developers"], "user_access_expect": [
        {"verb": "list", "resource": "pods", "namespace": "dev", "allowed": True, "clusters": ["lcoal"]}]}}
    the_plan = make_plan(tmp_path, users)
    assert entry_of(the_plan, "rahul")["expect"] == []
    assert [e for e in the_plan["errors"] if "lcoal" in e], the_plan["errors"]


@pytest.mark.parametrize("policy", [["max_expiration_seconds"], "strict"], ids=["list", "string"])
def test_policy_that_is_not_a_mapping_is_reported(tmp_path, policy):
    """check_clusters reports it, but the plan must still return (with that error and every other one) rather
    than fail on it: a filter that raises names no inventory key."""
    clusters = one_cluster(policy=policy)
    users = {"rahul": {"user_access_groups": ["developers"]}, "seema": {"user_access_groups": ["qa"]}}
    the_plan = make_plan(tmp_path, users, clusters)
    assert len(the_plan["errors"]) == 2, the_plan["errors"]
    assert the_plan["errors"][0].startswith("user_access_clusters.local.policy: must be a mapping")
    assert the_plan["errors"][1].startswith("seema: user_access_groups: group 'qa' has no grants")


@pytest.mark.parametrize("variables, group_grants, key", [
    ({"user_access_groups": ["developers"], "user_access_namespace": 2024}, None, "rahul: user_access_namespace"),
    ({"user_access_groups": ["developers"]}, {"developers": [{"cluster_role": "edit", "namespace": 2024}]},
     "user_access_group_grants.developers[0].namespace"),
    ({"user_access_groups": ["developers"], "user_access_name": 1234}, None, "rahul: user_access_name"),
    ({"user_access_groups": [2024]}, {2024: [{"cluster_role": "view"}]}, "rahul: user_access_groups"),
], ids=["user namespace", "grant namespace", "user name", "group"])
def test_unquoted_yaml_numbers_are_reported_or_accepted(tmp_path, variables, group_grants, key):
    """`user_access_namespace: 2024` (a valid namespace name) or an employee number as user name reach the plan as
    int from YAML: the plan accepts them or names the key, it never fails with a Python error."""
    the_plan = make_plan(tmp_path, {"rahul": variables}, group_grants=group_grants)
    assert all(error.startswith(key) for error in the_plan["errors"]), the_plan["errors"]


# == approval_items ==================================================================================================

def two_cluster_plan(tmp_path, **cluster_options):
    users, clusters, grants = example_inventory()
    clusters["prod"] = dict({"kubeconfig": "/etc/prod.conf", "policy": {"forbidden_groups": ["admins"]}},
                            **cluster_options)
    return make_plan(tmp_path, users, clusters, grants)


def test_approval_items_for_requests_waiting_for_approval(tmp_path):
    the_plan = two_cluster_plan(tmp_path)
    assert the_plan["errors"] == []
    requests = registered({
        "local": [request_result("rahul-1a2b", "pending", changed=True), request_result("seema-3c4d", "issued")],
        "prod": [request_result("rahul-5e6f", "approved"), request_result("seema-7a8b", "pending")],
    })
    assert access_plan.approval_items(the_plan, "local", requests) == [{
        "name": "rahul-1a2b", "expected_public_key_fingerprint": "fp:rahul-1a2b", "expected_user": "rahul",
        "allowed_groups": ["developers"], "certificate_path": f"{tmp_path}/rahul/local.crt", "wait": True,
        "max_expiration_seconds": 86400,
    }]
    prod = access_plan.approval_items(the_plan, "prod", requests)
    assert [(i["name"], i["expected_user"], i["allowed_groups"]) for i in prod] == [
        ("rahul-5e6f", "rahul", ["developers"]), ("seema-7a8b", "seema", ["app1-devs", "platform-team"])]
    assert all(i["forbidden_groups"] == ["admins"] and "max_expiration_seconds" not in i for i in prod)
    assert prod[1]["certificate_path"] == f"{tmp_path}/seema/prod.crt"
    assert prod[1]["expected_public_key_fingerprint"] == "fp:seema-7a8b"


@pytest.mark.parametrize("phase", ["issued", "denied", "failed", "absent", None])
def test_no_approval_for_other_phases(tmp_path, phase):
    the_plan = two_cluster_plan(tmp_path)
    requests = registered({"local": [request_result("rahul-1a2b", phase), request_result("seema-3c4d", phase)]})
    assert access_plan.approval_items(the_plan, "local", requests) == []


def test_no_approval_for_a_request_without_a_name(tmp_path):
    """In check mode before the key exists the request has no name yet: nothing to approve."""
    the_plan = two_cluster_plan(tmp_path)
    requests = registered({"local": [request_result("", "pending", changed=True),
                                     request_result("seema-3c4d", "pending")]})
    assert [i["name"] for i in access_plan.approval_items(the_plan, "local", requests)] == ["seema-3c4d"]


def test_no_approval_on_a_manual_cluster(tmp_path):
    the_plan = two_cluster_plan(tmp_path, approval="manual")
    requests = registered({"local": [request_result("rahul-1a2b", "pending")],
                           "prod": [request_result("rahul-5e6f", "pending"), request_result("seema-7a8b", "pending")]})
    assert access_plan.approval_items(the_plan, "prod", requests) == []
    assert len(access_plan.approval_items(the_plan, "local", requests)) == 1


def test_no_approval_for_a_skipped_or_missing_cluster(tmp_path):
    the_plan = two_cluster_plan(tmp_path)
    requests = registered({"local": [request_result("rahul-1a2b", "pending")]}, skipped=["prod"])
    assert access_plan.approval_items(the_plan, "prod", requests) == []
    assert access_plan.approval_items(the_plan, "prod", {}) == []
    assert access_plan.approval_items(the_plan, "prod", None) == []


def test_cluster_policy_cannot_widen_the_approval(tmp_path):
    """The user and groups pinned come from the inventory's user, whatever the cluster policy says."""
    users = {"rahul": {"user_access_groups": ["developers"]}}
    clusters = one_cluster(policy={"expected_user": "mallory", "allowed_groups": ["system:masters"],
                                   "max_expiration_seconds": 3600})
    the_plan = make_plan(tmp_path, users, clusters)
    items = access_plan.approval_items(the_plan, "local", registered({"local": [
        request_result("rahul-1a2b", "pending")]}))
    assert len(items) == 1
    assert items[0]["expected_user"] == "rahul"
    assert items[0]["allowed_groups"] == ["developers"]
    assert items[0]["max_expiration_seconds"] == 3600


def test_approval_items_only_for_the_users_of_the_run(tmp_path):
    users, clusters, grants = example_inventory()
    the_plan = make_plan(tmp_path, users, clusters, grants, play_hosts={"seema"})
    items = access_plan.approval_items(the_plan, "local", registered({"local": [
        request_result("seema-3c4d", "pending")]}))
    assert [(i["name"], i["expected_user"]) for i in items] == [("seema-3c4d", "seema")]


# == kubeconfig_items ================================================================================================

def test_kubeconfig_items_only_for_users_holding_a_certificate(tmp_path):
    the_plan = two_cluster_plan(tmp_path)
    requests = registered({
        "local": [request_result("rahul-1a2b", "pending", changed=True), request_result("seema-3c4d", "issued")],
        "prod": [request_result("rahul-5e6f", "pending"), request_result("seema-7a8b", "denied")],
    })
    approvals = registered({"local": [{"name": "rahul-1a2b", "phase": "issued", "changed": True}],
                            "prod": [{"name": "rahul-5e6f", "phase": "pending", "changed": False}]})
    local = access_plan.kubeconfig_items(the_plan, "local", requests, approvals, bindings_registered(), "changed")
    assert [i["user"] for i in local] == ["rahul", "seema"]
    assert local[0] == {
        "path": f"{tmp_path}/rahul/kubeconfig", "user": "rahul", "cluster": "local", "namespace": "dev",
        "client_certificate_path": f"{tmp_path}/rahul/local.crt",
        "client_key_path": f"{tmp_path}/rahul/local.key", "expected_groups": ["developers"],
        "verify": True, "verify_only_if_changed": False,
        "expected_access": entry_of(the_plan, "rahul")["expect"],
    }
    assert local[1]["namespace"] == "app1" and local[1]["expected_groups"] == ["app1-devs", "platform-team"]
    assert access_plan.kubeconfig_items(the_plan, "prod", requests, approvals, bindings_registered(),
                                        "changed") == []


def test_no_kubeconfig_items_while_a_manual_approval_is_pending(tmp_path):
    the_plan = two_cluster_plan(tmp_path, approval="manual")
    requests = registered({"prod": [request_result("rahul-5e6f", "pending", changed=True),
                                    request_result("seema-7a8b", "approved")]})
    assert access_plan.kubeconfig_items(the_plan, "prod", requests, registered({}, skipped=["prod"]),
                                        bindings_registered(), "always") == []


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
    clusters = {"local": {"kubeconfig": ADMIN_KUBECONFIG}, "prod": {"kubeconfig": "/etc/prod.conf"}}
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, clusters)
    requests = registered({"local": [request_result("rahul-1a2b", "pending", changed=changed == "request")]})
    approvals = registered({"local": [{"name": "rahul-1a2b", "phase": "issued", "changed": changed == "approval"}]})
    changed_on = {"bindings": ["local"], "bindings of another cluster": ["prod"]}.get(changed, [])
    bindings = bindings_registered(changed_on, clusters=("local", "prod"))
    items = access_plan.kubeconfig_items(the_plan, "local", requests, approvals, bindings, verify)
    assert [(i["verify"], i["verify_only_if_changed"]) for i in items] == [expected]


def test_kubeconfig_items_when_the_binding_step_did_not_run(tmp_path):
    """renew.yml leaves RBAC alone: no registered bindings at all."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}})
    requests = registered({"local": [request_result("rahul-1a2b", "issued")]})
    items = access_plan.kubeconfig_items(the_plan, "local", requests, registered({}, skipped=["local"]), None,
                                         "changed")
    assert [(i["user"], i["verify"], i["verify_only_if_changed"]) for i in items] == [("rahul", True, True)]


def test_each_user_is_matched_to_their_own_approval(tmp_path):
    """Only seema's approval changed: only she is verified regardless of whether her kubeconfig changed."""
    users, clusters, grants = example_inventory()
    the_plan = make_plan(tmp_path, users, clusters, grants)
    requests = registered({"local": [request_result("rahul-1a2b", "issued"), request_result("seema-3c4d", "pending")]})
    approvals = registered({"local": [{"name": "seema-3c4d", "phase": "issued", "changed": True}]})
    items = access_plan.kubeconfig_items(the_plan, "local", requests, approvals, bindings_registered(), "changed")
    assert [(i["user"], i["verify_only_if_changed"]) for i in items] == [("rahul", True), ("seema", False)]


# == summary =========================================================================================================

def test_summary_lines(tmp_path):
    the_plan = two_cluster_plan(tmp_path, approval="manual")
    requests = registered({
        "local": [request_result("rahul-1a2b", "pending", changed=True),
                  request_result("seema-3c4d", "issued", not_after="2030-01-02T03:04:05Z")],
        "prod": [request_result("rahul-5e6f", "pending", changed=True), request_result("seema-7a8b", "approved")],
    })
    approvals = registered({"local": [{"name": "rahul-1a2b", "phase": "issued", "changed": True,
                                       "not_after": "2030-01-01T00:00:00Z"}]}, skipped=["prod"])
    seen = {"username": "rahul", "groups": ["developers"]}
    kubeconfigs = registered({"local": [{"path": f"{tmp_path}/rahul/kubeconfig", "user_name": "rahul@local",
                                         "changed": True, "verified": seen},
                                        {"path": f"{tmp_path}/seema/kubeconfig", "user_name": "seema@local",
                                         "changed": False}]}, skipped=["prod"])
    lines = access_plan.summary(the_plan, requests, approvals, kubeconfigs)
    assert lines == [
        f"rahul@local: groups developers; kubeconfig {tmp_path}/rahul/kubeconfig verified; NotAfter "
        "2030-01-01T00:00:00Z; bindings kubeaccess-group-developers-edit (dev)",
        f"seema@local: groups app1-devs, platform-team; kubeconfig {tmp_path}/seema/kubeconfig; NotAfter "
        "2030-01-02T03:04:05Z; bindings kubeaccess-group-app1-devs-edit (app1), "
        "kubeaccess-group-platform-team-view (cluster-wide)",
        f"rahul@prod: groups developers; kubeconfig {tmp_path}/rahul/kubeconfig; certificate pending (CSR "
        "rahul-5e6f: approve it with kubectl certificate approve rahul-5e6f); bindings "
        "kubeaccess-group-developers-edit (dev)",
        f"seema@prod: groups app1-devs, platform-team; kubeconfig {tmp_path}/seema/kubeconfig; certificate "
        "approved; bindings kubeaccess-group-app1-devs-edit (app1), kubeaccess-group-platform-team-view "
        "(cluster-wide)",
    ]


def test_summary_of_a_pending_automatic_approval_names_no_kubectl_command(tmp_path):
    """In check mode the request is pending on an auto cluster: nobody has to approve anything by hand."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_grants": [{"cluster_role": "view"}]}}, group_grants={})
    requests = registered({"local": [request_result("", "pending", changed=True)]})
    lines = access_plan.summary(the_plan, requests, registered({}, skipped=["local"]),
                                registered({}, skipped=["local"]))
    assert lines == [f"rahul@local: groups (none); kubeconfig {tmp_path}/rahul/kubeconfig; certificate pending; "
                     "bindings kubeaccess-user-rahul-view (cluster-wide)"]


def test_summary_without_phase_or_bindings(tmp_path):
    the_plan = make_plan(tmp_path, {"rahul": {}}, group_grants={}, require_groups=False)
    requests = registered({"local": [{"name": "", "changed": False}]})
    lines = access_plan.summary(the_plan, requests, {}, {})
    assert lines == [f"rahul@local: groups (none); kubeconfig {tmp_path}/rahul/kubeconfig; certificate not "
                     "requested; bindings (none)"]


def test_summary_is_empty_without_users_in_the_run(tmp_path):
    users, clusters, grants = example_inventory()
    the_plan = make_plan(tmp_path, users, clusters, grants, play_hosts=set())
    assert access_plan.summary(the_plan, {}, {}, {}) == []


# == offboarding_report ==============================================================================================

def offboard_files(base_dir, user, cluster, pem=None, key_on_controller=True):
    """The files offboard.yml finds (access_user_files), with the certificate (and the key, unless it is on the
    user's own machine) written where onboarding put them."""
    files = access_plan.user_files(user, str(base_dir), cluster)
    if pem is not None:
        os.makedirs(files["dir"], exist_ok=True)
        with open(files["certificate_path"], "wb") as handle:
            handle.write(pem)
        if key_on_controller:
            with open(files["private_key_path"], "wb") as handle:
                handle.write(b"a key")
    return files


def remaining_inventory_plan(tmp_path):
    """After rahul left the inventory: seema remains, developers keep their grant, platform-team its view."""
    users, clusters, grants = example_inventory()
    del users["rahul"]
    clusters["prod"] = {"kubeconfig": "/etc/prod.conf"}
    grants["developers"].append({"cluster_role": "view", "namespace": "monitoring", "clusters": ["prod"]})
    users["seema"]["user_access_grants"] = [{"cluster_role": "admin", "namespace": "app1"}]
    return make_plan(tmp_path, users, clusters, grants, play_hosts={"localhost"})


def test_offboarding_report_for_a_certificate_still_valid(tmp_path, ca):
    the_plan = remaining_inventory_plan(tmp_path)
    assert the_plan["errors"] == []
    not_after = in_hours(20)
    files = offboard_files(tmp_path, "rahul", "local", client_certificate(ca, "rahul", ["developers"], not_after))
    report = access_plan.offboarding_report([slurp(files["certificate_path"], "rahul", "local", files)], the_plan)
    assert report == [
        f"rahul@local: the certificate (serial 1F2E3D, CN rahul, groups developers) cannot be revoked and is valid "
        f"until {iso(not_after)}. Until then its groups keep what these bindings grant: "
        "kubeaccess-group-developers-edit (dev). To cut it now, remove those grants (they apply to every member of "
        "the groups)."]


def test_offboarding_report_lists_the_bindings_of_the_cluster_of_each_certificate(tmp_path, ca):
    the_plan = remaining_inventory_plan(tmp_path)
    not_after = in_hours(5)
    pem = client_certificate(ca, "rahul", ["developers", "platform-team"], not_after, serial=0xABCDEF12)
    slurped = []
    for cluster in ("local", "prod"):
        files = offboard_files(tmp_path, "rahul", cluster, pem)
        slurped.append(slurp(files["certificate_path"], "rahul", cluster, files))
    local, prod = access_plan.offboarding_report(slurped, the_plan)
    assert local.startswith(f"rahul@local: the certificate (serial ABCDEF12, CN rahul, groups developers, "
                            f"platform-team) cannot be revoked and is valid until {iso(not_after)}.")
    assert local.endswith("these bindings grant: kubeaccess-group-developers-edit (dev), "
                          "kubeaccess-group-platform-team-view (cluster-wide). To cut it now, remove those grants "
                          "(they apply to every member of the groups).")
    assert "monitoring" not in local
    assert "kubeaccess-group-developers-view (monitoring)" in prod
    assert "kubeaccess-group-developers-edit (dev)" in prod


def test_offboarding_report_ignores_user_bindings_and_other_groups(tmp_path, ca):
    """Only the certificate's own groups count: a user binding of someone else or another group's binding is not
    access the offboarded user keeps."""
    the_plan = remaining_inventory_plan(tmp_path)
    not_after = in_hours(3)
    files = offboard_files(tmp_path, "bob", "local", client_certificate(ca, "bob", ["app1-devs"], not_after))
    report = access_plan.offboarding_report([slurp(files["certificate_path"], "bob", "local", files)], the_plan)
    assert len(report) == 1
    assert "kubeaccess-group-app1-devs-edit (app1)" in report[0]
    assert "seema" not in report[0] and "developers" not in report[0] and "platform-team" not in report[0]


def test_offboarding_report_when_no_binding_grants_the_groups_any_more(tmp_path, ca):
    the_plan = remaining_inventory_plan(tmp_path)
    not_after = in_hours(10)
    files = offboard_files(tmp_path, "rahul", "local", client_certificate(ca, "rahul", ["qa"], not_after))
    no_groups = offboard_files(tmp_path / "other", "rahul", "local", client_certificate(ca, "rahul", [], not_after))
    report = access_plan.offboarding_report([slurp(files["certificate_path"], "rahul", "local", files),
                                             slurp(no_groups["certificate_path"], "rahul", "local", no_groups)],
                                            the_plan)
    assert report == [
        f"rahul@local: the certificate (serial 1F2E3D, CN rahul, groups qa) cannot be revoked and is valid until "
        f"{iso(not_after)}. No binding of this inventory grants its groups anything any more.",
        f"rahul@local: the certificate (serial 1F2E3D, CN rahul, groups (none)) cannot be revoked and is valid "
        f"until {iso(not_after)}. No binding of this inventory grants its groups anything any more."]


def test_offboarding_report_for_an_expired_certificate(tmp_path, ca):
    the_plan = remaining_inventory_plan(tmp_path)
    not_after = in_hours(-2)
    files = offboard_files(tmp_path, "rahul", "local", client_certificate(ca, "rahul", ["developers"], not_after))
    report = access_plan.offboarding_report([slurp(files["certificate_path"], "rahul", "local", files)], the_plan)
    assert report == [f"rahul@local: the certificate (serial 1F2E3D) expired at {iso(not_after)}"]


def test_offboarding_report_for_missing_certificates(tmp_path, ca):
    """A failed slurp (no file) or an empty file: nothing issued from this controller is left."""
    the_plan = remaining_inventory_plan(tmp_path)
    missing = offboard_files(tmp_path, "rahul", "prod")
    empty = offboard_files(tmp_path, "rahul", "local", b"")
    valid = offboard_files(tmp_path, "seema-old", "local",
                           client_certificate(ca, "seema-old", ["developers"], in_hours(1)))
    report = access_plan.offboarding_report([
        slurp(missing["certificate_path"], "rahul", "prod", missing),
        slurp(empty["certificate_path"], "rahul", "local", empty),
        slurp(valid["certificate_path"], "seema-old", "local", valid),
    ], the_plan)
    assert report[0] == ("rahul@prod: no certificate on the controller; nothing issued from here is left to "
                         "expire")
    assert report[1] == ("rahul@local: no certificate on the controller; nothing issued from here is left to "
                         "expire")
    assert "seema-old@local: the certificate" in report[2] and "cannot be revoked" in report[2]
    assert access_plan.offboarding_report([], the_plan) == []


# == the access_plan filter ==========================================================================================

def example_hostvars():
    """hostvars of the example inventory's users: host vars, the kube_users group vars and Ansible's magic ones."""
    users = example_inventory()[0]
    group_vars = load_yaml("group_vars", "kube_users.yml")
    return {host: dict(group_vars, inventory_hostname=host, group_names=["kube_users"],
                       user_access_base_dir="~/.kubeaccess", user_access_clusters={}, **variables)
            for host, variables in users.items()}


def test_filter_plans_the_example_inventory_from_hostvars(tmp_path):
    users, clusters, grants = example_inventory()
    the_plan = access_filter.access_plan(["rahul", "seema"], example_hostvars(), clusters, grants,
                                         ["rahul", "seema"], {"base_dir": str(tmp_path), "inventory": "lab"})
    assert the_plan == make_plan(tmp_path, users, clusters, grants, inventory="lab")
    assert the_plan["errors"] == []


def test_filter_defaults_are_the_role_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    hostvars = {"rahul": {"user_access_groups": ["developers"]}, "seema": {}}
    the_plan = access_filter.access_plan(["rahul", "seema"], hostvars, one_cluster(), DEVELOPERS, ["rahul"])
    assert the_plan["errors"] == ["seema: user_access_groups: the user is in no group and has no user_access_grants, "
                                  "so the certificate would grant nothing; add groups, or set "
                                  "user_access_require_groups: false"]
    entry = entry_of(the_plan, "rahul")
    assert entry["request"]["private_key_path"] == f"{tmp_path}/.kubeaccess/rahul/local.key"
    assert entry["request"]["expiration_seconds"] == parse_duration("24h")
    assert entry["request"]["renew_before"] == "30%"
    assert entry["request"]["labels"] == {LABEL: "default"}
    assert [e["host"] for e in the_plan["users"]] == ["rahul"]


def test_filter_settings_override_the_defaults(tmp_path):
    hostvars = {"rahul": {}}
    the_plan = access_filter.access_plan(["rahul"], hostvars, one_cluster(), {}, ("rahul",),
                                         {"base_dir": str(tmp_path), "require_groups": False, "lifetime": "1h",
                                          "force_renewal": True})
    assert the_plan["errors"] == []
    request = entry_of(the_plan, "rahul")["request"]
    assert request["expiration_seconds"] == 3600
    assert request["renew_before"] == access_plan.FORCE_RENEWAL_WINDOW


def test_filter_reads_only_the_users_in_its_input(tmp_path):
    """Hosts of hostvars not in the users group are not users, even when in the play."""
    hostvars = {"rahul": {"user_access_groups": ["developers"]}, "localhost": {"ansible_connection": "local"}}
    the_plan = access_filter.access_plan(["rahul"], hostvars, one_cluster(), DEVELOPERS, ["rahul", "localhost"],
                                         {"base_dir": str(tmp_path)})
    assert the_plan["errors"] == []
    assert [e["host"] for e in the_plan["users"]] == ["rahul"]


def test_filter_reads_only_the_role_variables(tmp_path):
    """Other host variables (connection settings, unrelated data) play no part; ansible_host says where the key is."""
    hostvars = {"rahul": {"user_access_groups": ["developers"], "ansible_connection": "local",
                          "ansible_user": "root", "unrelated": {"user_access_groups": ["nope"]},
                          "user_access_lifetime_comment": "not a role variable"},
                "seema": {"user_access_groups": ["developers"], "ansible_host": "seema-laptop"}}
    the_plan = access_filter.access_plan(["rahul", "seema"], hostvars, one_cluster(), DEVELOPERS,
                                         ["rahul"], {"base_dir": str(tmp_path)})
    assert the_plan["errors"] == []
    assert entry_of(the_plan, "rahul")["groups"] == ["developers"]
    assert the_plan["remote_users"] == []  # seema is not in this run


def test_filter_refuses_unknown_settings(tmp_path):
    with pytest.raises(AnsibleFilterError) as caught:
        access_filter.access_plan(["rahul"], {"rahul": {}}, one_cluster(), DEVELOPERS, ["rahul"],
                                  {"base_dir": str(tmp_path), "lifetme": "1h", "prune": True})
    message = str(caught.value)
    assert "unknown settings ['lifetme', 'prune']" in message
    assert "known: ['base_dir', 'force_renewal', 'inventory', 'key_size', 'key_type', 'lifetime', 'renew_before', " \
        "'require_groups']" in message


def test_filter_refuses_play_hosts_as_a_setting(tmp_path):
    """play_hosts comes from ansible_play_hosts, never from the settings."""
    with pytest.raises(AnsibleFilterError, match="unknown settings \\['play_hosts'\\]"):
        access_filter.access_plan(["rahul"], {"rahul": {}}, one_cluster(), DEVELOPERS, ["rahul"],
                                  {"base_dir": str(tmp_path), "play_hosts": ["seema"]})


@pytest.mark.parametrize("users", ["rahul", {"rahul": {}}, None])
def test_filter_input_must_be_the_list_of_user_hosts(users):
    with pytest.raises(AnsibleFilterError, match="the input must be the list of user hosts"):
        access_filter.access_plan(users, {"rahul": {}}, one_cluster(), DEVELOPERS, ["rahul"])


def test_filter_module_names():
    filters = access_filter.FilterModule().filters()
    assert filters == {
        "access_plan": access_filter.access_plan, "access_approvals": access_plan.approval_items,
        "access_kubeconfigs": access_plan.kubeconfig_items, "access_summary": access_plan.summary,
        "access_offboarding_report": access_plan.offboarding_report, "access_user_files": access_plan.user_files,
        "access_offboarding_csrs": access_plan.offboarding_csrs, "access_remote_plan": access_plan.remote_plan,
        "access_host_copies": access_plan.host_copies, "access_host_kubeconfigs": access_plan.host_kubeconfig_items,
        "access_host_kubeconfig_results": access_plan.host_kubeconfig_results,
    }


def test_key_type_defaults_to_ecdsa_and_can_be_rsa_per_user(tmp_path):
    users = {"rahul": {"user_access_groups": ["developers"]},
             "seema": {"user_access_groups": ["developers"], "user_access_key_type": "rsa",
                       "user_access_key_size": "4096"}}
    the_plan = make_plan(tmp_path, users)
    assert the_plan["errors"] == []
    assert entry_of(the_plan, "rahul")["request"]["private_key_type"] == "ecdsa"
    assert "private_key_size" not in entry_of(the_plan, "rahul")["request"]
    seema = entry_of(the_plan, "seema")["request"]
    assert (seema["private_key_type"], seema["private_key_size"]) == ("rsa", 4096)


def test_role_level_rsa_keys_take_the_role_level_size(tmp_path):
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]}}, key_type="rsa", key_size=2048)
    request = entry_of(the_plan, "rahul")["request"]
    assert (request["private_key_type"], request["private_key_size"]) == ("rsa", 2048)


@pytest.mark.parametrize("variables, message", [
    ({"user_access_key_type": "ed25519"}, "rahul: user_access_key_type: 'ed25519' is not one of ['ecdsa', 'rsa']"),
    ({"user_access_key_type": "rsa", "user_access_key_size": 1024},
     "rahul: user_access_key_size: 1024 is not one of [2048, 3072, 4096] (bits of an RSA key)"),
])
def test_bad_key_settings_name_the_variable(tmp_path, variables, message):
    the_plan = make_plan(tmp_path, {"rahul": dict(variables, user_access_groups=["developers"])})
    assert the_plan["errors"] == [message]


# -- keys on the users' own machines (ansible_host) -------------------------------------------------------------
SERVER = "https://10.0.0.1:6443"


def admin_kubeconfig(tmp_path, ca_pair):
    """An admin kubeconfig on the controller, as the clusters' descriptions name it."""
    ca_pem = ca_pair[1].public_bytes(serialization.Encoding.PEM)
    path = tmp_path / "admin.kubeconfig"
    cluster = {"server": SERVER, "certificate-authority-data": base64.b64encode(ca_pem).decode()}
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "admin@local",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "admin", "user": {"token": "not-used"}}],
        "contexts": [{"name": "admin@local", "context": {"cluster": "local", "user": "admin"}}]}), encoding="utf-8")
    return str(path), ca_pem.decode()


def remote_inventory(tmp_path, ca_pair, **seema):
    kubeconfig, ca_pem = admin_kubeconfig(tmp_path, ca_pair)
    users = {"rahul": {"user_access_groups": ["developers"]},
             "seema": dict({"user_access_groups": ["developers"], "ansible_host": "seema-laptop"}, **seema)}
    return users, {"local": {"kubeconfig": kubeconfig}}, ca_pem


def test_a_user_with_ansible_host_keeps_the_key_on_that_machine(tmp_path, ca):
    users, clusters, ca_pem = remote_inventory(tmp_path, ca)
    the_plan = make_plan(tmp_path / "base", users, clusters)
    assert the_plan["errors"] == []
    assert [e["host"] for e in the_plan["users"]] == ["rahul"]
    [seema] = the_plan["remote_users"]
    certificate = f"{tmp_path}/base/seema/local.crt"
    # The controller submits the request the machine makes and keeps the (public) certificate; no key path here.
    assert seema["request"] == {"user": "seema", "groups": ["developers"], "certificate_path": certificate,
                                "expiration_seconds": 86400, "renew_before": "30%", "labels": {LABEL: "default"}}
    assert seema["approval_policy"]["certificate_path"] == certificate
    # Paths on the machine stay as written: `~` is the home of the user Ansible connects as, there.
    assert seema["on_host"] == {
        "request": {"user": "seema", "groups": ["developers"], "private_key_path": "~/.kube/kubeaccess/local.key",
                    "submit": False, "private_key_type": "ecdsa"},
        "certificate_path": "~/.kube/kubeaccess/local.crt", "ca_path": "~/.kube/kubeaccess/local-ca.crt"}
    assert seema["kubeconfig_path"] == "~/.kube/config"
    assert the_plan["endpoints"] == {"local": {"server": SERVER, "ca": ca_pem}}


def test_paths_on_the_users_machine_are_not_checked_on_the_controller(tmp_path, ca):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    users, clusters, _ca_pem = remote_inventory(tmp_path, ca, user_access_key_dir=f"{blocker}/keys",
                                                user_access_kubeconfig_path=f"{blocker}/config",
                                                user_access_key_type="rsa")
    the_plan = make_plan(tmp_path / "base", users, clusters)
    assert the_plan["errors"] == []
    [seema] = the_plan["remote_users"]
    assert seema["on_host"]["request"]["private_key_path"] == f"{blocker}/keys/local.key"
    assert seema["on_host"]["request"]["private_key_size"] == 3072
    assert seema["kubeconfig_path"] == f"{blocker}/config"


def test_endpoints_come_from_the_cluster_description_first(tmp_path, ca):
    users, clusters, _ca_pem = remote_inventory(tmp_path, ca)
    ca_file = tmp_path / "public-ca.crt"
    ca_file.write_text("the CA users should trust\n", encoding="utf-8")
    clusters["local"].update(server="https://k8s.example.com", ca_source="file", ca_file=str(ca_file))
    the_plan = make_plan(tmp_path / "base", users, clusters)
    assert the_plan["endpoints"] == {"local": {"server": "https://k8s.example.com",
                                               "ca": "the CA users should trust\n"}}
    ca_file.unlink()
    the_plan = make_plan(tmp_path / "base", users, clusters)
    assert the_plan["errors"] == [f"user_access_clusters.local.ca_file: {ca_file} does not exist on the controller"]


def test_no_endpoints_are_read_without_users_on_their_own_machines(tmp_path):
    """The admin kubeconfig is read by the modules only, unless some user of the run needs its server and CA."""
    the_plan = make_plan(tmp_path, {"rahul": {"user_access_groups": ["developers"]},
                                    "seema": {"user_access_groups": ["developers"], "ansible_host": "laptop"}},
                         play_hosts={"rahul"})
    assert the_plan["errors"] == [] and the_plan["endpoints"] == {}


def test_remote_plan_takes_the_requests_the_machines_made(tmp_path, ca):
    users, clusters, _ca_pem = remote_inventory(tmp_path, ca)
    users["amit"] = {"user_access_groups": ["developers"], "ansible_host": "amit-laptop"}
    users["omar"] = {"user_access_groups": ["developers"], "ansible_host": "omar-laptop"}
    the_plan = make_plan(tmp_path / "base", users, clusters)
    hostvars = {"seema": {"user_access_remote_keys": {"results": [{"request": "SEEMA CSR", "phase": "unsubmitted"}]}},
                "amit": {"user_access_remote_keys": {"results": [{"phase": "unsubmitted", "changed": True}]}},
                "omar": {}}
    remote = access_plan.remote_plan(the_plan, hostvars, ["rahul", "seema", "amit"])
    [seema] = remote["users"]
    assert seema["request"]["csr_content"] == "SEEMA CSR" and "private_key_path" not in seema["request"]
    assert remote["waiting"] == ["amit@local: the key and request would be made on amit",
                                 "omar@local: nothing done, omar is unreachable or failed"]
    assert remote["bindings"] == the_plan["bindings"] and remote["endpoints"] == the_plan["endpoints"]


def test_the_machine_gets_its_certificate_the_ca_and_a_kubeconfig_of_its_own_paths(tmp_path, ca):
    users, clusters, ca_pem = remote_inventory(tmp_path, ca)
    the_plan = make_plan(tmp_path / "base", users, clusters)
    remote = access_plan.remote_plan(the_plan, {"seema": {"user_access_remote_keys": {"results": [
        {"request": "SEEMA CSR"}]}}}, ["seema"])
    requests = registered({"local": [{"name": "seema-0123", "phase": "pending", "changed": True,
                                     "public_key_fingerprint": "01:23"}]})
    approvals = registered({"local": [{"name": "seema-0123", "phase": "issued", "changed": True}]})
    [item] = access_plan.host_kubeconfig_items(remote, "seema", requests, approvals, None, "changed")
    assert item == {
        "path": "~/.kube/config", "user": "seema", "cluster": "local", "namespace": "default",
        "client_certificate_path": "~/.kube/kubeaccess/local.crt", "client_key_path": "~/.kube/kubeaccess/local.key",
        "expected_groups": ["developers"], "verify": True, "verify_only_if_changed": False, "expected_access": [],
        "server": SERVER, "ca_source": "file", "ca_file": "~/.kube/kubeaccess/local-ca.crt"}
    assert access_plan.host_copies(remote, "seema", requests, approvals) == [
        {"src": f"{tmp_path}/base/seema/local.crt", "dest": "~/.kube/kubeaccess/local.crt"},
        {"content": ca_pem, "dest": "~/.kube/kubeaccess/local-ca.crt"}]
    assert access_plan.host_kubeconfig_items(remote, "rahul", requests, approvals, None, "changed") == []
    # Nothing is copied or written before the certificate is issued (manual approval, check mode).
    pending = registered({"local": [{"name": "seema-0123", "phase": "pending"}]})
    assert access_plan.host_copies(remote, "seema", requests, pending) == []


def test_summary_shows_the_machine_of_the_kubeconfig_and_who_waits(tmp_path, ca):
    users, clusters, _ca_pem = remote_inventory(tmp_path, ca)
    users["amit"] = {"user_access_groups": ["developers"], "ansible_host": "amit-laptop"}
    the_plan = make_plan(tmp_path / "base", users, clusters)
    remote = access_plan.remote_plan(the_plan, {"seema": {"user_access_remote_keys": {"results": [
        {"request": "SEEMA CSR"}]}}, "amit": {}}, ["seema", "amit"])
    requests = registered({"local": [{"name": "seema-0123", "phase": "issued", "not_after": "2026-11-23T10:00:00Z"}]})
    kubeconfigs = access_plan.host_kubeconfig_results(remote, {"seema": {"user_access_remote_kubeconfigs": {
        "results": [{"cluster_name": "local", "user_name": "seema@local", "verified": {"username": "seema"}}]}}},
        ["seema"])
    lines = access_plan.summary(remote, requests, {}, kubeconfigs)
    assert lines == [
        "seema@local: groups developers; kubeconfig seema:~/.kube/config verified; NotAfter 2026-11-23T10:00:00Z; "
        "bindings kubeaccess-group-developers-edit (dev)",
        "amit@local: the key and request would be made on amit"]


def test_offboarding_a_user_whose_key_is_on_their_machine(tmp_path, ca):
    the_plan = remaining_inventory_plan(tmp_path)
    not_after = in_hours(20)
    pem = client_certificate(ca, "rahul", ["developers"], not_after)
    files = offboard_files(tmp_path, "rahul", "local", pem, key_on_controller=False)
    slurped = [slurp(files["certificate_path"], "rahul", "local", files)]
    [report] = access_plan.offboarding_report(slurped, the_plan)
    assert report.startswith("rahul@local: the certificate (serial 1F2E3D, CN rahul, groups developers) cannot be "
                             f"revoked and is valid until {iso(not_after)}.")
    assert report.endswith("Its key is on the user's own machine, which this run cannot reach: delete it there "
                           "(default ~/.kube/kubeaccess/) and the user's entries in ~/.kube/config.")
    # Its CSR is found from the certificate, since there is no key here to name it.
    fingerprint = Certificate(pem).fingerprint.replace(":", "")[:16]
    assert access_plan.offboarding_csrs(slurped) == [
        {"user": "rahul", "private_key_path": files["private_key_path"]}, {"name": f"rahul-{fingerprint}"}]


def test_ansible_host_with_a_local_connection_would_keep_the_key_on_the_controller(tmp_path, ca):
    users, clusters, _ca_pem = remote_inventory(tmp_path, ca, ansible_connection="local")
    the_plan = make_plan(tmp_path / "base", users, clusters)
    assert the_plan["errors"] == [
        "seema: ansible_host: seema-laptop would be reached with ansible_connection local, which runs on the "
        "controller and would keep the key there; give this host the connection that reaches that machine (e.g. "
        "ansible_connection: ssh), or remove ansible_host"]
    users["seema"]["ansible_host"] = "127.0.0.1"  # a machine that is the controller, on purpose (tests)
    assert make_plan(tmp_path / "base", users, clusters)["errors"] == []
