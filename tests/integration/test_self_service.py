"""Self-service end to end on the cluster under test: onboarding makes the user's ServiceAccount (publishing the user
name, groups and CSR name) and its RBAC; on a second "machine" (its own HOME, nothing but a kubeconfig holding the
account's token) playbooks/request.yml makes the key there and submits the request; approve.yml (or onboarding,
where approval is automatic) approves it under the policy; request.yml collects the certificate and writes a verified kubeconfig there, changes nothing when run
again, and renews inside the window. Requests for a name or groups the account does not publish are denied."""
# pylint: disable=missing-function-docstring,redefined-outer-name  # pytest fixtures are parameters named as fixtures

import base64
import os
import subprocess

import pytest
import yaml
from cryptography import x509

from ansible_collections.kubeaccess.x509.plugins.module_utils import self_service
from tests.integration.test_onboarding import BIN, COLLECTIONS_PATH, ROOT, Onboarding, Run, whoami
from tests.kube import CSR_PATH, KubeHTTP, csr_manifest, make_csr_pem, new_key, wait_for


@pytest.fixture
def onboarding(cluster, admin, cleanup, tmp_path):
    setup = Onboarding(cluster, admin, cleanup, str(tmp_path))
    setup.namespace = f"kubeaccess-ss-{setup.suffix}"
    setup.users[setup.rahul]["user_access_self_service"] = True
    setup.clusters["local"].update(self_service_namespace=setup.namespace, policy={"max_expiration_seconds": 172800})
    setup.write_inventory()
    cleanup.add(f"/api/v1/namespaces/{setup.namespace}")
    cleanup.add(f"{CSR_PATH}/{self_service.csr_name(setup.rahul)}")
    yield setup
    setup.remove_everything()


def account_token(onboarding, admin, user):
    """A token of the user's ServiceAccount, as `kubectl create token` makes it (TokenRequest)."""
    path = f"/api/v1/namespaces/{onboarding.namespace}/serviceaccounts/{self_service.account_name(user)}/token"
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}}
    return admin.json("POST", path, body, expect=201)["status"]["token"]


class Machine:
    """The user's own machine: its own HOME, and only the kubeconfig with the account's token."""

    def __init__(self, onboarding, admin, path):
        self.home = str(path)
        os.makedirs(self.home, mode=0o700)
        self.request_kubeconfig = os.path.join(self.home, "request.kubeconfig")
        token = account_token(onboarding, admin, onboarding.rahul)
        ca_data = base64.b64encode(onboarding.cluster.ca_pem).decode()
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "request",
                  "clusters": [{"name": "local", "cluster": {"server": onboarding.cluster.server,
                                                             "certificate-authority-data": ca_data}}],
                  "users": [{"name": "request", "user": {"token": token}}],
                  "contexts": [{"name": "request", "context": {"cluster": "local", "user": "request"}}]}
        with open(self.request_kubeconfig, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle)
        os.chmod(self.request_kubeconfig, 0o600)
        self.kubeconfig = os.path.join(self.home, ".kube", "config")
        self.key = os.path.join(self.home, ".kube", "kubeaccess", "local.key")

    def request(self, *args):
        env = {"HOME": self.home, "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
               "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS_PATH, "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
               "ANSIBLE_LOCAL_TEMP": os.path.join(self.home, ".ansible", "tmp"),
               "KUBEACCESS_REQUEST_KUBECONFIG": self.request_kubeconfig}
        completed = subprocess.run([os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "request.yml"),
                                    "-e", "cluster=local", *args], env=env, capture_output=True, text=True, timeout=600,
                                   check=False, stdin=subprocess.DEVNULL, cwd=self.home)
        return Run(completed)


def csr(admin, name):
    return admin.json("GET", f"{CSR_PATH}/{name}", expect=200)


