"""Generic API machinery as kube-apiserver serves it: selectors, optimistic concurrency, Status errors, the three
patch types, delete, object metadata, watch, Table output, namespace defaults, and the kubernetes Python client.
"""
# pylint: disable=missing-function-docstring,redefined-outer-name

import base64
import json
import secrets
import time
import urllib.parse

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.dynamic import DynamicClient

from tests.contract.support import RBAC, assert_status, create_csr
from tests.kube import kubectl, wait_for
from tests.kube import CLIENT_SIGNER, CSR_PATH, csr_manifest, make_csr_pem, new_key

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def _cm_path(namespace, name=""):
    return f"/api/v1/namespaces/{namespace}/configmaps" + (f"/{name}" if name else "")


def _configmap(name, labels=None, data=None):
    metadata = {"name": name}
    if labels is not None:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data or {"a": "1"}}


def _names(listing):
    return sorted(item["metadata"]["name"] for item in listing["items"])


def _query(**params):
    return "?" + urllib.parse.urlencode(params)


# -- selectors ---------------------------------------------------------------------------------------------------

@pytest.fixture
def labelled(cluster, namespace):
    """Four ConfigMaps: web, db, cache (tier labels) and plain (no tier), all with suite=<unique>."""
    suite = secrets.token_hex(4)
    tiers = {"web": "web", "db": "db", "cache": "cache", "plain": None}
    for name, tier in tiers.items():
        labels = {"suite": suite, **({"tier": tier} if tier else {})}
        cluster.admin.json("POST", _cm_path(namespace), _configmap(name, labels), expect=201)
    return namespace, suite


@pytest.mark.parametrize("selector, expected", [
    ("tier=web", ["web"]),
    ("tier==web", ["web"]),
    ("tier!=web", ["cache", "db", "plain"]),
    ("tier in (web,db)", ["db", "web"]),
    ("tier notin (web,db)", ["cache", "plain"]),
    ("tier", ["cache", "db", "web"]),
    ("!tier", ["plain"]),
    ("tier,tier!=cache", ["db", "web"]),
])
def test_label_selectors(cluster, labelled, selector, expected):
    namespace, suite = labelled
    listing = cluster.admin.json("GET", _cm_path(namespace) + _query(labelSelector=f"suite={suite},{selector}"),
                                 expect=200)
    assert _names(listing) == expected


def test_field_selector_on_the_name(cluster, labelled):
    namespace, suite = labelled
    listing = cluster.admin.json("GET", _cm_path(namespace) + _query(fieldSelector="metadata.name=db"), expect=200)
    assert _names(listing) == ["db"]
    listing = cluster.admin.json("GET", _cm_path(namespace) + _query(fieldSelector="metadata.name!=db",
                                                                     labelSelector=f"suite={suite}"), expect=200)
    assert _names(listing) == ["cache", "plain", "web"]
    listing = cluster.admin.json("GET", "/api/v1/configmaps" + _query(fieldSelector=f"metadata.namespace={namespace}",
                                                                      labelSelector=f"suite={suite}"), expect=200)
    assert _names(listing) == ["cache", "db", "plain", "web"]


def test_unknown_field_selector_is_a_bad_request(cluster, namespace):
    response = cluster.admin.request("GET", _cm_path(namespace) + _query(fieldSelector="data.a=1"))
    assert_status(response, 400, "BadRequest",
                  '"data.a" is not a known field selector: only "metadata.name", "metadata.namespace"')


def test_csr_field_selector_on_the_signer_name(cluster, cleanup):
    name = cluster.name(f"fs{secrets.token_hex(3)}")
    create_csr(cluster.admin, cleanup, name, signer="example.com/field-selector")
    listing = cluster.admin.json("GET", CSR_PATH + _query(fieldSelector="spec.signerName=example.com/field-selector"),
                                 expect=200)
    assert name in _names(listing)
    assert all(i["spec"]["signerName"] == "example.com/field-selector" for i in listing["items"])
    response = cluster.admin.request("GET", CSR_PATH + _query(fieldSelector="spec.username=kubernetes-admin"))
    assert_status(response, 400, "BadRequest", "field label not supported: spec.username")


# -- metadata, versions and conflicts ----------------------------------------------------------------------------

