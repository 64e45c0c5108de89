# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the user_access role's batch steps returned, read back into the plan (results -> next steps, outcomes).

Each step is a module call per cluster (a task looped over the clusters) whose results come back in a list. They
are matched to the plan's entries by key, never by position: requests by user name (unique on a cluster, the plan
makes sure), approvals by CSR name, kubeconfigs by user, and requests made on users' own machines by key path. An
item that failed stops that user's later steps; `outcomes` gives each user of the run their own result (changed,
failed with the message, a summary line per cluster), which the role reports on the user's own host.
"""

from __future__ import annotations

READY_FOR_APPROVAL = ("pending", "approved")


def looped_result(registered, cluster):
    """One cluster's result in a task looped over the clusters ({} when it has none)."""
    for result in (registered or {}).get("results", []):
        if (result.get("item") or {}).get("key") == cluster:
            return result
    return {}


def cluster_results(registered, cluster):
    """The per-item results of one cluster's call in a task looped over the clusters (empty when skipped)."""
    return looped_result(registered, cluster).get("results") or []


def keyed(registered, cluster, key):
    return {result.get(key): result for result in cluster_results(registered, cluster) if result.get(key)}


class Steps:
    """The registered results of one cluster's steps, each item found by its key."""

    def __init__(self, cluster, requests, approvals=None, kubeconfigs=None):
        self.cluster = cluster
        self.requests = keyed(requests, cluster, "user")
        self.approvals = keyed(approvals, cluster, "name")
        self.kubeconfigs = keyed(kubeconfigs, cluster, "user")

    def request(self, entry):
        return self.requests.get(entry["user"]) or {}

    def approval(self, entry):
        return self.approvals.get(self.request(entry).get("name")) or {}

    def kubeconfig(self, entry):
        return self.kubeconfigs.get(entry["user"]) or {}

    def issued(self, entry):
        request, approval = self.request(entry), self.approval(entry)
        failed = request.get("failed") or approval.get("failed")
        return not failed and "issued" in (request.get("phase"), approval.get("phase"))

    def failure(self, entry):
        """(step, message) of the first step that failed for `entry`, or None."""
        for step, result in (("certificate request", self.request(entry)), ("approval", self.approval(entry)),
                             ("kubeconfig", self.kubeconfig(entry))):
            if result.get("failed"):
                return step, result.get("msg") or "failed"
        return None


def entries_of(work, cluster):
    return [entry for entry in work["users"] if entry["cluster"] == cluster]


def approval_items(work, cluster, requests):
    """Approvals for the requests of `cluster` that wait for one, on clusters where approval is automatic: each
    pinned to the key its request was made for."""
    steps = Steps(cluster, requests)
    items = []
    for entry in entries_of(work, cluster):
        result = steps.request(entry)
        if entry["approval"] == "auto" and not result.get("failed") and result.get("name") \
                and result.get("phase") in READY_FOR_APPROVAL:
            items.append(dict(entry["approval_policy"], name=result["name"],
                              expected_public_key_fingerprint=result["public_key_fingerprint"]))
    return items


def bindings_changed(bindings, cluster):
    return any(r.get("changed") for r in (bindings or {}).get("results", [])
               if (r.get("item") or {}).get("key") == cluster)


def kubeconfig_items(work, cluster, requests, approvals, bindings, verify):
    """Kubeconfig entries of the users of `cluster` that hold a certificate; verified when anything of theirs changed
    in this run (`verify` changed), always, or never."""
    return [item for _entry, item in _kubeconfig_items(work, cluster, requests, approvals, bindings, verify)]


def _kubeconfig_items(work, cluster, requests, approvals, bindings, verify):
    steps = Steps(cluster, requests, approvals)
    rbac_changed = bindings_changed(bindings, cluster)
    for entry in entries_of(work, cluster):
        if not steps.issued(entry):
            continue
        changed = steps.request(entry).get("changed") or steps.approval(entry).get("changed") or rbac_changed
        # During a key rotation the new certificate goes with the new key, which waits beside the old one.
        key_path = steps.request(entry).get("next_private_key_path") or entry["request"].get("private_key_path")
        yield entry, {
            "path": entry["kubeconfig_path"], "user": entry["user"], "cluster": cluster,
            "namespace": entry["namespace"], "client_certificate_path": entry["request"]["certificate_path"],
            "client_key_path": key_path, "expected_groups": entry["groups"],
            # A changed kubeconfig is verified by the module itself; a change upstream is verified regardless.
            "verify": verify != "never", "verify_only_if_changed": verify == "changed" and not changed,
            "expected_access": entry["expect"],
        }