def test_a_user_requests_collects_and_renews_their_own_certificate(onboarding, admin, tmp_path):
    rahul, groups = onboarding.rahul, onboarding.users[onboarding.rahul]["user_access_groups"]
    onboarded = onboarding.run("onboard.yml").ok()
    assert f"{rahul}@local: groups {groups[0]}; self-service" in onboarded.output
    account = admin.json("GET", f"/api/v1/namespaces/{onboarding.namespace}/serviceaccounts/"
                                f"{self_service.account_name(rahul)}", expect=200)
    assert self_service.published(account) == (rahul, groups, self_service.csr_name(rahul))
    assert not os.path.exists(os.path.join(onboarding.base_dir, rahul))

    machine = Machine(onboarding, admin, tmp_path / "rahul-laptop")
    submitted = machine.request().ok()
    name = self_service.csr_name(rahul)
    assert f"CSR {name} is pending" in submitted.output and "playbooks/approve.yml" in submitted.output
    request = csr(admin, name)
    assert request["spec"]["username"] == self_service.requester(onboarding.namespace, rahul)
    assert os.stat(machine.key).st_mode & 0o777 == 0o600 and not os.path.exists(machine.kubeconfig)

    approved = onboarding.run("approve.yml").ok()
    assert f"CSR {name} approved under the policy" in approved.output
    collected = machine.request().ok()
    assert "certificate NotAfter" in collected.output
    assert os.stat(machine.kubeconfig).st_mode & 0o777 == 0o600
    seen = whoami(machine.kubeconfig)
    assert seen["username"] == rahul and set(groups) <= set(seen["groups"])
    assert machine.request().ok().changed_total() == 0

    with open(os.path.join(machine.home, ".kube", "kubeaccess", "local.crt"), "rb") as handle:
        serial = x509.load_pem_x509_certificate(handle.read()).serial_number
    # Inside the renewal window (1 day of a 1-day certificate): a new request, for 2 days, collected once approved.
    renewal = ("-e", "renew_before=1d", "-e", "lifetime_seconds=172800")
    assert f"CSR {name} is pending" in machine.request(*renewal).ok().output
    # With automatic approval, onboarding decides self-service requests too, as approve.yml does.
    onboarded = onboarding.run("onboard.yml").ok()
    assert f"CSR {name} approved under the policy; the user's next run of playbooks/request.yml" in onboarded.output
    assert onboarded.recap(rahul)["changed"] == 1
    machine.request(*renewal).ok()
    with open(os.path.join(machine.home, ".kube", "kubeaccess", "local.crt"), "rb") as handle:
        assert x509.load_pem_x509_certificate(handle.read()).serial_number != serial
    assert whoami(machine.kubeconfig)["username"] == rahul

    # Offboarding: the account goes (its token stops working), its request too, and the report says until when the
    # certificate, which the controller never held, stays valid.
    del onboarding.users[rahul]
    onboarding.write_inventory()
    offboarded = onboarding.run("offboard.yml", "-e", f"user={rahul}").ok()
    assert (f"self-service ServiceAccount {onboarding.namespace}/{self_service.account_name(rahul)} deleted: its "
            "tokens no longer work") in offboarded.output
    assert f"CSRs deleted: {name} (issued)" in offboarded.output
    assert "cannot be revoked and is valid until" in offboarded.output
    assert admin.request("GET", f"{CSR_PATH}/{name}").status_code == 404
    # The API server drops a deleted account's tokens once its cache has seen the deletion.
    as_account = KubeHTTP(machine.request_kubeconfig, str(tmp_path / "gone"))
    wait_for(lambda: as_account.request("GET", f"{CSR_PATH}/{name}").status_code == 401,
             what="the deleted account's token to be refused (401)")
    assert [b for b in onboarding.bindings() if b[2] == f"kubeaccess-self-service-{rahul}"] == []


@pytest.mark.parametrize("common_name, groups, rule", [
    ("seema", None, "expected_user"),
    (None, ["admins"], "allowed_groups"),
], ids=["another user's name", "unpublished groups"])
def test_a_request_the_account_does_not_publish_is_denied_with_the_reason(onboarding, admin, tmp_path, common_name,
                                                                          groups, rule):
    rahul = onboarding.rahul
    onboarding.run("onboard.yml").ok()
    machine = Machine(onboarding, admin, tmp_path / "rahul-laptop")
    as_account = KubeHTTP(machine.request_kubeconfig, str(tmp_path / "account-client"))
    name = self_service.csr_name(rahul)
    subject = common_name and f"{common_name}-{onboarding.suffix}" or rahul
    wanted = groups and [f"{g}-{onboarding.suffix}" for g in groups] or onboarding.users[rahul]["user_access_groups"]
    body = csr_manifest(name, make_csr_pem(new_key(), subject, wanted))
    as_account.json("POST", CSR_PATH, body, expect=201)
    denied = onboarding.run("approve.yml").failed()
    assert denied.recap(rahul)["failed"] == 1
    conditions = {c["type"]: c for c in csr(admin, name)["status"]["conditions"]}
    assert "Denied" in conditions and rule in conditions["Denied"]["message"], conditions
    assert f"CSR {name} denied" in denied.output and rule in denied.output