def test_created_object_has_uid_resource_version_and_creation_timestamp(cluster, namespace):
    created = cluster.admin.json("POST", _cm_path(namespace), _configmap("meta"), expect=201)
    meta = created["metadata"]
    assert (created["kind"], created["apiVersion"]) == ("ConfigMap", "v1")
    assert meta["namespace"] == namespace
    assert len(meta["uid"]) == 36
    assert meta["resourceVersion"].isdigit()
    assert meta["creationTimestamp"].endswith("Z")
    fetched = cluster.admin.json("GET", _cm_path(namespace, "meta"), expect=200)
    assert fetched["metadata"]["uid"] == meta["uid"]
    assert fetched["metadata"]["resourceVersion"] == meta["resourceVersion"]


def test_resource_version_increases_with_each_change_and_not_without_one(cluster, namespace):
    first = cluster.admin.json("POST", _cm_path(namespace), _configmap("rv"), expect=201)
    first_rv = int(first["metadata"]["resourceVersion"])
    first["data"] = {"a": "2"}
    second = cluster.admin.json("PUT", _cm_path(namespace, "rv"), first, expect=200)
    second_rv = int(second["metadata"]["resourceVersion"])
    assert second_rv > first_rv
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    same = cluster.admin.json("PUT", _cm_path(namespace, "rv"), second, expect=200)
    assert int(same["metadata"]["resourceVersion"]) == second_rv
    other = cluster.admin.json("POST", _cm_path(namespace), _configmap("rv2"), expect=201)
    assert int(other["metadata"]["resourceVersion"]) > second_rv
    listing = cluster.admin.json("GET", _cm_path(namespace), expect=200)
    assert int(listing["metadata"]["resourceVersion"]) >= int(other["metadata"]["resourceVersion"])


def test_update_with_a_stale_resource_version_conflicts(cluster, namespace):
    created = cluster.admin.json("POST", _cm_path(namespace), _configmap("stale"), expect=201)
    fresh = dict(created, data={"a": "fresh"})
    cluster.admin.json("PUT", _cm_path(namespace, "stale"), fresh, expect=200)
    stale = dict(created, data={"a": "stale"})
    response = cluster.admin.request("PUT", _cm_path(namespace, "stale"), stale)
    body = assert_status(response, 409, "Conflict",
                         'Operation cannot be fulfilled on configmaps "stale": the object has been modified; please '
                         'apply your changes to the latest version and try again')
    assert body["details"] == {"name": "stale", "kind": "configmaps"}
    assert cluster.admin.json("GET", _cm_path(namespace, "stale"), expect=200)["data"] == {"a": "fresh"}


def test_update_without_a_resource_version_is_unconditional(cluster, namespace):
    created = cluster.admin.json("POST", _cm_path(namespace), _configmap("uncond"), expect=201)
    body = _configmap("uncond", data={"a": "latest"})
    updated = cluster.admin.json("PUT", _cm_path(namespace, "uncond"), body, expect=200)
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


def test_create_with_a_resource_version_is_refused(cluster, namespace):
    body = _configmap("with-rv")
    body["metadata"]["resourceVersion"] = "12345"
    response = cluster.admin.request("POST", _cm_path(namespace), body)
    assert response.status_code == 500, response.text
    assert response.json()["message"] == "resourceVersion should not be set on objects to be created"
    assert cluster.admin.request("GET", _cm_path(namespace, "with-rv")).status_code == 404


def test_delete_with_a_stale_resource_version_precondition_conflicts(cluster, namespace):
    created = cluster.admin.json("POST", _cm_path(namespace), _configmap("precond"), expect=201)
    old_rv = created["metadata"]["resourceVersion"]
    updated = cluster.admin.json("PUT", _cm_path(namespace, "precond"), dict(created, data={"a": "2"}), expect=200)
    response = cluster.admin.request("DELETE", _cm_path(namespace, "precond"),
                                     {"apiVersion": "v1", "kind": "DeleteOptions",
                                      "preconditions": {"resourceVersion": old_rv}})
    body = assert_status(response, 409, "Conflict",
                         f'Operation cannot be fulfilled on ConfigMap "precond": the ResourceVersion in the '
                         f'precondition ({old_rv}) does not match the ResourceVersion in record '
                         f'({updated["metadata"]["resourceVersion"]}). The object might have been modified')
    assert body["details"] == {"name": "precond", "kind": "ConfigMap"}
    assert cluster.admin.request("GET", _cm_path(namespace, "precond")).status_code == 200


