# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_reachability as model


class FilterModule:
    def filters(self):
        return {
            "access_cluster_unreachable": model.cluster_unreachable,
        }
