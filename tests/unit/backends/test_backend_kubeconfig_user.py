"""module_utils/backends/kubeconfig_user.py run in this process with a real AnsibleModule, real files and the cluster
under test: the decisions of k8s_kubeconfig_user (where the CA comes from, whether the credentials are the user's,
whether the file changes, whether the new credentials verify before the file is written, several users in one file
written once) without an ansible-playbook process per case."""
# pylint: disable=redefined-outer-name

import base64
import datetime
import json
import os
import ssl
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import yaml
from cryptography.hazmat.primitives import serialization

from ansible_collections.kubeaccess.x509.plugins.module_utils.backends import kubeconfig_user
from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import ItemModule, SharedClient, item_params
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import KubeClient, KubeError
from tests.apiserver import pki
from tests.kube import kubectl

from tests.unit.backends.backend_support import warnings_of

SSR_V1 = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SSR_V1BETA1 = "/apis/authentication.k8s.io/v1beta1/selfsubjectreviews"
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
ROOT_CA_PATH = "/api/v1/namespaces/default/configmaps/kube-root-ca.crt"


class Person:
    """A user's certificate and key files."""

    def __init__(self, name, groups, directory, cert_pem, key_pem):
        self.name, self.groups = name, list(groups)
        self.cert_pem, self.key_pem = cert_pem, key_pem
        self.cert, self.key = str(directory / f"{name}.crt"), str(directory / f"{name}.key")
        with open(self.cert, "wb") as handle:
            handle.write(cert_pem)
        descriptor = os.open(self.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key_pem)

    def args(self, path, **extra):
        return {"path": str(path), "user": self.name, "client_certificate_path": self.cert,
                "client_key_path": self.key, **extra}


def cluster_person(cluster, directory, base, groups):
    """A user the cluster under test accepts: certificate through the CSR API."""
    name = cluster.name(base)
    with open(cluster.make_user(name, groups), encoding="utf-8") as handle:
        credentials = yaml.safe_load(handle)["users"][0]["user"]
    return Person(name, groups, directory, base64.b64decode(credentials["client-certificate-data"]),
                  base64.b64decode(credentials["client-key-data"]))


LOCAL_CA = pki.CertificateAuthority.create("kubeconfig-test-ca")


def local_person(directory, name, groups=()):
    """A certificate from a throw-away CA: enough for everything that does not call the API."""
    key = pki.new_key()
    cert = LOCAL_CA.issue_client(name, list(groups), key.public_key())
    return Person(name, groups, directory, pki.cert_pem(cert), pki.key_pem(key))


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def entry(config, section, name):
    return next((e[section[:-1]] for e in config.get(section) or [] if e["name"] == name), None)


def names(config, section):
    return [e["name"] for e in config.get(section) or []]


def identity(path):
    status = os.stat(path)
    return status.st_ino, status.st_mtime_ns, status.st_size


def whoami(path, context=None):
    selected = ("--context", context) if context else ()
    result = kubectl(str(path), *selected, "auth", "whoami", "-o", "json", check=0)
    return json.loads(result.stdout)["status"]["userInfo"]


def ordered(value):
    """JSON with the keys in their order: equal only if content and order are."""
    return json.dumps(value)


FOREIGN = {
    "apiVersion": "v1",
    "kind": "Config",
    "preferences": {"colors": True},
    "clusters": [
        {"name": "edge", "cluster": {"server": "https://edge.example:6443", "insecure-skip-tls-verify": True,
                                     "proxy-url": "http://proxy.example:3128"}},
        {"name": "lab", "cluster": {"server": "https://lab.example:6443", "certificate-authority": "/etc/lab-ca.crt",
                                    "extensions": [{"name": "client.authentication.k8s.io/exec",
                                                    "extension": {"audience": "lab"}}]}},
    ],
    "users": [
        {"name": "ops", "user": {"token": "ops-secret-token"}},
        {"name": "sso", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "sso-login",
                                          "args": ["--tenant", "lab"], "interactiveMode": "IfAvailable"}}},
    ],
    "contexts": [
        {"name": "ops@edge", "context": {"cluster": "edge", "user": "ops", "namespace": "kube-system"}},
        {"name": "sso@lab", "context": {"cluster": "lab", "user": "sso"}},
    ],
    "current-context": "sso@lab",
    "extensions": [{"name": "kubeaccess.example/note", "extension": {"owner": "platform-team"}}],
}


