"""The benchmark's outputs: results.json, results.md (the terminal table, ratios, targets) and time-vs-users.png."""

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position

TOOL_COLOURS = {"ours": "tab:blue", "floor": "tab:green", "naive": "tab:red"}
PHASE_STYLES = {"cold": "-o", "warm": "--s"}
TARGET_USERS = 200
NAIVE_TARGET_USERS = (50, 200)


def one_line(run):
    requests = run["requests"]
    return (f"{run['wall_seconds']:.1f} s ({run['seconds_per_user']:.3f} s/user), {run['processes']} processes, "
            f"{requests['per_user']:.2f} requests/user, {requests['writes']} writes, "
            f"CPU {run['cpu_client_seconds']:.1f} s client + {run['cpu_server_seconds']:.1f} s server")


def find(data, tool, key_type, users, phase):
    for run in data["runs"]:
        if (run["tool"], run["key_type"], run["users"], run["phase"]) == (tool, key_type, users, phase) and run["ok"]:
            return run
    return None


def verbs_per_user(requests):
    return ", ".join(f"{verb} {count:.2f}" for verb, count in sorted(requests["by_verb_per_user"].items()))


def check_text(run):
    check = run.get("check")
    if not run["ok"]:
        return f"FAILED (exit {run['returncode']})"
    if check is None:
        return ""
    if "api_writes" in check:
        return "no writes" if check["ok"] else f"FAILED: {check['api_writes']} writes"
    text = "ok" if check["ok"] else (f"FAILED: {check['kubeconfigs']}/{run['users']} kubeconfigs, modes "
                                     f"{check['modes']}, whoami {check['whoami']}")
    if check["with_current_context"] < check["kubeconfigs"]:
        text += f", current-context in {check['with_current_context']}/{check['kubeconfigs']}"
    return text


def measurement_table(data):
    lines = ["| key | users | tool | phase | wall s | s/user | processes | requests/user | writes "
             "| requests/user by verb | changed | CPU client s | CPU server s | check |",
             "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |"]
    for run in data["runs"]:
        requests = run["requests"]
        changed = "" if run["changed"] is None else run["changed"]
        lines.append(f"| {run['key_type']} | {run['users']} | {run['tool']} | {run['phase']} "
                     f"| {run['wall_seconds']:.1f} | {run['seconds_per_user']:.3f} | {run['processes']} "
                     f"| {requests['per_user']:.2f} | {requests['writes']} | {verbs_per_user(requests)} | {changed} "
                     f"| {run['cpu_client_seconds']:.1f} | {run['cpu_server_seconds']:.1f} | {check_text(run)} |")
    return lines


def ratio(data, tools, key_type, users, phase):
    """Wall time of the first tool over the second's, for the same key type, users and phase."""
    top, bottom = (find(data, tool, key_type, users, phase) for tool in tools)
    return top["wall_seconds"] / bottom["wall_seconds"] if top and bottom else None


def key_types(data):
    """Key types in the order they were measured."""
    return list(dict.fromkeys(run["key_type"] for run in data["runs"]))


def measured_points(data):
    return [(key_type, users) for key_type in key_types(data)
            for users in sorted({run["users"] for run in data["runs"] if run["key_type"] == key_type})]


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
    return f"{'met' if met else '**not met**'} ({detail})"


def target_lines(data):
    """The issue's targets, judged from this run's measurements; a target whose runs are missing says so."""
    lines = []
    for key_type in key_types(data):
        lines.append(f"- **{key_type}**")
        value = ratio(data, ("ours", "floor"), key_type, TARGET_USERS, "cold")
        lines.append(f"  - {TARGET_USERS} users cold within 3x of the floor: " + (
            "not measured" if value is None else verdict(value <= 3, f"{value:.2f}x")))
        warm = find(data, "ours", key_type, TARGET_USERS, "warm")
        lines.append(f"  - {TARGET_USERS} users warm under 15 s with no API writes: " + (
            "not measured" if warm is None else verdict(
                warm["wall_seconds"] < 15 and warm["requests"]["writes"] == 0,
                f"{warm['wall_seconds']:.1f} s, {warm['requests']['writes']} writes")))
        for users in NAIVE_TARGET_USERS:
            for phase in ("cold", "warm"):
                value = ratio(data, ("naive", "ours"), key_type, users, phase)
                lines.append(f"  - at least 5x faster than naive, {users} users {phase}: " + (
                    "not measured" if value is None else verdict(value >= 5, f"{value:.1f}x")))
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
                            and run["phase"] == "warm" and run["ok"]), key=lambda run: run["users"])
        if warm_runs:
            # Judged at the most users: the reads are LISTs shared by all users, a constant over few users.
            largest = warm_runs[-1]
            detail = ", ".join(f"{run['users']} users {run['requests']['reads'] / run['users']:.2f}"
                               for run in warm_runs)
            lines.append(f"  - warm run at most 2 reads per user, at {largest['users']} users: "
                         + verdict(largest["requests"]["reads"] / largest["users"] <= 2, detail))
    return lines


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
        f"{options['naive_max_users']} users, signing delay {options['signing_delay']} s. "
        f"Whole run: {data.get('elapsed_seconds', 0) / 60:.1f} min.",
        "",
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
