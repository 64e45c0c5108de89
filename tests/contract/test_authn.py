"""Authentication as kube-apiserver does it: x509 client certificates, ServiceAccount tokens, anonymous requests
and impersonation. Identities are read back through SelfSubjectReview, as `kubectl auth whoami` does.
"""
# pylint: disable=missing-function-docstring,redefined-outer-name

import base64
import datetime
import hashlib
import os
import secrets

import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from tests.apiserver import pki
from tests.contract.support import SSR_BODY, SSR_PATH, assert_status, bind, make_role, rule, server_workdir, \
    wait_for
from tests.kube import new_key

AUTHENTICATED = "system:authenticated"


def _client_cert_files(tmp_path, cert, key, stem="client"):
    cert_path = tmp_path / f"{stem}.crt"
    key_path = tmp_path / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _raw_get(cluster, path, **kwargs):
    """A request with only what is given here: the cluster CA to verify the server, nothing else."""
    return requests.get(cluster.server + path, verify=cluster.admin.ca_file, timeout=30, **kwargs)


def _whoami(client, headers=None):
    response = client.request("POST", SSR_PATH, SSR_BODY, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["status"]["userInfo"]


def _user_certificate(kubeconfig):
    with open(kubeconfig, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    data = config["users"][0]["user"]["client-certificate-data"]
    return x509.load_pem_x509_certificate(base64.b64decode(data))


# -- x509 client certificates -----------------------------------------------------------------------------------

def test_certificate_common_name_is_the_user_and_each_organization_a_group(make_user):
    alice = make_user("alice", ["devs", "ops"])
    devs, ops = alice.groups
    info = alice.whoami()
    assert info["username"] == alice.name
    # In the certificate's order: the signer puts all O values into one RDN, which DER sorts (shorter first).
    assert info["groups"] == [ops, devs, AUTHENTICATED]
    cert = _user_certificate(alice.kubeconfig)
    assert [attr.value for attr in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [ops, devs]
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert info["extra"]["authentication.kubernetes.io/credential-id"] == [f"X509SHA256={fingerprint}"]
    assert "uid" not in info


def test_certificate_without_organization_has_only_the_authenticated_group(make_user):
    bob = make_user("bob")
    info = bob.whoami()
    assert info["username"] == bob.name
    assert info["groups"] == [AUTHENTICATED]


def test_self_subject_review_answers_with_the_review_kind(make_user):
    carol = make_user("carol")
    response = carol.http.request("POST", SSR_PATH, SSR_BODY)
    assert response.status_code == 201
    review = response.json()
    assert review["kind"] == "SelfSubjectReview"
    assert review["apiVersion"] == "authentication.k8s.io/v1"
    assert review["metadata"]["creationTimestamp"]


def test_administrator_of_the_kubeconfig_is_a_superuser(cluster):
    info = _whoami(cluster.admin)
    assert "system:masters" in info["groups"] or _is_cluster_admin(cluster, info)
    assert AUTHENTICATED in info["groups"]


def _is_cluster_admin(cluster, info):
    review = cluster.admin.json("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "*", "group": "*", "resource": "*"}}}, expect=201)
    return info["username"] and review["status"]["allowed"]


# -- anonymous, unknown and invalid credentials -----------------------------------------------------------------

def test_request_without_credentials_is_system_anonymous_and_forbidden(cluster):
    response = _raw_get(cluster, "/api/v1/namespaces")
    body = assert_status(response, 403, "Forbidden",
                         'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API '
                         'group "" at the cluster scope')
    assert body["details"] == {"kind": "namespaces"}


def test_anonymous_may_not_ask_who_it_is(cluster):
    response = requests.post(cluster.server + SSR_PATH, json=SSR_BODY, verify=cluster.admin.ca_file, timeout=30)
    assert_status(response, 403, "Forbidden",
                  'selfsubjectreviews.authentication.k8s.io is forbidden: User "system:anonymous" cannot create '
                  'resource "selfsubjectreviews" in API group "authentication.k8s.io" at the cluster scope')


def test_anonymous_may_read_health_and_version(cluster):
    assert _raw_get(cluster, "/readyz").text == "ok"
    version = _raw_get(cluster, "/version")
    assert version.status_code == 200
    assert version.json()["major"] == "1"


def _foreign_ca():
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-the-cluster-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return pki.CertificateAuthority(key, cert)


def test_certificate_from_an_unknown_ca_completes_tls_then_is_unauthorized(cluster, tmp_path):
    key = new_key()
    cert = _foreign_ca().issue_client("kubernetes-admin", ["system:masters"], key.public_key())
    response = _raw_get(cluster, "/api/v1/namespaces", cert=_client_cert_files(tmp_path, cert, key))
    body = assert_status(response, 401, "Unauthorized", "Unauthorized")
    assert "details" not in body


def _cluster_ca(cluster):
    workdir = server_workdir(cluster)
    with open(os.path.join(workdir, "ca.key"), "rb") as key_file, \
            open(os.path.join(workdir, "ca.crt"), "rb") as cert_file:
        return pki.CertificateAuthority.load(key_file.read(), cert_file.read())


@pytest.mark.local_only("signs certificates with the cluster CA key, which only the local server's work dir has")
def test_expired_certificate_from_the_cluster_ca_is_unauthorized(cluster, tmp_path):
    ca = _cluster_ca(cluster)
    key = new_key()
    now = datetime.datetime.now(datetime.timezone.utc)
    expired = ca.issue_client("expired-user", ["devs"], key.public_key(), lifetime=datetime.timedelta(hours=1),
                              not_before=now - datetime.timedelta(hours=2))
    response = _raw_get(cluster, "/api/v1/namespaces", cert=_client_cert_files(tmp_path, expired, key))
    assert_status(response, 401, "Unauthorized", "Unauthorized")


@pytest.mark.local_only("signs certificates with the cluster CA key, which only the local server's work dir has")
def test_not_yet_valid_certificate_is_unauthorized_and_a_current_one_works(cluster, tmp_path):
    ca = _cluster_ca(cluster)
    key = new_key()
    now = datetime.datetime.now(datetime.timezone.utc)
    future = ca.issue_client("future-user", [], key.public_key(), not_before=now + datetime.timedelta(hours=1))
    response = _raw_get(cluster, "/api/v1/namespaces", cert=_client_cert_files(tmp_path, future, key, "future"))
    assert_status(response, 401, "Unauthorized", "Unauthorized")
    current = ca.issue_client("current-user", ["devs"], key.public_key())
    response = requests.post(cluster.server + SSR_PATH, json=SSR_BODY, verify=cluster.admin.ca_file, timeout=30,
                             cert=_client_cert_files(tmp_path, current, key, "current"))
    assert response.status_code == 201
    assert response.json()["status"]["userInfo"]["username"] == "current-user"


def test_bearer_token_that_does_not_verify_is_unauthorized_not_anonymous(cluster):
    response = _raw_get(cluster, "/api/v1/namespaces", headers={"Authorization": "Bearer not-a-real-token"})
    assert_status(response, 401, "Unauthorized", "Unauthorized")


# -- ServiceAccount tokens --------------------------------------------------------------------------------------

def _service_account(cluster, cleanup, namespace="default"):
    name = cluster.name(f"sa{secrets.token_hex(2)}")
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts"
    account = cluster.admin.json("POST", path, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                "metadata": {"name": name}}, expect=201)
    cleanup.add(f"{path}/{name}")
    return account


def _token(cluster, namespace, name, seconds=3600):
    response = cluster.admin.request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}})
    assert response.status_code == 201, response.text
    return response.json()