@pytest.fixture(scope="module")
def people(cluster, tmp_path_factory):
    directory = tmp_path_factory.mktemp("people")
    return {"rahul": cluster_person(cluster, directory, "kcb-rahul", ["developers"]),
            "seema": cluster_person(cluster, directory, "kcb-seema", ["app1-devs", "platform"])}


@pytest.fixture
def run(run_backend):
    """`run({...}, check_mode=False, diff=False)`: the backend's result for these arguments."""
    def run_kubeconfig_user(module_args, check_mode=False, diff=False):
        return run_backend(kubeconfig_user, module_args, check_mode=check_mode, diff=diff)
    return run_kubeconfig_user


@pytest.fixture
def with_module(run_backend):
    """`with_module({...}, use, check_mode=False)`: `use(module)` called with the module's real AnsibleModule (its
    arguments checked against the module's own spec); returns what `use` returned. Its exceptions are raised."""
    def call(module_args, use, check_mode=False):
        returned = []

        def probe_run(module):
            returned.append(use(module))
            module.exit_json(changed=False)
        probe = types.SimpleNamespace(__name__="kubeconfig_user probe", MODULE_ARGS=kubeconfig_user.MODULE_ARGS,
                                      run=probe_run)
        result = run_backend(probe, module_args, check_mode=check_mode)
        assert not result.get("failed"), result
        return returned[0]
    return call


def runners_of(module):
    """The module's items as the backend makes them (checked and read, nothing done), with their Task."""
    task = kubeconfig_user.Task(module)
    client = SharedClient(module.params)
    items = [ItemModule(module, params, client) for params in item_params(
        module.params, kubeconfig_user.MODULE_SPEC, kubeconfig_user.LIST_OPTION, kubeconfig_user.AUTH_ARG_SPEC)]
    return task, [task.runner(item) for item in items]


# -- the entries written, merged and removed ---------------------------------------------------------------------

def test_referenced_credentials_and_never_current_context(run, people, tmp_path):
    rahul = people["rahul"]
    path = tmp_path / "kubeconfig"
    args = rahul.args(path, cluster="prod", embed_credentials=False, current_context="never")
    assert run(args, check_mode=True)["changed"]
    written = run(args)
    assert written["changed"] and written["current_context"] == ""
    referenced = {"client-certificate": rahul.cert, "client-key": rahul.key}
    assert entry(load(path), "users", f"{rahul.name}@prod") == referenced
    assert whoami(path, f"{rahul.name}@prod")["username"] == rahul.name
    assert not run(args)["changed"]
    assert not run(args, check_mode=True)["changed"]


def test_our_entries_are_replaced_where_they_stand(run, people, tmp_path):
    rahul = people["rahul"]
    ours = f"{rahul.name}@prod"
    stale = json.loads(json.dumps(FOREIGN))
    stale["clusters"].insert(1, {"name": "prod", "cluster": {"server": "https://old.example:6443"}})
    stale["users"].insert(1, {"name": ours, "user": {"token": "old-token"}})
    stale["contexts"].insert(1, {"name": ours, "context": {"cluster": "prod", "user": ours, "namespace": "old"}})
    path = tmp_path / "stale.kubeconfig"
    path.write_text(yaml.safe_dump(stale, sort_keys=False))

    assert run(rahul.args(path, cluster="prod"))["changed"]
    merged = load(path)
    assert names(merged, "clusters") == ["edge", "prod", "lab"]
    assert names(merged, "users") == ["ops", ours, "sso"]
    assert names(merged, "contexts") == ["ops@edge", ours, "sso@lab"]
    assert "token" not in entry(merged, "users", ours)
    assert entry(merged, "contexts", ours) == {"cluster": "prod", "user": ours}
    assert whoami(path, ours)["username"] == rahul.name


