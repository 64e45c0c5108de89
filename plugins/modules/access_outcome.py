#!/usr/bin/python
# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: access_outcome
short_description: Internal step of the user_access role - each user's own outcome on the user's own host
version_added: 0.2.0
author:
  - kubeaccess maintainers (@kubeaccess)
description:
  - Reports the outcome of the user whose host the task runs on, from a variable of the run that holds every user's
    outcome, as ok, changed, or failed with the reason, so that PLAY RECAP and the exit code tell each user's truth.
    Not meant for playbooks.
  - The outcome is read from the variable directly, not templated, since a template would copy every user's outcome
    on each host. A host without an outcome in it is skipped.
  - An action plugin runs on the controller; this file only documents it.
options:
  outcomes:
    description: The name of the fact or registered variable that holds host -> C(changed), C(failed), C(msg).
    type: str
    required: true
  key:
    description: The key of that variable that holds them, if they are not the variable itself.
    type: str
extends_documentation_fragment:
  - kubeaccess.x509.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  action:
    description: Runs as an action plugin on the controller.
    support: full
"""

EXAMPLES = r"""
- name: Each user's outcome (roles/user_access/tasks/outcome.yml)
  kubeaccess.x509.access_outcome:
    outcomes: user_access_credentials
    key: outcomes
"""

RETURN = r"""
msg:
  description: The user's summary, one line per cluster, and the reason of what failed.
  returned: when the host is a user of the run
  type: list
  elements: str
"""
