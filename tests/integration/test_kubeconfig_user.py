"""k8s_kubeconfig_user through ansible-playbook: the kubeconfigs it writes work with kubectl, merging keeps what is
not ours, and the file is never lost, leaked or left half-written."""
# pylint: disable=redefined-outer-name

import base64
import concurrent.futures
import json
import os
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import yaml
from cryptography.hazmat.primitives import serialization

from tests.apiserver import pki
from tests.kube import kubectl

MODULE = "k8s_kubeconfig_user"
SSR_V1 = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SSR_V1BETA1 = "/apis/authentication.k8s.io/v1beta1/selfsubjectreviews"
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


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


def _cluster_user(cluster, directory, base, groups):
    """A user the cluster under test accepts: certificate through the CSR API."""
    name = cluster.name(base)
    with open(cluster.make_user(name, groups), encoding="utf-8") as handle:
        credentials = yaml.safe_load(handle)["users"][0]["user"]
    return Person(name, groups, directory, base64.b64decode(credentials["client-certificate-data"]),
                  base64.b64decode(credentials["client-key-data"]))


def _local_user(directory, name, groups=()):
    """A certificate from a throw-away CA: enough for everything that does not call the API."""
    key = pki.new_key()
    cert = _LOCAL_CA.issue_client(name, list(groups), key.public_key())
    return Person(name, groups, directory, pki.cert_pem(cert), pki.key_pem(key))


_LOCAL_CA = pki.CertificateAuthority.create("kubeconfig-test-ca")


@pytest.fixture(scope="module")
def people(cluster, tmp_path_factory):
    directory = tmp_path_factory.mktemp("people")
    return {"rahul": _cluster_user(cluster, directory, "kc-rahul", ["developers"]),
            "seema": _cluster_user(cluster, directory, "kc-seema", ["app1-devs", "platform"])}


