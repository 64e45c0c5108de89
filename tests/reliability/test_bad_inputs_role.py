"""Bad input to the user_access role and the playbooks, as a catalogue: inventories with missing, wrong or
contradictory keys, policies that contradict the inventory, servers that cannot be reached or trusted, bad switches
of the playbooks. Each is refused with a message that names the key and says what would be accepted, before
anything changes on the cluster or on disk.

Each case says how far its refusal reaches (`scope`):
- `run`: what users share is wrong (a cluster's description, a group's grants, a role option, the playbook's own
  input): the run stops before any change, for everybody;
- `user`: a user's own entry is wrong: that user alone is refused, with nothing of theirs changed, the others of the
  run are onboarded, and the run exits non-zero (the role's documented behaviour).

The plan reports every problem of an inventory at once, so the `plan` cases share one inventory and one run (each
with a cluster, group or user of its own, named by its token), as do the role-option cases (`options`) and the
users refused alone (`user`, beside rahul and seema, who are onboarded); each case is still a test item of its
own, checking its own message, files and names on the cluster. The other cases run alone. CASES is the catalogue
docs/reliability.md lists.
"""

import json
import os
import re

import pytest

from tests.kube import Cleanup
from tests.integration.test_onboarding import Onboarding
from tests.reliability.support import (certificate_pem, cluster_objects, files_state, key_pem, kubeconfig_with,
                                       private_key)

pytestmark = pytest.mark.bad_input

NOT_YAML = "this: is: not yaml: [\n"
NOT_A_KUBECONFIG = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
# What a user's kubeconfig path, key or admin kubeconfig may hold instead of what it should.
CONTENT = {
    "not-yaml": lambda o: NOT_YAML.encode(),
    "not-a-kubeconfig": lambda o: NOT_A_KUBECONFIG.encode(),
    "text": lambda o: b"not a key\n",
    "encrypted-key": lambda o: key_pem(private_key(), "secret"),
    "dsa-key": lambda o: key_pem(private_key("dsa")),
    "unreachable": lambda o: kubeconfig_with(o.cluster.kubeconfig, server="https://127.0.0.1:1"),
    "untrusted": lambda o: kubeconfig_with(o.cluster.kubeconfig,
                                           ca_pem=certificate_pem(private_key(), "not-the-cluster-ca")),
}


def case(case_id, where, scope, batch, given, field, accepted, change, playbook=("onboard.yml",)):
    """`change(o, t)` makes the inventory of Onboarding `o` bad, with names carrying the case's token `t`; `field`,
    `accepted` and `playbook` may use {t}, {rahul}, {workdir} and {suffix}."""
    return {"id": case_id, "where": where, "scope": scope, "batch": batch, "input": given, "field": field,
            "accepted": accepted, "change": change, "playbook": playbook}


def put(path, kind):
    """Writes CONTENT[kind] at `path` (under the test's work directory) when the inventory is made bad."""
    def write(o, t):
        full = fill(path, o, t)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as handle:
            handle.write(CONTENT[kind](o))
        return full
    return write


def fill(value, o, t):
    """`value` with {t}, {rahul}, {workdir} and {suffix} filled in, in every string it holds."""
    if isinstance(value, list):
        return [fill(item, o, t) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, o, t) for key, item in value.items()}
    if not isinstance(value, str):
        return value
    return (value.replace("{t}", t).replace("{rahul}", o.rahul).replace("{workdir}", o.workdir)
            .replace("{suffix}", o.suffix))


def cluster(spec):
    """A cluster of its own, named by the token: its description `spec` (the admin kubeconfig unless replaced, or
    removed with None)."""
    def change(o, t):
        if not isinstance(spec, dict):
            o.clusters[t] = spec
            return
        o.clusters[t] = {key: value for key, value in dict({"kubeconfig": o.cluster.kubeconfig}, **spec).items()
                         if value is not None}
    return change


def policy(rules):
    return cluster({"policy": rules})


def group(grants):
    """A group of its own, named by the token, with `grants` (dev is the inventory's namespace)."""
    def change(o, t):
        o.grants[t] = [dict(g, namespace=o.dev) if isinstance(g, dict) and g.get("namespace") == "dev" else g
                       for g in grants] if isinstance(grants, list) else grants
    return change


