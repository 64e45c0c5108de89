# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory model of the user_access role, turned into the work of the batch modules (inventory -> plan).

Users are inventory hosts; their `user_access_*` variables say who they are and what they get. This runs on the
controller (as the `access_plan` filter) in one pass over all users, so that each step of the role is one module call
per cluster for all users instead of one per user. Every problem names the inventory key to fix, before anything is
changed. A problem in a user's own entry refuses that user only (the others of the run go on, and the user's host
fails with it); a problem in what users share (a cluster's description, a group's grants, a direct grant, which
makes bindings) stops the run. What the steps return is read by access_results.
"""

from __future__ import annotations

import os
import posixpath
import re

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import KEY_TYPES, RSA_SIZES
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import CLIENT_SIGNER
from ansible_collections.kubeaccess.x509.plugins.module_utils.file_io import read_file, writable_dir_error
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import AUTH_ARG_SPEC
from ansible_collections.kubeaccess.x509.plugins.module_utils.kubeconfig import (
    SERVICE_ACCOUNT_CA, AdminConnection, KubeconfigError, admin_connection, kubeconfig_option, parse, read_kubeconfig)
from ansible_collections.kubeaccess.x509.plugins.module_utils import self_service as self_service_names
from ansible_collections.kubeaccess.x509.plugins.module_utils.policy import POLICY_ARG_SPEC
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import (
    identity_name_error, label_errors, namespace_error, object_name_error, parse_duration, parse_renew_before,
    readable_name, signer_name_error)

MANAGED_LABEL = "kubeaccess.x509/inventory"
GRANT_KEYS = ("cluster_role", "role", "namespace", "clusters", "rules")
EXPECT_KEYS = ("verb", "resource", "namespace", "group", "subresource", "name", "allowed", "clusters")
# How the role's modules reach a cluster as an administrator: their connection options (k8s_auth_options). None of
# them: the in-cluster service account in a pod, else K8S_AUTH_KUBECONFIG, $KUBECONFIG or ~/.kube/config.
CONNECTION_KEYS = ("kubeconfig", "context", "host", "api_key", "ca_cert", "client_cert", "client_key",
                   "validate_certs")
CLUSTER_KEYS = CONNECTION_KEYS + ("server", "ca_source", "ca_file", "approval", "requesters", "policy",
                                  "signer_name", "wait_timeout", "self_service", "self_service_namespace",
                                  "ca_key_host", "ca_key_path", "ca_cert_path", "ca_key_become")
# Where kubeadm keeps the cluster CA on a control-plane host (signing with the CA key, ca_key_host).
DEFAULT_CA_KEY_PATH = "/etc/kubernetes/pki/ca.key"
DEFAULT_CA_CERT_PATH = "/etc/kubernetes/pki/ca.crt"
# How long an approved request may wait for its signer (k8s_csr_approve's wait_timeout).
DEFAULT_WAIT_TIMEOUT = 120
# Policy options the role sets itself for every request: the user's name, groups and key.
POLICY_SET_BY_THE_ROLE = ("expected_user", "allow_any_user", "expected_public_key_fingerprint", "expected_request")
# What the role's requests carry (k8s_csr_request's defaults).
REQUESTED_USAGES = ("client auth",)
ECDSA_BITS = 256
MIN_LIFETIME = 600
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
            report.error(where, "must be a mapping with kubeconfig, or host with credentials (api_key, or client_cert "
                         "and client_key), or neither in a pod (its service account); and optionally context, "
                         "server, ca_source, approval")
            continue
        unknown = sorted(set(spec) - set(CLUSTER_KEYS))
        if unknown:
            report.error(where, f"unknown keys {unknown}; known: {list(CLUSTER_KEYS)}")
        if object_name_error(where, str(name)):
            report.error(where, f"the cluster name {name!r} names kubeconfig entries (rahul@{name}); use lower-case "
                         "letters, digits, '-' and '.'")
        check_connection(spec, where, report)
        if spec.get("approval", "auto") not in ("auto", "manual"):
            report.error(f"{where}.approval", f"{spec.get('approval')!r} is not auto or manual")
        requesters = checked_requesters(spec, where, report)
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
        policy = checked_policy({key: value for key, value in policy.items() if key in POLICY_ARG_SPEC},
                                f"{where}.policy", report)
        signer = spec.get("signer_name", CLIENT_SIGNER)
        error = signer_name_error("signer_name", signer)
        if error:
            report.error(where, error)
        wait_timeout = checked_wait_timeout(spec.get("wait_timeout", DEFAULT_WAIT_TIMEOUT), where, report)
        for text in [] if error else cluster_policy_errors(policy, signer):
            report.error(f"{where}.policy", text)
        self_service = checked_bool(spec.get("self_service", False), f"{where}.self_service", report)
        namespace = spec.get("self_service_namespace", self_service_names.DEFAULT_NAMESPACE)
        error = namespace_error(f"{where}.self_service_namespace", str(namespace))
        if error:
            report.errors.append(error)  # it names the key
        checked[name] = dict(spec, approval=spec.get("approval", "auto"), requesters=requesters, policy=policy,
                             signer_name=signer,
                             wait_timeout=wait_timeout, self_service=self_service, self_service_namespace=namespace,
                             **checked_ca_key(spec, where, report))
    return checked


def checked_requesters(spec, where, report):
    """Who may have made the requests approve.yml approves: the user names of the identities that run onboarding.
    A request is signed by its own key, and its name only says which key that is; anyone who may create CSRs
    could submit one for an inventory user with a key of their own. `spec.username`, set by the API server, is
    what cannot be forged."""
    requesters = spec.get("requesters")
    if spec.get("approval", "auto") != "manual":
        if requesters is not None:
            report.error(f"{where}.requesters", "only applies with approval: manual (with approval: auto the run "
                         "approves the requests it made itself); remove it, or set approval: manual")
        return []
    if requesters is None:
        report.error(f"{where}.requesters", "required with approval: manual: the user names of the identities "
                     "that run onboard.yml (`kubectl auth whoami` with their credential prints it), for example "
                     "[kubeaccess-requester]; approve.yml approves no request made by anyone else")
        return []
    if not isinstance(requesters, list) or not requesters or \
            not all(isinstance(name, str) and name.strip() for name in requesters):
        report.error(f"{where}.requesters", f"{requesters!r} is not a list of user names, for example "
                     "[kubeaccess-requester]")
        return []
    return list(requesters)


def checked_ca_key(spec, where, report):
    """Signing with the cluster CA key on the host that holds it (ca_key_host) instead of through the CSR API."""
    if not spec.get("ca_key_host"):
        extra = [key for key in ("ca_key_path", "ca_cert_path", "ca_key_become") if key in spec]
        if extra:
            report.error(where, f"{extra} only apply with ca_key_host, the inventory host that holds the CA key; add "
                         "it, or remove them")
        return {"ca_key_host": None}
    for key in ("ca_key_host", "ca_key_path", "ca_cert_path"):
        if key in spec and (not isinstance(spec[key], str) or not spec[key].strip()):
            report.error(f"{where}.{key}", "must be a non-empty string")
    if spec.get("approval", "auto") != "auto" or spec.get("self_service"):
        report.error(where, "ca_key_host signs each request in the run, under the policy: it takes neither "
                     "approval: manual nor self_service; remove them, or sign through the CSR API")
    return {"ca_key_path": spec.get("ca_key_path", DEFAULT_CA_KEY_PATH),
            "ca_cert_path": spec.get("ca_cert_path", DEFAULT_CA_CERT_PATH),
            "ca_key_become": checked_bool(spec.get("ca_key_become", True), f"{where}.ca_key_become", report)}


def checked_bool(value, where, report):
    try:
        return boolean(value, strict=True)
    except TypeError:
        report.error(where, f"{value!r} is not true or false")
        return False


def checked_wait_timeout(value, where, report):
    """Seconds (or a duration such as 10m) that a slow signer may take to issue an approved request."""
    seconds = _duration(value) if isinstance(value, (int, str)) else None
    if seconds is None or seconds < 1:
        report.error(f"{where}.wait_timeout", f"{value!r} is not a number of seconds of at least 1 or a duration "
                     "such as 10m")
        return DEFAULT_WAIT_TIMEOUT
    return seconds


def check_connection(spec, where, report):
    """The connection options of a cluster, as its modules will take them. Values are never quoted: a kubeconfig
    dict and api_key hold credentials."""
    if "kubeconfig" in spec:
        kubeconfig = spec["kubeconfig"]
        if isinstance(kubeconfig, dict):
            try:
                read_kubeconfig(kubeconfig_option(kubeconfig)).context_name(spec.get("context") or None)
            except KubeconfigError as exc:
                option, _colon, text = str(exc).partition(": ")
                report.error(f"{where}.{option}", text)
        elif not kubeconfig:
            report.error(f"{where}.kubeconfig", "is empty; give the administrator kubeconfig of the cluster (is the "
                         "environment variable it is read from set?)")
        elif not isinstance(kubeconfig, str):
            report.error(f"{where}.kubeconfig", f"is {kind_of(kubeconfig)}; give the path of the administrator "
                         "kubeconfig, or its content as a mapping")
    for key in ("context", "host", "api_key", "ca_cert", "client_cert", "client_key"):
        if key in spec and (not isinstance(spec[key], str) or not spec[key].strip()):
            report.error(f"{where}.{key}", "must be a non-empty string" + (
                " (is the environment variable it is read from set?)" if isinstance(spec[key], str) else ""))
    host = spec.get("host")
    if isinstance(host, str) and host.strip() and not re.match(r"^https?://[^/\s]", host):
        report.error(f"{where}.host", f"{host!r} is not the URL of an API server, such as https://api.example.com:6443")
    if bool(spec.get("client_cert")) != bool(spec.get("client_key")):
        report.error(where, "client_cert and client_key go together; give both, or neither")
    if "validate_certs" in spec:
        try:
            boolean(spec["validate_certs"], strict=True)
        except TypeError:
            report.error(f"{where}.validate_certs", f"{spec['validate_certs']!r} is not true or false")


def kind_of(value):
    """What a value of the inventory is, as YAML names it (Ansible hands over its own subclasses of int, list...)."""
    kinds = ((bool, "a boolean"), (int, "a number"), (float, "a number"), (list, "a list"), (str, "a string"))
    return next((name for kind, name in kinds if isinstance(value, kind)), f"a {type(value).__name__}")


def checked_policy(policy, where, report):
    """The policy's values converted as k8s_csr_approve converts them ("3600" is a number), or reported."""
    spec = {option: {k: v for k, v in POLICY_ARG_SPEC[option].items() if k != "default"} for option in policy}
    checked = ArgumentSpecValidator(spec).validate(policy)
    for message in checked.error_messages:
        report.error(where, message)
    return {option: value for option, value in checked.validated_parameters.items() if value is not None} \
        if not checked.error_messages else {}


