"""plugins/module_utils/backends/access_info.py, run in this process against the cluster under test: which bindings
it finds (named subjects, or every User and Group for an audit), the rules of the roles they grant, and who approved
each CSR of a user with the serial of the certificate it issued."""
# pylint: disable=missing-function-docstring,redefined-outer-name  # pytest fixtures are parameters named as fixtures

import secrets

from cryptography import x509

from ansible_collections.kubeaccess.x509.plugins.module_utils.backends import access_info
from tests.contract.support import bind, create_csr, issued_certificate, make_role, rule, wait_for_csr
from tests.kube import approve
from tests.unit.backends.backend_support import unique


def named(bindings, name):
    found = [binding for binding in bindings if binding["name"] == name]
    assert len(found) == 1, [b["name"] for b in bindings]
    return found[0]


def test_named_subjects_only_unless_all_subjects(run_backend, admin, cleanup, cluster):
    user, other = unique(cluster, "ai-user"), unique(cluster, "ai-other")
    name = f"ai-{secrets.token_hex(4)}"
    bind(admin, cleanup, [("User", user), ("User", other), ("ServiceAccount", "default", "default")], "view",
         name=name)

    result = run_backend(access_info, {"users": [user]})
    assert named(result["bindings"], name)["subjects"] == [{"kind": "User", "name": user}]

    result = run_backend(access_info, {"users": [user], "all_subjects": True})
    # Every User and Group, ServiceAccounts left out; and not only the bindings naming `user`.
    assert named(result["bindings"], name)["subjects"] == [{"kind": "User", "name": user},
                                                           {"kind": "User", "name": other}]
    assert any(b["name"] != name for b in result["bindings"])
    assert "rules" not in named(result["bindings"], name)


def test_role_rules_of_each_binding(run_backend, admin, cleanup, cluster):
    user = unique(cluster, "ai-rules")
    namespace = "default"
    granted = [rule([""], ["configmaps"], ["get", "list"]), rule(["apps"], ["deployments"], ["*"])]
    role = make_role(admin, cleanup, granted, namespace=namespace)
    with_role = f"ai-role-{secrets.token_hex(4)}"
    bind(admin, cleanup, [("User", user)], role, namespace=namespace, role_kind="Role", name=with_role)
    dangling = f"ai-dangling-{secrets.token_hex(4)}"
    bind(admin, cleanup, [("User", user)], f"no-such-role-{secrets.token_hex(4)}", name=dangling)

    result = run_backend(access_info, {"users": [user], "role_rules": True})

    assert not result.get("failed"), result
    rules = named(result["bindings"], with_role)["rules"]
    assert [(r["apiGroups"], r["resources"], sorted(r["verbs"])) for r in rules] == [
        ([""], ["configmaps"], ["get", "list"]), (["apps"], ["deployments"], ["*"])]
    assert named(result["bindings"], dangling)["rules"] is None


def test_csr_approval_and_the_serial_it_issued(run_backend, admin, cleanup, cluster):
    user = unique(cluster, "ai-csr")
    approved, pending = unique(cluster, "ai-approved"), unique(cluster, "ai-pending")
    create_csr(admin, cleanup, approved, common_name=user, organizations=("team-a",))
    create_csr(admin, cleanup, pending, common_name=user)
    approve(admin, approved, reason="AuditTest", message="approved by the audit test")
    issued = wait_for_csr(admin, approved, issued_certificate, what="certificate")

    result = run_backend(access_info, {"users": [user]})

    csrs = {csr["name"]: csr for csr in result["csrs"]}
    assert set(csrs) == {approved, pending}
    assert csrs[approved]["approval"] == {"type": "Approved", "reason": "AuditTest",
                                          "message": "approved by the audit test"}
    serial = issued_certificate(issued).serial_number
    assert int(csrs[approved]["certificate_serial"], 16) == serial
    assert csrs[approved]["groups"] == ["team-a"]
    assert csrs[approved]["signer_name"] == "kubernetes.io/kube-apiserver-client"
    assert csrs[pending]["approval"] is None and csrs[pending]["certificate_serial"] is None
    assert csrs[pending]["phase"] == "pending" and csrs[pending]["created"].endswith("Z")
    assert isinstance(issued_certificate(issued), x509.Certificate)


def test_only_csrs_and_every_csr(run_backend, admin, cleanup, cluster):
    user, other = unique(cluster, "ai-only"), unique(cluster, "ai-any")
    mine, theirs = unique(cluster, "ai-mine"), unique(cluster, "ai-theirs")
    create_csr(admin, cleanup, mine, common_name=user)
    create_csr(admin, cleanup, theirs, common_name=other)
    bind(admin, cleanup, [("User", user)], "view", name=f"ai-only-{secrets.token_hex(4)}")

    result = run_backend(access_info, {"users": [user], "read_bindings": False, "all_csrs": True})

    # An approver's read: no binding LIST (its role has none), and the requests of every CN.
    assert result["bindings"] == []
    assert {mine, theirs} <= {csr["name"] for csr in result["csrs"]}
    assert {c["name"] for c in run_backend(access_info, {"users": [user]})["csrs"]} == {mine}
