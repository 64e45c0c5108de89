"""The seed's manual onboarding flow, done with openssl and kubectl exactly as an administrator would type it.

`run()` performs it against any cluster given an admin kubeconfig and returns the transcript; the demo prints it
and tests/integration/test_kubectl_seed_flow.py asserts on it.
"""

import base64
import dataclasses
import os
import subprocess
import time

import yaml

from tests.kube import KUBECTL


@dataclasses.dataclass
class Step:
    title: str
    command: list
    returncode: int
    stdout: str
    stderr: str

    def show(self):
        shown = " ".join(a if " " not in a else repr(a) for a in self.command)
        text = f"$ {shown}\n{self.stdout}{self.stderr}"
        return text if text.endswith("\n") else text + "\n"


class Transcript:
    def __init__(self, workdir, admin_kubeconfig, echo=None):
        self.workdir = workdir
        self.admin = admin_kubeconfig
        self.echo = echo
        self.steps = []

    def run(self, title, command, stdin=None, until=None, timeout=60.0):
        """Run a command once, or with `until` poll it (quietly) until until(step) holds, as a person would."""
        deadline = time.monotonic() + timeout
        while True:
            result = subprocess.run(command, cwd=self.workdir, capture_output=True, text=True, input=stdin,
                                    timeout=60, check=False)
            step = Step(title, command, result.returncode, result.stdout, result.stderr)
            if until is None or until(step) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.steps.append(step)
        if self.echo:
            self.echo(f"# {title}\n{step.show()}[exit {step.returncode}]\n")
        return step

    def kubectl(self, title, *args, kubeconfig=None, until=None):
        return self.run(title, [KUBECTL, "--kubeconfig", kubeconfig or self.admin, *args], until=until)

    def step(self, title):
        return next(s for s in self.steps if s.title == title)


def _cluster_of(kubeconfig):
    with open(kubeconfig, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    return next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])


def run(admin_kubeconfig, workdir, user="rahul", group="developers", namespace="dev", echo=None):
    """Key and CSR with openssl → CSR object → approve → certificate → kubeconfig → RBAC, all with kubectl."""
    os.makedirs(workdir, exist_ok=True)
    t = Transcript(workdir, admin_kubeconfig, echo)
    cluster = _cluster_of(admin_kubeconfig)
    with open(os.path.join(workdir, "ca.crt"), "wb") as handle:
        handle.write(base64.b64decode(cluster["certificate-authority-data"]))

    t.kubectl("create namespace", "create", "namespace", namespace)
    t.run("private key", ["openssl", "genrsa", "-out", f"{user}.key", "2048"])
    t.run("certificate request", ["openssl", "req", "-new", "-key", f"{user}.key", "-subj", f"/CN={user}/O={group}",
                                  "-out", f"{user}.csr"])
    with open(os.path.join(workdir, f"{user}.csr"), "rb") as handle:
        request = base64.b64encode(handle.read()).decode()  # base64 without newlines, the step people get wrong
    manifest = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                "metadata": {"name": user},
                "spec": {"request": request, "signerName": "kubernetes.io/kube-apiserver-client",
                         "expirationSeconds": 86400, "usages": ["client auth"]}}
    with open(os.path.join(workdir, f"{user}.yaml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(manifest, handle)
    t.kubectl("apply CSR", "apply", "-f", f"{user}.yaml")
    t.kubectl("CSR pending", "get", "csr", user)
    t.kubectl("approve", "certificate", "approve", user)
    t.kubectl("certificate", "get", "csr", user, "-o", "jsonpath={.status.certificate}",
              until=lambda step: step.stdout or "approved" not in t.step("approve").stdout)
    with open(os.path.join(workdir, f"{user}.crt"), "wb") as handle:
        handle.write(base64.b64decode(t.step("certificate").stdout))
    t.kubectl("CSR issued", "get", "csr", user)
    t.run("inspect certificate", ["openssl", "x509", "-in", f"{user}.crt", "-noout", "-subject", "-issuer",
                                  "-ext", "extendedKeyUsage,basicConstraints"])
    t.run("verify certificate", ["openssl", "verify", "-CAfile", "ca.crt", f"{user}.crt"])

    user_config = os.path.join(workdir, f"{user}.kubeconfig")
    t.kubectl("set-cluster", "config", "set-cluster", "demo", f"--server={cluster['server']}",
              "--certificate-authority=ca.crt", "--embed-certs=true", kubeconfig=user_config)
    t.kubectl("set-credentials", "config", "set-credentials", user, f"--client-certificate={user}.crt",
              f"--client-key={user}.key", "--embed-certs=true", kubeconfig=user_config)
    t.kubectl("set-context", "config", "set-context", f"{user}@demo", "--cluster=demo", f"--user={user}",
              f"--namespace={namespace}", kubeconfig=user_config)
    t.kubectl("use-context", "config", "use-context", f"{user}@demo", kubeconfig=user_config)
    t.kubectl("whoami", "auth", "whoami", kubeconfig=user_config)
    t.kubectl("pods forbidden", "get", "pods", "-n", namespace, kubeconfig=user_config)
    t.kubectl("can-i before", "auth", "can-i", "list", "pods", "-n", namespace, "--as", user)
    t.kubectl("bind edit", "create", "rolebinding", f"{user}-edit", "--clusterrole=edit", f"--user={user}",
              "-n", namespace)
    t.kubectl("pods allowed", "get", "pods", "-n", namespace, kubeconfig=user_config)
    t.kubectl("can-i after", "auth", "can-i", "list", "pods", "-n", namespace, "--as", user)
    t.kubectl("other namespace forbidden", "get", "pods", "-n", "kube-system", kubeconfig=user_config)
    t.kubectl("describe", "describe", "csr", user)
    return t


def deny_flow(admin_kubeconfig, workdir, name, user="mallory", echo=None):
    """A request that is refused: kubectl certificate deny, then approving it is refused too."""
    t = Transcript(workdir, admin_kubeconfig, echo)
    t.run("key and request", ["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                              "-subj", f"/CN={user}/O=developers", "-out", f"{name}.csr"])
    with open(os.path.join(workdir, f"{name}.csr"), "rb") as handle:
        request = base64.b64encode(handle.read()).decode()
    manifest = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                "metadata": {"name": name},
                "spec": {"request": request, "signerName": "kubernetes.io/kube-apiserver-client",
                         "usages": ["client auth"]}}
    with open(os.path.join(workdir, f"{name}.yaml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(manifest, handle)
    t.kubectl("create", "create", "-f", f"{name}.yaml")
    t.kubectl("deny", "certificate", "deny", name)
    t.kubectl("denied", "get", "csr", name)
    t.kubectl("approve denied", "certificate", "approve", name)
    t.kubectl("conditions", "get", "csr", name, "-o",
              "jsonpath={range .status.conditions[*]}{.type}={.status} reason={.reason}{\"\\n\"}{end}")
    return t


def cleanup(admin_kubeconfig, csr_names, namespace=None):
    """Remove what a flow made, so runs against a shared real cluster leave nothing behind."""
    if namespace:
        subprocess.run([KUBECTL, "--kubeconfig", admin_kubeconfig, "delete", "namespace", namespace, "--wait=false",
                        "--ignore-not-found"], capture_output=True, check=False, timeout=60)
    subprocess.run([KUBECTL, "--kubeconfig", admin_kubeconfig, "delete", "csr", *csr_names, "--ignore-not-found"],
                   capture_output=True, check=False, timeout=60)
