# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend of the k8s_rbac_binding module: RoleBindings and ClusterRoleBindings (and the roles made from rules),
one or a batch, with pruning of what an inventory no longer lists."""

from __future__ import annotations

import itertools
import urllib.parse

from ansible_collections.kubeaccess.x509.plugins.module_utils import rbac
from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import (
    SharedClient, batch_argument_spec, identity_of, run_batch)
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import (
    MANAGED_BY, MANAGED_BY_LABEL, is_managed)
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import (
    AUTH_ARG_SPEC, ApiError, KubeError, ObjectReads, delete_options, with_conflict_retries)
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import label_errors, object_name_error

LIST_OPTION = "bindings"
RULE_SPEC = {snake: dict(type="list", elements="str") for snake, _camel in rbac.RULE_FIELDS}
# Subject kinds are checked by the module, not by choices: in any case, and a bad one named as subjects[i].
SUBJECT_SPEC = dict(kind=dict(type="str"), name=dict(type="str"), namespace=dict(type="str"))
ITEM_SPEC = dict(
    name=dict(type="str"),
    namespace=dict(type="str"),
    role_kind=dict(type="str", choices=["ClusterRole", "Role"], default="ClusterRole"),
    role_name=dict(type="str"),
    rules=dict(type="list", elements="dict", options=RULE_SPEC),
    subjects=dict(type="list", elements="dict", options=SUBJECT_SPEC),
    subjects_mode=dict(type="str", choices=["exact", "merge"], default="exact"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    labels=dict(type="dict", default={}),
    force=dict(type="bool", default=False),
)
MODULE_SPEC = dict(AUTH_ARG_SPEC, **ITEM_SPEC, prune=dict(type="bool", default=False))
SHARED = tuple(AUTH_ARG_SPEC) + ("prune",)
MODULE_ARGS = dict(argument_spec=batch_argument_spec(MODULE_SPEC, LIST_OPTION), supports_check_mode=True)
NOT_OURS = f"is not managed by kubeaccess.x509 (no label {MANAGED_BY_LABEL}={MANAGED_BY})"


class InputError(Exception):
    """Bad options, or an object this item may not touch; raised before the item changes anything."""


class Cluster:
    """What one module run knows of the cluster: one client, made on first use, and in the batch form one LIST per
    kind and namespace, kept current as items write, instead of a GET per object."""

    def __init__(self, batch, shared_client):
        self.batch = batch
        self._connect = shared_client
        self._reads = {}
        self._all_namespaces = None
        self._namespaces = {}

    @property
    def client(self):
        return self._connect()

    def _objects(self, kind, namespace):
        bucket = (kind, namespace or "")
        if bucket not in self._reads:
            self._reads[bucket] = ObjectReads(self._connect, rbac.collection_path(kind, namespace), self.batch)
        return self._reads[bucket]

    def get(self, kind, namespace, name, fresh=False):
        """The object, or None; `fresh` reads it again (after a conflict)."""
        return self._objects(kind, namespace).get(name, fresh)

    def remember(self, kind, namespace, name, obj):
        """What a later item reads: the object as written, or as it would be in check mode; None once deleted."""
        self._objects(kind, namespace).remember(name, obj)

    def namespace_exists(self, namespace):
        # A LIST in a missing namespace answers an empty list, so existence is checked on its own: one LIST of
        # namespaces for a batch, or a GET per namespace when that LIST is not allowed or for a single binding.
        if self.batch and self._all_namespaces is None:
            try:
                listing = self.client.request("GET", "/api/v1/namespaces")
                self._all_namespaces = {obj["metadata"]["name"] for obj in listing.get("items") or []}
            except ApiError as exc:
                if exc.status != 403:
                    raise
                self._all_namespaces = False
        if self._all_namespaces:
            return namespace in self._all_namespaces
        if namespace not in self._namespaces:
            self._namespaces[namespace] = self.client.get_or_none(f"/api/v1/namespaces/{namespace}") is not None
        return self._namespaces[namespace]


def _ref_text(ref):
    return f"{(ref or {}).get('kind')}/{(ref or {}).get('name')}"


class BindingItem:
    """One binding (and its role, with rules): checked when made, applied by run()."""

    def __init__(self, item, cluster, top_labels):
        self.item = item
        self.params = params = item.params
        self.cluster = cluster
        self.name = params["name"]
        self.namespace = params["namespace"]
        self.kind = rbac.binding_kind(self.namespace)
        self.present = params["state"] == "present"
        self.force = params["force"]
        self.labels = dict(rbac.label_map(top_labels), **rbac.label_map(params["labels"]))
        self.role_kind, self.role_name = params["role_kind"], params["role_name"]
        self.role_namespace = rbac.role_namespace(self.role_kind, self.namespace)
        self.validate()
        self.subjects = rbac.normalise_subjects(params["subjects"], self.namespace)
        self.rules = None if params["rules"] is None else [rbac.rule_to_api(r) for r in params["rules"]]
        self.binding_gone = False
        self.diff = {"before": {}, "after": {}}
        self.result = {"changed": False, "kind": self.kind, "name": self.name, "namespace": self.namespace,
                       "role_ref": {"kind": self.role_kind, "name": self.role_name} if self.role_name else None,
                       "action": "none", "subjects": [], "subjects_added": [], "subjects_removed": []}
        if self.rules is not None:
            self.result["role_action"] = "none"
        if self.present and self.namespace and not cluster.namespace_exists(self.namespace):
            raise InputError(f"namespace: {self.namespace} does not exist; create it first, or correct namespace")

    def validate(self):
        params = self.params
        errors = []
        if not self.name:
            errors.append("name: required; the name of the RoleBinding or ClusterRoleBinding")
        else:
            errors.append(object_name_error("name", self.name))
        if self.namespace is not None:
            errors.append(rbac.namespace_error("namespace", self.namespace) if self.namespace else
                          "namespace: empty; leave it out (or null) for a ClusterRoleBinding")
        if self.role_kind == "Role" and not self.namespace:
            errors.append("role_kind: a Role lives in a namespace, so binding one needs namespace (a RoleBinding); "
                          "set namespace, or use role_kind=ClusterRole")
        if not self.role_name and (self.present or params["rules"] is not None):
            errors.append("role_name: required for state=present and with rules; the Role or ClusterRole to bind")
        elif self.role_name:
            errors.append(rbac.role_name_error("role_name", self.role_name) or (
                object_name_error("role_name", self.role_name) if params["rules"] is not None else None))
        if self.present and not params["subjects"]:
            errors.append("subjects: must not be empty for state=present; list the User, Group or ServiceAccount "
                          "subjects to bind (state=absent removes a binding)")
        errors += rbac.subject_errors("subjects", params["subjects"], self.namespace)
        if params["rules"] is not None:
            if self.present and not params["rules"]:
                errors.append("rules: empty; give at least one rule, or leave rules out to bind an existing role")
            errors += rbac.rule_errors("rules", params["rules"], namespaced=self.role_kind == "Role")
        errors += label_errors("labels", self.labels)
        if MANAGED_BY_LABEL in self.labels:
            errors.append(f"labels: {MANAGED_BY_LABEL} is set by this module; remove it")
        errors = [e for e in errors if e]
        if errors:
            raise InputError("; ".join(errors))

    # -- running ---------------------------------------------------------------------------------------------
    def run(self):
        if self.rules is not None and self.present:
            self._retrying(self.ensure_role)
        self._retrying(self.ensure_binding if self.present else self.remove_binding)
        if self.rules is not None and not self.present and self.binding_gone:
            self._retrying(self.remove_role)
        if self.item.diff_mode:
            self.result["diff"] = self.diff

    def _retrying(self, operation):
        """Run `operation(fresh)` again on a fresh read when the object changed (409) or appeared since the read."""
        attempts = itertools.count()

        def attempt():
            fresh = next(attempts) > 0
            try:
                return operation(fresh)
            except ApiError as exc:
                if exc.already_exists and not fresh:
                    return operation(True)
                raise
        return with_conflict_retries(attempt)

    def _write(self, action, kind, namespace, name, current, planned):
        """Create, update, recreate or delete one object; in check mode only the run's view of the cluster changes."""
        self.result["changed"] = True
        written = planned
        if not self.item.check_mode:
            client = self.cluster.client
            path = rbac.object_path(kind, namespace, name)
            if action in ("delete", "recreate"):
                client.request("DELETE", path, body=delete_options(current), expect=(200, 202, 404))
            if action in ("create", "recreate"):
                written = client.request("POST", rbac.collection_path(kind, namespace), body=planned, expect=(201,))
            elif action == "update":
                written = client.request("PUT", path, body=planned)
        self.cluster.remember(kind, namespace, name, written)

    def _show(self, part, view, current, planned):
        self.diff["before"][part] = view(current)
        self.diff["after"][part] = view(planned)

    def ensure_role(self, fresh):
        kind, namespace, name = self.role_kind, self.role_namespace, self.role_name
        current = self.cluster.get(kind, namespace, name, fresh)
        what = rbac.describe(kind, namespace, name)
        if current is None:
            action, planned = "create", rbac.role_manifest(kind, name, namespace, self.rules,
                                                           rbac.owned_labels(self.labels))
        else:
            if not is_managed(current) and not self.force:
                raise InputError(f"role_name: {what} exists and {NOT_OURS}; its rules are not replaced. Choose "
                                 "another role_name, or check who made it and delete it (kubectl delete) first")
            if current.get("aggregationRule"):
                raise InputError(f"role_name: {what} is an aggregated ClusterRole whose rules the cluster makes from "
                                 "other roles; choose another role_name")
            labels = dict(rbac.labels_of(current), **rbac.owned_labels(self.labels))
            planned = rbac.updated(current, kind, labels, rules=self.rules)
            unchanged = rbac.same_rules(current.get("rules"), self.rules) and labels == rbac.labels_of(current)
            action = "none" if unchanged else "update"
        self.result["role_action"] = action
        self._show("role", lambda obj: rbac.role_view(kind, obj), current, planned)
        if action != "none":
            self._write(action, kind, namespace, name, current, planned)

    def remove_role(self, fresh):
        kind, namespace, name = self.role_kind, self.role_namespace, self.role_name
        current = self.cluster.get(kind, namespace, name, fresh)
        if current is None:
            return
        if not is_managed(current) and not self.force:
            self.item.warn(f"{rbac.describe(kind, namespace, name)} {NOT_OURS}, so it was left in place")
            return
        self.result["role_action"] = "delete"
        self._show("role", lambda obj: rbac.role_view(kind, obj), current, None)
        self._write("delete", kind, namespace, name, current, None)

    def ensure_binding(self, fresh):
        current = self.cluster.get(self.kind, self.namespace, self.name, fresh)
        wanted_ref = rbac.role_ref(self.role_kind, self.role_name)
        mode = self.params["subjects_mode"]
        what = rbac.describe(self.kind, self.namespace, self.name)
        if current is None:
            after, added, removed = self.subjects, self.subjects, []
            action = "create"
            planned = rbac.binding_manifest(self.name, self.namespace, wanted_ref, after,
                                            rbac.owned_labels(self.labels))
        else:
            managed = is_managed(current)
            if not managed and mode == "exact" and not self.force:
                raise InputError(f"name: {what} exists and {NOT_OURS}; subjects_mode=exact would drop its other "
                                 "subjects, so it is not taken over. Choose another name, use subjects_mode=merge to "
                                 "add these subjects to it, or check who made it and delete it (kubectl delete) first")
            after, added, removed = rbac.plan_subjects(
                rbac.normalise_subjects(current.get("subjects"), self.namespace), self.subjects, mode)
            labels = rbac.labels_of(current)
            if managed or mode == "exact":
                labels.update(rbac.owned_labels(self.labels))
            if not rbac.same_role_ref(current.get("roleRef"), wanted_ref):
                if not managed and not self.force:
                    raise InputError(f"role_name: {what} binds {_ref_text(current.get('roleRef'))}, not "
                                     f"{_ref_text(wanted_ref)}, and {NOT_OURS}; roleRef is immutable, so changing it "
                                     "means deleting and recreating the binding, which is not done to a binding that "
                                     "is not ours. Choose another name, or check who made it and delete it first")
                action = "recreate"
                planned = rbac.binding_manifest(self.name, self.namespace, wanted_ref, after, labels,
                                                current["metadata"].get("annotations"))
                self.item.warn(f"{what}: roleRef changes from {_ref_text(current.get('roleRef'))} to "
                               f"{_ref_text(wanted_ref)}; roleRef is immutable, so the binding is deleted and "
                               "created again")
                self.diff["after_header"] = f"{what} (deleted and created again: roleRef is immutable)"
            elif added or removed or labels != rbac.labels_of(current):
                action, planned = "update", rbac.updated(current, self.kind, labels, subjects=after)
            else:
                action, planned = "none", current
        self.result.update(action=action, subjects=after, subjects_added=added, subjects_removed=removed)
        self._show("binding", lambda obj: rbac.binding_view(self.kind, obj), current, planned)
        if action != "none":
            self._write(action, self.kind, self.namespace, self.name, current, planned)

    def remove_binding(self, fresh):
        current = self.cluster.get(self.kind, self.namespace, self.name, fresh)
        self.binding_gone = current is None
        if current is None:
            self._show("binding", lambda obj: rbac.binding_view(self.kind, obj), None, None)
            return
        managed = is_managed(current)
        what = rbac.describe(self.kind, self.namespace, self.name)
        subjects = rbac.normalise_subjects(current.get("subjects"), self.namespace)
        ref = current.get("roleRef") or {}
        if not self.role_name:
            self.result["role_ref"] = {"kind": ref.get("kind"), "name": ref.get("name")}
        if self.subjects:
            after, removed = rbac.without_subjects(subjects, self.subjects)
            if not removed:
                action = "none"
            elif not after and (managed or self.force):
                action = "delete"
            else:
                action = "update"
        else:
            if not managed and not self.force:
                raise InputError(f"name: {what} {NOT_OURS}, so it is not deleted; remove just your subjects with "
                                 "subjects")
            action, after, removed = "delete", [], subjects
        if action == "update":
            planned = rbac.updated(current, self.kind, rbac.labels_of(current), subjects=after)
        else:
            planned = None if action == "delete" else current
        self.binding_gone = action == "delete"
        self.result.update(action=action, subjects=after, subjects_removed=removed)
        self._show("binding", lambda obj: rbac.binding_view(self.kind, obj), current, planned)
        if action != "none":
            self._write(action, self.kind, self.namespace, self.name, current, planned)


