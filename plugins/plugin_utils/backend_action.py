# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin of a module whose work is a backend in module_utils/backends.

When the module would run on the controller under the controller's own Python (connection local, no become, not
async, its Python interpreter the one running Ansible: implicit localhost, or `ansible_python_interpreter:
"{{ ansible_playbook_python }}"`), the backend runs in this process: the same code with the same parameters, and no
module process (about half a second each). Anywhere else (a user's own machine, become, another interpreter) the
module runs as any module does.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

from ansible import constants as C
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.kubeaccess.x509.plugins.plugin_utils import in_process

BACKENDS = "ansible_collections.kubeaccess.x509.plugins.module_utils.backends."
display = Display()


class BackendAction(ActionBase):
    """Subclasses name their backend: `BACKEND = "csr_request"` (module_utils/backends/csr_request.py)."""

    BACKEND = None
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # no effect since ansible-core 2.10
        reason = in_process_refusal(self, task_vars)
        if reason:
            display.vvv(f"{self._task.action}: runs as a module process ({reason})")
            result.update(self._execute_module(task_vars=task_vars, wrap_async=self._task.async_val))
            if not self._task.async_val:
                self._remove_tmp_path(self._connection._shell.tmpdir)  # pylint: disable=protected-access
            return result
        display.vvv(f"{self._task.action}: runs in the controller process")
        module_args = dict(self._task.args)
        self._update_module_args(self._task.action, module_args, task_vars)
        backend = importlib.import_module(BACKENDS + self.BACKEND)
        with task_environment(self):
            result.update(in_process.run_module(backend, module_args))
        return result


# These read the action plugin's own state, which ActionBase offers no public way to read.
# pylint: disable=protected-access
def in_process_refusal(action, task_vars):
    """Why the modules of `action`'s task must run as their own processes, or None."""
    if not in_process.supported():
        return "this ansible-core cannot take a module's result in-process"
    if getattr(action._connection, "transport", None) != "local":
        return "not on the controller"
    if action._play_context.become:
        return "become"
    if action._task.async_val:
        return "async"
    use_vars = task_vars
    if action._task.delegate_to:
        use_vars = task_vars.get("ansible_delegated_vars", {}).get(action._task.delegate_to, task_vars)
    interpreter = action._templar.template(C.config.get_config_value("INTERPRETER_PYTHON", variables=use_vars))
    if interpreter != sys.executable:
        return f"its Python is {interpreter}, not the controller's {sys.executable}"
    return None


@contextlib.contextmanager
def task_environment(action):
    """The task's `environment:` in os.environ while backends run, as a module process would have it."""
    variables = {}
    action._compute_environment_string(variables)
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update({name: str(value) for name, value in variables.items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
