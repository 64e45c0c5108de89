"""The API server misbehaving during the playbooks people run: overloaded (429), failing (500, 503), slower than
the client's timeout, resetting connections, restarted mid-run, or refusing an expired administrator certificate.

Each run either completes or fails naming the server, what happened and what to do; the next run, the fault gone,
leaves what an uninterrupted onboarding leaves. The faults are the switches of the bundled test API server, one of
this file's own (its faults touch no other test, it can be restarted, and its CA signs the expired certificate).
"""

import base64
import datetime
import os
import signal
import subprocess
import urllib.parse

import pytest
import yaml

from tests.apiserver import pki
from tests.conftest import Cluster, LocalServerProcess
from tests.integration.test_onboarding import Run, whoami
from tests.kube import wait_for
from tests.reliability.killed_runs import csrs_by_user, final_state
# What one onboarding of the inventory with no fault leaves (module-scoped: on this file's server).
from tests.reliability.test_killed_onboarding import uninterrupted  # noqa: F401 pylint: disable=unused-import

pytestmark = [pytest.mark.server_fault,
              pytest.mark.local_only("the test API server's fault switches, restarts and CA key")]

CSRS = "certificatesigningrequests"
APPROVAL = "certificatesigningrequests/approval"
# What a run that gave up says to do (plugins/module_utils/k8s_client.py).
NEXT_RUN = "the next run picks up where this one stopped"
# Seconds the client waits for an answer in the cases of a slow server (K8S_AUTH_REQUEST_TIMEOUT; 60 by default).
TIMEOUT = 1


class OwnServer:
    """The bundled server in a process of this file's own, its objects in a state file, restartable on its port."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.state_file = os.path.join(workdir, "state.json")
        self.port = 0
        self.process = None

    def start(self):
        self.process = LocalServerProcess(self.workdir, "--state-file", self.state_file,
                                          "--port", str(self.port)).start()
        self.port = urllib.parse.urlsplit(self.process.info["url"]).port
        return self

    def stop(self):
        self.process.stop()

    def expired_admin_kubeconfig(self, path):
        """The admin kubeconfig with a client certificate of the cluster CA that expired yesterday."""
        with open(os.path.join(self.workdir, "ca.key"), "rb") as key, \
                open(os.path.join(self.workdir, "ca.crt"), "rb") as cert:
            ca = pki.CertificateAuthority.load(key.read(), cert.read())
        key = pki.new_key()
        expired = ca.issue_client("kubernetes-admin", ["system:masters"], key.public_key(),
                                  lifetime=datetime.timedelta(days=1),
                                  not_before=pki.utcnow() - datetime.timedelta(days=2))
        with open(self.process.info["kubeconfig"], encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
        config["users"][0]["user"] = {"client-certificate-data": base64.b64encode(pki.cert_pem(expired)).decode(),
                                      "client-key-data": base64.b64encode(pki.key_pem(key)).decode()}
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle)
        return expired.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    own = OwnServer(str(tmp_path_factory.mktemp("apiserver"))).start()
    yield own
    own.stop()


@pytest.fixture(scope="module")
def cluster(server, tmp_path_factory):
    """This file's server as the cluster under test (in place of the session's, for `onboarding`)."""
    current = Cluster(server.process.info["kubeconfig"], str(tmp_path_factory.mktemp("cluster")), local=True)
    yield current
    current.cleanup()


@pytest.fixture(autouse=True)
def cleared(cluster, onboarding):  # pylint: disable=unused-argument
    """No fault outlives its test, nor reaches the removal of its inventory's objects (after this, in teardown)."""
    yield
    cluster.control("DELETE", "faults")


def inject(cluster, *faults):
    for fault in faults:
        cluster.control("POST", "faults", fault)


def said(run, *texts):
    """Each of `texts` is in what the run printed."""
    for text in texts:
        assert text in run.output, f"{text!r} not said:\n{run.output[-6000:]}"


def failed_on(run, *hosts):
    """The run failed, on the line of each of `hosts`: not green for anybody it did not do."""
    run.failed()
    for host in hosts:
        assert run.recap(host)["failed"] == 1, run.output[-6000:]
    return run


