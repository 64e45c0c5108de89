# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CertificateSigningRequest object as the API holds it: manifest, phase, ownership, waiting, verification."""

from __future__ import annotations

import base64
import datetime
import time

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import Certificate, Request
from ansible_collections.kubeaccess.x509.plugins.module_utils.file_io import read_file, write_atomic
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import (
    ObjectReads, permission_for, signer_permission)
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import dns_safe

CSR_API = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "kubeaccess.x509"
USER_ANNOTATION = "kubeaccess.x509/user"
CERTIFICATE_MODE = 0o644


class IssuanceError(Exception):
    """The certificate did not come, or is not what was asked for."""


def default_name(user, fingerprint):
    """The CSR name of a user's key: the same key always finds its CSR, and two keys never share one."""
    return f"{dns_safe(user)}-{fingerprint.replace(':', '')[:16]}"


def path(name):
    if not name:
        # The collection's path: a DELETE there is a deletecollection of every CSR.
        raise ValueError("a CSR path needs a name")
    return f"{CSR_API}/{name}"


def reads(client, batch):
    """How a module run reads CSRs: a batch LISTs them (once, and once per poll while waiting) where a single
    item GETs its own; `client` is the run's batch.SharedClient."""
    return ObjectReads(client, CSR_API, batch)


def manifest(name, request_pem, signer, usages, expiration_seconds, labels=None, annotations=None):
    metadata = {"name": name, "labels": dict(labels or {}, **{MANAGED_BY_LABEL: MANAGED_BY})}
    if annotations:
        metadata["annotations"] = dict(annotations)
    spec = {"request": base64.b64encode(request_pem).decode(), "signerName": signer, "usages": list(usages)}
    if expiration_seconds is not None:
        spec["expirationSeconds"] = expiration_seconds
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": metadata,
            "spec": spec}


def request_of(obj):
    return Request(base64.b64decode(obj["spec"]["request"]))


def certificate_pem(obj):
    encoded = (obj.get("status") or {}).get("certificate")
    return base64.b64decode(encoded) if encoded else None


def condition(obj, kind):
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind and entry.get("status", "True") == "True":
            return entry
    return None


def phase(obj):
    """pending, approved, issued, denied or failed: what `kubectl get csr` shows, with issuance made explicit."""
    for kind in ("Denied", "Failed"):
        if condition(obj, kind):
            return kind.lower()
    if certificate_pem(obj):
        return "issued"
    return "approved" if condition(obj, "Approved") else "pending"