@pytest.fixture(scope="module")
def admin_view(cluster):
    """Cluster name, server and CA data of the admin kubeconfig's current context."""
    with open(cluster.kubeconfig, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    entry = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    return {"name": context["cluster"], "server": entry["server"],
            "ca": base64.b64encode(cluster.ca_pem).decode()}


def _load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _entry(config, section, name):
    return next((e[section[:-1]] for e in config.get(section) or [] if e["name"] == name), None)


def _names(config, section):
    return [entry["name"] for entry in config.get(section) or []]


def _identity(path):
    status = os.stat(path)
    return status.st_ino, status.st_mtime_ns, status.st_size


def _whoami(path):
    whoami = kubectl(str(path), "auth", "whoami", "-o", "json", check=0)
    return json.loads(whoami.stdout)["status"]["userInfo"]


def _ordered(value):
    """JSON with the keys in their order: equal only if content and order are."""
    return json.dumps(value)


def test_lifecycle_writes_a_kubeconfig_kubectl_uses(run_module, people, admin_view, tmp_path):
    rahul = people["rahul"]
    path = tmp_path / "rahul" / "kubeconfig"
    args = rahul.args(path, namespace="dev")
    context_name = f"{rahul.name}@{admin_view['name']}"

    checked = run_module(MODULE, args, check=True)
    assert checked["changed"] and not checked.get("failed"), checked
    assert not (tmp_path / "rahul").exists()

    written = run_module(MODULE, args)
    assert written["changed"] and not written.get("failed"), written
    assert {k: written[k] for k in ("path", "cluster_name", "user_name", "context_name", "current_context")} == {
        "path": str(path), "cluster_name": admin_view["name"], "user_name": context_name,
        "context_name": context_name, "current_context": context_name}
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    config = _load(path)
    assert _entry(config, "clusters", admin_view["name"]) == {
        "certificate-authority-data": admin_view["ca"], "server": admin_view["server"]}
    assert _entry(config, "users", context_name) == {
        "client-certificate-data": base64.b64encode(rahul.cert_pem).decode(),
        "client-key-data": base64.b64encode(rahul.key_pem).decode()}
    assert _entry(config, "contexts", context_name) == {
        "cluster": admin_view["name"], "user": context_name, "namespace": "dev"}
    assert config["current-context"] == context_name

    user_info = _whoami(path)
    assert user_info["username"] == rahul.name
    assert "developers" in user_info["groups"]
    view = kubectl(str(path), "config", "view", "-o", "json", check=0)
    assert json.loads(view.stdout)["contexts"][0]["context"]["namespace"] == "dev"
    assert "DATA+OMITTED" in kubectl(str(path), "config", "view", check=0).stdout

    before = _identity(path)
    again = run_module(MODULE, args)
    assert not again["changed"] and not again.get("failed"), again
    assert again["current_context"] == context_name
    checked_again = run_module(MODULE, args, check=True)
    assert not checked_again["changed"] and not checked_again.get("failed"), checked_again
    assert _identity(path) == before


def test_referenced_credentials_and_never_current_context(run_module, people, tmp_path):
    rahul = people["rahul"]
    path = tmp_path / "kubeconfig"
    args = rahul.args(path, cluster="prod", embed_credentials=False, current_context="never")
    assert run_module(MODULE, args, check=True)["changed"]
    written = run_module(MODULE, args)
    assert written["changed"] and written["current_context"] == ""
    referenced = {"client-certificate": rahul.cert, "client-key": rahul.key}
    assert _entry(_load(path), "users", f"{rahul.name}@prod") == referenced
    assert _whoami_with_context(path, f"{rahul.name}@prod")["username"] == rahul.name
    assert not run_module(MODULE, args)["changed"]
    assert not run_module(MODULE, args, check=True)["changed"]


def _whoami_with_context(path, context):
    whoami = kubectl(str(path), "--context", context, "auth", "whoami", "-o", "json", check=0)
    return json.loads(whoami.stdout)["status"]["userInfo"]


def test_check_mode_before_the_certificate_exists(run_module, tmp_path):
    args = {"path": str(tmp_path / "kubeconfig"), "user": "newcomer", "verify": True,
            "client_certificate_path": str(tmp_path / "newcomer.crt"), "client_key_path": str(tmp_path / "newcomer.key")}
    checked = run_module(MODULE, args, check=True)
    assert checked["changed"] and not checked.get("failed"), checked
    assert "verified" not in checked
    assert not (tmp_path / "kubeconfig").exists()
    refused = run_module(MODULE, args)
    assert refused["failed"] and not refused["changed"]
    assert f"client_certificate_path: {tmp_path / 'newcomer.crt'} does not exist" in refused["msg"]
    assert not (tmp_path / "kubeconfig").exists()


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


def test_merge_keeps_foreign_entries_and_absent_removes_only_ours(run_module, people, tmp_path):
    rahul = people["rahul"]
    path = tmp_path / "shared.kubeconfig"
    path.write_text(yaml.safe_dump(FOREIGN, sort_keys=False))
    ours = f"{rahul.name}@prod"
    args = rahul.args(path, cluster="prod")

    checked = run_module(MODULE, args, check=True)
    assert checked["changed"] and checked["current_context"] == "sso@lab"
    assert yaml.safe_load(path.read_text()) == FOREIGN
    assert run_module(MODULE, args)["changed"]
    merged = _load(path)
    for section in ("clusters", "users", "contexts"):
        assert _ordered(merged[section][:2]) == _ordered(FOREIGN[section]), section
        assert _names(merged, section)[2:] == ["prod" if section == "clusters" else ours]
    for key in ("apiVersion", "kind", "preferences", "current-context", "extensions"):
        assert _ordered(merged[key]) == _ordered(FOREIGN[key]), key
    assert _whoami_with_context(path, ours)["username"] == rahul.name
    assert not run_module(MODULE, args)["changed"]

    removal = rahul.args(path, cluster="prod", state="absent")
    assert run_module(MODULE, removal, check=True)["changed"]
    assert run_module(MODULE, removal)["changed"]
    assert _ordered(_load(path)) == _ordered(FOREIGN)
    assert not run_module(MODULE, removal)["changed"]
    assert not run_module(MODULE, removal, check=True)["changed"]


def test_our_entries_are_replaced_where_they_stand(run_module, people, tmp_path):
    rahul = people["rahul"]
    ours = f"{rahul.name}@prod"
    stale = json.loads(json.dumps(FOREIGN))
    stale["clusters"].insert(1, {"name": "prod", "cluster": {"server": "https://old.example:6443"}})
    stale["users"].insert(1, {"name": ours, "user": {"token": "old-token"}})
    stale["contexts"].insert(1, {"name": ours, "context": {"cluster": "prod", "user": ours, "namespace": "old"}})
    path = tmp_path / "stale.kubeconfig"
    path.write_text(yaml.safe_dump(stale, sort_keys=False))

    assert run_module(MODULE, rahul.args(path, cluster="prod"))["changed"]
    merged = _load(path)
    assert _names(merged, "clusters") == ["edge", "prod", "lab"]
    assert _names(merged, "users") == ["ops", ours, "sso"]
    assert _names(merged, "contexts") == ["ops@edge", ours, "sso@lab"]
    assert "token" not in _entry(merged, "users", ours)
    assert _entry(merged, "contexts", ours) == {"cluster": "prod", "user": ours}
    assert _whoami_with_context(path, ours)["username"] == rahul.name


def test_two_clusters_for_one_user_side_by_side(run_module, people, cluster, tmp_path):
    rahul = people["rahul"]
    path = tmp_path / "kubeconfig"
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(cluster.ca_pem)
    prod = rahul.args(path, cluster="prod")
    staging = rahul.args(path, cluster="staging", server=cluster.server, ca_source="file", ca_file=str(ca_file),
                         current_context="always")
    assert run_module(MODULE, prod)["current_context"] == f"{rahul.name}@prod"
    assert run_module(MODULE, staging)["current_context"] == f"{rahul.name}@staging"
    config = _load(path)
    assert _names(config, "clusters") == ["prod", "staging"]
    assert _names(config, "contexts") == [f"{rahul.name}@prod", f"{rahul.name}@staging"]
    for name in ("prod", "staging"):
        assert _whoami_with_context(path, f"{rahul.name}@{name}")["username"] == rahul.name
    assert not run_module(MODULE, prod)["changed"]
    assert not run_module(MODULE, staging)["changed"]

    removed = run_module(MODULE, rahul.args(path, cluster="staging", state="absent"))
    assert removed["changed"] and removed["current_context"] == ""
    config = _load(path)
    assert _names(config, "clusters") == ["prod"]
    assert _names(config, "contexts") == [f"{rahul.name}@prod"]


def test_a_cluster_entry_stays_while_another_context_uses_it(run_module, people, tmp_path):
    rahul, seema = people["rahul"], people["seema"]
    path = tmp_path / "team.kubeconfig"
    for person in (rahul, seema):
        assert run_module(MODULE, person.args(path, cluster="prod"))["changed"]
    assert run_module(MODULE, rahul.args(path, cluster="prod", state="absent"))["changed"]
    config = _load(path)
    assert _names(config, "clusters") == ["prod"]
    assert _names(config, "users") == [f"{seema.name}@prod"]
    assert config["current-context"] == ""
    assert run_module(MODULE, seema.args(path, cluster="prod", state="absent"))["changed"]
    config = _load(path)
    assert (config["clusters"], config["users"], config["contexts"]) == ([], [], [])


def test_a_file_that_is_not_a_kubeconfig_is_never_overwritten(run_module, people, tmp_path):
    rahul = people["rahul"]
    files = {
        "broken.yaml": b"apiVersion: v1\nusers:\n- name: x\n  user: {client-key-data: c2VjcmV0LWtleQ==\n",
        "inventory.yaml": b"all:\n  hosts:\n    web1: {}\n",
        "list.yaml": b"- clusters\n- users\n",
        "binary.bin": bytes(range(256)),
    }
    items = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        items.append({"path": str(tmp_path / name)})
    result = run_module(MODULE, {"user": rahul.name, "client_certificate_path": rahul.cert,
                                 "client_key_path": rahul.key, "users": items})
    assert result["failed"] and not result["changed"]
    for name, data in files.items():
        assert f"path: {tmp_path / name} is not" in result["msg"]
        assert (tmp_path / name).read_bytes() == data
    assert "c2VjcmV0LWtleQ" not in result["msg"]
    assert f"{tmp_path / 'broken.yaml'} is not valid YAML (line " in result["msg"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_mode_owner_and_backup(run_module, people, tmp_path):
    rahul, seema = people["rahul"], people["seema"]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(FOREIGN, sort_keys=False))
    path.chmod(0o644)
    if os.getuid() == 0:
        os.chown(path, 65534, 65534)  # a user's file, rewritten by root, stays the user's
    owner = os.stat(path).st_uid, os.stat(path).st_gid
    original = path.read_bytes()

    first = run_module(MODULE, rahul.args(path, cluster="prod", backup=True))
    assert first["changed"]
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert open(first["backup_file"], "rb").read() == original
    unchanged = run_module(MODULE, rahul.args(path, cluster="prod", backup=True))
    assert not unchanged["changed"] and "backup_file" not in unchanged

    given = run_module(MODULE, dict(seema.args(path, cluster="prod"), mode="0640"))
    assert given["changed"] and os.stat(path).st_mode & 0o777 == 0o640
    assert not run_module(MODULE, dict(seema.args(path, cluster="prod"), mode="0640"))["changed"]
    reset = run_module(MODULE, seema.args(path, cluster="prod"))
    assert reset["changed"] and os.stat(path).st_mode & 0o777 == 0o600
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == owner
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("kubeconfig.")] == \
        [os.path.basename(first["backup_file"])]


