#!/usr/bin/python
# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: access_audit
short_description: Internal step of the user_access role - the audit report of playbooks/audit.yml
version_added: 0.2.0
author:
  - kubeaccess maintainers (@kubeaccess)
description:
  - Builds the audit report from the role's plan and each cluster's M(kubeaccess.x509.k8s_access_info) result
    (with O(kubeaccess.x509.k8s_access_info#module:all_subjects) and
    O(kubeaccess.x509.k8s_access_info#module:role_rules)), the certificates kept on the controller, and a
    SelfSubjectReview with each kubeconfig the controller holds, made with that user's own credentials. Not meant
    for playbooks; C(playbooks/audit.yml) runs it.
  - Shows the report as tables, drift first, and writes it to O(report_dir) as C(audit-<inventory>.json) (the schema
    is C(docs/audit-report.schema.json)) and C(audit-<inventory>.html), a page with no external assets. Files are
    written atomically with mode 0640; a missing directory is made 0700.
  - Changes nothing on the clusters and nothing of the users' files. A cluster whose result failed is reported as
    unreachable, and the others still are.
  - An action plugin runs on the controller; this file only documents it.
options:
  plan:
    description: The role's plan (C(user_access_plan)).
    type: dict
    required: true
  access:
    description: The registered result of M(kubeaccess.x509.k8s_access_info) looped over the plan's clusters.
    type: dict
    required: true
  report_dir:
    description: Where the JSON and HTML files go; relative to the directory ansible-playbook runs in.
    type: path
    required: true
  fail_on_drift:
    description: Fail the task (exit status 2) when the report has drift, for CI. The report is written first.
    type: bool
    default: false
extends_documentation_fragment:
  - kubeaccess.x509.attributes
attributes:
  check_mode:
    support: full
    details: In check mode the report is shown but its files are not written.
  diff_mode:
    support: none
  action:
    description: Runs as an action plugin on the controller.
    support: full
"""

EXAMPLES = r"""
- name: The audit report (roles/user_access/tasks/audit.yml)
  kubeaccess.x509.access_audit:
    plan: "{{ user_access_plan }}"
    access: "{{ user_access_audit_access }}"
    report_dir: audit-reports
    fail_on_drift: false
"""

RETURN = r"""
summary:
  description: The report's C(summary) (docs/audit-report.schema.json), with C(drift) and C(drift_by_kind).
  returned: always
  type: dict
paths:
  description: The files written, C(json) and C(html).
  returned: always
  type: dict
msg:
  description: Where the report is, and with O(fail_on_drift) the drift that failed the task.
  returned: always
  type: str
"""
