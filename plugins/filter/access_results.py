# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_results as model


class FilterModule:
    def filters(self):
        return {
            "access_approvals": model.approval_items,
            "access_kubeconfigs": model.kubeconfig_items,
            "access_outcomes": model.outcomes,
            "access_remote_plan": model.remote_plan,
            "access_host_copies": model.host_copies,
            "access_host_kubeconfigs": model.host_kubeconfig_items,
            "access_host_kubeconfig_results": model.host_kubeconfig_results,
            "access_ca_sign_items": model.ca_sign_items,
            "access_ca_signed": model.ca_signed,
            "access_ca_certificates": model.ca_certificates,
        }
