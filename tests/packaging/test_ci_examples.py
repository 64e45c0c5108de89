"""The CI pipelines of examples/ci (docs/gitops.md): their structure, and their commands run as the CI would run them.

The pipelines are parsed with PyYAML, their triggers, jobs and artifacts checked, and every shell command they run
extracted. Then each job the event starts (a push to main, the schedule) runs its commands with bash, as the CI
would, in a workspace holding examples/inventory (user, group and namespace names made unique, so that this also
runs unchanged on a shared real cluster), against the cluster under test:

- the secret KUBEACCESS_ADMIN_KUBECONFIG is the kubeconfig of a user made for the test and bound to exactly
  examples/ci/runner-rbac.yaml, so the least RBAC the docs give is what the pipeline runs with;
- KUBEACCESS_COLLECTION (Galaxy in the files) is the tarball built from the checkout, installed by the pipeline's own
  ansible-galaxy command, and KUBEACCESS_BASE_DIR (the runner's persistent directory) a directory of the test;
- `python -m pip install` runs with --dry-run --no-index: offline, it checks that the test venv already satisfies
  what the pipeline installs, and changes nothing;
- the `uses:` steps of GitHub Actions are not run: checkout is the prepared workspace, setup-python the test venv's
  Python, upload-artifact a check that the files it uploads exist.
"""

import copy
import json
import os
import re
import secrets
import shlex
import subprocess

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.kube import CSR_PATH, kubectl
from tests.packaging.support import BIN, ROOT

EXAMPLES = os.path.join(ROOT, "examples", "ci")
GITHUB = os.path.join(EXAMPLES, "github-actions.yml")
GITLAB = os.path.join(EXAMPLES, "gitlab-ci.yml")
RUNNER_RBAC = os.path.join(EXAMPLES, "runner-rbac.yaml")
INVENTORY = os.path.join(ROOT, "examples", "inventory")
RBAC = "/apis/rbac.authorization.k8s.io/v1"
SECRET = "KUBEACCESS_ADMIN_KUBECONFIG"
REPORT = "audit-report.txt"
# The JSON and HTML report files (-e audit_dir=audit-reports), kept as artifacts with the text report.
REPORT_DIR = "audit-reports"
ARTIFACTS = [REPORT, f"{REPORT_DIR}/"]
SCHEMA = os.path.join(ROOT, "docs", "audit-report.schema.json")
# What the pipelines may run: a new kind of command must be looked at here (and, if it matters, run below).
COMMANDS = {"python", "ansible-galaxy", "ansible-playbook", "echo", "umask", "printf", "set"}
PLAYBOOK = re.compile(r"ansible-playbook -i inventory kubeaccess\.x509\.(\w+)")


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def github_triggers(workflow):
    # Quoted in the file: unquoted, YAML 1.1 (PyYAML, yamllint) reads the key `on` as the boolean true.
    return workflow["on"]


def github_paths(upload):
    """upload-artifact's `path`: one path per line."""
    return [line.strip() for line in upload["with"]["path"].splitlines() if line.strip()]


def github_commands(workflow):
    """(job, shell command) for every line of every `run:` step."""
    return [(name, line.strip()) for name, job in workflow["jobs"].items() for step in job["steps"]
            if "run" in step for line in step["run"].splitlines() if line.strip()]


def gitlab_jobs(pipeline):
    return {name: job for name, job in pipeline.items() if isinstance(job, dict) and "script" in job}


def gitlab_commands(pipeline):
    before = pipeline.get("default", {}).get("before_script", [])
    return [(name, line.strip()) for name, job in gitlab_jobs(pipeline).items()
            for line in job.get("before_script", before) + job["script"]]


