"""The manual approval loop end to end on the cluster under test, with a requester and an approver who hold only the
shipped ClusterRoles (examples/rbac): onboarding with `approval: manual` leaves the requests pending, approve.yml
approves them under the policy, denies a request for groups the user does not have, one labelled as the
inventory's for a user it does not have and one made by someone who is not a requester, each with the reason, and
the next onboarding run writes the kubeconfigs."""
# pylint: disable=missing-function-docstring,redefined-outer-name  # pytest fixtures are parameters named as fixtures

import os

import yaml

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import Request
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import default_name
from tests.integration.test_onboarding import RBAC, ROOT, can_i, whoami
from tests.integration.test_onboarding import onboarding  # noqa: F401 pylint: disable=unused-import  # a fixture
from tests.kube import CSR_PATH, KubeHTTP, csr_manifest, make_csr_pem, new_key

EXAMPLES = os.path.join(ROOT, "examples", "rbac")


def shipped_identity(onboarding, admin, cleanup, file_name):
    """A user bound to exactly the shipped ClusterRole of `file_name` (names made unique); its kubeconfig."""
    with open(os.path.join(EXAMPLES, file_name), encoding="utf-8") as handle:
        role, binding = yaml.safe_load(handle)["items"]
    user = f"{role['metadata']['name']}-{onboarding.suffix}"
    role["metadata"]["name"] = binding["metadata"]["name"] = binding["roleRef"]["name"] = user
    binding["subjects"][0]["name"] = user
    for kind, obj in (("clusterroles", role), ("clusterrolebindings", binding)):
        admin.json("POST", f"{RBAC}/{kind}", obj, expect=201)
        cleanup.add(f"{RBAC}/{kind}/{user}")
    return onboarding.cluster.make_user(user)


def labelled_request(onboarding, client, cleanup, user, groups):
    """A pending CSR carrying the inventory's labels and the name the role would give it, made with `client`'s
    credential outside the role."""
    pem = make_csr_pem(new_key(), user, groups)
    name = default_name(user, Request(pem).fingerprint)
    body = csr_manifest(name, pem, labels={"app.kubernetes.io/managed-by": "kubeaccess.x509",
                                           "kubeaccess.x509/inventory": onboarding.label})
    client.json("POST", CSR_PATH, body, expect=201)
    cleanup.add(f"{CSR_PATH}/{name}")
    return name


def conditions(admin, name):
    csr = admin.json("GET", f"{CSR_PATH}/{name}", expect=200)
    return {c["type"]: c for c in (csr.get("status") or {}).get("conditions") or []}


def inventory_csrs(onboarding, user):
    return [c for c in onboarding.csrs() if c["metadata"]["name"].startswith(user)]


def test_requester_and_approver_with_only_the_shipped_roles(onboarding, admin, cleanup, cluster):
    rahul, seema = onboarding.rahul, onboarding.seema
    requester = shipped_identity(onboarding, admin, cleanup, "kubeaccess-requester.yaml")
    approver = shipped_identity(onboarding, admin, cleanup, "kubeaccess-approver.yaml")
    policy = {"max_expiration_seconds": 86400}
    assert not can_i(requester, "update", "certificatesigningrequests/approval")
    assert not can_i(approver, "list", "rolebindings", "-A")
    assert not can_i(approver, "create", "certificatesigningrequests")

    onboarding.clusters = {"local": {"kubeconfig": requester, "approval": "manual", "policy": policy,
                                     "requesters": [whoami(requester)["username"]]}}
    onboarding.write_inventory()
    first = onboarding.run("onboard.yml").ok()
    assert f"{rahul}@local" in first.output and "an approver decides it under the policy with playbooks/approve.yml" \
        in first.output
    assert not os.path.exists(onboarding.kubeconfig(rahul))
    (rahul_csr,) = inventory_csrs(onboarding, rahul)
    assert conditions(admin, rahul_csr["metadata"]["name"]) == {}

    # Requests the role did not make: with the requester's credential, seema asking for a group she does not have;
    # with anybody else's, one for a user the inventory does not have and one just like seema's own.
    as_requester = KubeHTTP(requester, os.path.join(onboarding.workdir, "requester-creds"))
    greedy = labelled_request(onboarding, as_requester, cleanup, seema,
                              ["system:masters-not", f"admins-{onboarding.suffix}"])
    stranger = labelled_request(onboarding, admin, cleanup, f"mallory-{onboarding.suffix}", [])
    forged = labelled_request(onboarding, admin, cleanup, seema, onboarding.users[seema]["user_access_groups"])

    onboarding.clusters["local"]["kubeconfig"] = approver
    onboarding.write_inventory()
    decided = onboarding.run("approve.yml")
    assert decided.returncode == 2, decided.output[-6000:]  # seema's greedy request was denied: her run failed
    assert decided.recap(rahul)["changed"] == 1 and decided.recap(rahul)["failed"] == 0
    assert decided.recap(seema)["failed"] == 1
    assert f"CSR {greedy} denied: " in decided.output and f"admins-{onboarding.suffix}" in decided.output
    assert f"CSR {stranger} for mallory-{onboarding.suffix} denied: not a user of this inventory" in decided.output
    approved = conditions(admin, rahul_csr["metadata"]["name"])["Approved"]
    assert approved["reason"] == "KubeaccessApprove"
    denied = conditions(admin, greedy)["Denied"]
    assert denied["reason"] == "KubeaccessPolicyViolation" and f"admins-{onboarding.suffix}" in denied["message"]
    assert conditions(admin, stranger)["Denied"]["reason"] == "KubeaccessNotInInventory"
    denied = conditions(admin, forged)["Denied"]
    assert denied["reason"] == "KubeaccessUnknownRequester" and whoami(cluster.kubeconfig)["username"] in \
        denied["message"]
    # seema's own request was approved all the same.
    (seema_own,) = [c for c in inventory_csrs(onboarding, seema) if c["metadata"]["name"] not in (greedy, forged)]
    assert "Approved" in conditions(admin, seema_own["metadata"]["name"])

    onboarding.clusters["local"]["kubeconfig"] = requester
    onboarding.write_inventory()
    second = onboarding.run("onboard.yml").ok()
    assert second.changed(rahul) == 1 and second.changed(seema) == 1
    assert whoami(onboarding.kubeconfig(rahul))["username"] == rahul
    assert whoami(onboarding.kubeconfig(seema))["username"] == seema

    onboarding.clusters["local"]["kubeconfig"] = approver
    onboarding.write_inventory()
    quiet = onboarding.run("approve.yml").ok()
    assert quiet.changed_total() == 0 and "no request waits for approval" in quiet.output


def test_approve_names_a_user_outside_the_inventory(onboarding):
    typo = onboarding.run("approve.yml", "-e", f"user={onboarding.rahul}x").failed()
    assert f"-e user={onboarding.rahul}x: {onboarding.rahul}x not in the group kube_users" in typo.output