def policy_value(policy, option):
    return policy[option] if policy.get(option) is not None else POLICY_ARG_SPEC[option].get("default")


def cluster_policy_errors(policy, signer):
    """What in a cluster's policy no request of the role could ever pass, or the role sets itself."""
    errors = [f"{option}: the role sets it for every request (the user's name, groups and key); remove it"
              for option in POLICY_SET_BY_THE_ROLE if option in policy]
    signers = policy_value(policy, "allowed_signers")
    if signer not in signers:
        errors.append(f"allowed_signers: {signers} does not include {signer}, the cluster's signer_name that the "
                      "role's requests name; add it to allowed_signers, or set signer_name to one of them")
    usages = policy_value(policy, "allowed_usages")
    missing = [usage for usage in REQUESTED_USAGES if usage not in usages]
    if missing:
        errors.append(f"allowed_usages: {usages} does not include {missing}, which the role's requests carry; add it")
    return errors


def user_policy_errors(cluster, policy, lifetime, groups, key):
    """Each user's own settings against the cluster's approval policy, naming the user's key and the policy's."""
    where = f"user_access_clusters.{cluster}.policy"
    errors = []
    maximum = policy_value(policy, "max_expiration_seconds")
    if lifetime is not None and lifetime > maximum:
        errors.append(f"user_access_lifetime: {lifetime} s is more than {where}.max_expiration_seconds ({maximum} s); "
                      "shorten the user's lifetime or raise the policy's maximum")
    allowed = policy.get("allowed_groups")
    if allowed is not None:
        extra = [group for group in groups if group not in allowed]
        if extra:
            errors.append(f"user_access_groups: {extra} are not in {where}.allowed_groups {allowed}; remove them "
                          "from the user or allow them in the policy")
    forbidden = [group for group in groups if group in policy_value(policy, "forbidden_groups")]
    if forbidden:
        errors.append(f"user_access_groups: {forbidden} are in {where}.forbidden_groups; remove them from the user")
    if key.get("private_key_type") == "rsa" and key["private_key_size"] < policy_value(policy, "min_rsa_key_size"):
        errors.append(f"user_access_key_size: {key['private_key_size']} bits is below {where}.min_rsa_key_size "
                      f"({policy_value(policy, 'min_rsa_key_size')}); give a larger size")
    if key.get("private_key_type") == "ecdsa" and ECDSA_BITS < policy_value(policy, "min_ecdsa_key_size"):
        errors.append(f"user_access_key_type: ecdsa (P-256, {ECDSA_BITS} bits) is below "
                      f"{where}.min_ecdsa_key_size ({policy_value(policy, 'min_ecdsa_key_size')}); use rsa")
    return errors


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
            error = namespace_error(f"{here}.namespace", grant["namespace"])
            if error:
                report.errors.append(error)
        on = grant.get("clusters") or list(clusters)
        for name in on:
            if name not in clusters:
                report.error(f"{here}.clusters", f"cluster {name!r} is not described in user_access_clusters")
        checked.append(dict(grant, clusters=[c for c in on if c in clusters]))
    return checked


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