def check_commands(commands):
    """Every command is of a known kind; the pipeline installs what it runs; every playbook exists."""
    assert commands
    for job, command in commands:
        assert shlex.split(command)[0] in COMMANDS, f"{job}: {command}"
        if command.startswith("python ") and " pip " in command:
            # `python -m pip`: the pip of the Python that runs ansible-playbook.
            assert command.startswith("python -m pip install "), f"{job}: {command}"
    by_job = {}
    for job, command in commands:
        by_job.setdefault(job, []).append(command)
    for job, lines in by_job.items():
        text = "\n".join(lines)
        assert 'python -m pip install "ansible-core>=2.19"' in text, job
        assert re.search(r'ansible-galaxy collection install .*-p "\$\w+(/\w+)?" "\$KUBEACCESS_COLLECTION"', text), job
        assert re.search(r"python -m pip install -r \S+/ansible_collections/kubeaccess/x509/requirements\.txt",
                         text), job
        for playbook in PLAYBOOK.findall(text):
            assert os.path.isfile(os.path.join(ROOT, "playbooks", f"{playbook}.yml")), f"{job}: {playbook}"
    playbooks = {job: PLAYBOOK.findall("\n".join(lines)) for job, lines in by_job.items()}
    assert playbooks == {"onboard": ["onboard"], "renew": ["renew"], "audit": ["audit"]}
    audit = "\n".join(by_job["audit"])
    assert f"kubeaccess.x509.audit -e audit_dir={REPORT_DIR} 2>&1 | tee {REPORT}" in audit
    # The scheduled audit passes whatever the drift (the file's comment shows how to fail it on drift); no check mode.
    assert "fail_on_drift" not in audit and "--diff" not in audit and "--check" not in audit


def test_github_actions_structure():
    workflow = load(GITHUB)
    on = github_triggers(workflow)
    assert on["push"] == {"branches": ["main"]}
    (schedule,) = on["schedule"]
    assert len(schedule["cron"].split()) == 5
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["defaults"]["run"]["shell"] == "bash"  # bash -eo pipefail: a failed audit fails its `| tee`
    jobs = workflow["jobs"]
    assert set(jobs) == {"onboard", "renew", "audit"}
    assert jobs["audit"]["needs"] == "renew"
    for name, job in jobs.items():
        assert "kubeaccess" in job["runs-on"], name  # the runner whose key directory persists
        uses = [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]
        assert uses[:2] == ["actions/checkout", "actions/setup-python"], name
        for step in job["steps"]:
            # The secret reaches a script only through the environment, never pasted into the script itself.
            assert "${{" not in step.get("run", ""), (name, step)
            for value in (step.get("env") or {}).values():
                assert re.fullmatch(r"\$\{\{ secrets\.KUBEACCESS_ADMIN_KUBECONFIG \}\}", value) or "${{" not in value
    (upload,) = [step for step in jobs["audit"]["steps"] if step.get("uses", "").startswith("actions/upload-artifact")]
    assert upload["if"] == "always()" and github_paths(upload) == ARTIFACTS
    assert {name for name in jobs if github_if(jobs[name]["if"], "push")} == {"onboard"}
    assert {name for name in jobs if github_if(jobs[name]["if"], "schedule")} == {"renew", "audit"}
    check_commands(github_commands(workflow))


def test_gitlab_ci_structure():
    pipeline = load(GITLAB)
    jobs = gitlab_jobs(pipeline)
    assert set(jobs) == {"onboard", "renew", "audit"}
    assert pipeline["stages"] == ["onboard", "renew", "audit"]
    assert all(job["stage"] == name for name, job in jobs.items())
    assert "kubeaccess" in pipeline["default"]["tags"]
    # One job at a time (`resource_group` is a job keyword; GitLab refuses it under `default`).
    assert "resource_group" not in pipeline["default"]
    assert {job["resource_group"] for job in jobs.values()} == {"kubeaccess"}
    assert pipeline["audit"]["artifacts"]["when"] == "always"
    assert pipeline["audit"]["artifacts"]["paths"] == ARTIFACTS
    assert "set -o pipefail" in pipeline["audit"]["script"]
    push = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main"}
    schedule = {"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "main"}
    other_branch = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "feature"}
    assert {name for name, job in jobs.items() if gitlab_when(job, push)} == {"onboard"}
    assert {name for name, job in jobs.items() if gitlab_when(job, schedule)} == {"renew", "audit"}
    assert gitlab_when(jobs["audit"], schedule) == "always"
    assert not any(gitlab_when(job, other_branch) for job in jobs.values())
    check_commands(gitlab_commands(pipeline))


