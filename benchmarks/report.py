"""The benchmark's outputs: results.json, results.md (the terminal table, ratios, targets) and time-vs-users.png.

Results of earlier versions (without Ansible's fixed cost or its cost for N hosts, the one-user runs, memory, or
server counters that may be n/a) still render: what a run did not measure is left blank, or said not measured.
"""

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position

TOOL_COLOURS = {"ours": "tab:blue", "floor": "tab:green", "naive": "tab:red"}
PHASE_STYLES = {"cold": "-o", "warm": "--s"}
TARGET_USERS = 200
NAIVE_TARGET_USERS = 200
# The everyday command, `-e user=NAME` with an inventory of several users: a tool of its own in the results.
ONE_USER = "ours-one-user"
OURS = ("ours", ONE_USER)
NA = "n/a"
MAX_RSS_MIB = 100
# Ansible's own cost for N hosts (benchmarks/run.py): runs per number of hosts, and one run above this many hosts.
PER_HOST_RUNS = 3
PER_HOST_SINGLE_RUN_ABOVE = 200


def seconds(value):
    return NA if value is None else f"{value:.1f}"


def one_line(run):
    requests = run["requests"]
    counted = (NA if requests is None else f"{requests['per_user']:.2f}") + " requests/user, " + (
        NA if requests is None else str(requests["writes"])) + " writes"
    return (f"{run['wall_seconds']:.1f} s ({run['seconds_per_user']:.3f} s/user), {run['processes']} processes, "
            f"{counted}, CPU {run['cpu_client_seconds']:.1f} s client + {seconds(run['cpu_server_seconds'])} s "
            f"server, max RSS {run['max_rss_mib']:.0f} MiB")


def find(data, tool, key_type, users, phase):
    for run in data["runs"]:
        if (run["tool"], run["key_type"], run["users"], run["phase"]) == (tool, key_type, users, phase) and run["ok"]:
            return run
    return None


def verbs_per_user(requests):
    if requests is None:
        return NA
    return ", ".join(f"{verb} {count:.2f}" for verb, count in sorted(requests["by_verb_per_user"].items()))


def check_text(run):
    check = run.get("check")
    if not run["ok"]:
        return f"FAILED (exit {run['returncode']})"
    if check is None:
        return ""
    if "api_writes" in check and check["api_writes"] is None:  # writes not counted: nothing reported changed
        return "nothing changed" if check["ok"] else f"FAILED: changed {check['changed']}"
    if "api_writes" in check:
        return "no writes" if check["ok"] else f"FAILED: {check['api_writes']} writes"
    if check.get("others_onboarded"):
        return f"FAILED: onboarded others too ({', '.join(check['others_onboarded'])})"
    text = "ok" if check["ok"] else (f"FAILED: {check['kubeconfigs']}/{run['users']} kubeconfigs, modes "
                                     f"{check['modes']}, whoami {check['whoami']}")
    if check["with_current_context"] < check["kubeconfigs"]:
        text += f", current-context in {check['with_current_context']}/{check['kubeconfigs']}"
    return text


def tool_text(run):
    return "one user (-e user)" if run["tool"] == ONE_USER else run["tool"]


def users_text(run):
    return f"{run['users']} of {run['inventory_users']}" if "inventory_users" in run else str(run["users"])


def times_fixed(data, run):
    """A run of ours as a multiple of Ansible's fixed cost, such as 2.1x ('' for the others, or without it)."""
    fixed = data.get("fixed_cost_s")
    return f"{run['wall_seconds'] / fixed:.1f}x" if fixed and run["tool"] in OURS else ""


def rss_text(run):
    return "" if run.get("max_rss_mib") is None else f"{run['max_rss_mib']:.0f}"


