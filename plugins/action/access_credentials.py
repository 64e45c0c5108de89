# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The user_access role's certificate steps for the users whose keys are on the controller: requests, approvals and
kubeconfigs, overlapping with each cluster's signer when they run in the controller process
(plugin_utils/credentials_pipeline.py); as three module processes per cluster elsewhere.

Internal to the role (roles/user_access/tasks/credentials.yml): it takes the role's plan, `bindings` (the registered
result of the bindings step) and `verify`, and returns `requests`, `approvals` and `kubeconfigs` as the step tasks
looped over the clusters would register them, and `outcomes`, each user's own (access_results.outcomes).
"""

from __future__ import annotations

import importlib

from ansible.errors import AnsibleActionFail
from ansible.utils.display import Display

from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import remove_material
from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_results, credentials_pipeline, in_process
from ansible_collections.kubeaccess.x509.plugins.plugin_utils.backend_action import (
    BACKENDS, BackendAction, task_environment)

display = Display()
BACKEND_OF = {"kubeaccess.x509.k8s_csr_request": "csr_request", "kubeaccess.x509.k8s_csr_approve": "csr_approve",
              "kubeaccess.x509.k8s_kubeconfig_user": "kubeconfig_user"}


class ActionModule(BackendAction):
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(BackendAction, self).run(tmp, task_vars)  # pylint: disable=bad-super-call
        del tmp  # no effect since ansible-core 2.10
        missing = [name for name in ("plan", "verify") if name not in self._task.args]
        if missing:
            raise AnsibleActionFail(f"access_credentials: {', '.join(missing)} required (an internal step of the "
                                    "kubeaccess.x509.user_access role)")
        work, verify = self._task.args["plan"], self._task.args["verify"]
        bindings = self._task.args.get("bindings") or {}
        reason = self._in_process_refusal(task_vars)
        if reason is None:
            display.vvv(f"{self._task.action}: runs in the controller process")
            call = self._in_process_caller(task_vars)
            with task_environment(self):
                try:
                    outcome = credentials_pipeline.run(work, bindings, verify, call, overlap=True)
                finally:
                    remove_material()
        else:
            display.vvv(f"{self._task.action}: runs its modules as processes ({reason})")

            def call(module, args):
                return self._execute_module(module_name=module, module_args=args, task_vars=task_vars)
            outcome = credentials_pipeline.run(work, bindings, verify, call, overlap=False)
        failures, warnings = outcome.pop("failures"), outcome.pop("warnings")
        result.update(outcome, changed=any(outcome[step]["changed"] for step in outcome),
                      outcomes=access_results.outcomes(work, outcome["requests"], outcome["approvals"],
                                                       outcome["kubeconfigs"], bindings))
        if warnings:
            result["warnings"] = warnings
        if failures:
            result.update(failed=True, msg=" | ".join(failures))
        return result

    def _in_process_caller(self, task_vars):
        internal = {}
        for module, backend in BACKEND_OF.items():
            internal[module] = {}
            self._update_module_args(module, internal[module], task_vars)
            internal[module]["backend"] = importlib.import_module(BACKENDS + backend)

        def call(module, args):
            settings = dict(internal[module])
            backend = settings.pop("backend")
            return in_process.run_module(backend, dict(args, **settings), remove_tls_material=False)
        return call