def test_diff_shows_the_change_and_never_the_key(playbook, people, tmp_path, monkeypatch):
    rahul = people["rahul"]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(FOREIGN, sort_keys=False))
    monkeypatch.setenv("ANSIBLE_VERBOSITY", "3")  # the module's arguments and whole result are printed too
    runs = []
    for index, (check, extra) in enumerate([(True, {}), (False, {}), (False, {"namespace": "dev"})]):
        run = playbook("run_module.yml", module=MODULE, module_args=rahul.args(path, cluster="prod", **extra),
                       check=check, diff=True, result_file=f"diff-{index}.json").assert_ok()
        runs.append((run.output, (tmp_path / f"diff-{index}.json").read_text()))

    key_b64 = base64.b64encode(rahul.key_pem).decode()
    key_lines = [line for line in rahul.key_pem.decode().splitlines() if "-----" not in line]
    for output, result_text in runs:
        for shown in (output, result_text):
            assert "PRIVATE KEY" not in shown
            assert key_b64[40:100] not in shown
            assert not [line for line in key_lines if line in shown]
            assert "ops-secret-token" not in shown
    check_result = json.loads(runs[0][1])
    assert check_result["changed"]
    diff = check_result["diff"]
    assert diff["before_header"] == diff["after_header"] == str(path)
    assert f"name: {rahul.name}@prod" in diff["after"] and f"{rahul.name}@prod" not in diff["before"]
    assert "client-key-data: <redacted>" in diff["after"]
    assert "token: <redacted>" in diff["before"]
    assert "client-certificate-data: <redacted, " in diff["after"]
    assert f"+- name: {rahul.name}@prod" in runs[0][0]
    namespace_diff = json.loads(runs[2][1])["diff"]
    assert "namespace: dev" in namespace_diff["after"] and "namespace: dev" not in namespace_diff["before"]


