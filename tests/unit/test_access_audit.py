"""plugins/plugin_utils/access_audit.py: the audit report built from a real plan, k8s_access_info results as the
module returns them and real certificate files. What a security review reads: grants the inventory does not list,
grants it lists that are missing, certificates expired or due, who approved them, old pending requests, clusters that
could not be read (the others still reported), each user's access matrix, and the drift worst first."""
# pylint: disable=missing-function-docstring

import datetime
import json
import os

import jsonschema
import pytest

from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_audit
from tests.unit.access_support import ROOT, UTC, client_certificate, entry_of, make_ca, make_plan, one_cluster

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
GRANTS = {"developers": [{"cluster_role": "edit", "namespace": "dev"}], "platform": [{"cluster_role": "view"}]}
USERS = {"rahul": {"user_access_groups": ["developers"]}, "seema": {"user_access_groups": ["platform"]}}
VERIFIED = {"verified": True, "message": "authenticates"}


def audit_plan(tmp_path, clusters=None):
    the_plan = make_plan(tmp_path / "users", USERS, clusters=clusters, group_grants=GRANTS, inventory="team-a")
    assert not the_plan["errors"], the_plan["errors"]
    return dict(the_plan, settings={"clusters": clusters or one_cluster(), "group_grants": GRANTS,
                                    "inventory": "team-a"})


def binding(kind, name, role, subjects, namespace=None, managed_by=None, rules=None):
    """A binding as k8s_access_info returns it with all_subjects and role_rules."""
    return {"kind": kind, "namespace": namespace, "name": name, "role_ref": {"kind": "ClusterRole", "name": role},
            "subjects": [{"kind": k, "name": n} for k, n in subjects], "managed_by": managed_by,
            "inventory": "team-a" if managed_by else None, "rules": rules, "description": name}


def ours(name, role, subject, namespace=None):
    return binding("RoleBinding" if namespace else "ClusterRoleBinding", name, role, [subject], namespace,
                   managed_by="kubeaccess.x509", rules=[{"apiGroups": [""], "resources": ["pods"],
                                                         "verbs": ["get", "list"]}])


def info(bindings, csrs=()):
    return {"changed": False, "bindings": list(bindings), "csrs": list(csrs)}


def write_certificate(ca_pair, path, user, groups, not_after, serial=0x1F2E3D, lifetime_days=1):
    pem, _key = client_certificate(ca_pair, user, groups, not_after, serial=serial, lifetime_days=lifetime_days)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(pem)


def verifications(the_plan, result=None):
    return {(e["host"], e["cluster"]): dict(result or VERIFIED) for e in the_plan["users"] + the_plan["remote_users"]}


def kinds(report):
    return [(d["kind"], d["user"], d["subject"]) for d in report["drift"]]