def rotated_keys(work, cluster, requests, kubeconfigs):
    """(new key, key) paths of the users of `cluster` whose new key is now in their kubeconfig, written (and
    verified, unless verification is off) by this run or an earlier one: the new key replaces the old one."""
    steps = Steps(cluster, requests, kubeconfigs=kubeconfigs)
    for entry in entries_of(work, cluster):
        staged, kubeconfig = steps.request(entry).get("next_private_key_path"), steps.kubeconfig(entry)
        if staged and kubeconfig and not kubeconfig.get("failed"):
            yield staged, entry["request"]["private_key_path"]


# -- clusters that sign with their CA key (ca_key_host) -------------------------------------------------------------

# Options of an entry's approval_policy that belong to the CSR API's flow.
NOT_FOR_THE_CA_KEY = ("certificate_path", "wait", "wait_timeout")


def ca_sign_items(work, cluster, requests):
    """k8s_csr_sign_with_ca items for the requests of `cluster` that its CA key is to sign: each under the user's
    policy, pinned to the key the request was made for."""
    steps = Steps(cluster, requests)
    items = []
    for entry in (e for e in work["ca_key_users"] if e["cluster"] == cluster):
        result = steps.request(entry)
        if result.get("failed") or result.get("phase") != "unsubmitted" or not result.get("request"):
            continue
        policy = {key: value for key, value in entry["approval_policy"].items() if key not in NOT_FOR_THE_CA_KEY}
        items.append(dict(policy, csr_content=result["request"],
                          expected_public_key_fingerprint=result["public_key_fingerprint"],
                          expiration_seconds=entry["request"]["expiration_seconds"]))
    return items


def ca_signed(work, requests, signed):
    """The CA key's certificates read back by key into the shape of approvals looped over the clusters, so that the
    kubeconfigs and each user's outcome are told as for the CSR API."""
    looped = []
    for cluster in sorted({entry["cluster"] for entry in work["ca_key_users"]}):
        steps = Steps(cluster, requests)
        # Results carry the user they were signed for (the plan makes user names unique on a cluster); a call that
        # failed as a whole (the CA key could not be used) fails every request it had.
        by_user = {result.get("expected_user"): result for result in cluster_results(signed, cluster)}
        whole = looped_result(signed, cluster)
        if whole.get("failed") or whole.get("unreachable") or whole.get("failed_when_result") is False \
                and whole.get("msg") and not by_user:
            by_user = {item["expected_user"]: {"failed": True, "msg": whole.get("msg")}
                       for item in ca_sign_items(work, cluster, requests)}
        items = []
        for entry in (e for e in work["ca_key_users"] if e["cluster"] == cluster):
            request = steps.request(entry)
            result = by_user.get(entry["user"])
            if result is None or not request.get("name"):
                continue
            if result.get("failed"):
                items.append({"name": request["name"], "failed": True, "changed": False, "msg": result.get("msg")})
                continue
            items.append({"name": request["name"], "changed": bool(result.get("changed")),
                          "phase": "issued" if result.get("certificate") else "approved",
                          "not_after": result.get("not_after"), "certificate": result.get("certificate"),
                          "certificate_path": entry["request"]["certificate_path"]})
        looped.append({"item": {"key": cluster}, "results": items})
    return {"results": looped}


def ca_certificates(signed):
    """{dest, content} of each certificate the CA key signed in this run, to keep on the controller."""
    return [{"dest": item["certificate_path"], "content": item["certificate"]}
            for result in (signed or {}).get("results", []) for item in result.get("results") or []
            if item.get("certificate")]


# -- users whose keys are on their own machines ----------------------------------------------------------------------

def remote_plan(the_plan, hostvars, play_hosts):
    """The work of the users whose keys are on their own machines, once each machine has made its keys and requests
    (registered there as user_access_remote_keys, matched by key path): the controller submits the requests, as it
    does its own.

    `waiting` (host -> lines) names who got no request: in check mode, before the key exists. A machine that failed
    or could not be reached has left the play, with its own failure.
    """
    users, waiting = [], {}
    for entry in the_plan["remote_users"]:
        host = entry["host"]
        made = [] if host not in play_hosts else \
            (hostvars[host].get("user_access_remote_keys") or {}).get("results") or []
        planned = entry["on_host"]["request"]["private_key_path"]
        result = next((r for r in made if same_path_there(planned, r.get("private_key_path") or "")), {})
        if result.get("request") and not result.get("failed"):
            users.append(dict(entry, request=dict(entry["request"], csr_content=result["request"])))
        elif host in play_hosts:
            waiting.setdefault(host, []).append(f"{entry['user']}@{entry['cluster']}: the key and request would be "
                                                f"made on {host}")
    return {"users": users, "bindings": the_plan["bindings"], "endpoints": the_plan["endpoints"],
            "waiting": waiting, "hosts": {},
            "requests": {cluster: [e["request"] for e in users if e["cluster"] == cluster]
                         for cluster in the_plan["requests"]}}


