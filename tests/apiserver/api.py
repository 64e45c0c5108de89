"""API machinery: request info, authorization, the REST verbs on stored resources, tables, watch."""

import copy
import datetime
import json
import re
import urllib.parse

import jsonpatch
import yaml

from . import csr as csr_registry
from . import errors, protobuf, rbac, resources
from .store import parse_timestamp

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
PATH_SEGMENT_RESOURCES = {"certificatesigningrequests", "roles", "rolebindings", "clusterroles", "clusterrolebindings"}
GENERATION_RESOURCES = {"pods"}  # of what this server keeps, only pods carry metadata.generation in 1.36
TOKEN_MIN_SECONDS = 600
TOKEN_DEFAULT_SECONDS = 3600


class RequestInfo:
    """k8s.io/apiserver/pkg/endpoints/request.RequestInfoFactory, for the paths this server serves."""

    def __init__(self, method, path, query):
        self.path = path
        self.query = query
        self.resource_request = False
        self.group = self.version = self.namespace = self.resource = self.name = self.subresource = ""
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"] and len(parts) >= 3:
            self.version, rest = parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            self.group, self.version, rest = parts[1], parts[2], parts[3:]
        else:
            rest = None
        if rest is not None:
            self.resource_request = True
            if rest[0] == "namespaces" and len(rest) >= 2:
                self.namespace = urllib.parse.unquote(rest[1])
                rest = rest[2:] if len(rest) > 2 else ["namespaces", rest[1]]
            self.resource = rest[0]
            if len(rest) > 1:
                self.name = urllib.parse.unquote(rest[1])
            if len(rest) > 2:
                self.subresource = rest[2]
            self.extra_parts = rest[3:]
        watch = query.get("watch", [""])[0] in ("true", "1")
        if method == "GET":
            self.verb = "get" if self.name else ("watch" if watch else "list")
        elif method == "DELETE":
            self.verb = "delete" if self.name or not self.resource_request else "deletecollection"
        else:
            self.verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
        if not self.resource_request:
            self.verb = method.lower() if method != "GET" else "get"

    def attributes(self, user):
        return rbac.Attributes(user=user, verb=self.verb, resource_request=self.resource_request, group=self.group,
                               resource=self.resource, subresource=self.subresource, namespace=self.namespace,
                               name=self.name, path=self.path)


# -- selectors ---------------------------------------------------------------------------------------------------
_SET_EXPR = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(text):
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def label_matcher(text):
    """labels.Parse for the forms kubectl and clients send: =, ==, !=, in, notin, exists, !exists."""
    requirements = []
    for part in _split_selector(text or ""):
        part = part.strip()
        match = _SET_EXPR.match(part)
        if match:
            key, operator, values = match.group(1), match.group(2), {v.strip() for v in match.group(3).split(",")}
            requirements.append((key, operator, values))
        elif "!=" in part:
            key, value = part.split("!=", 1)
            requirements.append((key.strip(), "notin", {value.strip()}))
        elif "=" in part:
            key, value = part.replace("==", "=").split("=", 1)
            requirements.append((key.strip(), "in", {value.strip()}))
        elif part.startswith("!"):
            requirements.append((part[1:].strip(), "!exists", None))
        elif part:
            requirements.append((part, "exists", None))

    def matches(labels):
        for key, operator, values in requirements:
            present = key in labels
            if operator == "in" and (not present or labels[key] not in values):
                return False
            if operator == "notin" and present and labels[key] in values:
                return False
            if operator == "exists" and not present:
                return False
            if operator == "!exists" and present:
                return False
        return True

    return matches


def field_matcher(resource, text):
    requirements = []
    for part in _split_selector(text or ""):
        negate = "!=" in part
        key, value = re.split(r"!=|==|=", part, maxsplit=1)
        key = key.strip()
        if resource.plural == "certificatesigningrequests":
            # certificates/v1 conversion.go registers its own field label conversion
            if key not in ("metadata.name", "spec.signerName"):
                raise errors.bad_request(f"field label not supported: {key}")
        elif key not in ("metadata.name", "metadata.namespace") and resource.plural not in ("events", "pods"):
            raise errors.bad_request(f'"{key}" is not a known field selector: only "metadata.name", '
                                     '"metadata.namespace"')
        requirements.append((key, value.strip(), negate))

    def matches(obj):
        for key, value, negate in requirements:
            current = obj
            for step in key.split("."):
                current = current.get(step, "") if isinstance(current, dict) else ""
            if (str(current) == value) == negate:
                return False
        return True

    return matches


