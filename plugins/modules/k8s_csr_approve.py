#!/usr/bin/python
# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_csr_approve
short_description: Approve or deny a Kubernetes CertificateSigningRequest under a policy, and collect the certificate
version_added: 0.1.0
author:
  - kubeaccess maintainers (@kubeaccess)
description:
  - Approves (or denies) a C(certificates.k8s.io/v1) CertificateSigningRequest (CSR), like
    C(kubectl certificate approve), but only after checking the CSR as the API server holds it against a policy.
    The default policy refuses everything that would grant more than a user certificate, and a refusal names every
    rule that was broken.
  - The approval carries the resourceVersion that was checked, so a CSR replaced under the same name in between
    is not approved; the module then reads it again and checks it again.
  - With O(wait), waits for the certificate, verifies it against the request (public key, subject, and the CA
    when known), reports the real NotAfter and can store it in O(certificate_path).
extends_documentation_fragment:
  - kubeaccess.x509.k8s_auth_options
  - kubeaccess.x509.attributes
  - kubeaccess.x509.attributes.ACTION_GROUP
  - kubeaccess.x509.batch
attributes:
  check_mode:
    support: full
    details:
      - The policy is evaluated and reported; nothing is changed.
  diff_mode:
    support: full
    details:
      - Shows the condition that would be added.