def test_two_clusters_for_one_user_side_by_side(run, people, cluster, tmp_path):
    rahul = people["rahul"]
    path = tmp_path / "kubeconfig"
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(cluster.ca_pem)
    prod = rahul.args(path, cluster="prod")
    staging = rahul.args(path, cluster="staging", server=cluster.server, ca_source="file", ca_file=str(ca_file),
                         current_context="always")
    assert run(prod)["current_context"] == f"{rahul.name}@prod"
    assert run(staging)["current_context"] == f"{rahul.name}@staging"
    config = load(path)
    assert names(config, "clusters") == ["prod", "staging"]
    assert names(config, "contexts") == [f"{rahul.name}@prod", f"{rahul.name}@staging"]
    for name in ("prod", "staging"):
        assert whoami(path, f"{rahul.name}@{name}")["username"] == rahul.name
    assert not run(prod)["changed"]
    assert not run(staging)["changed"]

    removed = run(rahul.args(path, cluster="staging", state="absent"))
    assert removed["changed"] and removed["current_context"] == ""
    config = load(path)
    assert names(config, "clusters") == ["prod"]
    assert names(config, "contexts") == [f"{rahul.name}@prod"]


def test_a_cluster_entry_stays_while_another_context_uses_it(run, people, tmp_path):
    rahul, seema = people["rahul"], people["seema"]
    path = tmp_path / "team.kubeconfig"
    for person in (rahul, seema):
        assert run(person.args(path, cluster="prod"))["changed"]
    assert run(rahul.args(path, cluster="prod", state="absent"))["changed"]
    config = load(path)
    assert names(config, "clusters") == ["prod"]
    assert names(config, "users") == [f"{seema.name}@prod"]
    assert config["current-context"] == ""
    assert run(seema.args(path, cluster="prod", state="absent"))["changed"]
    config = load(path)
    assert (config["clusters"], config["users"], config["contexts"]) == ([], [], [])


def test_removing_from_a_missing_file_changes_nothing_not_even_its_directory(run, tmp_path):
    path = tmp_path / "nowhere" / "kubeconfig"
    for check_mode in (True, False):
        result = run({"path": str(path), "user": "rahul", "cluster": "prod", "state": "absent"}, check_mode=check_mode)
        assert not result["changed"] and not result.get("failed"), result
        assert result["current_context"] == ""
    assert not (tmp_path / "nowhere").exists()


def test_mode_owner_and_backup(run, people, tmp_path):
    rahul, seema = people["rahul"], people["seema"]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(FOREIGN, sort_keys=False))
    path.chmod(0o644)
    if os.getuid() == 0:
        os.chown(path, 65534, 65534)  # a user's file, rewritten by root, stays the user's
    owner = os.stat(path).st_uid, os.stat(path).st_gid
    original = path.read_bytes()

    first = run(rahul.args(path, cluster="prod", backup=True))
    assert first["changed"]
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(first["backup_file"], "rb") as handle:
        assert handle.read() == original
    unchanged = run(rahul.args(path, cluster="prod", backup=True))
    assert not unchanged["changed"] and "backup_file" not in unchanged

    given = run(dict(seema.args(path, cluster="prod"), mode="0640"))
    assert given["changed"] and os.stat(path).st_mode & 0o777 == 0o640
    assert not run(dict(seema.args(path, cluster="prod"), mode="0640"))["changed"]
    reset = run(seema.args(path, cluster="prod"))
    assert reset["changed"] and os.stat(path).st_mode & 0o777 == 0o600
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == owner
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("kubeconfig.")] == \
        [os.path.basename(first["backup_file"])]