def test_runner_rbac_is_the_least_the_modules_name():
    """The rules of examples/ci/runner-rbac.yaml are the permissions the modules' docs and messages name."""
    role, binding = load(RUNNER_RBAC)["items"]
    assert role["kind"] == "ClusterRole" and binding["roleRef"]["name"] == role["metadata"]["name"]
    rules = {(tuple(rule["apiGroups"]), tuple(rule["resources"]), tuple(rule.get("resourceNames", ()))):
             set(rule["verbs"]) for rule in role["rules"]}
    assert rules[(("certificates.k8s.io",), ("signers",), ("kubernetes.io/kube-apiserver-client",))] == {"approve"}
    assert rules[(("certificates.k8s.io",), ("certificatesigningrequests/approval",), ())] == {"update"}
    # No wildcard, and no verb that would let the runner widen its own access beyond binding the named roles.
    for key, verbs in rules.items():
        assert "*" not in verbs and "*" not in key[1] and "escalate" not in verbs and "impersonate" not in verbs


# -- running the pipelines -------------------------------------------------------------------------------------------

def github_if(expression, event):
    """The few GitHub expressions the workflow's `if:` use: github.event_name comparisons, always(), && and ||."""
    python = (expression.replace("github.event_name", repr(event)).replace("always()", "True")
              .replace("&&", " and ").replace("||", " or "))
    assert re.fullmatch(r"[\w\s'=!()]+", python) and "__" not in python, expression
    return eval(python, {"__builtins__": {}})  # pylint: disable=eval-used


def gitlab_when(job, variables):
    """The `when` of the first rule whose `if` matches (on_success by default), or None: the job is not added."""
    for rule in job.get("rules", []):
        python = re.sub(r"\$(\w+)", lambda m: repr(variables.get(m.group(1), "")), rule["if"])
        python = python.replace("&&", " and ").replace("||", " or ")
        assert re.fullmatch(r"""[\w\s'"=!()]+""", python) and "__" not in python, rule["if"]
        if eval(python, {"__builtins__": {}}):  # pylint: disable=eval-used
            return rule.get("when", "on_success")
    return None


def artifact_exists(workspace, path):
    """A file, or (a path ending in /) a directory that holds at least one file."""
    if path.endswith("/"):
        return (workspace / path).is_dir() and any(p.is_file() for p in (workspace / path).rglob("*"))
    return (workspace / path).is_file()


