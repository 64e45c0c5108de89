"""k8s_csr_request and k8s_csr_approve through ansible-playbook, checked with independent tools."""

import json
import os
import subprocess

from tests.kube import CSR_PATH, kubectl, make_csr_pem, new_key, write_user_kubeconfig


def _openssl(*args, stdin=None):
    result = subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_request_approve_keep_renew_remove(playbook, cluster, tmp_path, admin):
    playbook("csr_lifecycle.yml").assert_ok()
    results = json.loads((tmp_path / "results.json").read_text())
    request, approve = results["request"], results["approve"]
    key_path, cert_path = tmp_path / "rahul" / "rahul.key", tmp_path / "rahul" / "rahul.crt"

    # The key never appears in what the modules return.
    key_pem = key_path.read_bytes()
    assert b"PRIVATE KEY" in key_pem
    assert "PRIVATE KEY" not in json.dumps(results)

    # openssl: the certificate chains to the cluster CA, holds the key's public half, and the serial is reported.
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(cluster.ca_pem)
    assert _openssl("verify", "-CAfile", str(ca_file), str(cert_path)).strip().endswith(b"OK")
    assert (_openssl("x509", "-in", str(cert_path), "-noout", "-pubkey")
            == _openssl("pkey", "-in", str(key_path), "-pubout"))
    serial = _openssl("x509", "-in", str(cert_path), "-noout", "-serial").decode().strip()
    assert serial == f"serial={approve['serial']}"
    der = _openssl("pkey", "-in", str(key_path), "-pubout", "-outform", "DER")
    assert request["public_key_fingerprint"] in _openssl("dgst", "-sha256", "-c", stdin=der).decode()

    # kubectl: the API server accepts the pair and sees the user and group that were requested.
    kubeconfig = write_user_kubeconfig(str(tmp_path / "rahul.kubeconfig"), cluster.server, cluster.ca_pem,
                                       approve["common_name"], cert_path.read_bytes(), key_pem)
    whoami = kubectl(kubeconfig, "auth", "whoami", "-o", "json", check=0)
    user_info = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user_info["username"] == f"rahul-{cluster.suffix}"
    assert "developers" in user_info["groups"]

    # The playbook removed what it created: no CSR is left under that name.
    assert admin.request("GET", f"{CSR_PATH}/{request['name']}").status_code == 404
    assert os.stat(key_path).st_mode & 0o777 == 0o600


def test_policy_refuses_abuse(playbook):
    playbook("policy_abuse.yml").assert_ok()


def _bad_input_files(directory):
    """A request made by someone else, for another user."""
    directory.mkdir()
    (directory / "other_csr").write_bytes(make_csr_pem(new_key(), "someone-else"))
    return {"other_csr": str(directory / "other_csr")}


def test_bad_input_is_refused_before_anything_changes(playbook, cluster, tmp_path, admin):
    files = _bad_input_files(tmp_path / "inputs")
    (tmp_path / "bad").mkdir()
    playbook("bad_input.yml", **files).assert_ok()
    user = f"bad-{cluster.suffix}"
    names = [item["metadata"]["name"] for item in admin.json("GET", CSR_PATH, expect=200)["items"]]
    assert [n for n in names if n.startswith(user)] == []
