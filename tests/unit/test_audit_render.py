"""plugins/plugin_utils/audit_render.py: the audit report as terminal text and as one self-contained HTML page.

The sample is an audit as a user would meet it: two clusters, one of them unreachable; a ClusterRoleBinding made
by hand that gives an inventory user cluster-admin; an expired certificate whose CSR is gone; a kubeconfig that
does not verify; a foreign subject whose name holds a script. What is checked is what a reader notices: the drift
comes first, worst first; the unreachable cluster says why; nothing of the report runs or loads in a browser; the
access matrix ticks the right verbs. The page is also opened in headless chromium (tests/browser.py).
"""

import copy
import json
import os
import re
from html.parser import HTMLParser

import pytest
from jsonschema import Draft202012Validator

from ansible_collections.kubeaccess.x509.plugins.plugin_utils import audit_render
from tests import browser
from tests.browser import network_requests, render_dom, render_dom_and_log, screenshot

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = os.path.join(ROOT, "docs", "audit-report.schema.json")
SCRIPT_NAME = '<script>alert("owned")</script>'
PROD_ERROR = ('Get "https://prod.example.com:6443/version": dial tcp: lookup prod.example.com: no such host')
UNLISTED_MESSAGE = ("ClusterRoleBinding debug-admin grants ClusterRole cluster-admin cluster-wide to User rahul; "
                    "the inventory does not list it")


def grant(subject_kind, subject, scope, role_kind, role, binding_kind, binding, listed, inventory_subject=True,
          managed=True):
    return {"subject_kind": subject_kind, "subject": subject, "scope": scope, "role_kind": role_kind, "role": role,
            "binding_kind": binding_kind, "binding": binding,
            "managed_by": "kubeaccess.x509" if managed else None, "inventory": "example" if managed else None,
            "inventory_subject": inventory_subject, "listed": listed}


def drift(severity, kind, cluster, message, user=None, subject=None):
    return {"severity": severity, "kind": kind, "cluster": cluster, "user": user, "subject": subject,
            "message": message}


def user_cluster(user, cluster, state, not_after, days_left, approval, verified, kubeconfig_message, access):
    return {
        "cluster": cluster,
        "certificate": {"path": "/home/runner/.kube/kubeaccess/%s/%s.crt" % (cluster, user), "state": state,
                        "not_after": not_after, "days_left": days_left, "serial": "4f:1a:09", "groups": ["dev"]},
        "approval": approval,
        "kubeconfig": {"path": "/home/runner/.kube/kubeaccess/%s.kubeconfig" % user,
                       "context": "%s@%s" % (user, cluster), "verified": verified, "message": kubeconfig_message},
        "access": access,
    }


