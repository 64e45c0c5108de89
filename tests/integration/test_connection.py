"""The modules' connection to the API, as k8s_client makes it from the options users give: a kubeconfig whose
context holds its credentials plainly (data or files), `host` with certificate files, or anything the kubernetes
package reads; with proxies from the environment honoured as that package honours them. Every way must reach the
cluster as the same identity.

And what users of kubernetes.core expect of the same options: a kubeconfig given as a dict, $KUBECONFIG's files
merged as kubectl merges them, no_proxy and proxy_headers (on both ways of connecting), the in-cluster service
account in a pod; and the user_access role reaching a cluster with host and api_key, through onboarding."""

import base64
import json
import os
import secrets
import select
import socket
import socketserver
import subprocess
import sys
import threading
import urllib.parse

import pytest
import yaml

from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import (
    ConnectionConfigError, KubeClient, KubeError)
from tests.integration.test_onboarding import Onboarding, whoami
from tests.kube import CSR_PATH

SELF_SUBJECT_REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


def _who(params):
    review = KubeClient(params).request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                        body=SELF_SUBJECT_REVIEW)
    return review["status"]["userInfo"]["username"]


def _admin_context(cluster):
    with open(cluster.kubeconfig, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    server = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    return config, server, user


def _files_kubeconfig(cluster, directory):
    """The admin kubeconfig with its data moved into files named relative to it, as kubeadm writes them."""
    config, server, user = _admin_context(cluster)
    (directory / "pki").mkdir()
    for section, field in ((server, "certificate-authority"), (user, "client-certificate"), (user, "client-key")):
        if section.get(f"{field}-data"):
            (directory / "pki" / field).write_bytes(base64.b64decode(section.pop(f"{field}-data")))
            section[field] = f"pki/{field}"
    path = directory / "admin.conf"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return str(path), server, user


@pytest.fixture
def no_proxy_environment(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_way_to_give_the_connection_reaches_the_cluster_as_the_same_user(cluster, tmp_path,
                                                                               no_proxy_environment):
    expected = _who({"kubeconfig": cluster.kubeconfig})
    path, server, user = _files_kubeconfig(cluster, tmp_path)
    assert _who({"kubeconfig": path}) == expected
    no_proxy_environment.setenv("KUBECONFIG", path)
    assert _who({}) == expected
    host = {"host": server["server"], "ca_cert": str(tmp_path / "pki" / "certificate-authority")}
    if user.get("client-certificate"):
        host.update(client_cert=str(tmp_path / "pki" / "client-certificate"),
                    client_key=str(tmp_path / "pki" / "client-key"))
    else:
        host.update(api_key=user["token"])
    assert _who(host) == expected


def test_an_exec_plugin_is_read_by_the_kubernetes_package(cluster, tmp_path, no_proxy_environment):
    """The same identity through credentials an exec plugin prints, as cloud kubeconfigs get theirs."""
    expected = _who({"kubeconfig": cluster.kubeconfig})
    config, _server, user = _admin_context(cluster)
    _files_kubeconfig(cluster, tmp_path)  # the credentials as files, for the plugin to print
    if user.get("token"):
        status = {"token": user["token"]}
    else:
        status = {"clientCertificateData": (tmp_path / "pki" / "client-certificate").read_text(),
                  "clientKeyData": (tmp_path / "pki" / "client-key").read_text()}
    credential = tmp_path / "credential.json"
    credential.write_text(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                                      "status": status}))
    credential.chmod(0o600)
    user.clear()
    user["exec"] = {"apiVersion": "client.authentication.k8s.io/v1", "command": "cat", "args": [str(credential)],
                    "interactiveMode": "Never"}
    (tmp_path / "exec.conf").write_text(yaml.safe_dump(config))
    assert _who({"kubeconfig": str(tmp_path / "exec.conf")}) == expected