def is_managed(obj):
    return ((obj.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY


def foreign_reason(obj, fingerprint=None):
    """Why a CSR is not ours, or None. Ours carries our label and, when our key is known (its SHA-256
    `fingerprint`), asks for that key: the API checks that a request is signed by its key, so nobody without the
    key can make one for it, while anybody can copy a label."""
    if not is_managed(obj):
        return f"is not managed by kubeaccess.x509 (no label {MANAGED_BY_LABEL}={MANAGED_BY})"
    if fingerprint:
        try:
            theirs = request_of(obj).fingerprint
        except ValueError:
            return "carries the kubeaccess.x509 label but its request cannot be read"
        if theirs != fingerprint:
            return (f"carries the kubeaccess.x509 label but asks for another key ({theirs}), not ours "
                    f"({fingerprint}): someone else made it")
    return None


def same_spec(obj, wanted):
    """The existing object asks for what `wanted` (a manifest) asks for; signatures may differ."""
    spec, want = obj.get("spec") or {}, wanted["spec"]
    try:
        same_request = request_of(obj).same_request_as(request_of(wanted))
    except ValueError:
        return False
    return (same_request and spec.get("signerName") == want["signerName"]
            and sorted(spec.get("usages") or []) == sorted(want["usages"])
            and spec.get("expirationSeconds") == want.get("expirationSeconds"))


def describe_condition(entry):
    return f"reason {entry.get('reason') or '(none)'}: {entry.get('message') or '(no message)'}"


def not_issued_diagnosis(name, signer, timeout):
    if not signer.startswith("kubernetes.io/"):
        return (f"CSR {name} is approved but its signer {signer} issued no certificate within {timeout} s. Only the "
                f"controller that serves {signer} signs it (cert-manager's CertificateSigningRequest controller for "
                "clusterissuers.cert-manager.io/ and issuers.cert-manager.io/ names, a Vault or other external "
                "signer): check that it runs, knows this signer name and may update the CSR's status (its logs "
                "name the request); for a slow signer, raise wait_timeout")
    return (f"CSR {name} is approved but no certificate was issued within {timeout} s. Likely causes: "
            "kube-controller-manager runs without --cluster-signing-cert-file and --cluster-signing-key-file (or "
            f"the per-signer --cluster-signing-kube-apiserver-client-* flags); or a managed cluster (EKS, for "
            f"example) that does not sign {signer}")


def wait_for_certificate(csrs, name, timeout):
    """Poll `csrs` (reads) until the certificate is there; Denied, Failed, deletion or the timeout end the wait
    with a reason. kube-controller-manager signs within milliseconds of an approval, so polls start often."""
    deadline = time.monotonic() + timeout
    interval = 0.02
    obj = csrs.current(name)
    while True:
        if obj is None:
            raise IssuanceError(f"CSR {name} was deleted while waiting for its certificate")
        current = phase(obj)
        if current == "issued":
            return obj
        if current in ("denied", "failed"):
            entry = condition(obj, current.capitalize())
            raise IssuanceError(f"CSR {name} is {current}, {describe_condition(entry)}")
        if time.monotonic() >= deadline:
            if current == "pending":
                raise IssuanceError(f"CSR {name} is still pending after {timeout} s: nobody approved it. Approve "
                                    f"it with kubeaccess.x509.k8s_csr_approve or `kubectl certificate approve "
                                    f"{name}`")
            raise IssuanceError(not_issued_diagnosis(name, obj["spec"]["signerName"], timeout))
        time.sleep(min(interval, max(deadline - time.monotonic(), 0.05)))
        interval = min(interval * 1.5, 2.0)
        obj = csrs.reread(name)


def verify_certificate(cert_pem, request, ca_pem=None):
    """The issued certificate carries the requested key and subject; returns what was checked.

    Chaining to the CA is reported, not required: the client signer's CA may differ from the CA the connection
    trusts (the kube-apiserver's serving CA).
    """
    cert = Certificate(cert_pem)
    if cert.fingerprint != request.fingerprint:
        raise IssuanceError(f"the issued certificate's public key ({cert.fingerprint}) is not the requested one "
                            f"({request.fingerprint}); it was not issued for this request")
    if cert.common_name != request.common_name or sorted(cert.organizations) != sorted(request.organizations):
        raise IssuanceError(f"the issued certificate is for CN={cert.common_name!r}, O={cert.organizations}, not "
                            f"the requested CN={request.common_name!r}, O={request.organizations}")
    return cert, {"public_key": True, "subject": True,
                  "chains_to_cluster_ca": cert.issued_by(ca_pem) if ca_pem else None}


def other_key_in(certificate_path, fingerprint):
    """The key fingerprint of the certificate already in `certificate_path` when it is not `fingerprint`'s: the key
    beside that file is that other key's."""
    data = read_file(certificate_path) if certificate_path else None
    if not data:
        return None
    try:
        stored = Certificate(data).fingerprint
    except ValueError:
        return None
    return stored if stored != fingerprint else None


def store_issued(obj, request, ca_pem, certificate_path, check_mode):
    """Verify the issued certificate, write it to certificate_path if given; returns (result, file_changed)."""
    cert, verification = verify_certificate(certificate_pem(obj), request, ca_pem)
    result = dict(cert.describe(), certificate=cert.pem.decode(), verification=verification,
                  lifetime_seconds=int(cert.lifetime_seconds()),
                  requested_expiration_seconds=obj["spec"].get("expirationSeconds"))
    changed = bool(certificate_path) and read_file(certificate_path) != cert.pem
    if changed and not check_mode:
        write_atomic(certificate_path, cert.pem, CERTIFICATE_MODE)
    return result, changed


def approval_requirements(name, signer):
    """What an approver needs: RBAC on the approval subresource and the signer-specific approve verb."""
    return [permission_for("PUT", f"{path(name)}/approval"), signer_permission(signer)]


def with_condition(obj, kind, reason, message):
    """The object as read (same resourceVersion) plus one decision: the update is refused if it changed since."""
    updated = dict(obj, status=dict(obj.get("status") or {}))
    updated["status"]["conditions"] = list(updated["status"].get("conditions") or []) + [{
        "type": kind, "status": "True", "reason": reason, "message": message,
        "lastUpdateTime": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}]
    return updated