def user(variables, files=None):
    """A user of their own, named by the token, in the group of rahul, with `variables`; `files` (path -> kind of
    CONTENT) are there before the run. Strings may name {t}, {workdir} and {suffix}."""
    def change(o, t):
        o.users[t] = dict({"user_access_groups": [f"developers-{o.suffix}"]}, **fill(variables, o, t))
        for path, kind in (files or {}).items():
            put(path, kind)(o, t)
    return change


def setting(**options):
    def change(o, t):
        o.settings.update(fill(options, o, t))
    return change


def admin_kubeconfig(kind, **spec):
    """The cluster `local` reached through an admin kubeconfig holding CONTENT[kind]."""
    def change(o, t):
        o.clusters["local"] = dict(o.clusters["local"], kubeconfig=put("{workdir}/{t}/admin.conf", kind)(o, t),
                                   **spec)
    return change


def unchanged(o, t):
    """The inventory as it is: the playbook's own input is what is wrong."""


CLUSTER = "user_access_clusters.{t}"
GRANTS = "user_access_group_grants.{t}[0]"
CASES = [
    # What users share, reported at once by the plan: each case has its own cluster, group or user.
    case("cluster-not-a-mapping", "role", "run", "plan", "a cluster described by a string", CLUSTER,
         ["must be a mapping with kubeconfig"], cluster("prod-admin.conf")),
    case("cluster-unknown-key", "role", "run", "plan", "a cluster with kubeconfg (a typo)", CLUSTER,
         ["unknown keys ['kubeconfg']", "known: ['kubeconfig'"], cluster({"kubeconfg": "admin.conf"})),
    case("cluster-name-invalid", "role", "run", "plan", "a cluster named with '_' and capitals", CLUSTER + "_EU",
         ["use lower-case letters, digits, '-' and '.'"], lambda o, t: cluster({})(o, t + "_EU")),
    case("cluster-kubeconfig-empty", "role", "run", "plan", "kubeconfig '' (an unset environment variable)",
         CLUSTER + ".kubeconfig", ["give the administrator kubeconfig"], cluster({"kubeconfig": ""})),
    case("cluster-kubeconfig-not-a-path", "role", "run", "plan", "kubeconfig 42", CLUSTER + ".kubeconfig",
         ["is a number; give the path of the administrator kubeconfig"], cluster({"kubeconfig": 42})),
    case("cluster-kubeconfig-dict-not-a-kubeconfig", "role", "run", "plan", "kubeconfig given as a Deployment",
         CLUSTER + ".kubeconfig", ["give the content of a kubeconfig as a mapping, or its path"],
         cluster({"kubeconfig": {"apiVersion": "apps/v1", "kind": "Deployment"}})),
    case("cluster-client-cert-without-key", "role", "run", "plan", "host and client_cert without client_key",
         CLUSTER, ["client_cert and client_key go together; give both, or neither"],
         cluster({"kubeconfig": None, "host": "https://api.example.com:6443", "client_cert": "/etc/admin.crt"})),
    case("cluster-host-not-a-url", "role", "run", "plan", "host api.example.com", CLUSTER + ".host",
         ["such as https://api.example.com:6443"],
         cluster({"kubeconfig": None, "host": "api.example.com", "api_key": "token"})),
    case("cluster-validate-certs-not-bool", "role", "run", "plan", "validate_certs sometimes",
         CLUSTER + ".validate_certs", ["is not true or false"], cluster({"validate_certs": "sometimes"})),
    case("cluster-approval-unknown", "role", "run", "plan", "approval sometimes", CLUSTER + ".approval",
         ["is not auto or manual"], cluster({"approval": "sometimes"})),
    case("cluster-ca-source-unknown", "role", "run", "plan", "ca_source dns", CLUSTER + ".ca_source",
         ["is not connection, configmap or file"], cluster({"ca_source": "dns"})),
    case("cluster-ca-source-file-without-ca-file", "role", "run", "plan", "ca_source file, no ca_file",
         CLUSTER + ".ca_file", ["required with ca_source: file"], cluster({"ca_source": "file"})),
    case("cluster-ca-key-options-without-host", "role", "run", "plan", "ca_key_path without ca_key_host", CLUSTER,
         ["only apply with ca_key_host", "add it, or remove them"],
         cluster({"ca_key_path": "/etc/kubernetes/pki/ca.key"})),
    case("cluster-ca-key-host-with-manual-approval", "role", "run", "plan", "ca_key_host with approval manual",
         CLUSTER, ["takes neither approval: manual nor self_service; remove them"],
         cluster({"ca_key_host": "control-plane", "approval": "manual"})),
    case("cluster-wait-timeout-zero", "role", "run", "plan", "wait_timeout 0", CLUSTER + ".wait_timeout",
         ["of at least 1 or a duration such as 10m"], cluster({"wait_timeout": 0})),
    case("cluster-signer-name-malformed", "role", "run", "plan", "signer_name 'my signer'", CLUSTER,
         ["give a lower-case domain and a path"], cluster({"signer_name": "my signer"})),
    case("cluster-self-service-not-bool", "role", "run", "plan", "self_service maybe", CLUSTER + ".self_service",
         ["is not true or false"], cluster({"self_service": "maybe"})),
    case("cluster-self-service-namespace-invalid", "role", "run", "plan", "self_service_namespace 'Self Service'",
         CLUSTER + ".self_service_namespace", ["at most 63 lower-case letters, digits and '-'"],
         cluster({"self_service_namespace": "Self Service"})),
    case("policy-not-a-mapping", "role", "run", "plan", "policy strict", CLUSTER + ".policy",
         ["must be a mapping of k8s_csr_approve policy options"], policy("strict")),
    case("policy-unknown-option", "role", "run", "plan", "policy max_lifetime (not an option)", CLUSTER + ".policy",
         ["unknown options ['max_lifetime']", "known: ["], policy({"max_lifetime": 3600})),
    case("policy-lifetime-not-a-number", "role", "run", "plan", "policy max_expiration_seconds 'a week'",
         CLUSTER + ".policy", ["max_expiration_seconds", "int"], policy({"max_expiration_seconds": "a week"})),
    case("policy-signer-not-allowed", "role", "run", "plan", "allowed_signers without the cluster's signer",
         CLUSTER + ".policy", ["add it to allowed_signers, or set signer_name to one of them"],
         policy({"allowed_signers": ["example.com/signer"]})),
    case("policy-usages-without-client-auth", "role", "run", "plan", "allowed_usages without client auth",
         CLUSTER + ".policy", ["which the role's requests carry; add it"],
         policy({"allowed_usages": ["digital signature"]})),
    case("policy-sets-expected-user", "role", "run", "plan", "policy expected_user", CLUSTER + ".policy",
         ["the role sets it for every request", "remove it"], policy({"expected_user": "rahul"})),
    case("grant-role-and-cluster-role", "role", "run", "plan", "a grant of a role and a cluster_role", GRANTS,
         ["give exactly one of cluster_role and role"],
         group([{"cluster_role": "view", "role": "deployer", "namespace": "dev"}])),
    case("grant-role-without-namespace", "role", "run", "plan", "a grant of a role without namespace", GRANTS,
         ["add namespace, or use cluster_role"], group([{"role": "deployer"}])),
    case("grant-namespace-invalid", "role", "run", "plan", "a grant in namespace 'Not A Namespace'",
         GRANTS + ".namespace", ["at most 63 lower-case letters, digits and '-'"],
         group([{"cluster_role": "view", "namespace": "Not A Namespace"}])),
    case("grant-unknown-key", "role", "run", "plan", "a grant with namespaces (a typo)", GRANTS,
         ["unknown keys ['namespaces']", "known: ['cluster_role'"],
         group([{"cluster_role": "view", "namespaces": ["dev"]}])),
    case("grant-unknown-cluster", "role", "run", "plan", "a grant on a cluster not described", GRANTS + ".clusters",
         ["is not described in user_access_clusters"], group([{"cluster_role": "view", "clusters": ["prod"]}])),
    case("grant-not-a-mapping", "role", "run", "plan", "a grant given as a string", GRANTS,
         ["must be a mapping such as {cluster_role: view}"], group(["view"])),
    case("group-without-grants", "role", "run", "plan", "a group with an empty list of grants",
         "user_access_group_grants.{t}", ["give it at least one", "or remove the group"], group([])),
    case("group-grants-not-a-list", "role", "run", "plan", "a group's grants given as a mapping",
         "user_access_group_grants.{t}", ["must be a list of grants such as {cluster_role: edit, namespace: dev}"],
         group({"cluster_role": "view"})),
    case("group-name-system", "role", "run", "plan", "grants for the group system:NAME",
         "user_access_group_grants.system:{t}", ["choose another name"],
         lambda o, t: o.grants.update({f"system:{t}": [{"cluster_role": "view"}]})),
    case("direct-grant-role-without-namespace", "role", "run", "plan", "a user's own grant of a role without "
         "namespace (it makes a binding: shared)", "{t}: user_access_grants[0]", ["add namespace, or use cluster_role"],
         user({"user_access_grants": [{"role": "deployer"}]})),
    case("inventory-label-invalid", "role", "run", "plan", "user_access_inventory 'NAME a' (not a label value)",
         "user_access_inventory", ["use at most 63 letters, digits, '-', '_' and '.'"],
         setting(user_access_inventory="{t} a")),
    # The role's options: one value for the run, checked before the plan.
    case("option-verify-unknown", "role", "run", "options", "user_access_verify sometimes", "user_access_verify",
         ["must be one of: changed, always, never"], setting(user_access_verify="sometimes")),
    case("option-prune-not-bool", "role", "run", "options", "user_access_prune maybe", "user_access_prune",
         ["convert to bool"], setting(user_access_prune="maybe")),
    case("option-differs-between-users", "role", "run", "options", "user_access_base_dir in one user's host "
         "variables", "user_access_base_dir", ["one value for the whole run"],
         lambda o, t: o.users[o.rahul].update(user_access_base_dir=f"{o.workdir}/{t}")),
    # What users share, found when the cluster is first reached: each runs alone.
    case("clusters-none", "role", "run", None, "user_access_clusters {}", "user_access_clusters",
         ["describe at least one cluster, e.g. {prod: {kubeconfig:"], lambda o, t: setattr(o, "clusters", {})),
    case("cluster-kubeconfig-missing", "role", "run", None, "kubeconfig names no file", "kubeconfig",
         ["give the path of a kubeconfig"],
         lambda o, t: o.clusters["local"].update(kubeconfig=f"{o.workdir}/{t}/missing.conf")),
    case("cluster-kubeconfig-not-yaml", "role", "run", None, "kubeconfig holds text that is not YAML", "kubeconfig",
         ["Repair it, or give the path of another kubeconfig"], admin_kubeconfig("not-yaml")),
    case("cluster-kubeconfig-not-a-kubeconfig", "role", "run", None, "kubeconfig holds a Deployment", "kubeconfig",
         ["Give the path of a kubeconfig"], admin_kubeconfig("not-a-kubeconfig")),
    case("cluster-context-missing", "role", "run", None, "a context the admin kubeconfig does not have", "context",
         ["is not in", "it has:"], lambda o, t: o.clusters["local"].update(context=t)),
    case("grant-namespace-missing", "role", "run", None, "a grant in a namespace that does not exist", "namespace",
         ["create it first, or correct namespace"],
         lambda o, t: o.grants.update({f"developers-{o.suffix}": [{"cluster_role": "edit", "namespace": t}]})),
    case("server-untrusted", "role", "run", None, "an admin kubeconfig with another CA than the server's", "ca_cert",
         ["TLS failure", "give the cluster CA"], admin_kubeconfig("untrusted")),
    case("server-unreachable", "role", "run", None, "an admin kubeconfig whose server does not answer",
         "kubeconfig", ["cluster local cannot be reached", "Check the server address in the kubeconfig"],
         admin_kubeconfig("unreachable")),
    # The playbooks' own input.
    case("onboard-user-not-in-inventory", "onboard.yml", "run", None, "-e user=NAME of nobody in kube_users",
         "-e user={t}", ["Add the user to the inventory, or fix the name"], unchanged,
         ("onboard.yml", "-e", "user={t}")),
    case("onboard-user-names-nobody", "onboard.yml", "run", None, "-e user=,", "-e user=,",
         ["give the users to onboard with -e user=NAME[,NAME]"], unchanged, ("onboard.yml", "-e", "user=,")),
    case("onboard-users-group-missing", "onboard.yml", "run", None, "-e user_access_users_group=NAME of no group",
         "user_access_users_group", ["There is no group {t}", "Check -i and the group name"], unchanged,
         ("onboard.yml", "-e", "user_access_users_group={t}")),
    case("renew-now-not-bool", "renew.yml", "run", None, "-e renew_now=ture (a typo)", "renew_now",
         ["give true or false"], unchanged, ("renew.yml", "-e", "renew_now=ture")),
    case("audit-fail-on-drift-not-bool", "audit.yml", "run", None, "-e fail_on_drift=maybe", "fail_on_drift",
         ["give true or false"], unchanged,
         ("audit.yml", "-e", "fail_on_drift=maybe", "-e", "audit_dir={workdir}/{t}")),
    case("audit-dir-under-a-file", "audit.yml", "run", None, "-e audit_dir=PATH under a regular file",
         "-e audit_dir", ["give a path under a directory"], put("{workdir}/{t}", "text"),
         ("audit.yml", "-e", "audit_dir={workdir}/{t}/reports")),
    case("approve-user-not-in-inventory", "approve.yml", "run", None, "-e user=NAME of nobody in kube_users",
         "-e user={t}", ["Add the user to the inventory, or fix the name"], unchanged,
         ("approve.yml", "-e", "user={t}")),
    case("offboard-without-user", "offboard.yml", "run", None, "no -e user", "-e user",
         ["Give the users to offboard with -e user=NAME[,NAME]"], unchanged, ("offboard.yml",)),
    case("offboard-user-still-in-inventory", "offboard.yml", "run", None, "-e user=NAME of a user still listed",
         "{rahul} still in the inventory group kube_users", ["remove them from the inventory first"], unchanged,
         ("offboard.yml", "-e", "user={rahul}")),
    # On an onboarded inventory: offboarding converges the inventory's bindings before it can tell that a name
    # matches nothing (docs/reliability.md, limits).
    case("offboard-user-unknown", "offboard.yml", "run", None, "-e user=NAME of whom nothing is found (after an "
         "onboarding)", "Nothing found of {t}", ["check the name"], lambda o, t: o.run("onboard.yml").ok(),
         ("offboard.yml", "-e", "user={t}")),
    # A user's own entry: that user alone is refused (rahul and seema are onboarded in the same run).
    case("user-name-system-prefix", "role", "user", "user", "user_access_name system:NAME", "user_access_name",
         ["choose another name"], user({"user_access_name": "system:{t}"})),
    case("user-name-too-long", "role", "user", "user", "user_access_name of 65 characters", "user_access_name",
         ["at most 64"], user({"user_access_name": "{t}" + "n" * 51})),
    case("user-name-shared", "role", "user", "user", "two users with one user_access_name", "user_access_name",
         ["give each its own user_access_name"], lambda o, t: o.users.update({
             t: {"user_access_groups": [f"developers-{o.suffix}"], "user_access_name": f"{t}-same"},
             f"{t}-twin": {"user_access_groups": [f"developers-{o.suffix}"], "user_access_name": f"{t}-same"}})),
    case("user-kubeconfig-shared", "role", "user", "user", "two users with one user_access_kubeconfig_path",
         "user_access_kubeconfig_path", ["give each user its own user_access_key_dir or user_access_kubeconfig_path"],
         lambda o, t: o.users.update({
             name: {"user_access_groups": [f"developers-{o.suffix}"],
                    "user_access_kubeconfig_path": f"{o.workdir}/{t}/kubeconfig"} for name in (t, f"{t}-twin")})),
    case("user-groups-not-a-list", "role", "user", "user", "user_access_groups given as a string",
         "user_access_groups", ["must be a list of Kubernetes groups"],
         user({"user_access_groups": "developers-{suffix}"})),
    case("user-group-without-grants", "role", "user", "user", "a group that has no grants", "user_access_groups",
         ["add it to user_access_group_grants", "or remove it from the user"],
         user({"user_access_groups": ["qa-{t}"]})),
    case("user-group-system-masters", "role", "user", "user", "user_access_groups [system:masters]",
         "user_access_groups", ["choose another name"], user({"user_access_groups": ["system:masters"]})),
    case("user-no-groups", "role", "user", "user", "no groups and no grants", "user_access_groups",
         ["add groups, or set user_access_require_groups: false"], user({"user_access_groups": []})),
    case("user-lifetime-not-a-duration", "role", "user", "user", "user_access_lifetime forever",
         "user_access_lifetime", ["a duration of at least 10m (e.g. 24h, 7d)"],
         user({"user_access_lifetime": "forever"})),
    case("user-lifetime-below-10-minutes", "role", "user", "user", "user_access_lifetime 5m",
         "user_access_lifetime", ["a duration of at least 10m (e.g. 24h, 7d)"], user({"user_access_lifetime": "5m"})),
    case("user-renew-before-not-understood", "role", "user", "user", "user_access_renew_before soon",
         "user_access_renew_before", ["use a duration such as '8h'"], user({"user_access_renew_before": "soon"})),
    case("user-namespace-invalid", "role", "user", "user", "user_access_namespace 'Dev Team'",
         "user_access_namespace", ["at most 63 lower-case letters, digits and '-'"],
         user({"user_access_namespace": "Dev Team"})),
    case("user-clusters-unknown", "role", "user", "user", "user_access_user_clusters [prod] (not described)",
         "user_access_user_clusters", ["is not described in user_access_clusters (described: ["],
         user({"user_access_user_clusters": ["prod"]})),
    case("user-clusters-not-a-list", "role", "user", "user", "user_access_user_clusters given as a string",
         "user_access_user_clusters", ["must be a list of names from user_access_clusters"],
         user({"user_access_user_clusters": "local"})),
    case("user-key-type-unknown", "role", "user", "user", "user_access_key_type dsa", "user_access_key_type",
         ["is not one of ['ecdsa', 'rsa']"], user({"user_access_key_type": "dsa"})),
    case("user-key-size-unknown", "role", "user", "user", "user_access_key_size 1024 for rsa",
         "user_access_key_size", ["is not one of [2048, 3072, 4096]"],
         user({"user_access_key_type": "rsa", "user_access_key_size": 1024})),
    case("user-rotate-key-not-bool", "role", "user", "user", "user_access_rotate_key perhaps",
         "user_access_rotate_key", ["is not true or false"], user({"user_access_rotate_key": "perhaps"})),
    case("user-self-service-not-bool", "role", "user", "user", "user_access_self_service maybe",
         "user_access_self_service", ["is not true or false"], user({"user_access_self_service": "maybe"})),
    case("user-expect-malformed", "role", "user", "user", "user_access_expect [{verb: list}]",
         "user_access_expect[0]", ["must have verb, resource and allowed (true or false)"],
         user({"user_access_expect": [{"verb": "list"}]})),
    case("user-expect-unknown-cluster", "role", "user", "user", "an expectation on a cluster not described",
         "user_access_expect[0].clusters", ["names clusters not described in user_access_clusters"],
         user({"user_access_expect": [{"verb": "list", "resource": "pods", "allowed": True, "clusters": ["prod"]}]})),
    case("user-machine-with-local-connection", "role", "user", "user", "ansible_host of another machine with "
         "ansible_connection local", "ansible_host", ["give this host the connection that reaches that machine"],
         user({"ansible_host": "192.0.2.10", "ansible_connection": "local"})),
    case("user-kubeconfig-path-is-a-directory", "role", "user", "user", "user_access_kubeconfig_path names a "
         "directory", "user_access_kubeconfig_path", ["give a file path"],
         user({"user_access_kubeconfig_path": "{workdir}/{t}"}, {"{workdir}/{t}/a-file": "text"})),
    case("user-kubeconfig-not-yaml", "role", "user", "user", "user_access_kubeconfig_path holds text that is not "
         "YAML", "user_access_kubeconfig_path", ["Repair it, or move it away to start a new kubeconfig"],
         user({"user_access_kubeconfig_path": "{workdir}/{t}/config"}, {"{workdir}/{t}/config": "not-yaml"})),
    case("user-kubeconfig-not-a-kubeconfig", "role", "user", "user", "user_access_kubeconfig_path holds a "
         "Deployment", "user_access_kubeconfig_path", ["Give the path of a kubeconfig, or move the file away"],
         user({"user_access_kubeconfig_path": "{workdir}/{t}/config"}, {"{workdir}/{t}/config": "not-a-kubeconfig"})),
    case("user-key-dir-under-a-file", "role", "user", "user", "user_access_key_dir under a regular file",
         "user_access_key_dir", ["give a path under a directory"],
         user({"user_access_key_dir": "{workdir}/{t}/a-file/keys"}, {"{workdir}/{t}/a-file": "text"})),
    case("user-key-file-not-a-key", "role", "user", "user", "the user's key file holds text",
         "{workdir}/{t}/local.key", ["PEM private key", "or move the file away, and a new key is made"],
         user({"user_access_key_dir": "{workdir}/{t}"}, {"{workdir}/{t}/local.key": "text"})),
    case("user-key-file-encrypted", "role", "user", "user", "the user's key file is encrypted",
         "{workdir}/{t}/local.key", ["the key is encrypted", "or move the file away, and a new key is made"],
         user({"user_access_key_dir": "{workdir}/{t}"}, {"{workdir}/{t}/local.key": "encrypted-key"})),
    case("user-key-file-dsa", "role", "user", "user", "the user's key file holds a DSA key",
         "{workdir}/{t}/local.key", ["use ECDSA or RSA", "or move the file away, and a new key is made"],
         user({"user_access_key_dir": "{workdir}/{t}"}, {"{workdir}/{t}/local.key": "dsa-key"})),
    # The cluster's policy against a user's own entry: that user alone.
    case("policy-lifetime-below-user-lifetime", "role", "user", "user", "user_access_lifetime 2d, policy "
         "max_expiration_seconds 86400", "user_access_lifetime",
         ["shorten the user's lifetime or raise the policy's maximum"], user({"user_access_lifetime": "2d"})),
    case("policy-group-not-allowed", "role", "user", "user", "a group outside the policy's allowed_groups",
         "user_access_groups", ["remove them from the user or allow them in the policy"],
         user({"user_access_groups": ["unlisted-{suffix}"]})),
    case("policy-group-forbidden", "role", "user", "user", "a group in the policy's forbidden_groups",
         "user_access_groups", ["are in user_access_clusters.local.policy.forbidden_groups; remove them"],
         user({"user_access_groups": ["forbidden-{suffix}"]})),
    case("policy-rsa-key-below-minimum", "role", "user", "user", "user_access_key_size 2048, policy "
         "min_rsa_key_size 3072", "user_access_key_size", ["give a larger size"],
         user({"user_access_key_type": "rsa", "user_access_key_size": 2048})),
]


