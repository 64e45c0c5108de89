# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit report of the user_access role (roles/user_access/tasks/audit.yml, playbooks/audit.yml): built in the
controller process from the plan and each cluster's k8s_access_info result (plugin_utils/access_audit.py), with each
kubeconfig the controller holds checked by a SelfSubjectReview; written as JSON and as a self-contained HTML page,
and shown as tables. Read-only on the clusters and the users' files.
"""

from __future__ import annotations

import json

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.kubeaccess.x509.plugins.module_utils.file_io import write_atomic
from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_audit, audit_render

REPORT_MODE = 0o640
display = Display()


def access_infos(the_plan, registered):
    """cluster -> its k8s_access_info result (a looped task's item), or the failure."""
    infos = {}
    for name in the_plan["settings"]["clusters"]:
        found = [r for r in (registered or {}).get("results", []) if (r.get("item") or {}).get("key") == name]
        if not found:
            infos[name] = {"failed": True, "msg": "k8s_access_info did not run for this cluster"}
        else:
            infos[name] = found[0]
    return infos


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # no effect since ansible-core 2.10
        args = self._task.args
        missing = [name for name in ("plan", "access", "report_dir") if name not in args]
        if missing:
            raise AnsibleActionFail(f"access_audit: {', '.join(missing)} required (an internal step of the "
                                    "kubeaccess.x509.user_access role)")
        the_plan = args["plan"]
        infos = access_infos(the_plan, args["access"])
        verifications = {(entry["host"], entry["cluster"]): access_audit.verify_kubeconfig(entry, infos[entry["cluster"]])
                         for entry in access_audit.audited_entries(the_plan)}
        report = access_audit.build(the_plan, infos, verifications)
        paths, unwritable = access_audit.report_paths(args["report_dir"], report["inventory"])
        if unwritable and not self._task.check_mode:
            raise AnsibleActionFail(unwritable)
        if not self._task.check_mode:
            write_atomic(paths["json"], (json.dumps(report, indent=2) + "\n").encode(), REPORT_MODE)
            write_atomic(paths["html"], audit_render.html_page(report).encode(), REPORT_MODE)
        # The tables as they are, not as a quoted list in the task result.
        display.display(audit_render.text_report(report))
        drift = report["summary"]["drift"]
        result.update(changed=False, summary=report["summary"], paths=paths,
                      msg=(f"Report: {paths['json']} and {paths['html']}" if not self._task.check_mode else
                           "Check mode: the report files were not written."))
        if drift and args.get("fail_on_drift"):
            kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(report["summary"]["drift_by_kind"].items()))
            result.update(failed=True, msg=f"{drift} drift finding(s) ({kinds}), and fail_on_drift is set. "
                          + result["msg"])
        return result
