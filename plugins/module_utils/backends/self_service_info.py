# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend of the k8s_self_service_info module: run with a self-service ServiceAccount's own token, what that
account may request (the user, groups and CSR name its annotations publish: module_utils/self_service.py)."""

from __future__ import annotations

from ansible_collections.kubeaccess.x509.plugins.module_utils import self_service
from ansible_collections.kubeaccess.x509.plugins.module_utils.backends.kubeconfig_user import self_subject_review
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import (
    AUTH_ARG_SPEC, ApiError, KubeClient, KubeError)

ARGUMENT_SPEC = dict(AUTH_ARG_SPEC)
MODULE_ARGS = dict(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
ASK_ADMINISTRATOR = "ask your administrator to set user_access_self_service for you"


class InfoError(Exception):
    """What stops the module, worded for the user."""


def service_account_of(username):
    """(namespace, name) of a ServiceAccount's user name, or None for any other identity."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    parts = username[len(SERVICE_ACCOUNT_PREFIX):].split(":")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


def read_account(client):
    """The identity facts the credential's own ServiceAccount publishes."""
    seen = self_subject_review(client)
    if seen is None:
        raise InfoError(f"the API server at {client.server} has no SelfSubjectReview API (Kubernetes 1.28 and later "
                        "have it), so this credential cannot be told apart; self-service needs a newer cluster")
    who = seen["username"]
    account = service_account_of(who)
    if account is None:
        raise InfoError(f"this credential is {who}, not a ServiceAccount: run playbooks/request.yml with the token of "
                        "your self-service ServiceAccount (kubectl create token kubeaccess-<user> --namespace "
                        f"{self_service.DEFAULT_NAMESPACE}, or the namespace your administrator chose)")
    namespace, name = account
    try:
        obj = client.get_or_none(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}")
    except ApiError as exc:
        if exc.status != 403:
            raise
        raise InfoError(f"ServiceAccount {namespace}/{name} may not read itself ({exc}): {ASK_ADMINISTRATOR}, "
                        "which lets the account read its own ServiceAccount") from None
    published = self_service.published(obj or {})
    if published is None:
        raise InfoError(f"ServiceAccount {namespace}/{name} publishes no self-service request (annotations "
                        f"{self_service.USER_ANNOTATION}, /groups, /csr-name): {ASK_ADMINISTRATOR}")
    user, groups, csr_name = published
    return {"namespace": namespace, "service_account": name, "user": user, "groups": groups, "csr_name": csr_name,
            "labels": self_service.request_labels(obj)}


def run(module):
    """The module's whole job with `module` (an AnsibleModule of MODULE_ARGS); ends with exit_json or fail_json."""
    try:
        facts = read_account(KubeClient(module.params))
    except (InfoError, KubeError) as exc:
        module.fail_json(msg=str(exc), changed=False)
    module.exit_json(changed=False, **facts)