def tokens(o):
    """Each case's token: t<number>x<the inventory's suffix>, unique on the cluster and in the work directory."""
    return {entry["id"]: f"t{number:02d}x{o.suffix}" for number, entry in enumerate(CASES)}


def failures(output):
    """host -> the messages of its failed tasks and items, as the default callback prints them."""
    found = {}
    decoder = json.JSONDecoder()
    for match in re.finditer(r"^(?:fatal: \[([^\]]+)\]: FAILED!|failed: \[([^\]]+)\] \(item=.*?\)) => ", output,
                             re.MULTILINE):
        try:
            result, _end = decoder.raw_decode(output, match.end())
        except ValueError:
            continue
        host = (match.group(1) or match.group(2)).split(" -> ")[0]
        message = result.get("msg", "")
        found.setdefault(host, []).extend(message if isinstance(message, list) else [str(message)])
    return found


class Seen:
    """What a run did about one case: its messages, and the case's files and objects before and after."""

    def __init__(self, run, messages, files, objects):
        self.run, self.messages, self.files, self.objects = run, messages, files, objects


def run_cases(o, entries, playbook):
    """Make the inventory of `o` bad with every case of `entries`, run `playbook` once; case id -> Seen."""
    names = tokens(o)
    for entry in entries:
        entry["change"](o, names[entry["id"]])
    o.write_inventory()
    files_before = files_state(o.workdir)
    objects_before = cluster_objects(o.admin, o.suffix)
    run = o.run(*[fill(arg, o, names[entries[0]["id"]]) for arg in playbook])
    files_after = files_state(o.workdir)
    objects_after = cluster_objects(o.admin, o.suffix)
    messages = failures(run.output)
    seen = {}
    for entry in entries:
        t = names[entry["id"]]
        # A `run` case stops everything: nothing of anybody's may change; a `user` case: nothing of that user's.
        mine = (lambda key: True) if entry["scope"] == "run" else (lambda key, t=t: t in str(key))
        seen[entry["id"]] = Seen(
            run, messages,
            tuple({path: state for path, state in files.items() if mine(path)}
                  for files in (files_before, files_after)),
            tuple({key: version for key, version in objects.items() if mine(key)}
                  for objects in (objects_before, objects_after)))
    return seen


