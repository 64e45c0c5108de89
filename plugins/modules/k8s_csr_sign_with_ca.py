#!/usr/bin/python
# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_csr_sign_with_ca
short_description: Sign a client certificate request with the cluster CA's key, under the approval policy
version_added: 0.2.0
author:
  - kubeaccess maintainers (@kubeaccess)
description:
  - For clusters whose API cannot sign client certificates (no C(--cluster-signing-*) files on
    kube-controller-manager, or a managed control plane that does not sign for
    C(kubernetes.io/kube-apiserver-client)) but whose CA key you hold.
  - Runs on the host where the CA key lives, normally a control-plane host the task is delegated to. It takes a
    PEM certificate request (O(csr_content), which holds no secret, so it can come from the controller or from the
    user's own machine), checks it against the same approval policy as M(kubeaccess.x509.k8s_csr_approve) and
    signs it with the CA key as kube-controller-manager's C(kubernetes.io/kube-apiserver-client) signer would.
  - "The certificate is the signer's: the subject copied in Go's order (all O values in one multi-valued RDN),
    key usages from O(usages) (C(digital signature), C(key encipherment)) and the extended key usage client auth,
    CA:FALSE, NotBefore backdated 5 minutes, NotAfter O(expiration_seconds) later (counted from NotBefore for 8
    hours and more, from now below) and never after the CA's own NotAfter, a random serial below 2**128, the CA's
    key identifier, and no other extension of the request (SANs only when O(allow_subject_alt_names=true))."
  - "B(What this trades away:) there is no CertificateSigningRequest object, so the cluster keeps no record of the
    request, of who approved it or of the certificate, and no approval condition is written. The audit of what was
    issued comes from local records only (this task's result, the caller's logs). Prefer
    M(kubeaccess.x509.k8s_csr_request) and M(kubeaccess.x509.k8s_csr_approve) wherever the cluster can sign."
  - "Every call that passes the policy issues a new certificate (RV(changed=true)): the module keeps no state. The
    caller decides when to sign, for example only when there is no certificate yet or it is inside its renewal
    window."
  - A request the policy refuses fails naming every rule it breaks, and nothing is signed. A CA key that is
    missing, cannot be read, is encrypted without O(ca_key_passphrase) or is not the key of O(ca_cert_path) fails
    the task before any request is signed.
extends_documentation_fragment:
  - kubeaccess.x509.attributes
  - kubeaccess.x509.batch
  - kubeaccess.x509.csr_policy
attributes:
  check_mode:
    support: full
    details:
      - Reads and checks the CA certificate and key and the request against the policy, and reports what would
        be signed (subject, validity, issuer) without signing or writing anything.
  diff_mode:
    support: none
options:
  csr_content:
    description:
      - The PEM certificate request (PKCS#10) to sign, for example RV(kubeaccess.x509.k8s_csr_request#module:request)
        from M(kubeaccess.x509.k8s_csr_request) with O(kubeaccess.x509.k8s_csr_request#module:submit=false).
      - Required unless O(requests) is given.
    type: str
  requests:
    description:
      - The batch form, several requests signed in one task with the one CA key. Each item takes the options of this
        module except O(ca_cert_path), O(ca_key_path) and O(ca_key_passphrase); what an item leaves out comes from the
        top level, so top-level values are the defaults of every item.
      - Bad input in any item fails the task before any request is signed; a request the policy refuses does not
        stop the others, and the task then fails naming each one.
    type: list
    elements: dict
  ca_cert_path:
    description: The cluster CA's certificate on the host the module runs on.
    type: path
    default: /etc/kubernetes/pki/ca.crt
  ca_key_path:
    description:
      - The cluster CA's private key (PEM) on the host the module runs on. It is read there and never leaves it;
        it is not returned, logged or shown in a diff.
      - On a kubeadm control plane the file is root's, mode 0600, so the task needs C(become=true).
    type: path
    default: /etc/kubernetes/pki/ca.key
  ca_key_passphrase:
    description: Passphrase of an encrypted O(ca_key_path).
    type: str
  expiration_seconds:
    description:
      - Lifetime of the certificate, as C(spec.expirationSeconds) would ask; at least 600, as the CSR API requires,
        and refused above O(max_expiration_seconds).
      - The certificate never outlives the CA; when the CA ends first, the task warns.
    type: int
    default: 86400
  usages:
    description:
      - Usages written into the certificate, as C(spec.usages) would ask. The C(kubernetes.io/kube-apiserver-client)
        signer allows only C(digital signature), C(key encipherment) and C(client auth), and requires
        C(client auth); they must also be in O(allowed_usages).
      - The default is what M(kubeaccess.x509.k8s_csr_request) asks for, and gives a certificate with the extended
        key usage client auth and no key usage extension, as the cluster's signer issues it.
    type: list
    elements: str
    default: [client auth]
  certificate_path:
    description:
      - Also write the certificate there (mode 0644, whole or not at all) on the host the module runs on, the CA's
        host. Rarely wanted; a caller usually takes RV(certificate) back to where the private key is.
    type: path
notes:
  - Run this module only where the CA key already is (C(delegate_to) a control-plane host, with C(become=true)).
    Never copy the CA key to the controller or anywhere else to run it; whoever holds that key can make themselves
    C(system:masters).
  - The policy applies as in M(kubeaccess.x509.k8s_csr_approve), with the signer taken as
    C(kubernetes.io/kube-apiserver-client) (so O(allowed_signers) must keep it) and the lifetime and usages from
    O(expiration_seconds) and O(usages).
  - Certificates cannot be revoked in Kubernetes; short lifetimes are the defence, hence the default
    O(max_expiration_seconds). Keep the results (at least RV(serial), RV(common_name), RV(groups) and
    RV(not_after)) if you need to know later what was issued.
seealso:
  - module: kubeaccess.x509.k8s_csr_approve
  - module: kubeaccess.x509.k8s_csr_request
  - name: Kubernetes signers
    description: What the kubernetes.io/kube-apiserver-client signer issues.
    link: https://kubernetes.io/docs/reference/access-authn-authz/certificate-signing-requests/#kubernetes-signers
requirements:
  - cryptography >= 42.0.0 on the host the module runs on
"""

EXAMPLES = r"""
- name: Make rahul's key and request on the controller, without submitting it to the API
  kubeaccess.x509.k8s_csr_request:
    user: rahul
    groups: [developers]
    private_key_path: /srv/kubeaccess/rahul/rahul.key
    submit: false
  register: request

- name: Sign the request with the CA key on a control-plane host (the key never leaves it)
  kubeaccess.x509.k8s_csr_sign_with_ca:
    csr_content: "{{ request.request }}"
    expected_user: rahul
    allowed_groups: [developers]
    expected_public_key_fingerprint: "{{ request.public_key_fingerprint }}"
    expiration_seconds: 86400
  delegate_to: cp1.example.com
  become: true
  register: signed

- name: Keep the certificate beside the key on the controller
  ansible.builtin.copy:
    content: "{{ signed.certificate }}"
    dest: /srv/kubeaccess/rahul/rahul.crt
    mode: "0644"

- name: Check what would be signed, signing nothing
  kubeaccess.x509.k8s_csr_sign_with_ca:
    csr_content: "{{ lookup('ansible.builtin.file', 'requests/seema.csr') }}"
    expected_user: seema
    forbidden_groups: [platform-admins]
  delegate_to: cp1.example.com
  become: true
  check_mode: true
"""

RETURN = r"""
certificate:
  description: The signed PEM certificate.
  returned: when signed (not in check mode)
  type: str
serial:
  description: Serial number, upper-case hex as C(openssl x509 -serial) prints it.
  returned: when signed (not in check mode)
  type: str
  sample: 5F3A9C0B7E21D4486A1B2C3D4E5F6071
subject:
  description: Subject of the certificate (RFC 4514), as the cluster's signer orders it.
  returned: when the request passed the policy
  type: str
  sample: CN=rahul,O=ops+O=developers
common_name:
  description: CN of the request, the user name Kubernetes reads.
  returned: when the request was read
  type: str
groups:
  description: O values of the request, the groups Kubernetes reads.
  returned: when the request was read
  type: list
  elements: str
public_key_fingerprint:
  description: SHA-256 of the request's public key, colon-separated hex.
  returned: when the request was read
  type: str
issuer:
  description: Subject of the CA that signs (RFC 4514).
  returned: when the request was read
  type: str
not_before:
  description: Start of validity (UTC, ISO 8601), 5 minutes before signing; predicted in check mode.
  returned: when the request passed the policy
  type: str
not_after:
  description: End of validity (UTC, ISO 8601); predicted in check mode.
  returned: when the request passed the policy
  type: str
lifetime_seconds:
  description: NotAfter minus NotBefore.
  returned: when the request passed the policy
  type: int
violations:
  description: Policy rules the request breaks, each as C(option - what is wrong); empty when it complies.
  returned: when the request was read
  type: list
  elements: str
  sample: ["expected_user: the CSR is for CN='mallory', not 'rahul'"]
changed:
  description: True when a certificate was signed (or would be, in check mode); every call that passes signs anew.
  returned: always
  type: bool
results:
  description: With O(requests), the result of each item in order, with the keys above plus C(changed) (and
    C(failed) and C(msg) for an item that failed) and C(expected_user), which tells whose it is.
  returned: when O(requests) is given
  type: list
  elements: dict
failed_items:
  description: With O(continue_on_error), how many items failed.
  returned: when O(continue_on_error) is set and items failed
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubeaccess.x509.plugins.module_utils.backends.csr_sign_with_ca import MODULE_ARGS, run


def main():
    run(AnsibleModule(**MODULE_ARGS))


if __name__ == "__main__":
    main()