def measurement_table(data):
    lines = ["| key | users | tool | phase | wall s | x fixed cost | s/user | processes | requests/user | writes "
             "| requests/user by verb | changed | CPU client s | CPU server s | max RSS MiB | check |",
             "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: "
             "| --- |"]
    for run in data["runs"]:
        requests = run["requests"]
        changed = "" if run["changed"] is None else run["changed"]
        per_user, writes = (NA, NA) if requests is None else (f"{requests['per_user']:.2f}", requests["writes"])
        lines.append(f"| {run['key_type']} | {users_text(run)} | {tool_text(run)} | {run['phase']} "
                     f"| {run['wall_seconds']:.1f} | {times_fixed(data, run)} | {run['seconds_per_user']:.3f} "
                     f"| {run['processes']} | {per_user} | {writes} | {verbs_per_user(requests)} | {changed} "
                     f"| {run['cpu_client_seconds']:.1f} | {seconds(run['cpu_server_seconds'])} | {rss_text(run)} "
                     f"| {check_text(run)} |")
    return lines


def fixed_cost_lines(data):
    runs = data.get("fixed_cost_runs") or []
    if not runs:
        return ["Not measured."]
    walls = ", ".join(f"{run['wall_seconds']:.2f}" + ("" if run["ok"] else " (FAILED)") for run in runs)
    fixed = data.get("fixed_cost_s")
    return [f"`ansible-playbook benchmarks/fixed_cost.yml` (one `ansible.builtin.debug` task, implicit localhost, "
            f"the same ansible-playbook and environment as ours), {len(runs)} runs: {walls} s; median "
            + ("**not measured** (every run failed)" if fixed is None else f"**{fixed:.2f} s**")
            + f"; max RSS {max(run['max_rss_mib'] for run in runs):.0f} MiB. The `x fixed cost` column divides "
            "each run of ours by it."]


def per_host_seconds(data):
    """Ansible's own cost for N hosts by N (an int; results.json's keys are strings), the medians that exist."""
    return {int(hosts): wall for hosts, wall in (data.get("ansible_per_host") or {}).items() if wall is not None}


def per_host_lines(data):
    """The table of Ansible's own cost for N hosts: seconds, ratio to the fixed cost, milliseconds per added host."""
    runs = {int(hosts): host_runs for hosts, host_runs in (data.get("ansible_per_host_runs") or {}).items()}
    if not runs:
        return ["Not measured."]
    walls, fixed = per_host_seconds(data), data.get("fixed_cost_s")
    one = walls.get(1)
    lines = ["`ansible-playbook -i INVENTORY benchmarks/fixed_cost_hosts.yml`: one `ansible.builtin.debug` task "
             "(`msg: \"{{ inventory_hostname }}\"`, no module process) on every host of a generated inventory of N "
             "hosts with `ansible_connection: local`, the same ansible-playbook, environment and default 5 forks as "
             f"ours; the median of {PER_HOST_RUNS} runs (1 run above {PER_HOST_SINGLE_RUN_ABOVE} hosts). What "
             "Ansible alone takes for one task per user host; ms per host is (t(N) - t(1)) / (N - 1).",
             "",
             "| hosts | runs, s | median s | x fixed cost | ms per host |",
             "| ---: | --- | ---: | ---: | ---: |"]
    for hosts in sorted(runs):
        each = ", ".join(f"{run['wall_seconds']:.2f}" + ("" if run["ok"] else " (FAILED)") for run in runs[hosts])
        wall = walls.get(hosts)
        times = f"{wall / fixed:.2f}x" if wall is not None and fixed else ""
        per_host = f"{(wall - one) / (hosts - 1) * 1000:.1f}" if wall is not None and one and hosts > 1 else ""
        median = NA if wall is None else f"{wall:.2f}"
        lines.append(f"| {hosts} | {each} | {median} | {times} | {per_host} |")
    return lines


def ansible_alone(data, hosts, bound=None, bound_seconds=None):
    """What Ansible alone takes for one task on `hosts` hosts, to print next to a target set against the fixed cost
    for that many users ('' for results without it). With the target's bound (a multiple of the fixed cost, or
    seconds), whether that alone is already above it: a target the role cannot meet with one task per user host."""
    if "ansible_per_host" not in data:
        return ""
    wall, fixed = per_host_seconds(data).get(hosts), data.get("fixed_cost_s")
    name = f"; Ansible alone, one debug task on {hosts} host{'s' if hosts != 1 else ''}: "
    if wall is None or not fixed:
        return name + "not measured"
    limit = bound_seconds if bound_seconds is not None else None if bound is None else bound * fixed
    where = "" if limit is None else " (above the bound)" if wall > limit else " (within the bound)"
    return name + f"{wall:.2f} s = {wall / fixed:.2f}x the fixed cost{where}"