def test_a_proxy_from_the_environment_is_used_unless_no_proxy_names_the_server(cluster, no_proxy_environment):
    expected = _who({"kubeconfig": cluster.kubeconfig})
    no_proxy_environment.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(KubeError, match="through the proxy: .*Connection refused.*HTTPS_PROXY and NO_PROXY"):
        _who({"kubeconfig": cluster.kubeconfig})
    no_proxy_environment.setenv("NO_PROXY", urllib.parse.urlparse(cluster.server).hostname)
    assert _who({"kubeconfig": cluster.kubeconfig}) == expected


def test_the_proxy_option_is_used(cluster, no_proxy_environment):
    with pytest.raises(KubeError, match="through the proxy"):
        _who({"kubeconfig": cluster.kubeconfig, "proxy": "http://127.0.0.1:9"})


def test_a_credential_file_that_is_gone_is_named(cluster, tmp_path, no_proxy_environment):
    path = _files_kubeconfig(cluster, tmp_path)[0]
    os.remove(tmp_path / "pki" / "certificate-authority")
    with pytest.raises(KubeError) as failed:
        _who({"kubeconfig": path})
    assert "certificate-authority" in str(failed.value)


# -- a kubeconfig given as a dict ------------------------------------------------------------------------------------
def _exec_config(cluster, tmp_path):
    """The admin kubeconfig with its credentials printed by an exec plugin: only the kubernetes package reads it."""
    config, _server, user = _admin_context(cluster)
    if user.get("token"):
        status = {"token": user["token"]}
    else:
        status = {"clientCertificateData": base64.b64decode(user["client-certificate-data"]).decode(),
                  "clientKeyData": base64.b64decode(user["client-key-data"]).decode()}
    credential = tmp_path / "credential.json"
    credential.write_text(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                                      "status": status}))
    credential.chmod(0o600)
    user.clear()
    user["exec"] = {"apiVersion": "client.authentication.k8s.io/v1", "command": "cat", "args": [str(credential)],
                    "interactiveMode": "Never"}
    return config


def test_a_dict_kubeconfig_reaches_the_cluster_as_the_admin(cluster, tmp_path, no_proxy_environment):
    expected = _who({"kubeconfig": cluster.kubeconfig})
    config = _admin_context(cluster)[0]
    no_proxy_environment.setenv("KUBECONFIG", str(tmp_path / "none"))
    assert _who({"kubeconfig": config}) == expected
    # Through the kubernetes package: an exec plugin, and a proxy from the environment that NO_PROXY bypasses.
    assert _who({"kubeconfig": _exec_config(cluster, tmp_path)}) == expected
    no_proxy_environment.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    no_proxy_environment.setenv("NO_PROXY", urllib.parse.urlparse(cluster.server).hostname)
    assert _who({"kubeconfig": config}) == expected
    # A context other than the current one, by name.
    other = json.loads(json.dumps(config))
    other["contexts"].append(dict(other["contexts"][0], name="second"))
    other["current-context"] = "missing"
    assert _who({"kubeconfig": other, "context": "second"}) == expected


def test_a_dict_kubeconfig_without_current_context_fails_naming_the_key_before_anything_changes(
        cluster, admin, run_module, tmp_path):
    config = _admin_context(cluster)[0]
    config["current-context"] = ""
    with pytest.raises(ConnectionConfigError) as refused:
        KubeClient({"kubeconfig": config})
    assert str(refused.value) == "kubeconfig: the dict has no current-context; give context or set current-context"
    user = cluster.name("dictuser")
    key = tmp_path / "keys" / "dictuser.key"
    result = run_module("k8s_csr_request", {"kubeconfig": config, "user": user, "private_key_path": str(key)})
    assert result["failed"] and result["msg"] == ("kubeconfig: the dict has no current-context; give context or set "
                                                  "current-context")
    assert not key.parent.exists()
    listed = admin.json("GET", CSR_PATH, expect=200)["items"]
    assert not [csr for csr in listed if csr["metadata"]["name"].startswith(f"{user}-")]


