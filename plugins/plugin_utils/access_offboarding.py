# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offboarding with the user_access role: what the offboarded users had, read before anything is removed, and the
report of what was deleted where and what still grants access.

A certificate cannot be revoked: until its NotAfter, whatever grants its user name or its groups still applies,
whoever made the binding. The report says so with every such binding, and says where a key is that this run could
not reach. A name of which nothing is found is reported as such, since a typo must not pass for an offboarding.
"""

from __future__ import annotations

import datetime
import os

from ansible_collections.kubeaccess.x509.plugins.module_utils import self_service
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import Certificate, CryptoInputError
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import MANAGED_BY, default_name
from ansible_collections.kubeaccess.x509.plugins.module_utils.file_io import read_file
from ansible_collections.kubeaccess.x509.plugins.module_utils.kubeconfig import KubeconfigError, parse
from ansible_collections.kubeaccess.x509.plugins.plugin_utils.access_plan import REMOTE_KEY_DIR, user_files
from ansible_collections.kubeaccess.x509.plugins.plugin_utils.access_results import cluster_results, looped_result

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


def found_on_controller(users, base_dir, clusters):
    """{"users": user -> what the controller holds of theirs: the directory, the kubeconfig's contexts, and per
    cluster the key (its path, never its content) and the certificate's facts; "dirs": the directories to remove}.
    Read before anything is removed."""
    found = {}
    for user in users:
        files = user_files(user, base_dir)
        described = {"user": user, "dir": files["dir"] if os.path.isdir(files["dir"]) else None,
                     "contexts": _contexts(files["kubeconfig"]), "clusters": {}}
        for cluster in clusters:
            paths = user_files(user, base_dir, cluster)
            described["clusters"][cluster] = {
                "private_key_path": paths["private_key_path"], "certificate_path": paths["certificate_path"],
                "key": os.path.exists(paths["private_key_path"]),
                "certificate": _certificate_facts(read_file(paths["certificate_path"]))}
        found[user] = described
    return {"users": found, "dirs": [d["dir"] for d in found.values() if d["dir"]]}


def _contexts(path):
    data = read_file(path)
    if data is None:
        return None
    try:
        config = parse(data, path) or {}
    except KubeconfigError:
        return []
    return [entry.get("name") for entry in config.get("contexts") or []]


def _certificate_facts(pem):
    if not pem:
        return None
    try:
        cert = Certificate(pem)
    except CryptoInputError:
        return None
    return dict(cert.describe(), expired=cert.remaining_seconds() <= 0,
                csr_name=default_name(cert.common_name, cert.fingerprint))


def groups_of(found, cluster):
    """The groups of the offboarded users' certificates on `cluster`: what their certificates still carry."""
    return sorted({group for described in found["users"].values()
                   for group in ((described["clusters"][cluster]["certificate"] or {}).get("groups") or [])})


def csr_items(found, cluster, access, inventory):
    """k8s_csr_request state=absent items for the CSRs of the offboarded users on `cluster`: the CSR of the key on
    the controller or of the certificate (a key on the user's machine), and every other CSR this inventory made for
    their names (older keys, pending requests that someone could still approve), from `access` (the registered
    k8s_access_info results, looped over the clusters)."""
    items, named = [], set()
    for user, described in found["users"].items():
        on_cluster = described["clusters"][cluster]
        if on_cluster["key"] or on_cluster["certificate"]:
            items.append({"user": user, "private_key_path": on_cluster["private_key_path"],
                          "certificate_path": on_cluster["certificate_path"]})
            named.add((on_cluster["certificate"] or {}).get("csr_name"))
    for csr in looped_result(access, cluster).get("csrs") or []:
        if csr["user"] in found["users"] and _ours(csr, inventory) and csr["name"] not in named:
            items.append({"name": csr["name"]})
    return items


def account_items(found, cluster, plan, access, bindings):
    """k8s_self_service_account state=absent items for the offboarded users' ServiceAccounts on `cluster`: deleting
    one ends its tokens at once. Found where self-service is in use now (in the cluster's self_service_namespace),
    and, for a user the inventory no longer describes, by what the account left: a binding of theirs that this run
    pruned, or a request it made (spec.username names its namespace)."""
    items = set()
    if cluster in plan["self_service_clusters"]:
        described = plan["settings"]["clusters"][cluster] or {}
        namespace = described.get("self_service_namespace", self_service.DEFAULT_NAMESPACE)
        items |= {(user, namespace) for user in found["users"]}
    accounts = {self_service.account_name(user): user for user in found["users"]}
    for entry in looped_result(bindings, cluster).get("pruned") or []:
        for subject in entry.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount" and subject.get("name") in accounts and subject.get("namespace"):
                items.add((accounts[subject["name"]], subject["namespace"]))
    for csr in looped_result(access, cluster).get("csrs") or []:
        namespace, _colon, name = (csr.get("requester") or "").removeprefix(SERVICE_ACCOUNT_PREFIX).rpartition(":")
        if (csr.get("requester") or "").startswith(SERVICE_ACCOUNT_PREFIX) and accounts.get(name) == csr["user"]:
            items.add((csr["user"], namespace))
    return [{"user": user, "namespace": namespace} for user, namespace in sorted(items)]


def _ours(obj, inventory):
    return obj.get("managed_by") == MANAGED_BY and obj.get("inventory") == inventory


def report(found, clusters, access, bindings, deletions, inventory, check_mode=False, accounts=None):
    """{"lines": user -> lines, "not_found": [users]}: what was deleted where, what could not be reached, and what
    still grants each user's name or certificate's groups something, ours or not, until when.

    `access`, `bindings` and `deletions` are the registered results, looped over the clusters, of k8s_access_info
    (read before anything was removed), k8s_rbac_binding (its `pruned`) and k8s_csr_request state=absent.
    """
    lines, not_found = {}, []
    for user, described in found["users"].items():
        user_lines = _controller_lines(described, check_mode)
        anything = described["dir"] is not None
        for cluster in clusters:
            cluster_lines, seen = _cluster_lines(user, described, cluster, looped_result(access, cluster),
                                                 looped_result(bindings, cluster), cluster_results(deletions, cluster),
                                                 inventory, check_mode)
            for account in cluster_results(accounts, cluster):
                if account.get("user") == user and account.get("action") == "delete":
                    seen = True
                    cluster_lines.insert(0, f"self-service ServiceAccount {account['namespace']}/{account['name']} "
                                            f"{_deleted(check_mode)}: its tokens no longer work")
            anything |= seen
            user_lines += [f"{cluster}: {line}" for line in cluster_lines]
        if not anything:
            not_found.append(user)
            user_lines = [f"nothing of {user!r} found on the controller ({described['dir'] or 'no directory'}) or on "
                          f"the clusters {', '.join(clusters)}: check the name"]
        lines[user] = user_lines
    return {"lines": lines, "not_found": not_found}


def _controller_lines(described, check_mode):
    user = described["user"]
    if described["dir"] is None:
        return []
    held = []
    for cluster, on_cluster in described["clusters"].items():
        held += [f"key {cluster}.key"] * on_cluster["key"] + [f"certificate {cluster}.crt"] * bool(
            on_cluster["certificate"])
    if described["contexts"] is not None:
        held.append(f"kubeconfig (contexts {', '.join(described['contexts']) or 'none'})")
    lines = [f"{_deleted(check_mode)} on the controller: {described['dir']} ({', '.join(held) or 'empty'})"]
    for cluster, on_cluster in described["clusters"].items():
        if on_cluster["certificate"] and not on_cluster["key"]:
            lines.append(f"{cluster}: the key of this certificate was never on the controller: it is on {user}'s own "
                         "machine, which this run cannot reach (the user is no longer in the inventory). Delete it "
                         f"there (by default {REMOTE_KEY_DIR}/{cluster}.key) with the {user}@{cluster} entries of "
                         "~/.kube/config")
    return lines


def _deleted(check_mode):
    return "would be deleted (check mode)" if check_mode else "deleted"


def _issued_certificate(csrs):
    """The facts of the latest certificate issued through one of `csrs`, for a user whose certificate the controller
    never held (a self-service user's)."""
    issued = sorted((csr for csr in csrs if csr.get("certificate_not_after")), key=lambda c: c["certificate_not_after"])
    if not issued:
        return None
    latest = issued[-1]
    expired = _parse_time(latest["certificate_not_after"]) <= datetime.datetime.now(datetime.timezone.utc)
    return {"serial": latest["certificate_serial"], "common_name": latest["user"], "groups": latest["groups"],
            "not_after": latest["certificate_not_after"], "expired": expired, "csr_name": latest["name"]}


def _parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def _cluster_lines(user, described, cluster, access, bindings, deletions, inventory, check_mode):
    """Lines about `user` on `cluster`, and whether anything of the user's was there."""
    csrs = [csr for csr in access.get("csrs") or [] if csr["user"] == user]
    certificate = described["clusters"][cluster]["certificate"] or _issued_certificate(csrs)
    deleted = {result["name"]: result.get("phase_before") for result in deletions
               if result.get("action") == "delete" and result.get("name")}
    lines = []
    mine = [f"{name} ({deleted[name]})" for name in sorted(deleted)
            if name in {csr["name"] for csr in csrs} or name == (certificate or {}).get("csr_name")]
    if mine:
        lines.append(f"CSRs {_deleted(check_mode)}: {', '.join(mine)}")
    for csr in csrs:
        if csr["name"] not in deleted:
            lines.append(f"CSR {csr['name']} ({csr['phase']}, not made by this inventory) is still on the cluster: "
                         f"delete it, or deny it if it is pending (kubectl certificate deny {csr['name']}), so that "
                         "nobody approves it")
    removed = [entry for entry in bindings.get("pruned") or []
               if {"kind": "User", "name": user} in (entry.get("subjects") or [])]
    if removed:
        lines.append(f"bindings {_deleted(check_mode)}: " + ", ".join(
            f"{entry['kind']} {entry['namespace'] + '/' if entry.get('namespace') else ''}{entry['name']}"
            for entry in removed))
    gone = {(entry["kind"], entry.get("namespace"), entry["name"]) for entry in bindings.get("pruned") or []}
    groups = (certificate or {}).get("groups") or []
    still = [binding for binding in access.get("bindings") or []
             if (binding["kind"], binding["namespace"], binding["name"]) not in gone
             and any((s["kind"] == "User" and s["name"] == user) or (s["kind"] == "Group" and s["name"] in groups)
                     for s in binding["subjects"])]
    shown = [f"{b['description']}{', this inventory' if _ours(b, inventory) else ', not made by this inventory'}"
             for b in still]
    if certificate and certificate["expired"]:
        lines.append(f"the certificate (serial {certificate['serial']}) expired at {certificate['not_after']}: it "
                     "grants nothing")
    elif certificate:
        lines.append(
            f"the certificate (serial {certificate['serial']}, CN {certificate['common_name']}, groups "
            f"{', '.join(groups) or '(none)'}) cannot be revoked and is valid until {certificate['not_after']}. "
            + (f"Until then these bindings still grant it access: {'; '.join(shown)}. To cut it now, remove those "
               "grants (a group's apply to every member of the group)." if shown else
               "No binding on the cluster grants its name or groups anything any more."))
    elif shown:
        lines.append(f"still bound by name (a certificate for {user} from anyone who can approve one would get "
                     f"them): {'; '.join(shown)}")
    return lines, bool(certificate or csrs or removed or shown or mine)
