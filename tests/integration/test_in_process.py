"""The modules' backends run in the controller process when the module would run there with the controller's own
Python (plugin_utils/backend_action.py), and as module processes elsewhere: the same results either way, the same
masking of secrets, and nothing left behind."""
# pylint: disable=missing-function-docstring

import os
import sys

PYTHON_ELSEWHERE = os.path.join(os.path.dirname(sys.executable), "python3")


def _comparable(result):
    result = dict(result)
    result.pop("invocation", None)
    return result


def test_an_interpreter_other_than_the_controllers_runs_the_module_as_a_process(playbook, cluster, monkeypatch):
    monkeypatch.setenv("ANSIBLE_VERBOSITY", "3")
    assert sys.executable != PYTHON_ELSEWHERE and os.path.exists(PYTHON_ELSEWHERE)
    run = playbook("run_module.yml", module="k8s_access_info", module_args={"users": ["nobody"]},
                   result_file="in-process.json").assert_ok()
    assert "k8s_access_info: runs in the controller process" in run.output
    run = playbook("run_module.yml", module="k8s_access_info", module_args={"users": ["nobody"]},
                   result_file="process.json", module_python=PYTHON_ELSEWHERE).assert_ok()
    assert "runs in the controller process" not in run.output


def test_both_ways_give_the_same_result(run_module, cluster):
    user = cluster.name("in-process-reader")
    args = {"users": [user], "groups": ["system:masters"]}
    in_process = run_module("k8s_access_info", args)
    elsewhere = run_module("k8s_access_info", args, module_python=PYTHON_ELSEWHERE)
    assert not in_process.get("failed"), in_process
    assert _comparable(in_process) == _comparable(elsewhere)
    assert any(b["name"] == "cluster-admin" for b in in_process["bindings"])  # system:masters' own binding


def test_a_failure_reads_the_same_both_ways(run_module, cluster):
    args = {"users": ["nobody"], "context": "no-such-context"}
    in_process = run_module("k8s_access_info", args)
    elsewhere = run_module("k8s_access_info", args, module_python=PYTHON_ELSEWHERE)
    assert in_process["failed"] and "no-such-context" in in_process["msg"]
    assert _comparable(in_process) == _comparable(elsewhere)


def test_secret_options_are_masked_in_process_too(playbook, cluster, monkeypatch):
    monkeypatch.setenv("ANSIBLE_VERBOSITY", "3")
    token = "kubeaccess-in-process-secret-token"
    run = playbook("run_module.yml", module="k8s_access_info", result_file="masked.json",
                   module_args={"users": ["nobody"], "kubeconfig": None, "host": "https://127.0.0.1:1",
                                "api_key": token, "validate_certs": False})
    assert "runs in the controller process" in run.output
    assert token not in run.output
