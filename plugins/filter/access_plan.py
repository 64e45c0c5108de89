# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import DEFAULT_KEY_TYPE, DEFAULT_RSA_SIZE
from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_plan as model

USER_VARIABLES = ("user_access_name", "user_access_groups", "user_access_grants", "user_access_namespace",
                  "user_access_user_clusters", "user_access_lifetime", "user_access_renew_before",
                  "user_access_key_dir", "user_access_kubeconfig_path", "user_access_expect", "user_access_key_type",
                  "user_access_key_size", "ansible_host", "ansible_connection")


SETTINGS = {"base_dir": "~/.kubeaccess", "lifetime": "24h", "renew_before": "30%", "force_renewal": False,
            "inventory": "default", "require_groups": True, "key_type": DEFAULT_KEY_TYPE,
            "key_size": DEFAULT_RSA_SIZE}


def access_plan(users, hostvars, clusters, group_grants, play_hosts, settings=None):
    if not isinstance(users, list):
        raise AnsibleFilterError("access_plan: the input must be the list of user hosts, e.g. groups['kube_users']")
    # Only the role's variables are read, so that unrelated host variables are never templated. Each
    # hostvars[host] computes all of that host's variables again, so it is looked up once per host.
    user_vars = {host: _role_variables(hostvars[host]) for host in users}
    unknown = sorted(set(settings or {}) - set(SETTINGS))
    if unknown:
        raise AnsibleFilterError(f"access_plan: unknown settings {unknown}; known: {sorted(SETTINGS)}")
    return model.plan(user_vars, clusters, group_grants, dict(SETTINGS, **(settings or {}), play_hosts=set(play_hosts)))


def _role_variables(variables):
    return {name: variables[name] for name in USER_VARIABLES if name in variables}


class FilterModule:
    def filters(self):
        return {
            "access_plan": access_plan,
            "access_approvals": model.approval_items,
            "access_kubeconfigs": model.kubeconfig_items,
            "access_remote_plan": model.remote_plan,
            "access_host_copies": model.host_copies,
            "access_host_kubeconfigs": model.host_kubeconfig_items,
            "access_host_kubeconfig_results": model.host_kubeconfig_results,
            "access_summary": model.summary,
            "access_offboarding_report": model.offboarding_report,
            "access_offboarding_csrs": model.offboarding_csrs,
            "access_user_files": model.user_files,
        }
