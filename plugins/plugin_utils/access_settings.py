# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which value of each option of the user_access role applies, to the run and to each user.

The role's steps run once for all users, on one host (the controller, or the play's first user), so nothing may be
taken from that host's own variables: a lifetime set in rahul's host_vars would otherwise become seema's. Each
user's own values are read from their inventory variables (`hostvars`: host_vars, group_vars and -e); what the play
sets above the inventory (play vars, role parameters) is told apart from the rendering host's own inventory value.

- Per-user options (lifetime, renew_before, key_type, key_size, rotate_key): as Ansible resolves them for the
  user's own host. The play's value when it sets one (play vars and role parameters win over the inventory), else
  the user's own inventory value, else the role default.
- Role-wide options: one value for the run. The play's value when it sets one, else the value the inventory gives
  every user (the same for all of them, or the run is refused naming who differs), else the role default.
"""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

PREFIX = "user_access_"
ROLE_WIDE = ("clusters", "group_grants", "base_dir", "inventory", "require_groups", "force_renewal", "verify",
             "prune")
PER_USER = ("lifetime", "renew_before", "key_type", "key_size", "rotate_key")
# Variables that only a user has: never role-wide.
USER_ONLY = ("name", "groups", "grants", "namespace", "user_clusters", "key_dir", "kubeconfig_path", "expect",
             "self_service")
CONNECTION_VARIABLES = ("ansible_host", "ansible_connection")
MISSING = object()


def variable(option):
    return PREFIX + option


def inventory_values(variables, options):
    """The role's variables that a host's inventory (hostvars) defines, read once each (each read templates)."""
    found = {}
    for option in options:
        name = variable(option)
        if name in variables:
            found[option] = variables[name]
    return found


def play_value(option, rendered, renderer_inventory, default):
    """What the play sets for `option` above the inventory, or MISSING.

    `rendered` is the option as the rendering host sees it: its own inventory value, or the play's, which wins over
    the inventory in Ansible's precedence; a rendering equal to that host's own value is taken as its own.
    """
    if option in renderer_inventory:
        return rendered if rendered != renderer_inventory[option] else MISSING
    return rendered if rendered != default else MISSING


class Resolution:
    """The options of a run: `role_wide` (option -> value), `per_user[host]` (option -> value) and `errors` (about
    role-wide options: the run cannot start). Per-user values are checked by the plan, naming the user."""

    def __init__(self, spec, defaults):
        self.spec = spec
        self.defaults = defaults
        self.errors = []
        self.role_wide = {}
        self.per_user = {}

    def resolve(self, users, rendered, renderer_inventory):
        """`users`: host -> the role variables its inventory defines; `rendered`: option -> value on the rendering
        host; `renderer_inventory`: that host's own inventory values."""
        play = {option: play_value(option, rendered.get(option, self.defaults.get(option)), renderer_inventory,
                                   self.defaults.get(option))
                for option in ROLE_WIDE + PER_USER}
        self.role_wide = self._checked({option: self._role_wide(option, play[option], users, renderer_inventory)
                                        for option in ROLE_WIDE})
        for host, own in users.items():
            self.per_user[host] = {option: own.get(option, self.defaults.get(option)) if play[option] is MISSING
                                   else play[option] for option in PER_USER}
        return self

    def _role_wide(self, option, play, users, renderer_inventory):
        if play is not MISSING:
            return play
        given = {}
        for host, own in users.items():
            given.setdefault(repr(own.get(option, MISSING)), []).append(host)
        if len(given) > 1:
            described = "; ".join(f"{', '.join(hosts[:3])}{' …' if len(hosts) > 3 else ''}: "
                                  f"{'not set' if value == repr(MISSING) else value}"
                                  for value, hosts in sorted(given.items(), key=lambda kv: kv[1][0]))
            self.errors.append(f"{variable(option)}: one value for the whole run, but the users' inventory variables "
                               f"differ ({described}); set it once for all users (group_vars, the play's vars or "
                               "-e), not in a user's host variables")
        for own in users.values():
            if option in own:
                return own[option]
        # No user gives it (offboarding the last user, say): what the inventory gives the rendering host, as
        # group_vars/all gives it to the controller too.
        return renderer_inventory.get(option, self.defaults.get(option))

    def _checked(self, values):
        """Role-wide `values` converted and checked against the role's argument spec, as Ansible checks roles."""
        spec = {variable(option): self.spec[variable(option)] for option in values if variable(option) in self.spec}
        checked = ArgumentSpecValidator(spec).validate({variable(option): value for option, value in values.items()})
        self.errors.extend(checked.error_messages)
        return {option: checked.validated_parameters.get(variable(option), value) for option, value in values.items()}


def role_defaults(defaults):
    """option (without prefix) -> default, from the role's defaults/main.yml."""
    return {name[len(PREFIX):]: value for name, value in (defaults or {}).items() if name.startswith(PREFIX)}
