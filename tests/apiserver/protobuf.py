"""Decode Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) into the dicts JSON would give.

A body is the magic b"k8s\\x00" followed by a runtime.Unknown whose `raw` holds the object's own message. Only the
protobuf wire format is implemented here (no protobuf library); what the fields mean comes from the schema tables
below, one per API group, with the field numbers of the upstream `generated.proto` files.

A schema maps field number -> (JSON name, type). A type is a scalar name ("string", "int32", "int64", "bool",
"bytes" (base64 text, as JSON has it), "time" (metav1.Time, RFC 3339 text), "string-list" (a message holding
`repeated string items = 1`, such as ExtraValue)), a nested schema dict, or Repeated/Map/Pointer around one.

Kubernetes' gogo-generated encoders write every non-pointer field, empty or not, so the output drops empty strings,
zero numbers, false, empty lists and empty maps as Go's `omitempty` would; a Pointer field is kept whenever it was
sent. Nested messages are kept even when empty, as JSON keeps structs. Fields a schema does not list are skipped.
"""

import base64
import datetime
from typing import NamedTuple

MAGIC = b"k8s\x00"
PROTOBUF_CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class Repeated(NamedTuple):
    """A repeated field: a list in JSON."""

    item: object


class Map(NamedTuple):
    """map<string, value>: on the wire a repeated entry message {key = 1, value = 2}."""

    value: object


class Pointer(NamedTuple):
    """A Go pointer field: sent only when set, so kept even when it holds a zero value."""

    item: object


# -- k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto ----------------------------------------------------------
OWNER_REFERENCE = {
    5: ("apiVersion", "string"),
    1: ("kind", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    6: ("controller", Pointer("bool")),
    7: ("blockOwnerDeletion", Pointer("bool")),
}

OBJECT_META = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    4: ("selfLink", "string"),
    5: ("uid", "string"),
    6: ("resourceVersion", "string"),
    7: ("generation", "int64"),
    8: ("creationTimestamp", "time"),
    9: ("deletionTimestamp", Pointer("time")),
    10: ("deletionGracePeriodSeconds", Pointer("int64")),
    11: ("labels", Map("string")),
    12: ("annotations", Map("string")),
    13: ("ownerReferences", Repeated(OWNER_REFERENCE)),
    14: ("finalizers", Repeated("string")),
    # 17 managedFields is not decoded.
}

LABEL_SELECTOR_REQUIREMENT = {
    1: ("key", "string"),
    2: ("operator", "string"),
    3: ("values", Repeated("string")),
}

LABEL_SELECTOR = {
    1: ("matchLabels", Map("string")),
    2: ("matchExpressions", Repeated(LABEL_SELECTOR_REQUIREMENT)),
}

PRECONDITIONS = {
    1: ("uid", Pointer("string")),
    2: ("resourceVersion", Pointer("string")),
}

DELETE_OPTIONS = {
    1: ("gracePeriodSeconds", Pointer("int64")),
    2: ("preconditions", PRECONDITIONS),
    3: ("orphanDependents", Pointer("bool")),
    4: ("propagationPolicy", Pointer("string")),
    5: ("dryRun", Repeated("string")),
}

# -- k8s.io/apimachinery/pkg/runtime/generated.proto ---------------------------------------------------------------
TYPE_META = {
    1: ("apiVersion", "string"),
    2: ("kind", "string"),
}

UNKNOWN = {
    1: ("typeMeta", TYPE_META),
    2: ("raw", "raw"),  # the object's own message, decoded separately
    3: ("contentEncoding", "string"),
    4: ("contentType", "string"),
}

# -- k8s.io/api/authentication/v1/generated.proto (SelfSubjectReview: authentication/v1beta1, same numbers) --------
USER_INFO = {
    1: ("username", "string"),
    2: ("uid", "string"),
    3: ("groups", Repeated("string")),
    4: ("extra", Map("string-list")),
}

SELF_SUBJECT_REVIEW = {
    1: ("metadata", OBJECT_META),
    2: ("status", {1: ("userInfo", USER_INFO)}),
}