def plan(users, run_hosts, settings, per_user):
    """Everything the role does for the users of the run, or why it cannot.

    `users`: host -> that user's own variables (every user of the inventory: bindings come from all of them, so that
    a run limited to one user never prunes the others' access); `run_hosts`: the users this run works on;
    `settings`: the role-wide options (access_settings), `per_user`: host -> the user's per-user options.

    Returns `errors` (what users share is wrong: nothing may be done), `warnings` (entries of users outside the run
    that would be refused), `hosts` (each user of the run: user name, and the `errors` that refuse that user alone),
    `users` and `remote_users` (the work entries of the users of the run who are not refused), `requests` (cluster ->
    the k8s_csr_request items of `users`), `host_requests` (host -> the k8s_csr_request items made on the machine
    of a user of `remote_users`), `bindings` (cluster -> the k8s_rbac_binding items) and `endpoints`.
    """
    shared = PlanInput()
    # The label of everything the inventory makes: a bad value would be refused by the API at the first write.
    shared.errors += label_errors("user_access_inventory", {MANAGED_LABEL: settings["inventory"]})
    clusters = check_clusters(settings["clusters"], shared)
    grants_by_group = check_group_grants(settings["group_grants"], clusters, shared)
    bindings = {name: {} for name in clusters}
    entries, refusals = {}, {}
    for host, variables in users.items():
        own = PlanInput()
        entries[host] = list(user_entries(host, variables, clusters, grants_by_group, settings, per_user[host], own))
        refusals[host] = own.errors
        for grant in check_grants(variables.get("user_access_grants") or [], f"{host}: user_access_grants",
                                  clusters, shared):
            add_binding(bindings, grant, "User", user_name(host, variables), settings["inventory"], shared)
    for group, grants in grants_by_group.items():
        for grant in grants:
            add_binding(bindings, grant, "Group", group, settings["inventory"], shared)
    for host, text in shared_identities(entries):
        refusals[host].append(text)
    for host_entries in entries.values():
        for entry in (e for e in host_entries if "self_service" in e):
            item = self_service_bindings(entry, settings["inventory"])
            bindings[entry["cluster"]][("cluster", item["name"])] = item
    work = {"hosts": {}, "users": [], "remote_users": [], "self_service_users": [], "ca_key_users": [], "warnings": []}
    for host in users:
        if host not in run_hosts:
            work["warnings"] += [f"{host} (not in this run): {text}" for text in refusals[host]]
            continue
        work["hosts"][host] = {"user": user_name(host, users[host]), "errors": refusals[host]}
        if not refusals[host]:
            for entry in entries[host]:
                work[work_list(entry, clusters)].append(entry)
    endpoints = cluster_endpoints(clusters, sorted({e["cluster"] for e in work["remote_users"]}), shared)
    requests = {name: [entry["request"] for entry in work["users"] if entry["cluster"] == name] for name in clusters}
    # Where each cluster's CA key is, and what it signs in this run (never credentials: the loop prints these).
    ca_key_clusters = {name: {"host": spec["ca_key_host"], "ca_key_path": spec["ca_key_path"],
                              "ca_cert_path": spec["ca_cert_path"], "become": spec["ca_key_become"],
                              "requests": [e["request"] for e in work["ca_key_users"] if e["cluster"] == name]}
                       for name, spec in clusters.items() if spec["ca_key_host"]}
    host_requests = {}
    for entry in work["remote_users"]:
        host_requests.setdefault(entry["host"], []).append(entry["on_host"]["request"])
    # Where self-service is in use: offboarding deletes the offboarded users' ServiceAccounts there.
    self_service_clusters = sorted({name for name, spec in clusters.items() if spec["self_service"]}
                                   | {e["cluster"] for es in entries.values() for e in es if "self_service" in e})
    return dict(work, errors=shared.errors, endpoints=endpoints, requests=requests, host_requests=host_requests,
                bindings={name: list(items.values()) for name, items in bindings.items()},
                self_service_clusters=self_service_clusters, ca_key_clusters=ca_key_clusters)


