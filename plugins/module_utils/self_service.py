# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Self-service requests: each such user has a ServiceAccount on the cluster through which they request their own
certificate from their own machine (playbooks/request.yml). Its annotations publish what it may request (the user
name, the groups and the one CSR name it may create and read); the approver checks a request against them and
against who made it (the CSR's spec.username, which the API server sets)."""

from __future__ import annotations

import json

from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import readable_name

DEFAULT_NAMESPACE = "kubeaccess-self-service"
# The account's label that the requests carry too: offboarding and the audit find them as the inventory's.
INVENTORY_LABEL = "kubeaccess.x509/inventory"
USER_ANNOTATION = "kubeaccess.x509/user"
GROUPS_ANNOTATION = "kubeaccess.x509/groups"
CSR_NAME_ANNOTATION = "kubeaccess.x509/csr-name"


def account_name(user):
    return f"kubeaccess-{readable_name(user, 40)}"


def csr_name(user):
    """The one CSR name the user's ServiceAccount may create, read and replace."""
    return f"kubeaccess-self-service-{readable_name(user, 40)}"


def requester(namespace, user):
    """spec.username of a CSR that the user's ServiceAccount created."""
    return f"system:serviceaccount:{namespace}:{account_name(user)}"


def annotations(user, groups):
    return {USER_ANNOTATION: user, GROUPS_ANNOTATION: json.dumps(sorted(groups)), CSR_NAME_ANNOTATION: csr_name(user)}


def request_labels(account):
    """The labels a request made through `account` carries: its inventory's, when it has one."""
    labels = (account.get("metadata") or {}).get("labels") or {}
    return {INVENTORY_LABEL: labels[INVENTORY_LABEL]} if labels.get(INVENTORY_LABEL) else {}


def published(account):
    """(user, groups, csr name) that a ServiceAccount object publishes, or None when it publishes none."""
    found = (account.get("metadata") or {}).get("annotations") or {}
    try:
        groups = json.loads(found.get(GROUPS_ANNOTATION, ""))
    except ValueError:
        return None
    if not found.get(USER_ANNOTATION) or not isinstance(groups, list) or not found.get(CSR_NAME_ANNOTATION):
        return None
    return found[USER_ANNOTATION], [str(group) for group in groups], found[CSR_NAME_ANNOTATION]
