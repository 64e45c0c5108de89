# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit report of the user_access role (playbooks/audit.yml): what each cluster grants to whom, whoever made the
binding, each inventory user's certificate, approval and kubeconfig, and the drift between the cluster and the
inventory, worst first. Its shape is docs/audit-report.schema.json.

Read-only: the report is built from the clusters' bindings, roles and CSRs (k8s_access_info), the certificates kept
on the controller, and a SelfSubjectReview with each kubeconfig the controller holds.
"""

from __future__ import annotations

import datetime
import os

from ansible_collections.kubeaccess.x509.plugins.module_utils.backends.kubeconfig_user import (
    access_review, credential_problems, self_subject_review)
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import Certificate, CryptoInputError
from ansible_collections.kubeaccess.x509.plugins.module_utils.file_io import read_file, writable_dir_error
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import KubeClient, KubeError
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import parse_renew_before

SCHEMA_VERSION = 1
CLUSTER_WIDE = "cluster-wide"
SEVERITY = {"cluster_unreachable": "critical", "unlisted_grant": "critical", "kubeconfig_failed": "critical",
            "certificate_expired": "warning", "certificate_missing": "warning", "certificate_renewal_due": "warning",
            "missing_grant": "warning", "pending_csr": "warning"}
# Kubernetes adds this group to every authenticated user: what it is granted, every user has.
AUTHENTICATED = "system:authenticated"
PENDING_TOO_LONG_HOURS = 24
# How the report's directory is given: the role's option, which playbooks/audit.yml sets from -e audit_dir.
REPORT_DIR_OPTION = "user_access_audit_dir (audit.yml: -e audit_dir)"
GARBAGE_COLLECTED = ("CSR already garbage-collected (kube-controller-manager deletes issued requests after an "
                     "hour): the approval is not on the cluster any more")


def report_paths(report_dir, inventory):
    """Where the report is written ({json, html}), and why it cannot be written there (None when it can)."""
    base = os.path.join(os.path.abspath(os.path.expanduser(report_dir)), f"audit-{inventory}")
    paths = {"json": base + ".json", "html": base + ".html"}
    return paths, writable_dir_error(REPORT_DIR_OPTION, paths["json"])


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def _scope(binding):
    return binding["namespace"] or CLUSTER_WIDE


def _binding_source(binding):
    return f"{binding['namespace']}/{binding['name']}" if binding["namespace"] else binding["name"]


def _made_by(row):
    if not row["managed_by"]:
        return "someone else"
    return row["managed_by"] + (f" for the inventory {row['inventory']}" if row["inventory"] else "")


def inventory_subjects(the_plan):
    """(kind, name) of the users of the audit and of every group the inventory grants or gives a user."""
    entries = audited_entries(the_plan)
    subjects = {("User", entry["user"]) for entry in entries}
    subjects |= {("Group", group) for entry in entries for group in entry["groups"]}
    subjects |= {("Group", group) for group in the_plan["settings"].get("group_grants") or {}}
    for items in the_plan["bindings"].values():
        subjects |= {(s["kind"], s["name"]) for item in items for s in item["subjects"]}
    return subjects


def listed_grants(the_plan, cluster):
    """(subject kind, subject, scope, role kind, role) of every grant the inventory makes on `cluster`."""
    return {(subject["kind"], subject["name"], item.get("namespace") or CLUSTER_WIDE, item["role_kind"],
             item["role_name"])
            for item in the_plan["bindings"].get(cluster) or [] for subject in item["subjects"]}


def grant_rows(bindings, subjects, listed):
    """One row per subject of each binding: rbac-lookup's wide output, and whether the inventory lists it."""
    rows = []
    for binding in bindings:
        for subject in binding["subjects"]:
            key = (subject["kind"], subject["name"], _scope(binding), binding["role_ref"]["kind"],
                   binding["role_ref"]["name"])
            rows.append({
                "subject_kind": subject["kind"], "subject": subject["name"], "scope": _scope(binding),
                "role_kind": binding["role_ref"]["kind"], "role": binding["role_ref"]["name"],
                "binding_kind": binding["kind"], "binding": _binding_source(binding),
                "managed_by": binding.get("managed_by"), "inventory": binding.get("inventory"),
                "inventory_subject": (subject["kind"], subject["name"]) in subjects, "listed": key in listed})
    return sorted(rows, key=lambda r: (r["subject_kind"], r["subject"], r["scope"], r["role"], r["binding"]))