def ratio(data, tools, key_type, users, phase):
    """Wall time of the first tool over the second's, for the same key type, users and phase."""
    top, bottom = (find(data, tool, key_type, users, phase) for tool in tools)
    return top["wall_seconds"] / bottom["wall_seconds"] if top and bottom else None


def key_types(data):
    """Key types in the order they were measured."""
    return list(dict.fromkeys(run["key_type"] for run in data["runs"]))


def measured_points(data):
    return [(key_type, users) for key_type in key_types(data)
            for users in sorted({run["users"] for run in data["runs"]
                                 if run["key_type"] == key_type and run["tool"] != ONE_USER})]


def ratio_table(data):
    def cell(value):
        return "" if value is None else f"{value:.1f}x"
    lines = ["| key | users | ours/floor cold | ours/floor warm | naive/ours cold | naive/ours warm |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for key_type, users in measured_points(data):
        cells = [cell(ratio(data, ("ours", "floor"), key_type, users, phase)) for phase in ("cold", "warm")]
        cells += [cell(ratio(data, ("naive", "ours"), key_type, users, phase)) for phase in ("cold", "warm")]
        lines.append(f"| {key_type} | {users} | " + " | ".join(cells) + " |")
    return lines


def marginal_costs(data, key_type, phase):
    """Seconds per additional user between consecutive measured numbers of users of ours (10 users and up, where
    the fixed start-up cost no longer dominates)."""
    runs = sorted((run for run in data["runs"] if run["tool"] == "ours" and run["key_type"] == key_type
                   and run["phase"] == phase and run["ok"] and run["users"] >= 10), key=lambda run: run["users"])
    return [(a["users"], b["users"], (b["wall_seconds"] - a["wall_seconds"]) / (b["users"] - a["users"]))
            for a, b in zip(runs, runs[1:])]


def verdict(met, detail):
    return f"{'**PASS**' if met else '**FAIL**'} ({detail})"


def judge_run(data, tool, key_type, users, phase, judge):
    """`judge(run)` gives (met, detail) for the run that succeeded; a failed run FAILs, a missing one is not
    measured."""
    run = find(data, tool, key_type, users, phase)
    if run is not None:
        return verdict(*judge(run))
    failed = any((r["tool"], r["key_type"], r["users"], r["phase"]) == (tool, key_type, users, phase)
                 for r in data["runs"])
    return "**FAIL** (the run failed)" if failed else "not measured"


def of_fixed(run, fixed, bound):
    return (run["wall_seconds"] <= bound * fixed,
            f"{run['wall_seconds']:.2f} s = {run['wall_seconds'] / fixed:.2f}x the fixed cost {fixed:.2f} s, "
            f"at most {bound}x: {bound * fixed:.2f} s")


def fixed_cost_targets(data, key_type):
    fixed = data.get("fixed_cost_s")
    rate = data.get("signer_rate")
    lines = []
    for phase, bound, text in (("cold", 2.5, "cold"), ("warm", 1.6, "with nothing to change")):
        name = f"one user (-e user) {text} at most {bound}x Ansible's fixed cost: "
        lines.append(f"  - {name}" + ("not measured (no fixed cost)" if fixed is None else judge_run(
            data, ONE_USER, key_type, 1, phase, lambda run, bound=bound: of_fixed(run, fixed, bound))
            + ansible_alone(data, 1, bound)))
    ours = [run["users"] for run in data["runs"] if run["tool"] == "ours" and run["key_type"] == key_type]
    if not ours or fixed is None:
        lines.append("  - largest number of users, cold and with nothing to change: not measured"
                     + ("" if ours else " (no run of ours)") + ("" if fixed is not None else " (no fixed cost)"))
        return lines
    largest = max(ours)
    if rate is None:
        lines.append(f"  - {largest} users cold at most 1.1 x (users / signer rate) + the fixed cost: not judged "
                     "(no signer rate: --signer-qps 0)")
    else:
        bound = 1.1 * largest / rate + fixed
        lines.append(f"  - {largest} users cold at most 1.1 x ({largest} / {rate:g} per s) + the fixed cost = "
                     f"{bound:.2f} s: " + judge_run(data, "ours", key_type, largest, "cold", lambda run: (
                         run["wall_seconds"] <= bound, f"{run['wall_seconds']:.2f} s"))
                     + ansible_alone(data, largest, bound_seconds=bound))

    def no_change(run):
        met, detail = of_fixed(run, fixed, 5)
        writes = (run.get("check") or {}).get("api_writes")
        return met and run.get("check", {"ok": True})["ok"], detail + (
            "; API writes n/a, nothing changed" if writes is None else f"; {writes} API writes")
    lines.append(f"  - {largest} users with nothing to change at most 5x the fixed cost, no API writes: "
                 + judge_run(data, "ours", key_type, largest, "warm", no_change) + ansible_alone(data, largest, 5))
    return lines


def memory_target(data, key_type):
    runs = [run for run in data["runs"] if run["tool"] in OURS and run["key_type"] == key_type
            and run.get("max_rss_mib") is not None]
    name = f"  - no process of ours above {MAX_RSS_MIB} MiB (peak RSS of the largest process of each run): "
    if not runs:
        return [name + "not measured"]
    top = max(runs, key=lambda run: run["max_rss_mib"])
    return [name + verdict(top["max_rss_mib"] <= MAX_RSS_MIB,
                           f"largest {top['max_rss_mib']:.0f} MiB, {tool_text(top)} {users_text(top)} users "
                           f"{top['phase']}")]


def target_lines(data):
    """The issue's targets, judged from this run's measurements; a target whose runs are missing says so."""
    lines = []
    for key_type in key_types(data):
        lines.append(f"- **{key_type}**")
        lines += fixed_cost_targets(data, key_type)
        lines += memory_target(data, key_type)
        for phase in ("cold", "warm"):
            value = ratio(data, ("naive", "ours"), key_type, NAIVE_TARGET_USERS, phase)
            lines.append(f"  - naive at least 10x slower than ours, {NAIVE_TARGET_USERS} users {phase}: " + (
                "not measured" if value is None else verdict(value >= 10, f"{value:.1f}x")))
        value = ratio(data, ("ours", "floor"), key_type, TARGET_USERS, "cold")
        lines.append(f"  - {TARGET_USERS} users cold within 3x of the floor: " + (
            "not measured" if value is None else verdict(value <= 3, f"{value:.2f}x")))
        for phase in ("cold", "warm"):
            costs = marginal_costs(data, key_type, phase)
            if len(costs) < 2:
                lines.append(f"  - linear growth, {phase}: not measured (needs three numbers of users from 10 up)")
                continue
            detail = ", ".join(f"{a}->{b} users {cost:.3f} s/user" for a, b, cost in costs)
            # Superlinear: the last interval's cost per added user well above the first one's.
            lines.append(f"  - linear growth, {phase} (cost per added user): "
                         + verdict(costs[-1][2] <= 1.5 * max(costs[0][2], 0.01), detail))
        warm_runs = sorted((run for run in data["runs"] if run["tool"] == "ours" and run["key_type"] == key_type
                            and run["phase"] == "warm" and run["ok"] and run["requests"] is not None),
                           key=lambda run: run["users"])
        if warm_runs:
            # Judged at the most users: the reads are LISTs shared by all users, a constant over few users.
            largest = warm_runs[-1]
            detail = ", ".join(f"{run['users']} users {run['requests']['reads'] / run['users']:.2f}"
                               for run in warm_runs)
            lines.append(f"  - warm run at most 2 reads per user, at {largest['users']} users: "
                         + verdict(largest["requests"]["reads"] / largest["users"] <= 2, detail))
        else:
            lines.append("  - warm run at most 2 reads per user: not measured"
                         + (" (no request counters on a real cluster)" if server_kind(data) == "real cluster"
                            else ""))
    return lines


def server_kind(data):
    return (data.get("server") or {}).get("kind", "local test API server")


def server_text(data):
    server = data.get("server")
    if server is None:
        return ""
    if server["kind"] == "real cluster":
        return (f" Server: a real cluster at {server['host']} ({server.get('version')}), a namespace bench-<random> "
                f"per run; signer rate taken as {server['signer_qps']:g}/s; request counters and server CPU n/a.")
    rate = f"{server['signer_qps']:g}/s" if server["signer_qps"] else "no limit"
    return f" Server: the local test API server, signing delay {server['signing_delay']} s, signer rate {rate}."


def markdown(data):
    machine = data["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in
                         {**machine["versions"], **machine["collections"]}.items())
    options = data["options"]
    lines = [
        f"# Benchmark results, {data['date']}",
        "",
        f"Machine: {machine['cpu_model']}, {machine['usable_cores']} cores, {machine['memory_gib']} GiB, Linux "
        f"{machine['kernel']}, load average at start {', '.join(f'{x:.2f}' for x in machine['load_average_at_start'])}."
        f" Python {machine['python']}; {versions}. Commit {machine['commit'][:12]}"
        f"{' with uncommitted changes' if machine['uncommitted_changes'] else ''}.",
        f"Options: users {options['users']}, key types {options['key_types']}, tools {options['tools']}, naive up to "
        f"{options['naive_max_users']} users, signing delay {options['signing_delay']} s"
        + ("" if "one_user" not in options else
           f", one user (-e user) runs {'on' if options['one_user'] else 'off'}") + "."
        f"{server_text(data)} Whole run: {data.get('elapsed_seconds', 0) / 60:.1f} min.",
        "",
        *(["## Ansible's fixed cost", "", *fixed_cost_lines(data), ""] if "fixed_cost_runs" in data else []),
        *(["## Ansible's own cost for N hosts: one debug task", "", *per_host_lines(data), ""]
          if "ansible_per_host" in data else []),
        "## Measurements",
        "",
        *measurement_table(data),
        "",
        "## Ratios of wall time",
        "",
        *ratio_table(data),
        "",
        "## Targets",
        "",
        *target_lines(data),
    ]
    if data["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{s['tool']} {s['key_type']} {s['users']} users ({s['reason']})"
                                              for s in data["skipped"])]
    return "\n".join(lines) + "\n"


