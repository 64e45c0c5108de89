"""CertificateSigningRequest rules of kube-apiserver (semantics §3.1-3.3, 3.5, 3.6): the requester identity, the
strategy of the main resource and its /approval and /status subresources, condition validation, the
CertificateSubjectRestriction admission and the CertificateApproval / CertificateSigning admission plugins.
"""
# pylint: disable=missing-function-docstring,redefined-outer-name

import base64
import datetime
import secrets

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from tests.contract.support import assert_status, bind, conditions, create_csr, make_role, rule
from tests.kube import set_condition, wait_for, wait_for_certificate
from tests.kube import CLIENT_SIGNER, CSR_PATH, csr_manifest, make_csr_pem, new_key

CSR_GROUP = "certificates.k8s.io"
KIND = "CertificateSigningRequest.certificates.k8s.io"


@pytest.fixture
def csr_name(cluster):
    return cluster.name(f"csr{secrets.token_hex(3)}")


def _requester_role(cluster, cleanup, user):
    """What a person needs to ask for a certificate: create/get/list/watch on CSRs."""
    role = make_role(cluster.admin, cleanup, [rule([CSR_GROUP], ["certificatesigningrequests"],
                                                   ["create", "get", "list", "watch"])])
    bind(cluster.admin, cleanup, [("User", user.name)], role)
    wait_for(lambda: user.http.request("GET", CSR_PATH).status_code == 200, timeout=15, what="the CSR grant")


def _some_certificate_pem(common_name="not-from-the-signer"):
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _invalid(name, field_message):
    return f'{KIND} "{name}" is invalid: {field_message}'


# -- §3.2 strategy: who asked, and what can change ---------------------------------------------------------------

def test_requester_identity_is_filled_from_the_authenticated_user(cluster, make_user, cleanup, csr_name):
    ann = make_user("ann", ["devs"])
    _requester_role(cluster, cleanup, ann)
    created, _key = create_csr(ann.http, cleanup, csr_name, common_name=ann.name)
    spec = created["spec"]
    assert spec["username"] == ann.name
    assert spec["groups"] == [*ann.groups, "system:authenticated"]
    assert "uid" not in spec
    assert spec["extra"]["authentication.kubernetes.io/credential-id"][0].startswith("X509SHA256=")


def test_requester_identity_in_the_manifest_is_ignored(cluster, make_user, cleanup, csr_name):
    ben = make_user("ben")
    _requester_role(cluster, cleanup, ben)
    body = csr_manifest(csr_name, make_csr_pem(new_key(), "kubernetes-admin", ["system:nodes"]))
    body["spec"].update({"username": "kubernetes-admin", "groups": ["system:masters"], "uid": "forged-uid",
                         "extra": {"forged": ["yes"]}})
    response = ben.http.request("POST", CSR_PATH, body)
    assert response.status_code == 201, response.text
    cleanup.add(f"{CSR_PATH}/{csr_name}")
    spec = response.json()["spec"]
    assert spec["username"] == ben.name
    assert spec["groups"] == ["system:authenticated"]
    assert "uid" not in spec
    assert "forged" not in spec["extra"]


def test_status_is_cleared_on_create(cluster, cleanup, csr_name):
    body = csr_manifest(csr_name, make_csr_pem(new_key(), "preapproved"))
    body["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "SelfApproved",
                                      "message": "trust me"}],
                      "certificate": base64.b64encode(_some_certificate_pem()).decode()}
    created = cluster.admin.json("POST", CSR_PATH, body, expect=201)
    cleanup.add(f"{CSR_PATH}/{csr_name}")
    assert created["status"] == {}
    assert cluster.admin.json("GET", f"{CSR_PATH}/{csr_name}", expect=200)["status"] == {}