def work_list(entry, clusters):
    """Which steps serve the entry: the CSR API's (users), a user's own machine's, self-service, or the CA key's."""
    if "self_service" in entry:
        return "self_service_users"
    if "on_host" in entry:
        return "remote_users"
    return "ca_key_users" if clusters[entry["cluster"]]["ca_key_host"] else "users"


def check_group_grants(group_grants, clusters, report):
    grants_by_group = {}
    if not isinstance(group_grants, dict):
        report.error("user_access_group_grants", "must map each Kubernetes group to its grants")
        return grants_by_group
    for group, grants in group_grants.items():
        group = str(group)
        error = identity_name_error(f"user_access_group_grants.{group}", group, override="")
        if error:
            report.errors.append(error)  # it names the key
        grants_by_group[group] = check_grants(grants, f"user_access_group_grants.{group}", clusters, report)
        if not grants:
            report.error(f"user_access_group_grants.{group}", "has no grants; give it at least one (e.g. "
                         "[{cluster_role: view, namespace: dev}]) or remove the group")
    return grants_by_group


def user_name(host, variables):
    return str(variables.get("user_access_name") or host)


def shared_identities(entries):
    """(host, error) for users who would share a Kubernetes identity on a cluster, or a file on the controller:
    each of them is refused, naming the other."""
    owners = {}
    for host, host_entries in entries.items():
        for entry in host_entries:
            owners.setdefault(("name", entry["cluster"], entry["user"]), set()).add(host)
            for path in controller_paths(entry):
                owners.setdefault(("path", path), set()).add(host)
    for key, hosts in owners.items():
        for host in sorted(hosts) if len(hosts) > 1 else ():
            others = ", ".join(sorted(hosts - {host}))
            if key[0] == "name":
                yield host, (f"user_access_name: {key[2]!r} on cluster {key[1]} is also the user name of {others}; "
                             "two users cannot share one Kubernetes identity: give each its own user_access_name")
            else:
                yield host, (f"its file {key[1]} is also {others}'s; give each user its own user_access_key_dir "
                             "or user_access_kubeconfig_path")