def test_verify_in_check_mode_and_for_real(run_module, people, tmp_path):
    seema = people["seema"]
    path = tmp_path / "kubeconfig"
    args = seema.args(path, verify=True)
    checked = run_module(MODULE, args, check=True)
    assert checked["changed"] and not path.exists()
    assert checked["verified"]["username"] == seema.name
    written = run_module(MODULE, dict(args, expected_groups=["platform"]))
    assert written["changed"] and not written.get("failed"), written
    assert written["verified"]["method"] == "SelfSubjectReview/v1"
    assert {"app1-devs", "platform", "system:authenticated"} <= set(written["verified"]["groups"])
    again = run_module(MODULE, args)
    assert not again["changed"] and again["verified"]["username"] == seema.name


def test_verify_fails_on_groups_the_server_does_not_see(run_module, people, tmp_path):
    rahul = people["rahul"]
    path = tmp_path / "kubeconfig"
    result = run_module(MODULE, rahul.args(path, verify=True, expected_groups=["developers", "cluster-admins"]))
    assert result["failed"] and not result["changed"]
    assert "expected_groups: the API server does not see ['cluster-admins']" in result["msg"]
    assert result["verified"]["username"] == rahul.name
    # Checked before the write: a kubeconfig that fails is not written, so the next run checks it again.
    assert not path.exists()
    again = run_module(MODULE, rahul.args(path, verify=True, expected_groups=["cluster-admins"]))
    assert again["failed"] and not again["changed"] and not path.exists()
    written = run_module(MODULE, rahul.args(path, verify=True, expected_groups=["developers"]))
    assert written["changed"] and _whoami(path)["username"] == rahul.name
    # An entry that stops verifying is not changed: the file keeps what it had.
    before = path.read_bytes()
    kept = run_module(MODULE, rahul.args(path, verify=True, namespace="elsewhere", expected_groups=["cluster-admins"]))
    assert kept["failed"] and not kept["changed"] and path.read_bytes() == before