def test_delete_with_a_wrong_uid_precondition_conflicts(cluster, cleanup):
    name = cluster.name(f"uid{secrets.token_hex(3)}")
    created, _key = create_csr(cluster.admin, cleanup, name)
    response = cluster.admin.request("DELETE", f"{CSR_PATH}/{name}",
                                     {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "other"}})
    body = assert_status(response, 409, "Conflict",
                         f'Operation cannot be fulfilled on CertificateSigningRequest.certificates.k8s.io "{name}": '
                         f'the UID in the precondition (other) does not match the UID in record '
                         f'({created["metadata"]["uid"]}). The object might have been deleted and then recreated')
    assert body["details"] == {"name": name, "group": "certificates.k8s.io", "kind": "CertificateSigningRequest"}
    response = cluster.admin.request("DELETE", f"{CSR_PATH}/{name}", {
        "apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": created["metadata"]["uid"]}})
    assert response.json()["status"] == "Success"


# -- Status errors -----------------------------------------------------------------------------------------------

def test_create_of_an_existing_name_already_exists(cluster, namespace):
    cluster.admin.json("POST", _cm_path(namespace), _configmap("twice"), expect=201)
    response = cluster.admin.request("POST", _cm_path(namespace), _configmap("twice"))
    body = assert_status(response, 409, "AlreadyExists", 'configmaps "twice" already exists')
    assert body["details"] == {"name": "twice", "kind": "configmaps"}


def test_get_of_a_missing_object_is_not_found(cluster, namespace):
    response = cluster.admin.request("GET", _cm_path(namespace, "missing"))
    body = assert_status(response, 404, "NotFound", 'configmaps "missing" not found')
    assert body["details"] == {"name": "missing", "kind": "configmaps"}
    response = cluster.admin.request("GET", f"{RBAC}/namespaces/{namespace}/rolebindings/missing")
    body = assert_status(response, 404, "NotFound", 'rolebindings.rbac.authorization.k8s.io "missing" not found')
    assert body["details"] == {"name": "missing", "group": "rbac.authorization.k8s.io", "kind": "rolebindings"}


def test_delete_of_a_missing_object_is_not_found(cluster, namespace):
    response = cluster.admin.request("DELETE", _cm_path(namespace, "missing"))
    assert_status(response, 404, "NotFound", 'configmaps "missing" not found')


def test_create_in_a_missing_namespace_is_not_found(cluster):
    missing = cluster.name("no-such-namespace")
    response = cluster.admin.request("POST", _cm_path(missing), _configmap("x"))
    body = assert_status(response, 404, "NotFound", f'namespaces "{missing}" not found')
    assert body["details"] == {"name": missing, "kind": "namespaces"}


def test_invalid_object_is_unprocessable_with_causes(cluster, namespace):
    response = cluster.admin.request("POST", _cm_path(namespace), _configmap("Not_Valid"))
    body = assert_status(response, 422, "Invalid")
    assert body["message"].startswith('ConfigMap "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid": '
                                      'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric '
                                      "characters, '-' or '.'")
    assert body["details"]["name"] == "Not_Valid"
    assert body["details"]["kind"] == "ConfigMap"
    assert [(c["reason"], c["field"]) for c in body["details"]["causes"]] == [("FieldValueInvalid", "metadata.name")]


def test_invalid_role_binding_lists_every_cause(cluster, namespace):
    body = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "broken"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Team", "name": "edit"},
            "subjects": [{"kind": "Robot", "name": "r2"}]}
    response = cluster.admin.request("POST", f"{RBAC}/namespaces/{namespace}/rolebindings", body)
    status = assert_status(response, 422, "Invalid")
    assert status["message"].startswith('RoleBinding.rbac.authorization.k8s.io "broken" is invalid: [')
    causes = {(c["reason"], c["field"]) for c in status["details"]["causes"]}
    assert ("FieldValueNotSupported", "roleRef.kind") in causes
    assert ("FieldValueNotSupported", "subjects[0].kind") in causes
    assert 'roleRef.kind: Unsupported value: "Team": supported values: "Role", "ClusterRole"' in status["message"]


def test_csr_with_a_bad_usage_and_a_short_duration_reports_both(cluster):
    name = cluster.name(f"bad{secrets.token_hex(3)}")
    body = csr_manifest(name, make_csr_pem(new_key(), "x"), usages=("client auth", "client auth"), expiration=300)
    response = cluster.admin.request("POST", CSR_PATH, body)
    status = assert_status(response, 422, "Invalid")
    assert [(c["reason"], c["field"]) for c in status["details"]["causes"]] == [
        ("FieldValueDuplicate", "spec.usages[1]"), ("FieldValueInvalid", "spec.expirationSeconds")]
    assert status["message"] == (
        f'CertificateSigningRequest.certificates.k8s.io "{name}" is invalid: [spec.usages[1]: Duplicate value: '
        f'"client auth", spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 600 '
        f'seconds (10 minutes)]')