class Pipeline:
    """A workspace with the inventory, the runner's credential, and the pipeline's commands run against the cluster."""

    def __init__(self, cluster, admin, cleanup, tmp_path, tarball):
        self.cluster, self.admin, self.tmp = cluster, admin, tmp_path
        self.suffix = f"{cluster.suffix}{secrets.token_hex(2)}"
        self.label = f"ci-{self.suffix}"
        self.names = {}  # example name -> unique name
        self.workspace = tmp_path / "workspace"
        self.base_dir = tmp_path / "runner-state" / "users"
        self.tarball = tarball
        self.users = self.write_inventory()
        for namespace in ("dev", "app1"):
            name = self.unique(namespace)
            admin.json("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": name}}, expect=201)
            cleanup.add(f"/api/v1/namespaces/{name}")
        self.runner_kubeconfig = self.make_runner(cleanup)
        self.shims = self.write_shims()

    def unique(self, name):
        return self.names.setdefault(name, f"{name}-{self.suffix}")

    def write_inventory(self):
        """examples/inventory with unique user, group and namespace names, as a GitOps repository's inventory/."""
        hosts = load(os.path.join(INVENTORY, "hosts.yml"))
        settings = load(os.path.join(INVENTORY, "group_vars", "all.yml"))
        users = {}
        for user, variables in hosts["kube_users"]["hosts"].items():
            variables = copy.deepcopy(variables)
            variables["user_access_groups"] = [self.unique(g) for g in variables["user_access_groups"]]
            variables["user_access_namespace"] = self.unique(variables["user_access_namespace"])
            for expect in variables.get("user_access_expect", []):
                if expect.get("namespace") in ("dev", "app1"):
                    expect["namespace"] = self.unique(expect["namespace"])
            users[self.unique(user)] = variables
        hosts["kube_users"]["hosts"] = users
        settings["user_access_group_grants"] = {
            self.unique(group): [dict(grant, **({"namespace": self.unique(grant["namespace"])}
                                                if "namespace" in grant else {})) for grant in grants]
            for group, grants in settings["user_access_group_grants"].items()}
        # The inventory's own label, so that pruning and the cleanup touch only this test's bindings.
        settings["user_access_inventory"] = self.label
        # The cluster's admin kubeconfig and the base directory stay the lookups of the example inventory: the
        # pipeline's environment gives them.
        assert "KUBEACCESS_ADMIN_KUBECONFIG" in str(settings["user_access_clusters"])
        assert "KUBEACCESS_BASE_DIR" in str(settings["user_access_base_dir"])
        inventory = self.workspace / "inventory"
        (inventory / "group_vars").mkdir(parents=True)
        kube_users = load(os.path.join(INVENTORY, "group_vars", "kube_users.yml"))
        for path, data in (("hosts.yml", hosts), ("group_vars/all.yml", settings),
                           ("group_vars/kube_users.yml", kube_users)):
            (inventory / path).write_text(yaml.safe_dump(data), encoding="utf-8")
        return list(users)

    def make_runner(self, cleanup):
        """A user bound to examples/ci/runner-rbac.yaml (names made unique): the pipeline's admin kubeconfig."""
        user = self.unique("kubeaccess-runner")
        role, binding = load(RUNNER_RBAC)["items"]
        role["metadata"]["name"] = binding["metadata"]["name"] = binding["roleRef"]["name"] = user
        (subject,) = binding["subjects"]
        subject["name"] = user
        for kind, obj in (("clusterroles", role), ("clusterrolebindings", binding)):
            self.admin.json("POST", f"{RBAC}/{kind}", obj, expect=201)
            cleanup.add(f"{RBAC}/{kind}/{user}")
        return self.cluster.make_user(user)

    def write_shims(self):
        """`python -m pip install ...` as a dry run without an index; any other use of python is the venv's."""
        shims = self.tmp / "shims"
        shims.mkdir()
        python = os.path.join(BIN, "python")
        (shims / "python").write_text(
            "#!/bin/bash\n"
            'if [ "$1 $2 $3" = "-m pip install" ]; then\n'
            f'  shift 3; exec {shlex.quote(python)} -m pip install --dry-run --no-index --disable-pip-version-check'
            ' "$@"\n'
            "fi\n"
            f'exec {shlex.quote(python)} "$@"\n', encoding="utf-8")
        (shims / "python").chmod(0o755)
        return str(shims)

    def environment(self, pipeline_variables):
        """A clean environment, as a runner's: no KUBECONFIG, K8S_AUTH_* or ANSIBLE_* of the machine that runs the
        tests."""
        home = self.tmp / "home"
        home.mkdir(exist_ok=True)
        env = {"PATH": os.pathsep.join([self.shims, BIN, "/usr/local/bin", "/usr/bin", "/bin"]), "HOME": str(home),
               "LANG": "C.UTF-8", "CI": "true"}
        env.update({key: str(value) for key, value in pipeline_variables.items()})
        # What the test stands in for: the collection from the checkout's tarball, the runner's persistent directory.
        assert env["KUBEACCESS_COLLECTION"].startswith("kubeaccess.x509")
        assert env["KUBEACCESS_BASE_DIR"].startswith("/var/lib/kubeaccess")
        env.update(KUBEACCESS_COLLECTION=self.tarball, KUBEACCESS_BASE_DIR=str(self.base_dir),
                   ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
        return env

    @staticmethod
    def bash(script, env, cwd, flags):
        completed = subprocess.run(["bash", "--noprofile", "--norc", *flags, "-c", script], env=env, cwd=cwd,
                                   capture_output=True, text=True, timeout=900, check=False, stdin=subprocess.DEVNULL)
        return completed.returncode, completed.stdout + completed.stderr

    def run_github(self, path, event):
        """The jobs `event` starts, in the order of their `needs`; returns {job: (exit code, output)}."""
        workflow = load(path)
        results = {}
        for name, job in workflow["jobs"].items():  # needs point backwards in the file
            if not github_if(job.get("if", "success()"), event):
                continue
            if job.get("needs") and results.get(job["needs"], (0,))[0] != 0 and "always()" not in job["if"]:
                continue
            results[name] = self.github_job(workflow, job, event)
        return results

    def github_job(self, workflow, job, event):
        runner_temp = self.tmp / f"runner-temp-{secrets.token_hex(3)}"
        runner_temp.mkdir()
        with open(self.runner_kubeconfig, encoding="utf-8") as handle:
            secret_values = {SECRET: handle.read()}
        env = self.environment({**workflow.get("env", {}), **job.get("env", {})})
        env.update(GITHUB_WORKSPACE=str(self.workspace), RUNNER_TEMP=str(runner_temp), GITHUB_EVENT_NAME=event,
                   GITHUB_ACTIONS="true")
        output, failed = [], False
        for number, step in enumerate(job["steps"]):
            if failed and "always()" not in step.get("if", ""):
                continue
            if "uses" in step:
                if step["uses"].startswith("actions/upload-artifact"):
                    for path in github_paths(step):
                        if not artifact_exists(self.workspace, path):
                            output.append(f"upload-artifact: no file {path}")
                            failed = True
                continue
            step_env = dict(env)
            for key, value in (step.get("env") or {}).items():
                step_env[key] = re.sub(r"\$\{\{ secrets\.(\w+) \}\}", lambda m: secret_values[m.group(1)], value)
            github_env = runner_temp / f"github-env-{number}"
            github_env.touch()
            step_env["GITHUB_ENV"] = str(github_env)
            # GitHub's `shell: bash`: bash --noprofile --norc -eo pipefail {0}
            code, text = self.bash(step["run"], step_env, str(self.workspace), ["-eo", "pipefail"])
            output.append(f"$ {step['run']}\n{text}")
            for line in github_env.read_text(encoding="utf-8").splitlines():
                key, value = line.split("=", 1)
                env[key] = value
            failed = failed or code != 0
        return (1 if failed else 0), "\n".join(output)

    def run_gitlab(self, path, source):
        """The jobs a pipeline of `source` (push, schedule) on main adds, stage by stage."""
        pipeline = load(path)
        variables = {"CI_PIPELINE_SOURCE": source, "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main",
                     "CI_PROJECT_DIR": str(self.workspace)}
        jobs = gitlab_jobs(pipeline)
        results, stage_failed = {}, False
        for stage in pipeline["stages"]:
            for name, job in jobs.items():
                when = gitlab_when(job, variables)
                if job["stage"] != stage or when is None or (stage_failed and when != "always"):
                    continue
                results[name] = self.gitlab_job(pipeline, job, variables)
            stage_failed = stage_failed or any(results[n][0] for n in results if jobs[n]["stage"] == stage)
        return results

    def gitlab_job(self, pipeline, job, variables):
        env = {**variables}
        for key, value in {**pipeline.get("variables", {}), **job.get("variables", {})}.items():
            # GitLab expands $VAR and ${VAR} in variables from those defined before.
            env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), str(value))
        env = self.environment(env)
        # A File variable: GitLab writes its value to a file and gives the variable that file's path.
        env[SECRET] = self.runner_kubeconfig
        lines = job.get("before_script", pipeline.get("default", {}).get("before_script", [])) + job["script"]
        code, text = self.bash("\n".join(lines), env, str(self.workspace), ["-e"])
        for path in job.get("artifacts", {}).get("paths", []):
            if not artifact_exists(self.workspace, path):
                return 1, text + f"\nartifacts: no file {path}"
        return code, text

    def check_users(self):
        """Each user's kubeconfig, written by the pipeline in the runner's directory, logs in as the user."""
        for user in self.users:
            kubeconfig = self.base_dir / user / "kubeconfig"
            assert kubeconfig.stat().st_mode & 0o777 == 0o600
            assert (self.base_dir / user).stat().st_mode & 0o777 == 0o700
            whoami = kubectl(str(kubeconfig), "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}",
                             check=0).stdout
            assert whoami == user

    def remove_everything(self):
        """The bindings and CSRs the pipeline made, by the inventory's label."""
        selector = f"labelSelector=kubeaccess.x509%2Finventory%3D{self.label}"
        for plural in ("clusterrolebindings", "rolebindings"):
            for item in self.admin.json("GET", f"{RBAC}/{plural}?{selector}", expect=200)["items"]:
                namespace = item["metadata"].get("namespace")
                where = f"namespaces/{namespace}/" if namespace else ""
                self.admin.request("DELETE", f"{RBAC}/{where}{plural}/{item['metadata']['name']}")
        for item in self.admin.json("GET", f"{CSR_PATH}?{selector}", expect=200)["items"]:
            self.admin.request("DELETE", f"{CSR_PATH}/{item['metadata']['name']}")


