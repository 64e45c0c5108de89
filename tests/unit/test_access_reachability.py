"""plugins/plugin_utils/access_reachability.py: a cluster that cannot be reached fails its own part only.

The bindings step reaches every cluster first. A cluster whose call failed only because its API server cannot be
reached is left out of the rest of the run; each user of the run on it fails naming it, beside their other
clusters' lines, and so does the controller; any other failure of the bindings step is not this decision's.
"""

from ansible_collections.kubeaccess.x509.plugins.filter import access_reachability as reachability_filter
from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_reachability as model

DOWN = ("cannot reach the API server at https://10.0.0.2:6443: Failed to establish a new connection: [Errno 111] "
        "Connection refused. Check the server address in the kubeconfig (or host), the network and proxy")


def looped(cluster, **result):
    return dict(result, item={"key": cluster})


def unreachable_result(cluster):
    """k8s_rbac_binding's failure when the server is down: each binding failed, the task names them all."""
    return looped(cluster, failed=True, changed=False,
                  msg=f"bindings[0] (RoleBinding dev/kubeaccess-group-dev-edit): {DOWN} | bindings[1] "
                      f"(ClusterRoleBinding kubeaccess-group-ops-view): {DOWN}",
                  results=[{"name": "kubeaccess-group-dev-edit", "failed": True, "msg": DOWN},
                           {"name": "kubeaccess-group-ops-view", "failed": True, "msg": DOWN}])


def bindings(*results):
    return {"results": list(results), "changed": False}


def plan():
    users = [{"host": host, "user": host, "cluster": cluster} for host, cluster in
             (("rahul", "a"), ("rahul", "b"), ("seema", "a"), ("mia", "b"))]
    return {"users": users, "requests": {"a": [{"user": "rahul"}, {"user": "seema"}],
                                         "b": [{"user": "rahul"}, {"user": "mia"}]}}


def test_only_a_failure_that_is_all_unreachable_is_a_cluster_that_cannot_be_reached():
    assert model.cluster_unreachable(unreachable_result("b"))
    dropped = looped("b", failed=True, msg="the API server at https://x dropped the connection: reset")
    assert model.cluster_unreachable(dropped)  # no item failed: the task's own message (pruning, the connection)
    missing = looped("a", failed=True, msg="1 of 2 bindings failed: bindings[0] (...): namespace dev does not exist",
                     results=[{"failed": True, "msg": "namespace dev does not exist"}, {"changed": True}])
    assert not model.cluster_unreachable(missing)
    mixed = unreachable_result("b")
    mixed["results"][1]["msg"] = "POST ...: HTTP 403 Forbidden"
    assert not model.cluster_unreachable(mixed)  # a cluster that answers a refusal is not unreachable
    assert not model.cluster_unreachable(looped("a", changed=True, results=[{"changed": True}]))
    assert not model.cluster_unreachable({})


def test_failed_when_turning_the_failure_off_keeps_the_decision():
    """bindings.yml's failed_when turns the unreachable cluster's failure off: what credentials.yml reads then."""
    shown_ok = dict(unreachable_result("b"), failed=False, failed_when_result=False)
    assert model.unreachable_clusters(bindings(looped("a", changed=True, failed_when_result=False), shown_ok)) == {
        "b": DOWN}
    assert model.reason(unreachable_result("b")) == DOWN


def test_the_plan_leaves_out_only_the_unreachable_clusters_work():
    reachable = model.reachable_plan(plan(), bindings(looped("a", changed=False), unreachable_result("b")))
    assert reachable["requests"] == {"a": [{"user": "rahul"}, {"user": "seema"}], "b": []}
    assert [(e["user"], e["cluster"]) for e in reachable["users"]] == [("rahul", "a"), ("seema", "a")]
    untouched = plan()
    assert model.reachable_plan(untouched, bindings(looped("a"), looped("b"))) is untouched


def test_each_user_on_the_cluster_fails_naming_it_and_keeps_the_other_clusters_lines():
    done = {"rahul": {"changed": True, "failed": False, "msg": ["rahul@a: groups dev; kubeconfig k verified"]},
            "seema": {"changed": False, "failed": False, "msg": ["seema@a: groups dev"]}}
    merged = model.outcomes(done, plan(), bindings(looped("a"), unreachable_result("b")), "localhost")
    assert merged["rahul"]["failed"] and merged["rahul"]["changed"]
    assert merged["rahul"]["msg"] == [
        f"rahul@b: cluster b cannot be reached, so nothing of rahul's was done there (the next run completes it): "
        f"{DOWN}", "rahul@a: groups dev; kubeconfig k verified"]
    assert merged["seema"] == done["seema"]  # on cluster a only
    assert merged["mia"]["failed"] and not merged["mia"]["changed"] and merged["mia"]["msg"][0].startswith(
        "mia@b: cluster b cannot be reached")  # on cluster b only: nothing done at all
    assert merged["localhost"] == {"changed": False, "failed": True, "msg": [
        "cluster b cannot be reached, so its bindings were not applied and nothing of its users was done there (the "
        f"next run completes it): {DOWN}"]}
    assert done["rahul"]["failed"] is False  # the input is not changed


def test_a_refused_user_keeps_the_refusal_and_no_controller_line_when_the_steps_ran_on_a_user_host():
    done = {"mia": {"changed": False, "failed": True, "msg": "mia: refused, nothing of theirs was changed: ..."}}
    merged = model.outcomes(done, plan(), bindings(unreachable_result("b")), None)
    assert merged["mia"]["msg"][-1] == "mia: refused, nothing of theirs was changed: ..."
    assert "localhost" not in merged and set(merged) == {"mia", "rahul"}


def test_all_reachable_changes_nothing_and_the_filters_are_the_model():
    done = {"rahul": {"changed": False, "failed": False, "msg": ["rahul@a: ..."]}}
    assert model.outcomes(done, plan(), bindings(looped("a"), looped("b")), "localhost") is done
    assert model.outcomes(done, plan(), {}, "localhost") is done
    assert reachability_filter.FilterModule().filters() == {
        "access_cluster_unreachable": model.cluster_unreachable}


def test_a_server_that_does_not_answer_in_time_or_drops_connections_cannot_be_reached_and_the_reason_is_whole():
    """k8s_client's words, after its retries, for a server too slow for request_timeout and for one that resets
    connections: the reason starts at the server, whatever item and request led to it."""
    for why in ("the API server at https://x did not answer GET /api/v1/namespaces within 10 s (request_timeout). "
                "Check the API server's load and what is in between (proxy, load balancer) (5 attempts over 53 s; "
                "the next run picks up where this one stopped)",
                "the API server at https://x dropped the connection: Connection reset by peer. Check that it is up "
                "and what is in between (proxy, load balancer) (5 attempts over 4 s; the next run picks up where "
                "this one stopped)"):
        result = looped("b", failed=True, msg=f"bindings[0] (RoleBinding dev/x): {why}",
                        results=[{"failed": True, "msg": f"bindings[0] (RoleBinding dev/x): {why}"}])
        assert model.cluster_unreachable(result)
        assert model.reason(result) == why
