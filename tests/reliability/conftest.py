"""The fixtures of the integration tests, for the reliability cases built on them."""

import pytest

# The shared checks say what differs when they fail, as a test's own asserts do.
pytest.register_assert_rewrite("tests.reliability.killed_runs", "tests.reliability.support")

from tests.integration.conftest import playbook, run_module  # noqa: F401 pylint: disable=unused-import
from tests.integration.test_onboarding import onboarding  # noqa: F401 pylint: disable=unused-import
