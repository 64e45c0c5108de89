"""Status errors worded as k8s.io/apimachinery/pkg/api/errors words them."""

import json


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message}
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(resource, name=None):
    details = {}
    if name:
        details["name"] = name
    if resource.group:
        details["group"] = resource.group
    details["kind"] = resource.plural
    return details


def _qualified(resource, name):
    return f'{resource.qualified} "{name}"' if name else resource.qualified


def not_found(resource, name):
    return ApiError(404, "NotFound", f"{_qualified(resource, name)} not found", _details(resource, name))


def path_not_found():
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(resource, name, being_deleted=False):
    # The registry's Create names an existing object that has a deletionTimestamp as being deleted.
    prefix = "object is being deleted: " if being_deleted else ""
    return ApiError(409, "AlreadyExists", f"{prefix}{_qualified(resource, name)} already exists",
                    _details(resource, name))


def conflict(resource, name):
    return ApiError(409, "Conflict",
                    f"Operation cannot be fulfilled on {_qualified(resource, name)}: the object has been modified; "
                    "please apply your changes to the latest version and try again",
                    _details(resource, name))


def forbidden(resource, name, reason):
    if resource is None:
        return ApiError(403, "Forbidden", f"forbidden: {reason}", {})
    return ApiError(403, "Forbidden", f"{_qualified(resource, name)} is forbidden: {reason}",
                    _details(resource, name))


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


BODY_MEDIA_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
PATCH_MEDIA_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml",
                     "application/strategic-merge-patch+json")


def unsupported_media_type(patch):
    return ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted "
                    f"media types include: {', '.join(PATCH_MEDIA_TYPES if patch else BODY_MEDIA_TYPES)}", {})


def too_many_requests(retry_after):
    return ApiError(429, "TooManyRequests", "the server has received too many requests and has asked us to try "
                    "again later", {"retryAfterSeconds": retry_after}, {"Retry-After": str(retry_after)})


def internal_error(message="an error on the server (\"\") has prevented the request from succeeding"):
    return ApiError(500, "InternalError", message, {"causes": [{"message": message}]})


def service_unavailable(retry_after):
    return ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request",
                    {"retryAfterSeconds": retry_after}, {"Retry-After": str(retry_after)})


def go_value(value):
    """A value as field.Invalid prints it (%#v-like): strings quoted, numbers bare, structs as JSON."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


class FieldErrors:
    """Collects field.ErrorList entries and turns them into one 422 Invalid."""

    def __init__(self):
        self.causes = []

    def __bool__(self):
        return bool(self.causes)

    def _add(self, reason, field, message):
        self.causes.append({"reason": reason, "message": message, "field": field})

    def required(self, field, detail=""):
        self._add("FieldValueRequired", field, "Required value" + (f": {detail}" if detail else ""))

    def invalid(self, field, value, detail):
        self._add("FieldValueInvalid", field, f"Invalid value: {go_value(value)}: {detail}")

    def not_supported(self, field, value, supported):
        choices = ", ".join(json.dumps(s) for s in supported)
        self._add("FieldValueNotSupported", field, f"Unsupported value: {go_value(value)}: supported values: {choices}")

    def duplicate(self, field, value):
        self._add("FieldValueDuplicate", field, f"Duplicate value: {go_value(value)}")

    def forbidden(self, field, detail):
        self._add("FieldValueForbidden", field, f"Forbidden: {detail}")

    def error(self, resource, name):
        texts = [f"{c['field']}: {c['message']}" for c in self.causes]
        aggregate = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
        qualified_kind = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
        details = {"name": name} if name else {}  # omitempty: NewInvalid(kind, "", errs) names no object
        if resource.group:
            details["group"] = resource.group
        details["kind"] = resource.kind
        details["causes"] = self.causes
        return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {aggregate}', details)