def validate(report):
    with open(os.path.join(ROOT, "docs", "audit-report.schema.json"), encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(report)
    return report


@pytest.fixture(scope="module")
def ca_pair():
    return make_ca()


@pytest.fixture
def onboarded(tmp_path, ca_pair):
    """Both users onboarded: their certificates on the controller, the inventory's bindings on the cluster."""
    the_plan = audit_plan(tmp_path)
    for host, serial in (("rahul", 0x0A), ("seema", 0x0B)):
        entry = entry_of(the_plan, host)
        write_certificate(ca_pair, entry["request"]["certificate_path"], host, entry["groups"],
                          NOW + datetime.timedelta(hours=20), serial=serial)
    cluster_bindings = [ours("kubeaccess-group-developers-edit", "edit", ("Group", "developers"), "dev"),
                        ours("kubeaccess-group-platform-view", "view", ("Group", "platform"))]
    return the_plan, cluster_bindings


def test_a_clean_inventory_has_no_drift(onboarded):
    the_plan, cluster_bindings = onboarded
    report = validate(access_audit.build(the_plan, {"local": info(cluster_bindings)}, verifications(the_plan), NOW))
    assert report["drift"] == [] and report["summary"]["drift"] == 0
    assert all(g["listed"] and g["inventory_subject"] for g in report["clusters"][0]["grants"])
    rahul = report["users"][0]
    assert rahul["user"] == "rahul" and rahul["clusters"][0]["certificate"]["state"] == "valid"
    assert rahul["clusters"][0]["certificate"]["days_left"] == pytest.approx(20 / 24, abs=0.01)
    assert rahul["clusters"][0]["kubeconfig"]["context"] == "rahul@local"


def test_a_grant_made_by_hand_to_an_inventory_user_or_group_is_critical_drift(onboarded):
    the_plan, cluster_bindings = onboarded
    cluster_bindings += [
        binding("ClusterRoleBinding", "rahul-admin", "cluster-admin", [("User", "rahul")]),
        binding("RoleBinding", "platform-edit", "edit", [("Group", "platform")], namespace="prod"),
        # Somebody else's subjects are listed, never drift: the inventory does not speak for them.
        binding("ClusterRoleBinding", "cluster-admin", "cluster-admin", [("Group", "system:masters")]),
    ]
    report = validate(access_audit.build(the_plan, {"local": info(cluster_bindings)}, verifications(the_plan), NOW))
    assert kinds(report) == [("unlisted_grant", None, "Group platform"), ("unlisted_grant", "rahul", "User rahul")]
    assert all(d["severity"] == "critical" for d in report["drift"])
    assert "ClusterRoleBinding rahul-admin grants ClusterRole cluster-admin cluster-wide to User rahul, which the " \
        "inventory does not list (made by someone else)" in report["drift"][1]["message"]
    masters = [g for g in report["clusters"][0]["grants"] if g["subject"] == "system:masters"]
    assert masters == [dict(masters[0], inventory_subject=False, listed=False, binding="cluster-admin",
                            scope="cluster-wide")]


def test_a_listed_grant_missing_from_the_cluster_is_drift(onboarded):
    the_plan, cluster_bindings = onboarded
    report = access_audit.build(the_plan, {"local": info(cluster_bindings[:1])}, verifications(the_plan), NOW)
    assert kinds(report) == [("missing_grant", None, "Group platform")]
    assert report["drift"][0]["message"] == ("the inventory grants ClusterRole view cluster-wide to Group platform, "
                                             "but no binding on the cluster does (run onboard.yml)")


def test_certificate_states_on_the_controller(tmp_path, ca_pair, onboarded):
    the_plan, cluster_bindings = onboarded
    rahul, seema = entry_of(the_plan, "rahul"), entry_of(the_plan, "seema")
    # 5 h left of a day: inside the role's default window (30% of the lifetime).
    write_certificate(ca_pair, rahul["request"]["certificate_path"], "rahul", ["developers"],
                      NOW + datetime.timedelta(hours=5))
    write_certificate(ca_pair, seema["request"]["certificate_path"], "seema", ["platform"],
                      NOW - datetime.timedelta(minutes=1))
    report = access_audit.build(the_plan, {"local": info(cluster_bindings)}, verifications(the_plan), NOW)
    assert kinds(report) == [("certificate_renewal_due", "rahul", None), ("certificate_expired", "seema", None)]
    states = {u["user"]: u["clusters"][0]["certificate"] for u in report["users"]}
    assert states["seema"]["state"] == "expired" and states["seema"]["days_left"] <= 0
    assert "expired at 2026-12-02T11:59:00Z" in report["drift"][1]["message"]

    os.remove(seema["request"]["certificate_path"])
    with open(rahul["request"]["certificate_path"], "wb") as handle:
        handle.write(b"not a certificate")
    report = access_audit.build(the_plan, {"local": info(cluster_bindings)}, verifications(the_plan), NOW)
    assert kinds(report) == [("certificate_missing", "rahul", None), ("certificate_missing", "seema", None)]
    assert report["drift"][0]["message"].startswith("no readable certificate at ")
    assert {u["user"]: u["clusters"][0]["certificate"]["state"] for u in report["users"]} == {
        "rahul": "unreadable", "seema": "missing"}


def test_who_approved_the_certificate_or_that_the_csr_is_gone(onboarded):
    the_plan, cluster_bindings = onboarded
    csrs = [{"name": "rahul-abc", "user": "rahul", "groups": ["developers"], "phase": "issued",
             "created": "2026-12-02T11:00:00Z", "certificate_serial": "0A",
             "approval": {"type": "Approved", "reason": "KubeaccessPolicy", "message": "approved by policy"}},
            # Another certificate of seema's, not the one on the controller.
            {"name": "seema-old", "user": "seema", "groups": ["platform"], "phase": "issued",
             "created": "2026-12-01T11:00:00Z", "certificate_serial": "0C",
             "approval": {"type": "Approved", "reason": "KubectlApprove", "message": "by hand"}}]
    report = access_audit.build(the_plan, {"local": info(cluster_bindings, csrs)}, verifications(the_plan), NOW)
    approvals = {u["user"]: u["clusters"][0]["approval"] for u in report["users"]}
    assert approvals["rahul"] == {"csr": "rahul-abc", "reason": "KubeaccessPolicy", "message": "approved by policy"}
    assert approvals["seema"]["csr"] is None and approvals["seema"]["message"].startswith(
        "CSR already garbage-collected")


def test_requests_pending_for_more_than_a_day_are_drift(onboarded):
    the_plan, cluster_bindings = onboarded
    csrs = [{"name": "old", "user": "rahul", "groups": [], "phase": "pending", "created": "2026-12-01T06:00:00Z",
             "certificate_serial": None, "approval": None},
            {"name": "new", "user": "seema", "groups": [], "phase": "pending", "created": "2026-12-02T11:00:00Z",
             "certificate_serial": None, "approval": None}]
    report = validate(access_audit.build(the_plan, {"local": info(cluster_bindings, csrs)}, verifications(the_plan),
                                         NOW))
    assert kinds(report) == [("pending_csr", "rahul", None)]
    assert report["drift"][0]["message"].startswith("CSR old for rahul has waited for approval for 30 hours")
    pending = report["clusters"][0]["pending_csrs"]
    assert [(p["name"], p["age_hours"]) for p in pending] == [("old", 30.0), ("new", 1.0)]


def test_an_unreachable_cluster_is_reported_first_and_the_others_still_are(tmp_path, ca_pair):
    clusters = one_cluster()
    clusters["down"] = dict(clusters["local"])
    the_plan = audit_plan(tmp_path, clusters)
    for host in ("rahul", "seema"):
        for cluster in ("local", "down"):
            entry = entry_of(the_plan, host, cluster)
            write_certificate(ca_pair, entry["request"]["certificate_path"], host, entry["groups"],
                              NOW + datetime.timedelta(hours=20))
    infos = {"local": info([ours("kubeaccess-group-developers-edit", "edit", ("Group", "developers"), "dev"),
                            ours("kubeaccess-group-platform-view", "view", ("Group", "platform"))]),
             "down": {"failed": True, "msg": "cannot reach the API server at https://10.0.0.9:6443: refused"}}
    results = verifications(the_plan)
    results[("rahul", "local")] = {"verified": False, "message": "the API server sees user 'bob', not 'rahul'"}
    report = validate(access_audit.build(the_plan, infos, results, NOW))
    assert kinds(report) == [("cluster_unreachable", None, None), ("kubeconfig_failed", "rahul", None)]
    assert report["drift"][0]["cluster"] == "down" and "refused" in report["drift"][0]["message"]
    assert report["summary"]["clusters_unreachable"] == 1 and report["summary"]["clusters"] == 2
    local = [c for c in report["clusters"] if c["name"] == "local"][0]
    assert local["reachable"] and len(local["grants"]) == 2
    down = [u for u in report["users"][0]["clusters"] if u["cluster"] == "down"][0]
    assert down["approval"]["message"] == "cluster unreachable" and down["access"] == []


def test_access_matrix_from_the_rules_of_the_roles_bound_to_the_user_and_groups():
    rules = [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
             {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]},
             {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"], "resourceNames": ["web"]},
             {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]
    bindings = [binding("RoleBinding", "mine", "x", [("Group", "developers")], namespace="dev", rules=rules),
                binding("ClusterRoleBinding", "everyone", "basic", [("Group", "system:authenticated")],
                        rules=[{"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews"],
                                "verbs": ["create"]}]),
                binding("ClusterRoleBinding", "theirs", "cluster-admin", [("User", "bob")],
                        rules=[{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
                binding("ClusterRoleBinding", "dangling", "gone", [("User", "rahul")], rules=None)]
    rows = access_audit.access_rows(bindings, "rahul", ["developers"])
    assert rows == [
        {"scope": "cluster-wide", "api_group": "authorization.k8s.io", "resource": "selfsubjectaccessreviews",
         "verbs": ["create"]},
        {"scope": "dev", "api_group": "", "resource": "pods", "verbs": ["delete", "get", "list"]},
        {"scope": "dev", "api_group": "", "resource": "pods/log", "verbs": ["get", "list"]},
        {"scope": "dev", "api_group": "apps", "resource": "deployments [names: web]", "verbs": ["*"]},
    ]


def test_kubeconfig_checks_that_need_no_server(tmp_path):
    the_plan = audit_plan(tmp_path)
    entry = entry_of(the_plan, "rahul")
    assert access_audit.verify_kubeconfig(entry, {"failed": True})["verified"] is None
    # Neither certificate nor kubeconfig: not onboarded, one finding (the certificate's), not two.
    assert access_audit.verify_kubeconfig(entry, info([])) == {
        "verified": None, "message": "not onboarded on this cluster yet: no certificate, no kubeconfig"}
    os.makedirs(os.path.dirname(entry["request"]["certificate_path"]), exist_ok=True)
    with open(entry["request"]["certificate_path"], "w", encoding="utf-8") as handle:
        handle.write("certificate")
    assert access_audit.verify_kubeconfig(entry, info([])) == {
        "verified": False, "message": f"no kubeconfig at {entry['kubeconfig_path']} (run onboard.yml)"}


def test_a_report_directory_that_cannot_be_made_is_refused_naming_the_option(tmp_path):
    """-e audit_dir under a regular file: named as the user gave it, with what to give, before anything is written."""
    (tmp_path / "a-file").write_text("not a directory\n")
    paths, error = access_audit.report_paths(str(tmp_path / "a-file" / "reports"), "team-a")
    assert paths == {kind: str(tmp_path / "a-file" / "reports" / f"audit-team-a.{kind}") for kind in ("json", "html")}
    assert error == (f"user_access_audit_dir (audit.yml: -e audit_dir): cannot create {paths['json']}: "
                     f"{tmp_path / 'a-file'} is not a directory; give a path under a directory")
    assert access_audit.report_paths(str(tmp_path / "reports"), "team-a")[1] is None