def batched(cluster, tmp_path_factory, batch):
    """The cases of `batch` in one inventory and one onboarding run."""
    cleanup = Cleanup(cluster.admin)
    o = Onboarding(cluster, cluster.admin, cleanup, str(tmp_path_factory.mktemp(f"bad-{batch}")))
    if batch == "user":
        # The policy the users' own entries are checked against: groups with grants it does not allow or forbids.
        o.grants.update({f"{kind}-{o.suffix}": [{"cluster_role": "view", "namespace": o.dev}]
                         for kind in ("unlisted", "forbidden")})
        o.clusters["local"]["policy"].update(
            allowed_groups=[group for group in o.grants if not group.startswith("unlisted-")],
            forbidden_groups=[f"forbidden-{o.suffix}"], min_rsa_key_size=3072)
    seen = run_cases(o, [entry for entry in CASES if entry["batch"] == batch], ("onboard.yml",))
    return o, cleanup, seen


def batch_fixture(batch):
    """A module-scoped fixture: the inventory of `batch` and what its one run did about each case."""
    @pytest.fixture(scope="module")
    def run_batch(cluster, tmp_path_factory):
        o, cleanup, seen = batched(cluster, tmp_path_factory, batch)
        yield o, seen
        o.remove_everything()
        cleanup.run()
    return run_batch


