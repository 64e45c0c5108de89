"""plugins/module_utils/k8s_client.py when the API server misbehaves: what a failure that outlasted the retries
says (the server, what happened, for how long, what to do), the request timeout (kubectl's --request-timeout), a
server that could not be reached is not waited for again by the same client, and a 401 for an expired client
certificate names the certificate. Against the cluster under test, with the local server's fault switches."""
# pylint: disable=missing-function-docstring

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import CSR_API
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import (
    MAX_ATTEMPTS, ApiError, ConnectionConfigError, KubeClient, KubeError, timeout_seconds)
from tests.kube import wait_for

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def faults(cluster):
    """`faults(...)` adds a fault of the local server for this test's requests (list configmaps): no other test's."""
    def add(**fault):
        cluster.control("POST", "faults", dict({"count": 0, "verb": "list", "resource": "configmaps"}, **fault))
    yield add
    cluster.control("DELETE", "faults")


def lists_seen(cluster):
    return cluster.control("GET", "stats")["counters"].get("list configmaps", 0)


# what remains once the retries are spent

def test_an_overload_that_outlasts_the_retries_names_the_server_the_attempts_and_what_to_do():
    error = ApiError(429, {"reason": "TooManyRequests", "message": "slow down"}, "POST", CSR_API,
                     retried=("https://10.0.0.2:6443", 5, 8.2))
    assert str(error) == (f"POST {CSR_API}: HTTP 429 TooManyRequests: slow down (the API server at "
                          "https://10.0.0.2:6443 is overloaded and kept asking to slow down: 5 attempts over 8 s. Run "
                          "again later: the next run picks up where this one stopped. If it lasts, check the API "
                          "server's health (kubectl get --raw='/readyz?verbose') and its logs)")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_that_outlasts_the_retries_is_not_the_requests_fault(status):
    message = str(ApiError(status, "", "GET", CSR_API, retried=("https://x", 5, 3.9)))
    assert ("the API server at https://x (or a proxy or load balancer in front of it) kept failing, for no fault of "
            "this request: 5 attempts over 4 s") in message and "Run again later" in message


def test_a_refusal_is_not_described_as_retried():
    """A 403 after a 503 is the answer: no retry story."""
    message = str(ApiError(403, {"reason": "Forbidden", "message": "no"}, "GET", CSR_API, retried=("https://x", 2, 1)))
    assert "attempts" not in message


def test_a_credential_problem_replaces_the_guess_of_a_401():
    message = str(ApiError(401, {"reason": "Unauthorized", "message": "Unauthorized"}, "GET", CSR_API,
                           credential="the API server at https://x did not accept the credentials: it expired"))
    assert message.endswith("(the API server at https://x did not accept the credentials: it expired)")
    assert "not signed by the cluster CA" not in message


@pytest.mark.local_only("the local server's fault switches")
def test_a_lasting_503_fails_after_the_retries_naming_the_server(cluster, faults):
    faults(status=503, retry_after=0)
    client = KubeClient({"kubeconfig": cluster.kubeconfig})
    before = lists_seen(cluster)
    with pytest.raises(ApiError) as raised:
        client.request("GET", CONFIGMAPS)
    assert lists_seen(cluster) - before == MAX_ATTEMPTS
    assert f"the API server at {cluster.server} (or a proxy" in str(raised.value)
    assert f"{MAX_ATTEMPTS} attempts over" in str(raised.value)


# request_timeout

@pytest.mark.parametrize("given, seconds", [(None, 60.0), ("", 60.0), (5, 5.0), ("0.5", 0.5)])
def test_the_request_timeout_in_seconds(given, seconds):
    assert timeout_seconds(given) == seconds


@pytest.mark.parametrize("given", [0, -1, "soon", "nan"])
def test_a_request_timeout_that_is_not_a_positive_number_is_refused_naming_the_option(given):
    with pytest.raises(ConnectionConfigError, match=r"^request_timeout: .* is not a number of seconds greater than 0"):
        timeout_seconds(given)


def test_a_client_made_from_a_dict_takes_the_timeout_from_the_environment(cluster, monkeypatch):
    """Checks with a user's own credentials are clients made from a dict, with no option to give."""
    monkeypatch.setenv("K8S_AUTH_REQUEST_TIMEOUT", "7")
    assert KubeClient({"kubeconfig": cluster.kubeconfig}).request_timeout == 7
    assert KubeClient({"kubeconfig": cluster.kubeconfig, "request_timeout": 3}).request_timeout == 3
    monkeypatch.setenv("K8S_AUTH_REQUEST_TIMEOUT", "never")
    with pytest.raises(ConnectionConfigError, match="request_timeout: 'never'"):
        KubeClient({"kubeconfig": cluster.kubeconfig})


@pytest.mark.local_only("the local server's fault switches")
def test_a_server_slower_than_the_timeout_is_named_and_not_waited_for_again(cluster, faults):
    faults(delay=1.5)
    client = KubeClient({"kubeconfig": cluster.kubeconfig, "request_timeout": 0.5})
    before = lists_seen(cluster)
    with pytest.raises(KubeError) as raised:
        client.request("GET", CONFIGMAPS)
    assert str(raised.value).startswith(f"the API server at {cluster.server} did not answer GET {CONFIGMAPS} within "
                                        "0.5 s (request_timeout)")
    assert f"({MAX_ATTEMPTS} attempts over" in str(raised.value)
    # The server counts a request once it has answered it: the last one after the client gave up.
    wait_for(lambda: lists_seen(cluster) - before == MAX_ATTEMPTS, what="the attempts answered")
    # The same client's next request (a prune after the writes, the next item) fails at once, sending nothing.
    with pytest.raises(KubeError) as again:
        client.request("GET", CONFIGMAPS)
    assert str(again.value) == str(raised.value) and lists_seen(cluster) - before == MAX_ATTEMPTS


@pytest.mark.local_only("the local server's fault switches")
def test_a_reset_connection_says_so_in_words(cluster, faults):
    faults(drop=True)
    with pytest.raises(KubeError) as raised:
        KubeClient({"kubeconfig": cluster.kubeconfig}).request("GET", CONFIGMAPS)
    assert f"the API server at {cluster.server} dropped the connection: " in str(raised.value)
    assert "Connection aborted" not in str(raised.value) and "(" not in str(raised.value).split(": ", 1)[1][:30]


# a client certificate that expired

def test_a_401_for_an_expired_client_certificate_names_it(cluster, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old-admin")])
    now = datetime.datetime.now(datetime.timezone.utc)
    expired = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=2))
               .not_valid_after(now - datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert, key_file = tmp_path / "old.crt", tmp_path / "old.key"
    cert.write_bytes(expired.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    client = KubeClient({"host": cluster.server, "ca_cert": cluster.admin.ca_file, "client_cert": str(cert),
                         "client_key": str(key_file)})
    with pytest.raises(ApiError) as raised:
        client.request("GET", "/api/v1/namespaces")
    assert raised.value.status == 401
    when = expired.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (f"the API server at {cluster.server} did not accept the credentials: the client certificate of "
            f"client_cert {cert} (CN=old-admin) expired at {when}. Renew it") in str(raised.value)
