#!/usr/bin/python
# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_self_service_account
short_description: The ServiceAccount through which a user requests their own certificate (self-service)
version_added: 0.2.0
author:
  - kubeaccess maintainers (@kubeaccess)
description:
  - The administrator's side of self-service. A self-service user requests their own certificate from their own
    machine, with the token of a ServiceAccount of their own; their private key never leaves that machine.
  - Makes sure the namespace O(namespace) exists (it is created when missing, labelled
    C(app.kubernetes.io/managed-by=kubeaccess.x509), and never deleted by this module) and holds the ServiceAccount
    C(kubeaccess-<user>), whose annotations publish what the user may request - C(kubeaccess.x509/user) (O(user)),
    C(kubeaccess.x509/groups) (O(groups), as a sorted JSON list) and C(kubeaccess.x509/csr-name) (the one CSR name
    the account may create). The approver checks a self-service request against them.
  - The ServiceAccount carries the label C(app.kubernetes.io/managed-by=kubeaccess.x509) plus O(labels), which is
    what makes it ours. A ServiceAccount of that name that is not ours is refused, never taken over or deleted.
  - Labels and annotations that others set on our ServiceAccount are kept; an update is a PUT of the object as read,
    retried on a fresh read when someone changed it meanwhile.
  - This module grants nothing; the permissions of the account (create and read its CSR, read itself) are RBAC
    bindings of their own, for example with M(kubeaccess.x509.k8s_rbac_binding).
  - The batch form O(accounts) handles any number of users in one task, with one read of the namespaces and one of
    the ServiceAccounts of each namespace.
extends_documentation_fragment:
  - kubeaccess.x509.k8s_auth_options
  - kubeaccess.x509.attributes
  - kubeaccess.x509.attributes.ACTION_GROUP
  - kubeaccess.x509.batch
attributes:
  check_mode:
    support: full
    details:
      - Reads the cluster and reports what would be created, updated or deleted (the namespace too), without writing
        anything.
  diff_mode:
    support: full
    details:
      - Shows the ServiceAccount before and after (name, namespace, labels, annotations), and the namespace when it is
        created.
options:
  user:
    description:
      - The Kubernetes user name (the certificate's CN) the ServiceAccount requests for. The ServiceAccount is named
        C(kubeaccess-<user>), made DNS-safe (a short hash is added when that changed the name).
      - Required unless O(accounts) gives it for every item. Names starting with C(system:) are refused.
    type: str
  groups:
    description:
      - The groups (the certificate's O fields) the user may request. Required and not empty for O(state=present);
        duplicates are dropped and the order does not matter. Names starting with C(system:) are refused.
    type: list
    elements: str
  namespace:
    description:
      - Namespace of the ServiceAccount; created when missing. A namespace being deleted (C(Terminating)) fails the
        item with nothing done.
    type: str
    default: kubeaccess-self-service
  labels:
    description:
      - Labels of the ServiceAccount, next to C(app.kubernetes.io/managed-by=kubeaccess.x509), which is always set.
      - In the batch form, the C(labels) of an item of O(accounts) are added to these.
    type: dict
    default: {}
  state:
    description:
      - V(present) makes sure the ServiceAccount exists with these labels and annotations.
      - V(absent) deletes the ServiceAccount if it is ours, which also ends every token made for it; the namespace
        stays.
    type: str
    choices: [present, absent]
    default: present
  accounts:
    description:
      - The batch form. Each item takes O(user), O(groups), O(namespace), O(labels) and O(state); top-level values
        are the defaults of every item, and an item's O(labels) are added to the top-level ones.
      - Every item is checked before any is done; bad input or a ServiceAccount that is not ours in any item fails
        the task with nothing changed, naming the item as C(accounts[i]).
    type: list
    elements: dict
notes:
  - "Permissions of the connecting identity (core API group): C(get) (single form) or C(list) (batch form) and
    C(create) on C(namespaces); C(get) or C(list), C(create), C(update) and C(delete) on C(serviceaccounts) in
    O(namespace)."
  - "The user then gets a token of the account, for example C(kubectl create token kubeaccess-<user> --namespace
    kubeaccess-self-service), and reads what it may request with M(kubeaccess.x509.k8s_self_service_info)."
seealso:
  - module: kubeaccess.x509.k8s_self_service_info
  - module: kubeaccess.x509.k8s_rbac_binding
  - module: kubeaccess.x509.k8s_csr_approve
  - name: Kubernetes ServiceAccounts
    description: ServiceAccounts and their tokens (the TokenRequest API).
    link: https://kubernetes.io/docs/concepts/security/service-accounts/
"""

EXAMPLES = r"""
- name: Let rahul request his own certificate for the developers group
  kubeaccess.x509.k8s_self_service_account:
    kubeconfig: ~/.kube/admin.conf
    user: rahul
    groups: [developers]

- name: Several users at once, in a namespace of their own, labelled with the inventory
  kubeaccess.x509.k8s_self_service_account:
    namespace: team-a-self-service
    labels:
      kubeaccess.x509/inventory: team-a
    accounts:
      - user: rahul
        groups: [developers]
      - user: seema
        groups: [developers, sre]

- name: Offboard seema from self-service (her tokens end with the ServiceAccount)
  kubeaccess.x509.k8s_self_service_account:
    user: seema
    state: absent
"""

RETURN = r"""
user:
  description: The user name the ServiceAccount requests for.
  returned: single form
  type: str
  sample: rahul
namespace:
  description: Namespace of the ServiceAccount.
  returned: single form
  type: str
  sample: kubeaccess-self-service
name:
  description: Name of the ServiceAccount.
  returned: single form
  type: str
  sample: kubeaccess-rahul
csr_name:
  description: The one CSR name the ServiceAccount may create and read, as its annotation publishes it.
  returned: single form
  type: str
  sample: kubeaccess-self-service-rahul
groups:
  description:
    - The groups published, sorted and without duplicates; with O(state=absent), those the deleted account
      published.
  returned: single form
  type: list
  elements: str
  sample: [developers]
action:
  description: What was done (or would be, in check mode) to the ServiceAccount. V(create), V(update), V(none) or
    V(delete).
  returned: single form
  type: str
  sample: create
namespace_created:
  description: Whether the namespace was created (or would be, in check mode).
  returned: single form
  type: bool
  sample: false
diff:
  description:
    - The ServiceAccount before and after (C(service_account) with C(name), C(namespace), C(labels) and
      C(annotations), null where there is none), and C(namespace) when it is created.
    - In the batch form, a list with one entry per item.
  returned: in diff mode
  type: dict
results:
  description: One result per item of O(accounts), in order, each with the keys of the single form.
  returned: batch form
  type: list
  elements: dict
failed_items:
  description: With O(continue_on_error), how many items failed.
  returned: when O(continue_on_error) is set and items failed
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubeaccess.x509.plugins.module_utils.backends.self_service_account import MODULE_ARGS, run


def main():
    run(AnsibleModule(**MODULE_ARGS))


if __name__ == "__main__":
    main()
