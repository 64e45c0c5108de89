"""Known fields per kind, for `fieldValidation`: Strict refuses unknown fields, Warn and Ignore drop them.

ANY marks a subtree whose content is free (maps, and kinds this server keeps without looking inside).
"""

from . import errors

ANY = "any"

_CONDITION = {"type": 1, "status": 1, "reason": 1, "message": 1, "lastUpdateTime": 1, "lastTransitionTime": 1}
_OBJECT_META = {
    "name": 1, "generateName": 1, "namespace": 1, "selfLink": 1, "uid": 1, "resourceVersion": 1, "generation": 1,
    "creationTimestamp": 1, "deletionTimestamp": 1, "deletionGracePeriodSeconds": 1, "labels": ANY,
    "annotations": ANY, "ownerReferences": [{"apiVersion": 1, "kind": 1, "name": 1, "uid": 1, "controller": 1,
                                             "blockOwnerDeletion": 1}],
    "finalizers": 1, "managedFields": ANY,
}
_SUBJECTS = [{"kind": 1, "apiGroup": 1, "name": 1, "namespace": 1}]
_ROLE_REF = {"apiGroup": 1, "kind": 1, "name": 1}
_RULES = [{"verbs": 1, "apiGroups": 1, "resources": 1, "resourceNames": 1, "nonResourceURLs": 1}]

KIND_FIELDS = {
    "CertificateSigningRequest": {
        "spec": {"request": 1, "signerName": 1, "expirationSeconds": 1, "usages": 1, "username": 1, "uid": 1,
                 "groups": 1, "extra": ANY},
        "status": {"conditions": [_CONDITION], "certificate": 1},
    },
    "RoleBinding": {"subjects": _SUBJECTS, "roleRef": _ROLE_REF},
    "ClusterRoleBinding": {"subjects": _SUBJECTS, "roleRef": _ROLE_REF},
    "Role": {"rules": _RULES},
    "ClusterRole": {"rules": _RULES, "aggregationRule": ANY},
    "ConfigMap": {"data": ANY, "binaryData": ANY, "immutable": 1},
    "Secret": {"data": ANY, "stringData": ANY, "type": 1, "immutable": 1},
    "Namespace": {"spec": {"finalizers": 1}, "status": ANY},
    "ServiceAccount": {"secrets": ANY, "imagePullSecrets": ANY, "automountServiceAccountToken": 1},
    "Pod": {"spec": ANY, "status": ANY},
    "Event": {"involvedObject": ANY, "reason": 1, "message": 1, "source": ANY, "firstTimestamp": 1,
              "lastTimestamp": 1, "count": 1, "type": 1, "eventTime": 1, "series": ANY, "action": 1,
              "related": ANY, "reportingComponent": 1, "reportingInstance": 1},
}


def _prune(value, schema, path, unknown):
    if schema in (ANY, 1) or value is None:
        return value
    if isinstance(schema, list):
        if not isinstance(value, list):
            return value
        return [_prune(item, schema[0], f"{path}[{index}]", unknown) for index, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    kept = {}
    for key, item in value.items():
        field = f"{path}.{key}" if path else key
        if key not in schema:
            unknown.append(field)
            continue
        kept[key] = _prune(item, schema[key], field, unknown)
    return kept


def validate(resource, obj, directive):
    """Prune unknown fields from `obj`; with `Strict`, refuse them as the real decoder does."""
    schema = {"apiVersion": 1, "kind": 1, "metadata": _OBJECT_META, **KIND_FIELDS.get(resource.kind, {})}
    if resource.kind not in KIND_FIELDS:
        return obj
    unknown = []
    pruned = _prune(obj, schema, "", unknown)
    if unknown and directive == "Strict":
        listed = ", ".join(f'unknown field "{field}"' for field in unknown)
        raise errors.bad_request(f'{resource.kind} in version "{resource.version}" cannot be handled as a '
                                 f"{resource.kind}: strict decoding error: {listed}")
    return pruned
