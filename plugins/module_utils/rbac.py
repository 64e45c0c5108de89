# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RBAC bindings and roles as this collection manages them: input checks, the API form of subjects and rules,
manifests, and what changes between what the cluster holds and what was asked for. No API calls here."""

from __future__ import annotations

import json

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import MANAGED_BY, MANAGED_BY_LABEL
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import namespace_error, object_name_error

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_API = f"/apis/{RBAC_GROUP}/v1"
API_VERSION = f"{RBAC_GROUP}/v1"
SERVICE_ACCOUNT = "ServiceAccount"
SUBJECT_KINDS = ("User", "Group", SERVICE_ACCOUNT)
PLURALS = {"RoleBinding": "rolebindings", "ClusterRoleBinding": "clusterrolebindings", "Role": "roles",
           "ClusterRole": "clusterroles"}
# Ansible's snake_case option names and the PolicyRule fields they become, in the API's order.
RULE_FIELDS = (("api_groups", "apiGroups"), ("resources", "resources"), ("resource_names", "resourceNames"),
               ("non_resource_urls", "nonResourceURLs"), ("verbs", "verbs"))


def binding_kind(namespace):
    return "RoleBinding" if namespace else "ClusterRoleBinding"


def role_namespace(role_kind, namespace):
    """A Role lives in the binding's namespace; a ClusterRole in none."""
    return namespace if role_kind == "Role" else None


def collection_path(kind, namespace=None):
    plural = PLURALS[kind]
    return f"{RBAC_API}/namespaces/{namespace}/{plural}" if namespace else f"{RBAC_API}/{plural}"


def object_path(kind, namespace, name):
    return f"{collection_path(kind, namespace)}/{name}"


def describe(kind, namespace, name):
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


# -- input checks: each returns messages that name the option and say what would be accepted -------------------
def role_name_error(option, value):
    """Role names are path segments: the built-in ones contain ':' (system:aggregate-to-view)."""
    if not value:
        return f"{option}: must not be empty"
    if value in (".", "..") or "/" in value or "%" in value:
        return f"{option}: {value!r} is not a valid role name; it may not contain '/' or '%' nor be '.' or '..'"
    return None


def canonical_subject_kind(kind):
    return {k.lower(): k for k in SUBJECT_KINDS}.get(str(kind or "").lower())


def subject_errors(option, subjects, binding_namespace):
    errors = []
    for index, subject in enumerate(subjects or []):
        where = f"{option}[{index}]"
        kind = canonical_subject_kind(subject.get("kind"))
        name = subject.get("name")
        if kind is None:
            errors.append(f"{where}.kind: {subject.get('kind')!r} is not a subject kind; use User, Group or "
                          "ServiceAccount")
        if not name or not name.strip():
            errors.append(f"{where}.name: required; the user, group or ServiceAccount to bind")
        elif name != name.strip():
            errors.append(f"{where}.name: {name!r} has leading or trailing spaces; remove them")
        elif kind == SERVICE_ACCOUNT:
            errors.append(object_name_error(f"{where}.name", name))
        if kind == SERVICE_ACCOUNT:
            namespace = subject.get("namespace") or binding_namespace
            if not namespace:
                errors.append(f"{where}.namespace: required for a ServiceAccount in a ClusterRoleBinding, which has "
                              "no namespace to default to; give the ServiceAccount's namespace")
            else:
                errors.append(namespace_error(f"{where}.namespace", namespace))
        elif kind and subject.get("namespace"):
            errors.append(f"{where}.namespace: only ServiceAccount subjects have a namespace; remove it")
    return [e for e in errors if e]


def rule_errors(option, rules, namespaced):
    errors = []
    for index, rule in enumerate(rules or []):
        where = f"{option}[{index}]"
        resources, urls = rule.get("resources"), rule.get("non_resource_urls")
        if not rule.get("verbs"):
            errors.append(f"{where}.verbs: must not be empty; list the verbs to allow, such as [get, list, watch]")
        if resources and urls:
            errors.append(f"{where}: a rule takes resources or non_resource_urls, not both; split it into two rules")
        elif urls:
            if namespaced:
                errors.append(f"{where}.non_resource_urls: a Role cannot grant non-resource URLs; use "
                              "role_kind=ClusterRole with a ClusterRoleBinding")
            if rule.get("api_groups") or rule.get("resource_names"):
                errors.append(f"{where}: api_groups and resource_names do not apply to non_resource_urls; remove them")
        elif not resources:
            errors.append(f"{where}: grants nothing; give resources (with api_groups) or non_resource_urls")
        elif not rule.get("api_groups"):
            errors.append(f"{where}.api_groups: required with resources; use [''] for the core group (pods, "
                          "configmaps, secrets), [apps] for deployments, and so on")
    return errors