def connection_params(spec):
    """A cluster's connection options as the role's modules get them: its own, else (as the modules' fallbacks)
    the K8S_AUTH_* environment variables of the controller, where they run."""
    params = {}
    for option in CONNECTION_KEYS:
        value = spec.get(option)
        if value is None and AUTH_ARG_SPEC[option].get("fallback"):
            value = next((os.environ[name] for name in AUTH_ARG_SPEC[option]["fallback"][1] if name in os.environ),
                         None)
        if isinstance(value, str) and AUTH_ARG_SPEC[option]["type"] == "path":
            value = os.path.expanduser(os.path.expandvars(value))
        params[option] = value
    return params


def cluster_endpoints(clusters, names, report):
    """Server URL and CA (PEM text) of each named cluster, for kubeconfigs written on the users' own machines: from
    the cluster's description (server; ca_file with ca_source file) or else its admin connection (kubeconfig, or
    host and ca_cert), read here; in a pod, the CA of its service account."""
    endpoints = {}
    for name in names:
        spec = clusters[name]
        where = f"user_access_clusters.{name}"
        if spec.get("ca_source") == "configmap":
            continue  # reported with each user of the cluster
        try:
            connection = admin_connection(connection_params(spec)) or AdminConnection(
                None, read_file(SERVICE_ACCOUNT_CA), None, "the in-cluster service account")
        except KubeconfigError as exc:
            report.error(where, f"{exc} (needed for the kubeconfigs of users with ansible_host)")
            continue
        if connection.server is None and not spec.get("server"):
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
    if "self_service" in entry:
        return ()
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