def access_rows(bindings, user, groups):
    """What `user` with `groups` may do by RBAC, from the rules of the roles bound to them (rakkess's matrix): one
    row per scope, API group and resource with its verbs. Non-resource URLs are left out."""
    verbs = {}
    mine = {("User", user)} | {("Group", group) for group in list(groups) + [AUTHENTICATED]}
    for binding in bindings:
        if not any((s["kind"], s["name"]) in mine for s in binding["subjects"]):
            continue
        for rule in binding.get("rules") or []:
            names = rule.get("resourceNames") or []
            for api_group in rule.get("apiGroups") or []:
                for resource in rule.get("resources") or []:
                    shown = f"{resource} [names: {', '.join(names)}]" if names else resource
                    verbs.setdefault((_scope(binding), api_group, shown), set()).update(rule.get("verbs") or [])
    return [{"scope": scope, "api_group": api_group, "resource": resource, "verbs": sorted(granted)}
            for (scope, api_group, resource), granted in sorted(verbs.items())]


def certificate_facts(path, renew_before, now):
    """The certificate kept on the controller and where it stands; (Certificate or None, facts)."""
    facts = {"path": path, "state": "missing", "not_after": None, "days_left": None, "serial": None, "groups": []}
    pem = read_file(path)
    if pem is None:
        return None, facts
    try:
        cert = Certificate(pem)
    except CryptoInputError:
        return None, dict(facts, state="unreadable")
    state = "valid"
    if cert.remaining_seconds(now) <= 0:
        state = "expired"
    elif cert.in_renewal_window(parse_renew_before(renew_before), now):
        state = "renewal_due"
    return cert, dict(facts, state=state, not_after=_iso(cert.not_after),
                      days_left=round(cert.remaining_seconds(now) / 86400, 2), serial=cert.serial,
                      groups=cert.organizations)


def audited_entries(the_plan):
    """The users whose certificates the controller keeps: the CSR API's, those with keys on their own machines and
    those of clusters that sign with their CA key (self-service users' certificates are on their machines only)."""
    return the_plan["users"] + the_plan["remote_users"] + the_plan.get("ca_key_users", [])


def approval_facts(cert, user, csrs):
    """Who approved the request that issued `cert`: its CSR's Approved condition, if the cluster still has it."""
    if cert is None:
        return {"csr": None, "reason": None, "message": "no certificate"}
    for csr in csrs:
        if csr["user"] == user and csr.get("certificate_serial") == cert.serial:
            approval = csr.get("approval") or {}
            return {"csr": csr["name"], "reason": approval.get("reason"),
                    "message": approval.get("message") or f"CSR {csr['name']} carries no approval message"}
    return {"csr": None, "reason": None, "message": GARBAGE_COLLECTED}


