"""The modules' connection to the API, as k8s_client makes it from the options users give: a kubeconfig whose
context holds its credentials plainly (data or files), `host` with certificate files, or anything the kubernetes
package reads; with proxies from the environment honoured as that package honours them. Every way must reach the
cluster as the same identity."""

import base64
import json
import os
import urllib.parse

import pytest
import yaml

from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import KubeClient, KubeError

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