TOKEN_REVIEW = {
    1: ("metadata", OBJECT_META),
    2: ("spec", {
        1: ("token", "string"),
        2: ("audiences", Repeated("string")),
    }),
    3: ("status", {
        1: ("authenticated", "bool"),
        2: ("user", USER_INFO),
        4: ("audiences", Repeated("string")),
        3: ("error", "string"),
    }),
}

BOUND_OBJECT_REFERENCE = {
    1: ("kind", "string"),
    2: ("apiVersion", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),  # "uID" in the .proto, "uid" in JSON
}

TOKEN_REQUEST = {
    1: ("metadata", OBJECT_META),
    2: ("spec", {
        1: ("audiences", Repeated("string")),
        4: ("expirationSeconds", Pointer("int64")),
        3: ("boundObjectRef", BOUND_OBJECT_REFERENCE),
    }),
    3: ("status", {
        1: ("token", "string"),
        2: ("expirationTimestamp", "time"),
    }),
}

AUTHENTICATION_V1 = {
    "SelfSubjectReview": SELF_SUBJECT_REVIEW,
    "TokenReview": TOKEN_REVIEW,
    "TokenRequest": TOKEN_REQUEST,
}

# -- k8s.io/api/authorization/v1/generated.proto -------------------------------------------------------------------
FIELD_SELECTOR_ATTRIBUTES = {
    1: ("rawSelector", "string"),
    2: ("requirements", Repeated({
        1: ("key", "string"),
        2: ("operator", "string"),
        3: ("values", Repeated("string")),
    })),
}

LABEL_SELECTOR_ATTRIBUTES = {
    1: ("rawSelector", "string"),
    2: ("requirements", Repeated(LABEL_SELECTOR_REQUIREMENT)),
}

RESOURCE_ATTRIBUTES = {
    1: ("namespace", "string"),
    2: ("verb", "string"),
    3: ("group", "string"),
    4: ("version", "string"),
    5: ("resource", "string"),
    6: ("subresource", "string"),
    7: ("name", "string"),
    8: ("fieldSelector", FIELD_SELECTOR_ATTRIBUTES),
    9: ("labelSelector", LABEL_SELECTOR_ATTRIBUTES),
}

NON_RESOURCE_ATTRIBUTES = {
    1: ("path", "string"),
    2: ("verb", "string"),
}