def verify_kubeconfig(entry, info):
    """{verified, message}: the user's kubeconfig used as the user uses it (its context for the cluster): who the API
    server sees, against the inventory's user, groups and expected access. None where this cannot tell. `info`: the
    cluster's k8s_access_info result."""
    user, cluster = entry["user"], entry["cluster"]
    if info.get("failed"):
        return {"verified": None, "message": "cluster unreachable: not checked"}
    if not os.path.exists(entry["kubeconfig_path"]) and not os.path.exists(entry["request"]["certificate_path"]):
        # One finding (certificate_missing) for a user not onboarded yet, not two.
        return {"verified": None, "message": "not onboarded on this cluster yet: no certificate, no kubeconfig"}
    if "on_host" in entry:
        return {"verified": None, "message": "the kubeconfig is on the user's own machine (ansible_host), with the "
                                             "key; not checked from the controller"}
    path = entry["kubeconfig_path"]
    if not os.path.isfile(path):
        return {"verified": False, "message": f"no kubeconfig at {path} (run onboard.yml)"}
    try:
        client = KubeClient({"kubeconfig": path, "context": f"{user}@{cluster}"})
        seen = self_subject_review(client)
        if seen is None:
            return {"verified": None, "message": "the API server has no SelfSubjectReview (Kubernetes before 1.27): "
                                                 "cannot tell whom it sees"}
        seen["access"] = [access_review(client, expectation) for expectation in entry["expect"]]
    except KubeError as exc:
        return {"verified": False, "message": f"the API server did not accept it: {exc}"}
    problems = credential_problems(seen, user, entry["groups"], entry["expect"])
    if problems:
        return {"verified": False, "message": "; ".join(problems)}
    return {"verified": True, "message": f"authenticates as {user} (groups {', '.join(seen['groups'])})"
                                         + (f"; {len(entry['expect'])} expected access checks pass"
                                            if entry["expect"] else "")}


class Report:
    """Collects the report and its drift."""

    def __init__(self, the_plan, now):
        self.plan = the_plan
        self.now = now
        self.drift = []
        self.subjects = inventory_subjects(the_plan)

    def found(self, kind, cluster, message, user=None, subject=None):
        self.drift.append({"severity": SEVERITY[kind], "kind": kind, "cluster": cluster, "user": user,
                           "subject": subject, "message": message})

    def cluster(self, name, info):
        """The cluster's part of the report, and its grant drift. `info`: k8s_access_info's result, or a failure."""
        if info.get("failed"):
            error = info.get("msg") or "k8s_access_info failed"
            self.found("cluster_unreachable", name, f"cluster {name} could not be read, so nothing of it is in this "
                       f"report: {error}")
            return {"name": name, "reachable": False, "error": error, "grants": [], "pending_csrs": []}
        listed = listed_grants(self.plan, name)
        grants = grant_rows(info["bindings"], self.subjects, listed)
        for row in grants:
            if row["inventory_subject"] and not row["listed"]:
                self.found("unlisted_grant", name, f"{row['binding_kind']} {row['binding']} grants "
                           f"{row['role_kind']} {row['role']} {self._where(row['scope'])} to {row['subject_kind']} "
                           f"{row['subject']}, which the inventory does not list (made by {_made_by(row)})",
                           subject=f"{row['subject_kind']} {row['subject']}", user=row["subject"] if row["subject_kind"] == "User" else None)
        present = {(r["subject_kind"], r["subject"], r["scope"], r["role_kind"], r["role"]) for r in grants}
        for subject_kind, subject, scope, role_kind, role in sorted(listed - present):
            self.found("missing_grant", name, f"the inventory grants {role_kind} {role} {self._where(scope)} to "
                       f"{subject_kind} {subject}, but no binding on the cluster does (run onboard.yml)",
                       subject=f"{subject_kind} {subject}")
        return {"name": name, "reachable": True, "error": None, "grants": grants,
                "pending_csrs": self.pending_csrs(name, info["csrs"])}

    @staticmethod
    def _where(scope):
        return CLUSTER_WIDE if scope == CLUSTER_WIDE else f"in {scope}"

    def pending_csrs(self, cluster, csrs):
        pending = []
        for csr in csrs:
            if csr["phase"] != "pending" or not csr.get("created"):
                continue
            age = (self.now - _parse_time(csr["created"])).total_seconds() / 3600
            pending.append({"name": csr["name"], "user": csr["user"], "groups": csr["groups"],
                            "created": csr["created"], "age_hours": round(age, 1)})
            if age > PENDING_TOO_LONG_HOURS:
                self.found("pending_csr", cluster, f"CSR {csr['name']} for {csr['user']} has waited for approval "
                           f"for {age:.0f} hours (approve it under the policy, or delete it)", user=csr["user"])
        return pending

    def approval(self, entry, cert, info, reachable):
        signer = (self.plan.get("ca_key_clusters") or {}).get(entry["cluster"])
        if signer:
            return {"csr": None, "reason": None, "message": f"signed with the cluster CA key on {signer['host']}; the "
                    "cluster has no record of it"}
        if not reachable:
            return {"csr": None, "reason": None, "message": "cluster unreachable"}
        return approval_facts(cert, entry["user"], info.get("csrs") or [])

    def user_cluster(self, entry, info, verification):
        """One user's certificate, approval, kubeconfig and access on one cluster, and their drift."""
        cluster, user = entry["cluster"], entry["user"]
        cert, certificate = certificate_facts(entry["request"]["certificate_path"], entry["request"]["renew_before"],
                                              self.now)
        reachable = not info.get("failed")
        if certificate["state"] in ("missing", "unreadable"):
            readable = "readable " if certificate["state"] == "unreadable" else ""
            self.found("certificate_missing", cluster, f"no {readable}certificate at {certificate['path']} (run "
                       "onboard.yml)", user=user)
        elif certificate["state"] == "expired":
            self.found("certificate_expired", cluster, f"the certificate expired at {certificate['not_after']} "
                       "(run renew.yml, or offboard.yml if the user has left)", user=user)
        elif certificate["state"] == "renewal_due":
            self.found("certificate_renewal_due", cluster, f"the certificate is inside its renewal window "
                       f"({entry['request']['renew_before']} before {certificate['not_after']}; run renew.yml)",
                       user=user)
        if verification["verified"] is False:
            self.found("kubeconfig_failed", cluster, f"{entry['kubeconfig_path']}: {verification['message']}",
                       user=user)
        return {"cluster": cluster, "certificate": certificate,
                "approval": self.approval(entry, cert, info, reachable),
                "kubeconfig": dict(verification, path=entry["kubeconfig_path"], context=f"{user}@{cluster}"),
                "access": access_rows(info.get("bindings") or [], user, entry["groups"])}

    def sorted_drift(self):
        order = {"critical": 0, "warning": 1}
        return sorted(self.drift, key=lambda d: (order[d["severity"]], d["cluster"], d["user"] or "", d["kind"],
                                                 d["message"]))


