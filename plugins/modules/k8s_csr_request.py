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
  - Renewal reuses the existing key; delete O(private_key_path) to rotate it.
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

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubeaccess.x509.plugins.module_utils import csr_object
from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import (
    SharedClient, batch_argument_spec, identity_of, run_batch)
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import (
    HAS_CRYPTOGRAPHY, Certificate, CryptoInputError, Request, build_csr_pem, generate_private_key,
    load_private_key, private_key_pem, unusable_key_reason)
from ansible_collections.kubeaccess.x509.plugins.module_utils.file_io import (
    mode_of, read_file, write_atomic, writable_dir_error)
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import (
    AUTH_ARG_SPEC, ApiError, KubeError)
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import (
    expiration_error, identity_name_error, label_errors, object_name_error, parse_renew_before)

KEY_MODE = 0o600

ARGUMENT_SPEC = dict(
    AUTH_ARG_SPEC,
    state=dict(type="str", choices=["present", "absent"], default="present"),
    user=dict(type="str"),
    groups=dict(type="list", elements="str"),
    allow_system_names=dict(type="bool", default=False),
    private_key_path=dict(type="path"),
    private_key_type=dict(type="str", choices=["ecdsa", "rsa"], default="ecdsa"),
    private_key_size=dict(type="int", choices=[2048, 3072, 4096], default=3072),
    private_key_curve=dict(type="str", choices=["secp256r1", "secp384r1"], default="secp256r1"),
    private_key_passphrase=dict(type="str", no_log=True),
    csr_path=dict(type="path"),
    csr_content=dict(type="str"),
    subject_alt_names=dict(type="list", elements="str", default=[]),
    name=dict(type="str"),
    signer_name=dict(type="str", default=csr_object.CLIENT_SIGNER),
    usages=dict(type="list", elements="str", default=["client auth"]),
    expiration_seconds=dict(type="int", default=86400),
    certificate_path=dict(type="path"),
    renew_before=dict(type="str", default="30%"),
    labels=dict(type="dict", default={}),
    annotations=dict(type="dict", default={}),
    force=dict(type="bool", default=False),
    delete_stale_pending=dict(type="bool", default=False),
    submit=dict(type="bool", default=True),
    wait=dict(type="bool", default=False),
    wait_timeout=dict(type="int", default=120),
)


EXCLUSIVE_SOURCES = (("csr_path", "csr_content"), ("private_key_path", "csr_path"), ("private_key_path", "csr_content"))


class InputError(Exception):
    """Bad options, reported before anything is changed."""


