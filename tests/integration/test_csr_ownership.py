"""What a CSR under our name proves, and what a batch reports item by item.

A CSR counts as ours when it carries our label and asks for our key: anybody can copy a label, nobody can sign a
request for a key they do not hold. Pins are absolute: a certificate for another key is never written, even when
someone else approved the CSR. A batch with continue_on_error does the good items and names the bad ones.
"""

import base64

from cryptography.hazmat.primitives import serialization

from tests.contract.support import conditions, create_csr
from tests.kube import CSR_PATH, approve, new_key, wait_for, wait_for_certificate

OUR_LABEL = {"app.kubernetes.io/managed-by": "kubeaccess.x509"}


def our_key(run_module, tmp_path, user):
    """A key of ours in a file, and what k8s_csr_request makes of it (its CSR name, fingerprint and request),
    asked in check mode so that nothing is submitted."""
    key = new_key()
    path = tmp_path / f"{user}.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    described = run_module("k8s_csr_request", {"user": user, "private_key_path": str(path)}, check=True)
    return key, path, described


def swapped_and_approved(admin, cleanup, cluster, name, user):
    """A CSR named `name` for `user` but for somebody else's key, approved and issued by somebody else."""
    _created, theirs = create_csr(admin, cleanup, name, user, labels=OUR_LABEL)
    approve(admin, name)
    wait_for_certificate(admin, name)
    return theirs


def test_a_pinned_approval_never_uses_a_csr_someone_else_approved_for_another_key(run_module, admin, cleanup,
                                                                                  cluster, tmp_path):
    user = cluster.name("pinned")
    _key, _path, ours = our_key(run_module, tmp_path, user)
    certificate = tmp_path / "pinned.crt"
    certificate.write_bytes(b"the certificate we had\n")
    for index, pin in enumerate(({"expected_public_key_fingerprint": ours["public_key_fingerprint"]},
                                 {"expected_request": ours["request"]})):
        name = cluster.name(f"swapped{index}")
        swapped_and_approved(admin, cleanup, cluster, name, user)
        result = run_module("k8s_csr_approve", {"name": name, "expected_user": user, "wait": True,
                                                "certificate_path": str(certificate), **pin})
        assert result["failed"], result
        assert f"{next(iter(pin))}: " in result["msg"] and "nothing written" in result["msg"]
        assert certificate.read_bytes() == b"the certificate we had\n"


def test_a_foreign_csr_with_our_label_under_our_name_is_not_replaced(run_module, admin, cleanup, cluster, tmp_path):
    user = cluster.name("owned")
    ours, key_path, described = our_key(run_module, tmp_path, user)
    name = described["name"]
    created, _theirs = create_csr(admin, cleanup, name, user, labels=OUR_LABEL)
    args = {"user": user, "private_key_path": str(key_path), "certificate_path": str(tmp_path / "owned.crt")}
    refused = run_module("k8s_csr_request", args)
    assert refused["failed"]
    assert f"a CSR named {name} exists and carries the kubeaccess.x509 label but asks for another key" \
        in refused["msg"]
    left = admin.json("GET", f"{CSR_PATH}/{name}", expect=200)
    assert left["metadata"]["uid"] == created["metadata"]["uid"] and not (tmp_path / "owned.crt").exists()
    # Deleting it is refused too: it is somebody else's.
    kept = run_module("k8s_csr_request", dict(args, state="absent"))
    assert kept["failed"] and "it is not deleted" in kept["msg"]
    assert admin.json("GET", f"{CSR_PATH}/{name}", expect=200)["metadata"]["uid"] == created["metadata"]["uid"]
    # A labelled CSR for our own key, with another lifetime, is ours: it is replaced.
    admin.request("DELETE", f"{CSR_PATH}/{name}")
    wait_for(lambda: admin.request("GET", f"{CSR_PATH}/{name}").status_code == 404, what=f"{name} deleted")
    create_csr(admin, cleanup, name, user, key=ours, labels=OUR_LABEL, expiration=7200)
    replaced = run_module("k8s_csr_request", args)
    assert replaced["action"] == "recreate", replaced
    assert admin.json("GET", f"{CSR_PATH}/{name}", expect=200)["spec"]["expirationSeconds"] == 86400


