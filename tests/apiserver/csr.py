"""The CertificateSigningRequest registry: validation, strategy and the CertificateSubjectRestriction admission.

Sources: pkg/apis/certificates/validation/validation.go, pkg/registry/certificates/certificates/strategy.go,
plugin/pkg/admission/certificates/subjectrestriction.
"""

import base64
import binascii

from cryptography import x509

from . import errors
from .pki import KNOWN_USAGES
from .store import timestamp

CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving"
LEGACY_SIGNER = "kubernetes.io/legacy-unknown"
CONDITION_TYPES = ("Approved", "Denied", "Failed")
MIN_EXPIRATION_SECONDS = 600


def decode_request(spec_request):
    """spec.request is base64 in JSON; the real decoder fails with a BadRequest before validation."""
    try:
        return base64.b64decode(spec_request, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        position = _first_bad_base64_byte(spec_request)
        raise errors.bad_request(
            "CertificateSigningRequest in version \"v1\" cannot be handled as a CertificateSigningRequest: "
            f"illegal base64 data at input byte {position}") from exc


def _first_bad_base64_byte(text):
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    for index, char in enumerate(str(text)):
        if char not in alphabet:
            return index
    return len(str(text))


def parse_request(pem):
    """ParseCSR + CheckSignature; returns (csr, error detail)."""
    text = pem.decode("ascii", "replace")
    begin = "-----BEGIN CERTIFICATE REQUEST-----"
    if begin not in text:
        return None, "PEM block type must be CERTIFICATE REQUEST"
    start = text.index(begin)
    end_marker = "-----END CERTIFICATE REQUEST-----"
    end = text.find(end_marker, start)
    if end < 0:
        return None, "PEM block type must be CERTIFICATE REQUEST"
    # Only the first PEM block counts, as pem.Decode does; anything before it must not be another block.
    first_begin = text.find("-----BEGIN ")
    if first_begin != start:
        return None, "PEM block type must be CERTIFICATE REQUEST"
    try:
        csr = x509.load_pem_x509_csr(text[start:end + len(end_marker)].encode())
    except ValueError as exc:
        return None, f"asn1: structure error: {exc}"
    try:
        if not csr.is_signature_valid:
            return None, "x509: ECDSA verification failure"
    except (ValueError, TypeError) as exc:
        return None, _public_key_error(csr, exc)
    return csr, None


# Go refuses an EC point that is not on its curve while parsing, in crypto/internal/nistec's words.
_NAMED_CURVES = {bytes.fromhex("06082a8648ce3d030107"): "P256", bytes.fromhex("06052b81040022"): "P384",
                 bytes.fromhex("06052b81040023"): "P521"}


def _public_key_error(csr, exc):
    if csr.public_key_algorithm_oid == x509.oid.PublicKeyAlgorithmOID.EC_PUBLIC_KEY:
        for curve_oid, curve in _NAMED_CURVES.items():
            if curve_oid in csr.tbs_certrequest_bytes:
                return f"{curve} point not on curve"
    return str(exc)


def _qualified_name_error(value):
    """ValidateSignerName: `domain/path`, domain a DNS subdomain (simplified to the checks users hit)."""
    parts = value.split("/")
    if len(parts) < 2 or not parts[0] or not parts[-1]:
        return "must be a fully qualified domain and path of the form 'example.com/signer-name'"
    return None


def validate_create(resource, obj):
    spec = obj.get("spec") or {}
    name = obj["metadata"].get("name", "")
    errs = errors.FieldErrors()
    raw_request = spec.get("request")
    if not raw_request:
        errs.required("spec.request")
    else:
        pem = decode_request(raw_request)
        detail = parse_request(pem)[1]
        if detail:
            errs.invalid("spec.request", raw_request, detail)
    usages = spec.get("usages") or []
    if not usages:
        errs.required("spec.usages")
    seen = set()
    for index, usage in enumerate(usages):
        if usage not in KNOWN_USAGES:
            errs.not_supported(f"spec.usages[{index}]", usage, KNOWN_USAGES)
        elif usage in seen:
            errs.duplicate(f"spec.usages[{index}]", usage)
        seen.add(usage)
    signer = spec.get("signerName")
    if not signer:
        errs.required("spec.signerName")
    elif signer == LEGACY_SIGNER:
        errs.invalid("spec.signerName", signer, "the legacy signerName is not allowed via this API version")
    else:
        detail = _qualified_name_error(signer)
        if detail:
            errs.invalid("spec.signerName", signer, detail)
    expiration = spec.get("expirationSeconds")
    if expiration is not None and expiration < MIN_EXPIRATION_SECONDS:
        errs.invalid("spec.expirationSeconds", expiration,
                     "may not specify a duration less than 600 seconds (10 minutes)")
    if errs:
        raise errs.error(resource, name)


def admit_create(resource, obj):
    """CertificateSubjectRestriction: no system:masters certificates from the client signer."""
    spec = obj["spec"]
    if spec.get("signerName") != CLIENT_SIGNER:
        return
    csr = parse_request(base64.b64decode(spec["request"]))[0]
    organizations = [a.value for a in csr.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)]
    if "system:masters" in organizations:
        raise errors.forbidden(resource, obj["metadata"]["name"],
                               "use of kubernetes.io/kube-apiserver-client signer with system:masters group "
                               "is not allowed")


def prepare_create(obj, user):
    """Fill the requester identity and reset status: users cannot create pre-approved requests."""
    spec = obj.setdefault("spec", {})
    for field in ("username", "uid", "groups", "extra"):
        spec.pop(field, None)
    spec["username"] = user.name
    if user.uid:
        spec["uid"] = user.uid
    spec["groups"] = list(user.groups)
    if user.extra:
        spec["extra"] = user.extra
    obj["status"] = {}


