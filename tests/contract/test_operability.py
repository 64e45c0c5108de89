"""What only the local test API server has, for tests and benchmarks: a state file that survives restarts, request
counters and a request log, fault injection (error statuses, delays, dropped connections) and the settings switch.
Everything goes through the /_testserver/ control surface, which only system:masters may use.
"""
# pylint: disable=missing-function-docstring,redefined-outer-name

import base64
import os
import secrets
import time

import pytest
import requests

from tests.conftest import LocalServerProcess
from tests.contract.support import SSR_BODY, SSR_PATH, assert_status
from tests.kube import CSR_PATH, KubeHTTP, approve, csr_manifest, make_csr_pem, new_key, wait_for_certificate

pytestmark = pytest.mark.local_only("uses the local server's state file and /_testserver/ control surface")


@pytest.fixture
def faults(cluster):
    """Faults added in a test are all cleared afterwards, whatever happened."""
    yield lambda **fault: cluster.control("POST", "faults", fault)
    cluster.control("DELETE", "faults")


def _cm_path(namespace, name=""):
    return f"/api/v1/namespaces/{namespace}/configmaps" + (f"/{name}" if name else "")


# -- state file --------------------------------------------------------------------------------------------------

def test_state_file_keeps_objects_and_resource_versions_across_a_restart(tmp_path):
    workdir, state = str(tmp_path / "server"), str(tmp_path / "state.json")
    first = LocalServerProcess(workdir, "--state-file", state).start()
    try:
        admin = KubeHTTP(first.info["kubeconfig"], str(tmp_path / "creds1"))
        admin.json("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": "kept"}}, expect=201)
        configmap = admin.json("POST", _cm_path("kept"), {"apiVersion": "v1", "kind": "ConfigMap",
                                                          "metadata": {"name": "cm"}, "data": {"a": "1"}},
                               expect=201)
        admin.json("POST", CSR_PATH, csr_manifest("kept-csr", make_csr_pem(new_key(), "kept")), expect=201)
        approve(admin, "kept-csr")
        certificate = wait_for_certificate(admin, "kept-csr")
        account = admin.json("POST", "/api/v1/namespaces/kept/serviceaccounts",
                             {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot"}}, expect=201)
        token = admin.json("POST", "/api/v1/namespaces/kept/serviceaccounts/bot/token",
                           {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
                           expect=201)["status"]["token"]
        last_rv = int(admin.json("GET", "/api/v1/configmaps", expect=200)["metadata"]["resourceVersion"])
    finally:
        first.stop()
    assert first.process.returncode == 0
    assert os.path.exists(state)

    second = LocalServerProcess(workdir, "--state-file", state).start()
    try:
        admin = KubeHTTP(second.info["kubeconfig"], str(tmp_path / "creds2"))
        kept = admin.json("GET", _cm_path("kept", "cm"), expect=200)
        assert kept["metadata"]["uid"] == configmap["metadata"]["uid"]
        assert kept["metadata"]["resourceVersion"] == configmap["metadata"]["resourceVersion"]
        assert kept["data"] == {"a": "1"}
        csr = admin.json("GET", f"{CSR_PATH}/kept-csr", expect=200)
        assert base64.b64decode(csr["status"]["certificate"]) == certificate
        assert admin.json("GET", "/api/v1/namespaces/kept/serviceaccounts/bot",
                          expect=200)["metadata"]["uid"] == account["metadata"]["uid"]
        # The same CA and token key: the ServiceAccount token from before still authenticates.
        response = requests.post(second.info["url"] + SSR_PATH, json=SSR_BODY, verify=second.info["ca"],
                                 headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert response.status_code == 201, response.text
        assert response.json()["status"]["userInfo"]["username"] == "system:serviceaccount:kept:bot"
        updated = admin.json("PUT", _cm_path("kept", "cm"), dict(kept, data={"a": "2"}), expect=200)
        assert int(updated["metadata"]["resourceVersion"]) > last_rv
    finally:
        second.stop()


def test_without_a_state_file_a_restart_starts_empty(tmp_path):
    workdir = str(tmp_path / "server")
    first = LocalServerProcess(workdir).start()
    try:
        admin = KubeHTTP(first.info["kubeconfig"], str(tmp_path / "creds1"))
        admin.json("POST", _cm_path("default"), {"apiVersion": "v1", "kind": "ConfigMap",
                                                 "metadata": {"name": "lost"}}, expect=201)
    finally:
        first.stop()
    second = LocalServerProcess(workdir).start()
    try:
        admin = KubeHTTP(second.info["kubeconfig"], str(tmp_path / "creds2"))
        assert admin.request("GET", _cm_path("default", "lost")).status_code == 404
        assert admin.request("GET", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt").status_code == 200
    finally:
        second.stop()


# -- counters and request log ------------------------------------------------------------------------------------

def test_stats_count_requests_by_verb_and_resource_and_log_them(cluster, namespace):
    before = cluster.control("GET", "stats")["counters"]
    for _round in range(3):
        cluster.admin.json("GET", _cm_path(namespace), expect=200)
    cluster.admin.request("GET", _cm_path(namespace, "absent"))
    stats = cluster.control("GET", "stats")
    counters = stats["counters"]
    assert counters.get("list configmaps", 0) - before.get("list configmaps", 0) == 3
    assert counters.get("get configmaps", 0) - before.get("get configmaps", 0) == 1
    mine = [r for r in stats["requests"] if r["namespace"] == namespace and r["resource"] == "configmaps"]
    assert [(r["verb"], r["code"]) for r in mine[-4:]] == [("list", 200)] * 3 + [("get", 404)]
    whoami = cluster.admin.json("POST", SSR_PATH, SSR_BODY, expect=201)["status"]["userInfo"]["username"]
    assert all(r["user"] == whoami for r in mine[-4:])
    assert mine[-1]["name"] == "absent"
    assert mine[-1]["path"] == _cm_path(namespace, "absent")
    assert all(r["seconds"] >= 0 for r in mine)


def test_control_surface_is_for_system_masters_only(make_user):
    pia = make_user("pia")
    for what in ("stats", "faults", "settings"):
        assert_status(pia.http.request("GET", f"/_testserver/{what}"), 403, "Forbidden",
                      f'forbidden: User "{pia.name}" cannot get path "/_testserver/{what}"')


def test_settings_report_the_current_switches(cluster):
    settings = cluster.control("GET", "settings")
    # The session's server runs with the defaults, which are the real control plane's.
    assert settings == {"signingEnabled": True, "cleanerTimeScale": 1.0, "signingDelay": 0.0, "signerQPS": 20.0,
                        "signerBurst": 30, "namespaceDeletionDelay": 5.0}


def test_unknown_settings_are_refused_and_change_nothing(cluster):
    before = cluster.control("GET", "settings")
    response = cluster.admin.request("PUT", "/_testserver/settings", {"signingDelay": 9, "signingSpeed": 2})
    assert_status(response, 400, "BadRequest", "unknown settings: signingSpeed")
    assert cluster.control("GET", "settings") == before


# -- faults ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status, reason", [(429, "TooManyRequests"), (503, "ServiceUnavailable"),
                                            (500, "InternalError")])
def test_error_fault_answers_the_next_matching_request_then_normal(cluster, namespace, faults, status, reason):
    retry_after = status != 500  # 429 and 503 tell the client when to come back
    faults(status=status, retry_after=2, count=1, verb="list", resource="configmaps")
    assert cluster.admin.request("GET", _cm_path(namespace, "not-a-list")).status_code == 404  # get: no match
    response = cluster.admin.request("GET", _cm_path(namespace))
    body = assert_status(response, status, reason)
    if retry_after:
        assert response.headers["Retry-After"] == "2"
        assert body["details"]["retryAfterSeconds"] == 2
    assert cluster.admin.request("GET", _cm_path(namespace)).status_code == 200


def test_too_many_requests_fault_wording(cluster, namespace, faults):
    faults(status=429, retry_after=3, count=1, verb="list", resource="configmaps")
    response = cluster.admin.request("GET", _cm_path(namespace))
    assert_status(response, 429, "TooManyRequests",
                  "the server has received too many requests and has asked us to try again later")


def test_fault_with_a_count_fires_that_many_times(cluster, namespace, faults):
    faults(status=503, retry_after=1, count=2, verb="get", resource="configmaps")
    codes = [cluster.admin.request("GET", _cm_path(namespace, "kube-root-ca.crt")).status_code for _try in range(3)]
    assert codes == [503, 503, 200]


def test_fault_on_a_subresource(cluster, faults, cleanup):
    name = cluster.name(f"fault{secrets.token_hex(3)}")
    cluster.admin.json("POST", CSR_PATH, csr_manifest(name, make_csr_pem(new_key(), "f")), expect=201)
    cleanup.add(f"{CSR_PATH}/{name}")
    faults(status=500, count=1, verb="update", resource="certificatesigningrequests/approval")
    csr = cluster.admin.json("GET", f"{CSR_PATH}/{name}", expect=200)
    csr["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "R", "message": "m"}]}
    assert_status(cluster.admin.request("PUT", f"{CSR_PATH}/{name}/approval", csr), 500, "InternalError")
    assert cluster.admin.request("PUT", f"{CSR_PATH}/{name}/approval", csr).status_code == 200


def test_delay_fault_slows_the_request_down(cluster, namespace, faults):
    faults(delay=0.5, count=1, verb="list", resource="configmaps")
    started = time.monotonic()
    response = cluster.admin.request("GET", _cm_path(namespace))
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.5


def test_drop_fault_closes_the_connection_without_an_answer(cluster, namespace, faults):
    faults(drop=True, count=1, verb="list", resource="configmaps")
    session = requests.Session()
    session.trust_env = False
    session.cert = cluster.admin.session.cert
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(cluster.server + _cm_path(namespace), verify=cluster.admin.ca_file, timeout=30)
    assert session.get(cluster.server + _cm_path(namespace), verify=cluster.admin.ca_file,
                       timeout=30).status_code == 200


def test_faults_are_listed_and_cleared(cluster, faults):
    faults(status=503, count=0, verb="watch", resource="nothing-uses-this")
    listed = cluster.control("GET", "faults")["faults"]
    assert {"status": 503, "count": 0, "verb": "watch", "resource": "nothing-uses-this"}.items() <= listed[-1].items()
    assert cluster.control("DELETE", "faults")["faults"] == []
