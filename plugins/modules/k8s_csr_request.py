#!/usr/bin/python
# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_csr_request
short_description: Request a Kubernetes client certificate through a CertificateSigningRequest
version_added: 0.1.0
author:
  - kubeaccess maintainers (@kubeaccess)
description:
  - Makes a private key (ECDSA P-256 by default) and a PKCS#10 request with CN = O(user) and one O per group, and
    submits it as a C(certificates.k8s.io/v1) CertificateSigningRequest (CSR) object.
  - Alternatively submits a request made elsewhere (O(csr_path) or O(csr_content)), so that the user keeps the
    key and only the request travels. O(submit=false) is the other half, run on the user's own machine; it makes
    the key and the request and submits nothing.
  - Idempotency is keyed on the local certificate, because the API deletes issued CSRs after one hour. When
    O(certificate_path) holds a certificate for this key, user and groups that is not expired and not inside
    O(renew_before), nothing is submitted and nothing is read from the API.
  - When the CSR is (or becomes, with O(wait)) issued, the certificate is verified against the request and
    written to O(certificate_path).
  - Approval is a separate step, for example M(kubeaccess.x509.k8s_csr_approve).
extends_documentation_fragment:
  - kubeaccess.x509.k8s_auth_options
  - kubeaccess.x509.attributes
  - kubeaccess.x509.attributes.ACTION_GROUP
  - kubeaccess.x509.batch
attributes:
  check_mode:
    support: full
    details:
      - Reports what would be submitted without creating a key, a file or an object. When the private key does
        not exist yet, RV(name) is not known in check mode and is returned empty.
  diff_mode:
    support: full
    details:
      - Shows the CSR object that would be created or replaced. The private key is never part of a diff.
