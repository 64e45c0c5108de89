#!/usr/bin/python
# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_rbac_binding
short_description: Bind users, groups and ServiceAccounts to a Role or ClusterRole, safely and in bulk
version_added: 0.1.0
author:
  - kubeaccess maintainers (@kubeaccess)
description:
  - Makes sure a RoleBinding (with O(namespace)) or ClusterRoleBinding (without) named O(name) binds O(subjects)
    to the Role or ClusterRole O(role_name), and optionally makes that role from O(rules).
  - Handles what generic tools get wrong. C(roleRef) is immutable, so a changed O(role_name) or O(role_kind)
    deletes the binding (only the object that was read) and creates it again, saying why. Subjects are compared
    as a set, so the order in the cluster does not matter. A binding made by someone else is never stripped of its
    subjects or deleted unless O(force) says so; O(subjects_mode=merge) adds subjects to it instead.
  - Objects it creates carry the label C(app.kubernetes.io/managed-by=kubeaccess.x509) plus O(labels), which is
    what makes them ours for updates, deletion and O(prune).
  - The batch form O(bindings) handles any number of bindings in one task with one read per kind and namespace,
    and with O(prune) deletes the bindings of an inventory that are no longer listed.
extends_documentation_fragment:
  - kubeaccess.x509.k8s_auth_options
  - kubeaccess.x509.attributes
  - kubeaccess.x509.attributes.ACTION_GROUP
  - kubeaccess.x509.batch
attributes:
  check_mode:
    support: full
    details:
      - Reads the cluster and reports exactly what would be created, updated, recreated, deleted or pruned,
        without writing anything.
  diff_mode:
    support: full
    details:
      - Shows the binding and, with O(rules), the role before and after (name, labels, roleRef, subjects, rules).
