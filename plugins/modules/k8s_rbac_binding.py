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
      - In the batch form, the C(labels) of an item of O(bindings) are added to these. With O(prune), these
        top-level labels select the bindings that belong to this list.
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubeaccess.x509.plugins.module_utils.backends.rbac_binding import MODULE_ARGS, run


def main():
    run(AnsibleModule(**MODULE_ARGS))


if __name__ == "__main__":
    main()