def test_verify_fails_when_the_server_refuses_the_credentials_or_is_not_the_ca_s(run_module, cluster, tmp_path):
    stranger = _local_user(tmp_path, cluster.name("kc-stranger"))
    path = tmp_path / "kubeconfig"
    refused = run_module(MODULE, stranger.args(path, verify=True))
    assert refused["failed"] and not refused["changed"] and not path.exists()
    assert refused["msg"].startswith(f"verify: the API server at {cluster.server} did not accept the new credentials")
    assert "HTTP 401" in refused["msg"]
    wrong_ca = tmp_path / "wrong-ca.crt"
    wrong_ca.write_bytes(pki.cert_pem(_LOCAL_CA.cert))
    untrusted = run_module(MODULE, stranger.args(path, verify=True, ca_source="file", ca_file=str(wrong_ca)))
    assert untrusted["failed"] and not untrusted["changed"] and not path.exists()
    assert "TLS failure talking to" in untrusted["msg"]


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
def test_verify_falls_back_on_servers_without_selfsubjectreview(run_module, cluster, people, tmp_path, hidden,
                                                                v1beta1_from_v1, method, calls):
    seema = people["seema"]
    older = OlderServer(cluster, tmp_path, seema, hidden, v1beta1_from_v1)
    try:
        args = seema.args(tmp_path / "kubeconfig", server=older.url, ca_source="file", ca_file=older.ca_file,
                          verify=True)
        result = run_module(MODULE, args)
        refused = run_module(MODULE, dict(args, expected_groups=["cluster-admins"]))
    finally:
        older.close()
    assert not result.get("failed"), result
    assert result["verified"]["method"] == method
    assert result["verified"]["username"] == seema.name
    assert set(seema.groups) <= set(result["verified"]["groups"])
    assert older.seen == calls * 2
    assert refused["failed"] and "cluster-admins" in refused["msg"]