def same_path_there(planned, returned):
    """A path of the plan and the one a module returned for it on the user's machine, where `~` became the
    connection user's home."""
    return returned == planned or (planned.startswith("~/") and returned.endswith(planned[1:]))


def host_kubeconfig_items(work, host, requests, approvals, bindings, verify):
    """The kubeconfig entries written on `host`, the user's own machine, from the files copied there."""
    return [item for _entry, item in _host_items(work, host, requests, approvals, bindings, verify)]


def host_copies(work, host, requests, approvals):
    """The public files `host` needs next to its key: its certificates (kept on the controller) and the CAs."""
    copies = []
    for entry, item in _host_items(work, host, requests, approvals, None, "never"):
        copies += [{"src": entry["request"]["certificate_path"], "dest": item["client_certificate_path"]},
                   {"content": work["endpoints"][item["cluster"]]["ca"], "dest": item["ca_file"]}]
    return copies


def _host_items(work, host, requests, approvals, bindings, verify):
    for cluster in sorted({entry["cluster"] for entry in work["users"] if entry["host"] == host}):
        for entry, item in _kubeconfig_items(work, cluster, requests, approvals, bindings, verify):
            if entry["host"] == host:
                on_host = entry["on_host"]
                yield entry, dict(item, client_certificate_path=on_host["certificate_path"],
                                  client_key_path=on_host["request"]["private_key_path"],
                                  server=work["endpoints"][cluster]["server"], ca_source="file",
                                  ca_file=on_host["ca_path"])


def host_kubeconfig_results(work, hostvars, play_hosts):
    """The kubeconfig results registered on each machine (user_access_remote_kubeconfigs), shaped like those of the
    controller's task looped over the clusters."""
    by_cluster = {}
    for host in sorted({entry["host"] for entry in work["users"] if entry["host"] in play_hosts}):
        for result in (hostvars[host].get("user_access_remote_kubeconfigs") or {}).get("results") or []:
            # An item refused before it ran has no cluster_name, only the cluster it was given.
            by_cluster.setdefault(result.get("cluster_name") or result.get("cluster"), []).append(result)
    return {"results": [{"item": {"key": cluster}, "results": results} for cluster, results in by_cluster.items()]}


# -- each user's own outcome -----------------------------------------------------------------------------------------

def outcomes(work, requests, approvals, kubeconfigs, bindings, accounts=None, self_service_decisions=None):
    """host -> {changed, failed, msg} for the users of `work` (and, from the plan, every user it refused): refused,
    failed at a step of theirs, or done, with one summary line per cluster. A user counts as changed when anything
    of theirs changed: their key, CSR, certificate or kubeconfig, or a binding that grants them something (by name
    or group)."""
    results = {host: {"changed": False, "failed": True,
                      "msg": f"{described['user']}: refused, nothing of theirs was changed: "
                             + " | ".join(described["errors"])}
               for host, described in work["hosts"].items() if described["errors"]}
    steps = {cluster: Steps(cluster, requests, approvals, kubeconfigs) for cluster in work["bindings"]}
    changed_bindings = {cluster: _changed_bindings(bindings, cluster) for cluster in work["bindings"]}
    errors, lines = {}, {}
    for entry in work["users"]:
        host, cluster_steps = entry["host"], steps[entry["cluster"]]
        outcome = results.setdefault(host, {"changed": False, "failed": False})
        mine = [b for b in work["bindings"][entry["cluster"]] if _grants(b, entry)]
        failure = cluster_steps.failure(entry)
        if failure:
            outcome["failed"] = True
            errors.setdefault(host, []).append(f"{entry['user']}@{entry['cluster']}: the {failure[0]} failed: "
                                               f"{failure[1]}")
        outcome["changed"] |= any(result.get("changed") for result in (
            cluster_steps.request(entry), cluster_steps.approval(entry), cluster_steps.kubeconfig(entry)))
        outcome["changed"] |= any((b.get("namespace"), b["name"]) in changed_bindings[entry["cluster"]] for b in mine)
        lines.setdefault(host, []).append(summary_line(entry, cluster_steps, mine))
        if cluster_steps.request(entry).get("stale"):
            lines[host].append(f"{entry['user']}@{entry['cluster']}: {cluster_steps.request(entry)['stale']}")
    for entry in work.get("self_service_users", []):
        outcome = results.setdefault(entry["host"], {"changed": False, "failed": False})
        account = keyed(accounts, entry["cluster"], "user").get(entry["user"]) or {}
        mine = [b for b in work["bindings"][entry["cluster"]] if _grants(b, entry)]
        outcome["changed"] |= bool(account.get("changed")) or any(
            (b.get("namespace"), b["name"]) in changed_bindings[entry["cluster"]] for b in mine)
        if account.get("failed") or not account:
            outcome["failed"] = True
            errors.setdefault(entry["host"], []).append(
                f"{entry['user']}@{entry['cluster']}: the self-service account failed: "
                f"{account.get('msg') or 'it was not made'}")
        lines.setdefault(entry["host"], []).append(self_service_line(entry, mine))
        decided = keyed(self_service_decisions, entry["cluster"], "name").get(entry["self_service"]["csr_name"])
        if decided:
            line, failed = self_service_decision(entry, decided)
            outcome["changed"] |= bool(decided.get("changed"))
            outcome["failed"] |= failed
            (errors if failed else lines).setdefault(entry["host"], []).append(line)
    for host, waiting in work.get("waiting", {}).items():
        results.setdefault(host, {"changed": False, "failed": False})
        lines.setdefault(host, []).extend(waiting)
    for host, host_lines in lines.items():
        results[host]["msg"] = errors.get(host, []) + host_lines
    return results


