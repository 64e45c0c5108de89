#!/usr/bin/python
# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_access_info
short_description: What a cluster holds for users and groups, whoever made it - the bindings that grant them, their CSRs
version_added: 0.1.0
author:
  - kubeaccess maintainers (@kubeaccess)
description:
  - Lists every RoleBinding and ClusterRoleBinding of the cluster that names one of O(users) or O(groups) as a subject,
    ours or not, with the role it grants; and every CertificateSigningRequest whose request is for one of O(users)
    (its subject CN), with its phase and whether this collection made it.
  - A certificate cannot be revoked, so this is what still gives an identity access, for example in an offboarding
    report, which must name the bindings somebody made by hand as well as the collection's.
  - With O(all_subjects), every User and Group subject of every binding instead, as an audit needs it; with
    O(role_rules), each binding also carries the rules of the role it grants.
  - Read-only; three LIST requests (RoleBindings of all namespaces, ClusterRoleBindings, CSRs), two more (Roles of
    all namespaces, ClusterRoles) with O(role_rules), only the CSRs with O(read_bindings=false). It needs C(list) on
    those.
extends_documentation_fragment:
  - kubeaccess.x509.k8s_auth_options
  - kubeaccess.x509.attributes
  - kubeaccess.x509.attributes.ACTION_GROUP
  - kubeaccess.x509.attributes.INFO_MODULE
options:
  users:
    description: Kubernetes user names (certificate CNs).
    type: list
    elements: str
    default: []
  groups:
    description: Kubernetes groups (certificate O fields).
    type: list
    elements: str
    default: []
  all_subjects:
    description:
      - Return every binding with a User or Group subject, with all those subjects, whatever O(users) and O(groups)
        say (ServiceAccount subjects are left out). O(users) still selects the CSRs.
    type: bool
    default: false
    version_added: 0.2.0
  read_bindings:
    description:
      - Read the bindings at all. V(false) reads only the CSRs (one LIST), which is all an approver may need, since the
        approver's ClusterRole (C(examples/rbac/kubeaccess-approver.yaml)) cannot list bindings.
    type: bool
    default: true
    version_added: 0.2.0
  all_csrs:
    description:
      - Return every CSR of the cluster whatever its subject CN, instead of those of O(users).
    type: bool
    default: false
    version_added: 0.2.0
  role_rules:
    description:
      - Add to each binding the rules of the role it grants (RV(bindings[].rules)), read with one LIST of Roles and
        one of ClusterRoles.
    type: bool
    default: false
    version_added: 0.2.0
seealso:
  - module: kubeaccess.x509.k8s_rbac_binding
requirements:
  - cryptography >= 42.0.0
"""

EXAMPLES = r"""
- name: What still grants rahul, or the groups of his certificate, something
  kubeaccess.x509.k8s_access_info:
    kubeconfig: ~/.kube/admin.conf
    users: [rahul]
    groups: [developers]
  register: rahul_access

- name: Show the bindings
  ansible.builtin.debug:
    msg: "{{ rahul_access.bindings | map(attribute='description') }}"
"""

RETURN = r"""
bindings:
  description:
    - The bindings that name one of O(users) or O(groups) (any User or Group with O(all_subjects)), sorted by kind,
      namespace and name; empty with O(read_bindings=false).
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: V(RoleBinding) or V(ClusterRoleBinding).
      type: str
    namespace:
      description: Namespace of a RoleBinding; null for a ClusterRoleBinding.
      type: str
    name:
      description: Name of the binding.
      type: str
    role_ref:
      description: The role it grants, C(kind) and C(name).
      type: dict
    subjects:
      description: Its subjects among O(users) and O(groups), as C({kind, name}).
      type: list
      elements: dict
    managed_by:
      description: Its C(app.kubernetes.io/managed-by) label (V(kubeaccess.x509) for the collection's), or null.
      type: str
    inventory:
      description: Its C(kubeaccess.x509/inventory) label, or null.
      type: str
    rules:
      description:
        - The PolicyRules of the granted role as the API holds them (C(apiGroups), C(resources), C(verbs),
          C(resourceNames), C(nonResourceURLs)); null when the role does not exist.
        - An aggregated ClusterRole's rules are the aggregated ones, as the controller-manager fills them in.
      returned: with O(role_rules)
      type: list
      elements: dict
      version_added: 0.2.0
    description:
      description: One line for a report.
      type: str
      sample: RoleBinding dev/kubeaccess-group-developers-edit grants ClusterRole edit in dev (to Group developers)
  sample:
    - kind: RoleBinding
      namespace: dev
      name: kubeaccess-group-developers-edit
      role_ref: {kind: ClusterRole, name: edit}
      subjects: [{kind: Group, name: developers}]
      managed_by: kubeaccess.x509
      inventory: default
csrs:
  description: The CSRs whose request's subject CN is one of O(users) (every CSR with O(all_csrs)), sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the CSR object.
      type: str
    user:
      description: The request's CN.
      type: str
    groups:
      description: The request's O fields.
      type: list
      elements: str
    phase:
      description: V(pending), V(approved), V(issued), V(denied) or V(failed).
      type: str
    public_key_fingerprint:
      description: SHA-256 of the request's public key.
      type: str
    managed_by:
      description: Its C(app.kubernetes.io/managed-by) label, or null.
      type: str
    inventory:
      description: Its C(kubeaccess.x509/inventory) label, or null.
      type: str
    signer_name:
      description: Its C(spec.signerName).
      type: str
      version_added: 0.2.0
    created:
      description: Its C(metadata.creationTimestamp) (RFC 3339, UTC).
      type: str
      version_added: 0.2.0
    approval:
      description:
        - Who decided on it, from its V(Approved) or V(Denied) condition, as C({type, reason, message}); null while
          pending. Approvals through C(kubectl certificate approve) have reason V(KubectlApprove).
      type: dict
      version_added: 0.2.0
    certificate_serial:
      description:
        - The serial number of the issued certificate (upper-case hex, as C(openssl x509 -serial) prints it), or
          null. It matches a certificate on disk with the request that issued it.
      type: str
      version_added: 0.2.0
    certificate_not_after:
      description:
        - The issued certificate's NotAfter (RFC 3339, UTC), or null; until then it cannot be revoked.
      type: str
      version_added: 0.2.0
    requester:
      description:
        - Its C(spec.username), which the API server sets to whoever created it (a self-service request's is its
          ServiceAccount, C(system:serviceaccount:NAMESPACE:NAME)).
      type: str
      version_added: 0.2.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubeaccess.x509.plugins.module_utils.backends.access_info import MODULE_ARGS, run


def main():
    run(AnsibleModule(**MODULE_ARGS))


if __name__ == "__main__":
    main()