def describe_item(params):
    namespace = params.get("namespace")
    return rbac.describe(rbac.binding_kind(namespace), namespace, params.get("name") or "(no name)")


def pruning(module, cluster):
    """The batch's conclusion: with prune, delete what carries our label and the top-level labels but is not
    listed. Items that failed are still listed, so pruning what is not listed stays right."""
    def conclude(result, listed):
        result["pruned"] = []
        if not module.params["prune"]:
            return
        try:
            pruned, diffs = prune(module, cluster, listed)
        except KubeError as exc:
            raise KubeError(f"prune: {exc}") from None
        result["pruned"] = pruned
        result["changed"] = result["changed"] or bool(pruned)
        if diffs and module._diff:  # pylint: disable=protected-access
            result["diff"] = result.get("diff", []) + diffs
    return conclude


def prune(module, cluster, listed):
    """Delete what carries our label and the top-level labels but is not in `listed`; returns (pruned, diffs)."""
    kept = {(rbac.binding_kind(item["namespace"]), item["namespace"] or "", item["name"]) for item in listed}
    # A role still bound by a listed item stays, whether or not that item gives its rules.
    kept |= {(item["role_kind"], rbac.role_namespace(item["role_kind"], item["namespace"]) or "", item["role_name"])
             for item in listed if item["role_name"]}
    selector = urllib.parse.quote(rbac.label_selector(module.params["labels"]), safe="=,")
    pruned, diffs = [], []
    for kind, part, view in (("RoleBinding", "binding", rbac.binding_view),
                             ("ClusterRoleBinding", "binding", rbac.binding_view),
                             ("Role", "role", rbac.role_view), ("ClusterRole", "role", rbac.role_view)):
        listing = cluster.client.request("GET", f"{rbac.collection_path(kind)}?labelSelector={selector}")
        for obj in listing.get("items") or []:
            namespace, name = obj["metadata"].get("namespace"), obj["metadata"]["name"]
            if (kind, namespace or "", name) in kept:
                continue
            if not module.check_mode:
                cluster.client.request("DELETE", rbac.object_path(kind, namespace, name),
                                       body=delete_options(obj), expect=(200, 202, 404))
            entry = {"kind": kind, "namespace": namespace, "name": name}
            if part == "binding":
                entry["subjects"] = [{"kind": s.get("kind"), "name": s.get("name")} for s in obj.get("subjects") or []]
            pruned.append(entry)
            diffs.append({"before": {part: view(kind, obj)}, "after": {part: None},
                          "before_header": f"{rbac.describe(kind, namespace, name)} (pruned: no longer listed)"})
    return pruned, diffs


def run(module):
    """The module's whole job with `module` (an AnsibleModule of MODULE_ARGS); ends with exit_json or fail_json."""
    params = module.params
    batch = params[LIST_OPTION] is not None
    if params["prune"]:
        problems = label_errors("labels", params["labels"])
        if not batch:
            problems.append("prune: needs bindings, the complete list of the bindings to keep")
        if not params["labels"]:
            problems.append("labels: required with prune; give labels that mark this list's bindings (for example "
                            "kubeaccess.x509/inventory: team-a), or prune would delete every binding managed by "
                            "kubeaccess.x509 that is not listed")
        if problems:
            module.fail_json(msg="; ".join(problems), changed=False)
    client = SharedClient(params)
    cluster = Cluster(batch, client)
    run_batch(module, MODULE_SPEC, LIST_OPTION, lambda item: BindingItem(item, cluster, params["labels"]),
              (InputError, KubeError), describe_item, shared=SHARED, conclude=pruning(module, cluster), client=client,
              identity=identity_of("name", "namespace"))