def _grants(binding, entry):
    """The binding grants the entry's user something: by name, a group, or the user's self-service account."""
    subjects = [("Group", g) for g in entry["groups"]] + [("User", entry["user"])]
    if "self_service" in entry:
        subjects.append(("ServiceAccount", entry["self_service"]["service_account"]))
    return any((s["kind"], s["name"]) in subjects for s in binding["subjects"])


def self_service_line(entry, bindings):
    described = entry["self_service"]
    names = [f"{b['name']} ({b.get('namespace', 'cluster-wide')})" for b in bindings]
    return (f"{entry['user']}@{entry['cluster']}: groups {', '.join(entry['groups'])}; self-service: the user "
            f"requests their own certificate with playbooks/request.yml and a token of the ServiceAccount "
            f"{described['namespace']}/{described['service_account']} (kubectl create token "
            f"{described['service_account']} -n {described['namespace']}), as CSR {described['csr_name']}, which "
            f"playbooks/approve.yml (or onboarding, where approval is auto) decides; bindings "
            f"{', '.join(names) or '(none)'}")


def self_service_decision(entry, decided):
    """(line, failed) for the decision this run made on the user's own request."""
    where, name = f"{entry['user']}@{entry['cluster']}", entry["self_service"]["csr_name"]
    if decided.get("failed"):
        return f"{where}: CSR {name} could not be decided: {decided.get('msg')}", True
    if decided.get("phase") == "denied":
        reasons = "; ".join(decided.get("violations") or []) or "not this account's request"
        return f"{where}: CSR {name} denied: {reasons}", True
    return (f"{where}: CSR {name} approved under the policy; the user's next run of playbooks/request.yml writes "
            "the kubeconfig"), False


def _changed_bindings(bindings, cluster):
    return {(r.get("namespace"), r.get("name")) for r in cluster_results(bindings, cluster) if r.get("changed")}


def summary_line(entry, steps, bindings):
    """user@cluster: groups, kubeconfig, NotAfter (or what the certificate waits for), bindings."""
    request, approval, kubeconfig = steps.request(entry), steps.approval(entry), steps.kubeconfig(entry)
    not_after = approval.get("not_after") or request.get("not_after")
    phase = approval.get("phase") or request.get("phase")
    state = f"NotAfter {not_after}" if not_after else f"certificate {phase or 'not requested'}" + (
        f" (CSR {request['name']}: an approver decides it under the policy with playbooks/approve.yml)"
        if phase == "pending" and entry["approval"] == "manual" else "")
    names = [f"{b['name']} ({b.get('namespace', 'cluster-wide')})" for b in bindings]
    checked = " verified" if kubeconfig.get("verified") else ""
    if request.get("next_private_key_path") and kubeconfig and not kubeconfig.get("failed"):
        checked += " with a new key"
    where = f"{entry['host']}:" if "on_host" in entry else ""
    return (f"{entry['user']}@{entry['cluster']}: groups {', '.join(entry['groups']) or '(none)'}; kubeconfig "
            f"{where}{entry['kubeconfig_path']}{checked}; {state}; bindings {', '.join(names) or '(none)'}")
