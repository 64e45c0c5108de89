"""`python -m tests.apiserver`, as a person, the demo or molecule starts it: flags, the JSON line it prints, the
files it writes and a clean stop on SIGTERM.
"""
# pylint: disable=missing-function-docstring,redefined-outer-name

import json
import os
import signal
import stat
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, LocalServerProcess
from tests.contract.support import SSR_BODY, SSR_PATH
from tests.kube import KubeHTTP

pytestmark = pytest.mark.local_only("runs the local test API server's command line")


def _run(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "tests.apiserver", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.mark.parametrize("args, message", [
    ((), "the following arguments are required: --dir"),
    (("--dir", "{dir}", "--port", "70000"), "argument --port: 70000 is outside 0-65535 (0 picks a free port)"),
    (("--dir", "{dir}", "--port", "http"), "argument --port: 'http' is not a port number"),
    (("--dir", "{dir}", "--cleaner-time-scale", "0"), "argument --cleaner-time-scale: '0' must be greater than 0"),
    (("--dir", "{dir}", "--cluster-signing-duration", "abc"),
     "argument --cluster-signing-duration: 'abc' is not a number"),
    (("--dir", "{dir}", "--cluster-signing-duration", "-1"),
     "argument --cluster-signing-duration: '-1' must be greater than 0"),
    (("--dir", "{dir}", "--signing-delay", "-1"), "--signing-delay must be 0 or more seconds"),
    (("--dir", "{dir}", "--signer-qps", "-5"), "--signer-qps must be 0 (no limit) or more"),
    (("--dir", "{dir}", "--signer-burst", "0"), "argument --signer-burst: '0' must be greater than 0"),
    (("--dir", "{dir}", "--namespace-deletion-delay", "-1"), "--namespace-deletion-delay must be 0 or more seconds"),
    (("--dir", "{dir}", "--no-such-flag"), "unrecognized arguments: --no-such-flag"),
], ids=["missing-dir", "port-range", "port-text", "scale-zero", "duration-text", "duration-negative",
        "negative-delay", "negative-qps", "zero-burst", "negative-namespace-delay", "unknown-flag"])
def test_bad_flags_are_refused_with_a_clear_message_and_exit_code_2(tmp_path, args, message):
    result = _run(*(a.replace("{dir}", str(tmp_path / "server")) for a in args))
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert result.stderr.startswith("usage: python -m tests.apiserver")
    assert f"error: {message}" in result.stderr
    assert not (tmp_path / "server").exists()


def test_help_describes_the_flags(tmp_path):
    result = _run("--help")
    assert result.returncode == 0
    for flag in ("--dir", "--port", "--state-file", "--no-signing", "--signing-delay", "--signer-qps",
                 "--signer-burst", "--cluster-signing-duration", "--cleaner-time-scale", "--namespace-deletion-delay"):
        assert flag in result.stdout
    assert not os.listdir(tmp_path)


def test_starts_prints_where_it_is_and_stops_cleanly_on_sigterm(tmp_path):
    workdir = str(tmp_path / "server")
    server = LocalServerProcess(workdir).start()
    try:
        info = server.info
        assert set(info) == {"url", "kubeconfig", "ca"}
        assert info["url"].startswith("https://127.0.0.1:")
        assert info["kubeconfig"] == os.path.join(workdir, "admin.kubeconfig")
        assert info["ca"] == os.path.join(workdir, "ca.crt")
        assert stat.S_IMODE(os.stat(info["kubeconfig"]).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.join(workdir, "ca.key")).st_mode) == 0o600
        with open(info["kubeconfig"], encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
        assert config["clusters"][0]["cluster"]["server"] == info["url"]
        admin = KubeHTTP(info["kubeconfig"], str(tmp_path / "creds"))
        user = admin.json("POST", SSR_PATH, SSR_BODY, expect=201)["status"]["userInfo"]
        assert user["username"] == "kubernetes-admin"
        assert user["groups"] == ["system:masters", "system:authenticated"]
    finally:
        server.process.send_signal(signal.SIGTERM)
        returncode = server.process.wait(timeout=15)
    assert returncode == 0
    assert server.process.stdout.read() == ""


def test_sigint_stops_it_cleanly_too(tmp_path):
    server = LocalServerProcess(str(tmp_path / "server")).start()
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=15) == 0


def test_fixed_port_and_flags_are_honoured(tmp_path):
    first = LocalServerProcess(str(tmp_path / "probe")).start()
    port = int(first.info["url"].rsplit(":", 1)[1])
    first.stop()
    server = LocalServerProcess(str(tmp_path / "server"), "--port", str(port), "--no-signing",
                                "--signing-delay", "0.5", "--cleaner-time-scale", "60", "--signer-qps", "0",
                                "--signer-burst", "5", "--namespace-deletion-delay", "0.2").start()
    try:
        assert server.info["url"] == f"https://127.0.0.1:{port}"
        admin = KubeHTTP(server.info["kubeconfig"], str(tmp_path / "creds"))
        settings = admin.json("GET", "/_testserver/settings", expect=200)
        assert settings == {"signingEnabled": False, "cleanerTimeScale": 60.0, "signingDelay": 0.5,
                            "signerQPS": 0.0, "signerBurst": 5, "namespaceDeletionDelay": 0.2}
    finally:
        server.stop()


def test_restart_in_the_same_directory_keeps_the_ca(tmp_path):
    workdir = str(tmp_path / "server")
    first = LocalServerProcess(workdir).start()
    with open(first.info["ca"], "rb") as handle:
        ca_before = handle.read()
    first.stop()
    second = LocalServerProcess(workdir).start()
    try:
        with open(second.info["ca"], "rb") as handle:
            assert handle.read() == ca_before
        admin = KubeHTTP(second.info["kubeconfig"], str(tmp_path / "creds"))
        assert admin.request("GET", "/version").json()["major"] == "1"
    finally:
        second.stop()


def test_json_line_is_the_only_output(tmp_path):
    server = LocalServerProcess(str(tmp_path / "server")).start()
    server.stop()
    assert json.loads(json.dumps(server.info)) == server.info
    assert server.process.stdout.read() == ""
