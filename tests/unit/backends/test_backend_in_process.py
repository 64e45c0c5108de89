"""plugin_utils/in_process.py: a backend run in this process leaves nothing behind."""
# pylint: disable=missing-function-docstring

import base64
import os

import yaml

from ansible_collections.kubeaccess.x509.plugins.module_utils.backends import access_info, csr_request

from tests.unit.backends.backend_support import warnings_of


def _embedded_admin_kubeconfig(cluster):
    """The admin kubeconfig as a mapping holding its key and certificates as data (what makes the client write TLS
    material to a private directory), whatever form the cluster's own file has."""
    with open(cluster.kubeconfig, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    base = os.path.dirname(cluster.kubeconfig)
    for section, fields in (("clusters", ("certificate-authority",)),
                            ("users", ("client-certificate", "client-key"))):
        for entry in config[section]:
            body = entry["cluster" if section == "clusters" else "user"]
            for field in fields:
                if field in body:
                    with open(os.path.join(base, body.pop(field)), "rb") as handle:
                        body[f"{field}-data"] = base64.b64encode(handle.read()).decode()
    return config


def test_the_private_tls_material_is_removed_when_the_backend_ends(run_backend, cluster, tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    result = run_backend(access_info, {"users": ["nobody"], "kubeconfig": _embedded_admin_kubeconfig(cluster)})
    assert not result.get("failed"), result
    # A worker process of Ansible ends without atexit handlers: the key material must not wait for them.
    assert [name for name in os.listdir(scratch) if name.startswith("kubeaccess-tls-")] == []


def test_a_warning_is_given_by_every_run_that_gives_it(run_backend, tmp_path):
    """Ansible keeps warnings per process; a module process starts with none, and so does each run here."""
    key = tmp_path / "user.key"
    args = {"user": "rahul", "private_key_path": str(key), "submit": False}
    run_backend(csr_request, args)
    texts = []
    for _run in range(2):
        key.chmod(0o644)
        texts.append(warnings_of(run_backend(csr_request, args)))
    assert texts[0] == texts[1] == [f"private_key_path: {key} was readable by others (mode 644); set 0600"]


def test_warnings_come_back_with_the_result_in_ansibles_own_processes(run_backend, tmp_path, monkeypatch):
    """There, Ansible's shared warn() prints at once; a module returns its warnings, and so does a backend run here."""
    monkeypatch.setattr("ansible.module_utils._internal.is_controller", True)
    key = tmp_path / "user.key"
    args = {"user": "rahul", "private_key_path": str(key), "submit": False}
    run_backend(csr_request, args)
    key.chmod(0o644)
    assert warnings_of(run_backend(csr_request, args)) == [
        f"private_key_path: {key} was readable by others (mode 644); set 0600"]
