"""The batch forms of k8s_csr_request (`requests`) and k8s_csr_approve (`csrs`): several users in one task."""

import os

from tests.kube import CSR_PATH, kubectl, write_user_kubeconfig


def _requests(cluster, tmp_path, users):
    return [{"user": cluster.name(user), "groups": [f"team-{user}"],
             "private_key_path": str(tmp_path / user / "user.key"),
             "certificate_path": str(tmp_path / user / "user.crt")} for user in users]


def test_requests_and_approvals_in_one_task_each(run_module, cluster, cleanup, tmp_path):
    users = ("ann", "bob", "cyd")
    requests = _requests(cluster, tmp_path, users)
    args = {"requests": requests, "expiration_seconds": 3600}

    check = run_module("k8s_csr_request", args, check=True)
    assert check["changed"] and not check.get("failed") and len(check["results"]) == 3
    assert not any(os.path.exists(r["private_key_path"]) for r in requests)

    made = run_module("k8s_csr_request", args, diff=True)
    assert made["changed"] and [r["phase"] for r in made["results"]] == ["pending"] * 3
    assert len(made["diff"]) == 3
    for result in made["results"]:
        cleanup.add(f"{CSR_PATH}/{result['name']}")
    again = run_module("k8s_csr_request", args)
    assert not again["changed"] and [r["action"] for r in again["results"]] == ["reuse"] * 3
    assert not run_module("k8s_csr_request", args, check=True)["changed"]

    csrs = [{"name": result["name"], "expected_user": request["user"], "allowed_groups": request["groups"],
             "expected_public_key_fingerprint": result["public_key_fingerprint"],
             "certificate_path": request["certificate_path"]} for request, result in zip(requests, made["results"])]
    approve_args = {"csrs": csrs, "wait": True}
    predicted = run_module("k8s_csr_approve", approve_args, check=True)
    assert predicted["changed"] and [r["phase"] for r in predicted["results"]] == ["approved"] * 3
    approved = run_module("k8s_csr_approve", approve_args)
    assert approved["changed"] and [r["phase"] for r in approved["results"]] == ["issued"] * 3
    assert not run_module("k8s_csr_approve", approve_args)["changed"]
    assert not run_module("k8s_csr_approve", approve_args, check=True)["changed"]

    # Every user got their own certificate, which the API server accepts for that user.
    for request, result in zip(requests, approved["results"]):
        with open(request["certificate_path"], "rb") as cert, open(request["private_key_path"], "rb") as key:
            kubeconfig = write_user_kubeconfig(str(tmp_path / f"{request['user']}.kubeconfig"), cluster.server,
                                               cluster.ca_pem, request["user"], cert.read(), key.read())
        assert result["common_name"] == request["user"]
        assert f'"username": "{request["user"]}"' in kubectl(kubeconfig, "auth", "whoami", "-o", "json",
                                                             check=0).stdout
    # With the certificates stored, the batch has nothing to do and makes no API call.
    done = run_module("k8s_csr_request", args)
    assert not done["changed"] and [r["phase"] for r in done["results"]] == ["issued"] * 3


def test_bad_item_fails_the_batch_before_anything_is_done(run_module, cluster, tmp_path, admin):
    requests = _requests(cluster, tmp_path, ("dan", "eve"))
    requests[1]["groups"] = ["system:masters"]
    requests.append({"user": cluster.name("fay"), "private_key_path": str(tmp_path / "fay.key"), "colour": "red"})
    failed = run_module("k8s_csr_request", {"requests": requests})
    assert failed["failed"] and not failed["changed"]
    assert "requests[2]: colour" in failed["msg"]
    assert not any(os.path.exists(r["private_key_path"]) for r in requests)
    listed = admin.json("GET", CSR_PATH, expect=200)["items"]
    assert not [o for o in listed if cluster.name("dan") in o["metadata"]["name"]]


def test_one_refused_approval_does_not_stop_the_others(run_module, cluster, cleanup, tmp_path):
    requests = _requests(cluster, tmp_path, ("gus", "hal"))
    made = run_module("k8s_csr_request", {"requests": requests, "expiration_seconds": 3600})
    for result in made["results"]:
        cleanup.add(f"{CSR_PATH}/{result['name']}")
    csrs = [{"name": made["results"][0]["name"], "expected_user": requests[0]["user"]},
            {"name": made["results"][1]["name"], "expected_user": "somebody-else"}]
    outcome = run_module("k8s_csr_approve", {"csrs": csrs})
    assert outcome["failed"] and outcome["changed"]
    assert "1 of 2 csrs failed: csrs[1]" in outcome["msg"] and "expected_user" in outcome["msg"]
    assert [r.get("phase") for r in outcome["results"]][0] in ("approved", "issued")


def test_key_and_request_made_on_one_host_submitted_from_another(run_module, cluster, cleanup, tmp_path):
    """submit=false on the user's machine, csr_content on the controller: only the request travels."""
    user = cluster.name("kim")
    laptop, controller = tmp_path / "laptop", tmp_path / "controller"
    # A kubeconfig that does not exist proves that submit=false never connects.
    on_laptop = {"user": user, "groups": ["team-kim"], "private_key_path": str(laptop / "kim.key"),
                 "submit": False, "kubeconfig": str(tmp_path / "no-such-kubeconfig")}
    # Check mode and a second run on the laptop: tests/unit/backends/test_backend_csr_request.py.
    made = run_module("k8s_csr_request", on_laptop)
    assert made["changed"] and made["phase"] == "unsubmitted" and made["action"] == "none"
    assert os.stat(laptop / "kim.key").st_mode & 0o777 == 0o600
    assert "PRIVATE KEY" not in str(made) and made["request"].startswith("-----BEGIN CERTIFICATE REQUEST-----")

    submitted = run_module("k8s_csr_request", {"csr_content": made["request"], "user": user,
                                               "certificate_path": str(controller / "kim.crt")})
    assert submitted["name"] == made["name"] and submitted["phase"] == "pending"
    cleanup.add(f"{CSR_PATH}/{submitted['name']}")
    approved = run_module("k8s_csr_approve", {
        "name": submitted["name"], "expected_user": user, "allowed_groups": ["team-kim"], "wait": True,
        "expected_public_key_fingerprint": made["public_key_fingerprint"],
        "certificate_path": str(controller / "kim.crt")})
    assert approved["phase"] == "issued"
    assert sorted(os.listdir(controller)) == ["kim.crt"], "the controller holds the certificate, never the key"

    # The certificate, once next to the key, makes the machine's run report it issued.
    os.replace(controller / "kim.crt", laptop / "kim.crt")
    issued = run_module("k8s_csr_request", dict(on_laptop, certificate_path=str(laptop / "kim.crt")))
    assert not issued["changed"] and issued["phase"] == "issued" and issued["common_name"] == user