# Faults that pass: each run through them completes.
PASSING = {
    "429-retry-after-on-csr-create": [{"status": 429, "retry_after": 1, "count": 2, "verb": "create",
                                       "resource": CSRS}],
    "503-retry-after-on-approval": [{"status": 503, "retry_after": 1, "count": 2, "verb": "update",
                                     "resource": APPROVAL}],
    "500-on-binding-writes": [{"status": 500, "count": 2, "verb": "create", "resource": "rolebindings"}],
    "reset-on-csr-reads": [{"drop": True, "count": 2, "verb": "list", "resource": CSRS}],
    # Answered after the client gave up: the server creates the first request while the client sends it again.
    "slower-than-timeout-on-csr-create": [{"delay": 1.5, "count": 2, "verb": "create", "resource": CSRS}],
}


def slow(faults, monkeypatch):
    """A server slower than the client waits: the client is told to wait TIMEOUT seconds."""
    if any(fault.get("delay") for fault in faults):
        monkeypatch.setenv("K8S_AUTH_REQUEST_TIMEOUT", str(TIMEOUT))


@pytest.mark.parametrize("faults", PASSING.values(), ids=PASSING.keys())
def test_onboarding_through_a_passing_fault_completes(onboarding, cluster, uninterrupted, monkeypatch, faults):
    slow(faults, monkeypatch)
    inject(cluster, *faults)
    onboarding.run("onboard.yml").ok()
    assert final_state(onboarding) == uninterrupted


# Faults that last until cleared: the run fails naming the server, what it did, and what to do.
LASTING = {
    "429-until-cleared-on-csr-create": (
        [{"status": 429, "retry_after": 1, "count": 0, "verb": "create", "resource": CSRS}],
        "users", ["HTTP 429 TooManyRequests", "is overloaded and kept asking to slow down: 5 attempts over",
                  "Run again later", NEXT_RUN, "/readyz"]),
    "503-until-cleared-on-binding-writes": (
        [{"status": 503, "retry_after": 1, "count": 0, "verb": "create", "resource": "clusterrolebindings"}],
        "localhost", ["HTTP 503 ServiceUnavailable", "kept failing, for no fault of this request: 5 attempts over",
                      "Run again later", NEXT_RUN]),
    "500-until-cleared-on-approval": (
        [{"status": 500, "count": 0, "verb": "update", "resource": APPROVAL}],
        "users", ["HTTP 500 InternalError", "kept failing, for no fault of this request: 5 attempts over",
                  NEXT_RUN]),
    "reset-until-cleared-on-every-read": (
        [{"drop": True, "count": 0, "verb": "list"}],
        "everybody", ["cluster local cannot be reached", "dropped the connection: Remote end closed connection",
                      "5 attempts over", "the next run completes it"]),
    "slower-than-timeout-until-cleared-on-binding-read": (
        [{"delay": 2, "count": 0, "verb": "list", "resource": "clusterrolebindings"}],
        "everybody", ["cluster local cannot be reached", "did not answer GET /apis/rbac.authorization.k8s.io/v1/",
                      f"within {TIMEOUT} s (request_timeout)", "5 attempts over", "the next run completes it"]),
}


@pytest.mark.parametrize("faults,who,says", LASTING.values(), ids=LASTING.keys())
def test_onboarding_through_a_lasting_fault_names_it_and_the_next_run_completes(
        onboarding, cluster, uninterrupted, monkeypatch, faults, who, says):
    slow(faults, monkeypatch)
    users = [onboarding.rahul, onboarding.seema]
    failing = {"users": users, "localhost": ["localhost"], "everybody": ["localhost", *users]}[who]
    inject(cluster, *faults)
    run = failed_on(onboarding.run("onboard.yml"), *failing)
    said(run, f"the API server at {cluster.server}", *says)
    cluster.control("DELETE", "faults")
    onboarding.run("onboard.yml").ok()
    assert final_state(onboarding) == uninterrupted


