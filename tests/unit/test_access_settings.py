"""plugins/plugin_utils/access_settings.py: which value of each option of the user_access role applies.

The role's steps render its options once, on one host (the controller, or a user): each user must get what Ansible
would resolve for the user's own host (the play's value, else their own inventory value, else the role default),
never the rendering host's own; role-wide options have one value for the run, checked as Ansible checks a role's
arguments.
"""

import pytest

from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_settings
from ansible_collections.kubeaccess.x509.tests.unit.access_support import (
    one_cluster, rendered_on, role_defaults, role_spec)

SPEC = role_spec()
CLUSTERS = one_cluster()


def resolve(users, renderer_inventory=None, play=None):
    """The options of a run whose users' inventories define `users` (host -> option -> value), rendered on a host
    with `renderer_inventory` as its own values, under a play that sets `play`."""
    rendered = rendered_on(dict({"clusters": CLUSTERS}, **(renderer_inventory or {})), play)
    resolution = access_settings.Resolution(SPEC, role_defaults())
    return resolution.resolve(users, rendered, dict({"clusters": CLUSTERS}, **(renderer_inventory or {})))


def with_clusters(**users):
    """Users' inventory values, each with the shared clusters (as group_vars/all gives them)."""
    return {host: dict({"clusters": CLUSTERS}, **own) for host, own in users.items()}


def test_without_users_role_wide_options_are_the_rendering_hosts_inventory_values():
    """Offboarding the last user: no user is left to give the clusters, which group_vars/all gives the controller."""
    resolved = resolve({}, renderer_inventory={"inventory": "team-a"})
    assert resolved.errors == []
    assert (resolved.role_wide["clusters"], resolved.role_wide["inventory"]) == (CLUSTERS, "team-a")


# == per-user options =================================================================================================

PER_USER_VALUES = [("lifetime", "8h", "24h"), ("renew_before", "2h", "30%"), ("key_type", "rsa", "ecdsa"),
                   ("key_size", 4096, 3072)]


@pytest.mark.parametrize("option, own, default", PER_USER_VALUES)
def test_a_rendering_user_keeps_their_own_value_to_themselves(option, own, default):
    """rahul's host renders the steps with his own value: seema, who sets none, gets the role default."""
    resolved = resolve(with_clusters(rahul={option: own}, seema={}), renderer_inventory={option: own})
    assert resolved.errors == []
    assert resolved.per_user["rahul"][option] == own
    assert resolved.per_user["seema"][option] == default


@pytest.mark.parametrize("option, own, default", PER_USER_VALUES)
def test_localhost_with_its_own_value_gives_it_to_nobody(option, own, default):
    """The controller (localhost) has the option in its own host_vars: users without one get the role default."""
    resolved = resolve(with_clusters(rahul={}, seema={}), renderer_inventory={option: own})
    assert [resolved.per_user[host][option] for host in ("rahul", "seema")] == [default, default]


@pytest.mark.parametrize("renderer_inventory", [{"lifetime": "8h"}, {}], ids=["rahul renders", "localhost renders"])
def test_a_value_the_play_sets_applies_to_every_user(renderer_inventory):
    """The play sets lifetime 12h: play vars win over the inventory in Ansible's precedence, so seema, without her
    own, and rahul, with his 8h, both get 12h, whichever host renders."""
    resolved = resolve(with_clusters(rahul={"lifetime": "8h"}, seema={}), renderer_inventory,
                       play={"lifetime": "12h"})
    assert resolved.per_user["seema"]["lifetime"] == "12h"
    assert resolved.per_user["rahul"]["lifetime"] == "12h"


def test_users_own_values_are_each_their_own():
    """Per-user options may differ between users: no error, each keeps theirs."""
    resolved = resolve(with_clusters(rahul={"lifetime": "8h", "key_type": "rsa", "key_size": 2048, "rotate_key": False},
                                     seema={"lifetime": "1h", "renew_before": "10m"}))
    assert resolved.errors == []
    assert resolved.per_user == {
        "rahul": {"lifetime": "8h", "renew_before": "30%", "key_type": "rsa", "key_size": 2048, "rotate_key": False},
        "seema": {"lifetime": "1h", "renew_before": "10m", "key_type": "ecdsa", "key_size": 3072, "rotate_key": True}}


def test_without_any_value_every_option_is_the_role_default():
    """Nothing set anywhere: the run's options are the role's documented defaults."""
    resolved = resolve(with_clusters(rahul={}))
    defaults = role_defaults()
    assert resolved.errors == []
    assert resolved.per_user["rahul"] == {option: defaults[option] for option in access_settings.PER_USER}
    assert resolved.role_wide == dict({option: defaults[option] for option in access_settings.ROLE_WIDE},
                                      clusters=CLUSTERS)


# == role-wide options ================================================================================================