def sample_report():
    """A report as playbooks/audit.yml writes it (docs/audit-report.schema.json)."""
    grants = [
        grant("User", "rahul", "cluster-wide", "ClusterRole", "cluster-admin", "ClusterRoleBinding", "debug-admin",
              listed=False, managed=False),
        grant("Group", "dev", "dev", "ClusterRole", "edit", "RoleBinding", "dev/kubeaccess-dev-edit", listed=True),
        grant("Group", "ops", "cluster-wide", "ClusterRole", "view", "ClusterRoleBinding", "kubeaccess-ops-view",
              listed=True),
        grant("User", "seema", "ops", "Role", "deployer", "RoleBinding", "ops/kubeaccess-seema-deployer",
              listed=True),
        grant("User", SCRIPT_NAME, "dev", "Role", "pod-reader", "RoleBinding", "dev/pod-reader", listed=False,
              inventory_subject=False, managed=False),
    ]
    rows = [
        drift("critical", "unlisted_grant", "local", UNLISTED_MESSAGE, user="rahul", subject="User rahul"),
        drift("critical", "certificate_expired", "local", "seema's certificate expired at 2025-05-20T09:00:00Z",
              user="seema"),
        drift("critical", "cluster_unreachable", "prod", PROD_ERROR),
        drift("warning", "kubeconfig_failed", "local", "seema's kubeconfig: Unauthorized (certificate has expired)",
              user="seema"),
        drift("warning", "pending_csr", "local", "CSR %s-x7f2 has waited 30.5 hours" % SCRIPT_NAME,
              subject="User " + SCRIPT_NAME),
    ]
    rahul_access = [
        {"scope": "cluster-wide", "api_group": "*", "resource": "*", "verbs": ["*"]},
        {"scope": "dev", "api_group": "", "resource": "pods", "verbs": ["get", "list", "watch"]},
        {"scope": "dev", "api_group": "apps", "resource": "deployments", "verbs": ["create", "delete", "patch"]},
        {"scope": "dev", "api_group": "rbac.authorization.k8s.io", "resource": "roles",
         "verbs": ["bind", "escalate", "get"]},
    ]
    seema_access = [{"scope": "ops", "api_group": "apps", "resource": "deployments",
                     "verbs": ["get", "list", "update"]}]
    users = [
        {"user": "rahul", "host": "rahul", "groups": ["dev"], "clusters": [
            user_cluster("rahul", "local", "valid", "2025-06-30T12:00:00Z", 29.0,
                         {"csr": "kubeaccess-rahul-1a2b", "reason": "KubeaccessPolicy",
                          "message": "approved by kubeaccess.x509 policy"},
                         True, "whoami: rahul, groups dev", rahul_access)]},
        {"user": "seema", "host": "seema", "groups": ["ops"], "clusters": [
            user_cluster("seema", "local", "expired", "2025-05-20T09:00:00Z", -12.1,
                         {"csr": None, "reason": None, "message": "CSR already garbage-collected"},
                         False, "Unauthorized (certificate has expired)", seema_access),
            user_cluster("seema", "prod", "valid", "2025-07-01T00:00:00Z", 29.5,
                         {"csr": None, "reason": None, "message": "cluster unreachable"},
                         None, "cluster unreachable", [])]},
    ]
    return {
        "schema_version": 1,
        "generated_at": "2025-06-01T12:00:00Z",
        "inventory": "example",
        "summary": {"clusters": 2, "clusters_unreachable": 1, "users": 2, "grants": len(grants), "drift": len(rows),
                    "drift_by_kind": {"unlisted_grant": 1, "certificate_expired": 1, "cluster_unreachable": 1,
                                      "kubeconfig_failed": 1, "pending_csr": 1}},
        "drift": rows,
        "clusters": [
            {"name": "local", "reachable": True, "error": None, "grants": grants, "pending_csrs": [
                {"name": SCRIPT_NAME + "-x7f2", "user": SCRIPT_NAME, "groups": ["system:authenticated"],
                 "created": "2025-05-31T05:30:00Z", "age_hours": 30.5}]},
            {"name": "prod", "reachable": False, "error": PROD_ERROR, "grants": [], "pending_csrs": []},
        ],
        "users": users,
    }


@pytest.fixture(name="report")
def report_fixture():
    report = sample_report()
    with open(SCHEMA, encoding="utf-8") as schema_file:
        schema = json.load(schema_file)
    errors = sorted(Draft202012Validator(schema).iter_errors(report), key=str)
    assert not errors, "the sample does not match the schema: %s" % [error.message for error in errors]
    return report


