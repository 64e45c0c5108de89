# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The approval loop of the user_access role (playbooks/approve.yml): the requests that onboarding left pending
(`approval: manual`) decided by someone who holds only approval rights, under the same policy and pins as automatic
approval, and each user's outcome.

The approver does not have the requesters' keys, so the pin to the key is the request's own, checked against its
name: the role names a request `<user>-<first 16 hex digits of the key's SHA-256>`, and the API server checks that
a request is signed by its key, so a request replaced under that name by someone without the key no longer matches.
That name says which key a request is for, not whose: anyone who may create CSRs could name a request of their own
key that way. So a request is approved only when it was made by one of the cluster's `requesters`, as the API
server records it (`spec.username`).
"""

from __future__ import annotations

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import MANAGED_BY, default_name
from ansible_collections.kubeaccess.x509.plugins.plugin_utils.access_results import looped_result

# Options of an entry's approval_policy that belong to the controller's own flow: the approver writes no certificate
# and does not wait for one.
CONTROLLER_ONLY = ("certificate_path", "wait")


def _ours(csr, inventory):
    return csr["phase"] == "pending" and csr.get("managed_by") == MANAGED_BY and csr.get("inventory") == inventory


def pending_items(the_plan, cluster, access, whole_inventory):
    """k8s_csr_approve items for the requests of this inventory that wait on `cluster`: each user's under the user's
    policy with on_violation deny (so a request the policy refuses is denied with the policy's reason, and no human
    is left to decide it), and, when the run covers the whole inventory, a denial of every request labelled as this
    inventory's for a user it does not have, or whose name does not match its key."""
    info = looped_result(access, cluster)
    if not info or info.get("failed"):
        return []
    items = self_service_items(the_plan, cluster, info)
    inventory = the_plan["settings"]["inventory"]
    entries = {e["user"]: e for e in the_plan["users"] + the_plan["remote_users"] if e["cluster"] == cluster}
    known = {described["user"] for described in the_plan["hosts"].values()}
    for csr in info.get("csrs") or []:
        if not _ours(csr, inventory) or csr["name"] in {item["name"] for item in items}:
            continue
        entry = entries.get(csr["user"])
        if entry is None:
            # A user the plan refused is still the inventory's: that user's outcome says why nothing was decided.
            if whole_inventory and csr["user"] not in known:
                items.append(_denial(csr, "KubeaccessNotInInventory",
                                     f"{csr['user']} is not a user of the inventory {inventory}, whose label this "
                                     "request carries"))
            continue
        requesters = the_plan["settings"]["clusters"][cluster].get("requesters") or []
        if csr.get("requester") not in requesters:
            items.append(_denial(csr, "KubeaccessUnknownRequester",
                                 f"it was made by {csr.get('requester')}, who is not one of the requesters of "
                                 f"cluster {cluster} ({', '.join(requesters)}); only their requests are approved"))
            continue
        if csr["name"] != default_name(entry["user"], csr["public_key_fingerprint"]):
            items.append(_denial(csr, "KubeaccessNameMismatch",
                                 f"its name is not the one kubeaccess.x509 gives a request of {entry['user']} for its "
                                 f"key ({default_name(entry['user'], csr['public_key_fingerprint'])}): it was "
                                 "replaced or made by someone else"))
            continue
        policy = {key: value for key, value in entry["approval_policy"].items() if key not in CONTROLLER_ONLY}
        items.append(dict(policy, name=csr["name"], expected_public_key_fingerprint=csr["public_key_fingerprint"],
                          on_violation="deny", wait=False))
    return items


def _self_service_requests(the_plan, cluster, info):
    """(entry, csr) for each pending request that a self-service user's ServiceAccount made on `cluster` (the API
    server sets spec.username to whoever created the request: nobody else can make one in its name)."""
    entries = {e["self_service"]["requester"]: e for e in the_plan.get("self_service_users", [])
               if e["cluster"] == cluster}
    for csr in info.get("csrs") or []:
        if csr["phase"] == "pending" and csr.get("requester") in entries:
            yield entries[csr["requester"]], csr


