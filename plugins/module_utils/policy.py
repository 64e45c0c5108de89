# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Approval policy for client-certificate CSRs: every rule that a CSR breaks, each named after the option that
sets it, so that a refusal says exactly what to change."""

from __future__ import annotations

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import (
    CryptoInputError, Request, key_strength_bits, normalize_fingerprint, unusable_key_reason)
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import CLIENT_SIGNER, request_of
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import SYSTEM_PREFIX

CLIENT_USAGES = ["digital signature", "key encipherment", "client auth"]
DEFAULT_MAX_EXPIRATION_SECONDS = 7 * 86400

POLICY_ARG_SPEC = dict(
    expected_user=dict(type="str"),
    allow_any_user=dict(type="bool", default=False),
    allowed_groups=dict(type="list", elements="str"),
    forbidden_groups=dict(type="list", elements="str", default=[]),
    allowed_signers=dict(type="list", elements="str", default=[CLIENT_SIGNER]),
    allowed_usages=dict(type="list", elements="str", default=CLIENT_USAGES),
    max_expiration_seconds=dict(type="int", default=DEFAULT_MAX_EXPIRATION_SECONDS),
    require_expiration_seconds=dict(type="bool", default=True),
    min_rsa_key_size=dict(type="int", default=2048),
    min_ecdsa_key_size=dict(type="int", default=256),
    allow_subject_alt_names=dict(type="bool", default=False),
    expected_public_key_fingerprint=dict(type="str"),
    expected_request=dict(type="str"),
)


def policy_input_errors(params):
    """Mistakes in the policy options themselves, found before the CSR is read."""
    errors = []
    if not params["expected_user"] and not params["allow_any_user"]:
        errors.append("expected_user: required to approve; give the user name the certificate must carry, or set "
                      "allow_any_user=true to approve any user name (not recommended)")
    if params["expected_request"]:
        try:
            Request(params["expected_request"].encode())
        except CryptoInputError as exc:
            errors.append(f"expected_request: {exc}")
    return errors


def violations(obj, params):
    """Every rule the CSR object breaks, as 'option: what is wrong'."""
    spec = obj.get("spec") or {}
    try:
        request = request_of(obj)
    except (CryptoInputError, ValueError) as exc:
        return [f"request: the CSR's request cannot be read ({exc})"]
    return request_violations(request, spec, params)


def request_violations(request, spec, params):
    """Every rule a parsed request breaks when it would be signed as `spec` says (signerName, usages and
    expirationSeconds, as in a CSR object's spec): the same policy for a request that has no CSR object."""
    found = _identity_violations(request, params)
    found += _spec_violations(spec, params)
    found += _key_violations(request, params)
    return found


def _identity_violations(request, params):
    found = []
    user, groups = request.common_name, request.organizations
    if params["expected_user"] and user != params["expected_user"]:
        found.append(f"expected_user: the CSR is for CN={user!r}, not {params['expected_user']!r}")
    if user.startswith(SYSTEM_PREFIX):
        found.append(f"system names: CN={user!r} starts with {SYSTEM_PREFIX!r}, reserved for Kubernetes components")
    system_groups = [g for g in groups if g.startswith(SYSTEM_PREFIX)]
    if system_groups:
        found.append(f"forbidden_groups: {system_groups} are system: groups (system:masters is cluster-admin); "
                     "they are never approved")
    listed = [g for g in groups if g in params["forbidden_groups"]]
    if listed:
        found.append(f"forbidden_groups: {listed} are in forbidden_groups")
    if params["allowed_groups"] is not None:
        extra = [g for g in groups if g not in params["allowed_groups"]]
        if extra:
            found.append(f"allowed_groups: {extra} are not in allowed_groups {params['allowed_groups']}")
    if request.subject_alt_names and not params["allow_subject_alt_names"]:
        found.append(f"allow_subject_alt_names: the request carries {request.subject_alt_names}; client "
                     "certificates for users need none")
    return found


def _spec_violations(spec, params):
    found = []
    signer = spec.get("signerName")
    if signer not in params["allowed_signers"]:
        found.append(f"allowed_signers: signer {signer!r} is not in {params['allowed_signers']}")
    usages = spec.get("usages") or []
    extra = [u for u in usages if u not in params["allowed_usages"]]
    if extra:
        found.append(f"allowed_usages: {extra} are not in {params['allowed_usages']}")
    if signer == CLIENT_SIGNER and "client auth" not in usages:
        found.append(f"allowed_usages: {CLIENT_SIGNER} needs the usage 'client auth', the CSR has {usages}")
    expiration = spec.get("expirationSeconds")
    if expiration is None and params["require_expiration_seconds"]:
        found.append("require_expiration_seconds: the CSR sets no expirationSeconds, so the cluster default "
                     "(one year unless configured) would apply")
    if expiration is not None and expiration > params["max_expiration_seconds"]:
        found.append(f"max_expiration_seconds: the CSR asks for {expiration} s, more than "
                     f"{params['max_expiration_seconds']} s")
    return found


def _key_violations(request, params):
    found = []
    unusable = unusable_key_reason(request.public_key)
    if unusable:
        found.append(f"key: {unusable}")
    description, bits = request.key_description, key_strength_bits(request.public_key)
    minimum = {"RSA": params["min_rsa_key_size"], "ECDSA": params["min_ecdsa_key_size"]}.get(description.split()[0])
    if minimum and bits < minimum and not unusable:
        option = "min_rsa_key_size" if description.startswith("RSA") else "min_ecdsa_key_size"
        found.append(f"{option}: the key is {description} ({bits} bits), below {minimum}")
    return found + pin_violations(request, params)


def pin_violations(request, params):
    """The pins the request breaks: the key and the request that were validated. Unlike the other rules, they hold
    even for a CSR someone else already approved: its certificate would be for a key that is not ours."""
    found = []
    pin = params["expected_public_key_fingerprint"]
    if pin and normalize_fingerprint(pin) != request.fingerprint:
        found.append(f"expected_public_key_fingerprint: the CSR's key is {request.fingerprint}, not the pinned one")
    if params["expected_request"] and not Request(params["expected_request"].encode()).same_request_as(request):
        found.append("expected_request: the CSR is not the request that was validated (another key or subject); "
                     "it may have been replaced under the same name")
    return found
