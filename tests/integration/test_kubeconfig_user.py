"""k8s_kubeconfig_user through ansible-playbook: the kubeconfigs it writes work with kubectl, merging keeps what is
not ours, and the file is never lost, leaked or left half-written. The decisions of its backend, case by case, are
tested in this process by tests/unit/backends/test_backend_kubeconfig_user.py; these run the module end to end, and
what needs Ansible itself (check and diff rendering, no secret in its output, the batch form, processes writing one
file at once)."""
# pylint: disable=redefined-outer-name

import base64
import concurrent.futures
import json
import os

import pytest
import yaml

from tests.kube import kubectl
from tests.unit.backends.test_backend_kubeconfig_user import (
    FOREIGN, cluster_person, entry, identity, load, local_person, names, ordered, whoami)

MODULE = "k8s_kubeconfig_user"


@pytest.fixture(scope="module")
def people(cluster, tmp_path_factory):
    directory = tmp_path_factory.mktemp("people")
    return {"rahul": cluster_person(cluster, directory, "kc-rahul", ["developers"]),
            "seema": cluster_person(cluster, directory, "kc-seema", ["app1-devs", "platform"])}


@pytest.fixture(scope="module")
def admin_view(cluster):
    """Cluster name, server and CA data of the admin kubeconfig's current context."""
    with open(cluster.kubeconfig, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    cluster_entry = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    return {"name": context["cluster"], "server": cluster_entry["server"],
            "ca": base64.b64encode(cluster.ca_pem).decode()}


def test_lifecycle_writes_a_kubeconfig_kubectl_uses(run_module, people, admin_view, tmp_path):
    rahul = people["rahul"]
    path = tmp_path / "rahul" / "kubeconfig"
    args = rahul.args(path, namespace="dev")
    context_name = f"{rahul.name}@{admin_view['name']}"

    checked = run_module(MODULE, args, check=True)
    assert checked["changed"] and not checked.get("failed"), checked
    assert not (tmp_path / "rahul").exists()

    written = run_module(MODULE, args)
    assert written["changed"] and not written.get("failed"), written
    assert {k: written[k] for k in ("path", "cluster_name", "user_name", "context_name", "current_context")} == {
        "path": str(path), "cluster_name": admin_view["name"], "user_name": context_name,
        "context_name": context_name, "current_context": context_name}
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    config = load(path)
    assert entry(config, "clusters", admin_view["name"]) == {
        "certificate-authority-data": admin_view["ca"], "server": admin_view["server"]}
    assert entry(config, "users", context_name) == {
        "client-certificate-data": base64.b64encode(rahul.cert_pem).decode(),
        "client-key-data": base64.b64encode(rahul.key_pem).decode()}
    assert entry(config, "contexts", context_name) == {
        "cluster": admin_view["name"], "user": context_name, "namespace": "dev"}
    assert config["current-context"] == context_name

    user_info = whoami(path)
    assert user_info["username"] == rahul.name
    assert "developers" in user_info["groups"]
    view = kubectl(str(path), "config", "view", "-o", "json", check=0)
    assert json.loads(view.stdout)["contexts"][0]["context"]["namespace"] == "dev"
    assert "DATA+OMITTED" in kubectl(str(path), "config", "view", check=0).stdout

    before = identity(path)
    again = run_module(MODULE, args)
    assert not again["changed"] and not again.get("failed"), again
    assert again["current_context"] == context_name
    checked_again = run_module(MODULE, args, check=True)
    assert not checked_again["changed"] and not checked_again.get("failed"), checked_again
    assert identity(path) == before


def test_merge_keeps_foreign_entries_and_absent_removes_only_ours(run_module, people, tmp_path):
    rahul = people["rahul"]
    path = tmp_path / "shared.kubeconfig"
    path.write_text(yaml.safe_dump(FOREIGN, sort_keys=False))
    ours = f"{rahul.name}@prod"
    args = rahul.args(path, cluster="prod")

    checked = run_module(MODULE, args, check=True)
    assert checked["changed"] and checked["current_context"] == "sso@lab"
    assert yaml.safe_load(path.read_text()) == FOREIGN
    assert run_module(MODULE, args)["changed"]
    merged = load(path)
    for section in ("clusters", "users", "contexts"):
        assert ordered(merged[section][:2]) == ordered(FOREIGN[section]), section
        assert names(merged, section)[2:] == ["prod" if section == "clusters" else ours]
    for key in ("apiVersion", "kind", "preferences", "current-context", "extensions"):
        assert ordered(merged[key]) == ordered(FOREIGN[key]), key
    assert whoami(path, ours)["username"] == rahul.name
    assert not run_module(MODULE, args)["changed"]

    removal = rahul.args(path, cluster="prod", state="absent")
    assert run_module(MODULE, removal, check=True)["changed"]
    assert run_module(MODULE, removal)["changed"]
    assert ordered(load(path)) == ordered(FOREIGN)
    assert not run_module(MODULE, removal)["changed"]
    assert not run_module(MODULE, removal, check=True)["changed"]


def test_a_file_that_is_not_a_kubeconfig_is_never_overwritten(run_module, people, tmp_path):
    rahul = people["rahul"]
    files = {
        "broken.yaml": b"apiVersion: v1\nusers:\n- name: x\n  user: {client-key-data: c2VjcmV0LWtleQ==\n",
        "inventory.yaml": b"all:\n  hosts:\n    web1: {}\n",
        "list.yaml": b"- clusters\n- users\n",
        "binary.bin": bytes(range(256)),
    }
    items = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        items.append({"path": str(tmp_path / name)})
    result = run_module(MODULE, {"user": rahul.name, "client_certificate_path": rahul.cert,
                                 "client_key_path": rahul.key, "users": items})
    assert result["failed"] and not result["changed"]
    for name, data in files.items():
        assert f"path: {tmp_path / name} is not" in result["msg"]
        assert (tmp_path / name).read_bytes() == data
    assert "c2VjcmV0LWtleQ" not in result["msg"]
    assert f"{tmp_path / 'broken.yaml'} is not valid YAML (line " in result["msg"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_diff_shows_the_change_and_never_the_key(playbook, people, tmp_path, monkeypatch):
    rahul = people["rahul"]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(FOREIGN, sort_keys=False))
    monkeypatch.setenv("ANSIBLE_VERBOSITY", "3")  # the module's arguments and whole result are printed too
    runs = []
    for index, (check, extra) in enumerate([(True, {}), (False, {}), (False, {"namespace": "dev"})]):
        run = playbook("run_module.yml", module=MODULE, module_args=rahul.args(path, cluster="prod", **extra),
                       check=check, diff=True, result_file=f"diff-{index}.json").assert_ok()
        runs.append((run.output, (tmp_path / f"diff-{index}.json").read_text()))

    key_b64 = base64.b64encode(rahul.key_pem).decode()
    key_lines = [line for line in rahul.key_pem.decode().splitlines() if "-----" not in line]
    for output, result_text in runs:
        for shown in (output, result_text):
            assert "PRIVATE KEY" not in shown
            assert key_b64[40:100] not in shown
            assert not [line for line in key_lines if line in shown]
            assert "ops-secret-token" not in shown
    check_result = json.loads(runs[0][1])
    assert check_result["changed"]
    diff = check_result["diff"]
    assert diff["before_header"] == diff["after_header"] == str(path)
    assert f"name: {rahul.name}@prod" in diff["after"] and f"{rahul.name}@prod" not in diff["before"]
    assert "client-key-data: <redacted>" in diff["after"]
    assert "token: <redacted>" in diff["before"]
    assert "client-certificate-data: <redacted, " in diff["after"]
    assert f"+- name: {rahul.name}@prod" in runs[0][0]
    namespace_diff = json.loads(runs[2][1])["diff"]
    assert "namespace: dev" in namespace_diff["after"] and "namespace: dev" not in namespace_diff["before"]


def test_verify_in_check_mode_and_for_real(run_module, people, tmp_path):
    seema = people["seema"]
    path = tmp_path / "kubeconfig"
    args = seema.args(path, verify=True)
    checked = run_module(MODULE, args, check=True)
    assert checked["changed"] and not path.exists()
    assert checked["verified"]["username"] == seema.name
    written = run_module(MODULE, dict(args, expected_groups=["platform"]))
    assert written["changed"] and not written.get("failed"), written
    assert written["verified"]["method"] == "SelfSubjectReview/v1"
    assert {"app1-devs", "platform", "system:authenticated"} <= set(written["verified"]["groups"])
    again = run_module(MODULE, args)
    assert not again["changed"] and again["verified"]["username"] == seema.name


def test_parallel_runs_merging_into_one_file_lose_nothing(run_module, tmp_path):
    path = tmp_path / "shared" / "kubeconfig"
    team = [local_person(tmp_path, f"member{index}") for index in range(6)]
    with concurrent.futures.ThreadPoolExecutor(len(team)) as pool:
        results = list(pool.map(lambda person: run_module(MODULE, person.args(path, cluster="prod")), team))
    assert all(r["changed"] and not r.get("failed") for r in results), results
    config = load(path)
    assert sorted(names(config, "users")) == sorted(f"{p.name}@prod" for p in team)
    assert sorted(names(config, "contexts")) == sorted(f"{p.name}@prod" for p in team)
    assert names(config, "clusters") == ["prod"]
    assert config["current-context"] in names(config, "contexts")
    assert sorted(os.listdir(path.parent)) == [".kubeconfig.kubeaccess-lock", "kubeconfig"]


def test_batch_form(run_module, people, tmp_path):
    rahul, seema = people["rahul"], people["seema"]
    team, solo = tmp_path / "team.kubeconfig", tmp_path / "solo.kubeconfig"
    args = {"cluster": "prod", "verify": True, "users": [
        {"path": str(team), "user": rahul.name, "client_certificate_path": rahul.cert, "client_key_path": rahul.key},
        {"path": str(team), "user": seema.name, "client_certificate_path": seema.cert, "client_key_path": seema.key,
         "namespace": "app1"},
        {"path": str(solo), "user": seema.name, "client_certificate_path": seema.cert, "client_key_path": seema.key,
         "cluster": "staging", "embed_credentials": False},
    ]}
    checked = run_module(MODULE, args, check=True, diff=True)
    assert checked["changed"] and [r["changed"] for r in checked["results"]] == [True, True, True]
    assert [d["after_header"] for d in checked["diff"]] == [str(team), str(solo)]
    assert f"name: {seema.name}@prod" in checked["diff"][0]["after"]
    assert "diff" not in checked["results"][1]
    assert not team.exists() and not solo.exists()

    done = run_module(MODULE, args)
    assert done["changed"] and not done.get("failed"), done
    assert [(r["path"], r["context_name"]) for r in done["results"]] == [
        (str(team), f"{rahul.name}@prod"), (str(team), f"{seema.name}@prod"), (str(solo), f"{seema.name}@staging")]
    assert [r["verified"]["username"] for r in done["results"]] == [rahul.name, seema.name, seema.name]
    assert [r["current_context"] for r in done["results"]] == [f"{rahul.name}@prod"] * 2 + [f"{seema.name}@staging"]
    assert names(load(team), "contexts") == [f"{rahul.name}@prod", f"{seema.name}@prod"]
    assert whoami(team, f"{seema.name}@prod")["username"] == seema.name
    assert whoami(solo)["username"] == seema.name

    assert not run_module(MODULE, args)["changed"]
    assert not run_module(MODULE, args, check=True)["changed"]
