"""plugin_utils/credentials_pipeline.py: the role's certificate steps in chunks (requests, approvals and kubeconfigs
overlapping), on real plans. The module calls are recorded and answered as the modules answer (user, name, phase),
so that what is checked is the orchestration: which items each call gets, in which order, and what comes back."""
# pylint: disable=missing-function-docstring

import threading

import pytest

from ansible_collections.kubeaccess.x509.plugins.plugin_utils import credentials_pipeline as pipeline

from access_support import make_plan, one_cluster

REQUEST, APPROVE, KUBECONFIG = pipeline.MODULES["requests"], pipeline.MODULES["approvals"], pipeline.MODULES[
    "kubeconfigs"]


def role_plan(base_dir, users_vars):
    """The plan as the role has it (the access_plan filter adds the role-wide settings)."""
    return dict(make_plan(base_dir, users_vars), settings={"clusters": one_cluster()})


def users(count, **variables):
    return {f"user{i:03d}": {"user_access_groups": ["developers"], **variables} for i in range(count)}


class Calls:
    """Answers each call as its module would for well-formed items, and keeps every call in order."""

    def __init__(self, fail=None, raise_on=None):
        self.calls = []
        self.fail = fail
        self.raise_on = raise_on
        self.lock = threading.Lock()

    def __call__(self, module, args):
        with self.lock:
            self.calls.append((module, args))
        if module == self.raise_on:
            raise ValueError("something unforeseen")
        if module == self.fail:
            return {"failed": True, "msg": "the API server could not be reached"}
        if module == REQUEST:
            return {"results": [{"user": item["user"], "name": f"csr-{item['user']}", "phase": "pending",
                                 "changed": True, "public_key_fingerprint": f"fp-{item['user']}"}
                                for item in args["requests"]]}
        if module == APPROVE:
            return {"results": [{"name": item["name"], "phase": "issued", "changed": True}
                                for item in args["csrs"]]}
        return {"results": [{"user": item["user"], "changed": True, "verified": True} for item in args["users"]]}

    def items(self, module):
        key = {REQUEST: "requests", APPROVE: "csrs", KUBECONFIG: "users"}[module]
        return [[item.get("user") or item.get("name") for item in args[key]]
                for called, args in self.calls if called == module]


def by_key(registered, key):
    return {result[key]: result for per_cluster in registered["results"] for result in per_cluster["results"]}


def test_every_user_goes_through_the_three_steps_in_chunks(tmp_path):
    plan = role_plan(tmp_path, users(7))
    calls = Calls()
    steps = pipeline.ClusterSteps(plan, "local", {}, "changed")
    threads = steps.run_overlapping(calls, size=3, approvers=2)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [len(chunk) for chunk in calls.items(REQUEST)] == [3, 3, 1]
    assert sorted(sum(calls.items(APPROVE), [])) == [f"csr-user{i:03d}" for i in range(7)]
    assert sorted(sum(calls.items(KUBECONFIG), [])) == [f"user{i:03d}" for i in range(7)]
    assert steps.failures == []
    # Each chunk's approvals come after its requests, and its kubeconfigs after its approvals.
    order = [(module, name) for module, args in calls.calls
             for name in [i.get("user") or i["name"].removeprefix("csr-")
                          for i in args.get("requests") or args.get("csrs") or args.get("users")]]
    for i in range(7):
        user = f"user{i:03d}"
        assert order.index((REQUEST, user)) < order.index((APPROVE, user)) < order.index((KUBECONFIG, user))


def test_the_results_come_back_in_the_shapes_the_outcome_reads(tmp_path):
    plan = role_plan(tmp_path, users(5))
    outcome = pipeline.run(plan, {}, "changed", Calls(), overlap=True)
    assert outcome["failures"] == []
    assert set(by_key(outcome["requests"], "user")) == {f"user{i:03d}" for i in range(5)}
    assert set(by_key(outcome["approvals"], "name")) == {f"csr-user{i:03d}" for i in range(5)}
    assert all(r["verified"] for r in by_key(outcome["kubeconfigs"], "user").values())
    assert outcome["requests"]["changed"] and outcome["requests"]["results"][0]["item"] == {"key": "local"}


def test_in_order_it_is_one_call_per_step(tmp_path):
    plan = role_plan(tmp_path, users(120))
    calls = Calls()
    pipeline.run(plan, {}, "changed", calls, overlap=False)
    assert [module for module, _args in calls.calls] == [REQUEST, APPROVE, KUBECONFIG]


def test_a_step_that_fails_as_a_whole_stops_the_chunks_not_started_and_is_named(tmp_path):
    plan = role_plan(tmp_path, users(9))
    calls = Calls(fail=APPROVE)
    outcome = pipeline.run(plan, {}, "changed", calls, overlap=True)
    assert outcome["failures"] and all("k8s_csr_approve: the API server could not be reached" in failure
                                       for failure in outcome["failures"])
    assert calls.items(KUBECONFIG) == []


def test_an_unforeseen_error_fails_the_step_instead_of_leaving_the_others_waiting(tmp_path):
    plan = role_plan(tmp_path, users(4))
    outcome = pipeline.run(plan, {}, "changed", Calls(raise_on=REQUEST), overlap=True)
    assert outcome["failures"] == ["local: kubeaccess.x509.k8s_csr_request: ValueError: something unforeseen"]


def test_a_second_run_for_the_same_users_waits_for_the_first_and_says_so(tmp_path):
    """Two runs for the same users (onboard and renew, a schedule and a merge) do their certificate steps one after
    the other: the second waits under the first's lock, says so, and starts its steps once the first is done."""
    plan = role_plan(tmp_path, users(2))
    assert pipeline.key_homes(plan) == [str(tmp_path)]
    calls, said, waiting = Calls(), [], threading.Event()

    def say(message):
        said.append(message)
        waiting.set()
    with pipeline.users_locked(plan, say=lambda message: None):
        second = threading.Thread(target=pipeline.run, args=(plan, {}, "changed", calls), daemon=True,
                                  kwargs={"overlap": False, "say": say})
        second.start()
        assert waiting.wait(timeout=60), "the second run did not wait for the lock"
        assert calls.calls == []  # nothing of the second run has started
    second.join()
    assert said == [f"Another onboard or renew run is making keys and certificates under {tmp_path}; waiting for it "
                    f"to finish (it holds {tmp_path / pipeline.LOCK_FILE})"]
    assert [module for module, _args in calls.calls] == [REQUEST, APPROVE, KUBECONFIG]


def test_check_mode_takes_no_lock_and_writes_nothing(tmp_path):
    plan = role_plan(tmp_path / "base", users(1))
    with pipeline.users_locked(plan, say=lambda message: None):
        pipeline.run(plan, {}, "changed", Calls(), overlap=False, check_mode=True, say=pytest.fail)
    plan = role_plan(tmp_path / "other", users(1))
    pipeline.run(plan, {}, "changed", Calls(), overlap=False, check_mode=True)
    assert not (tmp_path / "other").exists()
