"""plugins/module_utils/policy.py: every rule a CSR breaks is reported, each named after the option that sets it."""
# pylint: disable=missing-function-docstring

import base64
import copy

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import build_csr_pem, public_key_fingerprint
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import CLIENT_SIGNER, manifest
from ansible_collections.kubeaccess.x509.plugins.module_utils.policy import (
    CLIENT_USAGES, DEFAULT_MAX_EXPIRATION_SECONDS, POLICY_ARG_SPEC, policy_input_errors, violations)

USER = "rahul@example.com"


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_2048():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def params(**overrides):
    """The module's parameters as Ansible fills them from POLICY_ARG_SPEC's defaults, then the overrides."""
    filled = {option: copy.deepcopy(spec.get("default")) for option, spec in POLICY_ARG_SPEC.items()}
    filled["expected_user"] = USER
    unknown = set(overrides) - set(filled)
    assert not unknown, f"not policy options: {unknown}"
    filled.update(overrides)
    return filled


def csr(private, user=USER, groups=("developers",), sans=(), signer=CLIENT_SIGNER, usages=None,
        expiration=3600):
    """A CSR object as the API returns it (what csr_object.manifest sends)."""
    pem = build_csr_pem(private, user, list(groups), list(sans))
    return manifest("rahul-1", pem, signer, CLIENT_USAGES if usages is None else usages, expiration)


def rules(found):
    return sorted({entry.split(":", 1)[0] for entry in found})


def test_defaults_match_the_documented_policy():
    """The defaults the helper fills are the safe ones: client signer and usages, a week at most, pinned user."""
    filled = params()
    assert filled["allowed_signers"] == [CLIENT_SIGNER]
    assert filled["allowed_usages"] == ["digital signature", "key encipherment", "client auth"]
    assert filled["max_expiration_seconds"] == DEFAULT_MAX_EXPIRATION_SECONDS == 7 * 86400
    assert filled["require_expiration_seconds"] is True
    assert filled["allow_any_user"] is False
    assert filled["allow_subject_alt_names"] is False
    assert filled["allowed_groups"] is None


def test_compliant_csr_has_no_violations(key):
    """A client-certificate CSR for the expected user with ordinary groups passes."""
    assert violations(csr(key), params()) == []


def test_compliant_csr_at_the_limits(key):
    """Exactly max_expiration_seconds and no groups at all still pass."""
    assert violations(csr(key, groups=(), expiration=DEFAULT_MAX_EXPIRATION_SECONDS), params()) == []


def test_foreign_user(key):
    """A CSR for another user is refused under expected_user, naming both."""
    found = violations(csr(key, user="mallory"), params())
    assert len(found) == 1
    assert found[0].startswith("expected_user:")
    assert "mallory" in found[0] and USER in found[0]


def test_any_user_when_allowed(key):
    """allow_any_user without expected_user approves another user name."""
    assert violations(csr(key, user="mallory"), params(expected_user=None, allow_any_user=True)) == []


@pytest.mark.parametrize("group", ["system:masters", "system:nodes"])
def test_system_groups_are_never_approved(key, group):
    """system: groups (system:masters is cluster-admin) are refused under forbidden_groups."""
    found = violations(csr(key, groups=("developers", group)), params())
    assert len(found) == 1
    assert found[0].startswith("forbidden_groups:")
    assert group in found[0]


def test_system_groups_refused_even_when_allowed(key):
    """Listing system:masters in allowed_groups does not make it approvable."""
    found = violations(csr(key, groups=("system:masters",)), params(allowed_groups=["system:masters"]))
    assert rules(found) == ["forbidden_groups"]


def test_system_user_name(key):
    """A CN starting with system: (a Kubernetes component's name) is refused, saying why."""
    found = violations(csr(key, user="system:admin"), params(expected_user="system:admin"))
    assert len(found) == 1
    assert "system:" in found[0]
    assert "system:admin" in found[0]


def test_group_listed_in_forbidden_groups(key):
    """A group the user listed in forbidden_groups is refused."""
    found = violations(csr(key, groups=("developers", "contractors")), params(forbidden_groups=["contractors"]))
    assert len(found) == 1
    assert found[0].startswith("forbidden_groups:")
    assert "contractors" in found[0]


