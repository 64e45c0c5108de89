#!/usr/bin/python
# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: access_credentials
short_description: Internal step of the user_access role - keys, certificates and kubeconfigs of many users at once
version_added: 0.2.0
author:
  - kubeaccess maintainers (@kubeaccess)
description:
  - The user_access role's step for the users whose keys are on the controller. Not meant for playbooks; use
    M(kubeaccess.x509.k8s_csr_request), M(kubeaccess.x509.k8s_csr_approve) and M(kubeaccess.x509.k8s_kubeconfig_user),
    which it runs.
  - It runs those modules' backends with the items the role's plan gives, per cluster. In the controller process the
    users go through them in chunks that overlap, so that keys, requests and kubeconfigs proceed while the cluster's
    signer works through the approved requests; elsewhere it runs the three modules one after the other.
  - An action plugin runs on the controller; this file only documents it.
options:
  plan:
    description: The role's plan (the P(kubeaccess.x509.access_plan#filter) filter).
    type: dict
    required: true
  bindings:
    description: The registered result of the role's M(kubeaccess.x509.k8s_rbac_binding) step, whose changes count
      for the users they grant something.
    type: dict
    default: {}
  verify:
    description: The role's O(ignore:user_access_verify).
    type: str
    required: true
    choices: [changed, always, never]
extends_documentation_fragment:
  - kubeaccess.x509.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  action:
    description: Runs as an action plugin on the controller.
    support: full
"""

EXAMPLES = r"""
- name: The user_access role's step (roles/user_access/tasks/credentials.yml)
  kubeaccess.x509.access_credentials:
    plan: "{{ user_access_plan }}"
    bindings: "{{ user_access_bindings | default({}) }}"
    verify: "{{ user_access_plan.settings.verify }}"
  register: user_access_credentials
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
requests:
  description: The results of M(kubeaccess.x509.k8s_csr_request), as a task looped over the clusters registers them.
  returned: always
  type: dict
approvals:
  description: The results of M(kubeaccess.x509.k8s_csr_approve), in the same form.
  returned: always
  type: dict
kubeconfigs:
  description: The results of M(kubeaccess.x509.k8s_kubeconfig_user), in the same form.
  returned: always
  type: dict
outcomes:
  description: Each user host's own outcome, with C(changed), C(failed) and C(msg) (one summary line per cluster).
  returned: always
  type: dict
"""