def plot(data, path):
    panels = key_types(data)
    if not panels:
        return
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5), squeeze=False)
    for axis, key_type in zip(axes[0], panels):
        for tool, colour in TOOL_COLOURS.items():
            for phase, style in PHASE_STYLES.items():
                runs = sorted((run for run in data["runs"] if (run["tool"], run["key_type"], run["phase"])
                               == (tool, key_type, phase) and run["ok"]), key=lambda run: run["users"])
                if runs:
                    axis.plot([run["users"] for run in runs], [run["wall_seconds"] for run in runs], style,
                              color=colour, label=f"{tool} {phase}")
        if data.get("fixed_cost_s"):
            axis.axhline(data["fixed_cost_s"], color="tab:gray", linestyle=":", label="Ansible's fixed cost")
        axis.set_xscale("log")
        axis.set_yscale("log")
        users = sorted({run["users"] for run in data["runs"] if run["key_type"] == key_type})
        axis.set_xticks(users, [str(count) for count in users])
        axis.set_xlabel("users")
        axis.set_ylabel("wall time (s)")
        axis.set_title({"rsa": "RSA 3072", "ecdsa": "ECDSA P-256"}.get(key_type, key_type))
        axis.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize="small")
    figure.suptitle(f"Onboarding time against users, {data['date']}")
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write(out, data):
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
    with open(os.path.join(out, "results.md"), "w", encoding="utf-8") as handle:
        handle.write(markdown(data))
    plot(data, os.path.join(out, "time-vs-users.png"))
