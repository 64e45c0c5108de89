"""Onboarding killed with SIGKILL right after each of its steps, then run again: the run converges to what an
uninterrupted run leaves, with no second CSR, no partial file, and the key, certificate and CSR of the killed run
kept."""

import pytest

from tests.reliability.killed_runs import csrs_by_user, key_and_certificate, killed_then_run_again, uninterrupted_state

pytestmark = pytest.mark.killed_run

# (step, which occurrence): the inventory's two users go through each step in turn.
STEPS = [("binding made", 1), ("key written", 1), ("key written", 2), ("csr submitted", 1), ("csr approved", 1),
         ("certificate saved", 1), ("kubeconfig written", 1), ("kubeconfig written", 2)]


@pytest.fixture(scope="module")
def uninterrupted(cluster, tmp_path_factory):
    return uninterrupted_state(cluster, str(tmp_path_factory.mktemp("uninterrupted")), lambda _inventory: None,
                               "onboard.yml")


@pytest.mark.parametrize("step,nth", STEPS, ids=[f"{step}-{nth}".replace(" ", "-") for step, nth in STEPS])
def test_onboarding_killed_after_a_step_converges(onboarding, uninterrupted, step, nth):
    at_kill, csrs_at_kill = killed_then_run_again(onboarding, uninterrupted, step, nth, "onboard.yml")
    csrs_now = {user: {item["metadata"]["uid"] for item in items} for user, items in csrs_by_user(onboarding).items()}
    for user, (key, certificate) in at_kill.items():
        now_key, now_certificate = key_and_certificate(onboarding, user)
        assert key is None or now_key == key, f"{user}: the key written before the kill was replaced"
        assert certificate is None or now_certificate == certificate, f"{user}: the certificate was replaced"
        assert csrs_at_kill.get(user, set()) <= csrs_now[user], f"{user}: the CSR of the killed run was replaced"
    assert onboarding.run("onboard.yml").ok().changed_total() == 0
