# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each user's own outcome on the user's own host: ok, changed, or failed with the reason, so that PLAY RECAP and the
exit code tell each user's truth (the user_access role's outcome.yml).

Internal to the role. `outcomes` names the fact or registered variable holding host -> {changed, failed, msg}
(access_results.outcomes), and `key` the key within it that holds them, if any. The outcome is read from the task's
variables directly: a template such as `{{ outcomes[inventory_hostname] }}` would copy the mapping of every user's
outcome on each host (Ansible's lazy templating), which made this one task per user take twice Ansible's own time per
host at 1000 users. A host without an outcome (the controller) is skipped.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # no effect since ansible-core 2.10
        name = self._task.args.get("outcomes")
        if not name or name not in task_vars:
            raise AnsibleActionFail(f"access_outcome: outcomes must name a variable of the run, not {name!r} (an "
                                    "internal step of the kubeaccess.x509.user_access role)")
        outcomes = task_vars[name]
        if self._task.args.get("key"):
            outcomes = outcomes[self._task.args["key"]]
        outcome = outcomes.get(task_vars["inventory_hostname"])
        if outcome is None:
            result.update(skipped=True, skip_reason="not a user of this run")
            return result
        # Shown without -v, as debug shows its message: each user's summary line is the report.
        result.update(changed=bool(outcome["changed"]), msg=outcome["msg"], _ansible_verbose_always=True)
        if outcome["failed"]:
            result["failed"] = True
        return result
