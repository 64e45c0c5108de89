"""docs/reliability.md keeps the figures line of a green run of this suite (as many cases of each kind as the suite
has) and the catalogues' tables, a row for each case."""

import json
import os
import re
import subprocess
import sys

from tests.reliability import figures
from tests.reliability import test_bad_inputs_modules as bad_inputs_modules
from tests.reliability import test_bad_inputs_role as bad_inputs_role
from tests.reliability import test_policy_abuse as policy_abuse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COUNT_CASES = """
import json, sys
import pytest
from tests.reliability import figures

class Count:
    counts = dict.fromkeys(figures.FIGURES, 0)

    def pytest_collection_modifyitems(self, items):
        for item in items:
            for marker in figures.FIGURES:
                self.counts[marker] += item.get_closest_marker(marker) is not None

count = Count()
code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "tests/reliability"],
                   plugins=[count])
print("COUNTS " + json.dumps(count.counts))
sys.exit(code)
"""


def test_the_documented_figures_are_those_of_a_green_run():
    collected = subprocess.run([sys.executable, "-c", COUNT_CASES], cwd=ROOT, capture_output=True, text=True,
                               check=False, env=dict(os.environ, PYTHONPATH=ROOT))
    assert collected.returncode == 0, collected.stdout[-4000:] + collected.stderr[-4000:]
    counts = json.loads(collected.stdout.split("COUNTS ", 1)[1])
    green = figures.Tally()
    for marker, cases in counts.items():
        green.counts[marker].update(passed=cases, ran=cases)
    with open(os.path.join(ROOT, "docs", "reliability.md"), encoding="utf-8") as handle:
        documented = handle.read()
    assert green.line() in documented, f"docs/reliability.md should show: {green.line()}"


def _table_ids(section):
    """The ids in the first column of the tables of a section of docs/reliability.md."""
    with open(os.path.join(ROOT, "docs", "reliability.md"), encoding="utf-8") as handle:
        text = handle.read()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return sorted(re.findall(r"^\| `([a-z0-9-]+)` \|", body, re.MULTILINE))


def test_the_catalogue_tables_list_every_case_and_no_other():
    assert _table_ids("Bad input") == sorted(case["id"] for case in bad_inputs_modules.CASES + bad_inputs_role.CASES)
    assert _table_ids("Policy abuse") == sorted(case["id"] for case in policy_abuse.CASES)
