"""plugins/plugin_utils/access_offboarding.py and the access_offboarding filters: offboarding with the user_access
role, as the report tells it.

What the offboarded users have on the controller is read (from real files here) before anything is removed; the
report says what was deleted where, where a key is that the run could not reach, and every binding, ours or not,
that still grants the user's name or certificate's groups until NotAfter, since a certificate cannot be revoked.
A name of which nothing is found is reported, since a typo must not pass for an offboarding.
"""

import os

import pytest
import yaml

from ansible_collections.kubeaccess.x509.plugins.filter import access_offboarding as offboarding_filter
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import Certificate
from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_offboarding
from ansible_collections.kubeaccess.x509.plugins.plugin_utils.access_plan import user_files
from ansible_collections.kubeaccess.x509.tests.unit.access_support import (
    client_certificate, in_hours, iso, looped, make_ca, registered)

INVENTORY = "default"
CLUSTERS = ["local"]


@pytest.fixture(name="ca", scope="module")
def ca_fixture():
    """The cluster's CA, which signed the users' certificates."""
    return make_ca()


# -- what the controller holds ---------------------------------------------------------------------------------------

def onboarded(base_dir, ca_pair, user, *, groups=("developers",), hours=20, key=True, contexts=None):
    """Writes what onboarding left for `user` on the controller: the certificate (valid `hours` more), the key
    unless it is on the user's own machine, and a kubeconfig with `contexts`. Returns the certificate's PEM."""
    files = user_files(user, str(base_dir), "local")
    os.makedirs(files["dir"], exist_ok=True)
    pem, key_pem = client_certificate(ca_pair, user, list(groups), in_hours(hours))
    with open(files["certificate_path"], "wb") as handle:
        handle.write(pem)
    if key:
        with open(files["private_key_path"], "wb") as handle:
            handle.write(key_pem)
    if contexts is not None:
        with open(files["kubeconfig"], "w", encoding="utf-8") as handle:
            yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": contexts[0] if contexts else "",
                            "clusters": [], "users": [],
                            "contexts": [{"name": name, "context": {"cluster": "local", "user": name}}
                                         for name in contexts]}, handle)
    return pem


def csr_name(pem):
    """The name of the CSR of the key a certificate is for, as k8s_csr_request names it."""
    certificate = Certificate(pem)
    return f"{certificate.common_name}-{certificate.fingerprint.replace(':', '')[:16]}"


# -- what k8s_access_info, k8s_rbac_binding and k8s_csr_request state=absent returned ----------------------------------

def access_binding(kind, name, role, subjects, *, namespace=None, inventory=INVENTORY):
    """A binding as k8s_access_info lists it; `inventory` None for one this collection did not make."""
    scope = f"in {namespace}" if namespace else "cluster-wide"
    where = f"{namespace}/{name}" if namespace else name
    return {"kind": kind, "namespace": namespace, "name": name, "role_ref": {"kind": "ClusterRole", "name": role},
            "subjects": [{"kind": k, "name": n} for k, n in subjects],
            "managed_by": "kubeaccess.x509" if inventory else None, "inventory": inventory,
            "description": f"{kind} {where} grants ClusterRole {role} {scope} (to "
                           + ", ".join(f"{k} {n}" for k, n in subjects) + ")"}


DEVELOPERS_EDIT = access_binding("RoleBinding", "kubeaccess-group-developers-edit", "edit",
                                 [("Group", "developers")], namespace="dev")
RAHUL_VIEW = access_binding("RoleBinding", "kubeaccess-user-rahul-view", "view", [("User", "rahul")],
                            namespace="dev")
HANDMADE_ADMIN = access_binding("ClusterRoleBinding", "rahul-admin", "admin", [("User", "rahul")], inventory=None)


def csr(name, user, phase="issued", inventory=INVENTORY):
    """A CSR as k8s_access_info lists it; `inventory` None for one this collection did not make."""
    return {"name": name, "user": user, "groups": [], "phase": phase, "public_key_fingerprint": "ab:cd",
            "managed_by": "kubeaccess.x509" if inventory else None, "inventory": inventory}


def access(bindings=(), csrs=()):
    """The registered k8s_access_info loop, on `local`."""
    return looped({"local": {"changed": False, "bindings": list(bindings), "csrs": list(csrs)}})


def pruned(*entries):
    """The registered k8s_rbac_binding loop on `local` that pruned `entries` (kind, namespace, name, subjects)."""
    return looped({"local": {"changed": bool(entries), "results": [], "pruned": [
        {"kind": kind, "namespace": namespace, "name": name, "subjects": [{"kind": k, "name": n} for k, n in subjects]}
        for kind, namespace, name, subjects in entries]}})