# -- patches -----------------------------------------------------------------------------------------------------
def merge_patch(target, patch):
    """RFC 7386 JSON merge patch; strategic merge patch is applied the same way for the kinds served here."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # strategic merge directives ($patch, $setElementOrder...) carry no data for these kinds
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply_patch(current, content_type, body):
    kind = (content_type or "").split(";")[0].strip()
    try:
        patch = json.loads(body or b"null")
    except ValueError as exc:
        raise errors.bad_request(f"error decoding patch: {exc}") from exc
    if kind == "application/json-patch+json":
        try:
            return jsonpatch.apply_patch(current, patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
            # patch.go: NewGenericServerResponse(422, ...) with no resource and no causes; the detail is not shown
            raise errors.ApiError(422, "Invalid", "the server rejected our request due to an error in our request",
                                  {}) from exc
    if kind in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        if not isinstance(patch, dict):
            raise errors.bad_request("error decoding patch: patch is not a JSON object")
        return merge_patch(current, patch)
    raise errors.unsupported_media_type(patch=True)


# -- tables ------------------------------------------------------------------------------------------------------
def _age(obj, now):
    created = obj["metadata"].get("creationTimestamp")
    if not created:
        return "<unknown>"
    return csr_registry.human_duration(max(0, (now - parse_timestamp(created)).total_seconds()))


def _column(name, description, kind="string", fmt="", priority=0):
    return {"name": name, "type": kind, "format": fmt, "description": description, "priority": priority}


NAME_COLUMN = _column("Name", "Name must be unique within a namespace.", fmt="name")
AGE_COLUMN = _column("Age", "CreationTimestamp is a timestamp representing the server time when this object was "
                            "created.")


def _table_columns(resource):
    if resource.plural == "certificatesigningrequests":
        return [NAME_COLUMN, AGE_COLUMN, _column("SignerName", "The signer name"),
                _column("Requestor", "Name of the user which submitted the request"),
                _column("RequestedDuration", "The requested duration"),
                _column("Condition", "The current condition of the request")]
    if resource.plural == "pods":
        return [NAME_COLUMN, _column("Ready", "The aggregate readiness state"), _column("Status", "The phase"),
                _column("Restarts", "The number of restarts", "string"), AGE_COLUMN]
    if resource.plural in ("rolebindings", "clusterrolebindings"):
        return [NAME_COLUMN, _column("Role", "Role"), AGE_COLUMN]
    if resource.plural == "namespaces":
        return [NAME_COLUMN, _column("Status", "The status of the namespace"), AGE_COLUMN]
    return [NAME_COLUMN, AGE_COLUMN]


def _table_cells(resource, obj, now):
    name = obj["metadata"]["name"]
    if resource.plural == "certificatesigningrequests":
        spec = obj.get("spec") or {}
        seconds = spec.get("expirationSeconds")
        return [name, _age(obj, now), spec.get("signerName", ""), spec.get("username", ""),
                csr_registry.human_duration(seconds) if seconds else "<none>",
                csr_registry.display_condition(obj)]
    if resource.plural == "pods":
        containers = (obj.get("spec") or {}).get("containers") or []
        return [name, f"0/{len(containers)}", (obj.get("status") or {}).get("phase", "Pending"), "0",
                _age(obj, now)]
    if resource.plural in ("rolebindings", "clusterrolebindings"):
        ref = obj.get("roleRef") or {}
        return [name, f"{ref.get('kind')}/{ref.get('name')}", _age(obj, now)]
    if resource.plural == "namespaces":
        return [name, (obj.get("status") or {}).get("phase", "Active"), _age(obj, now)]
    return [name, _age(obj, now)]


def wants_table(accept):
    return "as=Table" in (accept or "")


def to_table(resource, objects, list_rv, include_object):
    now = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    for obj in objects:
        if include_object == "None":
            embedded = None
        elif include_object == "Object":
            embedded = obj
        else:
            embedded = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
        rows.append({"cells": _table_cells(resource, obj, now), "object": embedded})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": list_rv},
            "columnDefinitions": _table_columns(resource), "rows": rows}


# -- object validation shared by the kinds ---------------------------------------------------------------------
def validate_name(resource, name, errs):
    if resource.plural in PATH_SEGMENT_RESOURCES:
        if name in (".", "..") or "/" in name or "%" in name:
            errs.invalid("metadata.name", name, "may not contain '/' or '%' and may not be '.' or '..'")
    elif resource.plural == "namespaces":
        if len(name) > 63 or not DNS_LABEL.match(name):
            errs.invalid("metadata.name", name,
                         "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                         "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
                         "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
    elif len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        errs.invalid("metadata.name", name,
                     "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                     "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                     "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def validate_labels(obj, errs):
    for key, value in ((obj.get("metadata") or {}).get("labels") or {}).items():
        if not isinstance(value, str) or len(value) > 63 or (value and not re.match(
                r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", value)):
            errs.invalid("metadata.labels", value,
                         "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                         "or '.', and must start and end with an alphanumeric character")
        name = key.split("/")[-1]
        if not name or len(name) > 63 or not re.match(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$", name):
            errs.invalid("metadata.labels", key, "name part must consist of alphanumeric characters, '-', '_' or "
                                                 "'.', and must start and end with an alphanumeric character")


SUBJECT_KINDS = ["ServiceAccount", "User", "Group"]


def validate_binding(resource, obj, errs):
    ref = obj.get("roleRef") or {}
    if not ref.get("name"):
        errs.required("roleRef.name")
    allowed_kinds = ["ClusterRole"] if resource.plural == "clusterrolebindings" else ["Role", "ClusterRole"]
    if ref.get("kind") not in allowed_kinds:
        errs.not_supported("roleRef.kind", ref.get("kind", ""), allowed_kinds)
    if ref.get("apiGroup") != rbac.RBAC_GROUP:
        errs.not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [rbac.RBAC_GROUP])
    for index, subject in enumerate(obj.get("subjects") or []):
        path = f"subjects[{index}]"
        if not subject.get("name"):
            errs.required(f"{path}.name")
        kind = subject.get("kind")
        if kind not in SUBJECT_KINDS:
            errs.not_supported(f"{path}.kind", kind or "", SUBJECT_KINDS)
        elif kind == "ServiceAccount":
            if subject.get("apiGroup"):
                errs.not_supported(f"{path}.apiGroup", subject["apiGroup"], [""])
            if resource.plural == "clusterrolebindings" and not subject.get("namespace"):
                errs.required(f"{path}.namespace")
        elif subject.get("apiGroup") != rbac.RBAC_GROUP:
            errs.not_supported(f"{path}.apiGroup", subject.get("apiGroup", ""), [rbac.RBAC_GROUP])


def role_ref_go(ref):
    return {"APIGroup": ref.get("apiGroup", ""), "Kind": ref.get("kind", ""), "Name": ref.get("name", "")}


def load_body(raw, content_type):
    if not raw:
        return None
    kind = (content_type or "application/json").split(";")[0].strip()
    try:
        if kind in ("application/yaml", "application/apply-patch+yaml"):
            return yaml.safe_load(raw)
        if kind == "application/vnd.kubernetes.protobuf":
            return protobuf.decode(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"the body of the request could not be decoded: {exc}") from exc


def find_resource(info):
    resource = resources.find(info.group, info.version, info.resource)
    if resource is None:
        raise errors.path_not_found()
    if info.subresource:
        allowed = {sub for sub, _verbs in resource.subresources}
        if info.subresource not in allowed or getattr(info, "extra_parts", None):
            raise errors.path_not_found()
    # A namespace's own name lands in info.namespace (/api/v1/namespaces/NAME), as in RequestInfoFactory.
    if resource.plural != "namespaces":
        if info.namespace and not resource.namespaced:
            raise errors.path_not_found()
        if resource.namespaced and not info.namespace and info.verb not in ("list", "watch"):
            raise errors.path_not_found()
    return resource
