"""Running a module's backend (plugins/module_utils/backends) directly: a real AnsibleModule in this process, with
the cluster under test (the local test API server, or a real one from KUBEACCESS_TEST_KUBECONFIG) and real files."""

import pytest

from ansible_collections.kubeaccess.x509.plugins.plugin_utils.in_process import run_module


@pytest.fixture
def run_backend(cluster, tmp_path):
    """`run_backend(backend, {...}, check_mode=False, diff=False)`: the module's result, failed or not. The admin
    kubeconfig of the cluster under test is the default connection."""
    def run(backend, module_args, check_mode=False, diff=False):
        args = {"kubeconfig": cluster.kubeconfig, **module_args, "_ansible_check_mode": check_mode,
                "_ansible_diff": diff, "_ansible_tmpdir": str(tmp_path)}
        return run_module(backend, args)
    return run
