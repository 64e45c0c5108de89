"""Two runs at the same time on one inventory, one kubeconfig or one user, as a pipeline on merge and a schedule (or
two engineers) start them: nothing of either is lost, no user ends up with two certificates or a key that is not
their certificate's, and a run that goes green did its work.

Both ansible-playbook processes are started at once and waited for; each case is repeated where a race may hide.
"""

import base64
import json
import os
import subprocess
import tempfile

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.integration.test_onboarding import Onboarding, Run, can_i, whoami
from tests.kube import kubectl

pytestmark = pytest.mark.concurrent_run

ROUNDS = 3


def at_once(*runs):
    """Start every run, given as (onboarding, playbook, *args), at the same moment; wait for all; returns their Runs.
    The output goes to files, not pipes: a run blocked on a full pipe would wait for the other to end."""
    started = []
    for setup, playbook, *args in runs:
        argv, env = setup.command(playbook, *args)
        output = tempfile.TemporaryFile("w+", encoding="utf-8")  # pylint: disable=consider-using-with
        started.append((subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT,  # noqa: S603
                                         stdin=subprocess.DEVNULL), output))
    finished = []
    for process, output in started:
        process.wait(timeout=600)
        output.seek(0)
        finished.append(Run(subprocess.CompletedProcess(process.args, process.returncode, output.read(), "")))
        output.close()
    return finished


def load(path):
    with open(path, "rb") as handle:
        return handle.read()


def mode(path):
    return os.stat(path).st_mode & 0o777


def context_user(kubeconfig, context):
    """Who the API says the context's credentials are."""
    completed = kubectl(kubeconfig, "--context", context, "auth", "whoami", "-o", "json", check=0)
    return json.loads(completed.stdout)["status"]["userInfo"]["username"]


def entry(config, kind, name):
    found = [item for item in config.get(kind) or [] if item["name"] == name]
    assert len(found) == 1, f"{kind} {name!r}: {len(found)} entries in the kubeconfig"
    return found[0][kind[:-1]]


def credentials(onboarding, user, kubeconfig=None, cluster="local"):
    """The user's key and certificate on disk belong together, the kubeconfig holds exactly them, the modes are
    private, no rotation is left half-way; returns the certificate."""
    directory = os.path.join(onboarding.base_dir, user)
    key_path, cert_path = os.path.join(directory, f"{cluster}.key"), os.path.join(directory, f"{cluster}.crt")
    key = serialization.load_pem_private_key(load(key_path), None)
    cert = x509.load_pem_x509_certificate(load(cert_path))
    assert cert.public_key() == key.public_key(), f"{user}: {key_path} is not the key of {cert_path}"
    assert not os.path.exists(f"{key_path}.next"), f"{user}: a rotated key was left waiting"
    assert mode(key_path) == 0o600 and mode(directory) == 0o700
    kubeconfig = kubeconfig or onboarding.kubeconfig(user)
    assert mode(kubeconfig) == 0o600
    config = yaml.safe_load(load(kubeconfig))
    context = entry(config, "contexts", f"{user}@{cluster}")
    entry(config, "clusters", context["cluster"])
    credential = entry(config, "users", context["user"])
    held = x509.load_pem_x509_certificate(base64.b64decode(credential["client-certificate-data"]))
    assert held == cert, f"{user}: the kubeconfig holds another certificate than {cert_path}"
    held_key = serialization.load_pem_private_key(base64.b64decode(credential["client-key-data"]), None)
    assert held_key.public_key() == key.public_key(), f"{user}: the kubeconfig holds another key than {key_path}"
    assert context_user(kubeconfig, f"{user}@{cluster}") == user
    return cert


def csrs_of(onboarding, user):
    """The names of the inventory's CSRs for `user`."""
    return sorted(item["metadata"]["name"] for item in onboarding.csrs()
                  if item["metadata"].get("annotations", {}).get("kubeaccess.x509/user") == user)


def csr_keys(onboarding, user):
    """The public keys (DER) the inventory's CSRs for `user` ask a certificate for."""
    return [der(x509.load_pem_x509_csr(base64.b64decode(item["spec"]["request"])).public_key())
            for item in onboarding.csrs()
            if item["metadata"].get("annotations", {}).get("kubeaccess.x509/user") == user]


def der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def fresh_user(onboarding, name, **settings):
    """A new user of the developers group in the inventory (written)."""
    user = f"{name}-{onboarding.suffix}"
    onboarding.users[user] = {"user_access_groups": [f"developers-{onboarding.suffix}"],
                              "user_access_namespace": onboarding.dev, **settings}
    onboarding.write_inventory()
    return user