def test_group_not_in_allowed_groups(key):
    """With allowed_groups set, any other group is refused, naming it."""
    found = violations(csr(key, groups=("developers", "ops")), params(allowed_groups=["developers"]))
    assert len(found) == 1
    assert found[0].startswith("allowed_groups:")
    assert "'ops'" in found[0]


def test_empty_allowed_groups_allows_no_group(key):
    """allowed_groups=[] means no group at all; a CSR without groups still passes."""
    assert rules(violations(csr(key, groups=("developers",)), params(allowed_groups=[]))) == ["allowed_groups"]
    assert violations(csr(key, groups=()), params(allowed_groups=[])) == []


def test_server_auth_usage(key):
    """'server auth' is not a client-certificate usage."""
    found = violations(csr(key, usages=CLIENT_USAGES + ["server auth"]), params())
    assert len(found) == 1
    assert found[0].startswith("allowed_usages:")
    assert "server auth" in found[0]


def test_client_signer_without_client_auth(key):
    """The client signer needs 'client auth' among the usages."""
    found = violations(csr(key, usages=["digital signature", "key encipherment"]), params())
    assert len(found) == 1
    assert found[0].startswith("allowed_usages:")
    assert "client auth" in found[0]


def test_signer_not_allowed(key):
    """A signer outside allowed_signers is refused, naming it."""
    found = violations(csr(key, signer="example.com/custom"), params())
    assert len(found) == 1
    assert found[0].startswith("allowed_signers:")
    assert "example.com/custom" in found[0]


def test_other_signer_when_allowed(key):
    """A custom signer in allowed_signers passes without the client-signer usage rule."""
    assert violations(csr(key, signer="example.com/custom", usages=["digital signature"]),
                      params(allowed_signers=["example.com/custom"])) == []


def test_expiration_above_max(key):
    """expirationSeconds above max_expiration_seconds is refused with both numbers."""
    found = violations(csr(key, expiration=DEFAULT_MAX_EXPIRATION_SECONDS + 1), params())
    assert len(found) == 1
    assert found[0].startswith("max_expiration_seconds:")
    assert str(DEFAULT_MAX_EXPIRATION_SECONDS + 1) in found[0]


def test_missing_expiration(key):
    """A CSR without expirationSeconds (cluster default: a year) is refused by default."""
    obj = csr(key, expiration=None)
    assert "expirationSeconds" not in obj["spec"]
    found = violations(obj, params())
    assert len(found) == 1
    assert found[0].startswith("require_expiration_seconds:")


def test_missing_expiration_when_not_required(key):
    """require_expiration_seconds=false accepts a CSR without expirationSeconds."""
    assert violations(csr(key, expiration=None), params(require_expiration_seconds=False)) == []


def test_rsa_key_below_min_rsa_key_size(rsa_2048):
    """An RSA 2048 key is refused when min_rsa_key_size is 3072, naming the key."""
    found = violations(csr(rsa_2048), params(min_rsa_key_size=3072))
    assert len(found) == 1
    assert found[0].startswith("min_rsa_key_size:")
    assert "RSA 2048" in found[0]


def test_rsa_2048_passes_by_default(rsa_2048):
    """The default minimum is 2048 bits."""
    assert violations(csr(rsa_2048), params()) == []


def test_ecdsa_key_below_min_ecdsa_key_size(key):
    """A P-256 key is refused when min_ecdsa_key_size is 384."""
    assert rules(violations(csr(key), params(min_ecdsa_key_size=384))) == ["min_ecdsa_key_size"]


def test_unusable_key():
    """A key Kubernetes cannot use is refused under key, not under the size minimum."""
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    found = violations(csr(weak), params())
    assert rules(found) == ["key"]
    assert "1024" in found[0]


def test_subject_alt_names(key):
    """SANs are refused unless allow_subject_alt_names is true."""
    obj = csr(key, sans=("DNS:rahul.example.com",))
    found = violations(obj, params())
    assert len(found) == 1
    assert found[0].startswith("allow_subject_alt_names:")
    assert "DNS:rahul.example.com" in found[0]
    assert violations(obj, params(allow_subject_alt_names=True)) == []


