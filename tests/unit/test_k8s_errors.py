"""plugins/module_utils/k8s_client.py, pure parts: API failures become messages that say what to grant or fix, and
retries wait a bounded time. The failures are the bodies a real kube-apiserver sent (tests/fixtures/real-apiserver).
The proxy options: which servers no_proxy sends around the proxy, the headers proxy_headers sends to it, and what
Ansible makes of them (and their environment variables)."""
# pylint: disable=missing-function-docstring

import glob
import json
import os
import re

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import (
    CLIENT_SIGNER, CSR_API, approval_requirements)
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import (
    AUTH_ARG_SPEC, MAX_SLEEP, ApiError, backoff, bypasses_proxy, permission_for, proxy_headers, retry_after,
    signer_permission)

RECORDINGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "real-apiserver")
APPROVAL_PERMISSION = 'update on certificatesigningrequests/approval in API group "certificates.k8s.io" at the ' \
                      'cluster scope'
SIGNER_DENIAL = ('certificatesigningrequests.certificates.k8s.io "x" is forbidden: user not permitted to approve '
                 f'requests with signerName "{CLIENT_SIGNER}"')


def recorded(name):
    with open(os.path.join(RECORDINGS, f"{name}.json"), encoding="utf-8") as handle:
        return json.load(handle)


def error_from(name, requirements=None):
    """The ApiError the client raises for a recorded exchange."""
    exchange = recorded(name)
    request, response = exchange["request"], exchange["response"]
    return ApiError(response["status"], response["body"], request["method"], request["path"], requirements)


# permission_for

def test_get_with_name_needs_get():
    """Reading one object needs get."""
    assert permission_for("GET", f"{CSR_API}/rahul-1") == \
        'get on certificatesigningrequests in API group "certificates.k8s.io" at the cluster scope'


def test_get_without_name_needs_list():
    """Reading a collection (with or without a query) needs list."""
    expected = 'list on certificatesigningrequests in API group "certificates.k8s.io" at the cluster scope'
    assert permission_for("GET", CSR_API) == expected
    assert permission_for("GET", f"{CSR_API}?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dx") == expected


def test_post_needs_create():
    """Creating needs create."""
    assert permission_for("POST", CSR_API) == \
        'create on certificatesigningrequests in API group "certificates.k8s.io" at the cluster scope'


def test_put_on_approval_needs_update_on_the_subresource():
    """Approving (PUT …/approval) needs update on certificatesigningrequests/approval."""
    assert permission_for("PUT", f"{CSR_API}/rahul-1/approval") == APPROVAL_PERMISSION


@pytest.mark.parametrize("method, verb", [("PATCH", "patch"), ("DELETE", "delete"), ("PUT", "update")])
def test_other_methods(method, verb):
    """PATCH, DELETE and PUT map to their RBAC verbs."""
    assert permission_for(method, f"{CSR_API}/rahul-1") == \
        f'{verb} on certificatesigningrequests in API group "certificates.k8s.io" at the cluster scope'


def test_namespaced_rolebindings():
    """Namespaced resources name the namespace."""
    path = "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings"
    assert permission_for("POST", path) == \
        'create on rolebindings in API group "rbac.authorization.k8s.io" in namespace team-a'
    assert permission_for("PUT", f"{path}/rahul-edit") == \
        'update on rolebindings in API group "rbac.authorization.k8s.io" in namespace team-a'
    assert permission_for("GET", path) == \
        'list on rolebindings in API group "rbac.authorization.k8s.io" in namespace team-a'


@pytest.mark.parametrize("method, path, expected", [
    ("GET", "/api/v1/namespaces/default/pods", 'list on pods in API group "" in namespace default'),
    ("GET", "/api/v1/namespaces/kube-system/secrets/x", 'get on secrets in API group "" in namespace kube-system'),
    ("GET", "/api/v1/pods", 'list on pods in API group "" at the cluster scope'),
    ("GET", "/api/v1/namespaces", 'list on namespaces in API group "" at the cluster scope'),
    ("GET", "/api/v1/namespaces/default", 'get on namespaces in API group "" at the cluster scope'),
    ("GET", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt",
     'get on configmaps in API group "" in namespace default'),
    ("PUT", "/api/v1/namespaces/default/pods/web/status", 'update on pods/status in API group "" in namespace default'),
])
def test_core_api_paths_have_the_empty_group(method, path, expected):
    """Core /api/v1 resources are in API group ""."""
    assert permission_for(method, path) == expected