def _bearer(cluster, token):
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace session.verify
    session.verify = cluster.admin.ca_file
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def test_token_request_returns_a_token_for_the_service_account(cluster, cleanup):
    account = _service_account(cluster, cleanup)
    review = _token(cluster, "default", account["metadata"]["name"], seconds=600)
    assert review["kind"] == "TokenRequest"
    assert review["apiVersion"] == "authentication.k8s.io/v1"
    assert review["spec"]["expirationSeconds"] == 600
    assert review["status"]["token"].count(".") == 2  # a JWT
    assert review["status"]["expirationTimestamp"].endswith("Z")


def test_service_account_token_authenticates_as_the_service_account(cluster, cleanup):
    account = _service_account(cluster, cleanup)
    name = account["metadata"]["name"]
    session = _bearer(cluster, _token(cluster, "default", name)["status"]["token"])
    response = session.post(cluster.server + SSR_PATH, json=SSR_BODY, timeout=30)
    assert response.status_code == 201, response.text
    info = response.json()["status"]["userInfo"]
    assert info["username"] == f"system:serviceaccount:default:{name}"
    assert info["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default", AUTHENTICATED]
    assert info["uid"] == account["metadata"]["uid"]
    assert info["extra"]["authentication.kubernetes.io/credential-id"][0].startswith("JTI=")


