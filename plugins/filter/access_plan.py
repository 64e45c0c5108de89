# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os
from collections.abc import Mapping

import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_plan as model
from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_settings as options

ROLE_OPTIONS = options.ROLE_WIDE + options.PER_USER


def access_plan(users, hostvars, run_hosts, renderer, rendered, role_path):
    if not isinstance(users, list):
        raise AnsibleFilterError("access_plan: the input must be the list of user hosts, e.g. groups['kube_users']")
    unknown = sorted(set(rendered) - set(ROLE_OPTIONS))
    if unknown:
        raise AnsibleFilterError(f"access_plan: unknown settings {unknown}; known: {sorted(ROLE_OPTIONS)}")
    spec, defaults = role_files(role_path)
    rendered = plain(rendered)
    # Only the role's variables are read, so that unrelated host variables are never templated. Each
    # hostvars[host] computes all of that host's variables again, so it is looked up once per host.
    user_vars, inventories = {}, {}
    for host in users:
        variables = hostvars[host]
        inventories[host] = plain(options.inventory_values(variables, ROLE_OPTIONS))
        user_vars[host] = plain({name: variables[name] for name in
                                 [options.variable(o) for o in options.USER_ONLY] + list(options.CONNECTION_VARIABLES)
                                 if name in variables})
    renderer_inventory = inventories[renderer] if renderer in inventories else plain(options.inventory_values(
        hostvars[renderer], ROLE_OPTIONS))
    resolution = options.Resolution(spec, options.role_defaults(defaults))
    resolved = resolution.resolve(inventories, rendered, renderer_inventory)
    if resolved.errors:
        return {"errors": resolved.errors}
    run = [host for host in run_hosts if host in user_vars]
    the_plan = model.plan(user_vars, set(run), resolved.role_wide, resolved.per_user)
    return dict(the_plan, settings=resolved.role_wide, batch_on_user_host=renderer in user_vars)


def plain(value):
    """`value` as plain dicts and lists: Ansible's templated containers, copied (as the argument spec checks do),
    would make Ansible warn that a plugin loader is instantiated with aliases."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


_ROLE_FILES = {}


def role_files(role_path):
    """The options of the role's meta/argument_specs.yml (main entry point) and its defaults/main.yml."""
    if role_path not in _ROLE_FILES:
        with open(os.path.join(role_path, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
            spec = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
        with open(os.path.join(role_path, "defaults", "main.yml"), encoding="utf-8") as handle:
            _ROLE_FILES[role_path] = spec, yaml.safe_load(handle)
    return _ROLE_FILES[role_path]


class FilterModule:
    def filters(self):
        return {"access_plan": access_plan}