def test_two_users_onboarded_into_one_kubeconfig_at_once(onboarding, cluster, admin, cleanup, tmp_path):
    """Two inventories (one inventory refuses two users sharing a file) onboard a user each into one kubeconfig
    at the same moment: both contexts, users and clusters land in it, whichever run writes first. Repeated, so that
    the first round creates the file and the others merge into it."""
    other = Onboarding(cluster, admin, cleanup, str(tmp_path / "other"))
    shared = os.path.join(onboarding.workdir, "team", "kubeconfig")
    try:
        onboarded, teams = [], (onboarding, other)
        for round_ in range(ROUNDS):
            for team in teams:
                team.users = {}  # each inventory gives the file to one user at a time; earlier ones stay in it
            pair = [fresh_user(team, f"user{round_}", user_access_kubeconfig_path=shared) for team in teams]
            runs = at_once(*[(team, "onboard.yml", "-e", f"user={user}") for team, user in zip(teams, pair)])
            for run, user in zip(runs, pair):
                assert run.ok().changed(user) == 1
            onboarded += zip(teams, pair)
            config = yaml.safe_load(load(shared))
            assert sorted(context["name"] for context in config["contexts"]) == \
                sorted(f"{user}@local" for _team, user in onboarded)
            for team, user in onboarded:
                credentials(team, user, shared)
                assert len(csrs_of(team, user)) == 1
            assert mode(shared) == 0o600
        for team in teams:
            assert team.run("onboard.yml").ok().changed_total() == 0
    finally:
        other.remove_everything()


def test_one_user_onboarded_by_two_runs_at_once(onboarding):
    """The same users onboarded twice at the same moment (a pipeline on merge and on a schedule): one key, one CSR,
    one certificate each, and the kubeconfig holds them; both runs succeed and the users are onboarded; a third run
    changes nothing. The first round is the whole inventory, eight users with RSA keys, whose making takes long
    enough for the two runs' key steps to overlap (without the role's lock each run made its own keys and CSRs);
    the others are one user each."""
    suffix = onboarding.suffix
    onboarding.users = {}
    rsa = {"user_access_key_type": "rsa", "user_access_key_size": 2048}
    for round_ in range(ROUNDS):
        if round_ == 0:
            users, args = [fresh_user(onboarding, f"team{number}", **rsa) for number in range(8)], []
        else:
            users = [fresh_user(onboarding, f"same{round_}")]
            args = ["-e", f"user={users[0]}"]
        runs = at_once((onboarding, "onboard.yml", *args), (onboarding, "onboard.yml", *args))
        for run in runs:
            run.ok()
        for user in users:
            assert len(csrs_of(onboarding, user)) == 1, f"{user}: {csrs_of(onboarding, user)}"
            credentials(onboarding, user)
            # A green run did the work: the user is onboarded, changed by one run or by both.
            assert sum(run.changed(user) for run in runs) >= 1
        assert onboarding.run("onboard.yml", *args).ok().changed_total() == 0
    assert can_i(onboarding.kubeconfig(f"team0-{suffix}"), "list", "pods", "-n", onboarding.dev)


def test_onboarding_one_user_while_offboarding_another(onboarding):
    """The inventory loses one user and gains another in one change, and the pipeline runs onboard.yml and
    offboard.yml at once: the newcomer works, nothing of the leaver is left, the user who stays keeps everything."""
    rahul = onboarding.rahul
    del onboarding.users[onboarding.seema]
    for round_ in range(2):
        view = [{"cluster_role": "view", "namespace": onboarding.app1}]
        leaver = fresh_user(onboarding, f"leaver{round_}", user_access_grants=view)
        onboarding.run("onboard.yml").ok()
        credentials(onboarding, leaver)
        kept = (csrs_of(onboarding, rahul), credentials(onboarding, rahul))
        del onboarding.users[leaver]
        newcomer = fresh_user(onboarding, f"newcomer{round_}", user_access_grants=view)

        onboard, offboard = at_once((onboarding, "onboard.yml"), (onboarding, "offboard.yml", "-e", f"user={leaver}"))
        assert onboard.ok().changed(newcomer) == 1
        assert f"deleted on the controller: {os.path.join(onboarding.base_dir, leaver)}" in offboard.ok().output
        credentials(onboarding, newcomer)
        assert can_i(onboarding.kubeconfig(newcomer), "list", "pods", "-n", onboarding.app1)
        assert len(csrs_of(onboarding, newcomer)) == 1
        assert (csrs_of(onboarding, rahul), credentials(onboarding, rahul)) == kept
        assert csrs_of(onboarding, leaver) == []
        assert not os.path.exists(os.path.join(onboarding.base_dir, leaver))
        bindings = onboarding.bindings()
        assert [key for key, subjects in bindings.items()
                if leaver in key[2] or any(subject["name"] == leaver for subject in subjects)] == []
        assert ("RoleBinding", onboarding.app1, f"kubeaccess-user-{newcomer}-view") in bindings
        assert onboarding.run("onboard.yml").ok().changed_total() == 0


