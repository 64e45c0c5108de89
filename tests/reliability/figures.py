"""The reliability suite's figures: one line at the end of the test run, the same line docs/reliability.md keeps.

Each reliability test carries one of the markers below; the line counts, per marker, the tests that passed out of
those that ran (a skipped test, such as a `local_only` one on a real cluster, is counted apart). Secret scans add
the hits they found through `record_property("secret_hits", n)`. Reports reach these hooks in the process that
prints the summary, also under pytest-xdist, so the markers are read from the report's keywords.
"""

FIGURES = {
    "killed_run": "killed runs converged",
    "server_fault": "faults survived",
    "concurrent_run": "concurrent runs consistent",
    "bad_input": "bad inputs refused",
    "policy_abuse": "abuse refused",
    "secret_hygiene": "secret scans clean",
}
MARKERS = {
    "killed_run": "ansible-playbook killed with SIGKILL after a step, then run again: the result converges",
    "server_fault": "a fault of the API server during a run: the run completes or names the cause",
    "concurrent_run": "runs at the same time on one inventory, kubeconfig or user",
    "bad_input": "a bad input refused before any change, naming the field and what is accepted",
    "policy_abuse": "a request the default approval policy refuses, naming the rule",
    "secret_hygiene": "output, results and files scanned for private key material",
}


class Tally:
    def __init__(self):
        self.counts = {marker: {"passed": 0, "ran": 0, "skipped": 0} for marker in FIGURES}
        self.secret_hits = 0

    def add(self, report):
        marker = next((name for name in FIGURES if name in report.keywords), None)
        if marker is None:
            return
        counts = self.counts[marker]
        if report.when == "call":
            counts["ran"] += 1
            counts["passed"] += report.passed
            self.secret_hits += sum(value for key, value in report.user_properties if key == "secret_hits")
        elif report.skipped:
            counts["skipped"] += 1
        elif report.failed:  # a setup or teardown error counts as a run that did not hold
            counts["ran"] += report.when == "setup"

    def line(self):
        parts = []
        for marker, label in FIGURES.items():
            counts = self.counts[marker]
            if counts["ran"] or counts["skipped"]:
                skipped = f" ({counts['skipped']} skipped)" if counts["skipped"] else ""
                parts.append(f"{label} {counts['passed']}/{counts['ran']}{skipped}")
        if not parts:
            return None
        if self.counts["secret_hygiene"]["ran"]:
            parts.append(f"secret hits {self.secret_hits}")
        return "reliability: " + ", ".join(parts)


TALLY = Tally()


def configure(config):
    for marker, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: {meaning}")


def add_report(report):
    TALLY.add(report)


def print_summary(terminalreporter):
    line = TALLY.line()
    if line:
        terminalreporter.write_sep("-", "reliability figures")
        terminalreporter.write_line(line)