def build(the_plan, infos, verifications, now=None):
    """The report (docs/audit-report.schema.json). `infos`: cluster -> k8s_access_info's result (all_subjects,
    role_rules) or {failed, msg}; `verifications`: (host, cluster) -> {verified, message}."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    report = Report(the_plan, now)
    clusters = [report.cluster(name, infos[name]) for name in sorted(infos)]
    users = {}
    for entry in sorted(audited_entries(the_plan), key=lambda e: (e["user"], e["cluster"])):
        described = users.setdefault(entry["host"], {"user": entry["user"], "host": entry["host"],
                                                     "groups": entry["groups"], "clusters": []})
        described["clusters"].append(report.user_cluster(entry, infos[entry["cluster"]],
                                                         verifications[(entry["host"], entry["cluster"])]))
    drift = report.sorted_drift()
    by_kind = {}
    for finding in drift:
        by_kind[finding["kind"]] = by_kind.get(finding["kind"], 0) + 1
    return {
        "schema_version": SCHEMA_VERSION, "generated_at": _iso(now),
        "inventory": the_plan["settings"]["inventory"],
        "summary": {"clusters": len(clusters), "clusters_unreachable": sum(not c["reachable"] for c in clusters),
                    "users": len(users), "grants": sum(len(c["grants"]) for c in clusters), "drift": len(drift),
                    "drift_by_kind": by_kind},
        "drift": drift, "clusters": clusters, "users": list(users.values()),
    }