@pytest.mark.parametrize("rotate", [True, False], ids=["new-key", "same-key"])
@pytest.mark.parametrize("partner", ["onboard", "renew"])
def test_renewal_and_another_run_for_one_user_at_once(onboarding, rotate, partner):
    """A scheduled renewal (renew_now) meets an onboarding run, or a second renewal, of the same user: the renewal is
    done (a new certificate, and a new key when keys rotate), key, certificate and kubeconfig belong together, and no
    run leaves a request of its own beside the other's."""
    onboarding.settings = {"user_access_rotate_key": rotate}
    rahul = onboarding.rahul
    renew = ("renew.yml", "-e", f"user={rahul}", "-e", "renew_now=true")
    other = renew if partner == "renew" else ("onboard.yml", "-e", f"user={rahul}")
    onboarding.write_inventory()
    onboarding.run("onboard.yml", "-e", f"user={rahul}").ok()
    before, requested = credentials(onboarding, rahul), set(csr_keys(onboarding, rahul))
    runs = at_once((onboarding, *renew), (onboarding, *other))
    for run in runs:
        run.ok()
    assert runs[0].changed(rahul) == 1
    after = credentials(onboarding, rahul)
    assert after.serial_number != before.serial_number, "the renewal went green and changed nothing"
    assert (after.public_key() != before.public_key()) == rotate
    keys = csr_keys(onboarding, rahul)
    assert keys.count(der(after.public_key())) == 1
    made = set(keys) - requested
    if partner == "onboard":
        assert made <= {der(after.public_key())}, "a request for a key nobody holds"
    else:  # two forced renewals may renew one after the other: a request each, no more
        assert len(made) <= sum(run.changed(rahul) for run in runs)
    assert onboarding.run("onboard.yml", "-e", f"user={rahul}").ok().changed_total() == 0


def test_two_audits_write_one_report_at_once(onboarding):
    """Two audit runs (a schedule and someone by hand) write the same report files: each file is whole, as one of
    the runs wrote it, and nothing half-written is left beside them."""
    onboarding.run("onboard.yml").ok()
    audit_dir = os.path.join(onboarding.workdir, "audit")
    for _round in range(2):
        runs = at_once(*[(onboarding, "audit.yml", "-e", f"audit_dir={audit_dir}")] * 2)
        assert all(run.ok().changed_total() == 0 for run in runs)
        base = f"audit-{onboarding.label}"
        assert sorted(os.listdir(audit_dir)) == [f"{base}.html", f"{base}.json"]
        report = json.loads(load(os.path.join(audit_dir, f"{base}.json")))
        assert report["inventory"] == onboarding.label
        assert load(os.path.join(audit_dir, f"{base}.html")).rstrip().endswith(b"</html>")


def test_two_inventories_in_one_namespace_at_once(onboarding, cluster, admin, cleanup, tmp_path):
    """Two teams' inventories (two labels) bind into one namespace at the same moment, one of them pruning a grant
    it dropped: each prunes only its own, and both teams' users have their access."""
    onboarding.run("onboard.yml").ok()
    other = Onboarding(cluster, admin, cleanup, str(tmp_path / "other"))
    try:
        other.grants = {f"developers-{other.suffix}": [{"cluster_role": "view", "namespace": onboarding.dev}]}
        other.users = {other.rahul: {"user_access_groups": [f"developers-{other.suffix}"],
                                     "user_access_namespace": onboarding.dev}}
        other.write_inventory()
        # The first team's developers get view instead of edit in the shared namespace: a new binding, the old pruned.
        group = f"developers-{onboarding.suffix}"
        onboarding.grants[group] = [{"cluster_role": "view", "namespace": onboarding.dev}]
        onboarding.write_inventory()
        for run in at_once((onboarding, "onboard.yml"), (other, "onboard.yml")):
            run.ok()
        ours, theirs = onboarding.bindings(), other.bindings()
        in_dev = sorted(name for _kind, namespace, name in ours if namespace == onboarding.dev)
        assert in_dev == [f"kubeaccess-group-{group}-view"]
        assert list(theirs) == [("RoleBinding", onboarding.dev, f"kubeaccess-group-developers-{other.suffix}-view")]
        for team, user in ((onboarding, onboarding.rahul), (other, other.rahul)):
            kubeconfig = team.kubeconfig(user)
            assert whoami(kubeconfig)["username"] == user
            assert can_i(kubeconfig, "list", "pods", "-n", onboarding.dev)
            assert not can_i(kubeconfig, "create", "configmaps", "-n", onboarding.dev)
        assert [run.changed_total() for run in (onboarding.run("onboard.yml").ok(), other.run("onboard.yml").ok())] \
            == [0, 0]
    finally:
        other.remove_everything()