# -- patches -----------------------------------------------------------------------------------------------------

def test_json_merge_patch_on_a_configmap(cluster, namespace):
    cluster.admin.json("POST", _cm_path(namespace), _configmap("merge", data={"a": "1", "b": "2"}), expect=201)
    patched = cluster.admin.json("PATCH", _cm_path(namespace, "merge"),
                                 {"data": {"b": None, "c": "3"}, "metadata": {"labels": {"x": "y"}}},
                                 content_type="application/merge-patch+json", expect=200)
    assert patched["data"] == {"a": "1", "c": "3"}
    assert patched["metadata"]["labels"] == {"x": "y"}


def test_merge_patch_with_a_stale_resource_version_conflicts(cluster, namespace):
    created = cluster.admin.json("POST", _cm_path(namespace), _configmap("patch-rv", data={"a": "1"}), expect=201)
    cluster.admin.json("PATCH", _cm_path(namespace, "patch-rv"), {"data": {"a": "2"}},
                       content_type="application/merge-patch+json", expect=200)
    response = cluster.admin.request("PATCH", _cm_path(namespace, "patch-rv"),
                                     {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
                                      "data": {"a": "stale"}},
                                     content_type="application/merge-patch+json")
    assert_status(response, 409, "Conflict",
                  'Operation cannot be fulfilled on configmaps "patch-rv": the object has been modified; please '
                  'apply your changes to the latest version and try again')
    assert cluster.admin.json("GET", _cm_path(namespace, "patch-rv"), expect=200)["data"] == {"a": "2"}


def _view_binding_for_user_one(cluster, namespace, cleanup, name):
    """A RoleBinding of ClusterRole view to User "one"; returns the collection path."""
    path = f"{RBAC}/namespaces/{namespace}/rolebindings"
    cluster.admin.json("POST", path, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "one", "apiGroup": "rbac.authorization.k8s.io"}]}, expect=201)
    cleanup.add(f"{path}/{name}")
    return path


def test_strategic_merge_patch_on_a_configmap_and_a_role_binding(cluster, namespace, cleanup):
    cluster.admin.json("POST", _cm_path(namespace), _configmap("smp", data={"a": "1"}), expect=201)
    patched = cluster.admin.json("PATCH", _cm_path(namespace, "smp"), {"data": {"b": "2"}},
                                 content_type="application/strategic-merge-patch+json", expect=200)
    assert patched["data"] == {"a": "1", "b": "2"}
    name = f"smp-{secrets.token_hex(3)}"
    path = _view_binding_for_user_one(cluster, namespace, cleanup, name)
    # RoleBinding.subjects has no patch merge key: a strategic merge patch replaces the whole list.
    patched = cluster.admin.json("PATCH", f"{path}/{name}", {
        "subjects": [{"kind": "User", "name": "two", "apiGroup": "rbac.authorization.k8s.io"}]},
        content_type="application/strategic-merge-patch+json", expect=200)
    assert [s["name"] for s in patched["subjects"]] == ["two"]


def test_json_patch_on_a_role_binding(cluster, namespace, cleanup):
    name = f"jp-{secrets.token_hex(3)}"
    path = _view_binding_for_user_one(cluster, namespace, cleanup, name)
    group = {"kind": "Group", "name": "team", "apiGroup": "rbac.authorization.k8s.io"}
    patched = cluster.admin.json("PATCH", f"{path}/{name}", [
        {"op": "add", "path": "/subjects/-", "value": group},
        {"op": "replace", "path": "/subjects/0/name", "value": "uno"}],
        content_type="application/json-patch+json", expect=200)
    assert [(s["kind"], s["name"]) for s in patched["subjects"]] == [("User", "uno"), ("Group", "team")]
    response = cluster.admin.request("PATCH", f"{path}/{name}",
                                     [{"op": "replace", "path": "/roleRef/name", "value": "edit"}],
                                     content_type="application/json-patch+json")
    assert_status(response, 422, "Invalid")
    assert "cannot change roleRef" in response.json()["message"]