def test_pinned_fingerprint_mismatch(key):
    """A CSR whose key is not the pinned one is refused."""
    other = ec.generate_private_key(ec.SECP256R1())
    found = violations(csr(key), params(expected_public_key_fingerprint=public_key_fingerprint(other.public_key())))
    assert len(found) == 1
    assert found[0].startswith("expected_public_key_fingerprint:")


@pytest.mark.parametrize("style", [lambda f: f, lambda f: "SHA256:" + f.upper(), lambda f: f.replace(":", "")])
def test_pinned_fingerprint_match(key, style):
    """The pin matches whichever way it is written."""
    pin = style(public_key_fingerprint(key.public_key()))
    assert violations(csr(key), params(expected_public_key_fingerprint=pin)) == []


def test_expected_request_of_another_key(key):
    """A CSR that is not the request validated earlier (replaced under the same name) is refused."""
    other = ec.generate_private_key(ec.SECP256R1())
    expected = build_csr_pem(other, USER, ["developers"]).decode()
    found = violations(csr(key), params(expected_request=expected))
    assert len(found) == 1
    assert found[0].startswith("expected_request:")


def test_expected_request_signed_again(key):
    """The same key and subject signed again is the expected request."""
    expected = build_csr_pem(key, USER, ["developers"]).decode()
    assert violations(csr(key), params(expected_request=expected)) == []


def test_unreadable_request():
    """A CSR object whose request is not a request gives one violation saying so, not an exception."""
    obj = manifest("rahul-1", b"garbage", CLIENT_SIGNER, CLIENT_USAGES, 3600)
    found = violations(obj, params())
    assert len(found) == 1
    assert found[0].startswith("request:")


def test_request_as_the_api_returns_it(key):
    """The request in spec.request is base64 of the PEM, as in the API."""
    obj = csr(key)
    assert base64.b64decode(obj["spec"]["request"]).startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    assert obj["spec"]["signerName"] == CLIENT_SIGNER and obj["spec"]["expirationSeconds"] == 3600


def test_every_rule_broken_is_named(rsa_2048):
    """A CSR breaking many rules gets one violation per rule, all named."""
    other = ec.generate_private_key(ec.SECP256R1())
    obj = csr(rsa_2048, user="mallory", groups=("system:masters", "contractors", "ops"), sans=("DNS:x.example.com",),
              signer="example.com/custom", usages=["server auth"], expiration=None)
    found = violations(obj, params(forbidden_groups=["contractors"], allowed_groups=["contractors"],
                                   min_rsa_key_size=4096,
                                   expected_public_key_fingerprint=public_key_fingerprint(other.public_key()),
                                   expected_request=build_csr_pem(other, USER).decode()))
    assert rules(found) == sorted([
        "expected_user", "forbidden_groups", "allowed_groups", "allow_subject_alt_names", "allowed_signers",
        "allowed_usages", "require_expiration_seconds", "min_rsa_key_size", "expected_public_key_fingerprint",
        "expected_request"])
    assert sum(entry.startswith("forbidden_groups:") for entry in found) == 2


def test_expiration_and_system_user_together(key):
    """Two problems of different kinds are both reported."""
    found = violations(csr(key, user="system:admin", expiration=30 * 86400), params())
    assert "expected_user" in rules(found)
    assert "max_expiration_seconds" in rules(found)
    assert any("system:admin" in entry and "reserved" in entry for entry in found)


# policy_input_errors

def test_no_expected_user_and_no_allow_any_user():
    """Approving needs expected_user or allow_any_user; the message names both."""
    errors = policy_input_errors(params(expected_user=None))
    assert len(errors) == 1
    assert errors[0].startswith("expected_user:")
    assert "allow_any_user" in errors[0]


def test_expected_user_or_allow_any_user_is_enough():
    """Either one of them satisfies the check."""
    assert policy_input_errors(params()) == []
    assert policy_input_errors(params(expected_user=None, allow_any_user=True)) == []


def test_garbage_expected_request():
    """An expected_request that is not a request is refused, naming the option."""
    errors = policy_input_errors(params(expected_request="garbage"))
    assert len(errors) == 1
    assert errors[0].startswith("expected_request:")


def test_valid_expected_request(key):
    """A real request as expected_request is accepted."""
    assert policy_input_errors(params(expected_request=build_csr_pem(key, USER).decode())) == []
