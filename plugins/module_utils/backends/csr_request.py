# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend of the k8s_csr_request module: a private key (made or reused) or a request made elsewhere, submitted
as a CertificateSigningRequest, kept idempotent by the local certificate, and the issued certificate verified and
stored; or the CSR object deleted (state=absent)."""

from __future__ import annotations

import os

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.kubeaccess.x509.plugins.module_utils import csr_object
from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import (
    SharedClient, batch_argument_spec, identity_of, run_batch)
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import (
    HAS_CRYPTOGRAPHY, Certificate, CryptoInputError, Request, build_csr_pem, generate_private_key,
    load_private_key, private_key_pem, public_key_fingerprint, unusable_key_reason)
from ansible_collections.kubeaccess.x509.plugins.module_utils.file_io import (
    mode_of, read_file, writable_dir_error, write_new)
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import (
    AUTH_ARG_SPEC, ApiError, KubeError, delete_options)
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import (
    expiration_error, identity_name_error, label_errors, object_name_error, parse_renew_before,
    signer_name_error, usages_error)

KEY_MODE = 0o600
# A rotated key waits here, beside the key it replaces, until the caller has put its certificate to use.
NEXT_KEY_SUFFIX = ".next"

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
    rotate_key=dict(type="bool", default=False),
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
        self.key_path = self.params["private_key_path"]  # where the key of this request is (or will be) kept
        self.request = None
        self.user = self.params["user"]
        self.groups = self.params["groups"]
        self.renew_before = None  # (kind, amount), parsed by validate()
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
        errors.append(signer_name_error("signer_name", params["signer_name"]))
        errors.append(usages_error("usages", params["usages"]))
        errors += label_errors("labels", params["labels"])
        # Annotation keys follow the rules of label keys; their values are free text.
        errors += label_errors("annotations", dict.fromkeys(params["annotations"]))
        if not params["submit"]:
            errors += [f"{option}: cannot be combined with submit=false, which makes a new request from "
                       "private_key_path and submits nothing"
                       for option in ("csr_path", "csr_content") if params[option]]
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
                raise InputError(f"csr_path: {params['csr_path']} does not exist; give the path of a PEM certificate "
                                 "request (as `openssl req -new` writes), or the request itself as csr_content")
            try:
                self.request = Request(data)
            except CryptoInputError as exc:
                raise InputError(f"{source}: {exc}") from None
            self._check_request_identity(source)
            return
        path = params["private_key_path"]
        if not path:
            return
        staged = path + NEXT_KEY_SUFFIX
        # A rotation under way is completed with its key, whatever rotate_key says now.
        if params["state"] == "present" and os.path.exists(staged):
            self.key, self.key_path = self.loaded_key(staged), staged
        else:
            data = read_file(path)
            if data is not None:
                self.key = self.loaded_key(path, data)
            elif params["state"] == "present" and not self.module.check_mode:
                self.key = self.generated_key()
            if self.key is not None and params["state"] == "present" and params["rotate_key"] \
                    and self.renewal_due_for(self.key):
                self.key_path = staged
                self.key = None if self.module.check_mode else self.generated_key()
        if self.key is not None and params["state"] == "present":
            self.groups = self.groups or []
            try:
                self.request = Request(build_csr_pem(self.key, self.user, self.groups,
                                                     params["subject_alt_names"]))
            except CryptoInputError as exc:  # names subject_alt_names itself
                raise InputError(str(exc)) from None
            except ValueError as exc:
                raise InputError(f"subject_alt_names: {exc}") from None
        elif self.key is not None:
            self.request = Request(build_csr_pem(self.key, self.user))

    def loaded_key(self, path, data=None):
        """The key in `path`, or a refusal naming the file (a role's user never typed private_key_path) and, where a
        missing key is made anew, that way out too."""
        data = read_file(path) if data is None else data
        way_out = "; or move the file away, and a new key is made in its place" if self.params["state"] == "present" \
            else ""
        try:
            key = load_private_key(data, self.params["private_key_passphrase"], source=f"private_key_path: {path}")
        except CryptoInputError as exc:
            raise InputError(f"{exc}{way_out}") from None
        unusable = unusable_key_reason(key.public_key())
        if unusable:
            raise InputError(f"private_key_path: {path} holds a key the cluster cannot use: {unusable}{way_out}")
        return key

    def generated_key(self):
        self.new_key = True
        params = self.params
        return generate_private_key(params["private_key_type"], params["private_key_size"], params["private_key_curve"])

    def renewal_due_for(self, key):
        """The stored certificate is this key's and is to be replaced (renewal window, or other groups): rotation
        makes a new key for it. A key without its certificate yet is not rotated (a first request, or a run that
        stopped before its certificate came)."""
        cert = self.stored_certificate()
        if cert is None or cert.fingerprint != public_key_fingerprint(key.public_key()):
            return False
        return (cert.in_renewal_window(self.renew_before) or cert.common_name != self.user
                or sorted(cert.organizations) != sorted(self.groups or []))

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
        return None if cert.in_renewal_window(self.renew_before) else cert

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
        if self.key_path and self.key_path != self.params["private_key_path"]:
            self.result["next_private_key_path"] = self.key_path
        self.describe_request()
        cert = self.current_certificate()
        if cert is not None:
            self.result.update(cert.describe(), name=self.name, phase="issued", action="none",
                               certificate=cert.pem.decode())
            if self.params["delete_stale_pending"] and self.params["submit"]:
                self.delete_stale_pending()
            return
        if not self.params["submit"]:
            if self.new_key and not self.claim_key():
                self.use_key_on_disk()
            self.result.update(name=self.name, phase="unsubmitted", action="none")
            # In check mode a missing key is not made, and making it is the change.
            self.result["changed"] |= self.new_key or self.key is None
            return
        client = self.module.client()
        existing, wanted, action = self.decided()
        if self.module.check_mode and action != "reuse":
            self.result["phase"] = "pending"
            return
        if action != "reuse" and self.new_key and not self.claim_key():
            self.use_key_on_disk()
            self.result["changed"] = False
            existing, wanted, action = self.decided()
        obj = existing if action == "reuse" else self.submit(client, existing, wanted)
        if self.params["wait"] and csr_object.phase(obj) != "issued" and not self.module.check_mode:
            obj = csr_object.wait_for_certificate(self.csrs, self.name, self.params["wait_timeout"])
        self.result["phase"] = csr_object.phase(obj)
        if self.result["phase"] == "issued":
            self.store_certificate(client, obj)

    def describe_request(self):
        if self.request is not None:
            self.result.update(request=self.request.pem.decode(), public_key_fingerprint=self.request.fingerprint)

    def decided(self):
        """The CSR of this request's name as read, the one wanted, and what to do: (existing, wanted, action)."""
        wanted = self.manifest()
        existing = self.csrs.get(self.name) if self.name else None
        action = self.decide(existing, wanted)
        self.result.update(name=self.name, action=action)
        self.set_diff(existing if action != "create" else None, wanted if action != "reuse" else existing)
        if action != "reuse":
            self.result["changed"] = True
        return existing, wanted, action

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
        self.module.client().request("DELETE", csr_object.path(name), body=delete_options(existing),
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
        stale = phase == "issued" and same and Certificate(csr_object.certificate_pem(existing)).in_renewal_window(
            self.renew_before)
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

    def claim_key(self):
        """Write the new key, unless another run (for the same user, at the same moment) wrote one at its path since
        this run looked: False then, and nothing written.

        The key is on disk before its request exists: a run killed in between leaves a key that the next run finds
        and submits under the same name, never a request for a key that is lost."""
        try:
            return write_new(self.key_path, private_key_pem(self.key, self.params["private_key_passphrase"]), KEY_MODE)
        except OSError as exc:
            raise InputError(f"private_key_path: cannot write {self.key_path} ({exc}); nothing was submitted. "
                             "Give a path in a directory this user can write") from None

    def use_key_on_disk(self):
        """Go on with the key the other run wrote, as if this run had found it, so that the user gets one key, one
        request and one certificate, whichever run submits, approves and stores them."""
        self.new_key = False
        self.key = self.loaded_key(self.key_path)
        self.request = Request(build_csr_pem(self.key, self.user, self.groups, self.params["subject_alt_names"]))
        self.describe_request()

    def submit(self, client, existing, wanted):
        if existing is not None:
            self.delete(existing)
        try:
            created = client.request("POST", csr_object.CSR_API, body=wanted, expect=(201,))
        except ApiError as exc:
            if exc.already_exists:
                return self.adopt_after_race(wanted)
            # Refused for good, the new key is of no use; after a server error the request may exist, and the
            # next run finds it by this key.
            if self.new_key and exc.status < 500:
                os.unlink(self.key_path)
            raise KubeError(f"the API server refused to create CSR {self.name}: {exc}") from None
        self.csrs.remember(self.name, created)
        return created

    def adopt_after_race(self, wanted):
        obj = self.csrs.get(self.name, fresh=True)
        if obj is None or not csr_object.same_spec(obj, wanted):
            raise InputError(f"name: CSR {self.name} was created by someone else at the same time with another "
                             "request")
        self.result["action"] = "reuse"
        return obj

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
    if runner.name:
        csrs.want(runner.name)
    return runner


MODULE_ARGS = dict(argument_spec=batch_argument_spec(ARGUMENT_SPEC, "requests"), supports_check_mode=True,
                   mutually_exclusive=list(EXCLUSIVE_SOURCES))


def run(module):
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    client = SharedClient(module.params)
    csrs = csr_object.reads(client, batch=module.params["requests"] is not None)
    run_batch(module, ARGUMENT_SPEC, "requests", lambda item: checked_request(item, csrs),
              (InputError, KubeError, csr_object.IssuanceError),
              describe=lambda params: params["user"] or params["name"] or "request", shared=AUTH_ARG_SPEC,
              client=client, identity=identity_of("user", "private_key_path"))