def test_service_account_token_is_authorized_as_the_service_account(cluster, cleanup):
    account = _service_account(cluster, cleanup)
    name = account["metadata"]["name"]
    session = _bearer(cluster, _token(cluster, "default", name)["status"]["token"])
    response = session.get(cluster.server + "/api/v1/namespaces/kube-system/secrets", timeout=30)
    assert_status(response, 403, "Forbidden",
                  f'secrets is forbidden: User "system:serviceaccount:default:{name}" cannot list resource '
                  f'"secrets" in API group "" in the namespace "kube-system"')


def test_service_account_token_stops_working_when_the_service_account_is_deleted(cluster, cleanup):
    account = _service_account(cluster, cleanup)
    name = account["metadata"]["name"]
    session = _bearer(cluster, _token(cluster, "default", name)["status"]["token"])
    assert session.post(cluster.server + SSR_PATH, json=SSR_BODY, timeout=30).status_code == 201
    cluster.admin.json("DELETE", f"/api/v1/namespaces/default/serviceaccounts/{name}", expect=200)
    _assert_token_refused(cluster, session)


def _assert_token_refused(cluster, session):
    """Token authenticators may cache briefly: wait for the 401, then check its body."""
    wait_for(lambda: session.post(cluster.server + SSR_PATH, json=SSR_BODY, timeout=30).status_code == 401,
             timeout=30, what="the token to be refused")
    assert_status(session.post(cluster.server + SSR_PATH, json=SSR_BODY, timeout=30), 401, "Unauthorized",
                  "Unauthorized")


def test_service_account_token_does_not_survive_a_recreated_service_account(cluster, cleanup):
    account = _service_account(cluster, cleanup)
    name = account["metadata"]["name"]
    session = _bearer(cluster, _token(cluster, "default", name)["status"]["token"])
    path = "/api/v1/namespaces/default/serviceaccounts"
    cluster.admin.json("DELETE", f"{path}/{name}", expect=200)
    cluster.admin.json("POST", path, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
                       expect=201)
    _assert_token_refused(cluster, session)


def test_token_request_shorter_than_ten_minutes_is_invalid(cluster, cleanup):
    account = _service_account(cluster, cleanup)
    response = cluster.admin.request(
        "POST", f"/api/v1/namespaces/default/serviceaccounts/{account['metadata']['name']}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 60}})
    body = assert_status(response, 422, "Invalid",
                         'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: '
                         '60: may not specify a duration less than 10 minutes')
    assert body["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec.expirationSeconds",
                                          "message": "Invalid value: 60: may not specify a duration less than 10 "
                                                     "minutes"}]