MATERIAL_PROBE = """
import json, os, sys
from ansible_collections.kubeaccess.x509.plugins.module_utils import k8s_client
with open(sys.argv[1], encoding="utf-8") as handle:
    client = k8s_client.KubeClient({"kubeconfig": json.load(handle)})
client.request("GET", "/version")
directory = k8s_client._material_dir
print(json.dumps({"dir": directory, "mode": os.stat(directory).st_mode & 0o777,
                  "files": {name: os.stat(os.path.join(directory, name)).st_mode & 0o777
                            for name in os.listdir(directory)}}))
"""


@pytest.mark.parametrize("way", ["plain", "package"])
def test_key_data_of_a_dict_kubeconfig_goes_only_to_private_files_that_are_removed(cluster, tmp_path, way):
    """The key (or token) a dict holds is written for TLS to files of mode 0600 in a directory of mode 0700, which
    is gone when the module process ends; nothing is left in the temporary directory."""
    config = _admin_context(cluster)[0] if way == "plain" else _exec_config(cluster, tmp_path)
    source = tmp_path / "config.json"
    source.write_text(json.dumps(config))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {name: value for name, value in os.environ.items() if "PROXY" not in name.upper()}
    completed = subprocess.run([sys.executable, "-c", MATERIAL_PROBE, str(source)], capture_output=True, text=True,
                               env=dict(env, TMPDIR=str(scratch), PYTHONPATH=os.pathsep.join(sys.path)),
                               timeout=120, check=True)
    seen = json.loads(completed.stdout)
    assert os.path.dirname(seen["dir"]) == str(scratch) and seen["mode"] == 0o700
    assert seen["files"] and set(seen["files"].values()) == {0o600}
    assert os.listdir(scratch) == [], "left behind"


# -- $KUBECONFIG with several files ----------------------------------------------------------------------------------
def _credential_files(user, directory):
    """The admin user's credentials as files in `directory`, named relative to it."""
    directory.mkdir(parents=True, exist_ok=True)
    if user.get("token"):
        return {"token": user["token"]}
    for field in ("client-certificate", "client-key"):
        (directory / field).write_bytes(base64.b64decode(user[f"{field}-data"]))
    return {"client-certificate": "client-certificate", "client-key": "client-key"}


def _two_kubeconfig_files(cluster, tmp_path):
    """The admin's connection split over two files as kubectl merges them: the first sets the current context and
    the user (its files relative to the first file), the second the context and the cluster (its CA relative to the
    second file), and names the same user with credentials that are worthless and another current context, which
    the first file's win over."""
    _config, server, user = _admin_context(cluster)
    first, second = tmp_path / "first", tmp_path / "second"
    second.mkdir()
    cluster_entry = {"server": server["server"]}
    if server.get("certificate-authority-data"):
        (second / "ca.crt").write_bytes(base64.b64decode(server["certificate-authority-data"]))
        cluster_entry["certificate-authority"] = "ca.crt"
    context = cluster.name("admin")
    credentials = _credential_files(user, first)
    (first / "config").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "users": [{"name": "admin", "user": credentials}]}))
    (second / "config").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "elsewhere",
        "clusters": [{"name": "target", "cluster": cluster_entry},
                     {"name": "nowhere", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "admin", "user": {"token": "not-a-token"}}],
        "contexts": [{"name": context, "context": {"cluster": "target", "user": "admin"}},
                     {"name": "elsewhere", "context": {"cluster": "nowhere", "user": "admin"}}]}))
    return os.pathsep.join([str(first / "config"), str(second / "config")])