options:
  name:
    description: Name of the CSR object. Required unless O(csrs) is given.
    type: str
  csrs:
    description:
      - The batch form, several CSRs in one task. Each item takes the options of this module except the connection
        options; what an item leaves out comes from the top level, so top-level values are the defaults of every
        item.
      - All CSRs are approved first, then waited for together. Bad input in any item fails the task before any CSR
        is touched; a CSR refused later does not stop the others, and the task then fails naming each one.
    type: list
    elements: dict
    version_added: 0.1.0
  state:
    description:
      - V(approved) or V(denied).
      - The API never lets a decision be reversed, so a CSR that already carries the other decision fails the task;
        submit a new CSR instead.
    type: str
    choices: [approved, denied]
    default: approved
  condition_reason:
    description:
      - Reason written into the condition (CamelCase, like kubectl's C(KubectlApprove)).
      - Defaults to C(KubeaccessApprove) or C(KubeaccessDeny).
    type: str
  condition_message:
    description:
      - Message written into the condition; by default it names this module.
    type: str
  on_violation:
    description:
      - What a policy violation does when O(state=approved).
      - V(fail) fails the task and changes nothing.
      - V(deny) denies the CSR with the violations as the message instead, and does not fail the task; the
        result has RV(phase=denied) and RV(violations).
    type: str
    choices: [fail, deny]
    default: fail
  expected_user:
    description:
      - The user name (CN) the CSR must carry. Required to approve unless O(allow_any_user=true).
    type: str
  allow_any_user:
    description: Approve whatever CN the CSR carries (still never a C(system:) one). Not recommended.
    type: bool
    default: false
  allowed_groups:
    description:
      - Groups (O) the CSR may carry; any other group is a violation. When not set, any group that is not
        forbidden is allowed.
    type: list
    elements: str
  forbidden_groups:
    description:
      - Groups that are never approved, for example the groups bound to C(cluster-admin) in this cluster.
      - Groups starting with C(system:) (C(system:masters), C(system:nodes), ...) are always refused.
    type: list
    elements: str
    default: []
  allowed_signers:
    description: Signer names that may be approved.
    type: list
    elements: str
    default: [kubernetes.io/kube-apiserver-client]
  allowed_usages:
    description:
      - Usages the CSR may request. For the C(kubernetes.io/kube-apiserver-client) signer, C(client auth) is
        also required.
    type: list
    elements: str
    default: [digital signature, key encipherment, client auth]
  max_expiration_seconds:
    description: Longest lifetime (C(spec.expirationSeconds)) that is approved; the default is 7 days.
    type: int
    default: 604800
  require_expiration_seconds:
    description:
      - Refuse CSRs without C(spec.expirationSeconds), which would get the cluster's default lifetime (one year
        unless the controller manager is configured otherwise).
    type: bool
    default: true
  min_rsa_key_size:
    description: Smallest RSA key approved, in bits.
    type: int
    default: 2048
  min_ecdsa_key_size:
    description: Smallest ECDSA curve approved, in bits.
    type: int
    default: 256
  allow_subject_alt_names:
    description: Approve requests that carry subject alternative names (user certificates need none).
    type: bool
    default: false
  expected_public_key_fingerprint:
    description:
      - Approve only if the request's public key has this SHA-256 fingerprint, as returned by
        M(kubeaccess.x509.k8s_csr_request) in RV(kubeaccess.x509.k8s_csr_request#module:public_key_fingerprint).
      - The pin is absolute. A CSR under this name that someone else already approved or that was issued for
        another key fails the task, naming the pin, and no certificate is written.
    type: str
  expected_request:
    description:
      - Approve only if the CSR is this PEM request (same key, subject and alternative names), so that only the
        request that was validated is approved.
      - Absolute, like O(expected_public_key_fingerprint).
    type: str
  wait:
    description: After approving, wait for the certificate, verify it and return it.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait with O(wait).
    type: int
    default: 120
  certificate_path:
    description:
      - Where to store the issued certificate (mode 0644), when there is one.
      - A certificate already there for another key is replaced only when the new key is pinned
        (O(expected_public_key_fingerprint) or O(expected_request)), so that a certificate never sits beside a key it
        does not match.
    type: path
notes:
  - The approving identity needs C(update) on C(certificatesigningrequests/approval) and C(approve) on
    C(signers) with the signer's name (API group C(certificates.k8s.io)); a 403 names the missing one.
  - Certificates cannot be revoked in Kubernetes; short lifetimes are the defence, hence the default
    O(max_expiration_seconds).
seealso:
  - module: kubeaccess.x509.k8s_csr_request
  - name: Kubernetes certificate signing requests
    description: Approval, signers and the permissions they need.
    link: https://kubernetes.io/docs/reference/access-authn-authz/certificate-signing-requests/
requirements:
  - cryptography >= 42.0.0
"""

EXAMPLES = r"""
- name: Request rahul's certificate
  kubeaccess.x509.k8s_csr_request:
    user: rahul
    groups: [developers]
    private_key_path: /srv/kubeaccess/rahul/rahul.key
    certificate_path: /srv/kubeaccess/rahul/rahul.crt
  register: request

- name: Approve exactly that request, wait for the certificate and store it
  kubeaccess.x509.k8s_csr_approve:
    name: "{{ request.name }}"
    expected_user: rahul
    allowed_groups: [developers]
    expected_public_key_fingerprint: "{{ request.public_key_fingerprint }}"
    wait: true
    certificate_path: /srv/kubeaccess/rahul/rahul.crt
  # Skipped once the certificate is stored, and in check mode before the key exists (the name is not known yet).
  when: request.phase in ['pending', 'approved'] and request.name | length > 0

- name: Deny a CSR
  kubeaccess.x509.k8s_csr_approve:
    name: unknown-user-request
    state: denied
    condition_reason: NotInInventory
    condition_message: Ask the platform team to add you to the inventory.

- name: Sweep a CSR, denying it if it breaks the policy instead of failing
  kubeaccess.x509.k8s_csr_approve:
    name: seema-0c4d5e6f7a8b9c0d
    expected_user: seema
    forbidden_groups: [platform-admins]
    on_violation: deny
"""

RETURN = r"""
name:
  description: Name of the CSR.
  returned: always
  type: str
phase:
  description: V(pending), V(approved), V(issued), V(denied) or V(failed) after the task (predicted in check mode).
  returned: always
  type: str
  sample: issued
user:
  description: CN of the request.
  returned: when the CSR was read
  type: str
groups:
  description: O values of the request.
  returned: when the CSR was read
  type: list
  elements: str
violations:
  description: Policy rules the CSR breaks, each as C(option - what is wrong); empty when it complies.
  returned: when state is approved and the CSR was read
  type: list
  elements: str
  sample: ["expected_user: the CSR is for CN='mallory', not 'rahul'"]
certificate:
  description: The issued PEM certificate, verified against the request.
  returned: when issued
  type: str
serial:
  description: Serial number, upper-case hex as C(openssl x509 -serial) prints it.
  returned: when issued
  type: str
subject:
  description: Subject of the certificate (RFC 4514).
  returned: when issued
  type: str
common_name:
  description: CN of the certificate.
  returned: when issued
  type: str
not_before:
  description: Start of validity (UTC, ISO 8601).
  returned: when issued
  type: str
not_after:
  description: End of validity (UTC, ISO 8601), as issued.
  returned: when issued
  type: str
lifetime_seconds:
  description: NotAfter minus NotBefore; may be shorter than requested when the cluster caps it.
  returned: when issued
  type: int
requested_expiration_seconds:
  description: The expirationSeconds the CSR asked for.
  returned: when issued
  type: int
public_key_fingerprint:
  description: SHA-256 of the certificate's public key, colon-separated hex.
  returned: when issued
  type: str
verification:
  description: What was checked on the issued certificate.
  returned: when issued
  type: dict
  contains:
    public_key:
      description: The certificate carries the requested public key.
      type: bool
    subject:
      description: CN and O are the requested ones.
      type: bool
    chains_to_cluster_ca:
      description: Signed by the CA the connection trusts; null when that CA is not known.
      type: bool
results:
  description: With O(csrs), the result of each item in order, with the keys above plus C(changed) (and C(failed)
    and C(msg) for an item that failed); C(name) tells whose it is.
  returned: when O(csrs) is given
  type: list
  elements: dict
failed_items:
  description: With O(continue_on_error), how many items failed.
  returned: when O(continue_on_error) is set and items failed
  type: int
"""

import itertools

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubeaccess.x509.plugins.module_utils import csr_object
from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import (
    SharedClient, batch_argument_spec, identity_of, run_batch)
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import HAS_CRYPTOGRAPHY, CryptoInputError
from ansible_collections.kubeaccess.x509.plugins.module_utils.file_io import writable_dir_error
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import (
    AUTH_ARG_SPEC, KubeError, with_conflict_retries)
from ansible_collections.kubeaccess.x509.plugins.module_utils.policy import (
    POLICY_ARG_SPEC, pin_violations, policy_input_errors, violations)
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import object_name_error

TOOL = "kubeaccess.x509.k8s_csr_approve"

ARGUMENT_SPEC = dict(
    AUTH_ARG_SPEC,
    **POLICY_ARG_SPEC,
    name=dict(type="str"),
    state=dict(type="str", choices=["approved", "denied"], default="approved"),
    condition_reason=dict(type="str"),
    condition_message=dict(type="str"),
    on_violation=dict(type="str", choices=["fail", "deny"], default="fail"),
    wait=dict(type="bool", default=False),
    wait_timeout=dict(type="int", default=120),
    certificate_path=dict(type="path"),
)


class Refusal(Exception):
    """The task must fail; the message says why and what to do."""


class CsrApproval:
    def __init__(self, module, csrs):
        self.module = module
        self.params = module.params
        self.csrs = csrs
        self.name = module.params["name"]
        self.obj = None
        self.result = {"changed": False, "name": self.name}

    def validate(self):
        params = self.params
        errors = [object_name_error("name", self.name) if self.name else "name: required, the CSR to decide on"]
        if params["state"] == "approved":
            errors += policy_input_errors(params)
        if params["wait_timeout"] < 0:
            errors.append("wait_timeout: must be 0 or more seconds")
        if params["certificate_path"]:
            errors.append(writable_dir_error("certificate_path", params["certificate_path"]))
        errors = [e for e in errors if e]
        if errors:
            raise Refusal("; ".join(errors))

    def run(self):
        attempts = itertools.count()
        self.obj = with_conflict_retries(lambda: self.decide_and_apply(fresh=next(attempts) > 0))
        self.result["phase"] = csr_object.phase(self.obj)

    def finish(self):
        if self.module.check_mode or self.params["state"] == "denied" or self.result["phase"] == "denied":
            return
        client, obj = self.module.client(), self.obj
        if self.params["wait"] and self.result["phase"] == "approved":
            obj = csr_object.wait_for_certificate(self.csrs, self.name, self.params["wait_timeout"])
            self.result["phase"] = "issued"
        if self.result["phase"] == "issued":
            # The CSR waited for may have been replaced under its name and approved by someone else.
            request = csr_object.request_of(obj)
            pins = pin_violations(request, self.params)
            if pins:
                raise csr_object.IssuanceError(f"CSR {self.name} was issued for what the pins do not allow, so its "
                                               "certificate is not used (nothing written): " + "; ".join(pins))
            path = self.params["certificate_path"]
            other = csr_object.other_key_in(path, request.fingerprint)
            if other and not (self.params["expected_public_key_fingerprint"] or self.params["expected_request"]):
                raise csr_object.IssuanceError(
                    f"certificate_path: {path} holds the certificate of another key ({other}), which would no longer "
                    "match the key beside it; it is replaced only when the new key is pinned: give "
                    "expected_public_key_fingerprint (or expected_request)")
            issued, written = csr_object.store_issued(obj, request, client.ca_pem(), path, False)
            self.result.update(issued)
            self.result["changed"] |= written

    def decide_and_apply(self, fresh):
        """One read, one check, at most one write carrying the resourceVersion read; re-run on a 409 Conflict
        with a `fresh` read of the object."""
        client = self.module.client()
        obj = self.csrs.get(self.name, fresh)
        if obj is None:
            raise Refusal(f"name: CSR {self.name} does not exist (the cluster deletes CSRs one hour after they are "
                          "issued or denied, and pending ones after a day)")
        try:
            request = csr_object.request_of(obj)
        except CryptoInputError as exc:
            request = None
            self.result["violations"] = [f"request: the CSR's request cannot be read ({exc})"]
        else:
            self.result.update(user=request.common_name, groups=request.organizations)
        current = csr_object.phase(obj)
        if self.params["state"] == "denied":
            return self.deny_unless_decided(client, obj, current)
        return self.approve_if_allowed(client, obj, current, request)

    def deny_unless_decided(self, client, obj, current):
        if current == "denied":
            return obj
        if current != "pending":
            raise Refusal(f"CSR {self.name} is already {current}; the API does not allow denying it now. An issued "
                          "certificate stays valid until its NotAfter: remove the user's RBAC bindings to cut access")
        return self.decide(client, obj, "Denied", self.params["condition_reason"] or "KubeaccessDeny",
                           self.params["condition_message"] or f"This CSR was denied by {TOOL}.")

    def approve_if_allowed(self, client, obj, current, request):
        if current in ("denied", "failed"):
            entry = csr_object.condition(obj, current.capitalize())
            raise Refusal(f"CSR {self.name} is {current}, {csr_object.describe_condition(entry)}. The API never "
                          "lets a decision be reversed; submit a new CSR")
        found = self.result.get("violations") if request is None else violations(obj, self.params)
        self.result["violations"] = found
        if current in ("approved", "issued"):
            pins = pin_violations(request, self.params) if request is not None else found
            if pins:
                raise Refusal(f"CSR {self.name} is already {current}, approved by someone else for what the pins do "
                              "not allow, so its certificate is not ours and is not used (nothing written): "
                              + "; ".join(pins))
            if found:
                self.module.warn(f"CSR {self.name} was already approved although it breaks the policy: "
                                 + "; ".join(found))
            return obj
        if found and self.params["on_violation"] == "deny":
            self.module.warn(f"CSR {self.name} denied for breaking the policy: " + "; ".join(found))
            return self.decide(client, obj, "Denied", "KubeaccessPolicyViolation",
                               f"Denied by {TOOL}: " + "; ".join(found))
        if found:
            raise Refusal(f"CSR {self.name} breaks the approval policy, not approved: " + "; ".join(found))
        return self.decide(client, obj, "Approved", self.params["condition_reason"] or "KubeaccessApprove",
                           self.params["condition_message"] or f"This CSR was approved by {TOOL}.")

    def decide(self, client, obj, kind, reason, message):
        updated = csr_object.with_condition(obj, kind, reason, message)
        self.result["changed"] = True
        if self.module.diff_mode:
            self.result["diff"] = {"before": {"conditions": (obj.get("status") or {}).get("conditions") or []},
                                   "after": {"conditions": updated["status"]["conditions"]}}
        if not self.module.check_mode:
            updated = client.request("PUT", f"{csr_object.path(self.name)}/approval", body=updated,
                                     requirements=csr_object.approval_requirements(self.name,
                                                                                   obj["spec"]["signerName"]))
        self.csrs.remember(self.name, updated)
        return updated


def checked_approval(item, csrs):
    approval = CsrApproval(item, csrs)
    approval.validate()
    return approval


def main():
    module = AnsibleModule(argument_spec=batch_argument_spec(ARGUMENT_SPEC, "csrs"),
                           supports_check_mode=True, required_one_of=[("name", "csrs")],
                           mutually_exclusive=[("name", "csrs")])
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    client = SharedClient(module.params)
    csrs = csr_object.reads(client, batch=module.params["csrs"] is not None)
    run_batch(module, ARGUMENT_SPEC, "csrs", lambda item: checked_approval(item, csrs),
              (Refusal, KubeError, csr_object.IssuanceError), describe=lambda params: params["name"],
              shared=AUTH_ARG_SPEC, client=client, identity=identity_of("name"))


if __name__ == "__main__":
    main()