class CsrRequest:
    def __init__(self, module, csrs):
        self.module = module
        self.params = module.params
        self.csrs = csrs
        self.key = None
        self.new_key = False
        self.request = None
        self.user = self.params["user"]
        self.groups = self.params["groups"]
        self.result = {"changed": False}

    # -- inputs --------------------------------------------------------------------------------------------
    def validate(self):
        params = self.params
        errors = [f"{first}: cannot be combined with {second}" for first, second in EXCLUSIVE_SOURCES
                  if params[first] and params[second]]
        if params["state"] == "present" and not (params["private_key_path"] or params["csr_path"]
                                                 or params["csr_content"]):
            errors.append("private_key_path: required (or csr_path / csr_content for a request made elsewhere)")
        if params["private_key_path"] and not params["user"] and params["state"] == "present":
            errors.append("user: required with private_key_path; it becomes the certificate's CN")
        if params["state"] == "absent" and not (params["name"] or params["csr_path"] or params["csr_content"]
                                                or (params["user"] and params["private_key_path"])
                                                or params["certificate_path"]):
            errors.append("name: required for state=absent (or user and private_key_path, the request, or "
                          "certificate_path, that the default name is derived from)")
        if params["user"] is not None:
            errors.append(identity_name_error("user", params["user"], params["allow_system_names"]))
        for group in params["groups"] or []:
            errors.append(identity_name_error("groups", group, params["allow_system_names"]))
        if params["name"]:
            errors.append(object_name_error("name", params["name"]))
        errors.append(expiration_error("expiration_seconds", params["expiration_seconds"]))
        if not params["usages"]:
            errors.append("usages: must not be empty; client certificates use ['client auth']")
        errors += label_errors("labels", params["labels"])
        if not params["submit"]:
            errors += [f"{option}: cannot be combined with submit=false, which makes a new request from "
                       "private_key_path and submits nothing" for option in ("csr_path", "csr_content") if params[option]]
            errors += ["wait: cannot be combined with submit=false, which submits nothing"] * params["wait"]
            errors += ["state: absent cannot be combined with submit=false"] * (params["state"] == "absent")
        if params["wait_timeout"] < 0:
            errors.append("wait_timeout: must be 0 or more seconds")
        for option in ("private_key_path", "certificate_path"):
            if params[option] and params["state"] == "present":
                errors.append(writable_dir_error(option, params[option]))
        try:
            self.renew_before = parse_renew_before(params["renew_before"])
        except ValueError as exc:
            errors.append(str(exc))
        errors = [e for e in errors if e]
        if errors:
            raise InputError("; ".join(errors))

    def load_request_or_key(self):
        params = self.params
        if params["csr_path"] or params["csr_content"]:
            source = "csr_path" if params["csr_path"] else "csr_content"
            data = read_file(params["csr_path"]) if params["csr_path"] else params["csr_content"].encode()
            if data is None:
                raise InputError(f"csr_path: {params['csr_path']} does not exist")
            try:
                self.request = Request(data)
            except CryptoInputError as exc:
                raise InputError(f"{source}: {exc}") from None
            self._check_request_identity(source)
            return
        path = params["private_key_path"]
        if not path:
            return
        data = read_file(path)
        if data is not None:
            try:
                self.key = load_private_key(data, params["private_key_passphrase"])
            except CryptoInputError as exc:
                raise InputError(str(exc)) from None
            unusable = unusable_key_reason(self.key.public_key())
            if unusable:
                raise InputError(f"private_key_path: {path} holds a key the cluster cannot use: {unusable}")
        elif params["state"] == "present" and not self.module.check_mode:
            self.key = generate_private_key(params["private_key_type"], params["private_key_size"],
                                            params["private_key_curve"])
            self.new_key = True
        if self.key is not None and params["state"] == "present":
            self.groups = self.groups or []
            try:
                self.request = Request(build_csr_pem(self.key, self.user, self.groups,
                                                     params["subject_alt_names"]))
            except (CryptoInputError, ValueError) as exc:
                raise InputError(f"subject_alt_names: {exc}") from None
        elif self.key is not None:
            self.request = Request(build_csr_pem(self.key, self.user))

    def _check_request_identity(self, source):
        request = self.request
        unusable = unusable_key_reason(request.public_key)
        if unusable:
            raise InputError(f"{source}: the request's key cannot be used by a cluster: {unusable}")
        if self.user is not None and request.common_name != self.user:
            raise InputError(f"{source}: the request is for CN={request.common_name!r}, not user={self.user!r}")
        if self.groups is not None and sorted(request.organizations) != sorted(self.groups):
            raise InputError(f"{source}: the request has O={request.organizations}, not groups={self.groups}")
        self.user, self.groups = request.common_name, request.organizations
        problems = [identity_name_error("user", self.user, self.params["allow_system_names"])]
        problems += [identity_name_error("groups", g, self.params["allow_system_names"]) for g in self.groups]
        problems = [p for p in problems if p]
        if problems:
            raise InputError(f"{source}: " + "; ".join(problems))

    @property
    def name(self):
        if self.params["name"]:
            return self.params["name"]
        return csr_object.default_name(self.user, self.request.fingerprint) if self.request else ""

    # -- the local certificate -------------------------------------------------------------------------------
    def stored_certificate(self):
        path = self.params["certificate_path"]
        data = read_file(path) if path else None
        try:
            return Certificate(data) if data else None
        except CryptoInputError:
            return None

    def current_certificate(self):
        """The certificate in certificate_path when it is for this key, user and groups and not due for renewal."""
        cert = self.stored_certificate() if self.request is not None else None
        if cert is None:
            return None
        if (cert.fingerprint != self.request.fingerprint or cert.common_name != self.user
                or sorted(cert.organizations) != sorted(self.groups or [])):
            return None
        return cert if self.outside_renewal_window(cert) else None

    def outside_renewal_window(self, cert):
        kind, amount = self.renew_before
        margin = amount if kind == "seconds" else amount * cert.lifetime_seconds()
        return cert.remaining_seconds() > margin

    def secure_existing_key(self):
        path = self.params["private_key_path"]
        if path and os.path.exists(path) and mode_of(path) & 0o077:
            self.result["changed"] = True
            self.module.warn(f"private_key_path: {path} was readable by others (mode {mode_of(path):o}); set 0600")
            if not self.module.check_mode:
                os.chmod(path, KEY_MODE)

    def run(self):
        if self.params["state"] == "present":
            self.present()
        else:
            self.absent()

    # -- state=present ----------------------------------------------------------------------------------------
    def present(self):
        self.secure_existing_key()
        self.result.update(user=self.user, groups=self.groups or [])
        if self.request is not None:
            self.result.update(request=self.request.pem.decode(), public_key_fingerprint=self.request.fingerprint)
        cert = self.current_certificate()
        if cert is not None:
            self.result.update(cert.describe(), name=self.name, phase="issued", action="none",
                               certificate=cert.pem.decode())
            if self.params["delete_stale_pending"] and self.params["submit"]:
                self.delete_stale_pending()
            return
        if not self.params["submit"]:
            self.result.update(name=self.name, phase="unsubmitted", action="none")
            if self.new_key:
                self.write_key()
            # In check mode a missing key is not made, and making it is the change.
            self.result["changed"] |= self.new_key or self.key is None
            return
        client = self.module.client()
        wanted = self.manifest()
        existing = self.csrs.get(self.name) if self.name else None
        action = self.decide(existing, wanted)
        self.result.update(name=self.name, action=action)
        self.set_diff(existing if action != "create" else None, wanted if action != "reuse" else existing)
        if action != "reuse":
            self.result["changed"] = True
        if self.module.check_mode and action != "reuse":
            self.result["phase"] = "pending"
            return
        obj = existing if action == "reuse" else self.submit(client, existing, wanted)
        if self.params["wait"] and csr_object.phase(obj) != "issued" and not self.module.check_mode:
            obj = csr_object.wait_for_certificate(self.csrs, self.name, self.params["wait_timeout"])
        self.result["phase"] = csr_object.phase(obj)
        if self.result["phase"] == "issued":
            self.store_certificate(client, obj)

    def delete_stale_pending(self):
        """Our pending CSR for this key, while the certificate is current: nothing will use it, and an approval
        would issue a certificate nobody asked for any more (a refused renewal, say)."""
        existing = self.csrs.get(self.name)
        if existing is None or csr_object.phase(existing) != "pending" \
                or csr_object.foreign_reason(existing, self.request.fingerprint):
            return
        self.result.update(changed=True, action="delete_stale", stale=(
            f"CSR {self.name} was pending (asking for {existing['spec'].get('expirationSeconds')} s) while the "
            "certificate is current; deleted"))
        self.set_diff(existing, None)
        if not self.module.check_mode:
            self.delete(existing)

    def delete(self, existing):
        """Delete the object read, by its own name (a DELETE on the collection's path would delete every CSR); the
        uid precondition keeps us from deleting an object someone recreated in between."""
        name = existing["metadata"]["name"]
        self.module.client().request("DELETE", csr_object.path(name),
                                     body={"kind": "DeleteOptions", "apiVersion": "v1",
                                           "preconditions": {"uid": existing["metadata"]["uid"]}},
                                     expect=(200, 202, 404))
        self.csrs.remember(name, None)

    def manifest(self):
        params = self.params
        annotations = dict(params["annotations"], **{csr_object.USER_ANNOTATION: self.user})
        wanted = csr_object.manifest(self.name or "(named after the new key)", self.request.pem if self.request
                                     else b"", params["signer_name"], params["usages"],
                                     params["expiration_seconds"], params["labels"], annotations)
        if self.request is None:
            wanted["spec"]["request"] = "(made at run time from a new private key)"
        return wanted

    def decide(self, existing, wanted):
        if existing is None:
            return "create"
        name, phase = self.name, csr_object.phase(existing)
        same = self.request is not None and csr_object.same_spec(existing, wanted)
        stale = phase == "issued" and same and not self.outside_renewal_window(
            Certificate(csr_object.certificate_pem(existing)))
        if same and phase not in ("denied", "failed") and not stale:
            return "reuse"
        if not self.params["force"]:
            foreign = csr_object.foreign_reason(existing, self.request.fingerprint)
            if foreign:
                raise InputError(f"name: a CSR named {name} exists and {foreign}; it is not replaced. Check who "
                                 f"made it, then delete it (kubectl delete csr {name}) and run again")
            if same and phase in ("denied", "failed"):
                entry = csr_object.condition(existing, phase.capitalize())
                raise InputError(f"CSR {name} for this key was {phase}, {csr_object.describe_condition(entry)}. Fix "
                                 f"what was refused, then delete it (kubectl delete csr {name}) to submit it again")
        return "recreate"

    def submit(self, client, existing, wanted):
        if existing is not None:
            self.delete(existing)
        try:
            created = client.request("POST", csr_object.CSR_API, body=wanted, expect=(201,))
        except ApiError as exc:
            if exc.already_exists:
                return self.adopt_after_race(wanted)
            raise KubeError(f"the API server refused to create CSR {self.name}: {exc}") from None
        self.csrs.remember(self.name, created)
        if self.new_key:
            try:
                self.write_key()
            except OSError as exc:
                client.request("DELETE", csr_object.path(self.name), expect=(200, 202, 404))
                raise InputError(f"private_key_path: cannot write {self.params['private_key_path']} ({exc}); the "
                                 f"CSR {self.name} was withdrawn") from None
        return created

    def adopt_after_race(self, wanted):
        obj = self.csrs.get(self.name, fresh=True)
        if obj is None or not csr_object.same_spec(obj, wanted):
            raise InputError(f"name: CSR {self.name} was created by someone else at the same time with another "
                             "request")
        self.result["action"] = "reuse"
        if self.new_key:
            self.write_key()
        return obj

    def write_key(self):
        write_atomic(self.params["private_key_path"],
                     private_key_pem(self.key, self.params["private_key_passphrase"]), KEY_MODE)

    def store_certificate(self, client, obj):
        issued, written = csr_object.store_issued(obj, self.request, client.ca_pem(), self.params["certificate_path"],
                                                  self.module.check_mode)
        self.result.update(issued)
        self.result["changed"] |= written

    def set_diff(self, before, after):
        if self.module.diff_mode:
            self.result["diff"] = {"before": _visible(before), "after": _visible(after)}

    # -- state=absent -----------------------------------------------------------------------------------------
    def absent(self):
        name, fingerprint = self.name, self.request.fingerprint if self.request else None
        if not name and self.params["certificate_path"]:
            # No key and no request: the certificate names the CSR of its key (a key on the user's own machine).
            cert = self.stored_certificate()
            if cert is not None:
                name, fingerprint = csr_object.default_name(cert.common_name, cert.fingerprint), cert.fingerprint
        self.result.update(name=name, phase="absent", action="none")
        if not name:
            # The key is gone, so no CSR of it can be named (offboarding a user whose files were removed).
            return
        existing = self.csrs.get(name)
        if existing is None:
            return
        foreign = csr_object.foreign_reason(existing, fingerprint)
        if foreign and not self.params["force"]:
            raise InputError(f"name: CSR {name} {foreign}; it is not deleted")
        self.result.update(changed=True, action="delete", phase_before=csr_object.phase(existing))
        self.set_diff(existing, None)
        if not self.module.check_mode:
            self.delete(existing)


