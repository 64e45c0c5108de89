# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_self_service_info in the controller process when it runs there (plugin_utils/backend_action.py)."""

from __future__ import annotations

from ansible_collections.kubeaccess.x509.plugins.plugin_utils.backend_action import BackendAction


class ActionModule(BackendAction):
    BACKEND = "self_service_info"