def user_identity(host, variables, grants_by_group, settings, report):
    """The user's name and groups (certificate CN and O), checked."""
    user = user_name(host, variables)
    # The role never asks for a system: name (no approval policy passes one), so no override is offered.
    error = identity_name_error("user_access_name", user, override="")
    if error:
        report.error(host, error + (
            " (the inventory host name is the user name unless user_access_name is set)"
            if not variables.get("user_access_name") else ""))
    groups = variables.get("user_access_groups")
    if groups is None:
        groups = []
    if not isinstance(groups, list):
        report.error(host, "user_access_groups: must be a list of Kubernetes groups, e.g. [developers]")
        groups = []
    groups = [str(group) for group in groups]
    for group in groups:
        error = identity_name_error("user_access_groups", group, override="")
        if error:
            report.error(host, error)
        elif group not in grants_by_group:
            report.error(host, f"user_access_groups: group {group!r} has no grants; add it to "
                         f"user_access_group_grants (e.g. {group}: [{{cluster_role: view, namespace: dev}}]) or "
                         "remove it from the user")
    if not groups and settings["require_groups"] and not variables.get("user_access_grants"):
        report.error(host, "user_access_groups: the user is in no group and has no user_access_grants, so the "
                     "certificate would grant nothing; add groups, or set user_access_require_groups: false")
    return user, groups