def test_kubeconfig_files_are_merged_as_kubectl_merges_them(cluster, tmp_path, no_proxy_environment):
    expected = _who({"kubeconfig": cluster.kubeconfig})
    no_proxy_environment.setenv("KUBECONFIG", _two_kubeconfig_files(cluster, tmp_path))
    assert json.loads(subprocess.run([os.path.join(os.path.dirname(sys.executable), "kubectl"), "auth", "whoami",
                                      "-o", "json"], capture_output=True, text=True, check=True, timeout=60,
                                     env=dict(os.environ)).stdout)["status"]["userInfo"]["username"] == expected
    assert _who({}) == expected
    # Through the kubernetes package (a proxy from the environment), which would take the last file's
    # current-context if it merged the files itself.
    no_proxy_environment.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    no_proxy_environment.setenv("NO_PROXY", urllib.parse.urlparse(cluster.server).hostname)
    assert _who({}) == expected


# -- no_proxy and proxy_headers --------------------------------------------------------------------------------------
class _Tunnel(socketserver.BaseRequestHandler):
    """An HTTP CONNECT proxy that records each request line and its headers, then tunnels the bytes."""

    def handle(self):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _separator, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = dict((name.strip().lower(), value.strip()) for name, value in
                       (line.split(":", 1) for line in lines[1:] if ":" in line))
        self.server.seen.append((method, target, headers))
        if method != "CONNECT":
            self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host.strip("[]"), int(port)), timeout=30) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            ends = [self.request, upstream]
            while True:
                readable, _w, _x = select.select(ends, [], [], 30)
                if not readable:
                    return
                for end in readable:
                    chunk = end.recv(65536)
                    if not chunk:
                        return
                    (upstream if end is self.request else self.request).sendall(chunk)


@pytest.fixture(name="recording_proxy")
def recording_proxy_fixture():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Tunnel)
    server.daemon_threads = True
    server.seen = []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_no_proxy_sends_the_listed_servers_around_the_proxy(cluster, tmp_path, no_proxy_environment):
    expected = _who({"kubeconfig": cluster.kubeconfig})
    host = urllib.parse.urlparse(cluster.server).hostname
    discard = "http://127.0.0.1:9"  # nothing listens there: a request through it fails
    exec_config = _exec_config(cluster, tmp_path)
    for kubeconfig in (cluster.kubeconfig, exec_config):  # without the kubernetes package, and with it
        with pytest.raises(KubeError, match="through the proxy"):
            _who({"kubeconfig": kubeconfig, "proxy": discard, "no_proxy": "other.example.com,192.0.2.0/24"})
        assert _who({"kubeconfig": kubeconfig, "proxy": discard, "no_proxy": f"other.example.com,{host}"}) == expected
    # no_proxy is the list for a proxy from the environment too, in place of NO_PROXY.
    no_proxy_environment.setenv("HTTPS_PROXY", discard)
    no_proxy_environment.setenv("NO_PROXY", "other.example.com")
    assert _who({"kubeconfig": cluster.kubeconfig, "no_proxy": host}) == expected


def test_proxy_headers_reach_the_proxy_on_both_ways_of_connecting(cluster, tmp_path, recording_proxy,
                                                                  no_proxy_environment):
    expected = _who({"kubeconfig": cluster.kubeconfig})
    headers = {"proxy_basic_auth": "ops:s3cret", "basic_auth": "user:pw", "user_agent": "kubeaccess-ci/1.0"}
    target = urllib.parse.urlparse(cluster.server)
    for kubeconfig in (cluster.kubeconfig, _exec_config(cluster, tmp_path)):
        recording_proxy.seen.clear()
        assert _who({"kubeconfig": kubeconfig, "proxy": recording_proxy.url, "proxy_headers": headers}) == expected
        method, where, sent = recording_proxy.seen[0]
        assert (method, where) == ("CONNECT", f"{target.hostname}:{target.port or 443}")
        assert sent["proxy-authorization"] == "Basic " + base64.b64encode(b"ops:s3cret").decode()
        assert sent["authorization"] == "Basic " + base64.b64encode(b"user:pw").decode()
        assert sent["user-agent"] == "kubeaccess-ci/1.0"