plan_batch, options_batch, user_batch = (batch_fixture(batch) for batch in ("plan", "options", "user"))


def check(entry, seen, o, messages):
    """The case's refusal: named in `messages` (those of the hosts that carry it), and nothing changed."""
    t = tokens(o)[entry["id"]]
    text = "\n".join(messages)
    field = fill(entry["field"], o, t)
    if entry["batch"] == "plan":
        # Every problem of the plan is in one message: this case's are the ones that name its token.
        text = "\n".join(part for part in text.split(" | ") if t in part)
    assert field in text, f"the refusal does not name {field}: {text or seen.run.output[-4000:]}"
    for words in entry["accepted"]:
        assert fill(words, o, t) in text, f"the refusal does not say {words!r}: {text}"
    before, after = seen.files
    assert after == before, f"files changed: {sorted(set(after.items()) ^ set(before.items()))}"
    before, after = seen.objects
    assert after == before, f"objects on the cluster changed: before {before}, after {after}"


def hosts_of(entry, o):
    t = tokens(o)[entry["id"]]
    return [host for host in o.users if host == t or host.startswith(f"{t}-")]


@pytest.mark.parametrize("entry", [e for e in CASES if e["batch"] == "plan"],
                         ids=[e["id"] for e in CASES if e["batch"] == "plan"])
