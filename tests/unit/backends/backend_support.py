"""What the backend tests share."""

import secrets


def unique(cluster, base):
    """A name no other test of the session uses."""
    return cluster.name(f"{base}-{secrets.token_hex(2)}")


def make_namespace(admin, cleanup, cluster, base, **metadata):
    """A namespace of its own for the test (deleted after it), with `metadata` such as labels or finalizers."""
    name = unique(cluster, base)
    admin.json("POST", "/api/v1/namespaces",
               {"apiVersion": "v1", "kind": "Namespace", "metadata": dict(metadata, name=name)}, expect=201)
    cleanup.add(f"/api/v1/namespaces/{name}")
    return name


def warnings_of(result):
    """The texts of the result's warnings (ansible-core 2.19 and later carry each as a WarningSummary)."""
    return [getattr(getattr(warning, "event", None), "msg", warning) for warning in result.get("warnings", [])]