def deleted(*names_and_phases):
    """The registered k8s_csr_request state=absent loop on `local` that deleted these CSRs."""
    return registered({"local": [{"name": name, "phase": "absent", "action": "delete", "phase_before": phase,
                                  "changed": True} for name, phase in names_and_phases]})


def report(found, access_results=None, bindings=None, deletions=None, check_mode=False):
    """The offboarding report of `found` on `local`."""
    return access_offboarding.report(found, CLUSTERS, access_results or access(), bindings or pruned(),
                                     deletions or registered({}), INVENTORY, check_mode)


# == what the controller holds ========================================================================================

def test_found_on_controller_reads_keys_certificates_and_kubeconfig_contexts(tmp_path, ca):
    """rahul has his key, certificate and kubeconfig here; seema's key is on her machine; omar has nothing."""
    rahul_pem = onboarded(tmp_path, ca, "rahul", contexts=["rahul@local"])
    seema_pem = onboarded(tmp_path, ca, "seema", groups=("app1-devs", "platform-team"), key=False)
    found = access_offboarding.found_on_controller(["rahul", "seema", "omar"], str(tmp_path), ["local", "prod"])
    rahul, seema, omar = (found["users"][user] for user in ("rahul", "seema", "omar"))
    assert found["dirs"] == [f"{tmp_path}/rahul", f"{tmp_path}/seema"]
    assert (rahul["dir"], rahul["contexts"]) == (f"{tmp_path}/rahul", ["rahul@local"])
    local = rahul["clusters"]["local"]
    assert (local["private_key_path"], local["certificate_path"], local["key"]) == (
        f"{tmp_path}/rahul/local.key", f"{tmp_path}/rahul/local.crt", True)
    facts = local["certificate"]
    assert (facts["common_name"], facts["groups"], facts["serial"], facts["expired"]) == (
        "rahul", ["developers"], "1F2E3D", False)
    assert facts["not_after"] == iso(Certificate(rahul_pem).not_after)
    assert facts["csr_name"] == csr_name(rahul_pem)
    assert rahul["clusters"]["prod"] == {"private_key_path": f"{tmp_path}/rahul/prod.key",
                                         "certificate_path": f"{tmp_path}/rahul/prod.crt", "key": False,
                                         "certificate": None}
    assert seema["contexts"] is None and seema["clusters"]["local"]["key"] is False
    assert seema["clusters"]["local"]["certificate"]["groups"] == ["app1-devs", "platform-team"]
    assert seema["clusters"]["local"]["certificate"]["csr_name"] == csr_name(seema_pem)
    assert (omar["dir"], omar["contexts"], omar["clusters"]["local"]["key"],
            omar["clusters"]["local"]["certificate"]) == (None, None, False, None)


def test_found_on_controller_survives_broken_files(tmp_path):
    """A kubeconfig that is not YAML has no contexts; a certificate file that is not one gives no facts."""
    files = user_files("rahul", str(tmp_path), "local")
    os.makedirs(files["dir"])
    with open(files["kubeconfig"], "w", encoding="utf-8") as handle:
        handle.write("contexts: [\n")
    with open(files["certificate_path"], "wb") as handle:
        handle.write(b"not a certificate")
    rahul = access_offboarding.found_on_controller(["rahul"], str(tmp_path), CLUSTERS)["users"]["rahul"]
    assert rahul["contexts"] == [] and rahul["clusters"]["local"]["certificate"] is None


def test_groups_of_the_offboarded_certificates(tmp_path, ca):
    """The groups k8s_access_info is asked about: every group the offboarded users' certificates still carry."""
    onboarded(tmp_path, ca, "rahul", groups=("developers", "qa"))
    onboarded(tmp_path, ca, "seema", groups=("app1-devs", "developers"), key=False)
    found = access_offboarding.found_on_controller(["rahul", "seema", "omar"], str(tmp_path), CLUSTERS)
    assert access_offboarding.groups_of(found, "local") == ["app1-devs", "developers", "qa"]


# == the CSRs to delete ===============================================================================================

