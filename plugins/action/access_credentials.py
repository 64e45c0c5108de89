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
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import remove_material
from ansible_collections.kubeaccess.x509.plugins.plugin_utils import (
    access_reachability, access_results, credentials_pipeline, in_process)
from ansible_collections.kubeaccess.x509.plugins.plugin_utils.backend_action import (
    BACKENDS, in_process_refusal, task_environment)

display = Display()
BACKEND_OF = {"kubeaccess.x509.k8s_csr_request": "csr_request", "kubeaccess.x509.k8s_csr_approve": "csr_approve",
              "kubeaccess.x509.k8s_kubeconfig_user": "kubeconfig_user"}


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # no effect since ansible-core 2.10
        missing = [name for name in ("plan", "verify") if name not in self._task.args]
        if missing:
            raise AnsibleActionFail(f"access_credentials: {', '.join(missing)} required (an internal step of the "
                                    "kubeaccess.x509.user_access role)")
        the_plan, verify = self._task.args["plan"], self._task.args["verify"]
        bindings = self._task.args.get("bindings") or {}
        # Nothing is tried on a cluster the bindings step could not reach; its users fail naming it (below).
        work = access_reachability.reachable_plan(the_plan, bindings)
        accounts = self._task.args.get("accounts") or {}
        decisions = self._task.args.get("self_service_decisions") or {}
        reason = in_process_refusal(self, task_vars)
        if reason is None:
            display.vvv(f"{self._task.action}: runs in the controller process")
            call = self._in_process_caller(task_vars)
            with task_environment(self):
                try:
                    outcome = credentials_pipeline.run(work, bindings, verify, call, overlap=True,
                                                       check_mode=self._play_context.check_mode, say=display.display)
                finally:
                    remove_material()
        else:
            display.vvv(f"{self._task.action}: runs its modules as processes ({reason})")

            def call(module, args):
                return self._execute_module(module_name=module, module_args=args, task_vars=task_vars)
            outcome = credentials_pipeline.run(work, bindings, verify, call, overlap=False,
                                               check_mode=self._play_context.check_mode, say=display.display)
        failures, warnings = outcome.pop("failures"), outcome.pop("warnings")
        outcomes = access_results.outcomes(work, outcome["requests"], outcome["approvals"], outcome["kubeconfigs"],
                                           bindings, accounts, decisions)
        controller = None if the_plan["batch_on_user_host"] else (task_vars or {}).get("inventory_hostname")
        result.update(outcome, changed=any(outcome[step]["changed"] for step in outcome),
                      outcomes=access_reachability.outcomes(outcomes, the_plan, bindings, controller))
        if warnings:
            result["warnings"] = warnings
        if failures:
            result.update(failed=True, msg=" | ".join(failures))
        return result

    def _in_process_caller(self, task_vars):
        backends, internal_args = {}, {}
        for module, backend in BACKEND_OF.items():
            backends[module] = importlib.import_module(BACKENDS + backend)
            internal_args[module] = {}
            self._update_module_args(module, internal_args[module], task_vars)

        def call(module, args):
            return in_process.run_module(backends[module], dict(args, **internal_args[module]),
                                         remove_tls_material=False)
        return call