options:
  name:
    description:
      - Name of the RoleBinding or ClusterRoleBinding (a DNS subdomain).
      - Required unless O(bindings) gives it for every item.
    type: str
  namespace:
    description:
      - Namespace of the RoleBinding. The namespace must exist; the task fails before changing anything if not.
      - Leave it out for a ClusterRoleBinding, which grants the role in every namespace.
    type: str
  role_kind:
    description:
      - Kind of the role to bind. V(Role) needs O(namespace) (the Role lives in the binding's namespace).
      - A RoleBinding to a V(ClusterRole) grants that role's rules in the binding's namespace only.
    type: str
    choices: [ClusterRole, Role]
    default: ClusterRole
  role_name:
    description:
      - Name of the Role or ClusterRole to bind, for example V(view), V(edit) or V(admin). Required for
        O(state=present) and with O(rules).
      - Changing it (or O(role_kind)) on an existing binding deletes and recreates the binding, because the API
        does not allow a binding's C(roleRef) to change. A binding that is not ours is only recreated with O(force).
    type: str
  rules:
    description:
      - When given, the module also makes sure the Role or ClusterRole O(role_name) exists with exactly these
        rules (created, or updated when they differ), labelled as ours. A role of that name that is not ours is
        refused unless O(force).
      - With O(state=absent), the role is deleted too once the binding is gone, if it is ours (or with O(force)).
      - The server refuses rules the connecting identity does not hold itself (RBAC escalation prevention)
        unless it has the C(escalate) verb; that refusal is passed on as the server words it.
    type: list
    elements: dict
    suboptions:
      api_groups:
        description:
          - API groups; V('') is the core group (pods, configmaps, secrets). Required with O(rules[].resources).
        type: list
        elements: str
      resources:
        description: Resources, for example V(pods), V(pods/log) or V(deployments).
        type: list
        elements: str
      verbs:
        description: Verbs allowed, for example V(get), V(list), V(watch). Must not be empty.
        type: list
        elements: str
      resource_names:
        description: Restrict the rule to objects of these names.
        type: list
        elements: str
      non_resource_urls:
        description: Non-resource URLs such as V(/healthz) (ClusterRole only; not together with resources).
        type: list
        elements: str
  subjects:
    description:
      - Who is granted the role. Required and not empty for O(state=present).
      - With O(state=absent), only these subjects are removed from the binding.
      - The order is kept when the binding is written; comparisons ignore it.
    type: list
    elements: dict
    suboptions:
      kind:
        description: V(User), V(Group) or V(ServiceAccount). The C(apiGroup) the API wants is filled in.
        type: str
      name:
        description: User name (a certificate's CN), group name (a certificate's O) or ServiceAccount name.
        type: str
      namespace:
        description:
          - Namespace of a ServiceAccount; defaults to the binding's O(namespace), and is required in a
            ClusterRoleBinding. Users and groups have none.
        type: str
  subjects_mode:
    description:
      - V(exact) makes the binding hold exactly O(subjects). A binding that exists and is not ours is refused
        unless O(force), because its other subjects would be dropped; with O(force) it is taken over (labelled as
        ours).
      - V(merge) adds O(subjects) to whatever the binding holds and never removes one. A binding that is not ours
        stays not ours (it is not labelled), so it is never deleted as a whole later.
    type: str
    choices: [exact, merge]
    default: exact
  state:
    description:
      - V(present) makes sure the binding exists as described.
      - V(absent) with O(subjects) removes just those subjects, and deletes the binding if it is ours and is left
        without subjects. V(absent) without O(subjects) deletes the binding, only if it is ours unless O(force).
    type: str
    choices: [present, absent]
    default: present
  labels:
    description:
      - Labels added to every binding and role this module creates or owns, next to
        C(app.kubernetes.io/managed-by=kubeaccess.x509), which is always set.
      - In the batch form, the C(labels) of an item of O(bindings) are added to these. With O(prune), these top-level labels
        select the bindings that belong to this list.
    type: dict
    default: {}
  force:
    description:
      - Act on bindings and roles that are not ours (without the label
        C(app.kubernetes.io/managed-by=kubeaccess.x509)) - take them over in O(subjects_mode=exact), recreate them
        for a new roleRef, replace a role's rules, or delete them.
    type: bool
    default: false
  bindings:
    description:
      - The batch form. Each item takes O(name), O(namespace), O(role_kind), O(role_name), O(rules),
        O(subjects), O(subjects_mode), O(state), O(labels) and O(force); top-level values are the defaults of
        every item, and an item's O(labels) are added to the top-level ones.
      - The cluster is read once per kind and namespace (a LIST), never once per binding, and a run with nothing
        to change writes nothing.
      - Every item is checked before any is done; bad input or a missing namespace in any item fails the task
        with nothing changed, naming the item as C(bindings[i]).
      - An empty list is allowed (with O(prune), it removes all bindings of the inventory).
    type: list
    elements: dict
  prune:
    description:
      - With O(bindings), after the listed bindings are handled, delete every RoleBinding and ClusterRoleBinding
        (in any namespace) that carries C(app.kubernetes.io/managed-by=kubeaccess.x509) and all top-level
        O(labels) but is not listed, and likewise the Roles and ClusterRoles of that label that no listed item
        binds. This removes grants that disappeared from an inventory.
      - Requires O(labels), which mark this inventory's objects; without them, bindings made by other inventories
        would be deleted too.
    type: bool
    default: false
notes:
  - "Permissions of the connecting identity (API group C(rbac.authorization.k8s.io)): C(get) (single form) or
    C(list) (batch form) and C(create), C(update), C(delete) on C(rolebindings) / C(clusterrolebindings); the same
    on C(roles) / C(clusterroles) with O(rules); C(get) or C(list) on C(namespaces) (core group); C(list) on all
    four kinds at the cluster scope for O(prune). A 403 names the missing permission."
  - To bind a role, the identity must hold every permission the role grants, or have the C(bind) verb on it;
    the server's refusal is passed on.
  - Deleting a binding does not end sessions; Kubernetes checks RBAC on every request, so access ends with the
    next request.
seealso:
  - module: kubeaccess.x509.k8s_csr_request
  - module: kubeaccess.x509.k8s_csr_approve
  - name: Kubernetes RBAC
    description: Roles, ClusterRoles, bindings, and privilege escalation prevention.
    link: https://kubernetes.io/docs/reference/access-authn-authz/rbac/
"""

EXAMPLES = r"""
- name: Let rahul and the developers group edit the dev namespace
  kubeaccess.x509.k8s_rbac_binding:
    kubeconfig: ~/.kube/admin.conf
    name: developers-edit
    namespace: dev
    role_name: edit
    subjects:
      - kind: User
        name: rahul
      - kind: Group
        name: developers

- name: A custom ClusterRole made from rules, bound cluster-wide
  kubeaccess.x509.k8s_rbac_binding:
    name: auditors-read-events
    role_name: read-events
    rules:
      - api_groups: [""]
        resources: [events]
        verbs: [get, list, watch]
    subjects:
      - kind: Group
        name: auditors

- name: Add a ServiceAccount to a binding someone else made, keeping its subjects
  kubeaccess.x509.k8s_rbac_binding:
    name: ci-deployers
    namespace: prod
    role_name: edit
    subjects_mode: merge
    subjects:
      - kind: ServiceAccount
        name: deployer
        namespace: ci

- name: Offboard seema from one binding
  kubeaccess.x509.k8s_rbac_binding:
    name: developers-edit
    namespace: dev
    state: absent
    subjects:
      - kind: User
        name: seema

- name: Every grant of an inventory in one task; grants that left the inventory are deleted
  kubeaccess.x509.k8s_rbac_binding:
    labels:
      kubeaccess.x509/inventory: team-a
    prune: true
    bindings:
      - name: rahul-edit
        namespace: dev
        role_name: edit
        subjects: [{kind: User, name: rahul}]
      - name: rahul-view
        namespace: staging
        role_name: view
        subjects: [{kind: User, name: rahul}]
      - name: sre-cluster-view
        role_name: view
        subjects: [{kind: Group, name: sre}]
"""

RETURN = r"""
kind:
  description: V(RoleBinding) or V(ClusterRoleBinding).
  returned: single form
  type: str
  sample: RoleBinding
name:
  description: Name of the binding.
  returned: single form
  type: str
  sample: developers-edit
namespace:
  description: Namespace of the RoleBinding; null for a ClusterRoleBinding.
  returned: single form
  type: str
  sample: dev
role_ref:
  description: The role bound (as asked for, or as the binding holds it with O(state=absent)); null when unknown.
  returned: single form
  type: dict
  contains:
    kind:
      description: V(ClusterRole) or V(Role).
      type: str
    name:
      description: Name of the role.
      type: str
  sample: {kind: ClusterRole, name: edit}
action:
  description:
    - What was done (or would be, in check mode) to the binding. V(none), V(create), V(update), V(delete), or
      V(recreate) when the roleRef changed.
  returned: single form
  type: str
  sample: create
subjects:
  description: The binding's subjects after the task, in API form (C(kind), C(apiGroup), C(name), C(namespace)).
  returned: single form
  type: list
  elements: dict
  sample: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: rahul}]
