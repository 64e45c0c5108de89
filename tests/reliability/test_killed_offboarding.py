"""Offboarding (`offboard.yml -e user=NAME` once the user is out of the inventory) killed with SIGKILL right after
each of its steps, then the same command again: it converges to what an uninterrupted offboarding leaves (nothing of
the user on the cluster or the controller, the other user untouched), and says what it deleted."""

import pytest

from tests.reliability.killed_runs import killed_then_run_again, uninterrupted_state
from tests.integration.test_onboarding import whoami

pytestmark = pytest.mark.killed_run

STEPS = [("binding deleted", 1), ("csr deleted", 1), ("files removed", 1)]


def onboarded_then_removed(inventory):
    """rahul, with a grant of his own beside his group's, onboarded, then taken out of the inventory."""
    inventory.users[inventory.rahul]["user_access_grants"] = [{"cluster_role": "view", "namespace": inventory.dev}]
    inventory.write_inventory()
    inventory.run("onboard.yml").ok()
    del inventory.users[inventory.rahul]
    inventory.write_inventory()


@pytest.fixture(scope="module")
def uninterrupted(cluster, tmp_path_factory):
    return uninterrupted_state(cluster, str(tmp_path_factory.mktemp("uninterrupted")), onboarded_then_removed,
                               "offboard.yml", "-e", "user={rahul}")


@pytest.mark.parametrize("step,nth", STEPS, ids=[f"{step}-{nth}".replace(" ", "-") for step, nth in STEPS])
def test_offboarding_killed_after_a_step_converges(onboarding, uninterrupted, step, nth):
    onboarded_then_removed(onboarding)
    killed_then_run_again(onboarding, uninterrupted, step, nth, "offboard.yml", "-e", f"user={onboarding.rahul}")
    assert whoami(onboarding.kubeconfig(onboarding.seema))["username"] == onboarding.seema