def test_a_module_takes_the_proxy_options_from_the_environment(cluster, run_module, recording_proxy,
                                                               no_proxy_environment):
    """K8S_AUTH_PROXY_HEADERS_* and K8S_AUTH_NO_PROXY, as kubernetes.core reads them; the proxy credentials are
    masked in what the module returns."""
    no_proxy_environment.setenv("K8S_AUTH_PROXY", recording_proxy.url)
    no_proxy_environment.setenv("K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH", "ops:env-s3cret")
    no_proxy_environment.setenv("K8S_AUTH_PROXY_HEADERS_USER_AGENT", "from-the-environment/1.0")
    result = run_module("k8s_access_info", {"users": [cluster.name("nobody")]})
    assert not result.get("failed"), result
    assert recording_proxy.seen and all(
        sent["proxy-authorization"] == "Basic " + base64.b64encode(b"ops:env-s3cret").decode()
        and sent["user-agent"] == "from-the-environment/1.0" for _method, _target, sent in recording_proxy.seen)
    assert "env-s3cret" not in json.dumps(result)
    seen = len(recording_proxy.seen)
    no_proxy_environment.setenv("K8S_AUTH_NO_PROXY", urllib.parse.urlparse(cluster.server).hostname)
    assert not run_module("k8s_access_info", {"users": [cluster.name("nobody")]}).get("failed")
    assert len(recording_proxy.seen) == seen, "went through the proxy that K8S_AUTH_NO_PROXY bypasses"