options:
  requests:
    description:
      - The batch form, several users in one task. Each item takes the options of this module except the connection
        options and O(private_key_passphrase); what an item leaves out comes from the top level, so top-level values
        are the defaults of every item.
      - Bad input in any item fails the task before any key, file or CSR is made; an item that fails later does not
        stop the others, and the task then fails naming each one. Items whose certificate is current make no API
        call, and the API connection is made only if an item needs it.
    type: list
    elements: dict
    version_added: 0.1.0
  state:
    description:
      - V(present) makes sure a CSR for this key exists, or that a current certificate is already in
        O(certificate_path).
      - V(absent) deletes the CSR object, only one of ours (unless O(force)), that is labelled as managed by this
        collection and, when the key is known (O(private_key_path), O(csr_path), O(csr_content), or the certificate in
        O(certificate_path) when neither is given), made for that key. Key and certificate files are kept; deleting
        a CSR does not revoke an issued certificate.
    type: str
    choices: [present, absent]
    default: present
  user:
    description:
      - The Kubernetes user name, written as the subject CN.
      - Required with O(private_key_path). With O(csr_path) or O(csr_content) it defaults to the request's CN and,
        when given, must equal it.
    type: str
  groups:
    description:
      - Kubernetes groups, one subject O each.
      - With O(csr_path) or O(csr_content) they default to the request's and, when given, must equal them.
    type: list
    elements: str
  allow_system_names:
    description:
      - Allow a user name or groups starting with C(system:), which Kubernetes reserves for its components.
      - The API refuses C(system:masters) with the client signer in any case.
    type: bool
    default: false
  private_key_path:
    description:
      - Where the private key is kept, on the host the module runs on. Created with mode 0600 when missing;
        an existing key is reused. The key never leaves this host.
      - A new key is written before its request is submitted, so that a run killed in between leaves a key the next
        run submits, never a request for a lost key. It is removed again when the API server refuses the request.
      - A new key is written only if no key appeared at the path since the module looked (another run for the same
        user at the same moment); otherwise that key is used, so that both runs request one certificate for one key.
    type: path
  private_key_type:
    description: Type of a new private key.
    type: str
    choices: [ecdsa, rsa]
    default: ecdsa
  private_key_size:
    description: Size in bits of a new RSA key.
    type: int
    choices: [2048, 3072, 4096]
    default: 3072
  private_key_curve:
    description: Curve of a new ECDSA key (P-256 or P-384).
    type: str
    choices: [secp256r1, secp384r1]
    default: secp256r1
  private_key_passphrase:
    description: Passphrase that encrypts a new key, or decrypts an existing one.
    type: str
  rotate_key:
    description:
      - Make a new key when the certificate in O(certificate_path), issued for the key in O(private_key_path), is to
        be renewed (inside O(renew_before), or for other groups). The new key is written (mode 0600) beside the old
        one as O(private_key_path) with the suffix C(.next), the request is made for it, and its path is returned as
        RV(next_private_key_path); the old key stays in place.
      - Once the new certificate is in use (the user_access role writes and verifies the kubeconfig with it), the
        caller moves the new key over O(private_key_path), which removes the old key. Until then every call completes
        that rotation with the new key, whatever O(rotate_key) says.
    type: bool
    default: false
    version_added: 0.2.0
  csr_path:
    description: Path of a PEM certificate request made elsewhere; its signature and subject are checked before use.
    type: path
  csr_content:
    description: A PEM certificate request made elsewhere, as text.
    type: str
  subject_alt_names:
    description:
      - Subject alternative names (C(DNS:name), C(IP:address), C(email:address), C(URI:uri)). Client
        certificates for users need none, and none are added unless given.
    type: list
    elements: str
    default: []
  name:
    description:
      - Name of the CSR object.
      - Defaults to the user name made DNS-safe plus 16 hex digits of the public key's SHA-256, so two keys never
        share a name and the same key always finds its CSR.
    type: str
  signer_name:
    description: The signer that should issue the certificate.
    type: str
    default: kubernetes.io/kube-apiserver-client
  usages:
    description: Key usages requested (C(spec.usages)).
    type: list
    elements: str
    default: [client auth]
  expiration_seconds:
    description:
      - Requested certificate lifetime (C(spec.expirationSeconds)); at least 600. The signer may shorten it; the
        real NotAfter is returned.
    type: int
    default: 86400
  certificate_path:
    description:
      - Where the issued certificate is stored (mode 0644). Its presence is what makes a second run a no-op.
    type: path
  renew_before:
    description:
      - Submit a new CSR when the certificate in O(certificate_path) expires within this time. A duration
        (V(8h), V(2d), V(1h30m)) or a fraction of the certificate's lifetime (V(30%) or V(0.3)).
    type: str
    default: 30%
  labels:
    description: Labels for the CSR object. The label C(app.kubernetes.io/managed-by=kubeaccess.x509) is always set.
    type: dict
    default: {}
  annotations:
    description: Annotations for the CSR object.
    type: dict
    default: {}
  force:
    description:
      - Replace a CSR of the same name that is not ours, or one that was denied or failed. A CSR is ours when it
        carries the label C(app.kubernetes.io/managed-by=kubeaccess.x509) and its request is for our key (the key
        in O(private_key_path), or the request given); a labelled CSR for another key is someone else's.
    type: bool
    default: false
  delete_stale_pending:
    description:
      - Also delete the CSR of ours under this key's name that is still pending while the certificate in
        O(certificate_path) is current, so that a request the policy refused (or that nobody approved) does not stay
        on the cluster, where it could still be approved. RV(action) is then V(delete_stale) and RV(stale) says
        what was deleted.
      - Costs one read of the CSRs even when every certificate is current (one LIST for a batch).
    type: bool
    default: false
    version_added: 0.1.0
  submit:
    description:
      - V(false) makes the key (written at once, mode 0600) and the request on the host the module runs on, returns
        RV(request) and RV(name), and submits nothing (no API connection is made); RV(phase) is V(unsubmitted)
        (or V(issued) when O(certificate_path) holds a current certificate).
      - For keys kept on the user's own machine. A task on the controller submits RV(request) with O(csr_content),
        so only the request travels, never the key.
    type: bool
    default: true
    version_added: 0.1.0
  wait:
    description:
      - Wait until the certificate is issued (approval happening elsewhere), then verify and store it.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait with O(wait).
    type: int
    default: 120
notes:
  - Changing O(expiration_seconds) or O(groups) does not renew a current certificate by itself when the groups are
    unchanged; a changed group list does, because the certificate no longer matches.
  - Renewal reuses the existing key unless O(rotate_key) is set.
seealso:
  - module: kubeaccess.x509.k8s_csr_approve
  - name: Kubernetes certificate signing requests
    description: How the CSR API, signers and approval work.
    link: https://kubernetes.io/docs/reference/access-authn-authz/certificate-signing-requests/
requirements:
  - cryptography >= 42.0.0
"""

EXAMPLES = r"""
- name: Request a client certificate for rahul (key stays on this host)
  kubeaccess.x509.k8s_csr_request:
    kubeconfig: ~/.kube/admin.conf
    user: rahul
    groups: [developers]
    private_key_path: /srv/kubeaccess/rahul/rahul.key
    certificate_path: /srv/kubeaccess/rahul/rahul.crt
  register: rahul_csr

