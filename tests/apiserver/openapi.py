"""OpenAPI v3 documents, as much as clients read: kubectl checks that PATCH of a kind takes `fieldValidation`
(cli-runtime query_param_verifier_v3.go) and then leaves validation to the server (`fieldValidation=Strict`).
"""

import hashlib
import json

from .resources import RESOURCES, VERSION_INFO

FIELD_VALIDATION = {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True},
                    "description": "fieldValidation instructs the server on how to handle objects in the request "
                                   "containing unknown or duplicate fields."}


def _gv_path(resource):
    return f"apis/{resource.group}/{resource.version}" if resource.group else f"api/{resource.version}"


def _operation(resource, action, writes):
    operation = {
        "operationId": f"{action}{resource.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": resource.group, "version": resource.version,
                                            "kind": resource.kind},
        "parameters": [FIELD_VALIDATION] if writes else [],
        "responses": {"200": {"description": "OK"}},
    }
    return operation


def group_version_document(gv_path):
    paths = {}
    for res in RESOURCES:
        if _gv_path(res) != gv_path:
            continue
        base = "/" + gv_path + ("/namespaces/{namespace}" if res.namespaced else "") + "/" + res.plural
        if "create" in res.verbs:
            paths.setdefault(base, {})["post"] = _operation(res, "post", True)
        if "list" in res.verbs:
            paths.setdefault(base, {})["get"] = _operation(res, "list", False)
        if "get" in res.verbs:
            item = paths.setdefault(base + "/{name}", {})
            item["get"] = _operation(res, "get", False)
            item["put"] = _operation(res, "put", True)
            item["patch"] = _operation(res, "patch", True)
            item["delete"] = _operation(res, "delete", False)
    if not paths:
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}


def _hash(document):
    return hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()[:64].upper()


def root_document():
    group_versions = sorted({_gv_path(r) for r in RESOURCES})
    return {"paths": {gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={_hash(group_version_document(gv))}"}
                      for gv in group_versions}}