def test_a_restart_of_the_api_server_mid_run_keeps_its_state_and_the_run_completes(
        onboarding, cluster, server, uninterrupted):
    """The server is restarted (SIGTERM, then started again on its port with its state file) while it holds the
    run's first approval unanswered: the run, paused meanwhile so that the restart is complete before it goes on,
    finds its requests on the restarted server, sends the approval again and completes."""
    inject(cluster, {"delay": 30, "count": 1, "verb": "update", "resource": APPROVAL})
    argv, env = onboarding.command("onboard.yml")
    output = os.path.join(onboarding.workdir, "run.log")
    with open(output, "w+", encoding="utf-8") as log:
        # A session of its own: the run's processes (Ansible's workers too) are paused and resumed as one.
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for(lambda: not cluster.control("GET", "faults")["faults"], timeout=120,
                     what="the run's approval held by the server")
            before = {user: [csr["metadata"]["uid"] for csr in csrs]
                      for user, csrs in csrs_by_user(onboarding).items()}
            os.killpg(process.pid, signal.SIGSTOP)
            server.stop()
            server.start()
            os.killpg(process.pid, signal.SIGCONT)
            process.wait(timeout=300)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.seek(0)
        run = Run(subprocess.CompletedProcess(argv, process.returncode, log.read(), ""))
    run.ok()
    assert final_state(onboarding) == uninterrupted
    after = {user: [csr["metadata"]["uid"] for csr in csrs] for user, csrs in csrs_by_user(onboarding).items()}
    assert after == before, "the requests made before the restart were not the ones approved after it"


def test_an_expired_admin_certificate_is_named_and_renewed_credentials_complete_the_run(
        onboarding, server, uninterrupted):
    expired = os.path.join(onboarding.workdir, "admin-expired.kubeconfig")
    expired_at = server.expired_admin_kubeconfig(expired)
    valid = onboarding.clusters["local"]["kubeconfig"]
    onboarding.clusters["local"]["kubeconfig"] = expired
    onboarding.write_inventory()
    run = failed_on(onboarding.run("onboard.yml"), "localhost")
    said(run, "HTTP 401 Unauthorized", f"the API server at {onboarding.cluster.server} did not accept the credentials: "
         f"the client certificate of the kubeconfig {expired} (CN=kubernetes-admin,O=system:masters) expired at "
         f"{expired_at}. Renew it")
    assert not os.path.exists(onboarding.base_dir) and onboarding.bindings() == {}

    onboarding.clusters["local"]["kubeconfig"] = valid
    onboarding.write_inventory()
    onboarding.run("onboard.yml").ok()
    assert final_state(onboarding) == uninterrupted


def test_a_renewal_through_a_lasting_fault_keeps_the_current_access_and_the_next_one_renews(onboarding, cluster):
    rahul = onboarding.rahul
    onboarding.run("onboard.yml").ok()
    certificate = os.path.join(onboarding.base_dir, rahul, "local.crt")
    with open(certificate, "rb") as handle:
        first = handle.read()
    inject(cluster, {"status": 503, "retry_after": 1, "count": 0, "verb": "update", "resource": APPROVAL})
    run = failed_on(onboarding.run("renew.yml", "-e", f"user={rahul}", "-e", "renew_now=true"), rahul)
    said(run, f"the API server at {cluster.server}", "HTTP 503 ServiceUnavailable", "5 attempts over", NEXT_RUN)
    with open(certificate, "rb") as handle:
        assert handle.read() == first
    assert whoami(onboarding.kubeconfig(rahul))["username"] == rahul  # the current access still works
    requested = sorted(csr["metadata"]["name"] for csr in csrs_by_user(onboarding)[rahul])

    cluster.control("DELETE", "faults")
    onboarding.run("renew.yml", "-e", f"user={rahul}", "-e", "renew_now=true").ok()
    with open(certificate, "rb") as handle:
        assert handle.read() != first
    assert whoami(onboarding.kubeconfig(rahul))["username"] == rahul
    # The request of the failed run is the one approved: no third one (the first stays until the cleaner's hour).
    assert sorted(csr["metadata"]["name"] for csr in csrs_by_user(onboarding)[rahul]) == requested


def test_an_offboarding_through_a_lasting_fault_names_it_and_the_next_one_completes(onboarding, cluster):
    rahul = onboarding.rahul
    onboarding.run("onboard.yml").ok()
    del onboarding.users[rahul]
    onboarding.write_inventory()
    inject(cluster, {"status": 500, "count": 0, "verb": "delete", "resource": CSRS})
    run = failed_on(onboarding.run("offboard.yml", "-e", f"user={rahul}"), "localhost")
    said(run, f"the API server at {cluster.server}", "HTTP 500 InternalError", "5 attempts over", NEXT_RUN)
    directory = os.path.join(onboarding.base_dir, rahul)
    assert os.path.exists(directory), "files removed while the cluster still has the user's request"

    cluster.control("DELETE", "faults")
    done = onboarding.run("offboard.yml", "-e", f"user={rahul}").ok()
    assert f"deleted on the controller: {directory}" in done.output
    assert not os.path.exists(directory) and rahul not in csrs_by_user(onboarding)