def test_csr_items_name_the_key_or_certificate_and_the_inventorys_other_csrs(tmp_path, ca):
    """The CSR of rahul's key (from the key and certificate), of seema's certificate (her key is on her machine),
    and every other CSR this inventory made for their names; never a CSR someone else made, another inventory's,
    or another user's."""
    rahul_pem = onboarded(tmp_path, ca, "rahul")
    onboarded(tmp_path, ca, "seema", key=False)
    found = access_offboarding.found_on_controller(["rahul", "seema"], str(tmp_path), CLUSTERS)
    listed = access(csrs=[csr(csr_name(rahul_pem), "rahul"), csr("rahul-0ld", "rahul", "pending"),
                          csr("rahul-handmade", "rahul", "pending", inventory=None),
                          csr("rahul-team-b", "rahul", inventory="team-b"), csr("asha-1234", "asha")])
    assert access_offboarding.csr_items(found, "local", listed, INVENTORY) == [
        {"user": "rahul", "private_key_path": f"{tmp_path}/rahul/local.key",
         "certificate_path": f"{tmp_path}/rahul/local.crt"},
        {"user": "seema", "private_key_path": f"{tmp_path}/seema/local.key",
         "certificate_path": f"{tmp_path}/seema/local.crt"},
        {"name": "rahul-0ld"}]


def test_csr_items_of_a_user_with_nothing_on_the_controller(tmp_path):
    """omar's files are gone: only the CSRs this inventory made for him are named."""
    found = access_offboarding.found_on_controller(["omar"], str(tmp_path), CLUSTERS)
    assert access_offboarding.csr_items(found, "local", access(csrs=[csr("omar-1", "omar", "pending")]),
                                        INVENTORY) == [{"name": "omar-1"}]
    assert access_offboarding.csr_items(found, "local", {}, INVENTORY) == []


# == the report =======================================================================================================

def test_report_says_what_was_deleted_on_the_controller_and_what_still_grants(tmp_path, ca):
    """The directory with what was in it, the CSRs deleted, and every binding still granting the certificate's
    name or groups until NotAfter, ours and not ours told apart."""
    pem = onboarded(tmp_path, ca, "rahul", contexts=["rahul@local", "rahul@prod"])
    found = access_offboarding.found_on_controller(["rahul"], str(tmp_path), CLUSTERS)
    result = report(found, access([DEVELOPERS_EDIT, HANDMADE_ADMIN], [csr(csr_name(pem), "rahul")]),
                    deletions=deleted((csr_name(pem), "issued")))
    not_after = iso(Certificate(pem).not_after)
    assert result == {"not_found": [], "lines": {"rahul": [
        f"deleted on the controller: {tmp_path}/rahul (key local.key, certificate local.crt, kubeconfig (contexts "
        "rahul@local, rahul@prod))",
        f"local: CSRs deleted: {csr_name(pem)} (issued)",
        f"local: the certificate (serial 1F2E3D, CN rahul, groups developers) cannot be revoked and is valid until "
        f"{not_after}. Until then these bindings still grant it access: RoleBinding "
        "dev/kubeaccess-group-developers-edit grants ClusterRole edit in dev (to Group developers), this inventory; "
        "ClusterRoleBinding rahul-admin grants ClusterRole admin cluster-wide (to User rahul), not made by this "
        "inventory. To cut it now, remove those grants (a group's apply to every member of the group)."]}}


def test_report_leaves_out_the_bindings_pruned_in_this_run(tmp_path, ca):
    """rahul's direct binding was pruned: it is reported deleted, not as still granting."""
    onboarded(tmp_path, ca, "rahul")
    found = access_offboarding.found_on_controller(["rahul"], str(tmp_path), CLUSTERS)
    lines = report(found, access([DEVELOPERS_EDIT, RAHUL_VIEW]), pruned(
        ("RoleBinding", "dev", "kubeaccess-user-rahul-view", [("User", "rahul")]),
        ("Role", "dev", "kubeaccess-user-rahul-role-deployer", ())))["lines"]["rahul"]
    assert "local: bindings deleted: RoleBinding dev/kubeaccess-user-rahul-view" in lines
    [certificate] = [line for line in lines if "cannot be revoked" in line]
    assert "kubeaccess-group-developers-edit" in certificate and "kubeaccess-user-rahul-view" not in certificate


def test_report_when_no_binding_grants_anything_any_more(tmp_path, ca):
    """Everything of rahul's was pruned and his group has no grants left: he is told so."""
    pem = onboarded(tmp_path, ca, "rahul", groups=("qa",))
    found = access_offboarding.found_on_controller(["rahul"], str(tmp_path), CLUSTERS)
    lines = report(found, access([RAHUL_VIEW]), pruned(
        ("RoleBinding", "dev", "kubeaccess-user-rahul-view", [("User", "rahul")])))["lines"]["rahul"]
    assert lines[-1] == ("local: the certificate (serial 1F2E3D, CN rahul, groups qa) cannot be revoked and is "
                         f"valid until {iso(Certificate(pem).not_after)}. No binding on the cluster grants its name "
                         "or groups anything any more.")