SUBJECT_ACCESS_REVIEW_SPEC = {
    1: ("resourceAttributes", RESOURCE_ATTRIBUTES),
    2: ("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES),
    3: ("user", "string"),
    4: ("groups", Repeated("string")),
    5: ("extra", Map("string-list")),
    6: ("uid", "string"),
}

SUBJECT_ACCESS_REVIEW_STATUS = {
    1: ("allowed", "bool"),
    4: ("denied", "bool"),
    2: ("reason", "string"),
    3: ("evaluationError", "string"),
}

SUBJECT_ACCESS_REVIEW = {
    1: ("metadata", OBJECT_META),
    2: ("spec", SUBJECT_ACCESS_REVIEW_SPEC),
    3: ("status", SUBJECT_ACCESS_REVIEW_STATUS),
}

SELF_SUBJECT_ACCESS_REVIEW = {
    1: ("metadata", OBJECT_META),
    2: ("spec", {
        1: ("resourceAttributes", RESOURCE_ATTRIBUTES),
        2: ("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES),
    }),
    3: ("status", SUBJECT_ACCESS_REVIEW_STATUS),
}

SELF_SUBJECT_RULES_REVIEW = {
    1: ("metadata", OBJECT_META),
    2: ("spec", {1: ("namespace", "string")}),
    3: ("status", {
        1: ("resourceRules", Repeated({
            1: ("verbs", Repeated("string")),
            2: ("apiGroups", Repeated("string")),
            3: ("resources", Repeated("string")),
            4: ("resourceNames", Repeated("string")),
        })),
        2: ("nonResourceRules", Repeated({
            1: ("verbs", Repeated("string")),
            2: ("nonResourceURLs", Repeated("string")),
        })),
        3: ("incomplete", "bool"),
        4: ("evaluationError", "string"),
    }),
}

AUTHORIZATION_V1 = {
    "SubjectAccessReview": SUBJECT_ACCESS_REVIEW,
    "LocalSubjectAccessReview": SUBJECT_ACCESS_REVIEW,
    "SelfSubjectAccessReview": SELF_SUBJECT_ACCESS_REVIEW,
    "SelfSubjectRulesReview": SELF_SUBJECT_RULES_REVIEW,
}

# -- k8s.io/api/certificates/v1/generated.proto --------------------------------------------------------------------
CERTIFICATE_SIGNING_REQUEST = {
    1: ("metadata", OBJECT_META),
    2: ("spec", {
        1: ("request", "bytes"),
        7: ("signerName", "string"),
        8: ("expirationSeconds", Pointer("int32")),
        5: ("usages", Repeated("string")),
        2: ("username", "string"),
        3: ("uid", "string"),
        4: ("groups", Repeated("string")),
        6: ("extra", Map("string-list")),
    }),
    3: ("status", {
        1: ("conditions", Repeated({
            1: ("type", "string"),
            6: ("status", "string"),
            2: ("reason", "string"),
            3: ("message", "string"),
            4: ("lastUpdateTime", "time"),
            5: ("lastTransitionTime", "time"),
        })),
        2: ("certificate", "bytes"),
    }),
}

CERTIFICATES_V1 = {
    "CertificateSigningRequest": CERTIFICATE_SIGNING_REQUEST,
}

# -- k8s.io/api/rbac/v1/generated.proto ----------------------------------------------------------------------------
POLICY_RULE = {
    1: ("verbs", Repeated("string")),
    2: ("apiGroups", Repeated("string")),
    3: ("resources", Repeated("string")),
    4: ("resourceNames", Repeated("string")),
    5: ("nonResourceURLs", Repeated("string")),
}

SUBJECT = {
    1: ("kind", "string"),
    2: ("apiGroup", "string"),
    3: ("name", "string"),
    4: ("namespace", "string"),
}

ROLE_REF = {
    1: ("apiGroup", "string"),
    2: ("kind", "string"),
    3: ("name", "string"),
}

ROLE = {
    1: ("metadata", OBJECT_META),
    2: ("rules", Repeated(POLICY_RULE)),
}

CLUSTER_ROLE = {
    1: ("metadata", OBJECT_META),
    2: ("rules", Repeated(POLICY_RULE)),
    3: ("aggregationRule", {1: ("clusterRoleSelectors", Repeated(LABEL_SELECTOR))}),
}

ROLE_BINDING = {
    1: ("metadata", OBJECT_META),
    2: ("subjects", Repeated(SUBJECT)),
    3: ("roleRef", ROLE_REF),
}

RBAC_V1 = {
    "Role": ROLE,
    "ClusterRole": CLUSTER_ROLE,
    "RoleBinding": ROLE_BINDING,
    "ClusterRoleBinding": ROLE_BINDING,
}

# -- k8s.io/api/core/v1/generated.proto ----------------------------------------------------------------------------
OBJECT_REFERENCE = {
    1: ("kind", "string"),
    2: ("namespace", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
    6: ("resourceVersion", "string"),
    7: ("fieldPath", "string"),
}

LOCAL_OBJECT_REFERENCE = {
    1: ("name", "string"),
}

NAMESPACE = {
    1: ("metadata", OBJECT_META),
    2: ("spec", {1: ("finalizers", Repeated("string"))}),
    3: ("status", {
        1: ("phase", "string"),
        2: ("conditions", Repeated({
            1: ("type", "string"),
            2: ("status", "string"),
            4: ("lastTransitionTime", "time"),
            5: ("reason", "string"),
            6: ("message", "string"),
        })),
    }),
}

CONFIG_MAP = {
    1: ("metadata", OBJECT_META),
    4: ("immutable", Pointer("bool")),
    2: ("data", Map("string")),
    3: ("binaryData", Map("bytes")),
}

SECRET = {
    1: ("metadata", OBJECT_META),
    5: ("immutable", Pointer("bool")),
    2: ("data", Map("bytes")),
    4: ("stringData", Map("string")),
    3: ("type", "string"),
}

SERVICE_ACCOUNT = {
    1: ("metadata", OBJECT_META),
    2: ("secrets", Repeated(OBJECT_REFERENCE)),
    3: ("imagePullSecrets", Repeated(LOCAL_OBJECT_REFERENCE)),
    4: ("automountServiceAccountToken", Pointer("bool")),
}

CONTAINER = {  # only the basics; the other Container fields are skipped
    1: ("name", "string"),
    2: ("image", "string"),
    3: ("command", Repeated("string")),
    4: ("args", Repeated("string")),
    5: ("workingDir", "string"),
    14: ("imagePullPolicy", "string"),
}

POD = {
    1: ("metadata", OBJECT_META),
    2: ("spec", {  # only the basics; the other PodSpec fields are skipped
        20: ("initContainers", Repeated(CONTAINER)),
        2: ("containers", Repeated(CONTAINER)),
        3: ("restartPolicy", "string"),
        6: ("dnsPolicy", "string"),
        8: ("serviceAccountName", "string"),
        21: ("automountServiceAccountToken", Pointer("bool")),
        10: ("nodeName", "string"),
    }),
    3: ("status", {1: ("phase", "string")}),
}

CORE_V1 = {
    "Namespace": NAMESPACE,
    "ConfigMap": CONFIG_MAP,
    "Secret": SECRET,
    "ServiceAccount": SERVICE_ACCOUNT,
    "Pod": POD,
}

# -- kinds, by apiVersion ------------------------------------------------------------------------------------------
KINDS = {
    "v1": CORE_V1,
    "authentication.k8s.io/v1": AUTHENTICATION_V1,
    "authorization.k8s.io/v1": AUTHORIZATION_V1,
    "certificates.k8s.io/v1": CERTIFICATES_V1,
    "rbac.authorization.k8s.io/v1": RBAC_V1,
}

# Typed clients send meta/v1 options under the version of the API they call (e.g. "rbac.authorization.k8s.io/v1").
ANY_VERSION_KINDS = {
    "DeleteOptions": DELETE_OPTIONS,
}


def decode(body: bytes) -> dict:
    """Decode a Kubernetes protobuf envelope (magic b'k8s\\x00' + runtime.Unknown) into the same dict the
    JSON body would give (apiVersion, kind, metadata, spec, status, ...). Raises ValueError with a clear
    message for a kind it has no schema for, or malformed input."""
    body = bytes(body)
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf body: it does not start with the magic bytes 'k8s\\x00'")
    envelope = _message(body[len(MAGIC):], UNKNOWN, keep_empty=True)
    if envelope["contentEncoding"]:
        raise ValueError(f"unsupported protobuf content encoding {envelope['contentEncoding']!r}")
    if envelope["contentType"] not in (None, "", PROTOBUF_CONTENT_TYPE):
        raise ValueError(f"unsupported content type {envelope['contentType']!r} inside the protobuf envelope")
    type_meta = envelope["typeMeta"] or {"apiVersion": "", "kind": ""}
    api_version, kind = type_meta["apiVersion"], type_meta["kind"]
    schema = KINDS.get(api_version, {}).get(kind) or ANY_VERSION_KINDS.get(kind)
    if schema is None:
        raise ValueError(f"no protobuf schema for kind {kind!r} in apiVersion {api_version!r}")
    obj = {"apiVersion": api_version, "kind": kind}
    obj.update(_message(envelope["raw"] or b"", schema))
    return obj


# -- wire format -------------------------------------------------------------------------------------------------
def _varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("malformed protobuf: truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError("malformed protobuf: varint longer than 10 bytes")


def _fields(data):
    """Yield (field number, wire type, value): an int for varint and fixed-width fields, bytes otherwise."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ValueError("malformed protobuf: field number 0")
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if pos + size > len(data):
                raise ValueError(f"malformed protobuf: truncated fixed-width field {number}")
            value, pos = int.from_bytes(data[pos:pos + size], "little"), pos + size
        elif wire == _BYTES:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError(f"malformed protobuf: field {number} runs past the end of its message")
            value, pos = data[pos:pos + size], pos + size
        else:
            raise ValueError(f"malformed protobuf: unsupported wire type {wire} for field {number}")
        yield number, wire, value


def _signed(value, bits=64):
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


# -- schema-driven decoding ----------------------------------------------------------------------------------------
def _message(data, schema, keep_empty=False):
    values = {}
    for number, wire, raw in _fields(data):
        if number in schema:
            _collect(values, *schema[number], wire, raw)
    result = {}
    for name, kind in schema.values():
        if name in values:
            value = values[name]
        elif keep_empty:
            value = None
        else:
            continue
        if keep_empty or _kept(kind, value):
            result[name] = value
    return result


def _collect(values, name, kind, wire, raw):
    """Add one field occurrence to `values`: repeated fields and map entries accumulate, others replace."""
    if isinstance(kind, Repeated):  # gogo's proto2 encoders never pack, so each item is its own field
        values.setdefault(name, []).append(_value(kind.item, wire, raw, name))
    elif isinstance(kind, Map):
        key, value = _map_entry(raw, kind.value, wire, name)
        values.setdefault(name, {})[key] = value
    else:
        values[name] = _value(kind.item if isinstance(kind, Pointer) else kind, wire, raw, name)


def _kept(kind, value):
    if value is None:  # a zero metav1.Time, which JSON writes as null
        return False
    if isinstance(kind, (Pointer, dict)):
        return True
    return value not in ("", 0, False, [], {})


def _map_entry(data, value_kind, wire, name):
    if wire != _BYTES:
        raise ValueError(f"malformed protobuf: map field {name!r} is not length-delimited")
    key, value = "", None
    for number, entry_wire, raw in _fields(data):
        if number == 1:
            key = _value("string", entry_wire, raw, f"{name} key")
        elif number == 2:
            value = _value(value_kind, entry_wire, raw, f"{name} value")
    if value is None:  # an entry without its value field holds the zero value
        value = {"string": "", "bytes": "", "string-list": []}.get(value_kind, {})
    return key, value


def _value(kind, wire, raw, name):
    if isinstance(kind, dict):
        _expect(wire, _BYTES, name)
        return _message(raw, kind)
    if kind == "time":
        _expect(wire, _BYTES, name)
        return _time(raw, name)
    if kind == "string-list":
        _expect(wire, _BYTES, name)
        return [_value("string", item_wire, item, name) for number, item_wire, item in _fields(raw) if number == 1]
    return _scalar(kind, wire, raw, name)


def _scalar(kind, wire, raw, name):
    if kind in ("string", "bytes", "raw"):
        _expect(wire, _BYTES, name)
        if kind == "raw":
            return bytes(raw)
        if kind == "bytes":
            return base64.b64encode(raw).decode("ascii")
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"malformed protobuf: field {name!r} is not valid UTF-8") from exc
    _expect(wire, _VARINT, name)
    if kind == "bool":
        return raw != 0
    if kind == "int32":
        return _signed(raw & 0xFFFFFFFF, 32)
    if kind == "int64":
        return _signed(raw & 0xFFFFFFFFFFFFFFFF)
    raise ValueError(f"schema error: unknown field type {kind!r} for {name!r}")


def _time(raw, name):
    """metav1.Time: Timestamp {seconds = 1, nanos = 2}; empty is the zero time. JSON keeps whole seconds only."""
    seconds = None
    for number, wire, value in _fields(raw):
        if number == 1:
            seconds = _scalar("int64", wire, value, name)
    if seconds is None:
        return None
    try:
        moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    except OverflowError as exc:
        raise ValueError(f"malformed protobuf: time {name!r} is out of range ({seconds} s)") from exc
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _expect(wire, expected, name):
    if wire != expected:
        raise ValueError(f"malformed protobuf: field {name!r} has wire type {wire}, expected {expected}")