def test_json_patch_on_a_configmap_and_a_failing_test_operation(cluster, namespace):
    cluster.admin.json("POST", _cm_path(namespace), _configmap("jp", data={"a": "1"}), expect=201)
    patched = cluster.admin.json("PATCH", _cm_path(namespace, "jp"), [
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "replace", "path": "/data/a", "value": "2"},
        {"op": "add", "path": "/data/b", "value": "3"}], content_type="application/json-patch+json", expect=200)
    assert patched["data"] == {"a": "2", "b": "3"}
    response = cluster.admin.request("PATCH", _cm_path(namespace, "jp"), [
        {"op": "test", "path": "/data/a", "value": "1"}, {"op": "remove", "path": "/data/a"}],
        content_type="application/json-patch+json")
    body = assert_status(response, 422, "Invalid", "the server rejected our request due to an error in our request")
    assert body["details"] == {}
    assert cluster.admin.json("GET", _cm_path(namespace, "jp"), expect=200)["data"] == {"a": "2", "b": "3"}


def test_patch_with_an_unknown_content_type_is_unsupported(cluster, namespace):
    cluster.admin.json("POST", _cm_path(namespace), _configmap("ct"), expect=201)
    response = cluster.admin.request("PATCH", _cm_path(namespace, "ct"), {"data": {"b": "2"}},
                                     content_type="application/json")
    assert_status(response, 415, "UnsupportedMediaType")


# -- delete ------------------------------------------------------------------------------------------------------

def test_delete_answers_a_success_status(cluster, namespace):
    created = cluster.admin.json("POST", _cm_path(namespace), _configmap("gone"), expect=201)
    response = cluster.admin.request("DELETE", _cm_path(namespace, "gone"))
    assert response.status_code == 200
    assert response.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                               "details": {"name": "gone", "kind": "configmaps",
                                           "uid": created["metadata"]["uid"]}}
    assert cluster.admin.request("GET", _cm_path(namespace, "gone")).status_code == 404


def test_deleting_a_namespace_answers_the_terminating_namespace(cluster):
    name = cluster.name(f"ns{secrets.token_hex(2)}")
    cluster.admin.json("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": name}}, expect=201)
    deleted = cluster.admin.json("DELETE", f"/api/v1/namespaces/{name}", expect=200)
    assert deleted["kind"] == "Namespace"
    assert deleted["status"]["phase"] == "Terminating"


# -- watch -------------------------------------------------------------------------------------------------------

def _watch(cluster, path, seconds=10, stop_at=None, **params):
    params.update(watch="true", timeoutSeconds=str(seconds))
    response = cluster.admin.request("GET", path + _query(**params), stream=True)
    assert response.status_code == 200, response.text
    events = []
    try:
        for line in response.iter_lines():
            if line:
                events.append(json.loads(line))
                if stop_at and stop_at(events[-1]):
                    break
    finally:
        response.close()
    return events


def test_watch_from_a_resource_version_streams_added_modified_deleted(cluster, namespace):
    start = cluster.admin.json("GET", _cm_path(namespace), expect=200)["metadata"]["resourceVersion"]
    created = cluster.admin.json("POST", _cm_path(namespace), _configmap("watched"), expect=201)
    cluster.admin.json("PATCH", _cm_path(namespace, "watched"), {"data": {"a": "2"}},
                       content_type="application/merge-patch+json", expect=200)
    cluster.admin.json("DELETE", _cm_path(namespace, "watched"), expect=200)
    events = _watch(cluster, _cm_path(namespace), resourceVersion=start, fieldSelector="metadata.name=watched",
                    stop_at=lambda e: e["type"] == "DELETED")
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert all(e["object"]["kind"] == "ConfigMap" for e in events)
    assert all(e["object"]["metadata"]["uid"] == created["metadata"]["uid"] for e in events)
    assert events[1]["object"]["data"] == {"a": "2"}
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and versions[0] > int(start)


def test_watch_sees_changes_made_while_it_is_open(cluster, namespace):
    start = cluster.admin.json("GET", _cm_path(namespace), expect=200)["metadata"]["resourceVersion"]
    response = cluster.admin.request("GET", _cm_path(namespace) + _query(
        watch="true", resourceVersion=start, timeoutSeconds="10", labelSelector="live=yes"), stream=True)
    try:
        cluster.admin.json("POST", _cm_path(namespace), _configmap("live", {"live": "yes"}), expect=201)
        cluster.admin.json("POST", _cm_path(namespace), _configmap("quiet", {"live": "no"}), expect=201)
        lines = response.iter_lines()
        event = json.loads(next(line for line in lines if line))
    finally:
        response.close()
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "live")


def test_watch_without_a_resource_version_starts_with_the_current_objects(cluster, namespace):
    cluster.admin.json("POST", _cm_path(namespace), _configmap("existing"), expect=201)
    events = _watch(cluster, _cm_path(namespace), seconds=2, fieldSelector="metadata.name=existing",
                    stop_at=lambda e: True)
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["metadata"]["name"] == "existing"