def test_non_resource_url():
    """Paths that are not resources are named as non-resource URLs."""
    assert permission_for("GET", "/version?timeout=5s") == "get on the non-resource URL /version"


@pytest.mark.parametrize(
    "path", sorted(glob.glob(os.path.join(RECORDINGS, "forbidden-*.json")))
    + [os.path.join(RECORDINGS, "unauthenticated.json")], ids=os.path.basename)
def test_permission_agrees_with_the_real_apiserver(path):
    """For every RBAC refusal recorded, permission_for names the verb, resource and group the server names."""
    with open(path, encoding="utf-8") as handle:
        exchange = json.load(handle)
    server_message = exchange["response"]["body"]["message"]
    server = re.search(r'cannot (\w+) resource "([^"]+)" in API group "([^"]*)"', server_message)
    assert server, server_message
    verb, resource, group = server.groups()
    assert permission_for(exchange["request"]["method"], exchange["request"]["path"]).startswith(
        f'{verb} on {resource} in API group "{group}" ')


# ApiError messages from real answers

def test_forbidden_approve_names_the_missing_permission():
    """An RBAC refusal of the approval says the status, the server's words and the rule to grant."""
    message = str(error_from("forbidden-approve"))
    assert "HTTP 403" in message
    assert "cannot update resource" in message
    assert f"Missing permission: {APPROVAL_PERMISSION}" in message
    assert message.startswith("PUT /apis/certificates.k8s.io/v1/certificatesigningrequests/")


def test_forbidden_create_names_the_missing_permission():
    """An RBAC refusal of creating the CSR names create on certificatesigningrequests."""
    error = error_from("forbidden-create-csr")
    assert error.missing_permission() == \
        'create on certificatesigningrequests in API group "certificates.k8s.io" at the cluster scope'


def test_admission_refusal_is_not_reported_as_missing_permission():
    """system:masters refused by admission (403) shows the server's reason and asks for no RBAC rule."""
    error = error_from("csr-create-system-masters", requirements=[permission_for("POST", CSR_API)])
    message = str(error)
    assert "HTTP 403" in message
    assert "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed" in message
    assert "Missing permission" not in message
    assert "also needs" not in message
    assert error.missing_permission() is None


def test_signer_denial_names_approve_on_signers():
    """Refused by the signer check, the missing rule is approve on signers with the signer as resource name."""
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
            "message": SIGNER_DENIAL}
    error = ApiError(403, body, "PUT", f"{CSR_API}/x/approval")
    expected = f'approve on signers (resourceNames: ["{CLIENT_SIGNER}"]) in API group "certificates.k8s.io"'
    assert error.missing_permission() == expected
    assert f"Missing permission: {expected}" in str(error)
    assert signer_permission(CLIENT_SIGNER) == expected