def test_role_wide_option_the_inventory_gives_every_user():
    """user_access_inventory: team-a in the users' group_vars applies to the run, rendered on localhost."""
    resolved = resolve(with_clusters(rahul={"inventory": "team-a"}, seema={"inventory": "team-a"}))
    assert resolved.errors == []
    assert resolved.role_wide["inventory"] == "team-a"


def test_role_wide_option_the_play_sets_wins_over_the_inventory():
    """-e/play vars user_access_prune: false applies to the run, even where users' inventories differ."""
    resolved = resolve(with_clusters(rahul={"prune": True}, seema={}), play={"prune": False})
    assert resolved.errors == []
    assert resolved.role_wide["prune"] is False


def test_role_wide_option_that_differs_between_users_is_an_error_naming_them():
    """rahul's host_vars set user_access_prune, seema's do not: the run cannot have one value."""
    resolved = resolve(with_clusters(rahul={"prune": False}, seema={}))
    assert resolved.errors == [
        "user_access_prune: one value for the whole run, but the users' inventory variables differ (rahul: False; "
        "seema: not set); set it once for all users (group_vars, the play's vars or -e), not in a user's host "
        "variables"]


def test_many_users_that_differ_are_named_by_their_first_three():
    """Five users on one side: the message names three and says there are more."""
    users = with_clusters(**{name: {"base_dir": "/srv/a"} for name in ("u1", "u2", "u3", "u4", "u5")},
                          zed={"base_dir": "/srv/b"})
    [error] = resolve(users).errors
    assert error.startswith("user_access_base_dir: one value for the whole run, but the users' inventory variables "
                            "differ (u1, u2, u3 …: '/srv/a'; zed: '/srv/b')")


@pytest.mark.parametrize("option, value, message", [
    ("prune", "maybe", "argument 'user_access_prune' is of type str and we were unable to convert to bool"),
    ("force_renewal", "soon", "argument 'user_access_force_renewal' is of type str and we were unable to convert "
                              "to bool"),
    ("verify", "sometimes", "value of user_access_verify must be one of: changed, always, never, got: sometimes"),
    ("group_grants", ["developers"], "argument 'user_access_group_grants' is of type list and we were unable to "
                                     "convert to dict"),
])
def test_bad_role_wide_option_is_reported_in_ansibles_words(option, value, message):
    """A role-wide option is checked against meta/argument_specs.yml, as Ansible would check the role."""
    errors = resolve(with_clusters(rahul={option: value}, seema={option: value})).errors
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_role_wide_options_are_converted_as_ansible_converts_them():
    """prune: "yes" is true and an unquoted inventory: 2024 is the label value "2024"."""
    resolved = resolve(with_clusters(rahul={"prune": "yes", "inventory": 2024}))
    assert resolved.errors == []
    assert resolved.role_wide["prune"] is True
    assert resolved.role_wide["inventory"] == "2024"


def test_clusters_in_the_users_group_vars_apply_when_rendered_on_localhost():
    """user_access_clusters set for every user (group_vars/kube_users.yml), the steps rendered on localhost, which
    has no value of its own: the run's clusters are the users' (localhost renders the role default {}, which the
    play did not set)."""
    users = {"rahul": {"clusters": CLUSTERS}, "seema": {"clusters": CLUSTERS}}
    resolution = access_settings.Resolution(SPEC, role_defaults())
    resolved = resolution.resolve(users, rendered_on(), {})
    assert resolved.errors == []
    assert resolved.role_wide["clusters"] == CLUSTERS


# == the pieces =======================================================================================================

@pytest.mark.parametrize("rendered, renderer_inventory, expected", [
    ("8h", {"lifetime": "8h"}, access_settings.MISSING),
    ("12h", {"lifetime": "8h"}, "12h"),
    ("24h", {}, access_settings.MISSING),
    ("12h", {}, "12h"),
], ids=["the renderer's own", "above the renderer's own", "the default", "above the default"])
def test_play_value(rendered, renderer_inventory, expected):
    """What the rendering host shows is the play's only when it is neither that host's own nor the default."""
    assert access_settings.play_value("lifetime", rendered, renderer_inventory, "24h") == expected


def test_inventory_values_are_only_the_role_options_a_host_defines():
    """Unrelated variables and options a host does not define are left out."""
    variables = {"user_access_lifetime": "8h", "user_access_groups": ["developers"], "ansible_host": "laptop",
                 "user_access_lifetime_comment": "not an option"}
    assert access_settings.inventory_values(variables, access_settings.PER_USER) == {"lifetime": "8h"}


def test_role_defaults_are_the_options_of_defaults_main_yml_without_prefix():
    """The role's own defaults, user_access_clusters ({}) included, which the argument spec leaves without one."""
    defaults = access_settings.role_defaults({"user_access_lifetime": "24h", "user_access_clusters": {},
                                              "unrelated": 1})
    assert defaults == {"lifetime": "24h", "clusters": {}}