def user_entries(host, variables, clusters, grants_by_group, settings, own_settings, report):
    """One work entry per cluster the user is on."""
    where = host
    user, groups = user_identity(host, variables, grants_by_group, settings, report)
    lifetime_given = own_settings["lifetime"]
    lifetime = _duration(lifetime_given)
    if lifetime is None or lifetime < MIN_LIFETIME:
        report.error(where, f"user_access_lifetime: {lifetime_given!r} is not a duration of at least 10m (e.g. 24h, "
                     "7d)")
        lifetime = None
    renew_before = own_settings["renew_before"]
    try:
        parse_renew_before(renew_before)
    except ValueError as exc:
        report.error(where, f"user_access_renew_before: {str(exc).removeprefix('renew_before: ')}")
    if settings["force_renewal"]:
        # A window longer than any certificate puts every certificate inside it.
        renew_before = FORCE_RENEWAL_WINDOW
    namespace = str(variables.get("user_access_namespace") or "default")
    error = namespace_error("user_access_namespace", namespace)
    if error:
        report.error(where, error)
    on = variables.get("user_access_user_clusters") or list(clusters)
    if not isinstance(on, list):
        report.error(where, "user_access_user_clusters: must be a list of names from user_access_clusters")
        on = []
    for name in on:
        if name not in clusters:
            report.error(where, f"user_access_user_clusters: cluster {name!r} is not described in "
                         f"user_access_clusters (described: {sorted(clusters)})")
    key = key_settings(own_settings, where, report)
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
    for option, path in checked_paths if not self_service_everywhere(variables, clusters, on) else ():
        error = writable_dir_error(option, path)
        if error:
            report.error(where, error)
    if not remote and os.path.isfile(kubeconfig):
        try:
            parse(read_file(kubeconfig) or b"", kubeconfig, "user_access_kubeconfig_path")
        except KubeconfigError as exc:
            report.error(where, str(exc))
    expectations = checked_expectations(variables, where, clusters, report)
    own_self_service = None
    if "user_access_self_service" in variables:
        own_self_service = checked_bool(variables["user_access_self_service"], f"{where}: user_access_self_service",
                                        report)
    for cluster in (c for c in on if c in clusters):
        self_service = clusters[cluster]["self_service"] if own_self_service is None else own_self_service
        if self_service:
            yield from self_service_entry(host, user, groups, cluster, clusters[cluster], remote, lifetime,
                                          expectations, settings["inventory"], report)
            continue
        if remote and clusters[cluster].get("ca_source") == "configmap":
            report.error(where, f"ansible_host: the CA of cluster {cluster} comes from the kube-root-ca.crt ConfigMap "
                         f"(user_access_clusters.{cluster}.ca_source), which only the controller reads; for users with "
                         "keys on their own machine use ca_source connection or file")
        for text in user_policy_errors(cluster, clusters[cluster]["policy"], lifetime, groups, key):
            report.error(where, text)
        # The certificate is public: the controller keeps it (or a copy) for renewal, audit and offboarding.
        certificate_path = posixpath.join(controller_dir if remote else key_dir, f"{cluster}.crt")
        request = {"user": user, "groups": list(groups), "certificate_path": certificate_path,
                   "expiration_seconds": lifetime, "renew_before": str(renew_before),
                   "labels": {MANAGED_LABEL: settings["inventory"]}, "signer_name": clusters[cluster]["signer_name"]}
        ca_key = bool(clusters[cluster]["ca_key_host"])
        if remote and ca_key:
            report.error(where, f"ansible_host: cluster {cluster} signs with its CA key (ca_key_host), which this "
                         "collection does for keys kept on the controller only; remove ansible_host for the user")
        if not remote:
            # Signed where the CA key lives, not through the CSR API; a rotated key's kubeconfig would need the
            # pipeline that replaces it, so keys are kept there.
            new_key = dict(key, submit=False, rotate_key=False) if ca_key else key
            request.update(private_key_path=posixpath.join(key_dir, f"{cluster}.key"), **new_key)
        entry = {
            "host": host, "user": user, "groups": list(groups), "cluster": cluster,
            "approval": clusters[cluster]["approval"], "kubeconfig_path": kubeconfig, "namespace": namespace,
            "request": request,
            "approval_policy": dict(clusters[cluster]["policy"], expected_user=user, allowed_groups=list(groups),
                                    certificate_path=certificate_path, wait=True,
                                    wait_timeout=clusters[cluster]["wait_timeout"]),
            "expect": [{k: v for k, v in e.items() if k != "clusters"} for e in expectations
                       if cluster in (e.get("clusters") or [cluster])],
        }
        if remote:
            # A key on the user's machine is kept at renewal: the controller cannot see it verified there.
            new_key = {option: value for option, value in key.items() if option != "rotate_key"}
            entry["on_host"] = {
                "request": {"user": user, "groups": list(groups), "private_key_path": posixpath.join(
                    key_dir, f"{cluster}.key"), "submit": False, **new_key},
                "certificate_path": posixpath.join(key_dir, f"{cluster}.crt"),
                "ca_path": posixpath.join(key_dir, f"{cluster}-ca.crt"),
            }
        yield entry


def self_service_entry(host, user, groups, cluster, spec, remote, lifetime, expectations, inventory, report):
    """A user who requests their own certificate (playbooks/request.yml on their machine) through a ServiceAccount
    the role makes on the cluster; the approval checks the request against what that account publishes."""
    if remote:
        report.error(host, "user_access_self_service: the user requests their certificate from their own machine "
                     "with playbooks/request.yml, so the role makes no key there: remove ansible_host, or turn "
                     "self-service off for the user")
    if not groups:
        report.error(host, "user_access_self_service: the user is in no group, so their ServiceAccount would "
                     "publish nothing to request; give the user user_access_groups")
    for text in user_policy_errors(cluster, spec["policy"], lifetime, groups, {}):
        report.error(host, text)
    namespace = spec["self_service_namespace"]
    yield {
        "host": host, "user": user, "groups": list(groups), "cluster": cluster, "approval": spec["approval"],
        "approval_policy": dict(spec["policy"], expected_user=user, allowed_groups=list(groups),
                                allowed_signers=[spec["signer_name"]], wait=False),
        "expect": [{k: v for k, v in e.items() if k != "clusters"} for e in expectations
                   if cluster in (e.get("clusters") or [cluster])],
        "self_service": {"namespace": namespace, "service_account": self_service_names.account_name(user),
                         "csr_name": self_service_names.csr_name(user),
                         "requester": self_service_names.requester(namespace, user)},
        # The k8s_self_service_account item of the user on this cluster.
        "self_service_account": {"user": user, "groups": list(groups), "namespace": namespace,
                                 "labels": {MANAGED_LABEL: inventory}},
    }