def test_spec_is_immutable_and_an_update_changes_only_metadata(cluster, cleanup, csr_name):
    created, _key = create_csr(cluster.admin, cleanup, csr_name, expiration=3600)
    changed = dict(created)
    changed["metadata"] = dict(created["metadata"], labels={"team": "a"})
    changed["spec"] = dict(created["spec"], usages=["digital signature", "client auth"], expirationSeconds=7200,
                           signerName="example.com/other", request=base64.b64encode(b"junk").decode())
    changed["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "R", "message": "m"}]}
    updated = cluster.admin.json("PUT", f"{CSR_PATH}/{csr_name}", changed, expect=200)
    assert updated["spec"] == created["spec"]
    assert updated["status"] == {}
    assert updated["metadata"]["labels"] == {"team": "a"}
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


def test_spec_update_with_identical_metadata_changes_nothing(cluster, cleanup, csr_name):
    created, _key = create_csr(cluster.admin, cleanup, csr_name)
    changed = dict(created, spec=dict(created["spec"], usages=["digital signature", "client auth"]))
    updated = cluster.admin.json("PUT", f"{CSR_PATH}/{csr_name}", changed, expect=200)
    assert updated["spec"] == created["spec"]
    assert updated["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


# -- §3.3 CertificateSubjectRestriction --------------------------------------------------------------------------

def test_client_certificate_for_system_masters_is_refused_by_admission(cluster, csr_name):
    body = csr_manifest(csr_name, make_csr_pem(new_key(), "root", ["devs", "system:masters"]))
    response = cluster.admin.request("POST", CSR_PATH, body)
    details = assert_status(response, 403, "Forbidden",
                            f'certificatesigningrequests.certificates.k8s.io "{csr_name}" is forbidden: use of '
                            f'kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed')
    assert details["details"] == {"name": csr_name, "group": CSR_GROUP, "kind": "certificatesigningrequests"}
    assert cluster.admin.request("GET", f"{CSR_PATH}/{csr_name}").status_code == 404


def test_system_masters_restriction_applies_to_the_client_signer_only(cluster, cleanup, csr_name):
    created, _key = create_csr(cluster.admin, cleanup, csr_name, common_name="system:node:x",
                               organizations=["system:masters"], signer="example.com/custom",
                               usages=("digital signature", "client auth"))
    assert created["spec"]["signerName"] == "example.com/custom"


def test_validation_comes_before_the_system_masters_admission(cluster, csr_name):
    body = csr_manifest(csr_name, make_csr_pem(new_key(), "root", ["system:masters"]), expiration=60)
    response = cluster.admin.request("POST", CSR_PATH, body)
    assert_status(response, 422, "Invalid",
                  _invalid(csr_name, "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than "
                                     "600 seconds (10 minutes)"))


# -- §3.1 conditions through /approval ---------------------------------------------------------------------------

def test_approval_sets_the_condition_timestamps(cluster, cleanup, csr_name):
    create_csr(cluster.admin, cleanup, csr_name)
    response = set_condition(cluster.admin, csr_name, "Approved")
    assert response.status_code == 200, response.text
    approved = conditions(response.json())["Approved"]
    assert approved["status"] == "True"
    assert approved["reason"] == "KubeaccessTest"
    assert approved["lastUpdateTime"].endswith("Z")
    assert approved["lastTransitionTime"].endswith("Z")


def test_approved_denied_and_failed_may_only_be_true(cluster, cleanup, csr_name):
    create_csr(cluster.admin, cleanup, csr_name)
    for ctype in ("Approved", "Denied", "Failed"):
        response = set_condition(cluster.admin, csr_name, ctype, status="False")
        body = assert_status(response, 422, "Invalid", _invalid(
            csr_name, 'status.conditions[0].status: Unsupported value: "False": supported values: "True"'))
        assert body["details"]["causes"] == [{"reason": "FieldValueNotSupported",
                                              "message": 'Unsupported value: "False": supported values: "True"',
                                              "field": "status.conditions[0].status"}]


def test_other_condition_types_take_true_false_or_unknown(cluster, cleanup, csr_name):
    create_csr(cluster.admin, cleanup, csr_name)
    response = set_condition(cluster.admin, csr_name, "example.com/Reviewed", status="Maybe")
    assert_status(response, 422, "Invalid", _invalid(
        csr_name, 'status.conditions[0].status: Unsupported value: "Maybe": supported values: "False", "True", '
                  '"Unknown"'))
    response = set_condition(cluster.admin, csr_name, "example.com/Reviewed", status="False")
    assert response.status_code == 200, response.text
    assert conditions(response.json())["example.com/Reviewed"]["status"] == "False"


def test_condition_type_and_status_are_required(cluster, cleanup, csr_name):
    create_csr(cluster.admin, cleanup, csr_name)
    response = set_condition(cluster.admin, csr_name, "Approved", status="")
    assert_status(response, 422, "Invalid", _invalid(csr_name, "status.conditions[0].status: Required value"))
    response = set_condition(cluster.admin, csr_name, "")
    assert_status(response, 422, "Invalid", _invalid(csr_name, "status.conditions[0].type: Required value"))


def _approve_and_let_the_signer_write(cluster, csr_name):
    """Approve, then wait for the signer's write: it issues within milliseconds of an approval, so a read and a
    write right after the approval would meet a 409 Conflict rather than the answer under test."""
    assert set_condition(cluster.admin, csr_name, "Approved").status_code == 200
    wait_for_certificate(cluster.admin, csr_name)


def test_approved_and_denied_are_mutually_exclusive(cluster, cleanup, csr_name):
    create_csr(cluster.admin, cleanup, csr_name)
    _approve_and_let_the_signer_write(cluster, csr_name)
    response = set_condition(cluster.admin, csr_name, "Denied")
    assert_status(response, 422, "Invalid", _invalid(
        csr_name, 'status.conditions: Invalid value: "Denied": Approved and Denied conditions are mutually exclusive'))


def test_condition_types_may_not_repeat(cluster, cleanup, csr_name):
    create_csr(cluster.admin, cleanup, csr_name)
    _approve_and_let_the_signer_write(cluster, csr_name)
    response = set_condition(cluster.admin, csr_name, "Approved")
    assert_status(response, 422, "Invalid",
                  _invalid(csr_name, 'status.conditions[1].type: Duplicate value: "Approved"'))


def test_an_update_may_not_remove_a_decision(cluster, cleanup, csr_name):
    create_csr(cluster.admin, cleanup, csr_name)
    assert set_condition(cluster.admin, csr_name, "Denied").status_code == 200
    csr = cluster.admin.json("GET", f"{CSR_PATH}/{csr_name}", expect=200)
    csr["status"]["conditions"] = []
    response = cluster.admin.request("PUT", f"{CSR_PATH}/{csr_name}/approval", csr)
    body = assert_status(response, 422, "Invalid", _invalid(
        csr_name, 'status.conditions: Forbidden: updates may not remove a condition of type "Denied"'))
    assert body["details"]["causes"][0]["reason"] == "FieldValueForbidden"


def test_approval_with_a_stale_resource_version_conflicts(cluster, cleanup, csr_name):
    created, _key = create_csr(cluster.admin, cleanup, csr_name)
    cluster.admin.json("PATCH", f"{CSR_PATH}/{csr_name}", {"metadata": {"labels": {"touched": "yes"}}},
                       content_type="application/merge-patch+json", expect=200)
    created["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "R", "message": "m"}]}
    response = cluster.admin.request("PUT", f"{CSR_PATH}/{csr_name}/approval", created)
    assert_status(response, 409, "Conflict",
                  f'Operation cannot be fulfilled on certificatesigningrequests.certificates.k8s.io "{csr_name}": the '
                  f'object has been modified; please apply your changes to the latest version and try again')


def test_approval_does_not_set_a_certificate(cluster, cleanup, csr_name):
    create_csr(cluster.admin, cleanup, csr_name, signer="example.com/nobody-signs")
    csr = cluster.admin.json("GET", f"{CSR_PATH}/{csr_name}", expect=200)
    csr["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "R", "message": "m"}],
                     "certificate": base64.b64encode(_some_certificate_pem()).decode()}
    updated = cluster.admin.json("PUT", f"{CSR_PATH}/{csr_name}/approval", csr, expect=200)
    assert "certificate" not in updated["status"]
    assert list(conditions(updated)) == ["Approved"]


# -- §3.6 who may approve ----------------------------------------------------------------------------------------

def _approver_role(cluster, cleanup, user, signer_names=None):
    rules = [rule([CSR_GROUP], ["certificatesigningrequests"], ["get", "list", "watch"]),
             rule([CSR_GROUP], ["certificatesigningrequests/approval"], ["update"])]
    if signer_names:
        rules.append(rule([CSR_GROUP], ["signers"], ["approve"], signer_names))
    bind(cluster.admin, cleanup, [("User", user.name)], make_role(cluster.admin, cleanup, rules))


def _wait_for_grant(client, name):
    wait_for(lambda: client.request("GET", f"{CSR_PATH}/{name}").status_code == 200, timeout=15,
             what="the approver grant")


def test_approving_needs_update_on_the_approval_subresource(cluster, make_user, cleanup, csr_name):
    cid = make_user("cid")
    create_csr(cluster.admin, cleanup, csr_name)
    role = make_role(cluster.admin, cleanup, [rule([CSR_GROUP], ["certificatesigningrequests"],
                                                   ["get", "list", "update"]),
                                              rule([CSR_GROUP], ["signers"], ["approve"], [CLIENT_SIGNER])])
    bind(cluster.admin, cleanup, [("User", cid.name)], role)
    _wait_for_grant(cid.http, csr_name)
    response = set_condition(cid.http, csr_name, "Approved")
    body = assert_status(response, 403, "Forbidden",
                         f'certificatesigningrequests.certificates.k8s.io "{csr_name}" is forbidden: User '
                         f'"{cid.name}" cannot update resource "certificatesigningrequests/approval" in API group '
                         f'"certificates.k8s.io" at the cluster scope')
    assert body["details"] == {"name": csr_name, "group": CSR_GROUP, "kind": "certificatesigningrequests"}


def test_approving_also_needs_approve_on_the_signer(cluster, make_user, cleanup, csr_name):
    dee = make_user("dee")
    create_csr(cluster.admin, cleanup, csr_name)
    _approver_role(cluster, cleanup, dee)
    _wait_for_grant(dee.http, csr_name)
    for ctype in ("Approved", "Denied"):
        response = set_condition(dee.http, csr_name, ctype)
        body = assert_status(response, 403, "Forbidden",
                             f'certificatesigningrequests.certificates.k8s.io "{csr_name}" is forbidden: user not '
                             f'permitted to approve requests with signerName "{CLIENT_SIGNER}"')
        assert body["details"] == {"name": csr_name, "group": CSR_GROUP, "kind": "certificatesigningrequests"}
    assert conditions(cluster.admin.json("GET", f"{CSR_PATH}/{csr_name}", expect=200)) == {}


def test_approve_on_the_exact_signer_name_allows_approval(cluster, make_user, cleanup, csr_name):
    eve = make_user("eve")
    create_csr(cluster.admin, cleanup, csr_name)
    _approver_role(cluster, cleanup, eve, [CLIENT_SIGNER])
    _wait_for_grant(eve.http, csr_name)
    response = wait_for(lambda: _ok(set_condition(eve.http, csr_name, "Approved")), timeout=15,
                        what="the signer grant")
    assert conditions(response.json())["Approved"]["status"] == "True"


def test_approve_on_the_signer_domain_wildcard_allows_approval(cluster, make_user, cleanup, csr_name):
    flo = make_user("flo")
    create_csr(cluster.admin, cleanup, csr_name)
    _approver_role(cluster, cleanup, flo, ["kubernetes.io/*"])
    _wait_for_grant(flo.http, csr_name)
    response = wait_for(lambda: _ok(set_condition(flo.http, csr_name, "Denied")), timeout=15,
                        what="the signer grant")
    assert list(conditions(response.json())) == ["Denied"]


def test_approve_on_another_signer_does_not_help(cluster, make_user, cleanup, csr_name):
    gil = make_user("gil")
    create_csr(cluster.admin, cleanup, csr_name)
    _approver_role(cluster, cleanup, gil, ["kubernetes.io/kubelet-serving", "example.com/*"])
    _wait_for_grant(gil.http, csr_name)
    assert_status(set_condition(gil.http, csr_name, "Approved"), 403, "Forbidden",
                  f'certificatesigningrequests.certificates.k8s.io "{csr_name}" is forbidden: user not permitted to '
                  f'approve requests with signerName "{CLIENT_SIGNER}"')


def _ok(response):
    return response if response.status_code == 200 else None


# -- §3.2 the /status subresource --------------------------------------------------------------------------------

def _put_status(client, name, certificate=None, add_condition=None):
    csr = client.json("GET", f"{CSR_PATH}/{name}", expect=200)
    csr.setdefault("status", {})
    if certificate is not None:
        csr["status"]["certificate"] = base64.b64encode(certificate).decode()
    if add_condition:
        csr["status"].setdefault("conditions", []).append(
            {"type": add_condition, "status": "True", "reason": "ContractTest", "message": "via /status"})
    return client.request("PUT", f"{CSR_PATH}/{name}/status", csr)


def test_status_subresource_writes_the_certificate_once(cluster, cleanup, csr_name):
    create_csr(cluster.admin, cleanup, csr_name, signer="example.com/external")
    first = _some_certificate_pem("first")
    response = _put_status(cluster.admin, csr_name, certificate=first)
    assert response.status_code == 200, response.text
    assert base64.b64decode(response.json()["status"]["certificate"]) == first
    response = _put_status(cluster.admin, csr_name, certificate=_some_certificate_pem("second"))
    assert_status(response, 422, "Invalid", _invalid(
        csr_name, "status.certificate: Forbidden: updates may not modify existing certificate content"))


def test_status_subresource_refuses_what_is_not_a_certificate(cluster, cleanup, csr_name):
    create_csr(cluster.admin, cleanup, csr_name, signer="example.com/external")
    response = _put_status(cluster.admin, csr_name, certificate=b"not a certificate")
    assert_status(response, 422, "Invalid", _invalid(
        csr_name, 'status.certificate: Invalid value: "<certificate data>": must contain at least one CERTIFICATE '
                  'PEM block'))


def test_status_subresource_may_not_approve(cluster, cleanup, csr_name):
    create_csr(cluster.admin, cleanup, csr_name, signer="example.com/external")
    response = _put_status(cluster.admin, csr_name, add_condition="Approved")
    assert_status(response, 422, "Invalid", _invalid(
        csr_name, 'status.conditions: Forbidden: updates may not add a condition of type "Approved"'))


def test_status_subresource_may_add_a_failed_condition(cluster, cleanup, csr_name):
    create_csr(cluster.admin, cleanup, csr_name, signer="example.com/external")
    assert set_condition(cluster.admin, csr_name, "Approved").status_code == 200
    response = _put_status(cluster.admin, csr_name, add_condition="Failed")
    assert response.status_code == 200, response.text
    assert list(conditions(response.json())) == ["Approved", "Failed"]


def test_main_resource_does_not_write_the_certificate(cluster, cleanup, csr_name):
    created, _key = create_csr(cluster.admin, cleanup, csr_name, signer="example.com/external")
    created["status"] = {"certificate": base64.b64encode(_some_certificate_pem()).decode()}
    updated = cluster.admin.json("PUT", f"{CSR_PATH}/{csr_name}", created, expect=200)
    assert updated["status"] == {}


def test_writing_status_needs_sign_on_the_signer(cluster, make_user, cleanup, csr_name):
    hugo = make_user("hugo")
    create_csr(cluster.admin, cleanup, csr_name, signer="example.com/external")
    role = make_role(cluster.admin, cleanup, [rule([CSR_GROUP], ["certificatesigningrequests"], ["get"]),
                                              rule([CSR_GROUP], ["certificatesigningrequests/status"], ["update"])])
    bind(cluster.admin, cleanup, [("User", hugo.name)], role)
    _wait_for_grant(hugo.http, csr_name)
    response = _put_status(hugo.http, csr_name, certificate=_some_certificate_pem())
    assert_status(response, 403, "Forbidden",
                  f'certificatesigningrequests.certificates.k8s.io "{csr_name}" is forbidden: user not permitted to '
                  f'sign requests with signerName "example.com/external"')
    signer = make_role(cluster.admin, cleanup, [rule([CSR_GROUP], ["signers"], ["sign"], ["example.com/*"])])
    bind(cluster.admin, cleanup, [("User", hugo.name)], signer)
    response = wait_for(lambda: _ok(_put_status(hugo.http, csr_name, certificate=_some_certificate_pem())),
                        timeout=15, what="the sign grant")
    assert response.json()["status"]["certificate"]