def test_report_of_an_expired_certificate(tmp_path, ca):
    """An expired certificate grants nothing, whatever bindings remain."""
    pem = onboarded(tmp_path, ca, "rahul", hours=-2)
    found = access_offboarding.found_on_controller(["rahul"], str(tmp_path), CLUSTERS)
    lines = report(found, access([DEVELOPERS_EDIT]))["lines"]["rahul"]
    assert lines[1:] == [f"local: the certificate (serial 1F2E3D) expired at {iso(Certificate(pem).not_after)}: it "
                         "grants nothing"]


def test_report_of_a_key_that_was_never_on_the_controller(tmp_path, ca):
    """seema's key is on her own machine, which this run cannot reach: she is told where to delete it."""
    onboarded(tmp_path, ca, "seema", key=False)
    found = access_offboarding.found_on_controller(["seema"], str(tmp_path), CLUSTERS)
    lines = report(found)["lines"]["seema"]
    assert lines[:2] == [
        f"deleted on the controller: {tmp_path}/seema (certificate local.crt)",
        "local: the key of this certificate was never on the controller: it is on seema's own machine, which this "
        "run cannot reach (the user is no longer in the inventory). Delete it there (by default "
        "~/.kube/kubeaccess/local.key) with the seema@local entries of ~/.kube/config"]


def test_report_of_csrs_someone_else_made(tmp_path, ca):
    """A pending CSR for rahul that this inventory did not make (and so did not delete) could still be approved."""
    onboarded(tmp_path, ca, "rahul")
    found = access_offboarding.found_on_controller(["rahul"], str(tmp_path), CLUSTERS)
    lines = report(found, access(csrs=[csr("rahul-handmade", "rahul", "pending", inventory=None)]))["lines"]["rahul"]
    assert "local: CSR rahul-handmade (pending, not made by this inventory) is still on the cluster: delete it, or " \
        "deny it if it is pending (kubectl certificate deny rahul-handmade), so that nobody approves it" in lines


def test_report_in_check_mode_says_what_would_be_deleted(tmp_path, ca):
    """--check: nothing was deleted, and the report does not pretend it was."""
    pem = onboarded(tmp_path, ca, "rahul")
    found = access_offboarding.found_on_controller(["rahul"], str(tmp_path), CLUSTERS)
    lines = report(found, access([RAHUL_VIEW], [csr(csr_name(pem), "rahul")]),
                   pruned(("RoleBinding", "dev", "kubeaccess-user-rahul-view", [("User", "rahul")])),
                   deleted((csr_name(pem), "issued")), check_mode=True)["lines"]["rahul"]
    assert lines[:3] == [
        f"would be deleted (check mode) on the controller: {tmp_path}/rahul (key local.key, certificate local.crt)",
        f"local: CSRs would be deleted (check mode): {csr_name(pem)} (issued)",
        "local: bindings would be deleted (check mode): RoleBinding dev/kubeaccess-user-rahul-view"]


def test_report_of_a_name_with_nothing_found(tmp_path, ca):
    """A typo (rahull) must not pass for an offboarding: nothing of it anywhere, and the run is told to check the
    name; rahul, offboarded with him, is reported as usual."""
    onboarded(tmp_path, ca, "rahul")
    found = access_offboarding.found_on_controller(["rahul", "rahull"], str(tmp_path), CLUSTERS)
    result = report(found, access([DEVELOPERS_EDIT]))
    assert result["not_found"] == ["rahull"]
    assert result["lines"]["rahull"] == ["nothing of 'rahull' found on the controller (no directory) or on the "
                                         "clusters local: check the name"]
    assert result["lines"]["rahul"][0].startswith("deleted on the controller:")


def test_report_of_a_name_still_bound_without_a_certificate(tmp_path):
    """Nothing of omar's on the controller, but a binding still names him: whoever gets a certificate for omar gets
    it, which is something found, not a typo."""
    found = access_offboarding.found_on_controller(["omar"], str(tmp_path), CLUSTERS)
    omar_edit = access_binding("RoleBinding", "omar-edit", "edit", [("User", "omar")], namespace="dev",
                               inventory=None)
    result = report(found, access([omar_edit]))
    assert result["not_found"] == []
    assert result["lines"]["omar"] == [
        "local: still bound by name (a certificate for omar from anyone who can approve one would get them): "
        "RoleBinding dev/omar-edit grants ClusterRole edit in dev (to User omar), not made by this inventory"]


