"""playbooks/audit.yml end to end on the cluster under test: the report a security review gets, in the terminal, as
JSON (checked against docs/audit-report.schema.json) and as an HTML page opened in headless chromium. Drift cases: a
ClusterRoleBinding made by hand that gives an inventory user cluster-admin, an expired certificate, a grant of the
inventory deleted by hand, a kubeconfig that is gone, and a cluster that cannot be reached while the other is still
reported. The audit changes nothing, and exits 0 unless asked to fail on drift."""
# pylint: disable=missing-function-docstring,redefined-outer-name  # pytest fixtures are parameters named as fixtures

import datetime
import json
import os
import re

import jsonschema
import yaml

from tests import browser
from tests.integration.test_onboarding import RBAC, ROOT
from tests.integration.test_onboarding import onboarding  # noqa: F401 pylint: disable=unused-import  # a fixture
from tests.unit.access_support import UTC, client_certificate, make_ca


def read_report(onboarding, audit_dir):
    path = os.path.join(audit_dir, f"audit-{onboarding.label}.json")
    with open(path, encoding="utf-8") as handle:
        report = json.load(handle)
    with open(os.path.join(ROOT, "docs", "audit-report.schema.json"), encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(report)
    return report


def snapshot(onboarding):
    """What an audit must leave as it found it: our bindings, the CSRs of the inventory, the users' files."""
    files = {}
    for directory, _dirs, names in os.walk(onboarding.base_dir):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                files[path] = (handle.read(), os.stat(path).st_mode)
    csrs = onboarding.admin.json("GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests?labelSelector="
                                 f"kubeaccess.x509%2Finventory%3D{onboarding.label}", expect=200)["items"]
    return onboarding.bindings(), sorted(c["metadata"]["resourceVersion"] for c in csrs), files


def test_a_clean_inventory_audits_without_drift(onboarding, tmp_path):
    onboarding.run("onboard.yml").ok()
    before = snapshot(onboarding)
    audit_dir = str(tmp_path / "reports")

    audit = onboarding.run("audit.yml", "-e", f"audit_dir={audit_dir}", "-e", "fail_on_drift=true").ok()

    assert snapshot(onboarding) == before
    assert "No drift" in audit.output
    report = read_report(onboarding, audit_dir)
    assert report["drift"] == [] and report["summary"]["users"] == 2
    users = {u["user"]: u["clusters"][0] for u in report["users"]}
    rahul = users[onboarding.rahul]
    assert rahul["kubeconfig"]["verified"] is True, rahul["kubeconfig"]
    assert rahul["certificate"]["state"] == "valid" and 0.9 < rahul["certificate"]["days_left"] <= 1
    # The CSR is still on the cluster right after onboarding: the approval is the role's, under its policy.
    assert rahul["approval"]["csr"] and rahul["approval"]["reason"], rahul["approval"]
    # rakkess's view: edit in dev through the developers group.
    pods = [row for row in rahul["access"] if row["scope"] == onboarding.dev and row["resource"] == "pods"
            and row["api_group"] == ""]
    assert pods and {"create", "delete", "list"} <= set(pods[0]["verbs"]), rahul["access"][:20]
    assert not [row for row in rahul["access"] if row["scope"] == onboarding.app1]
    mode = os.stat(os.path.join(audit_dir, f"audit-{onboarding.label}.json")).st_mode & 0o777
    assert mode == 0o640 and os.stat(audit_dir).st_mode & 0o777 == 0o700


def test_drift_is_reported_first_in_every_form(onboarding, admin, cleanup, tmp_path):
    onboarding.run("onboard.yml").ok()
    rahul, seema = onboarding.rahul, onboarding.seema
    # By hand: cluster-admin for an inventory user, and the inventory's own view grant deleted.
    by_hand = f"by-hand-admin-{onboarding.suffix}"
    admin.json("POST", f"{RBAC}/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": by_hand},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": rahul}]}, expect=201)
    cleanup.add(f"{RBAC}/clusterrolebindings/{by_hand}")
    view = [key for key in onboarding.bindings() if key[0] == "ClusterRoleBinding"]
    assert len(view) == 1
    admin.json("DELETE", f"{RBAC}/clusterrolebindings/{view[0][2]}", expect=200)
    # seema's certificate on the controller expired; rahul's kubeconfig is gone.
    expired, _key = client_certificate(make_ca(), seema, [f"app1-devs-{onboarding.suffix}"],
                                       datetime.datetime.now(UTC) - datetime.timedelta(hours=1))
    with open(os.path.join(onboarding.base_dir, seema, "local.crt"), "wb") as handle:
        handle.write(expired)
    os.remove(onboarding.kubeconfig(rahul))
    # A second cluster that cannot be reached: the first is still reported.
    with open(onboarding.cluster.kubeconfig, encoding="utf-8") as handle:
        unreachable = yaml.safe_load(handle)
    for entry in unreachable["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:9"
    down = tmp_path / "down.kubeconfig"
    down.write_text(yaml.safe_dump(unreachable), encoding="utf-8")
    onboarding.clusters["down"] = {"kubeconfig": str(down)}
    onboarding.write_inventory()
    before = snapshot(onboarding)
    audit_dir = str(tmp_path / "reports")

    audit = onboarding.run("audit.yml", "-e", f"audit_dir={audit_dir}").ok()

    assert snapshot(onboarding) == before
    report = read_report(onboarding, audit_dir)
    found = {(d["kind"], d["cluster"], d["user"]) for d in report["drift"]}
    assert {("cluster_unreachable", "down", None), ("unlisted_grant", "local", rahul),
            ("kubeconfig_failed", "local", rahul), ("certificate_expired", "local", seema),
            ("missing_grant", "local", None)} <= found, report["drift"]
    assert [d["severity"] for d in report["drift"]] == sorted(
        (d["severity"] for d in report["drift"]), key=["critical", "warning"].index)
    admin_row = [d for d in report["drift"] if d["kind"] == "unlisted_grant" and d["user"] == rahul][0]
    assert f"ClusterRoleBinding {by_hand} grants ClusterRole cluster-admin cluster-wide to User {rahul}" \
        in admin_row["message"]
    local = [c for c in report["clusters"] if c["name"] == "local"][0]
    assert local["reachable"] and any(g["binding"] == by_hand and not g["listed"] for g in local["grants"])
    assert report["summary"]["clusters_unreachable"] == 1

    # The terminal: drift before the grants, the by-hand binding named.
    drift_at, grants_at = audit.output.find("DRIFT"), audit.output.find("CLUSTER local")
    assert 0 <= drift_at < grants_at, audit.output[-6000:]
    assert re.search(rf"critical\s+unlisted_grant\s+local\s+{re.escape(rahul)}", audit.output), audit.output[-6000:]

    # The page, as a browser renders it: the drift table comes first, its first row critical.
    page = os.path.join(audit_dir, f"audit-{onboarding.label}.html")
    dom, requests = browser.network_requests(page)
    assert requests == [], requests
    assert dom.find('id="drift"') < dom.find('id="grants-local"'), dom[:3000]
    first_row = re.search(r'<tr class="(drift[^"]*)" data-kind="([^"]+)"', dom)
    assert first_row and "drift-critical" in first_row.group(1), dom[:3000]
    assert by_hand in dom

    failing = onboarding.run("audit.yml", "-e", f"audit_dir={audit_dir}", "-e", "fail_on_drift=true").failed()
    assert failing.returncode == 2
    assert "drift finding(s)" in failing.output and "fail_on_drift is set" in failing.output
