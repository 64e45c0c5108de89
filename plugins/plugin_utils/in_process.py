# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module's backend run inside the calling Python process, with a real AnsibleModule.

A module process costs about half a second (packaging, a new interpreter, imports) where the work of a no-change
run of the role costs milliseconds. When the module would run on the controller with the controller's own Python,
running its backend here gives the same result: the same argument checks, check and diff mode, no_log masking and
warnings, through the same AnsibleModule, with the parameters and the result encoded and decoded as they are
between the controller and a module process.
"""

from __future__ import annotations

import json
import threading

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.common.json import Direction, get_module_decoder, get_module_encoder

from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import remove_material

# The serialization profile Ansible uses for modules that declare none (ours).
PROFILE = "legacy"
_ARGUMENTS = threading.Lock()


def supported():
    """Whether this ansible-core lets the result of an AnsibleModule be taken without printing it (2.19.1+)."""
    return hasattr(basic.AnsibleModule, "_record_module_result")


def run_module(backend, module_args, remove_tls_material=True):
    """Run `backend.run(module)` with `module_args` (the task's arguments and Ansible's `_ansible_*` ones) as the
    module's process would, and return the result the controller would read from that process.

    Runs may overlap in threads; then the caller removes the TLS material once they are all done
    (`remove_tls_material=False`), since their connections share it."""
    recorded, own_warnings = [], []

    class InProcessModule(basic.AnsibleModule):
        def warn(self, warning):
            # In Ansible's own processes, the shared warn() would print at once; a module returns its warnings with
            # its result, which Ansible shows under the task, and so do these.
            own_warnings.append(warning)

        def _record_module_result(self, o):
            recorded.append(o)

    earlier_warnings = set(module_warnings.get_warnings())
    earlier_deprecations = set(module_warnings.get_deprecations())
    try:
        module = _new_module(InProcessModule, backend.MODULE_ARGS, module_args)
        if module is not None:
            backend.run(module)
    except SystemExit:
        pass  # exit_json and fail_json end with it, after recording the result
    finally:
        if remove_tls_material:
            remove_material()
    if not recorded:
        raise RuntimeError(f"{backend.__name__}: ended without a result")
    result = recorded[-1]
    # Warnings are collected per process, and a module process starts with none: a result keeps only its run's own,
    # which are then forgotten, so that a later run giving the same warning gives it again.
    for key, earlier, registry in (("warnings", earlier_warnings, "_global_warnings"),
                                   ("deprecations", earlier_deprecations, "_global_deprecations")):
        if key in result:
            result[key] = [entry for entry in result[key] if entry not in earlier]
            for entry in result[key]:
                getattr(module_warnings, registry, {}).pop(entry, None)
            if not result[key]:
                del result[key]
    if own_warnings:
        result["warnings"] = list(result.get("warnings", [])) + own_warnings
    text = json.dumps(result, cls=get_module_encoder(PROFILE, Direction.MODULE_TO_CONTROLLER))
    return json.loads(text, cls=get_module_decoder(PROFILE, Direction.MODULE_TO_CONTROLLER))


def _new_module(module_class, module_kwargs, module_args):
    """The AnsibleModule of `module_args`, or None when it refused them (its result then recorded). AnsibleModule
    reads its arguments from module globals, set here for the time it takes, one thread at a time."""
    with _ARGUMENTS:
        saved = basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE  # pylint: disable=protected-access
        basic._ANSIBLE_ARGS = json.dumps(  # pylint: disable=protected-access
            {"ANSIBLE_MODULE_ARGS": module_args},
            cls=get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)).encode()
        basic._ANSIBLE_PROFILE = PROFILE  # pylint: disable=protected-access
        try:
            return module_class(**module_kwargs)
        except SystemExit:
            return None
        finally:
            basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE = saved  # pylint: disable=protected-access
