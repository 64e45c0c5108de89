# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory model of the user_access role, turned into work for the batch modules.

Users are inventory hosts; their `user_access_*` variables say who they are and what they get. This runs on the
controller (as the `access_plan` filter) in one pass over all users, so that a bad inventory is reported whole,
naming the inventory key to fix, before anything is changed; and so that each step of the role is one module call
for all users instead of one per user.
"""

from __future__ import annotations

import base64
import hashlib
import os
import posixpath
import re

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import KEY_TYPES, RSA_SIZES, Certificate
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import default_name
from ansible_collections.kubeaccess.x509.plugins.module_utils.file_io import read_file, writable_dir_error
from ansible_collections.kubeaccess.x509.plugins.module_utils.kubeconfig import KubeconfigError, admin_connection, parse
from ansible_collections.kubeaccess.x509.plugins.module_utils.policy import POLICY_ARG_SPEC
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import (
    dns_safe, identity_name_error, object_name_error, parse_duration, parse_renew_before)

MANAGED_LABEL = "kubeaccess.x509/inventory"
GRANT_KEYS = ("cluster_role", "role", "namespace", "clusters", "rules")
EXPECT_KEYS = ("verb", "resource", "namespace", "group", "subresource", "name", "allowed", "clusters")
CLUSTER_KEYS = ("kubeconfig", "context", "server", "ca_source", "ca_file", "approval", "policy")
MIN_LIFETIME = 600
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
FORCE_RENEWAL_WINDOW = "36500d"
# Where the files of a user with keys on their own machine go there; `~` is the connection user's home.
REMOTE_KEY_DIR = "~/.kube/kubeaccess"
REMOTE_KUBECONFIG = "~/.kube/config"
LOOPBACK = ("localhost", "127.0.0.1", "::1")


class PlanInput:
    """Collects errors, each naming where in the inventory it is."""

    def __init__(self):
        self.errors = []

    def error(self, where, text):
        self.errors.append(f"{where}: {text}")


def namespace_error(value):
    if not NAMESPACE.match(value):
        return (f"{value!r} is not a namespace name: at most 63 lower-case letters, digits and '-', starting and "
                "ending with a letter or digit")
    return None


def _duration(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else parse_duration(value)


def check_clusters(clusters, report):
    """`user_access_clusters`: name -> how to reach the cluster as an administrator."""
    if not isinstance(clusters, dict) or not clusters:
        report.error("user_access_clusters", "describe at least one cluster, e.g. {prod: {kubeconfig: "
                     "/etc/kubeaccess/prod-admin.conf}}")
        return {}
    checked = {}
    for name, spec in clusters.items():
        where = f"user_access_clusters.{name}"
        spec = spec or {}
        if not isinstance(spec, dict):
            report.error(where, "must be a mapping with kubeconfig (and optionally context, server, ca_source, "
                         "approval)")
            continue
        unknown = sorted(set(spec) - set(CLUSTER_KEYS))
        if unknown:
            report.error(where, f"unknown keys {unknown}; known: {list(CLUSTER_KEYS)}")
        if object_name_error(where, str(name)):
            report.error(where, f"the cluster name {name!r} names kubeconfig entries (rahul@{name}); use lower-case "
                         "letters, digits, '-' and '.'")
        if "kubeconfig" in spec and not spec["kubeconfig"]:
            report.error(f"{where}.kubeconfig", "is empty; give the administrator kubeconfig of the cluster (is the "
                         "environment variable it is read from set?)")
        if spec.get("approval", "auto") not in ("auto", "manual"):
            report.error(f"{where}.approval", f"{spec.get('approval')!r} is not auto or manual")
        if spec.get("ca_source", "connection") not in ("connection", "configmap", "file"):
            report.error(f"{where}.ca_source", f"{spec.get('ca_source')!r} is not connection, configmap or file")
        if spec.get("ca_source") == "file" and not spec.get("ca_file"):
            report.error(f"{where}.ca_file", "required with ca_source: file")
        policy = spec.get("policy") or {}
        if not isinstance(policy, dict):
            report.error(f"{where}.policy", "must be a mapping of k8s_csr_approve policy options, e.g. "
                         "{max_expiration_seconds: 86400}")
            policy = {}
        unknown = sorted(set(policy) - set(POLICY_ARG_SPEC))
        if unknown:
            report.error(f"{where}.policy", f"unknown options {unknown}; known: {sorted(POLICY_ARG_SPEC)}")
        checked[name] = dict(spec, approval=spec.get("approval", "auto"), policy=policy)
    return checked


def check_grants(grants, where, clusters, report):
    """A list of grants: {cluster_role or role, namespace?, clusters?, rules?}."""
    if not isinstance(grants, list):
        report.error(where, "must be a list of grants such as {cluster_role: edit, namespace: dev}")
        return []
    checked = []
    for index, grant in enumerate(grants):
        here = f"{where}[{index}]"
        if not isinstance(grant, dict):
            report.error(here, "must be a mapping such as {cluster_role: view} or {role: deployer, namespace: dev}")
            continue
        unknown = sorted(set(grant) - set(GRANT_KEYS))
        if unknown:
            report.error(here, f"unknown keys {unknown}; known: {list(GRANT_KEYS)}")
        if bool(grant.get("cluster_role")) == bool(grant.get("role")):
            report.error(here, "give exactly one of cluster_role and role")
            continue
        if grant.get("role") and not grant.get("namespace"):
            report.error(here, "a role lives in a namespace: add namespace, or use cluster_role")
            continue
        if grant.get("namespace") is not None:
            grant = dict(grant, namespace=str(grant["namespace"]))
            error = namespace_error(grant["namespace"])
            if error:
                report.error(f"{here}.namespace", error)
        on = grant.get("clusters") or list(clusters)
        for name in on:
            if name not in clusters:
                report.error(f"{here}.clusters", f"cluster {name!r} is not described in user_access_clusters")
        checked.append(dict(grant, clusters=[c for c in on if c in clusters]))
    return checked


def readable_name(value, limit):
    """`value` made DNS-safe; when that changed it, a short hash of the exact value keeps distinct values apart
    (Developers and developers, team:dev and team.dev, long names cut at the same place)."""
    safe = dns_safe(value, limit)
    if safe == value:
        return safe
    return f"{safe}-{hashlib.sha256(value.encode()).hexdigest()[:8]}"


def binding_item(role_kind, role_name, namespace, subject_kind, subject_name, rules, inventory):
    scope = namespace or "cluster"
    role_part = readable_name(role_name, 60) if role_kind == "ClusterRole" else f"role-{readable_name(role_name, 55)}"
    name = f"kubeaccess-{'group' if subject_kind == 'Group' else 'user'}-{readable_name(subject_name, 40)}-{role_part}"
    item = {"name": name, "role_kind": role_kind, "role_name": role_name,
            "subjects": [{"kind": subject_kind, "name": subject_name}], "labels": {MANAGED_LABEL: inventory},
            "subjects_mode": "exact"}
    if namespace:
        item["namespace"] = namespace
    if rules:
        item["rules"] = rules
    return scope, item


def plan(users, clusters, group_grants, settings):
    """Everything the role does for `users` (dict host -> its vars), or the errors in the inventory.

    `settings` holds the role-level values: base_dir, lifetime, renew_before, key_type, inventory (the label
    value that marks what this inventory owns) and play_hosts (who this run works on; bindings always come from
    all users, so that a run limited to one user never prunes the others' bindings).
    """
    report = PlanInput()
    clusters = check_clusters(clusters, report)
    grants_by_group = {}
    if not isinstance(group_grants, dict):
        report.error("user_access_group_grants", "must map each Kubernetes group to its grants")
        group_grants = {}
    for group, grants in group_grants.items():
        group = str(group)
        error = identity_name_error(f"user_access_group_grants.{group}", str(group))
        if error:
            report.error("user_access_group_grants", error)
        grants_by_group[group] = check_grants(grants, f"user_access_group_grants.{group}", clusters, report)
        if not grants:
            report.error(f"user_access_group_grants.{group}", "has no grants; give it at least one (e.g. "
                         "[{cluster_role: view, namespace: dev}]) or remove the group")
    bindings = {name: {} for name in clusters}
    work = {"users": [], "remote_users": []}
    owners = {}
    for host, variables in users.items():
        for entry in user_entries(host, variables, clusters, grants_by_group, settings, report):
            for path in controller_paths(entry):
                owner = owners.setdefault(path, host)
                if owner != host:
                    report.error(host, f"its file {path} is also {owner}'s; give one of them its own "
                                 "user_access_key_dir or user_access_kubeconfig_path")
            if host in settings["play_hosts"]:
                work["remote_users" if "on_host" in entry else "users"].append(entry)
        for grant in check_grants(variables.get("user_access_grants") or [], f"{host}: user_access_grants",
                                  clusters, report):
            add_binding(bindings, grant, "User", str(variables.get("user_access_name") or host), settings["inventory"],
                        report)
    for group, grants in grants_by_group.items():
        for grant in grants:
            add_binding(bindings, grant, "Group", group, settings["inventory"], report)
    endpoints = cluster_endpoints(clusters, sorted({e["cluster"] for e in work["remote_users"]}), report)
    return {"errors": report.errors, **work, "endpoints": endpoints,
            "bindings": {name: list(items.values()) for name, items in bindings.items()}}


def cluster_endpoints(clusters, names, report):
    """Server URL and CA (PEM text) of each named cluster, for kubeconfigs written on the users' own machines: from
    the cluster's description (server; ca_file with ca_source file) or else its admin kubeconfig, read here."""
    endpoints = {}
    for name in names:
        spec = clusters[name]
        where = f"user_access_clusters.{name}"
        if spec.get("ca_source") == "configmap":
            continue  # reported with each user of the cluster
        try:
            connection = admin_connection({"kubeconfig": spec.get("kubeconfig") or os.environ.get(
                "K8S_AUTH_KUBECONFIG"), "context": spec.get("context")})
        except KubeconfigError as exc:
            report.error(where, f"{exc} (needed for the kubeconfigs of users with ansible_host)")
            continue
        if connection is None:
            report.error(where, "the in-cluster service account names no server for users' machines; give server")
            continue
        server = spec.get("server") or connection.server
        if spec.get("ca_source") == "file":
            ca_pem = read_file(os.path.expanduser(spec["ca_file"]))
            if ca_pem is None:
                report.error(f"{where}.ca_file", f"{spec['ca_file']} does not exist on the controller")
                continue
        else:
            ca_pem = connection.ca_pem
        if not server or not ca_pem:
            report.error(where, f"the admin connection ({connection.source}) names no "
                         f"{'server' if not server else 'CA'}; give {'server' if not server else 'ca_file'}")
            continue
        endpoints[name] = {"server": server, "ca": ca_pem.decode()}
    return endpoints


def controller_paths(entry):
    """The files of an entry on the controller: a user's own, never shared with another user."""
    if "on_host" in entry:
        return (entry["request"]["certificate_path"],)
    return (entry["request"]["private_key_path"], entry["kubeconfig_path"])


def add_binding(bindings, grant, subject_kind, subject_name, inventory, report):
    role_kind = "ClusterRole" if grant.get("cluster_role") else "Role"
    role_name = grant.get("cluster_role") or grant.get("role")
    for cluster in grant["clusters"]:
        scope, item = binding_item(role_kind, role_name, grant.get("namespace"), subject_kind, subject_name,
                                   grant.get("rules"), inventory)
        existing = bindings[cluster].setdefault((scope, item["name"]), item)
        if existing != item:
            report.error(f"{subject_kind} {subject_name}", f"its grant of {role_kind} {role_name} in {scope} on "
                         f"{cluster} maps to the binding {item['name']}, which another grant also needs with other "
                         "content; make the two grants identical or rename one")


def user_entries(host, variables, clusters, grants_by_group, settings, report):
    """One work entry per cluster the user is on."""
    where = f"{host}"
    user = str(variables.get("user_access_name") or host)
    error = identity_name_error("user_access_name", user)
    if error:
        report.error(where, error + (" (the inventory host name is the user name unless user_access_name is set)"
                                     if not variables.get("user_access_name") else ""))
    groups = variables.get("user_access_groups")
    if groups is None:
        groups = []
    if not isinstance(groups, list):
        report.error(where, "user_access_groups: must be a list of Kubernetes groups, e.g. [developers]")
        groups = []
    groups = [str(group) for group in groups]
    for group in groups:
        error = identity_name_error("user_access_groups", str(group))
        if error:
            report.error(where, error)
        elif group not in grants_by_group:
            report.error(where, f"user_access_groups: group {group!r} has no grants; add it to "
                         f"user_access_group_grants (e.g. {group}: [{{cluster_role: view, namespace: dev}}]) or "
                         "remove it from the user")
    if not groups and settings["require_groups"] and not variables.get("user_access_grants"):
        report.error(where, "user_access_groups: the user is in no group and has no user_access_grants, so the "
                     "certificate would grant nothing; add groups, or set user_access_require_groups: false")
    lifetime = _duration(variables.get("user_access_lifetime", settings["lifetime"]))
    if lifetime is None or lifetime < MIN_LIFETIME:
        report.error(where, f"user_access_lifetime: {variables.get('user_access_lifetime', settings['lifetime'])!r} "
                     "is not a duration of at least 10m (e.g. 24h, 7d)")
    renew_before = variables.get("user_access_renew_before", settings["renew_before"])
    try:
        parse_renew_before(renew_before)
    except ValueError as exc:
        report.error(where, f"user_access_renew_before: {exc}")
    if settings["force_renewal"]:
        # A window longer than any certificate puts every certificate inside it.
        renew_before = FORCE_RENEWAL_WINDOW
    namespace = str(variables.get("user_access_namespace") or "default")
    error = namespace_error(namespace)
    if error:
        report.error(where, f"user_access_namespace: {error}")
    on = variables.get("user_access_user_clusters") or list(clusters)
    if not isinstance(on, list):
        report.error(where, "user_access_user_clusters: must be a list of names from user_access_clusters")
        on = []
    for name in on:
        if name not in clusters:
            report.error(where, f"user_access_user_clusters: cluster {name!r} is not described in "
                         f"user_access_clusters (described: {sorted(clusters)})")
    key = key_settings(variables, settings, where, report)
    # With ansible_host the user's files live on that machine: the paths are the machine's, checked there.
    remote = bool(variables.get("ansible_host"))
    if remote and variables.get("ansible_connection") == "local" and str(variables["ansible_host"]) not in LOOPBACK:
        report.error(where, f"ansible_host: {variables['ansible_host']} would be reached with ansible_connection "
                     "local, which runs on the controller and would keep the key there; give this host the connection "
                     "that reaches that machine (e.g. ansible_connection: ssh), or remove ansible_host")
    controller_dir = os.path.expanduser(user_files(user, settings["base_dir"])["dir"])
    if remote:
        key_dir = variables.get("user_access_key_dir") or REMOTE_KEY_DIR
        kubeconfig = variables.get("user_access_kubeconfig_path") or REMOTE_KUBECONFIG
        checked_paths = (("user_access_base_dir", posixpath.join(controller_dir, "certificate")),)
    else:
        key_dir = os.path.expanduser(variables.get("user_access_key_dir") or controller_dir)
        kubeconfig = os.path.expanduser(variables.get("user_access_kubeconfig_path") or posixpath.join(key_dir,
                                                                                                       "kubeconfig"))
        checked_paths = (("user_access_key_dir", posixpath.join(key_dir, "key")),
                         ("user_access_kubeconfig_path", kubeconfig))
    for option, path in checked_paths:
        error = writable_dir_error(option, path)
        if error:
            report.error(where, error)
    if not remote:
        existing = read_file(kubeconfig) if os.path.isfile(kubeconfig) else None
        try:
            parse(existing or b"", kubeconfig, "user_access_kubeconfig_path")
        except KubeconfigError as exc:
            report.error(where, str(exc))
    expectations = variables.get("user_access_expect") or []
    if not isinstance(expectations, list):
        report.error(where, "user_access_expect: must be a list such as [{verb: list, resource: pods, namespace: "
                     "dev, allowed: true}]")
        expectations = []
    for index, expectation in enumerate(expectations):
        if not isinstance(expectation, dict) or not expectation.get("verb") or not expectation.get("resource") \
                or not isinstance(expectation.get("allowed"), bool) or set(expectation) - set(EXPECT_KEYS):
            report.error(f"{where}: user_access_expect[{index}]", f"must have verb, resource and allowed (true or "
                         f"false), optionally {list(EXPECT_KEYS[2:-2])} and clusters")
        elif [c for c in expectation.get("clusters") or [] if c not in clusters]:
            report.error(f"{where}: user_access_expect[{index}].clusters", "names clusters not described in "
                         f"user_access_clusters: {[c for c in expectation['clusters'] if c not in clusters]}")
    for cluster in (c for c in on if c in clusters):
        if remote and clusters[cluster].get("ca_source") == "configmap":
            report.error(where, f"ansible_host: the CA of cluster {cluster} comes from the kube-root-ca.crt ConfigMap "
                         f"(user_access_clusters.{cluster}.ca_source), which only the controller reads; for users with "
                         "keys on their own machine use ca_source connection or file")
        # The certificate is public: the controller keeps it (or a copy) for renewal, audit and offboarding.
        certificate_path = posixpath.join(controller_dir if remote else key_dir, f"{cluster}.crt")
        request = {"user": user, "groups": list(groups), "certificate_path": certificate_path,
                   "expiration_seconds": lifetime, "renew_before": str(renew_before),
                   "labels": {MANAGED_LABEL: settings["inventory"]}}
        if not remote:
            request.update(private_key_path=posixpath.join(key_dir, f"{cluster}.key"), **key)
        entry = {
            "host": host, "user": user, "groups": list(groups), "cluster": cluster,
            "approval": clusters[cluster]["approval"], "kubeconfig_path": kubeconfig, "namespace": namespace,
            "request": request,
            "approval_policy": dict(clusters[cluster]["policy"], expected_user=user, allowed_groups=list(groups),
                                    certificate_path=certificate_path, wait=True),
            "expect": [{k: v for k, v in e.items() if k != "clusters"} for e in expectations
                       if isinstance(e, dict) and cluster in (e.get("clusters") or [cluster])],
        }
        if remote:
            entry["on_host"] = {
                "request": {"user": user, "groups": list(groups), "private_key_path": posixpath.join(
                    key_dir, f"{cluster}.key"), "submit": False, **key},
                "certificate_path": posixpath.join(key_dir, f"{cluster}.crt"),
                "ca_path": posixpath.join(key_dir, f"{cluster}-ca.crt"),
            }
        yield entry


def key_settings(variables, settings, where, report):
    """The request options of a new key: user_access_key_type ecdsa (P-256) or rsa, user_access_key_size for RSA."""
    key_type = str(variables.get("user_access_key_type", settings["key_type"]))
    if key_type not in KEY_TYPES:
        report.error(where, f"user_access_key_type: {key_type!r} is not one of {list(KEY_TYPES)}")
        return {}
    if key_type != "rsa":
        return {"private_key_type": key_type}
    size = variables.get("user_access_key_size", settings["key_size"])
    if str(size) not in [str(choice) for choice in RSA_SIZES]:
        report.error(where, f"user_access_key_size: {size!r} is not one of {list(RSA_SIZES)} (bits of an RSA key)")
        return {}
    return {"private_key_type": "rsa", "private_key_size": int(size)}


def user_files(user, base_dir, cluster=None):
    """Where a user's files are kept by default: <base_dir>/<user>/{<cluster>.key,<cluster>.crt,kubeconfig}."""
    directory = posixpath.join(os.path.expanduser(base_dir), readable_name(user, 64))
    files = {"dir": directory, "kubeconfig": posixpath.join(directory, "kubeconfig")}
    if cluster:
        files.update(private_key_path=posixpath.join(directory, f"{cluster}.key"),
                     certificate_path=posixpath.join(directory, f"{cluster}.crt"))
    return files


def _of_cluster(plan_users, cluster):
    return [entry for entry in plan_users if entry["cluster"] == cluster]


def _loop_results(registered, cluster):
    """The per-item results of one cluster's call in a task looped over the clusters (empty when skipped)."""
    for result in (registered or {}).get("results", []):
        if (result.get("item") or {}).get("key") == cluster:
            return result.get("results") or []
    return []


def approval_items(the_plan, cluster, requests):
    """Approvals for the requests of `cluster` that wait for one, on clusters where approval is automatic."""
    items = []
    for entry, result in zip(_of_cluster(the_plan["users"], cluster), _loop_results(requests, cluster)):
        if entry["approval"] == "auto" and result.get("name") and result.get("phase") in ("pending", "approved"):
            items.append(dict(entry["approval_policy"], name=result["name"],
                              expected_public_key_fingerprint=result["public_key_fingerprint"]))
    return items


def kubeconfig_items(the_plan, cluster, requests, approvals, bindings, verify):
    """Kubeconfig entries of the users of `cluster` that hold a certificate; verified when anything of theirs changed
    in this run (`verify` changed), always, or never."""
    return [item for _entry, item in _kubeconfig_items(the_plan, cluster, requests, approvals, bindings, verify)]


def _kubeconfig_items(the_plan, cluster, requests, approvals, bindings, verify):
    approved = {r.get("name"): r for r in _loop_results(approvals, cluster)}
    rbac_changed = any(r.get("changed") for r in (bindings or {}).get("results", [])
                       if (r.get("item") or {}).get("key") == cluster)
    for entry, request in zip(_of_cluster(the_plan["users"], cluster), _loop_results(requests, cluster)):
        approval = approved.get(request.get("name"), {})
        if "issued" not in (request.get("phase"), approval.get("phase")):
            continue
        changed = request.get("changed") or approval.get("changed") or rbac_changed
        yield entry, {
            "path": entry["kubeconfig_path"], "user": entry["user"], "cluster": cluster,
            "namespace": entry["namespace"], "client_certificate_path": entry["request"]["certificate_path"],
            "client_key_path": entry["request"].get("private_key_path"), "expected_groups": entry["groups"],
            # A changed kubeconfig is verified by the module itself; a change upstream is verified regardless.
            "verify": verify != "never", "verify_only_if_changed": verify == "changed" and not changed,
            "expected_access": entry["expect"],
        }


def remote_plan(the_plan, hostvars, play_hosts):
    """The work of the users whose keys are on their own machines, once each machine has made its keys and requests
    (registered there as user_access_remote_keys): the controller submits the requests, as it does its own.

    `waiting` names who got no request: in check mode before the key exists, or whose machine dropped out.
    """
    users, waiting = [], []
    position = {}
    for entry in the_plan["remote_users"]:
        host = entry["host"]
        index = position[host] = position.get(host, -1) + 1
        made = (hostvars[host].get("user_access_remote_keys") or {}).get("results") or [] if host in play_hosts else []
        result = made[index] if index < len(made) else {}
        if result.get("request"):
            users.append(dict(entry, request=dict(entry["request"], csr_content=result["request"])))
        elif host in play_hosts:
            waiting.append(f"{entry['user']}@{entry['cluster']}: the key and request would be made on {host}")
        else:
            waiting.append(f"{entry['user']}@{entry['cluster']}: nothing done, {host} is unreachable or failed")
    return {"users": users, "bindings": the_plan["bindings"], "endpoints": the_plan["endpoints"],
            "waiting": waiting}


def host_kubeconfig_items(the_plan, host, requests, approvals, bindings, verify):
    """The kubeconfig entries written on `host`, the user's own machine, from the files copied there."""
    return [item for _entry, item in _host_items(the_plan, host, requests, approvals, bindings, verify)]


def host_copies(the_plan, host, requests, approvals):
    """The public files `host` needs next to its key: its certificates (kept on the controller) and the CAs."""
    copies = []
    for entry, item in _host_items(the_plan, host, requests, approvals, None, "never"):
        copies += [{"src": entry["request"]["certificate_path"], "dest": item["client_certificate_path"]},
                   {"content": the_plan["endpoints"][item["cluster"]]["ca"], "dest": item["ca_file"]}]
    return copies


def _host_items(the_plan, host, requests, approvals, bindings, verify):
    for cluster in sorted({entry["cluster"] for entry in the_plan["users"] if entry["host"] == host}):
        for entry, item in _kubeconfig_items(the_plan, cluster, requests, approvals, bindings, verify):
            if entry["host"] == host:
                on_host = entry["on_host"]
                yield entry, dict(item, client_certificate_path=on_host["certificate_path"],
                                  client_key_path=on_host["request"]["private_key_path"],
                                  server=the_plan["endpoints"][cluster]["server"], ca_source="file",
                                  ca_file=on_host["ca_path"])


def host_kubeconfig_results(the_plan, hostvars, play_hosts):
    """The kubeconfig results registered on each machine (user_access_remote_kubeconfigs), shaped like those of the
    controller's task looped over the clusters, for summary()."""
    by_cluster = {}
    for host in sorted({entry["host"] for entry in the_plan["users"] if entry["host"] in play_hosts}):
        for result in (hostvars[host].get("user_access_remote_kubeconfigs") or {}).get("results") or []:
            by_cluster.setdefault(result.get("cluster_name"), []).append(result)
    return {"results": [{"item": {"key": cluster}, "results": results} for cluster, results in by_cluster.items()]}


def summary(the_plan, requests, approvals, kubeconfigs):
    """One line per user and cluster: groups, kubeconfig, NotAfter (or what the certificate waits for), bindings."""
    lines = []
    clusters = sorted({entry["cluster"] for entry in the_plan["users"]})
    for cluster in clusters:
        approved = {r.get("name"): r for r in _loop_results(approvals, cluster)}
        verified = {r.get("user_name") or r.get("path"): r for r in _loop_results(kubeconfigs, cluster)}
        for entry, request in zip(_of_cluster(the_plan["users"], cluster), _loop_results(requests, cluster)):
            approval = approved.get(request.get("name"), {})
            not_after = approval.get("not_after") or request.get("not_after")
            phase = approval.get("phase") or request.get("phase")
            state = f"NotAfter {not_after}" if not_after else f"certificate {phase or 'not requested'}" + (
                f" (CSR {request['name']}: approve it with kubectl certificate approve {request['name']})"
                if phase == "pending" and entry["approval"] == "manual" else "")
            subjects = [("Group", g) for g in entry["groups"]] + [("User", entry["user"])]
            names = [f"{b['name']} ({b.get('namespace', 'cluster-wide')})" for b in the_plan["bindings"][cluster]
                     if any((s["kind"], s["name"]) in subjects for s in b["subjects"])]
            checked = " verified" if (verified.get(f"{entry['user']}@{cluster}") or {}).get("verified") else ""
            where = f"{entry['host']}:" if "on_host" in entry else ""
            lines.append(f"{entry['user']}@{cluster}: groups {', '.join(entry['groups']) or '(none)'}; kubeconfig "
                         f"{where}{entry['kubeconfig_path']}{checked}; {state}; bindings {', '.join(names) or '(none)'}")
    return lines + the_plan.get("waiting", [])


def offboarding_report(slurped, the_plan):
    """What still grants each offboarded user access: a certificate cannot be revoked.

    `slurped` is the registered result of slurping each user's certificate (item: user, cluster).
    """
    return [_certificate_left(result["item"]["user"], result["item"]["cluster"],
                              base64.b64decode(result["content"]) if result.get("content") else None, the_plan,
                              os.path.exists(result["item"]["private_key_path"]))
            for result in slurped]


def offboarding_csrs(slurped):
    """Items of k8s_csr_request state=absent for the CSRs of offboarded users: named after the key on the controller,
    and after the certificate, whose key may be on the user's own machine."""
    items = []
    for result in slurped:
        item = result["item"]
        items.append({"user": item["user"], "private_key_path": item["private_key_path"]})
        if result.get("content"):
            cert = Certificate(base64.b64decode(result["content"]))
            items.append({"name": default_name(cert.common_name, cert.fingerprint)})
    return items


def _certificate_left(user, cluster, certificate_pem, the_plan, key_on_controller=True):
    if not certificate_pem:
        return f"{user}@{cluster}: no certificate on the controller; nothing issued from here is left to expire"
    cert = Certificate(certificate_pem)
    not_after = cert.describe()["not_after"]
    if cert.remaining_seconds() <= 0:
        return f"{user}@{cluster}: the certificate (serial {cert.serial}) expired at {not_after}"
    groups = cert.organizations
    still = [f"{b['name']} ({b.get('namespace', 'cluster-wide')})" for b in the_plan["bindings"].get(cluster, [])
             if any(s["kind"] == "Group" and s["name"] in groups for s in b["subjects"])]
    return (f"{user}@{cluster}: the certificate (serial {cert.serial}, CN {cert.common_name}, groups "
            f"{', '.join(groups) or '(none)'}) cannot be revoked and is valid until {not_after}. "
            + (f"Until then its groups keep what these bindings grant: {', '.join(still)}. To cut it now, remove "
               "those grants (they apply to every member of the groups)." if still else
               "No binding of this inventory grants its groups anything any more.")
            + ("" if key_on_controller else " Its key is on the user's own machine, which this run cannot reach: "
               "delete it there (default ~/.kube/kubeaccess/) and the user's entries in ~/.kube/config."))
