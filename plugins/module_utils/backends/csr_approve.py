# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend of the k8s_csr_approve module: a CSR checked against the approval policy as the API server holds
it, then approved or denied (the write carrying the resourceVersion checked), and its certificate collected."""

from __future__ import annotations

import itertools

from ansible.module_utils.basic import missing_required_lib

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
MODULE_ARGS = dict(argument_spec=batch_argument_spec(ARGUMENT_SPEC, "csrs"), supports_check_mode=True,
                   required_one_of=[("name", "csrs")], mutually_exclusive=[("name", "csrs")])


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
                          "issued or denied, and pending ones after a day); give the name of an existing one, as "
                          "kubectl get csr lists them")
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
    csrs.want(approval.name)
    return approval


def run(module):
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    client = SharedClient(module.params)
    csrs = csr_object.reads(client, batch=module.params["csrs"] is not None)
    run_batch(module, ARGUMENT_SPEC, "csrs", lambda item: checked_approval(item, csrs),
              (Refusal, KubeError, csr_object.IssuanceError), describe=lambda params: params["name"],
              shared=AUTH_ARG_SPEC, client=client, identity=identity_of("name"))