def test_report_tells_each_offboarded_user_only_what_grants_them(tmp_path, ca):
    """rahul and bob offboarded together: k8s_access_info lists the bindings of both; each user's lines name only
    the bindings of their own name and their own certificate's groups."""
    onboarded(tmp_path, ca, "rahul")
    onboarded(tmp_path, ca, "bob", groups=("app1-devs",))
    found = access_offboarding.found_on_controller(["rahul", "bob"], str(tmp_path), CLUSTERS)
    app1 = access_binding("RoleBinding", "kubeaccess-group-app1-devs-edit", "edit", [("Group", "app1-devs")],
                          namespace="app1")
    lines = report(found, access([DEVELOPERS_EDIT, app1, HANDMADE_ADMIN]))["lines"]
    rahul, bob = " ".join(lines["rahul"]), " ".join(lines["bob"])
    assert "developers-edit" in rahul and "rahul-admin" in rahul and "app1-devs" not in rahul
    assert "app1-devs-edit" in bob and "developers" not in bob and "rahul" not in bob


def test_filter_names():
    """offboard.yml calls these filters by these names."""
    assert offboarding_filter.FilterModule().filters() == {
        "access_offboarding_found": access_offboarding.found_on_controller,
        "access_offboarding_groups": access_offboarding.groups_of,
        "access_offboarding_csrs": access_offboarding.csr_items,
        "access_offboarding_report": access_offboarding.report,
        "access_offboarding_accounts": access_offboarding.account_items}


# == self-service users ================================================================================================

SELF_SERVICE_CSR = dict(csr("kubeaccess-self-service-rahul", "rahul"), groups=["developers"],
                        requester="system:serviceaccount:team-ss:kubeaccess-rahul", certificate_serial="0A0B",
                        certificate_not_after="2099-01-01T00:00:00Z")


def test_account_items_find_a_removed_users_account_by_what_it_left(tmp_path):
    """rahul is no longer in the inventory: his account is found by the request it made (its namespace from
    spec.username) and by the binding of his that this run pruned; nothing is asked where nothing points to one."""
    found = access_offboarding.found_on_controller(["rahul"], str(tmp_path), CLUSTERS)
    no_self_service = {"self_service_clusters": [], "settings": {"clusters": {"local": {}}}}
    assert access_offboarding.account_items(found, "local", no_self_service, access(csrs=[SELF_SERVICE_CSR]),
                                            pruned()) == [{"user": "rahul", "namespace": "team-ss"}]
    binding = looped({"local": {"changed": True, "results": [], "pruned": [
        {"kind": "ClusterRoleBinding", "name": "kubeaccess-self-service-rahul",
         "subjects": [{"kind": "ServiceAccount", "name": "kubeaccess-rahul", "namespace": "other-ss"}]}]}})
    assert access_offboarding.account_items(found, "local", no_self_service, access(), binding) == [
        {"user": "rahul", "namespace": "other-ss"}]
    assert access_offboarding.account_items(found, "local", no_self_service, access(), pruned()) == []
    in_use = {"self_service_clusters": ["local"],
              "settings": {"clusters": {"local": {"self_service_namespace": "kubeaccess-self-service"}}}}
    assert access_offboarding.account_items(found, "local", in_use, access(), pruned()) == [
        {"user": "rahul", "namespace": "kubeaccess-self-service"}]


def test_report_of_a_self_service_user_names_the_account_and_the_certificate_it_requested(tmp_path):
    """The controller never held the certificate: the one the request issued is reported, until its NotAfter."""
    found = access_offboarding.found_on_controller(["rahul"], str(tmp_path), CLUSTERS)
    accounts = registered({"local": [{"user": "rahul", "namespace": "team-ss", "name": "kubeaccess-rahul",
                                      "action": "delete", "changed": True}]})
    result = access_offboarding.report(found, CLUSTERS, access([DEVELOPERS_EDIT], [SELF_SERVICE_CSR]), pruned(),
                                       deleted(("kubeaccess-self-service-rahul", "issued")), INVENTORY, False,
                                       accounts)
    assert result["not_found"] == []
    assert result["lines"]["rahul"][:2] == [
        "local: self-service ServiceAccount team-ss/kubeaccess-rahul deleted: its tokens no longer work",
        "local: CSRs deleted: kubeaccess-self-service-rahul (issued)"]
    assert result["lines"]["rahul"][2].startswith(
        "local: the certificate (serial 0A0B, CN rahul, groups developers) cannot be revoked and is valid until "
        "2099-01-01T00:00:00Z. Until then these bindings still grant it access: RoleBinding "
        "dev/kubeaccess-group-developers-edit")
