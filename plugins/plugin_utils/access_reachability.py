# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A cluster that cannot be reached in a run of the user_access role fails its own part only.

The bindings step is the first to reach every cluster (one k8s_rbac_binding call per cluster). A call that failed
only because the cluster's API server cannot be reached (every failure of it is the client's "cannot reach the API
server", "dropped the connection" or "did not answer", after its retries) does not stop the run: the other
clusters' part is done, nothing more is tried on that cluster, each user of the run on it fails naming the cluster,
and so does the controller's own line (the cluster's bindings were not applied), so that PLAY RECAP and the exit
code say so. Any other failure of the bindings step (a namespace that does not exist, a forbidden write) still
stops the run before anything else changes.
"""

from __future__ import annotations

# The messages of module_utils/k8s_client.py for a server that cannot be reached (after its retries).
UNREACHABLE = ("cannot reach the API server at ", "dropped the connection: ", " did not answer ")
SERVER = "the API server at "


def _is_unreachable(message):
    text = str(message or "")
    return any(marker in text for marker in UNREACHABLE)


def _failed(result):
    """A failed result, also once failed_when has turned its failure off (`failed_when_result` false)."""
    return bool(result.get("failed") or any(item.get("failed") for item in result.get("results") or [])
                or result.get("failed_when_result") is False and result.get("msg"))


def cluster_unreachable(result):
    """Whether one cluster's bindings result failed only because the API server cannot be reached."""
    result = result or {}
    if not _failed(result):
        return False
    failed = [item.get("msg") for item in result.get("results") or [] if item.get("failed")]
    # With no failed item, the task's own message is the failure (a connection made once for the batch, pruning).
    return all(_is_unreachable(message) for message in failed or [result.get("msg")])


def reason(result):
    """The first failure of an unreachable cluster's result, without the item it came from."""
    failed = [item.get("msg") for item in result.get("results") or [] if item.get("failed")]
    # The task's message names every failed item ("bindings[0] (...): ... | bindings[1] ..."): the first says it.
    message = str(failed[0] if failed else result.get("msg") or "").split(" | ", 1)[0]
    for marker in (UNREACHABLE[0], SERVER):
        if marker in message:
            return message[message.index(marker):]
    return message.rsplit("): ", 1)[-1]


def unreachable_clusters(bindings):
    """cluster -> reason, for each cluster of the registered bindings step (looped over the clusters) that cannot
    be reached."""
    return {(result.get("item") or {}).get("key"): reason(result)
            for result in (bindings or {}).get("results") or [] if cluster_unreachable(result)}


def reachable_plan(plan, bindings):
    """The plan without the work of the clusters that cannot be reached (no request, approval or kubeconfig there)."""
    clusters = unreachable_clusters(bindings)
    if not clusters:
        return plan
    return dict(plan, users=[entry for entry in plan["users"] if entry["cluster"] not in clusters],
                requests={cluster: [] if cluster in clusters else items
                          for cluster, items in plan["requests"].items()})


def outcomes(results, plan, bindings, controller=None):
    """`results` (host -> {changed, failed, msg}, access_results.outcomes of the reachable plan) with each user of
    the run on a cluster that cannot be reached failed, naming it, and, when `controller` (the host the steps ran
    on, when it is not a user's) is given, that host failed too: the cluster's bindings were not applied."""
    clusters = unreachable_clusters(bindings)
    if not clusters:
        return results
    merged = {host: dict(outcome, msg=_lines(outcome.get("msg"))) for host, outcome in results.items()}
    added = {}
    for entry in plan["users"]:
        cluster = entry["cluster"]
        if cluster not in clusters:
            continue
        added.setdefault(entry["host"], []).append(
            f"{entry['user']}@{cluster}: cluster {cluster} cannot be reached, so nothing of {entry['user']}'s was done "
            f"there (the next run completes it): {clusters[cluster]}")
    for host, lines in added.items():
        outcome = merged.setdefault(host, {"changed": False, "failed": False, "msg": []})
        outcome.update(failed=True, msg=lines + outcome["msg"])
    if controller is not None:
        merged[controller] = {"changed": False, "failed": True, "msg": [
            f"cluster {cluster} cannot be reached, so its bindings were not applied and nothing of its users was done "
            f"there (the next run completes it): {why}" for cluster, why in sorted(clusters.items())]}
    return merged


def _lines(msg):
    if msg is None:
        return []
    return list(msg) if isinstance(msg, list) else [msg]