def self_service_items(the_plan, cluster, info):
    """Each self-service request checked against what the user's account publishes: the user's name and groups
    (the policy's expected_user and allowed_groups) and its one CSR name; the key is the requester's own."""
    items = []
    for entry, csr in _self_service_requests(the_plan, cluster, info):
        if csr["name"] != entry["self_service"]["csr_name"]:
            items.append(_denial(csr, "KubeaccessNameMismatch", f"a self-service request of {entry['user']} is named "
                                 f"{entry['self_service']['csr_name']}"))
            continue
        policy = {key: value for key, value in entry["approval_policy"].items() if key not in CONTROLLER_ONLY}
        items.append(dict(policy, name=csr["name"], on_violation="deny", wait=False))
    return items


def onboarding_items(the_plan, cluster, access):
    """What onboarding decides on `cluster` where approval is automatic: the pending self-service requests (the
    role's own requests it approves in its own steps)."""
    info = looped_result(access, cluster)
    described = the_plan["settings"]["clusters"][cluster] or {}
    if not info or info.get("failed") or described.get("approval", "auto") != "auto":
        return []
    return self_service_items(the_plan, cluster, info)


def _denial(csr, reason, message):
    return {"name": csr["name"], "state": "denied", "condition_reason": reason,
            "condition_message": f"Denied by playbooks/approve.yml: {message}."}


def outcomes(the_plan, access, approvals):
    """host -> {changed, failed, msg}: what was decided for each user of the run, on each cluster. A request approved
    is a change; one denied (by the policy, or as not this user's) or that could not be decided fails the user, with
    the reason; nothing pending is ok."""
    results = {host: {"changed": False, "failed": True,
                      "msg": f"{described['user']}: refused, nothing of theirs was decided: "
                             + " | ".join(described["errors"])}
               for host, described in the_plan["hosts"].items() if described["errors"]}
    decided = {}
    for result in (approvals or {}).get("results", []):
        for item in result.get("results") or []:
            decided[((result.get("item") or {}).get("key"), item.get("name"))] = item
    inventory = the_plan["settings"]["inventory"]
    for entry in the_plan["users"] + the_plan["remote_users"] + the_plan.get("self_service_users", []):
        outcome = results.setdefault(entry["host"], {"changed": False, "failed": False, "msg": []})
        where = f"{entry['user']}@{entry['cluster']}"
        info = looped_result(access, entry["cluster"])
        if not info or info.get("failed"):
            outcome["failed"] = True
            outcome["msg"].append(f"{where}: the requests could not be read: {(info or {}).get('msg', 'not read')}")
            continue
        if "self_service" in entry:
            mine = [csr for own, csr in _self_service_requests(the_plan, entry["cluster"], info)
                    if own["user"] == entry["user"]]
        else:
            mine = [csr for csr in info.get("csrs") or [] if _ours(csr, inventory) and csr["user"] == entry["user"]]
        if not mine:
            outcome["msg"].append(f"{where}: no request waits for approval")
        for csr in mine:
            writer = "the user's next run of playbooks/request.yml" if "self_service" in entry \
                else "the next onboarding run"
            outcome["msg"].append(_decision_line(where, csr, decided.get((entry["cluster"], csr["name"])), outcome,
                                                 writer))
    return results


def _decision_line(where, csr, result, outcome, writer):
    if result is None:
        outcome["failed"] = True
        return f"{where}: CSR {csr['name']} was not decided"
    if result.get("failed"):
        outcome["failed"] = True
        return f"{where}: CSR {csr['name']} could not be decided: {result.get('msg')}"
    outcome["changed"] |= bool(result.get("changed"))
    if result.get("phase") == "denied":
        outcome["failed"] = True
        reasons = "; ".join(result.get("violations") or []) or "not this user's request"
        return f"{where}: CSR {csr['name']} denied: {reasons}"
    return (f"{where}: CSR {csr['name']} approved under the policy (groups {', '.join(csr['groups']) or '(none)'}); "
            f"{writer} writes the kubeconfig")


def foreign_denials(the_plan, approvals):
    """The lines of requests denied as not any inventory user's: shown on the controller's host."""
    users = {e["user"] for e in the_plan["users"] + the_plan["remote_users"] + the_plan.get("self_service_users", [])}
    lines = []
    for result in (approvals or {}).get("results", []):
        for item in result.get("results") or []:
            if item.get("phase") == "denied" and item.get("user") not in users:
                lines.append(f"{(result.get('item') or {}).get('key')}: CSR {item.get('name')} for "
                             f"{item.get('user')} denied: not a user of this inventory")
    return lines