# -- the in-cluster service account ----------------------------------------------------------------------------------
def _service_account(admin, cleanup, cluster, role="cluster-admin"):
    """A namespace with a ServiceAccount bound to `role` cluster-wide, and a token of it (TokenRequest)."""
    # Per call: a real cluster keeps the namespace of an earlier test Terminating for seconds.
    namespace, name = cluster.name(f"ci-{secrets.token_hex(2)}"), "deployer"
    admin.json("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": namespace}}, expect=201)
    cleanup.add(f"/api/v1/namespaces/{namespace}")
    admin.json("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts",
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}, expect=201)
    binding = f"{namespace}-deployer"
    admin.json("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": binding},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]}, expect=201)
    cleanup.add(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{binding}")
    token = admin.json("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}},
        expect=201)["status"]["token"]
    return f"system:serviceaccount:{namespace}:{name}", token


def test_in_a_pod_the_service_account_is_used(cluster, admin, cleanup, tmp_path, no_proxy_environment):
    """What a CI job in a pod has: KUBERNETES_SERVICE_HOST and _PORT, and the service account's token and CA where
    Kubernetes mounts them (here where the kubernetes package is told they are)."""
    from kubernetes.config import incluster_config  # pylint: disable=import-outside-toplevel
    server = urllib.parse.urlparse(cluster.server)
    if server.path.strip("/"):
        pytest.skip(f"the API server {cluster.server} is not at the root of its URL, as in-cluster it would be")
    account, token = _service_account(admin, cleanup, cluster)
    (tmp_path / "token").write_text(token)
    (tmp_path / "ca.crt").write_bytes(cluster.ca_pem)
    no_proxy_environment.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    no_proxy_environment.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
    no_proxy_environment.setenv("KUBERNETES_SERVICE_HOST", server.hostname)
    no_proxy_environment.setenv("KUBERNETES_SERVICE_PORT", str(server.port or 443))
    no_proxy_environment.setenv("KUBECONFIG", cluster.kubeconfig)  # not used in a pod unless given
    assert _who({}) == account
    assert _who({"kubeconfig": cluster.kubeconfig}) != account


# -- the user_access role with host and api_key ----------------------------------------------------------------------
@pytest.fixture(name="onboarding")
def onboarding_fixture(cluster, admin, cleanup, tmp_path):
    setup = Onboarding(cluster, admin, cleanup, str(tmp_path))
    yield setup
    setup.remove_everything()


def _only_the_cluster_entry_connects(monkeypatch, tmp_path):
    """No connection a module could fall back to: a module that did not get the entry's options fails."""
    for name in [name for name in os.environ if name.startswith("K8S_AUTH_")] + ["KUBERNETES_SERVICE_HOST"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig-here"))


def test_a_cluster_entry_with_host_and_api_key_onboards_and_offboards_and_never_shows_the_token(
        cluster, admin, cleanup, onboarding, tmp_path, monkeypatch):
    """A CI job with a service account token: every module call of the role gets host, api_key and ca_cert (the
    CSRs are the service account's), users' machines get the server and CA from them, and the token shows in no
    output, even with -v and a failed step."""
    _only_the_cluster_entry_connects(monkeypatch, tmp_path)
    account, token = _service_account(admin, cleanup, cluster)
    (tmp_path / "cluster-ca.crt").write_bytes(cluster.ca_pem)
    onboarding.clusters = {"local": {"host": cluster.server, "api_key": token,
                                     "ca_cert": str(tmp_path / "cluster-ca.crt"),
                                     "policy": {"max_expiration_seconds": 86400}}}
    rahul, seema = onboarding.rahul, onboarding.seema
    laptop = tmp_path / "seema-laptop"
    onboarding.users[seema].update(ansible_host="127.0.0.1", user_access_key_dir=f"{laptop}/.kube/kubeaccess",
                                   user_access_kubeconfig_path=f"{laptop}/.kube/config")
    onboarding.write_inventory()

    first = onboarding.run("onboard.yml", "-v").ok()
    assert token not in first.output
    assert whoami(onboarding.kubeconfig(rahul))["username"] == rahul
    assert whoami(f"{laptop}/.kube/config")["username"] == seema
    with open(f"{laptop}/.kube/kubeaccess/local-ca.crt", "rb") as handle:
        assert handle.read() == cluster.ca_pem
    requested = onboarding.csrs()
    assert requested and {csr["spec"]["username"] for csr in requested} == {account}
    assert onboarding.run("onboard.yml").ok().changed_total() == 0

    # A step that fails for the cluster prints its loop item: the cluster's name, not its description.
    onboarding.grants[f"developers-{onboarding.suffix}"].append(
        {"cluster_role": "view", "namespace": cluster.name("missing")})
    onboarding.write_inventory()
    failed = onboarding.run("onboard.yml", "-v").failed()
    assert cluster.name("missing") in failed.output and token not in failed.output
    onboarding.grants[f"developers-{onboarding.suffix}"].pop()

    del onboarding.users[rahul]
    onboarding.write_inventory()
    offboard = onboarding.run("offboard.yml", "-e", f"user={rahul}", "-v").ok()
    assert token not in offboard.output and f"local: CSRs deleted: {rahul}-" in offboard.output


def test_a_cluster_entry_with_a_kubeconfig_dict_without_current_context_stops_the_run_naming_the_key(
        cluster, onboarding, tmp_path, monkeypatch):
    _only_the_cluster_entry_connects(monkeypatch, tmp_path)
    config = _admin_context(cluster)[0]
    config["current-context"] = ""
    onboarding.clusters = {"local": {"kubeconfig": config}}
    onboarding.write_inventory()
    run = onboarding.run("onboard.yml", "-v").failed()
    assert ("user_access_clusters.local.kubeconfig: the dict has no current-context; give context or set "
            "current-context") in run.output
    assert onboarding.bindings() == {} and not os.path.exists(onboarding.base_dir)
    onboarding.clusters["local"]["context"] = config["contexts"][0]["name"]
    onboarding.write_inventory()
    onboarding.run("onboard.yml", "-e", f"user={onboarding.rahul}").ok()
    assert whoami(onboarding.kubeconfig(onboarding.rahul))["username"] == onboarding.rahul