subjects_added:
  description: Subjects the task added.
  returned: single form
  type: list
  elements: dict
subjects_removed:
  description: Subjects the task removed (all of them when the binding was deleted).
  returned: single form
  type: list
  elements: dict
role_action:
  description: What was done to the role made from O(rules). V(none), V(create), V(update) or V(delete).
  returned: single form, when rules are given
  type: str
  sample: create
diff:
  description:
    - The binding and, with O(rules), the role before and after, each with C(kind), C(name), C(namespace),
      C(labels), C(roleRef) and C(subjects), or C(rules); null where there is no object.
    - In the batch form, a list with one entry per item and per pruned object.
  returned: in diff mode
  type: dict
pruned:
  description: Objects O(prune) deleted (or would delete, in check mode).
  returned: batch form
  type: list
  elements: dict
  contains:
    kind:
      description: V(RoleBinding), V(ClusterRoleBinding), V(Role) or V(ClusterRole).
      type: str
    namespace:
      description: Namespace; null for cluster-scoped kinds.
      type: str
    name:
      description: Name of the object.
      type: str
    subjects:
      description: For a binding, the subjects it had (C(kind) and C(name)), who lost what it granted.
      type: list
      elements: dict
  sample: [{kind: RoleBinding, namespace: staging, name: rahul-view, subjects: [{kind: User, name: rahul}]}]
results:
  description: One result per item of O(bindings), in order, each with the keys of the single form.
  returned: batch form
  type: list
  elements: dict
failed_items:
  description: With O(continue_on_error), how many items failed.
  returned: when O(continue_on_error) is set and items failed
  type: int
"""

import itertools
import urllib.parse

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubeaccess.x509.plugins.module_utils import rbac
from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import (
    SharedClient, batch_argument_spec, identity_of, run_batch)
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import (
    MANAGED_BY, MANAGED_BY_LABEL, is_managed)
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import (
    AUTH_ARG_SPEC, ApiError, KubeError, ObjectReads, with_conflict_retries)
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
                client.request("DELETE", path, body=rbac.delete_options(current), expect=(200, 202, 404))
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
                                     "means deleting and recreating the binding, which is not done to a binding that is "
                                     "not ours. Choose another name, or check who made it and delete it first")
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
                                       body=rbac.delete_options(obj), expect=(200, 202, 404))
            entry = {"kind": kind, "namespace": namespace, "name": name}
            if part == "binding":
                entry["subjects"] = [{"kind": s.get("kind"), "name": s.get("name")} for s in obj.get("subjects") or []]
            pruned.append(entry)
            diffs.append({"before": {part: view(kind, obj)}, "after": {part: None},
                          "before_header": f"{rbac.describe(kind, namespace, name)} (pruned: no longer listed)"})
    return pruned, diffs


def main():
    module = AnsibleModule(argument_spec=batch_argument_spec(MODULE_SPEC, LIST_OPTION), supports_check_mode=True)
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


if __name__ == "__main__":
    main()