def test_a_shared_problem_of_the_inventory_stops_the_run_before_any_change(plan_batch, entry):
    o, seen = plan_batch[0], plan_batch[1][entry["id"]]
    seen.run.failed()
    assert "The inventory needs fixing" in "\n".join(seen.messages.get("localhost", []))
    check(entry, seen, o, seen.messages.get("localhost", []))


@pytest.mark.parametrize("entry", [e for e in CASES if e["batch"] == "options"],
                         ids=[e["id"] for e in CASES if e["batch"] == "options"])
def test_a_bad_role_option_stops_the_run_before_any_change(options_batch, entry):
    o, seen = options_batch[0], options_batch[1][entry["id"]]
    seen.run.failed()
    check(entry, seen, o, seen.messages.get("localhost", []))


@pytest.mark.parametrize("entry", [e for e in CASES if e["batch"] is None], ids=[e["id"] for e in CASES
                                                                                 if e["batch"] is None])
def test_a_bad_input_found_later_still_stops_the_run_before_any_change(onboarding, entry):
    seen = run_cases(onboarding, [entry], entry["playbook"])[entry["id"]]
    seen.run.failed()
    check(entry, seen, onboarding, [m for host in seen.messages.values() for m in host])


@pytest.mark.parametrize("entry", [e for e in CASES if e["batch"] == "user"],
                         ids=[e["id"] for e in CASES if e["batch"] == "user"])
def test_a_bad_entry_of_a_user_refuses_that_user_alone(user_batch, entry):
    o, seen = user_batch
    seen = seen[entry["id"]]
    seen.run.failed()
    refused = hosts_of(entry, o)
    assert refused
    for host in refused:
        assert seen.run.recap(host)["failed"] == 1, seen.run.output[-4000:]
        check(entry, seen, o, seen.messages.get(host, []))
    for host in (o.rahul, o.seema):
        assert seen.run.recap(host)["failed"] == 0 and seen.run.changed(host) == 1
        assert os.path.isfile(o.kubeconfig(host))