def test_several_users_of_one_file_are_written_once(run, tmp_path):
    """FileGroup: the items writing one file make one locked read-modify-write, so one backup for all of them,
    one write with mode 0600, and nothing else left next to the file than the lock."""
    team = [local_person(tmp_path, name) for name in ("ana", "ben", "cai")]
    directory = tmp_path / "shared"
    directory.mkdir()
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump(FOREIGN, sort_keys=False))
    path.chmod(0o644)
    original = path.read_bytes()
    result = run({"cluster": "prod", "backup": True, "users": [person.args(path) for person in team]})
    assert result["changed"] and not result.get("failed"), result
    backups = {item["backup_file"] for item in result["results"]}
    assert len(backups) == 1
    with open(next(iter(backups)), "rb") as handle:
        assert handle.read() == original  # taken before the first item, not between items
    assert sorted(os.listdir(directory)) == sorted([".kubeconfig.kubeaccess-lock", "kubeconfig",
                                                    os.path.basename(backups.pop())])
    assert os.stat(path).st_mode & 0o777 == 0o600
    config = load(path)
    assert names(config, "users") == ["ops", "sso"] + [f"{person.name}@prod" for person in team]
    assert [item["changed"] for item in result["results"]] == [True] * 3
    assert [item["current_context"] for item in result["results"]] == ["sso@lab"] * 3


def test_an_item_that_changes_nothing_is_not_changed_in_a_file_others_change(run, tmp_path):
    ana, ben = local_person(tmp_path, "ana"), local_person(tmp_path, "ben")
    path = tmp_path / "kubeconfig"
    assert run(ana.args(path, cluster="prod"))["changed"]
    result = run({"cluster": "prod", "users": [ana.args(path), ben.args(path)]})
    assert [item["changed"] for item in result["results"]] == [False, True]
    assert result["changed"]


def test_change_decides_changed_and_keeps_a_missing_file_missing(with_module, tmp_path):
    """KubeconfigUser.change: the new content of the file and whether this item changes it; removing from no file
    gives no file (None), not an empty kubeconfig to write."""
    ana = local_person(tmp_path, "ana")
    args = ana.args(tmp_path / "kubeconfig", cluster="prod")

    def changes(module):
        _task, (user,) = runners_of(module)
        user.prepare()
        first = user.change(None)
        decisions = [user.result["changed"]]
        again = user.change(first)
        decisions.append(user.result["changed"])
        return decisions, again == first, first["current-context"], names(first, "users")
    assert with_module(args, changes) == ([True, False], True, f"{ana.name}@prod", [f"{ana.name}@prod"])

    def removals(module):
        _task, (user,) = runners_of(module)
        user.prepare()
        return user.change(None), user.result["changed"]
    assert with_module(dict(args, state="absent"), removals) == (None, False)


# -- where the CA comes from ------------------------------------------------------------------------------------

def test_ca_from_the_configmap_and_from_a_file(run, people, admin, tmp_path):
    rahul = people["rahul"]
    root_ca = admin.json("GET", ROOT_CA_PATH, expect=200)["data"]["ca.crt"]
    path = tmp_path / "kubeconfig"
    from_configmap = rahul.args(path, cluster="prod", ca_source="configmap")
    assert run(from_configmap, check_mode=True)["changed"]
    assert run(from_configmap)["changed"]
    assert entry(load(path), "clusters", "prod")["certificate-authority-data"] == \
        base64.b64encode(root_ca.encode()).decode()
    assert whoami(path)["username"] == rahul.name
    assert not run(from_configmap)["changed"]
    assert not run(from_configmap, check_mode=True)["changed"]

    ca_file = tmp_path / "bundle.pem"
    ca_file.write_bytes(root_ca.encode() + pki.cert_pem(LOCAL_CA.cert))
    from_file = rahul.args(path, cluster="prod", ca_source="file", ca_file=str(ca_file))
    assert run(from_file)["changed"]
    assert entry(load(path), "clusters", "prod")["certificate-authority-data"] == \
        base64.b64encode(ca_file.read_bytes()).decode()
    assert whoami(path)["username"] == rahul.name
    assert not run(from_file)["changed"]


