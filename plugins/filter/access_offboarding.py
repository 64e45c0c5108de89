# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_offboarding as model


class FilterModule:
    def filters(self):
        return {
            "access_offboarding_found": model.found_on_controller,
            "access_offboarding_groups": model.groups_of,
            "access_offboarding_csrs": model.csr_items,
            "access_offboarding_report": model.report,
            "access_offboarding_accounts": model.account_items,
        }
