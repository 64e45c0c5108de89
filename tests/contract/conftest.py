"""Fixtures of the contract tests; the helpers they use are in support.py."""

import secrets

import pytest

from tests.contract.support import User


@pytest.fixture
def make_user(cluster, tmp_path):
    """make_user("alice", ["devs"]) -> User with unique user and group names (safe on a shared real cluster)."""

    def make(base, group_bases=()):
        name = cluster.name(f"{base}{secrets.token_hex(2)}")
        groups = [cluster.name(g) for g in group_bases]
        kubeconfig = cluster.make_user(name, groups)
        return User(name, groups, kubeconfig, str(tmp_path / f"creds-{name}"))

    return make


@pytest.fixture
def namespace(cluster):
    """A fresh namespace for one test, deleted afterwards (without waiting: it stays Terminating for seconds)."""
    # 32 random bits: no earlier test's namespace, possibly still Terminating, has this name.
    name = cluster.name(f"ns{secrets.token_hex(4)}")
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    cluster.admin.json("POST", "/api/v1/namespaces", body, expect=201)
    yield name
    cluster.admin.request("DELETE", f"/api/v1/namespaces/{name}")