def prepare_update(old, new, subresource):
    """Copy what the endpoint may not change: spec always; status unless it is /approval or /status."""
    new["spec"] = old["spec"]
    if subresource == "approval":
        status = dict(old.get("status") or {})
        status["conditions"] = (new.get("status") or {}).get("conditions") or []
        new["status"] = status
        new["metadata"] = dict(old["metadata"])
        _fill_condition_timestamps(old, status["conditions"])
    elif subresource == "status":
        status = dict(new.get("status") or {})
        new["status"] = status
        new["metadata"] = dict(old["metadata"])
        # csrStatusStrategy: keep the Approved/Denied instances as they were (adding or removing one is then refused
        # by validate_update), and fill missing condition timestamps.
        for ctype in ("Approved", "Denied"):
            _preserve_condition_instances(old, status.get("conditions") or [], ctype)
        _fill_condition_timestamps(old, status.get("conditions") or [])
    else:
        new["status"] = old.get("status") or {}
    if not new["status"]:
        new["status"] = {}


def _preserve_condition_instances(old, conditions, ctype):
    """preserveConditionInstances: the same number of `ctype` conditions as before means the old ones, unchanged."""
    old_found = [c for c in (old.get("status") or {}).get("conditions") or [] if c.get("type") == ctype]
    new_indices = [i for i, c in enumerate(conditions) if c.get("type") == ctype]
    if len(old_found) == len(new_indices):
        for index, condition in zip(new_indices, old_found):
            conditions[index] = condition


def _fill_condition_timestamps(old, conditions):
    """populateConditionTimestamps: lastUpdateTime now; lastTransitionTime kept while type and status are."""
    now = timestamp()
    for condition in conditions:
        if not condition.get("lastUpdateTime"):
            condition["lastUpdateTime"] = now
        previous = _condition(old, condition.get("type"))
        if not condition.get("lastTransitionTime"):
            keep = previous and previous.get("status") == condition.get("status")
            condition["lastTransitionTime"] = previous.get("lastTransitionTime", now) if keep else now


def _condition(obj, condition_type):
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == condition_type:
            return condition
    return None


def _validate_conditions(conditions, errs):
    """validateConditions: type required, Approved/Denied/Failed only True, others True/False/Unknown, no repeats.
    Returns the condition types seen."""
    seen = set()
    for index, condition in enumerate(conditions):
        ctype = condition.get("type")
        if not ctype:
            errs.required(f"status.conditions[{index}].type")
        allowed_status = ["True"] if ctype in CONDITION_TYPES else ["False", "True", "Unknown"]
        if not condition.get("status"):
            errs.required(f"status.conditions[{index}].status")
        elif condition["status"] not in allowed_status:
            errs.not_supported(f"status.conditions[{index}].status", condition["status"], allowed_status)
        if ctype in seen:
            errs.duplicate(f"status.conditions[{index}].type", ctype)
        seen.add(ctype)
    if "Approved" in seen and "Denied" in seen:
        errs.invalid("status.conditions", "Denied", "Approved and Denied conditions are mutually exclusive")
    return seen


def validate_update(resource, old, new, subresource=""):
    """Condition rules and the write-once certificate (validateCertificateSigningRequestUpdate)."""
    errs = errors.FieldErrors()
    seen = _validate_conditions((new.get("status") or {}).get("conditions") or [], errs)
    old_types = {c.get("type") for c in (old.get("status") or {}).get("conditions") or []}
    for ctype in CONDITION_TYPES:
        if ctype in old_types and ctype not in seen:
            errs.forbidden("status.conditions", f'updates may not remove a condition of type "{ctype}"')
    if subresource != "approval":  # only /approval may add Approved or Denied
        for ctype in ("Approved", "Denied"):
            if ctype in seen and ctype not in old_types:
                errs.forbidden("status.conditions", f'updates may not add a condition of type "{ctype}"')
    old_cert = (old.get("status") or {}).get("certificate")
    new_cert = (new.get("status") or {}).get("certificate")
    if old_cert and new_cert != old_cert:
        errs.forbidden("status.certificate", "updates may not modify existing certificate content")
    if new_cert and new_cert != old_cert:
        try:
            x509.load_pem_x509_certificates(base64.b64decode(new_cert))
        except ValueError:
            errs.invalid("status.certificate", "<certificate data>", "must contain at least one CERTIFICATE PEM block")
    if errs:
        raise errs.error(resource, new["metadata"]["name"])


def display_condition(obj):
    """kubectl's CONDITION column: Approved/Denied/Failed, `Issued` when a certificate is set, else Pending."""
    status = obj.get("status") or {}
    names = [c["type"] for c in status.get("conditions") or [] if c.get("type") in CONDITION_TYPES]
    if status.get("certificate"):
        names.append("Issued")
    return ",".join(names) if names else "Pending"


def _with_remainder(whole, unit, rest, rest_unit):
    return f"{whole}{unit}{rest}{rest_unit}" if rest else f"{whole}{unit}"


def human_duration(seconds):
    """duration.HumanDuration from k8s.io/apimachinery, as kubectl prints ages and durations."""
    seconds = int(seconds)
    minutes, hours = seconds // 60, seconds // 3600
    days = hours // 24
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return _with_remainder(minutes, "m", seconds % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return _with_remainder(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return _with_remainder(days, "d", hours % 24, "h")
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        return _with_remainder(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"