# -- API forms ---------------------------------------------------------------------------------------------------
def normalise_subject(subject, binding_namespace):
    """The API form: canonical kind, apiGroup filled in, a ServiceAccount's namespace made explicit."""
    kind = canonical_subject_kind(subject.get("kind")) or subject.get("kind")
    if kind == SERVICE_ACCOUNT:
        return {"kind": kind, "apiGroup": "", "name": subject["name"],
                "namespace": subject.get("namespace") or binding_namespace}
    return {"kind": kind, "apiGroup": RBAC_GROUP, "name": subject["name"]}


def subject_key(subject):
    """What makes two (normalised) subjects the same grantee."""
    return subject["kind"], subject["name"], subject.get("namespace") or ""


def normalise_subjects(subjects, binding_namespace):
    """API forms in the given order, each grantee once."""
    seen, result = set(), []
    for subject in subjects or []:
        entry = normalise_subject(subject, binding_namespace)
        if subject_key(entry) not in seen:
            seen.add(subject_key(entry))
            result.append(entry)
    return result


def plan_subjects(current, wanted, mode):
    """(after, added, removed) for subjects_mode `exact` or `merge`; all normalised.

    Order is not compared: a binding with the wanted grantees in another order is left as it is.
    """
    current_keys = {subject_key(s) for s in current}
    wanted_keys = {subject_key(s) for s in wanted}
    added = [s for s in wanted if subject_key(s) not in current_keys]
    if mode == "merge":
        return current + added, added, []
    removed = [s for s in current if subject_key(s) not in wanted_keys]
    return (wanted if added or removed else current), added, removed


def without_subjects(current, unwanted):
    """(after, removed): `current` without the grantees in `unwanted`."""
    keys = {subject_key(s) for s in unwanted}
    return [s for s in current if subject_key(s) not in keys], [s for s in current if subject_key(s) in keys]


def rule_to_api(rule):
    """snake_case options to a PolicyRule; empty fields left out, as the API stores them."""
    return {camel: list(rule[snake]) for snake, camel in RULE_FIELDS if rule.get(snake)}


def _canonical_rules(rules):
    return sorted(json.dumps({k: sorted(v) for k, v in rule.items() if v}, sort_keys=True) for rule in rules or [])


def same_rules(current, wanted):
    """The same grants, whatever the order of rules and of the values in them."""
    return _canonical_rules(current) == _canonical_rules(wanted)


def role_ref(kind, name):
    return {"apiGroup": RBAC_GROUP, "kind": kind, "name": name}


def same_role_ref(current, wanted):
    current = current or {}
    return current.get("kind") == wanted["kind"] and current.get("name") == wanted["name"]


def label_map(labels):
    """Label values as the API holds them: strings."""
    return {key: "" if value is None else str(value) for key, value in (labels or {}).items()}


def owned_labels(labels):
    return dict(label_map(labels), **{MANAGED_BY_LABEL: MANAGED_BY})


def label_selector(labels):
    """Selects objects carrying our managed-by label and all of `labels`."""
    return ",".join(f"{key}={value}" for key, value in sorted(owned_labels(labels).items()))


def labels_of(obj):
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


def metadata(name, namespace, labels, annotations=None):
    meta = {"name": name, "labels": dict(labels)}
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def binding_manifest(name, namespace, ref, subjects, labels, annotations=None):
    return {"apiVersion": API_VERSION, "kind": binding_kind(namespace),
            "metadata": metadata(name, namespace, labels, annotations), "roleRef": dict(ref),
            "subjects": [dict(s) for s in subjects]}


def role_manifest(kind, name, namespace, rules, labels):
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata(name, namespace, labels),
            "rules": [dict(r) for r in rules]}


def updated(obj, kind, labels, **fields):
    """`obj` as read (same resourceVersion, so a concurrent change makes the PUT a 409) with new labels and fields."""
    result = dict(obj, apiVersion=API_VERSION, kind=kind, **fields)
    result["metadata"] = dict(obj["metadata"], labels=dict(labels))
    return result


# -- what a reviewer sees in a diff ------------------------------------------------------------------------------
def binding_view(kind, obj):
    if not obj:
        return None
    meta = obj.get("metadata") or {}
    ref = obj.get("roleRef") or {}
    return {"kind": kind, "name": meta.get("name"), "namespace": meta.get("namespace"), "labels": labels_of(obj),
            "roleRef": {"kind": ref.get("kind"), "name": ref.get("name")},
            "subjects": normalise_subjects(obj.get("subjects"), meta.get("namespace"))}


def role_view(kind, obj):
    if not obj:
        return None
    meta = obj.get("metadata") or {}
    return {"kind": kind, "name": meta.get("name"), "namespace": meta.get("namespace"), "labels": labels_of(obj),
            "rules": list(obj.get("rules") or [])}