class Page(HTMLParser):
    """The parts of a page the tests look at: elements by id, table rows, attributes, style and script text."""

    def __init__(self, page):
        super().__init__(convert_charrefs=True)
        self.ids = {}
        self.tables = {}  # id or first class of a table -> list of rows: (tr attributes, [cell text])
        self.order = []  # ids in document order
        self.attributes = []
        self.scripts = 0
        self.style = ""
        self._table = None
        self._row = None
        self._cell = None
        self._in_style = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.attributes += [(tag, name, value) for name, value in attrs.items()]
        if "id" in attrs:
            assert attrs["id"] not in self.ids, "duplicate id %s" % attrs["id"]
            self.ids[attrs["id"]] = (tag, attrs)
            self.order.append(attrs["id"])
        if tag == "script":
            self.scripts += 1
        elif tag == "style":
            self._in_style = True
        elif tag == "table":
            self._table = attrs.get("id") or (attrs.get("class") or "").split()[0]
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None:
            self._row = (attrs, [])
        elif tag in ("td", "th") and self._row is not None:
            self._cell = [attrs, ""]

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False
        elif tag in ("td", "th") and self._cell is not None:
            self._row[1].append(self._cell[1].strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._in_style:
            self.style += data
        if self._cell is not None:
            self._cell[1] += data


def matrices(page_html, user):
    """{(scope, api_group, resource): {verb: ticked}, and "other": text} of one user's section."""
    section = page_html.split('<section id="user-%s"' % user, 1)[1].split("</section>", 1)[0]
    page = Page("<div " + section + "</div>")
    rows = [row[1] for row in page.tables["matrix"]]  # of every cluster's matrix of the user
    header = rows[0]
    found = {}
    for cells in (cells for cells in rows if cells != header):
        row = dict(zip(header, cells))
        found[(row["Scope"], row["API group"], row["Resource"])] = dict(
            {verb: row[verb] == audit_render.CHECK for verb in audit_render.MATRIX_VERBS}, other=row["other"])
    return found


def columns_of(header, line):
    """The cells of a line of a text table, cut where the header's columns start."""
    starts = [match.start() for match in re.finditer(r"(?<!\S)\S", header) if match.start() == 0
              or header[match.start() - 2:match.start()] == "  "]
    return [line[start:end].strip() for start, end in zip(starts, starts[1:] + [None])]


# --- text ----------------------------------------------------------------------------------------------------------

def test_text_starts_with_the_summary_then_the_drift_before_any_grant(report):
    text = audit_render.text_report(report)
    lines = text.splitlines()
    assert lines[0] == ("Audit of example at 2025-06-01T12:00:00Z: 2 clusters (1 unreachable), 2 users, 5 grants, "
                        "5 drift (certificate_expired 1, cluster_unreachable 1, kubeconfig_failed 1, "
                        "pending_csr 1, unlisted_grant 1)")
    assert lines[2] == "DRIFT (5)"
    assert lines[3].split() == ["SEVERITY", "KIND", "CLUSTER", "USER/SUBJECT", "MESSAGE"]
    assert lines[4].split()[:4] == ["critical", "unlisted_grant", "local", "rahul"]
    assert lines[4].endswith(UNLISTED_MESSAGE)
    drift_end = lines.index("CLUSTER local: 5 grants")
    assert [line.split()[0] for line in lines[4:drift_end] if line] == ["critical"] * 3 + ["warning"] * 2
    assert text.index("DRIFT") < text.index("SUBJECT") < text.index("CERTIFICATES")


def test_text_sorts_critical_first_even_when_the_report_does_not(report):
    report["drift"].reverse()
    lines = audit_render.text_report(report).splitlines()
    assert lines[4].split()[0] == "critical"
    assert lines[8].split()[0] == "warning"


def test_text_says_no_drift(report):
    report["drift"] = []
    lines = audit_render.text_report(report).splitlines()
    assert lines[2] == "No drift."


def test_text_grants_table_shows_what_rbac_lookup_wide_does_and_the_inventory_and_certificate(report):
    lines = audit_render.text_report(report).splitlines()
    header_at = lines.index("CLUSTER local: 5 grants") + 1
    header = lines[header_at]
    columns = ["SUBJECT", "SCOPE", "ROLE", "SOURCE", "MANAGED BY", "INVENTORY", "NOT AFTER", "DAYS LEFT",
               "APPROVED", "KUBECONFIG"]
    assert re.split(r"\s{2,}", header.strip()) == columns
    rows = {row[0]: row for row in (columns_of(header, line) for line in lines[header_at + 1:header_at + 6])}
    assert rows["User rahul"] == ["User rahul", "cluster-wide", "ClusterRole/cluster-admin",
                                  "ClusterRoleBinding/debug-admin", "-", "NOT LISTED", "2025-06-30T12:00:00Z", "29",
                                  "KubeaccessPolicy", "verified"]
    assert rows["User seema"] == ["User seema", "ops", "Role/deployer", "RoleBinding/ops/kubeaccess-seema-deployer",
                                  "kubeaccess.x509", "listed", "2025-05-20T09:00:00Z", "-12.1",
                                  "CSR already garbage-collected", "FAILED"]
    assert rows["Group dev"][5:] == ["listed", "-", "-", "-", "-"]
    assert rows["User " + SCRIPT_NAME][5:] == ["-", "-", "-", "-", "-"]


def test_text_names_the_unreachable_cluster_with_its_error(report):
    lines = audit_render.text_report(report).splitlines()
    assert "CLUSTER prod: UNREACHABLE: " + PROD_ERROR in lines


def test_text_certificate_table_has_every_user_and_cluster(report):
    lines = audit_render.text_report(report).splitlines()
    at = lines.index("CERTIFICATES")
    assert lines[at + 1].split() == ["USER", "CLUSTER", "STATE", "NOT", "AFTER", "DAYS", "LEFT", "APPROVAL",
                                     "KUBECONFIG"]
    rows = [columns_of(lines[at + 1], line) for line in lines[at + 2:]]
    assert rows == [
        ["rahul", "local", "valid", "2025-06-30T12:00:00Z", "29",
         "KubeaccessPolicy: approved by kubeaccess.x509 policy", "verified"],
        ["seema", "local", "expired", "2025-05-20T09:00:00Z", "-12.1", "CSR already garbage-collected",
         "FAILED: Unauthorized (certificate has expired)"],
        ["seema", "prod", "valid", "2025-07-01T00:00:00Z", "29.5", "cluster unreachable",
         "not checked: cluster unreachable"]]


def test_text_shows_control_characters_instead_of_sending_them(report):
    report["clusters"][0]["grants"][4]["subject"] = "evil\x1b[2J\nname"
    text = audit_render.text_report(report)
    assert "\x1b" not in text
    assert "User evil\\x1b[2J\\x0aname" in text


# --- HTML ----------------------------------------------------------------------------------------------------------

def test_html_sections_in_order_and_drift_rows_worst_first(report):
    page_html = audit_render.html_page(report)
    page = Page(page_html)
    assert page_html.startswith("<!DOCTYPE html>")
    assert page.order.index("summary") < page.order.index("drift") < page.order.index("grants-local")
    assert page.order.index("grants-local") < page.order.index("user-rahul") < page.order.index("user-seema")
    assert page_html.index('id="drift"') < page_html.index('class="grants"')
    rows = [row for row in page.tables["drift"] if "drift" in (row[0].get("class") or "")]
    assert [row[0]["class"] for row in rows] == ["drift drift-critical"] * 3 + ["drift drift-warning"] * 2
    assert [row[0]["data-kind"] for row in rows] == [
        "unlisted_grant", "certificate_expired", "cluster_unreachable", "kubeconfig_failed", "pending_csr"]
    assert rows[0][1] == ["critical", "unlisted_grant", "local", "rahul", "User rahul", UNLISTED_MESSAGE]
    assert "no-drift" not in page.ids


def test_html_says_no_drift(report):
    report["drift"] = []
    page = Page(audit_render.html_page(report))
    assert page.ids["no-drift"][0] == "p"
    assert "drift" not in page.ids


def test_html_summary_and_unreachable_cluster(report):
    page_html = audit_render.html_page(report)
    assert "Inventory <code>example</code>, generated at 2025-06-01T12:00:00Z" in page_html
    assert "2 clusters (1 unreachable), 2 users, 5 grants, 5 drift" in page_html
    section = page_html.split('<section id="cluster-prod"', 1)[1].split("</section>", 1)[0]
    assert '<p class="unreachable">Unreachable: Get &quot;https://prod.example.com:6443/version&quot;' in section
    assert "grants-prod" not in page_html


def test_html_grants_highlight_unlisted_grants_to_inventory_subjects(report):
    page = Page(audit_render.html_page(report))
    rows = {cells[0]: (attrs, cells) for attrs, cells in page.tables["grants-local"] if cells[0] != "Subject"}
    assert rows["User rahul"] == ({"class": "unlisted"}, [
        "User rahul", "cluster-wide", "ClusterRole/cluster-admin", "ClusterRoleBinding debug-admin", "-", "-",
        "NOT LISTED"])
    assert rows["User seema"][0] == {}
    assert rows["User seema"][1][-1] == "listed"
    # Not an inventory subject: nothing the inventory should list, so not highlighted.
    assert rows["User " + SCRIPT_NAME] == ({}, ["User " + SCRIPT_NAME, "dev", "Role/pod-reader",
                                                "RoleBinding dev/pod-reader", "-", "-", "-"])


def test_html_escapes_every_string_of_the_report(report):
    report["inventory"] = "ex<b>ample"
    report["users"][0]["user"] = "rahul<i>"
    page_html = audit_render.html_page(report)
    page = Page(page_html)
    assert page.scripts == 0
    assert "<script" not in page_html.lower()
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in page_html
    assert "<b>" not in page_html and "<i>" not in page_html
    assert "ex&lt;b&gt;ample" in page_html
    # The id is made HTML-safe; the name itself is shown escaped.
    assert page.ids["user-rahul-i-"][0] == "section"
    assert "User <code>rahul&lt;i&gt;</code>" in page_html
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", id_) for id_ in page.ids)


def test_html_ids_stay_unique_when_names_differ_only_in_unsafe_characters(report):
    second = copy.deepcopy(report["clusters"][0])
    report["clusters"][0]["name"] = "a.b"
    second["name"] = "a-b"
    report["clusters"].insert(1, second)
    page_html = audit_render.html_page(report)
    page = Page(page_html)  # fails on a duplicate id
    assert {"grants-a-b", "grants-a-b-2"} <= set(page.ids)
    assert page_html.index('id="grants-a-b"') < page_html.index("<code>a-b</code>") < page_html.index(
        'id="grants-a-b-2"')


def test_html_is_self_contained(report):
    page_html = audit_render.html_page(report)
    page = Page(page_html)
    for tag, name, value in page.attributes:
        if name in ("src", "href", "action", "srcset", "poster", "data", "background"):
            raise AssertionError("<%s %s=%r>: the page must load nothing" % (tag, name, value))
        assert "//" not in (value or ""), (tag, name, value)
    assert page.style.strip()
    assert "@import" not in page.style and "url(" not in page.style and "//" not in page.style
    # The only URL on the page is the unreachable cluster's error, shown as text.
    assert page_html.count("https://") == 2  # the drift row and the cluster's section
    report["clusters"][1]["error"] = report["drift"][2]["message"] = "dial tcp 10.0.0.9:6443: connection refused"
    page_html = audit_render.html_page(report)
    assert "http://" not in page_html and "https://" not in page_html


def test_html_access_matrix_ticks_the_granted_verbs(report):
    rahul = matrices(audit_render.html_page(report), "rahul")
    assert list(rahul) == [("cluster-wide", "*", "*"), ("dev", "(core)", "pods"), ("dev", "apps", "deployments"),
                           ("dev", "rbac.authorization.k8s.io", "roles")]
    everything = rahul[("cluster-wide", "*", "*")]
    assert all(everything[verb] for verb in audit_render.MATRIX_VERBS)
    assert everything["other"] == "*"
    pods = rahul[("dev", "(core)", "pods")]
    assert [verb for verb in audit_render.MATRIX_VERBS if pods[verb]] == ["get", "list", "watch"]
    assert pods["other"] == ""
    deployments = rahul[("dev", "apps", "deployments")]
    assert [verb for verb in audit_render.MATRIX_VERBS if deployments[verb]] == ["create", "patch", "delete"]
    roles = rahul[("dev", "rbac.authorization.k8s.io", "roles")]
    assert [verb for verb in audit_render.MATRIX_VERBS if roles[verb]] == ["get"]
    assert roles["other"] == "bind, escalate"


def test_html_access_matrix_merges_rows_of_one_resource(report):
    report["users"][0]["clusters"][0]["access"].append(
        {"scope": "dev", "api_group": "", "resource": "pods", "verbs": ["delete", "impersonate"]})
    pods = matrices(audit_render.html_page(report), "rahul")[("dev", "(core)", "pods")]
    assert [verb for verb in audit_render.MATRIX_VERBS if pods[verb]] == ["get", "list", "watch", "delete"]
    assert pods["other"] == "impersonate"


def test_html_user_facts(report):
    page_html = audit_render.html_page(report)
    seema = page_html.split('<section id="user-seema"', 1)[1].split("</section>", 1)[0]
    assert "expired, not after 2025-05-20T09:00:00Z (-12.1 days left)" in seema
    assert "CSR already garbage-collected (CSR <code>-</code>)" in seema
    assert '<span class="failed">FAILED: Unauthorized (certificate has expired)</span>' in seema
    assert '<p class="no-access">No access granted.</p>' in seema  # on prod


# --- in a browser --------------------------------------------------------------------------------------------------

@pytest.fixture(name="page_path")
def page_path_fixture(report, tmp_path):
    path = tmp_path / "audit.html"
    path.write_text(audit_render.html_page(report), encoding="utf-8")
    return path


def test_chromium_renders_the_drift_table_first_with_the_critical_row_on_top(page_path):
    dom, log = render_dom_and_log(page_path, tmp_path=page_path.parent)
    page = Page(dom)
    assert page.order.index("drift") < page.order.index("grants-local")
    first = [row for row in page.tables["drift"] if "drift" in (row[0].get("class") or "")][0]
    assert first[0]["class"] == "drift drift-critical"
    assert first[0]["data-kind"] == "unlisted_grant"
    assert first[1][:2] == ["critical", "unlisted_grant"]
    # The escaped script stayed text: no script element in the DOM, and the name is on the page.
    assert page.scripts == 0
    assert "User " + SCRIPT_NAME.replace("<", "&lt;").replace(">", "&gt;") in dom
    assert "net::" not in log


def test_chromium_makes_no_network_request_for_the_page(page_path):
    dom, requests = network_requests(page_path)
    assert 'id="drift"' in dom
    assert requests == [], "the page made requests: %s" % requests


def test_the_network_check_sees_a_request_when_a_page_makes_one(tmp_path):
    """The check above is worth something only if it catches a page that does load something."""
    path = tmp_path / "loads.html"
    path.write_text('<!DOCTYPE html><html><head><link rel="stylesheet" href="http://198.51.100.7/x.css"></head>'
                    '<body><img src="https://example.invalid/x.png"></body></html>', encoding="utf-8")
    requests = network_requests(path)[1]
    assert "http://198.51.100.7/x.css" in requests
    assert "https://example.invalid/x.png" in requests


def test_chromium_screenshot(page_path, tmp_path):
    png = tmp_path / "audit.png"
    screenshot(page_path, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10000
    assert "<table" in render_dom(page_path)


def test_without_chromium_the_browser_tests_fail_saying_how_to_install_it(page_path, monkeypatch):
    monkeypatch.setattr(browser, "CHROMIUM", str(page_path.parent / "no-chromium"))
    monkeypatch.setenv("PATH", str(page_path.parent))
    with pytest.raises(browser.ChromiumMissing, match=re.escape("apt-get install -y chromium")):
        render_dom(page_path)