def _visible(obj):
    """The parts of a CSR object a reviewer decides on; never anything secret (a CSR holds none)."""
    if not obj:
        return {}
    metadata = obj.get("metadata") or {}
    return {"metadata": {k: metadata[k] for k in ("name", "labels", "annotations") if metadata.get(k)},
            "spec": {k: v for k, v in (obj.get("spec") or {}).items()
                     if k in ("request", "signerName", "usages", "expirationSeconds")}}


def checked_request(item, csrs):
    runner = CsrRequest(item, csrs)
    runner.validate()
    runner.load_request_or_key()
    return runner


def main():
    module = AnsibleModule(argument_spec=batch_argument_spec(ARGUMENT_SPEC, "requests"),
                           supports_check_mode=True, mutually_exclusive=list(EXCLUSIVE_SOURCES))
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    client = SharedClient(module.params)
    csrs = csr_object.reads(client, batch=module.params["requests"] is not None)
    run_batch(module, ARGUMENT_SPEC, "requests", lambda item: checked_request(item, csrs),
              (InputError, KubeError, csr_object.IssuanceError),
              describe=lambda params: params["user"] or params["name"] or "request", shared=AUTH_ARG_SPEC,
              client=client, identity=identity_of("user", "private_key_path"))


if __name__ == "__main__":
    main()
