# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend of the k8s_access_info module: what a cluster holds for users and groups, whoever made it."""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.kubeaccess.x509.plugins.module_utils import csr_object, rbac
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import HAS_CRYPTOGRAPHY, CryptoInputError
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import AUTH_ARG_SPEC, KubeClient, KubeError

INVENTORY_LABEL = "kubeaccess.x509/inventory"
ARGUMENT_SPEC = dict(AUTH_ARG_SPEC, users=dict(type="list", elements="str", default=[]),
                     groups=dict(type="list", elements="str", default=[]))
MODULE_ARGS = dict(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


def bindings_of(listing, kind, wanted):
    """The bindings of `listing` with a subject in `wanted` ({(kind, name)})."""
    found = []
    for obj in listing.get("items") or []:
        subjects = [{"kind": s.get("kind"), "name": s.get("name")} for s in obj.get("subjects") or []
                    if (s.get("kind"), s.get("name")) in wanted]
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


def csrs_of(listing, users):
    found = []
    for obj in listing.get("items") or []:
        try:
            request = csr_object.request_of(obj)
        except (CryptoInputError, ValueError, KeyError):
            continue
        if request.common_name not in users:
            continue
        labels = obj["metadata"].get("labels") or {}
        found.append({"name": obj["metadata"]["name"], "user": request.common_name,
                      "groups": request.organizations, "phase": csr_object.phase(obj),
                      "public_key_fingerprint": request.fingerprint,
                      "managed_by": labels.get(csr_object.MANAGED_BY_LABEL), "inventory": labels.get(INVENTORY_LABEL)})
    return sorted(found, key=lambda csr: csr["name"])


def run(module):
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    users, groups = module.params["users"], module.params["groups"]
    wanted = {("User", name) for name in users} | {("Group", name) for name in groups}
    try:
        client = KubeClient(module.params)
        bindings = []
        for kind in ("ClusterRoleBinding", "RoleBinding"):
            bindings += bindings_of(client.request("GET", rbac.collection_path(kind)), kind, wanted)
        csrs = csrs_of(client.request("GET", csr_object.CSR_API), set(users)) if users else []
    except KubeError as exc:
        module.fail_json(msg=str(exc))
    bindings.sort(key=lambda b: (b["kind"], b["namespace"] or "", b["name"]))
    module.exit_json(changed=False, bindings=bindings, csrs=csrs)
