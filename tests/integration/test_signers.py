"""Other signers through the role: a cluster entry's signer_name (with the policy's allowed_signers) names the signer of
every request, the run waits wait_timeout for a slow signer, a signer that never answers fails its users naming it,
and a signer the policy does not allow stops the run before anything is made. The signer is tests/external_signer.py,
outside the API server as cert-manager is; the API server does not trust its CA, so these inventories set
user_access_verify: never (a cluster that uses such a signer trusts its CA in --client-ca-file)."""
# pylint: disable=missing-function-docstring,redefined-outer-name  # pytest fixtures are parameters named as fixtures

import base64
import os

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.external_signer import ExternalSigner
from tests.integration.test_onboarding import onboarding  # noqa: F401 pylint: disable=unused-import  # a fixture


def use_signer(onboarding, signer, allowed=True, wait_timeout=60):
    policy = {"max_expiration_seconds": 86400}
    if allowed:
        policy["allowed_signers"] = [signer]
    onboarding.clusters["local"].update(signer_name=signer, wait_timeout=wait_timeout, policy=policy)
    onboarding.settings["user_access_verify"] = "never"
    onboarding.write_inventory()


def user_certificate(onboarding, user):
    with open(os.path.join(onboarding.base_dir, user, "local.crt"), "rb") as handle:
        return handle.read()


def kubeconfig_certificate(onboarding, user):
    with open(onboarding.kubeconfig(user), encoding="utf-8") as handle:
        (entry,) = [u for u in yaml.safe_load(handle)["users"] if u["name"] == f"{user}@local"]
    return base64.b64decode(entry["user"]["client-certificate-data"])


def test_a_custom_signer_that_signs_late_is_waited_for(onboarding, cluster, tmp_path):
    signer_name = f"kubeaccess.example/late-{onboarding.suffix}"
    use_signer(onboarding, signer_name)
    with ExternalSigner(cluster.kubeconfig, str(tmp_path / "signer"), signer_name, delay=3) as signer:
        first = onboarding.run("onboard.yml").ok()
        second = onboarding.run("onboard.yml").ok()
    assert signer.errors == []
    csrs = onboarding.csrs()
    assert sorted(c["metadata"]["name"] for c in csrs) == sorted(signer.issued) and len(csrs) == 2
    assert {c["spec"]["signerName"] for c in csrs} == {signer_name}
    for user, groups in ((onboarding.rahul, onboarding.users[onboarding.rahul]["user_access_groups"]),
                         (onboarding.seema, onboarding.users[onboarding.seema]["user_access_groups"])):
        assert first.recap(user)["changed"] >= 1 and first.recap(user)["failed"] == 0
        cert_pem = user_certificate(onboarding, user)
        assert signer.signed_this(cert_pem), f"{user}'s certificate is not the external signer's"
        assert kubeconfig_certificate(onboarding, user) == cert_pem
        subject = x509.load_pem_x509_certificate(cert_pem).subject
        assert [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [user]
        assert sorted(a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)) == sorted(groups)
    assert second.changed_total() == 0, second.output[-4000:]


def test_a_signer_that_never_answers_fails_its_users_naming_it(onboarding):
    signer_name = f"kubeaccess.example/absent-{onboarding.suffix}"
    use_signer(onboarding, signer_name, wait_timeout=3)
    run = onboarding.run("onboard.yml", "-e", f"user={onboarding.rahul}").failed()
    assert run.recap(onboarding.rahul)["failed"] == 1
    assert f"its signer {signer_name} issued no certificate within 3 s" in run.output
    assert "raise wait_timeout" in run.output, run.output
    assert not os.path.exists(onboarding.kubeconfig(onboarding.rahul))
    (csr,) = onboarding.csrs()
    assert csr["spec"]["signerName"] == signer_name and not (csr.get("status") or {}).get("certificate")


def test_a_signer_the_policy_does_not_allow_stops_the_run_before_anything_is_made(onboarding):
    signer_name = f"kubeaccess.example/unlisted-{onboarding.suffix}"
    use_signer(onboarding, signer_name, allowed=False)
    run = onboarding.run("onboard.yml").failed()
    assert (f"user_access_clusters.local.policy: allowed_signers: ['kubernetes.io/kube-apiserver-client'] does not "
            f"include {signer_name}, the cluster's signer_name") in run.output
    assert onboarding.csrs() == [] and onboarding.bindings() == {}
    assert not os.path.exists(onboarding.base_dir)