def test_token_request_for_a_missing_service_account_is_not_found(cluster):
    name = cluster.name("no-such-sa")
    response = cluster.admin.request(
        "POST", f"/api/v1/namespaces/default/serviceaccounts/{name}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    assert_status(response, 404, "NotFound", f'serviceaccounts "{name}" not found')


# -- impersonation ----------------------------------------------------------------------------------------------

def test_impersonation_without_any_grant_is_refused_for_the_action_first(make_user, cluster):
    """1.36's constrained impersonation tries its user-info mode first: the refusal names the impersonate-on verb of
    what the request does, not the user asked for."""
    mallory = make_user("mallory")
    target = cluster.name("victim")
    response = mallory.http.request("GET", "/api/v1/namespaces", headers={"Impersonate-User": target})
    body = assert_status(response, 403, "Forbidden",
                         f'namespaces is forbidden: User "{mallory.name}" cannot impersonate-on:user-info:list '
                         f'resource "namespaces" in API group "" at the cluster scope')
    assert body["details"] == {"kind": "namespaces"}
    response = mallory.http.request("GET", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt",
                                    headers={"Impersonate-User": target})
    assert_status(response, 403, "Forbidden",
                  f'configmaps "kube-root-ca.crt" is forbidden: User "{mallory.name}" cannot '
                  f'impersonate-on:user-info:get resource "configmaps" in API group "" in the namespace "default"')


def _impersonation_roles(cluster, cleanup, user, rules):
    bind(cluster.admin, cleanup, [("User", user.name)], make_role(cluster.admin, cleanup, rules))


def test_constrained_impersonation_allows_only_the_granted_actions(make_user, cluster, cleanup):
    """impersonate:user-info on the user and impersonate-on:user-info:<verb> on what is done, without the legacy
    impersonate verb: the impersonator may create self reviews as the target, and nothing else."""
    uma = make_user("uma")
    target = cluster.name("deputy")
    _impersonation_roles(cluster, cleanup, uma, [
        rule(["authentication.k8s.io"], ["users"], ["impersonate:user-info"], [target]),
        rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["impersonate-on:user-info:create"])])
    info = wait_for(lambda: _whoami_or_none(uma.http, {"Impersonate-User": target}), timeout=10,
                    what="the constrained impersonation grant")
    assert info == {"username": target, "groups": [AUTHENTICATED]}
    response = uma.http.request("GET", "/api/v1/namespaces", headers={"Impersonate-User": target})
    assert_status(response, 403, "Forbidden",
                  f'namespaces is forbidden: User "{uma.name}" cannot impersonate-on:user-info:list resource '
                  f'"namespaces" in API group "" at the cluster scope')
    other = cluster.name("not-the-deputy")
    response = uma.http.request("POST", SSR_PATH, SSR_BODY, headers={"Impersonate-User": other})
    assert_status(response, 403, "Forbidden",
                  f'users.authentication.k8s.io "{other}" is forbidden: User "{uma.name}" cannot '
                  f'impersonate:user-info resource "users" in API group "authentication.k8s.io" at the cluster scope')


def test_constrained_impersonation_never_grants_system_masters(make_user, cluster, cleanup):
    """Even with impersonate:user-info on every user and group, system:masters is refused; the legacy verb is then
    the only way, and its refusal is what the impersonator reads."""
    val = make_user("val")
    _impersonation_roles(cluster, cleanup, val, [
        rule(["authentication.k8s.io"], ["users", "groups"], ["impersonate:user-info"]),
        rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["impersonate-on:user-info:create"])])
    target = cluster.name("someone")
    wait_for(lambda: _whoami_or_none(val.http, {"Impersonate-User": target}), timeout=10,
             what="the constrained impersonation grant")
    response = val.http.request("POST", SSR_PATH, SSR_BODY,
                                headers={"Impersonate-User": target, "Impersonate-Group": "system:masters"})
    assert_status(response, 403, "Forbidden",
                  f'groups.authentication.k8s.io "system:masters" is forbidden: User "{val.name}" cannot '
                  f'impersonate:user-info resource "groups" in API group "authentication.k8s.io" at the cluster '
                  f'scope: impersonating the system:masters group is not allowed')


def test_administrator_impersonates_a_user_and_groups(cluster):
    target, group = cluster.name("someone"), cluster.name("somegroup")
    info = _whoami(cluster.admin, headers={"Impersonate-User": target, "Impersonate-Group": group})
    assert info["username"] == target
    assert info["groups"] == [group, AUTHENTICATED]