def test_signer_denial_lists_the_other_requirement():
    """When the signer rule is missing, the approval-subresource rule the call also needs is listed after it."""
    body = {"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403, "message": SIGNER_DENIAL}
    message = str(ApiError(403, body, "PUT", f"{CSR_API}/x/approval", approval_requirements("x", CLIENT_SIGNER)))
    missing, _separator, also = message.partition("; this call also needs: ")
    assert "Missing permission: approve on signers" in missing
    assert also == APPROVAL_PERMISSION


def test_other_requirements_are_listed_after_the_missing_one():
    """Requirements that differ from the missing one come after 'this call also needs'; the missing one is not
    repeated."""
    message = str(error_from("forbidden-approve", requirements=approval_requirements("rahul-1795340056",
                                                                                     CLIENT_SIGNER)))
    missing, separator, also = message.partition("this call also needs: ")
    assert separator
    assert f"Missing permission: {APPROVAL_PERMISSION}" in missing
    assert also == signer_permission(CLIENT_SIGNER)


def test_requirements_equal_to_the_missing_one_are_not_repeated():
    """If the only requirement is the missing permission, nothing else is listed."""
    message = str(error_from("forbidden-approve", requirements=[APPROVAL_PERMISSION]))
    assert "Missing permission" in message
    assert "also needs" not in message


def test_untrusted_client_certificate_mentions_credentials():
    """401 (a client certificate the cluster did not sign) tells the user the credentials were not accepted."""
    error = error_from("unknown-ca-client-cert")
    assert error.status == 401
    assert "HTTP 401" in str(error)
    assert "credentials" in str(error)
    assert "Missing permission" not in str(error)


def test_401_mentions_credentials():
    """Any 401 explains that the API server did not accept the credentials."""
    body = {"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401, "message": "Unauthorized"}
    assert "credentials" in str(ApiError(401, body, "GET", "/api/v1/namespaces"))


def test_unauthenticated_request_mentions_credentials():
    """Without credentials a real server (anonymous auth on, the default) answers 403 as system:anonymous, not 401;
    the message must still point at the credentials rather than only ask for an RBAC rule for system:anonymous."""
    exchange = recorded("unauthenticated")
    assert exchange["response"]["status"] == 403
    message = str(error_from("unauthenticated"))
    assert "system:anonymous" in message
    assert "credentials" in message


def test_conflict_from_stale_resource_version():
    """A stale resourceVersion on approval is a conflict (retried), not an already-exists."""
    error = error_from("csr-approval-stale-rv")
    assert error.status == 409
    assert error.conflict
    assert not error.already_exists
    assert "the object has been modified" in str(error)


def test_already_exists_from_duplicate_create():
    """Creating a CSR whose name is taken is already-exists, not a conflict."""
    error = error_from("csr-create-duplicate")
    assert error.status == 409
    assert error.already_exists
    assert not error.conflict
    assert "already exists" in str(error)


def test_not_found_is_neither():
    """A 404 is neither a conflict nor already-exists, and asks for no permission."""
    error = error_from("csr-get-missing")
    assert not error.conflict and not error.already_exists
    assert "HTTP 404 NotFound" in str(error)
    assert "Missing permission" not in str(error)


def test_non_json_body_is_shown():
    """A proxy's plain-text answer is shown as it is."""
    error = ApiError(502, "upstream connect error", "GET", CSR_API)
    assert str(error) == f"GET {CSR_API}: HTTP 502: upstream connect error"
    assert error.reason == ""


# retry_after and backoff

@pytest.mark.parametrize("header, seconds", [("3", 3.0), ("0.5", 0.5), ("0", 0.0), ("-5", 0.0)])
def test_retry_after_seconds(header, seconds):
    """A Retry-After in seconds is honoured (never negative)."""
    assert retry_after(header) == seconds


def test_retry_after_is_capped():
    """A long Retry-After is capped at MAX_SLEEP."""
    assert retry_after("120") == MAX_SLEEP


@pytest.mark.parametrize("header", ["Wed, 21 Oct", "Wed, 21 Oct 2015 07:28:00 GMT", "", None])
def test_retry_after_not_seconds(header):
    """An HTTP date or a missing header gives None (the caller then backs off)."""
    assert retry_after(header) is None


def test_backoff_grows():
    """Each attempt waits longer than the one before, jitter included, until the cap."""
    for _sample in range(200):
        waits = [backoff(attempt) for attempt in range(1, 7)]
        assert all(later > earlier for earlier, later in zip(waits, waits[1:])), waits
        assert 0.2 <= waits[0] <= 0.3


def test_backoff_stays_bounded():
    """However many attempts, a wait stays within MAX_SLEEP plus the 20% jitter."""
    for _sample in range(50):
        for attempt in range(1, 40):
            assert 0 < backoff(attempt) <= MAX_SLEEP * 1.2


# no_proxy and proxy_headers, as kubernetes.core takes them

@pytest.mark.parametrize("url, no_proxy, bypassed", [
    ("https://api.example.com:6443", "example.com", True),
    ("https://api.example.com:6443", ".example.com", True),
    ("https://api.example.com:6443", "localhost, api.example.com", True),
    ("https://api.example.com:6443", "api.example.com:6443", True),
    ("https://api.example.com:6443", "api.example.com:443", False),
    ("https://api.example.com:6443", "ample.com", False),
    ("https://api.example.com:6443", "other.example.org,*", True),
    ("https://10.1.2.3:6443", "10.0.0.0/8", True),
    ("https://10.1.2.3:6443", "10.1.2.3", True),
    ("https://10.1.2.3:6443", "192.168.0.0/16,localhost", False),
    ("https://[fd00::5]:6443", "fd00::/8", True),
    ("https://API.Example.COM", "example.com", True),
    ("https://api.example.com:6443", "", False),
    ("https://api.example.com:6443", None, False),
])
def test_no_proxy_names_hosts_domains_addresses_and_networks(url, no_proxy, bypassed):
    """The no_proxy list as the kubernetes package and curl read NO_PROXY."""
    assert bypasses_proxy(url, no_proxy) is bypassed
    try:
        from kubernetes.client.rest import should_bypass_proxies  # pylint: disable=import-outside-toplevel
    except ImportError:
        return
    if should_bypass_proxies.__module__.startswith("kubernetes"):  # older ones take requests', which reads NO_PROXY
        assert should_bypass_proxies(url, no_proxy or "") is bypassed


def test_proxy_headers_are_the_headers_kubernetes_core_sends_to_the_proxy():
    headers = proxy_headers({"proxy_basic_auth": "ops:s3cret", "basic_auth": "user:pw", "user_agent": "ci/1.0"})
    assert dict(headers) == {"proxy-authorization": "Basic b3BzOnMzY3JldA==", "authorization": "Basic dXNlcjpwdw==",
                             "user-agent": "ci/1.0"}
    assert proxy_headers({"proxy_basic_auth": None, "basic_auth": None, "user_agent": None}) is None
    assert proxy_headers(None) is None


def test_the_proxy_options_come_from_the_environment_as_in_kubernetes_core(monkeypatch):
    """What AnsibleModule makes of the connection options with K8S_AUTH_* set and the options not given: the proxy
    credentials are among the values Ansible masks."""
    monkeypatch.setenv("K8S_AUTH_NO_PROXY", "10.0.0.0/8,.internal")
    monkeypatch.setenv("K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH", "ops:s3cret")
    monkeypatch.setenv("K8S_AUTH_PROXY_HEADERS_USER_AGENT", "ci/1.0")
    monkeypatch.delenv("K8S_AUTH_PROXY_HEADERS_BASIC_AUTH", raising=False)
    validated = ArgumentSpecValidator(AUTH_ARG_SPEC).validate({"proxy": "http://proxy:3128"})
    assert not validated.error_messages
    assert validated.validated_parameters["no_proxy"] == "10.0.0.0/8,.internal"
    assert validated.validated_parameters["proxy_headers"] == {"proxy_basic_auth": "ops:s3cret", "basic_auth": None,
                                                               "user_agent": "ci/1.0"}
    assert "ops:s3cret" in validated._no_log_values  # pylint: disable=protected-access
    given = ArgumentSpecValidator(AUTH_ARG_SPEC).validate({"proxy_headers": {"user_agent": "mine/2"}})
    assert given.validated_parameters["proxy_headers"] == {"proxy_basic_auth": "ops:s3cret", "basic_auth": None,
                                                           "user_agent": "mine/2"}
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "a"}
    assert ArgumentSpecValidator(AUTH_ARG_SPEC).validate({"kubeconfig": kubeconfig}).validated_parameters[
        "kubeconfig"] == kubeconfig