def test_continue_on_error_does_the_good_items_and_names_the_bad_ones(run_module, admin, cleanup, cluster,
                                                                      tmp_path):
    good, bad = cluster.name("good"), cluster.name("bad")
    (tmp_path / "bad.key").write_text("not a key\n")
    items = [{"user": good, "private_key_path": str(tmp_path / "good.key")},
             {"user": bad, "private_key_path": str(tmp_path / "bad.key")}]
    stopped = run_module("k8s_csr_request", {"requests": items})
    assert stopped["failed"] and "requests[1]" in stopped["msg"] and not (tmp_path / "good.key").exists()

    batch = run_module("k8s_csr_request", {"requests": items, "continue_on_error": True})
    assert not batch.get("failed") and batch["failed_items"] == 1
    by_user = {result["user"]: result for result in batch["results"]}
    assert by_user[good]["phase"] == "pending" and by_user[good]["changed"]
    assert by_user[bad]["failed"] and "private_key_path" in by_user[bad]["msg"] and not by_user[bad]["changed"]
    cleanup.add(f"{CSR_PATH}/{by_user[good]['name']}")
    assert "Approved" not in conditions(admin.json("GET", f"{CSR_PATH}/{by_user[good]['name']}", expect=200))


def test_access_info_lists_every_binding_of_a_name_or_group_ours_or_not(run_module, admin, cleanup, cluster):
    user, group = cluster.name("info-user"), cluster.name("info-group")
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    binding = cluster.name("info-by-hand")
    admin.json("POST", f"{rbac}/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": binding},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group},
                     {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "somebody-else"}]}, expect=201)
    cleanup.add(f"{rbac}/clusterrolebindings/{binding}")
    name = cluster.name("info-csr")
    create_csr(admin, cleanup, name, user)
    found = run_module("k8s_access_info", {"users": [user], "groups": [group]})
    assert not found["changed"]
    assert [b for b in found["bindings"] if b["name"] == binding] == [{
        "kind": "ClusterRoleBinding", "namespace": None, "name": binding,
        "role_ref": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "Group", "name": group}],
        "managed_by": None, "inventory": None,
        "description": f"ClusterRoleBinding {binding} grants ClusterRole view cluster-wide (to Group {group})"}]
    assert [(c["name"], c["user"], c["phase"], c["managed_by"]) for c in found["csrs"]] == [
        (name, user, "pending", None)]
    request = base64.b64decode(admin.json("GET", f"{CSR_PATH}/{name}", expect=200)["spec"]["request"])
    assert request.startswith(b"-----BEGIN CERTIFICATE REQUEST-----")


def test_an_unpinned_approval_does_not_replace_the_certificate_of_another_key(run_module, admin, cleanup, cluster,
                                                                              tmp_path):
    user = cluster.name("beside")
    first, second = cluster.name("beside-first"), cluster.name("beside-second")
    certificate = tmp_path / "beside.crt"
    create_csr(admin, cleanup, first, user)
    stored = run_module("k8s_csr_approve", {"name": first, "expected_user": user, "wait": True,
                                            "certificate_path": str(certificate)})
    assert stored["changed"] and certificate.exists()
    before = certificate.read_bytes()
    create_csr(admin, cleanup, second, user)
    refused = run_module("k8s_csr_approve", {"name": second, "expected_user": user, "wait": True,
                                             "certificate_path": str(certificate)})
    assert refused["failed"] and "holds the certificate of another key" in refused["msg"]
    assert certificate.read_bytes() == before
    pinned = run_module("k8s_csr_approve", {"name": second, "expected_user": user, "wait": True,
                                            "certificate_path": str(certificate),
                                            "expected_request": request_pem(admin, second)})
    assert pinned["changed"] and certificate.read_bytes() != before
    assert pinned["public_key_fingerprint"] != stored["public_key_fingerprint"]


def request_pem(admin, name):
    return base64.b64decode(admin.json("GET", f"{CSR_PATH}/{name}", expect=200)["spec"]["request"]).decode()