def test_the_connection_ca_and_server_are_the_admin_kubeconfig_s(with_module, cluster, tmp_path):
    ana = local_person(tmp_path, "ana")

    def admin_side(module):
        _task, (user,) = runners_of(module)
        local = user.task.admin.local()
        return local.server, local.ca_pem, local.cluster_name, user.server, user.ca_pem
    server, ca_pem, cluster_name, user_server, user_ca = with_module(ana.args(tmp_path / "kubeconfig"), admin_side)
    assert server == user_server == cluster.server
    assert ca_pem == user_ca and b"BEGIN CERTIFICATE" in ca_pem
    with open(cluster.kubeconfig, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    current = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    assert cluster_name == current["cluster"]


def test_a_missing_configmap_is_named_with_the_fix_and_asked_once(with_module, run, cluster, tmp_path):
    ana = local_person(tmp_path, "ana")
    namespace = cluster.name("kcb-no-such-namespace")
    args = ana.args(tmp_path / "kubeconfig", ca_source="configmap", ca_configmap_namespace=namespace)

    def asked_twice(module):
        _task, (user,) = runners_of(module)
        failures = []
        for _attempt in range(2):
            with pytest.raises(KubeError) as raised:
                user.task.admin.configmap_ca(namespace)
            failures.append(raised.value)
        return failures
    first, second = with_module(args, asked_twice)
    assert first is second  # kept: one request per task, however many items use it
    assert str(first) == (f"ca_source=configmap: there is no ConfigMap kube-root-ca.crt in namespace {namespace} "
                          "(ca_configmap_namespace); Kubernetes 1.21 and later publish it in every namespace. Use "
                          "ca_source=connection or file instead")
    result = run(args)
    assert result["failed"] and not result["changed"] and result["msg"] == str(first)
    assert not (tmp_path / "kubeconfig").exists()


def test_a_ca_that_is_not_a_certificate_is_refused(run, tmp_path):
    ana = local_person(tmp_path, "ana")
    not_a_ca = tmp_path / "ca.pem"
    not_a_ca.write_text("not a certificate\n")
    result = run(ana.args(tmp_path / "kubeconfig", ca_source="file", ca_file=str(not_a_ca)))
    assert result["failed"] and not result["changed"]
    assert result["msg"].startswith(f"ca_file: {not_a_ca} is ")
    missing = run(ana.args(tmp_path / "kubeconfig", ca_source="file", ca_file=str(tmp_path / "missing.pem")))
    assert missing["failed"] and missing["msg"] == f"ca_file: {tmp_path / 'missing.pem'} does not exist"
    assert not (tmp_path / "kubeconfig").exists()


# -- the credentials and the options, checked before anything is done ------------------------------------------

def test_check_mode_before_the_certificate_exists(run, tmp_path):
    args = {"path": str(tmp_path / "kubeconfig"), "user": "newcomer", "verify": True,
            "client_certificate_path": str(tmp_path / "newcomer.crt"),
            "client_key_path": str(tmp_path / "newcomer.key")}
    checked = run(args, check_mode=True)
    assert checked["changed"] and not checked.get("failed"), checked
    assert "verified" not in checked
    assert warnings_of(checked) == [
        "client_certificate_path and client_key_path: not there yet; in check mode the kubeconfig is reported as "
        "changing, with their content to come",
        "verify: skipped in check mode, the client certificate and key are not there yet"]
    assert not (tmp_path / "kubeconfig").exists()
    refused = run(args)
    assert refused["failed"] and not refused["changed"]
    assert f"client_certificate_path: {tmp_path / 'newcomer.crt'} does not exist" in refused["msg"]
    assert not (tmp_path / "kubeconfig").exists()


def test_bad_input_is_refused_before_anything_changes(run, people, tmp_path):
    rahul, seema = people["rahul"], people["seema"]
    work = tmp_path / "work"
    work.mkdir()
    encrypted = work / "encrypted.key"
    encrypted.write_bytes(serialization.load_pem_private_key(rahul.key_pem, None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase")))
    (work / "a-file").write_text("not a directory\n")
    good = work / "good.kubeconfig"
    refused = [
        ({"client_key_path": seema.key}, "client_key_path: ", "is not the key of the certificate"),
        ({"user": seema.name}, "client_certificate_path: ", f"is for CN='{rahul.name}', not user='{seema.name}'"),
        ({"client_key_path": str(encrypted)}, "client_key_path: ", "is encrypted; kubectl cannot use"),
        ({"client_certificate_path": str(work / "missing.crt")}, "client_certificate_path: ", "does not exist"),
        ({"name_format": "{user}-{team}"}, "name_format: ", "only {user} and {cluster} can be used"),
        ({"cluster": "prod "}, "cluster: ", "is empty or padded with spaces"),
        ({"server": "http://insecure.example"}, "server: ", "is not an https:// URL"),
        ({"ca_file": rahul.cert}, "ca_file: ", "only used with ca_source=file"),
        ({"ca_source": "file"}, "ca_file: ", "required with ca_source=file"),
        ({"namespace": "Not A Namespace"}, "namespace: ", "is not a namespace name"),
        # A namespace is a DNS label: no dots, as an object name may have.
        ({"namespace": "dev.team"}, "namespace: ", "is not a namespace name: use at most 63"),
        ({"path": str(work / "a-file" / "kubeconfig")}, "path: ", "is not a directory"),
        ({"path": str(work)}, "path: ", "is a directory"),
    ]
    fine = [{}, {"state": "absent"}]
    result = run(dict(rahul.args(good, cluster="prod"), users=fine + [item for item, _option, _words in refused]))
    assert result["failed"] and not result["changed"]
    messages = result["msg"].split(" | ")
    assert len(messages) == len(refused), messages
    for index, ((_item, option, words), message) in enumerate(zip(refused, messages), start=len(fine)):
        assert message.startswith(f"users[{index}] (user ") and f"): {option}" in message and words in message, \
            message
    assert sorted(p.name for p in work.iterdir()) == ["a-file", "encrypted.key"]

    missing_user = run({"path": str(good), "client_certificate_path": rahul.cert, "client_key_path": rahul.key})
    assert missing_user["failed"] and missing_user["msg"].startswith("user: required with state=present")
    assert not good.exists()


def test_an_expired_certificate_is_written_with_a_warning(run, tmp_path):
    key = pki.new_key()
    cert = LOCAL_CA.issue_client("old-timer", [], key.public_key(), lifetime=datetime.timedelta(days=1),
                                 not_before=pki.utcnow() - datetime.timedelta(days=2))
    person = Person("old-timer", [], tmp_path, pki.cert_pem(cert), pki.key_pem(key))
    result = run(person.args(tmp_path / "kubeconfig"))
    assert result["changed"] and not result.get("failed"), result
    assert [message for message in warnings_of(result) if message.startswith(
        f"client_certificate_path: {person.cert} expired at ")] != [], result
    assert warnings_of(result)[-1].endswith("; the API server will refuse it")


# -- verification with the new credentials, before the file is written -----------------------------------------

def test_verify_fails_on_groups_the_server_does_not_see(run, people, tmp_path):
    rahul = people["rahul"]
    path = tmp_path / "kubeconfig"
    result = run(rahul.args(path, verify=True, expected_groups=["developers", "cluster-admins"]))
    assert result["failed"] and not result["changed"]
    assert "expected_groups: the API server does not see ['cluster-admins']" in result["msg"]
    assert result["verified"]["username"] == rahul.name
    # Checked before the write: a kubeconfig that fails is not written, so the next run checks it again.
    assert not path.exists()
    again = run(rahul.args(path, verify=True, expected_groups=["cluster-admins"]))
    assert again["failed"] and not again["changed"] and not path.exists()
    written = run(rahul.args(path, verify=True, expected_groups=["developers"]))
    assert written["changed"] and whoami(path)["username"] == rahul.name
    # An entry that stops verifying is not changed: the file keeps what it had.
    before = path.read_bytes()
    kept = run(rahul.args(path, verify=True, namespace="elsewhere", expected_groups=["cluster-admins"]))
    assert kept["failed"] and not kept["changed"] and path.read_bytes() == before


def test_an_item_that_fails_verification_leaves_the_others_of_its_file_written(run, people, tmp_path):
    rahul, seema = people["rahul"], people["seema"]
    path = tmp_path / "kubeconfig"
    result = run({"cluster": "prod", "verify": True, "users": [
        rahul.args(path, expected_groups=["cluster-admins"]), seema.args(path)]})
    assert result["failed"]
    assert result["msg"].startswith(f"1 of 2 users failed: users[0] (user {rahul.name} in {path}): verify: ")
    assert [(item["changed"], item.get("failed", False)) for item in result["results"]] == [(False, True),
                                                                                            (True, False)]
    assert names(load(path), "users") == [f"{seema.name}@prod"]


def test_verify_only_if_changed_makes_no_request_when_nothing_changes(run, people, tmp_path):
    seema = people["seema"]
    args = seema.args(tmp_path / "kubeconfig", verify=True, verify_only_if_changed=True)
    first = run(args)
    assert first["changed"] and first["verified"]["username"] == seema.name
    again = run(args)
    assert not again["changed"] and "verified" not in again
    always = run(dict(args, verify_only_if_changed=False))
    assert not always["changed"] and always["verified"]["username"] == seema.name


def test_expected_access_is_checked_like_kubectl_auth_can_i(run, people, tmp_path):
    rahul = people["rahul"]
    namespace = "kcb-nowhere"
    path = tmp_path / "kubeconfig"
    forbidden = {"verb": "list", "resource": "secrets", "namespace": namespace, "allowed": False}
    deployment = {"verb": "get", "resource": "deployments", "group": "apps", "name": "web", "namespace": namespace,
                  "allowed": False}
    passed = run(rahul.args(path, verify=True, expected_access=[forbidden, deployment]))
    assert passed["changed"] and not passed.get("failed"), passed
    assert passed["verified"]["access"] == [{"check": f"list secrets in {namespace}", "allowed": False},
                                            {"check": f"get deployments.apps web in {namespace}", "allowed": False}]
    before = path.read_bytes()
    expected_allowed = dict(forbidden, allowed=True)
    failed = run(rahul.args(path, verify=True, namespace="dev", expected_access=[expected_allowed]))
    assert failed["failed"] and not failed["changed"] and path.read_bytes() == before
    assert failed["msg"] == ("verify: the new credentials are not what was expected: expected_access[0]: list "
                             f"secrets in {namespace} is forbidden, expected allowed")


def test_verify_fails_when_the_server_refuses_the_credentials_or_is_not_the_ca_s(run, cluster, tmp_path):
    stranger = local_person(tmp_path, cluster.name("kcb-stranger"))
    path = tmp_path / "kubeconfig"
    refused = run(stranger.args(path, verify=True))
    assert refused["failed"] and not refused["changed"] and not path.exists()
    assert refused["msg"].startswith(f"verify: the API server at {cluster.server} did not accept the new credentials")
    assert "HTTP 401" in refused["msg"]
    wrong_ca = tmp_path / "wrong-ca.crt"
    wrong_ca.write_bytes(pki.cert_pem(LOCAL_CA.cert))
    untrusted = run(stranger.args(path, verify=True, ca_source="file", ca_file=str(wrong_ca)))
    assert untrusted["failed"] and not untrusted["changed"] and not path.exists()
    assert "TLS failure talking to" in untrusted["msg"]


def test_the_verification_threads_end_with_the_run(run, people, tmp_path):
    """Inside the controller process nothing else would end them: each run would leave its threads behind."""
    seema = people["seema"]
    before = set(threading.enumerate())
    result = run({"verify": True, "users": [seema.args(tmp_path / f"{index}.kubeconfig") for index in range(3)]})
    assert result["changed"] and not result.get("failed"), result
    assert [t.name for t in set(threading.enumerate()) - before] == []


class OlderServer:
    """An HTTPS front for the cluster that answers 404 for the SelfSubjectReview versions it hides, as a server
    without them does, and passes everything else on with the user's own credentials."""

    def __init__(self, cluster, directory, person, hidden, v1beta1_from_v1=False):
        ca = pki.CertificateAuthority.create("older-server-ca")
        key, cert = ca.issue_serving(["127.0.0.1"])
        self.ca_file, cert_file, key_file = (str(directory / name)
                                             for name in ("older-ca.crt", "older.crt", "older.key"))
        for name, data in ((self.ca_file, pki.cert_pem(ca.cert)), (cert_file, pki.cert_pem(cert)),
                           (key_file, pki.key_pem(key))):
            with open(name, "wb") as handle:
                handle.write(data)
        self.seen = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # pylint: disable=invalid-name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                front.seen.append(self.path)
                if self.path in hidden:
                    self._answer(404, json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                  "reason": "NotFound", "code": 404}).encode())
                    return
                upstream = self.path
                if self.path == SSR_V1BETA1 and v1beta1_from_v1:
                    upstream, body = SSR_V1, body.replace(b"/v1beta1", b"/v1")
                response = requests.post(cluster.server + upstream, data=body, timeout=30,
                                         headers={"Content-Type": "application/json"},
                                         cert=(person.cert, person.key), verify=cluster.admin.verify)
                self._answer(response.status_code, response.content)

            def _answer(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # pylint: disable=arguments-differ
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("hidden, v1beta1_from_v1, method, calls", [
    ({SSR_V1}, True, "SelfSubjectReview/v1beta1", [SSR_V1, SSR_V1BETA1]),
    ({SSR_V1, SSR_V1BETA1}, False, "SelfSubjectAccessReview", [SSR_V1, SSR_V1BETA1, SSAR]),
], ids=["v1beta1-only", "no-selfsubjectreview"])
def test_verify_falls_back_on_servers_without_selfsubjectreview(run, cluster, people, tmp_path, hidden,
                                                                v1beta1_from_v1, method, calls):
    seema = people["seema"]
    older = OlderServer(cluster, tmp_path, seema, hidden, v1beta1_from_v1)
    try:
        args = seema.args(tmp_path / "kubeconfig", server=older.url, ca_source="file", ca_file=older.ca_file,
                          verify=True)
        result = run(args)
        refused = run(dict(args, expected_groups=["cluster-admins"]))
    finally:
        older.close()
    assert not result.get("failed"), result
    assert result["verified"]["method"] == method
    assert result["verified"]["username"] == seema.name
    assert set(seema.groups) <= set(result["verified"]["groups"])
    assert older.seen == calls * 2
    assert refused["failed"] and "cluster-admins" in refused["msg"]


def test_access_review_names_the_check_as_kubectl_does(people, cluster):
    rahul = people["rahul"]
    client = KubeClient({"host": cluster.server, "ca_cert": cluster.admin.ca_file, "proxy": None,
                         "client_cert": rahul.cert, "client_key": rahul.key})
    logs = kubeconfig_user.access_review(client, {"verb": "get", "resource": "pods", "subresource": "log",
                                                  "namespace": "kube-system", "group": "", "name": ""})
    assert logs == {"check": "get pods in kube-system", "allowed": False}
    nodes = kubeconfig_user.access_review(client, {"verb": "delete", "resource": "nodes", "name": "node-1"})
    assert nodes == {"check": "delete nodes node-1", "allowed": False}


@pytest.mark.local_only("reads the local server's request log")
def test_api_calls_only_when_needed_and_once_per_task(run, cluster, people, tmp_path):
    rahul, seema = people["rahul"], people["seema"]

    def calls_since(start):
        log = cluster.control("GET", "stats")["requests"]
        return [(r["user"], r["verb"], r["path"]) for r in log
                if r["time"] >= start and not r["path"].startswith("/_testserver/")]

    start = time.time()
    assert run(rahul.args(tmp_path / "a.kubeconfig"))["changed"]
    assert calls_since(start) == []

    start = time.time()
    items = [{"path": str(tmp_path / f"{p.name}.kubeconfig"), "user": p.name, "client_certificate_path": p.cert,
              "client_key_path": p.key} for p in (rahul, seema, seema)]
    assert run({"ca_source": "configmap", "users": items})["changed"]
    assert calls_since(start) == [("kubernetes-admin", "get", ROOT_CA_PATH)]

    start = time.time()
    assert run(rahul.args(tmp_path / "a.kubeconfig", verify=True))["verified"]
    assert calls_since(start) == [(rahul.name, "create", SSR_V1)]
