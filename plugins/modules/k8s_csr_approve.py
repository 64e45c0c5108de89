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
  - kubeaccess.x509.csr_policy
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubeaccess.x509.plugins.module_utils.backends.csr_approve import MODULE_ARGS, run


def main():
    run(AnsibleModule(**MODULE_ARGS))


if __name__ == "__main__":
    main()
