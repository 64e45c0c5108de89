# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend of the k8s_access_info module: what a cluster holds for users and groups, whoever made it."""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.kubeaccess.x509.plugins.module_utils import csr_object, rbac
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import (
    HAS_CRYPTOGRAPHY, Certificate, CryptoInputError)
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import AUTH_ARG_SPEC, KubeClient, KubeError

INVENTORY_LABEL = "kubeaccess.x509/inventory"
ARGUMENT_SPEC = dict(AUTH_ARG_SPEC, users=dict(type="list", elements="str", default=[]),
                     groups=dict(type="list", elements="str", default=[]),
                     all_subjects=dict(type="bool", default=False), role_rules=dict(type="bool", default=False),
                     read_bindings=dict(type="bool", default=True), all_csrs=dict(type="bool", default=False))
SUBJECT_KINDS = ("User", "Group")
MODULE_ARGS = dict(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


def bindings_of(listing, kind, wanted):
    """The bindings of `listing` with a subject in `wanted` ({(kind, name)}, or None for every User and Group)."""
    found = []
    for obj in listing.get("items") or []:
        subjects = [{"kind": s.get("kind"), "name": s.get("name")} for s in obj.get("subjects") or []
                    if (s.get("kind") in SUBJECT_KINDS if wanted is None else (s.get("kind"), s.get("name")) in wanted)]
        if not subjects:
            continue
        metadata, ref = obj["metadata"], obj.get("roleRef") or {}
        labels = metadata.get("labels") or {}
        namespace = metadata.get("namespace")
        found.append({
            "kind": kind, "namespace": namespace, "name": metadata["name"],
            "role_ref": {"kind": ref.get("kind"), "name": ref.get("name")}, "subjects": subjects,
            "managed_by": labels.get(csr_object.MANAGED_BY_LABEL), "inventory": labels.get(INVENTORY_LABEL),
            "description": (f"{rbac.describe(kind, namespace, metadata['name'])} grants {ref.get('kind')} "
                            f"{ref.get('name')} {'in ' + namespace if namespace else 'cluster-wide'} (to "
                            + ", ".join(f"{s['kind']} {s['name']}" for s in subjects) + ")"),
        })
    return found


def with_rules(bindings, roles, cluster_roles):
    """Each binding with `rules`: its role's PolicyRules, or None when the role does not exist."""
    by_key = {("ClusterRole", None, obj["metadata"]["name"]): obj for obj in cluster_roles.get("items") or []}
    by_key.update({("Role", obj["metadata"].get("namespace"), obj["metadata"]["name"]): obj
                   for obj in roles.get("items") or []})
    for binding in bindings:
        ref = binding["role_ref"]
        role = by_key.get((ref["kind"], binding["namespace"] if ref["kind"] == "Role" else None, ref["name"]))
        binding["rules"] = None if role is None else list(role.get("rules") or [])
    return bindings


def approval_of(obj):
    """Who decided on a CSR: the reason and message of its Approved or Denied condition, or None."""
    for kind in ("Approved", "Denied"):
        entry = csr_object.condition(obj, kind)
        if entry:
            return {"type": kind, "reason": entry.get("reason"), "message": entry.get("message")}
    return None


def csrs_of(listing, users):
    found = []
    for obj in listing.get("items") or []:
        try:
            request = csr_object.request_of(obj)
            issued = csr_object.certificate_pem(obj)
            certificate = Certificate(issued) if issued else None
        except (CryptoInputError, ValueError, KeyError):
            continue
        if users is not None and request.common_name not in users:
            continue
        metadata = obj["metadata"]
        labels = metadata.get("labels") or {}
        found.append({"name": metadata["name"], "user": request.common_name,
                      "groups": request.organizations, "phase": csr_object.phase(obj),
                      "public_key_fingerprint": request.fingerprint,
                      "managed_by": labels.get(csr_object.MANAGED_BY_LABEL), "inventory": labels.get(INVENTORY_LABEL),
                      "signer_name": (obj.get("spec") or {}).get("signerName"),
                      "requester": (obj.get("spec") or {}).get("username"),
                      "created": metadata.get("creationTimestamp"), "approval": approval_of(obj),
                      "certificate_serial": certificate.serial if certificate else None,
                      "certificate_not_after": certificate.describe()["not_after"] if certificate else None})
    return sorted(found, key=lambda csr: csr["name"])


def run(module):
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    params = module.params
    users, groups = params["users"], params["groups"]
    wanted = None
    if not params["all_subjects"]:
        wanted = {("User", name) for name in users} | {("Group", name) for name in groups}
    try:
        client = KubeClient(params)
        bindings = []
        for kind in ("ClusterRoleBinding", "RoleBinding") if params["read_bindings"] else ():
            bindings += bindings_of(client.request("GET", rbac.collection_path(kind)), kind, wanted)
        if params["role_rules"] and params["read_bindings"]:
            with_rules(bindings, client.request("GET", rbac.collection_path("Role")),
                       client.request("GET", rbac.collection_path("ClusterRole")))
        csrs = []
        if users or params["all_csrs"]:
            csrs = csrs_of(client.request("GET", csr_object.CSR_API), None if params["all_csrs"] else set(users))
    except KubeError as exc:
        module.fail_json(msg=str(exc))
    bindings.sort(key=lambda b: (b["kind"], b["namespace"] or "", b["name"]))
    module.exit_json(changed=False, bindings=bindings, csrs=csrs)