@pytest.fixture
def pipeline(cluster, admin, cleanup, tmp_path, built_tarball):
    setup = Pipeline(cluster, admin, cleanup, tmp_path, built_tarball)
    yield setup
    setup.remove_everything()


def assert_ran(results, jobs):
    assert set(results) == set(jobs), results
    for name, (code, output) in results.items():
        assert code == 0, f"{name}:\n{output[-8000:]}"


def check_report(pipeline, results):
    """The audit's report as the pipeline keeps it: the text (the job's output, tee'd), and the JSON and HTML files
    in audit-reports/ (0640 in a 0700 directory). The inventory the pipeline has just onboarded shows no drift, and
    every user's kubeconfig verified with the user's own credentials. No private key anywhere."""
    output = results["audit"][1]
    text = (pipeline.workspace / REPORT).read_text(encoding="utf-8")
    assert "PLAY RECAP" in text and text in output
    summary = re.search(rf"^Audit of {re.escape(pipeline.label)} at \S+: 1 clusters \(0 unreachable\), "
                        rf"{len(pipeline.users)} users, (\d+) grants, 0 drift$", text, re.M)
    assert summary, text
    assert re.search(r"^No drift\.$", text, re.M) and "DRIFT (" not in text, text
    assert re.search(r"^CLUSTER local: \d+ grants$", text, re.M) and re.search(r"^CERTIFICATES$", text, re.M), text
    for user in pipeline.users:
        assert re.search(rf"^\s+{re.escape(user)}\s+local\s+valid\s.*\sverified$", text, re.M), text
    # Only localhost in the recap: the audit runs once, on the controller.
    recap = text[text.index("PLAY RECAP"):]
    assert re.search(r"^localhost\s*: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", recap, re.M), recap
    assert not any(user in recap for user in pipeline.users), recap

    directory = pipeline.workspace / REPORT_DIR
    assert directory.stat().st_mode & 0o777 == 0o700
    files = {path.name: path for path in directory.iterdir()}
    assert set(files) == {f"audit-{pipeline.label}.json", f"audit-{pipeline.label}.html"}, files
    for path in files.values():
        assert path.stat().st_mode & 0o777 == 0o640, path
    with open(SCHEMA, encoding="utf-8") as handle:
        validator = Draft202012Validator(json.load(handle), format_checker=Draft202012Validator.FORMAT_CHECKER)
    report = json.loads(files[f"audit-{pipeline.label}.json"].read_text(encoding="utf-8"))
    errors = [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(report)]
    assert not errors, errors
    assert report["inventory"] == pipeline.label
    assert report["drift"] == [] and report["summary"]["drift"] == 0, report["drift"]
    assert report["summary"]["grants"] == int(summary.group(1))
    users = {entry["user"]: entry for entry in report["users"]}
    assert set(users) == set(pipeline.users), list(users)
    for user in pipeline.users:
        (cluster,) = users[user]["clusters"]
        assert cluster["cluster"] == "local" and cluster["certificate"]["state"] == "valid", cluster
        assert cluster["kubeconfig"]["verified"] is True, cluster["kubeconfig"]
    html = files[f"audit-{pipeline.label}.html"].read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and pipeline.label in html
    assert all(user in html for user in pipeline.users)
    written = [(path.name, path.read_text(encoding="utf-8")) for path in files.values()]
    for name, content in [("output", output), (REPORT, text), *written]:
        assert "PRIVATE KEY" not in content, name


def test_github_actions_pipeline_runs(pipeline):
    pushed = pipeline.run_github(GITHUB, "push")
    assert_ran(pushed, ["onboard"])
    pipeline.check_users()
    scheduled = pipeline.run_github(GITHUB, "schedule")
    assert_ran(scheduled, ["renew", "audit"])
    check_report(pipeline, scheduled)


def test_gitlab_ci_pipeline_runs(pipeline):
    pushed = pipeline.run_gitlab(GITLAB, "push")
    assert_ran(pushed, ["onboard"])
    pipeline.check_users()
    scheduled = pipeline.run_gitlab(GITLAB, "schedule")
    assert_ran(scheduled, ["renew", "audit"])
    check_report(pipeline, scheduled)
