"""kube-controller-manager's csrcleaner (semantics §3.7) on a local server whose clock for the cleaner runs fast:
with --cleaner-time-scale 7200, the cleaner's hour is half a second and its day twelve seconds.

Deleted: approved-and-issued, denied and failed requests once their condition is an hour old; pending requests
(no conditions) once a day old. Approved requests that were never issued stay.
"""
# pylint: disable=missing-function-docstring,redefined-outer-name

import json
import secrets
import time

import pytest

from tests.conftest import LocalServerProcess
from tests.contract.support import conditions
from tests.kube import set_condition, wait_for
from tests.kube import CSR_PATH, KubeHTTP, approve, csr_manifest, make_csr_pem, new_key

SCALE = 7200
HOUR = 3600 / SCALE  # 0.5 s
DAY = 24 * HOUR  # 12 s

pytestmark = pytest.mark.local_only("starts a local server with --cleaner-time-scale")


@pytest.fixture(scope="module")
def fast_cleaner(tmp_path_factory):
    process = LocalServerProcess(str(tmp_path_factory.mktemp("cleaner")), "--cleaner-time-scale", str(SCALE)).start()
    try:
        yield KubeHTTP(process.info["kubeconfig"], str(tmp_path_factory.mktemp("cleaner-creds")))
    finally:
        process.stop()


def _create(admin, base, **manifest):
    name = f"{base}-{secrets.token_hex(3)}"
    admin.json("POST", CSR_PATH, csr_manifest(name, make_csr_pem(new_key(), base), **manifest), expect=201)
    return name


def _exists(admin, name):
    return admin.request("GET", f"{CSR_PATH}/{name}").status_code == 200


def _gone(admin, name, timeout):
    wait_for(lambda: not _exists(admin, name), timeout=timeout, what=f"the cleaner to delete {name}")


def _watch_events(admin, name, resource_version, seconds):
    """The ADDED/MODIFIED/DELETED events of one CSR since resource_version, as (type, certificate?, conditions)."""
    response = admin.request("GET", f"{CSR_PATH}?watch=true&resourceVersion={resource_version}"
                                    f"&fieldSelector=metadata.name%3D{name}&timeoutSeconds={seconds}", stream=True)
    assert response.status_code == 200
    seen = []
    for line in response.iter_lines():
        if not line:
            continue
        event = json.loads(line)
        obj = event["object"]
        seen.append((event["type"], bool((obj.get("status") or {}).get("certificate")), sorted(conditions(obj))))
        if event["type"] == "DELETED":
            break
    response.close()
    return seen


def test_issued_request_is_deleted_an_hour_after_approval(fast_cleaner):
    start = fast_cleaner.json("GET", CSR_PATH, expect=200)["metadata"]["resourceVersion"]
    name = _create(fast_cleaner, "issued")
    approve(fast_cleaner, name)
    _gone(fast_cleaner, name, timeout=10)
    events = _watch_events(fast_cleaner, name, start, seconds=5)
    assert events[0] == ("ADDED", False, [])
    assert ("MODIFIED", True, ["Approved"]) in events  # it was issued before it went
    assert events[-1][0] == "DELETED"


def test_denied_request_is_deleted_an_hour_after_denial(fast_cleaner):
    name = _create(fast_cleaner, "denied")
    assert set_condition(fast_cleaner, name, "Denied").status_code == 200
    _gone(fast_cleaner, name, timeout=10)


def test_failed_request_is_deleted_an_hour_after_failing(fast_cleaner):
    name = _create(fast_cleaner, "failed", usages=("server auth",))
    approve(fast_cleaner, name)
    _gone(fast_cleaner, name, timeout=10)


def test_pending_request_lives_a_day_and_an_approved_unissued_one_stays(fast_cleaner):
    settings = fast_cleaner.json("GET", "/_testserver/settings", expect=200)
    fast_cleaner.json("PUT", "/_testserver/settings", {"signingEnabled": False}, expect=200)
    try:
        pending = _create(fast_cleaner, "pending")
        unissued = _create(fast_cleaner, "unissued")
        approve(fast_cleaner, unissued)
        time.sleep(6 * HOUR)  # well past the one-hour mark, well before the one-day mark
        assert _exists(fast_cleaner, pending)
        assert _exists(fast_cleaner, unissued)
        _gone(fast_cleaner, pending, timeout=DAY + 15)
        csr = fast_cleaner.json("GET", f"{CSR_PATH}/{unissued}", expect=200)
        assert list(conditions(csr)) == ["Approved"] and not csr["status"].get("certificate")
    finally:
        fast_cleaner.json("PUT", "/_testserver/settings", {"signingEnabled": settings["signingEnabled"]}, expect=200)