def test_watch_list_sends_the_current_objects_then_a_bookmark_then_the_changes(cluster, namespace):
    """sendInitialEvents (watch-list, what client-go's informers and `kubectl delete --wait` use by default)."""
    cluster.admin.json("POST", _cm_path(namespace), _configmap("before", {"listed": "yes"}), expect=201)
    response = cluster.admin.request("GET", _cm_path(namespace) + _query(
        watch="true", sendInitialEvents="true", resourceVersionMatch="NotOlderThan", allowWatchBookmarks="true",
        timeoutSeconds="10", labelSelector="listed=yes"), stream=True)
    try:
        lines = (json.loads(line) for line in response.iter_lines() if line)
        first, bookmark = next(lines), next(lines)
        cluster.admin.json("POST", _cm_path(namespace), _configmap("after", {"listed": "yes"}), expect=201)
        change = next(lines)
    finally:
        response.close()
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "before")
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bookmark["object"]["metadata"]["resourceVersion"]) >= int(first["object"]["metadata"]["resourceVersion"])
    assert (change["type"], change["object"]["metadata"]["name"]) == ("ADDED", "after")


def test_watch_list_needs_not_older_than_and_bookmarks(cluster, namespace):
    response = cluster.admin.request("GET", _cm_path(namespace) + _query(watch="true", sendInitialEvents="true"))
    assert response.status_code == 422, response.text


def test_kubectl_delete_namespace_waits_until_it_is_gone(cluster):
    """kubectl waits for a Terminating namespace with a watch-list; it returns once the namespace has gone."""
    name = cluster.name(f"gone{secrets.token_hex(2)}")
    cluster.admin.json("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": name}}, expect=201)
    deleted = kubectl(cluster.kubeconfig, "delete", "namespace", name, "--timeout=60s", check=0)
    assert f'namespace "{name}" deleted' in deleted.stdout
    assert cluster.admin.request("GET", f"/api/v1/namespaces/{name}").status_code == 404


def test_watch_ends_after_timeout_seconds(cluster, namespace):
    start = cluster.admin.json("GET", _cm_path(namespace), expect=200)["metadata"]["resourceVersion"]
    assert not _watch(cluster, _cm_path(namespace), seconds=1, resourceVersion=start,
                      fieldSelector="metadata.name=never")


def test_connection_is_usable_after_a_watch_ends(cluster, namespace):
    """A client that pools connections must not be handed one the server closed after a watch."""
    for _round in range(5):
        start = cluster.admin.json("GET", _cm_path(namespace), expect=200)["metadata"]["resourceVersion"]
        assert not _watch(cluster, _cm_path(namespace), seconds=1, resourceVersion=start,
                          fieldSelector="metadata.name=never")
        assert cluster.admin.request("GET", _cm_path(namespace)).status_code == 200


# -- Table output ------------------------------------------------------------------------------------------------

