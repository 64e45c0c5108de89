"""Renewal (`renew.yml -e renew_now=true`, with the key rotated) killed with SIGKILL right after each of its steps,
then the same command again: it converges to what an uninterrupted renewal leaves (one new CSR per user, the old
key replaced only by one whose certificate is in the kubeconfig, no partial file), except that a user whose
renewal had completed before the kill is renewed once more, as `renew_now` asks; a renewal in flight is completed,
not requested again."""

import os
from collections import Counter

import pytest

from tests.reliability.killed_runs import key_and_certificate, killed_then_run_again, uninterrupted_state

pytestmark = pytest.mark.killed_run

RENEW = ("renew.yml", "-e", "renew_now=true")
STEPS = [("new key written", 1), ("csr submitted", 1), ("csr approved", 1), ("certificate saved", 1),
         ("kubeconfig written", 1), ("key written", 1), ("key written", 2)]


def onboarded(inventory):
    inventory.run("onboard.yml").ok()


@pytest.fixture(scope="module")
def uninterrupted(cluster, tmp_path_factory):
    return uninterrupted_state(cluster, str(tmp_path_factory.mktemp("uninterrupted")), onboarded, *RENEW)


@pytest.mark.parametrize("step,nth", STEPS, ids=[f"{step}-{nth}".replace(" ", "-") for step, nth in STEPS])
def test_renewal_killed_after_a_step_converges(onboarding, uninterrupted, step, nth):
    onboarded(onboarding)
    before = {user: key_and_certificate(onboarding, user) for user in onboarding.users}

    def expected(at_kill):
        renewed = [user for user, (_key, certificate) in at_kill.items() if certificate != before[user][1]
                   and not os.path.exists(os.path.join(onboarding.base_dir, user, "local.key.next"))]
        state = dict(uninterrupted, **{"csrs per user": dict(uninterrupted["csrs per user"])})
        for user in renewed:
            state["csrs per user"][user.replace(onboarding.suffix, "SUFFIX")] += 1
            state["csr phases"] = state["csr phases"] + Counter(issued=1)
        return state

    killed_then_run_again(onboarding, expected, step, nth, *RENEW)
    assert onboarding.run("renew.yml").ok().changed_total() == 0