def test_ca_from_the_configmap_and_from_a_file(run_module, people, admin, tmp_path):
    rahul = people["rahul"]
    root_ca = admin.json("GET", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt", expect=200)["data"]["ca.crt"]
    path = tmp_path / "kubeconfig"
    from_configmap = rahul.args(path, cluster="prod", ca_source="configmap")
    assert run_module(MODULE, from_configmap, check=True)["changed"]
    assert run_module(MODULE, from_configmap)["changed"]
    assert _entry(_load(path), "clusters", "prod")["certificate-authority-data"] == \
        base64.b64encode(root_ca.encode()).decode()
    assert _whoami(path)["username"] == rahul.name
    assert not run_module(MODULE, from_configmap)["changed"]
    assert not run_module(MODULE, from_configmap, check=True)["changed"]

    ca_file = tmp_path / "bundle.pem"
    ca_file.write_bytes(root_ca.encode() + pki.cert_pem(_LOCAL_CA.cert))
    from_file = rahul.args(path, cluster="prod", ca_source="file", ca_file=str(ca_file))
    assert run_module(MODULE, from_file)["changed"]
    assert _entry(_load(path), "clusters", "prod")["certificate-authority-data"] == \
        base64.b64encode(ca_file.read_bytes()).decode()
    assert _whoami(path)["username"] == rahul.name
    assert not run_module(MODULE, from_file)["changed"]


def test_parallel_runs_merging_into_one_file_lose_nothing(run_module, tmp_path):
    path = tmp_path / "shared" / "kubeconfig"
    team = [_local_user(tmp_path, f"member{index}") for index in range(6)]
    with concurrent.futures.ThreadPoolExecutor(len(team)) as pool:
        results = list(pool.map(lambda person: run_module(MODULE, person.args(path, cluster="prod")), team))
    assert all(r["changed"] and not r.get("failed") for r in results), results
    config = _load(path)
    assert sorted(_names(config, "users")) == sorted(f"{p.name}@prod" for p in team)
    assert sorted(_names(config, "contexts")) == sorted(f"{p.name}@prod" for p in team)
    assert _names(config, "clusters") == ["prod"]
    assert config["current-context"] in _names(config, "contexts")
    assert sorted(os.listdir(path.parent)) == [".kubeconfig.kubeaccess-lock", "kubeconfig"]


def test_batch_form(run_module, people, tmp_path):
    rahul, seema = people["rahul"], people["seema"]
    team, solo = tmp_path / "team.kubeconfig", tmp_path / "solo.kubeconfig"
    args = {"cluster": "prod", "verify": True, "users": [
        {"path": str(team), "user": rahul.name, "client_certificate_path": rahul.cert, "client_key_path": rahul.key},
        {"path": str(team), "user": seema.name, "client_certificate_path": seema.cert, "client_key_path": seema.key,
         "namespace": "app1"},
        {"path": str(solo), "user": seema.name, "client_certificate_path": seema.cert, "client_key_path": seema.key,
         "cluster": "staging", "embed_credentials": False},
    ]}
    checked = run_module(MODULE, args, check=True, diff=True)
    assert checked["changed"] and [r["changed"] for r in checked["results"]] == [True, True, True]
    assert [d["after_header"] for d in checked["diff"]] == [str(team), str(solo)]
    assert f"name: {seema.name}@prod" in checked["diff"][0]["after"]
    assert "diff" not in checked["results"][1]
    assert not team.exists() and not solo.exists()

    done = run_module(MODULE, args)
    assert done["changed"] and not done.get("failed"), done
    assert [(r["path"], r["context_name"]) for r in done["results"]] == [
        (str(team), f"{rahul.name}@prod"), (str(team), f"{seema.name}@prod"), (str(solo), f"{seema.name}@staging")]
    assert [r["verified"]["username"] for r in done["results"]] == [rahul.name, seema.name, seema.name]
    assert [r["current_context"] for r in done["results"]] == [f"{rahul.name}@prod"] * 2 + [f"{seema.name}@staging"]
    assert _names(_load(team), "contexts") == [f"{rahul.name}@prod", f"{seema.name}@prod"]
    assert _whoami_with_context(team, f"{seema.name}@prod")["username"] == seema.name
    assert _whoami(solo)["username"] == seema.name

    assert not run_module(MODULE, args)["changed"]
    assert not run_module(MODULE, args, check=True)["changed"]


def test_bad_input_is_refused_before_anything_changes(run_module, people, tmp_path):
    rahul, seema = people["rahul"], people["seema"]
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(serialization.load_pem_private_key(rahul.key_pem, None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase")))
    (tmp_path / "a-file").write_text("not a directory\n")
    good = tmp_path / "good.kubeconfig"
    refused = [
        ({"client_key_path": seema.key}, "client_key_path: ", "is not the key of the certificate"),
        ({"user": seema.name}, "client_certificate_path: ", f"is for CN='{rahul.name}', not user='{seema.name}'"),
        ({"client_key_path": str(encrypted)}, "client_key_path: ", "is encrypted; kubectl cannot use"),
        ({"client_certificate_path": str(tmp_path / "missing.crt")}, "client_certificate_path: ", "does not exist"),
        ({"name_format": "{user}-{team}"}, "name_format: ", "only {user} and {cluster} can be used"),
        ({"cluster": "prod "}, "cluster: ", "is empty or padded with spaces"),
        ({"server": "http://insecure.example"}, "server: ", "is not an https:// URL"),
        ({"ca_file": rahul.cert}, "ca_file: ", "only used with ca_source=file"),
        ({"ca_source": "file"}, "ca_file: ", "required with ca_source=file"),
        ({"namespace": "Not A Namespace"}, "namespace: ", "is not a valid object name"),
        ({"path": str(tmp_path / "a-file" / "kubeconfig")}, "path: ", "is not a directory"),
        ({"path": str(tmp_path)}, "path: ", "is a directory"),
    ]
    fine = [{}, {"state": "absent"}]
    result = run_module(MODULE, dict(rahul.args(good, cluster="prod"),
                                     users=fine + [item for item, _option, _words in refused]))
    assert result["failed"] and not result["changed"]
    messages = result["msg"].split(" | ")
    assert len(messages) == len(refused), messages
    for index, ((_item, option, words), message) in enumerate(zip(refused, messages), start=len(fine)):
        assert message.startswith(f"users[{index}] (user ") and f"): {option}" in message and words in message, \
            message
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("result-")) == \
        ["a-file", "encrypted.key"]

    missing_user = run_module(MODULE, {"path": str(good), "client_certificate_path": rahul.cert,
                                       "client_key_path": rahul.key})
    assert missing_user["failed"] and missing_user["msg"].startswith("user: required with state=present")
    assert not good.exists()


@pytest.mark.local_only("reads the local server's request log")
def test_api_calls_only_when_needed_and_once_per_task(run_module, cluster, people, tmp_path):
    rahul, seema = people["rahul"], people["seema"]

    def calls_since(start):
        log = cluster.control("GET", "stats")["requests"]
        return [(r["user"], r["verb"], r["path"]) for r in log
                if r["time"] >= start and not r["path"].startswith("/_testserver/")]

    start = time.time()
    assert run_module(MODULE, rahul.args(tmp_path / "a.kubeconfig"))["changed"]
    assert calls_since(start) == []

    start = time.time()
    items = [{"path": str(tmp_path / f"{p.name}.kubeconfig"), "user": p.name, "client_certificate_path": p.cert,
              "client_key_path": p.key} for p in (rahul, seema, seema)]
    assert run_module(MODULE, {"ca_source": "configmap", "users": items})["changed"]
    root_ca = "/api/v1/namespaces/default/configmaps/kube-root-ca.crt"
    assert calls_since(start) == [("kubernetes-admin", "get", root_ca)]

    start = time.time()
    assert run_module(MODULE, rahul.args(tmp_path / "a.kubeconfig", verify=True))["verified"]
    assert calls_since(start) == [(rahul.name, "create", SSR_V1)]
