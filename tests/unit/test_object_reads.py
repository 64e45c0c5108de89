"""k8s_client.ObjectReads on the cluster under test: a batch reads a collection with one LIST, and a batch that names
the objects it will read keeps only those, and still reads any other."""
# pylint: disable=missing-function-docstring

import pytest

from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import SharedClient
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import ObjectReads
from tests.kube import CSR_PATH, csr_manifest, make_csr_pem, new_key


@pytest.fixture
def three_csrs(cluster, admin, cleanup):
    names = [cluster.name(f"reads-{i}") for i in range(3)]
    for name in names:
        admin.json("POST", CSR_PATH, csr_manifest(name, make_csr_pem(new_key(), name)), expect=201)
        cleanup.add(f"{CSR_PATH}/{name}")
    return names


def reads(cluster):
    return ObjectReads(SharedClient({"kubeconfig": cluster.kubeconfig}), CSR_PATH, listing=True)


def test_a_batch_that_names_its_objects_reads_them_and_any_other(cluster, three_csrs):
    wanted, other, missing = three_csrs[0], three_csrs[1], cluster.name("reads-none")
    batch = reads(cluster)
    batch.want(wanted)
    assert batch.get(wanted)["metadata"]["name"] == wanted
    assert batch.get(other)["metadata"]["name"] == other
    assert batch.get(missing) is None
    assert batch.reread(other)["metadata"]["name"] == other


@pytest.mark.local_only("reads the local server's request counters")
def test_a_batch_reads_what_it_named_from_one_list_and_gets_the_others(cluster, three_csrs):
    batch = reads(cluster)
    for name in three_csrs[:2]:
        batch.want(name)
    cluster.control("DELETE", "stats")
    for name in three_csrs:
        assert batch.get(name)["metadata"]["name"] == name
    verbs = [r["verb"] for r in cluster.control("GET", "stats")["requests"]
             if r["resource"] == "certificatesigningrequests"]
    assert verbs == ["list", "get"]
    # Read once, the third is kept like the named ones.
    cluster.control("DELETE", "stats")
    assert batch.reread(three_csrs[2])["metadata"]["name"] == three_csrs[2]
    assert [r["verb"] for r in cluster.control("GET", "stats")["requests"]
            if r["resource"] == "certificatesigningrequests"] == ["list"]
