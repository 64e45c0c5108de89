# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_csr_sign_with_ca in the controller process only when it runs there, that is when the CA key is on the
controller itself (plugin_utils/backend_action.py); delegated to a control-plane host, it runs there as a module."""

from __future__ import annotations

from ansible_collections.kubeaccess.x509.plugins.plugin_utils.backend_action import BackendAction


class ActionModule(BackendAction):
    BACKEND = "csr_sign_with_ca"