- name: Submit a request the user made and kept the key of
  kubeaccess.x509.k8s_csr_request:
    csr_path: /srv/kubeaccess/incoming/seema.csr
    user: seema
    groups: [app1-devs, platform-team]
    certificate_path: /srv/kubeaccess/seema/seema.crt
    expiration_seconds: 28800

- name: On the user's own machine, make the key and the request only (the key never leaves it)
  kubeaccess.x509.k8s_csr_request:
    user: rahul
    groups: [developers]
    private_key_path: ~/.kube/kubeaccess/prod.key
    submit: false
  register: rahul_request

- name: On the controller, submit that request; the certificate is kept here (it is public)
  kubeaccess.x509.k8s_csr_request:
    kubeconfig: ~/.kube/admin.conf
    csr_content: "{{ rahul_request.request }}"
    certificate_path: /srv/kubeaccess/rahul/prod.crt
  delegate_to: localhost

- name: Wait for a certificate that another team approves
  kubeaccess.x509.k8s_csr_request:
    user: ci-deployer
    private_key_path: /etc/ci/kube/ci-deployer.key
    certificate_path: /etc/ci/kube/ci-deployer.crt
    renew_before: 8h
    wait: true
    wait_timeout: 3600

- name: Remove the CSR object
  kubeaccess.x509.k8s_csr_request:
    name: "{{ rahul_csr.name }}"
    state: absent
"""

RETURN = r"""
name:
  description: Name of the CSR object (empty in check mode before the key exists).
  returned: always
  type: str
  sample: rahul-3f1c9a0e7d2b4c65
phase:
  description:
    - V(pending), V(approved), V(issued), V(denied) or V(failed); V(absent) after O(state=absent); V(unsubmitted)
      with O(submit=false).
    - V(issued) when the certificate in O(certificate_path) is current, even if the CSR object is gone.
  returned: always
  type: str
  sample: pending
user:
  description: The user name (CN) requested.
  returned: when state is present
  type: str
  sample: rahul
groups:
  description: The groups (O) requested.
  returned: when state is present
  type: list
  elements: str
  sample: [developers]
request:
  description: The PEM certificate request (public).
  returned: when state is present and the key exists or was made
  type: str
next_private_key_path:
  description:
    - With O(rotate_key), the path of the new key the request is for, while a rotation is under way; the caller
      moves it over O(private_key_path) once the new certificate is in use.
  returned: during a rotation
  type: str
  sample: /home/ops/.kubeaccess/rahul/prod.key.next
  version_added: 0.2.0
public_key_fingerprint:
  description: SHA-256 of the public key (SubjectPublicKeyInfo), colon-separated hex; pin it in the approval.
  returned: when state is present and the key exists or was made
  type: str
  sample: "3f:1c:9a:0e:7d:2b:4c:65:..."
certificate:
  description: The issued PEM certificate.
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
  sample: O=developers,CN=rahul
common_name:
  description: CN of the certificate.
  returned: when issued
  type: str
not_before:
  description: Start of validity (UTC, ISO 8601).
  returned: when issued
  type: str
not_after:
  description: End of validity (UTC, ISO 8601), as issued; the signer may shorten the requested lifetime.
  returned: when issued
  type: str
  sample: "2026-11-23T10:00:00Z"
lifetime_seconds:
  description: NotAfter minus NotBefore of the issued certificate.
  returned: when issued from the API in this run
  type: int
requested_expiration_seconds:
  description: The expirationSeconds the CSR asked for.
  returned: when issued from the API in this run
  type: int
verification:
  description: What was checked on the issued certificate.
  returned: when issued from the API in this run
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
action:
  description: What was done, V(none), V(create), V(recreate), V(reuse), V(delete) or V(delete_stale).
  returned: always
  type: str
phase_before:
  description: With O(state=absent), the phase of the CSR that was deleted.
  returned: when a CSR was deleted
  type: str
  sample: issued
stale:
  description: With O(delete_stale_pending), the stale pending CSR that was deleted, and why it was stale.
  returned: when a stale CSR was deleted
  type: str
  sample: CSR rahul-3f2a... was pending (asking for 604800 s) while the certificate is current; deleted
results:
  description:
    - With O(requests), the result of each item in order, with the keys above plus C(changed) (and C(failed) and
      C(msg) for an item that failed), and the item's C(user) and C(private_key_path), which tell whose it is.
  returned: when O(requests) is given
  type: list
  elements: dict
failed_items:
  description: With O(continue_on_error), how many items failed.
  returned: when O(continue_on_error) is set and items failed
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubeaccess.x509.plugins.module_utils.backends.csr_request import MODULE_ARGS, run


def main():
    run(AnsibleModule(**MODULE_ARGS))


if __name__ == "__main__":
    main()
