"""`make demo`: onboard rahul from the example inventory on the bundled local test API server, and prove it works.

Starts the local test API server (its CA, objects and port kept in .demo/ so that a second run finds everything
current), creates the namespaces the example inventory grants access in, runs

    ansible-playbook -i examples/inventory playbooks/onboard.yml -e user=rahul

and then shows, with kubectl and rahul's generated kubeconfig, who the server sees and one allowed and one forbidden
action. Run it again: the onboarding reports no changes. --fresh starts over; --user seema onboards seema.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(os.path.abspath(sys.executable))
DEMO = os.path.join(ROOT, ".demo")
COLLECTIONS = os.path.join(ROOT, "tests", "output", "collections")
NAMESPACES = ("dev", "app1")
# One allowed and one forbidden action per example user, as the example inventory grants them.
ACTIONS = {
    "rahul": (["get", "pods", "-n", "dev"], ["get", "secrets", "-n", "kube-system"]),
    "seema": (["get", "configmaps", "-n", "app1"], ["delete", "namespace", "dev", "--dry-run=server"]),
}


def show(argv, env=None, check=True):
    print(f"$ {' '.join(argv)}", flush=True)
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    print((completed.stdout + completed.stderr).rstrip() + "\n", flush=True)
    if check and completed.returncode != 0:
        sys.exit(f"# FAILED: {argv[0]} exited {completed.returncode}")
    return completed


def start_server():
    workdir = os.path.join(DEMO, "apiserver")
    port_file = os.path.join(DEMO, "port")
    port = open(port_file, encoding="ascii").read().strip() if os.path.exists(port_file) else "0"
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "tests.apiserver", "--dir", workdir, "--port", port,
         "--state-file", os.path.join(workdir, "state.json")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    line = process.stdout.readline()
    if not line:
        sys.exit(f"# FAILED: the local test API server did not start (port {port} taken? try --fresh)")
    info = json.loads(line)
    with open(port_file, "w", encoding="ascii") as handle:
        handle.write(info["url"].rsplit(":", 1)[1])
    return process, info


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", default="rahul", choices=sorted(ACTIONS), help="user to onboard (default rahul)")
    parser.add_argument("--fresh", action="store_true", help="forget the previous run's server and files")
    args = parser.parse_args()
    if args.fresh:
        shutil.rmtree(DEMO, ignore_errors=True)
    os.makedirs(DEMO, exist_ok=True)
    process, info = start_server()
    print(f"# local test API server at {info['url']} (state in .demo/); admin kubeconfig {info['kubeconfig']}\n")
    kubectl = os.path.join(BIN, "kubectl")
    env = dict(os.environ, KUBEACCESS_ADMIN_KUBECONFIG=info["kubeconfig"],
               KUBEACCESS_BASE_DIR=os.path.join(DEMO, "users"), ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
               ANSIBLE_NOCOLOR="1", PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    try:
        print("# The cluster administrator's part: the namespaces the inventory grants access in exist.")
        for namespace in NAMESPACES:
            found = subprocess.run([kubectl, "--kubeconfig", info["kubeconfig"], "get", "namespace", namespace],
                                   capture_output=True, check=False).returncode == 0
            if not found:
                show([kubectl, "--kubeconfig", info["kubeconfig"], "create", "namespace", namespace])
        run = show([os.path.join(BIN, "ansible-playbook"), "-i", "examples/inventory", "playbooks/onboard.yml",
                    "-e", f"user={args.user}"], env=env)
        recap = re.search(rf"^{args.user}\s*:.*changed=(\d+)", run.stdout, re.MULTILINE)
        changed = int(recap.group(1)) if recap else -1
        kubeconfig = os.path.join(DEMO, "users", args.user, "kubeconfig")
        whoami = show([kubectl, "--kubeconfig", kubeconfig, "auth", "whoami"])
        allowed, forbidden = ACTIONS[args.user]
        allowed_run = show([kubectl, "--kubeconfig", kubeconfig, *allowed], check=False)
        forbidden_run = show([kubectl, "--kubeconfig", kubeconfig, *forbidden], check=False)
    finally:
        process.terminate()
        process.wait(timeout=30)
    ok = args.user in whoami.stdout and allowed_run.returncode == 0 and "Forbidden" in forbidden_run.stderr
    print(f"# {'OK' if ok else 'FAILED'}: {args.user}'s kubeconfig ({kubeconfig}) authenticates as {args.user}, "
          f"is allowed `{' '.join(allowed)}` and forbidden `{' '.join(forbidden)}`.")
    print("# This run changed nothing: everything was current." if changed == 0 else
          f"# This run made {changed} change(s); run `make demo` again: the second run changes nothing.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