def self_service_bindings(entry, inventory):
    """What the user's ServiceAccount may do: create certificate requests, and read, watch and replace only the one
    it is named for; read only itself (its annotations say what it may request). A ClusterRoleBinding: RBAC cannot
    limit create to a name, and a ServiceAccount's own namespace need not exist when the bindings are made."""
    described = entry["self_service"]
    csrs = {"api_groups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"]}
    rules = [dict(csrs, verbs=["create"]),
             dict(csrs, verbs=["get", "watch", "delete"], resource_names=[described["csr_name"]]),
             {"api_groups": [""], "resources": ["serviceaccounts"], "verbs": ["get"],
              "resource_names": [described["service_account"]]}]
    role = f"kubeaccess-self-service-{readable_name(entry['user'], 40)}"
    return {"name": role, "role_kind": "ClusterRole", "role_name": role, "rules": rules,
            "subjects": [{"kind": "ServiceAccount", "name": described["service_account"],
                          "namespace": described["namespace"]}],
            "labels": {MANAGED_LABEL: inventory}, "subjects_mode": "exact"}


def checked_expectations(variables, where, clusters, report):
    expectations = variables.get("user_access_expect") or []
    if not isinstance(expectations, list):
        report.error(where, "user_access_expect: must be a list such as [{verb: list, resource: pods, namespace: "
                     "dev, allowed: true}]")
        return []
    checked = []
    for index, expectation in enumerate(expectations):
        if not isinstance(expectation, dict) or not expectation.get("verb") or not expectation.get("resource") \
                or not isinstance(expectation.get("allowed"), bool) or set(expectation) - set(EXPECT_KEYS):
            report.error(f"{where}: user_access_expect[{index}]", f"must have verb, resource and allowed (true or "
                         f"false), optionally {list(EXPECT_KEYS[2:-2])} and clusters")
        elif [c for c in expectation.get("clusters") or [] if c not in clusters]:
            report.error(f"{where}: user_access_expect[{index}].clusters", "names clusters not described in "
                         f"user_access_clusters: {[c for c in expectation['clusters'] if c not in clusters]}")
        else:
            checked.append(expectation)
    return checked


def self_service_everywhere(variables, clusters, on):
    """The user has no files the role writes: self-service on every cluster they are on."""
    own = variables.get("user_access_self_service")
    return all((clusters[c]["self_service"] if own is None else own is True) for c in on if c in clusters)


def key_settings(own_settings, where, report):
    """The request options of a new key: user_access_key_type ecdsa (P-256) or rsa, user_access_key_size for RSA,
    and whether renewal makes a new key (user_access_rotate_key)."""
    key_type = str(own_settings["key_type"])
    if key_type not in KEY_TYPES:
        report.error(where, f"user_access_key_type: {key_type!r} is not one of {list(KEY_TYPES)}")
        return {}
    try:
        rotate = boolean(own_settings["rotate_key"], strict=True)
    except TypeError:
        report.error(where, f"user_access_rotate_key: {own_settings['rotate_key']!r} is not true or false")
        return {}
    if key_type != "rsa":
        return {"private_key_type": key_type, "rotate_key": rotate}
    size = own_settings["key_size"]
    if str(size) not in [str(choice) for choice in RSA_SIZES]:
        report.error(where, f"user_access_key_size: {size!r} is not one of {list(RSA_SIZES)} (bits of an RSA key)")
        return {}
    return {"private_key_type": "rsa", "private_key_size": int(size), "rotate_key": rotate}


def user_files(user, base_dir, cluster=None):
    """Where a user's files are kept by default: <base_dir>/<user>/{<cluster>.key,<cluster>.crt,kubeconfig}."""
    directory = posixpath.join(os.path.expanduser(base_dir), readable_name(user, 64))
    files = {"dir": directory, "kubeconfig": posixpath.join(directory, "kubeconfig")}
    if cluster:
        files.update(private_key_path=posixpath.join(directory, f"{cluster}.key"),
                     certificate_path=posixpath.join(directory, f"{cluster}.crt"))
    return files
