"""k8s_csr_sign_with_ca through ansible-playbook: a key and request made by k8s_csr_request without submitting it,
signed with the cluster's own CA key by a task delegated to the host holding it (here the controller, the local
test API server's work directory), and the certificate used: the API server authenticates it as the user, with the
groups. A real cluster given by an admin kubeconfig does not hand out its CA key, hence local_only."""
# pylint: disable=missing-function-docstring,redefined-outer-name

import json
import os
import subprocess

import pytest
import yaml

from tests.conftest import COLLECTIONS_PATH
from tests.integration.conftest import BIN
from tests.kube import CSR_PATH, kubectl, write_user_kubeconfig

pytestmark = pytest.mark.local_only("needs the cluster CA key")

PLAY = [{
    "name": "Sign a request with the cluster CA key",
    "hosts": "localhost",
    "gather_facts": False,
    "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
    "tasks": [
        {"name": "Key and request, not submitted",
         "kubeaccess.x509.k8s_csr_request": {"user": "{{ user }}", "groups": "{{ user_groups }}",
                                             "private_key_path": "{{ workdir }}/user.key", "submit": False},
         "register": "request"},
        {"name": "Sign it on the CA's host",
         "kubeaccess.x509.k8s_csr_sign_with_ca": {
             "csr_content": "{{ request.request }}", "ca_cert_path": "{{ ca_dir }}/ca.crt",
             "ca_key_path": "{{ ca_dir }}/ca.key", "expected_user": "{{ user }}", "allowed_groups": "{{ user_groups }}",
             "expected_public_key_fingerprint": "{{ request.public_key_fingerprint }}",
             "expiration_seconds": 3600},
         "delegate_to": "localhost",
         "vars": {"ansible_python_interpreter": "{{ ca_host_python | default(ansible_playbook_python) }}"},
         "register": "signed"},
        {"name": "Save the result",
         "ansible.builtin.copy": {"content": "{{ signed | to_nice_json }}", "dest": "{{ workdir }}/signed.json",
                                  "mode": "0644"}},
    ],
}]


def run_play(tmp_path, **variables):
    playbook = tmp_path / "sign.yml"
    playbook.write_text(yaml.safe_dump(PLAY, sort_keys=False))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_RETRY_FILES_ENABLED="false")
    completed = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", "-vvv",
         "-e", json.dumps({"workdir": str(tmp_path), **variables}), str(playbook)],
        env=env, capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-6000:]
    return completed.stdout, json.loads((tmp_path / "signed.json").read_text())


def whoami(kubeconfig):
    completed = kubectl(kubeconfig, "auth", "whoami", "-o", "json", check=0)
    return json.loads(completed.stdout)["status"]["userInfo"]


# The controller's Python runs the backend in the controller process; another interpreter path runs it as a module
# process on the (delegated) host, as on a control-plane host.
@pytest.mark.parametrize("ca_host_python", [None, os.path.join(BIN, "python3")], ids=["in-process", "module"])
def test_a_certificate_signed_with_the_cluster_ca_key_authenticates(cluster, admin, tmp_path, ca_host_python):
    user, groups = cluster.name("casigned"), [cluster.name("devs-zz"), cluster.name("ops")]
    csrs_before = {item["metadata"]["name"] for item in admin.json("GET", CSR_PATH, expect=200)["items"]}
    variables = {"user": user, "user_groups": groups, "ca_dir": os.path.join(cluster.workdir, "apiserver")}
    if ca_host_python:
        variables["ca_host_python"] = ca_host_python
    output, signed = run_play(tmp_path, **variables)
    where = "runs as a module process" if ca_host_python else "runs in the controller process"
    assert f"k8s_csr_sign_with_ca: {where}" in output
    assert signed["changed"] is True and signed["common_name"] == user and signed["violations"] == []
    assert signed["lifetime_seconds"] == 3600 + 300
    assert "ca.key" not in json.dumps({k: v for k, v in signed.items() if k != "invocation"})
    kubeconfig = write_user_kubeconfig(str(tmp_path / "user.kubeconfig"), cluster.server, cluster.ca_pem, user,
                                       signed["certificate"].encode(), (tmp_path / "user.key").read_bytes())
    info = whoami(kubeconfig)
    assert info["username"] == user
    assert sorted(g for g in info["groups"] if g != "system:authenticated") == sorted(groups)
    assert info["groups"][:2] == signed["groups"]
    # Nothing went through the CSR API.
    csrs_after = {item["metadata"]["name"] for item in admin.json("GET", CSR_PATH, expect=200)["items"]}
    assert csrs_after - csrs_before == set()
