#!/usr/bin/python
# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_self_service_info
short_description: What a self-service ServiceAccount may request, read with its own token
version_added: 0.2.0
author:
  - kubeaccess maintainers (@kubeaccess)
description:
  - The user's side of self-service. Run with the token of the user's self-service ServiceAccount (a kubeconfig with
    that bearer token, or O(host) with O(api_key) and O(ca_cert)), it asks the API server who the credential is
    (a SelfSubjectReview) and reads that ServiceAccount, which may read only itself.
  - Returns what the account's annotations publish (made by M(kubeaccess.x509.k8s_self_service_account)) - the user
    name, the groups and the one CSR name it may create - which is what a certificate request from the user's
    machine must ask for.
  - Fails when the credential is not a ServiceAccount (an administrator's or a user certificate, for example), or
    when its ServiceAccount publishes no self-service request.
  - Read-only; two requests. Needs Kubernetes 1.28 or later (the SelfSubjectReview API).
extends_documentation_fragment:
  - kubeaccess.x509.k8s_auth_options
  - kubeaccess.x509.attributes
  - kubeaccess.x509.attributes.ACTION_GROUP
  - kubeaccess.x509.attributes.INFO_MODULE
notes:
  - "Permissions of the ServiceAccount: C(create) on C(selfsubjectreviews) in API group C(authentication.k8s.io)
    (every authenticated identity has it) and C(get) on its own C(serviceaccounts) object in its namespace."
seealso:
  - module: kubeaccess.x509.k8s_self_service_account
  - module: kubeaccess.x509.k8s_csr_request
"""

EXAMPLES = r"""
- name: Who am I allowed to request a certificate for (kubeconfig with the ServiceAccount's token)
  kubeaccess.x509.k8s_self_service_info:
    kubeconfig: ~/.kube/self-service.conf
  register: self_service

- name: The same with the token given directly
  kubeaccess.x509.k8s_self_service_info:
    host: https://api.example.com:6443
    ca_cert: ~/cluster-ca.crt
    api_key: "{{ lookup('ansible.builtin.file', '~/self-service.token') }}"
  register: self_service

- name: Show it
  ansible.builtin.debug:
    msg: "{{ self_service.user }} may request {{ self_service.groups }} as CSR {{ self_service.csr_name }}"
"""

RETURN = r"""
namespace:
  description: Namespace of the ServiceAccount the credential is.
  returned: success
  type: str
  sample: kubeaccess-self-service
service_account:
  description: Name of the ServiceAccount the credential is.
  returned: success
  type: str
  sample: kubeaccess-rahul
user:
  description: The user name (certificate CN) the ServiceAccount may request a certificate for.
  returned: success
  type: str
  sample: rahul
groups:
  description: The groups (certificate O fields) it may request.
  returned: success
  type: list
  elements: str
  sample: [developers]
csr_name:
  description: The one CSR name the ServiceAccount may create and read.
  returned: success
  type: str
  sample: kubeaccess-self-service-rahul
labels:
  description: Labels the request carries, so that the administrator's runs find it as their inventory's (its label
    C(kubeaccess.x509/inventory), when the ServiceAccount has it).
  returned: success
  type: dict
  sample: {"kubeaccess.x509/inventory": "default"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubeaccess.x509.plugins.module_utils.backends.self_service_info import MODULE_ARGS, run


def main():
    run(AnsibleModule(**MODULE_ARGS))


if __name__ == "__main__":
    main()
