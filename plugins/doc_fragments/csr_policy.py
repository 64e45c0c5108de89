# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The approval policy (module_utils/policy.py, POLICY_ARG_SPEC): the options of k8s_csr_approve that the
    # user_access role also takes, per cluster, in its policy mapping.
    DOCUMENTATION = r"""
options:
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
"""