def test_table_of_certificate_signing_requests_has_kubectl_columns(cluster, cleanup):
    name = cluster.name(f"tbl{secrets.token_hex(3)}")
    create_csr(cluster.admin, cleanup, name, expiration=3600)
    table = cluster.admin.json("GET", f"{CSR_PATH}/{name}", headers={"Accept": TABLE}, expect=200)
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns == ["Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"]
    cells = table["rows"][0]["cells"]
    assert cells[0] == name
    assert cells[2:] == [CLIENT_SIGNER, _whoami(cluster)["username"], "60m", "Pending"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert table["rows"][0]["object"]["metadata"]["name"] == name


def test_table_of_a_list_has_one_row_per_object(cluster, namespace):
    table = cluster.admin.json("GET", "/api/v1/namespaces" + _query(fieldSelector=f"metadata.name={namespace}"),
                               headers={"Accept": TABLE}, expect=200)
    assert table["kind"] == "Table"
    assert table["metadata"]["resourceVersion"]
    assert [c["name"] for c in table["columnDefinitions"]][:3] == ["Name", "Status", "Age"]
    assert [row["cells"][:2] for row in table["rows"]] == [[namespace, "Active"]]


def _whoami(cluster):
    return cluster.admin.json("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                              {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                              expect=201)["status"]["userInfo"]


# -- namespaces --------------------------------------------------------------------------------------------------

def test_new_namespace_gets_the_root_ca_configmap_and_a_default_service_account(cluster, namespace):
    configmap = wait_for(lambda: _get_or_none(cluster, _cm_path(namespace, "kube-root-ca.crt")), timeout=30,
                         what="kube-root-ca.crt")
    assert configmap["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    assert cluster.ca_pem.decode().strip() in configmap["data"]["ca.crt"]
    account = wait_for(lambda: _get_or_none(cluster, f"/api/v1/namespaces/{namespace}/serviceaccounts/default"),
                       timeout=30, what="the default ServiceAccount")
    assert account["metadata"]["namespace"] == namespace


def _get_or_none(cluster, path):
    response = cluster.admin.request("GET", path)
    return response.json() if response.status_code == 200 else None


def test_namespace_carries_its_name_label_and_is_active(cluster, namespace):
    obj = cluster.admin.json("GET", f"/api/v1/namespaces/{namespace}", expect=200)
    assert obj["metadata"]["labels"]["kubernetes.io/metadata.name"] == namespace
    assert obj["status"]["phase"] == "Active"


# -- a deleted namespace: Terminating for a while, then gone with everything in it --------------------------------

NAMESPACES = "/api/v1/namespaces"


def _new_namespace(cluster, cleanup):
    name = cluster.name(f"ns{secrets.token_hex(3)}")
    cluster.admin.json("POST", NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                       expect=201)
    cleanup.add(f"{NAMESPACES}/{name}")
    return name


def _wait_until_gone(cluster, name):
    wait_for(lambda: cluster.admin.request("GET", f"{NAMESPACES}/{name}").status_code == 404, timeout=60,
             interval=0.05, what=f"namespace {name} to be gone")


def test_a_deleted_namespace_stays_terminating_and_keeps_its_name_meanwhile(cluster, cleanup):
    name = _new_namespace(cluster, cleanup)
    deleted = cluster.admin.json("DELETE", f"{NAMESPACES}/{name}", expect=200)
    assert deleted["status"]["phase"] == "Terminating" and deleted["metadata"]["deletionTimestamp"]
    current = cluster.admin.json("GET", f"{NAMESPACES}/{name}", expect=200)
    assert (current["status"]["phase"], current["metadata"]["deletionTimestamp"]) == (
        "Terminating", deleted["metadata"]["deletionTimestamp"])
    # Deleting it again changes nothing and answers it as it is.
    assert cluster.admin.json("DELETE", f"{NAMESPACES}/{name}", expect=200)["metadata"] == current["metadata"]
    again = cluster.admin.request("POST", NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": name}})
    body = assert_status(again, 409, "AlreadyExists", f'object is being deleted: namespaces "{name}" already exists')
    assert body["details"] == {"name": name, "kind": "namespaces"}
    _wait_until_gone(cluster, name)
    cluster.admin.json("POST", NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                       expect=201)


def test_nothing_new_may_be_created_in_a_terminating_namespace(cluster, cleanup):
    name = _new_namespace(cluster, cleanup)
    cluster.admin.json("POST", _cm_path(name), _configmap("before"), expect=201)
    cluster.admin.json("DELETE", f"{NAMESPACES}/{name}", expect=200)
    body = assert_status(cluster.admin.request("POST", _cm_path(name), _configmap("after")), 403, "Forbidden",
                         f'configmaps "after" is forbidden: unable to create new content in namespace {name} because '
                         'it is being terminated')
    assert body["details"]["causes"] == [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                          "message": f"namespace {name} is being terminated"}]
    # What is there stays readable and writable until the namespace controller comes.
    before = cluster.admin.json("GET", _cm_path(name, "before"), expect=200)
    cluster.admin.json("PUT", _cm_path(name, "before"), dict(before, data={"a": "2"}), expect=200)


def test_a_namespace_takes_its_contents_with_it(cluster, cleanup):
    """A RoleBinding in a deleted namespace does not come back when the name is created again."""
    name = _new_namespace(cluster, cleanup)
    binding = _view_binding_for_user_one(cluster, name, cleanup, "old-grant") + "/old-grant"
    cluster.admin.json("POST", _cm_path(name), _configmap("old-data"), expect=201)
    cluster.admin.json("DELETE", f"{NAMESPACES}/{name}", expect=200)
    _wait_until_gone(cluster, name)
    cluster.admin.json("POST", NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                       expect=201)
    assert cluster.admin.request("GET", binding).status_code == 404
    assert cluster.admin.request("GET", _cm_path(name, "old-data")).status_code == 404
    assert cluster.admin.json("GET", f"{RBAC}/namespaces/{name}/rolebindings", expect=200)["items"] == []


@pytest.mark.local_only("changes the local server's namespace deletion delay through /_testserver/settings")
def test_namespace_deletion_delay_is_a_switch(cluster, cleanup):
    before = cluster.control("GET", "settings")["namespaceDeletionDelay"]
    cluster.control("PUT", "settings", {"namespaceDeletionDelay": 0.2})
    try:
        name = _new_namespace(cluster, cleanup)
        deleted_at = time.monotonic()
        cluster.admin.json("DELETE", f"{NAMESPACES}/{name}", expect=200)
        _wait_until_gone(cluster, name)
        assert time.monotonic() - deleted_at < 1.0
    finally:
        cluster.control("PUT", "settings", {"namespaceDeletionDelay": before})


# -- the kubernetes Python client --------------------------------------------------------------------------------

@pytest.fixture
def api_client(cluster):
    api = k8s_config.new_client_from_config(config_file=cluster.kubeconfig)
    yield api
    api.close()


def test_typed_kubernetes_client_lists_gets_and_creates(cluster, api_client, namespace, cleanup):
    core = k8s.CoreV1Api(api_client)
    created = core.create_namespaced_config_map(namespace, k8s.V1ConfigMap(
        metadata=k8s.V1ObjectMeta(name="typed", labels={"via": "typed"}), data={"k": "v"}))
    assert created.metadata.uid
    assert core.read_namespaced_config_map("typed", namespace).data == {"k": "v"}
    assert [c.metadata.name for c in core.list_namespaced_config_map(namespace, label_selector="via=typed").items] \
        == ["typed"]

    certificates = k8s.CertificatesV1Api(api_client)
    name = cluster.name(f"typed{secrets.token_hex(3)}")
    request = k8s.V1CertificateSigningRequest(
        metadata=k8s.V1ObjectMeta(name=name),
        spec=k8s.V1CertificateSigningRequestSpec(request=_b64(make_csr_pem(new_key(), "typed")),
                                                 signer_name=CLIENT_SIGNER, usages=["client auth"],
                                                 expiration_seconds=3600))
    certificates.create_certificate_signing_request(request)
    cleanup.add(f"{CSR_PATH}/{name}")
    read = certificates.read_certificate_signing_request(name)
    assert read.spec.signer_name == CLIENT_SIGNER and read.spec.expiration_seconds == 3600
    assert name in [c.metadata.name for c in certificates.list_certificate_signing_request().items]

    rbac = k8s.RbacAuthorizationV1Api(api_client)
    binding = k8s.V1RoleBinding(metadata=k8s.V1ObjectMeta(name="typed-view"),
                                role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                                       name="view"),
                                subjects=[k8s.RbacV1Subject(kind="User", name="someone",
                                                            api_group="rbac.authorization.k8s.io")])
    rbac.create_namespaced_role_binding(namespace, binding)
    names = [b.metadata.name for b in rbac.list_namespaced_role_binding(namespace).items]
    assert "typed-view" in names
    assert rbac.read_cluster_role("view").metadata.name == "view"


def test_typed_kubernetes_client_raises_api_exceptions_with_the_status(api_client, namespace):
    core = k8s.CoreV1Api(api_client)
    with pytest.raises(k8s.ApiException) as raised:
        core.read_namespaced_config_map("absent", namespace)
    assert raised.value.status == 404
    assert json.loads(raised.value.body)["reason"] == "NotFound"


def test_dynamic_kubernetes_client_discovers_and_uses_resources(cluster, api_client, namespace, cleanup):
    dynamic = DynamicClient(api_client)
    configmaps = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    configmaps.create(body=_configmap("dynamic", data={"d": "1"}), namespace=namespace)
    assert configmaps.get(name="dynamic", namespace=namespace).data.d == "1"
    assert "dynamic" in [i.metadata.name for i in configmaps.get(namespace=namespace).items]
    csrs = dynamic.resources.get(api_version="certificates.k8s.io/v1", kind="CertificateSigningRequest")
    name = cluster.name(f"dyn{secrets.token_hex(3)}")
    csrs.create(body=csr_manifest(name, make_csr_pem(new_key(), "dynamic")))
    cleanup.add(f"{CSR_PATH}/{name}")
    assert csrs.get(name=name).spec.signerName == CLIENT_SIGNER
    bindings = dynamic.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="RoleBinding")
    assert bindings.namespaced is True
    assert isinstance(bindings.get(namespace=namespace).items, list)


def _b64(data):
    return base64.b64encode(data).decode()