def test_impersonated_user_without_groups_is_only_authenticated(cluster):
    target = cluster.name("plain")
    info = _whoami(cluster.admin, headers={"Impersonate-User": target})
    assert info == {"username": target, "groups": [AUTHENTICATED]}


def test_impersonated_request_is_authorized_as_the_impersonated_user(cluster):
    target = cluster.name("nobody")
    response = cluster.admin.request("GET", "/api/v1/namespaces/kube-system/secrets",
                                     headers={"Impersonate-User": target})
    assert_status(response, 403, "Forbidden",
                  f'secrets is forbidden: User "{target}" cannot list resource "secrets" in API group "" in the '
                  f'namespace "kube-system"')


def test_administrator_impersonates_a_service_account(cluster):
    info = _whoami(cluster.admin, headers={"Impersonate-User": "system:serviceaccount:default:default"})
    assert info["username"] == "system:serviceaccount:default:default"
    assert info["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default", AUTHENTICATED]


def test_impersonate_verb_on_one_user_allows_only_that_user(make_user, cluster, cleanup):
    trent = make_user("trent")
    target, other, group = cluster.name("target"), cluster.name("other"), cluster.name("admins")
    role = make_role(cluster.admin, cleanup, [rule([""], ["users"], ["impersonate"], [target])])
    bind(cluster.admin, cleanup, [("User", trent.name)], role)
    info = wait_for(lambda: _whoami_or_none(trent.http, {"Impersonate-User": target}), timeout=10,
                    what="the impersonation grant")
    assert info["username"] == target
    response = trent.http.request("GET", "/api/v1/namespaces", headers={"Impersonate-User": other})
    assert_status(response, 403, "Forbidden",
                  f'users "{other}" is forbidden: User "{trent.name}" cannot impersonate resource "users" in API '
                  f'group "" at the cluster scope')
    response = trent.http.request("GET", "/api/v1/namespaces",
                                  headers={"Impersonate-User": target, "Impersonate-Group": group})
    assert_status(response, 403, "Forbidden",
                  f'groups "{group}" is forbidden: User "{trent.name}" cannot impersonate resource "groups" in API '
                  f'group "" at the cluster scope')


def _whoami_or_none(client, headers):
    response = client.request("POST", SSR_PATH, SSR_BODY, headers=headers)
    return response.json()["status"]["userInfo"] if response.status_code == 201 else None


def test_impersonating_a_service_account_is_refused_in_the_serviceaccount_mode(make_user):
    mallory = make_user("mallory")
    response = mallory.http.request("GET", "/api/v1/namespaces",
                                    headers={"Impersonate-User": "system:serviceaccount:kube-system:default"})
    assert_status(response, 403, "Forbidden",
                  f'namespaces is forbidden: User "{mallory.name}" cannot impersonate-on:serviceaccount:list '
                  f'resource "namespaces" in API group "" at the cluster scope')


def test_impersonating_a_service_account_with_groups_needs_the_legacy_verb_in_its_namespace(make_user):
    """Groups are not the constrained serviceaccount mode's to give, so only the legacy check is left."""
    mallory = make_user("mallory")
    response = mallory.http.request("GET", "/api/v1/namespaces",
                                    headers={"Impersonate-User": "system:serviceaccount:kube-system:default",
                                             "Impersonate-Group": "system:serviceaccounts"})
    assert_status(response, 403, "Forbidden",
                  f'serviceaccounts "default" is forbidden: User "{mallory.name}" cannot impersonate resource '
                  f'"serviceaccounts" in API group "" in the namespace "kube-system"')


def test_impersonating_groups_without_a_user_is_a_bad_request(cluster):
    response = cluster.admin.request("GET", "/api/v1/namespaces", headers={"Impersonate-Group": "system:masters"})
    assert_status(response, 400, "BadRequest",
                  'requested &user.DefaultInfo{Name:"", UID:"", Groups:[]string{"system:masters"}, '
                  'Extra:map[string][]string(nil)} without impersonating a user name')
