# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit report (docs/audit-report.schema.json) as terminal text and as one self-contained HTML page.

Both show the drift first, then each cluster's grants (every User and Group subject of every binding, in the
spirit of `rbac-lookup -o wide`), then each inventory user's certificates. The page also has an access matrix per
user and cluster, in the spirit of rakkess. Every string of the report comes from a cluster or an inventory and is
treated as untrusted: escaped in HTML, control characters made visible in text.
"""

from __future__ import annotations

import html
import re

MATRIX_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
SEVERITY_ORDER = {"critical": 0, "warning": 1}
GC_MESSAGE = "CSR already garbage-collected"
CHECK = "\u2713"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.2rem; margin-top: 2rem; } h3 { font-size: 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
tr.drift-critical td { background: #fbd5d5; }
tr.drift-warning td { background: #fff1c2; }
tr.unlisted td { background: #fbd5d5; font-weight: bold; }
table.matrix td.verb { text-align: center; min-width: 2.5rem; }
table.matrix td.yes { background: #d7f2d7; }
.unreachable, .failed { color: #a00000; font-weight: bold; }
#no-drift { color: #006000; font-weight: bold; }
code { font-family: ui-monospace, monospace; }
"""


# --- values shared by both outputs -------------------------------------------------------------------------------

def _sorted_drift(report):
    """The drift rows, critical first; stable, so the playbook's order within a severity is kept."""
    return sorted(report.get("drift") or [], key=lambda row: SEVERITY_ORDER.get(row.get("severity"), 2))


def _user_clusters(report):
    """{(user, cluster): the user's entry for that cluster}, to put certificate facts next to grants."""
    found = {}
    for user in report.get("users") or []:
        for entry in user.get("clusters") or []:
            found[(user.get("user"), entry.get("cluster"))] = entry
    return found


def _days(value):
    if value is None:
        return "-"
    if float(value).is_integer():
        return str(int(value))
    return "%.1f" % value


def _listed(grant):
    if not grant.get("inventory_subject"):
        return "-"
    return "listed" if grant.get("listed") else "NOT LISTED"


def _approval(approval, short=False):
    """The approval's reason, or why it is not known (the message, e.g. the CSR was garbage-collected)."""
    reason = approval.get("reason")
    message = approval.get("message") or ""
    if not reason:
        return message or "-"
    if short or not message:
        return reason
    return "%s: %s" % (reason, message)


def _kubeconfig(kubeconfig, short=False):
    verified = kubeconfig.get("verified")
    word = "verified" if verified is True else "FAILED" if verified is False else "not checked"
    message = kubeconfig.get("message") or ""
    if short or verified is True or not message:
        return word
    return "%s: %s" % (word, message)


def _summary_line(report):
    summary = report.get("summary") or {}
    by_kind = summary.get("drift_by_kind") or {}
    kinds = ", ".join("%s %s" % (kind, by_kind[kind]) for kind in sorted(by_kind))
    return "%s clusters (%s unreachable), %s users, %s grants, %s drift%s" % (
        summary.get("clusters", 0), summary.get("clusters_unreachable", 0), summary.get("users", 0),
        summary.get("grants", 0), summary.get("drift", 0), " (%s)" % kinds if kinds else "")


# --- text ----------------------------------------------------------------------------------------------------------

def _cell(value):
    """One table cell: None is "-", and control characters (a name could hold an escape sequence) are shown as
    escapes rather than sent to the terminal."""
    if value is None:
        return "-"
    return _CONTROL.sub(lambda match: "\\x%02x" % ord(match.group()), str(value))


def _table(headers, rows, indent="  "):
    rows = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(str(column)) for column in columns) for columns in zip(headers, *rows)]
    lines = []
    for row in [list(headers)] + rows:
        lines.append((indent + "  ".join(value.ljust(width) for value, width in zip(row, widths))).rstrip())
    return lines


def _grant_row(grant, cluster, user_clusters):
    row = ["%s %s" % (grant.get("subject_kind"), grant.get("subject")), grant.get("scope"),
           "%s/%s" % (grant.get("role_kind"), grant.get("role")),
           "%s/%s" % (grant.get("binding_kind"), grant.get("binding")), grant.get("managed_by"), _listed(grant)]
    entry = None
    if grant.get("inventory_subject") and grant.get("subject_kind") == "User":
        entry = user_clusters.get((grant.get("subject"), cluster))
    if entry is None:
        return row + ["-", "-", "-", "-"]
    certificate = entry.get("certificate") or {}
    return row + [certificate.get("not_after"), _days(certificate.get("days_left")),
                  _approval(entry.get("approval") or {}, short=True),
                  _kubeconfig(entry.get("kubeconfig") or {}, short=True)]


def text_report(report):
    """What the terminal shows: the summary, the drift, each cluster's grants, then each user's certificates."""
    lines = ["Audit of %s at %s: %s" % (_cell(report.get("inventory")), _cell(report.get("generated_at")),
                                        _summary_line(report)), ""]
    drift = _sorted_drift(report)
    if drift:
        lines.append("DRIFT (%d)" % len(drift))
        lines += _table(("SEVERITY", "KIND", "CLUSTER", "USER/SUBJECT", "MESSAGE"), [
            (row.get("severity"), row.get("kind"), row.get("cluster"), row.get("user") or row.get("subject"),
             row.get("message")) for row in drift])
    else:
        lines.append("No drift.")

    user_clusters = _user_clusters(report)
    for cluster in report.get("clusters") or []:
        name = cluster.get("name")
        lines.append("")
        if not cluster.get("reachable"):
            lines.append("CLUSTER %s: UNREACHABLE: %s" % (_cell(name), _cell(cluster.get("error"))))
            continue
        grants = cluster.get("grants") or []
        lines.append("CLUSTER %s: %d grants" % (_cell(name), len(grants)))
        if grants:
            lines += _table(("SUBJECT", "SCOPE", "ROLE", "SOURCE", "MANAGED BY", "INVENTORY", "NOT AFTER",
                             "DAYS LEFT", "APPROVED", "KUBECONFIG"),
                            [_grant_row(grant, name, user_clusters) for grant in grants])
        pending = cluster.get("pending_csrs") or []
        if pending:
            lines.append("  Pending CSRs:")
            lines += _table(("CSR", "USER", "GROUPS", "CREATED", "AGE (HOURS)"), [
                (csr.get("name"), csr.get("user"), ",".join(csr.get("groups") or []) or "-", csr.get("created"),
                 "%.1f" % (csr.get("age_hours") or 0)) for csr in pending], indent="    ")

    rows = []
    for user in report.get("users") or []:
        for entry in user.get("clusters") or []:
            certificate = entry.get("certificate") or {}
            rows.append((user.get("user"), entry.get("cluster"), certificate.get("state"),
                         certificate.get("not_after"), _days(certificate.get("days_left")),
                         _approval(entry.get("approval") or {}), _kubeconfig(entry.get("kubeconfig") or {})))
    lines.append("")
    if rows:
        lines.append("CERTIFICATES")
        lines += _table(("USER", "CLUSTER", "STATE", "NOT AFTER", "DAYS LEFT", "APPROVAL", "KUBECONFIG"), rows)
    else:
        lines.append("No inventory users.")
    return "\n".join(lines) + "\n"


# --- HTML ----------------------------------------------------------------------------------------------------------

def _esc(value):
    return html.escape("-" if value is None else str(value), quote=True)


class _Ids:
    """HTML-safe ids, unique on the page: two names that differ only in unsafe characters get -2, -3..."""

    def __init__(self):
        self.used = set()

    def make(self, prefix, name):
        base = prefix + _ID_UNSAFE.sub("-", str(name))
        candidate, number = base, 1
        while candidate in self.used:
            number += 1
            candidate = "%s-%d" % (base, number)
        self.used.add(candidate)
        return candidate


def _html_table(headers, rows, attributes=""):
    """rows: (tr attributes, cells); a cell is already escaped HTML, or (td attributes, escaped HTML)."""
    out = ["<table%s>" % attributes, "<thead><tr>%s</tr></thead>" % "".join(
        "<th>%s</th>" % _esc(header) for header in headers), "<tbody>"]
    for row_attributes, cells in rows:
        out.append("<tr%s>%s</tr>" % (row_attributes, "".join(
            "<td%s>%s</td>" % cell if isinstance(cell, tuple) else "<td>%s</td>" % cell for cell in cells)))
    out += ["</tbody>", "</table>"]
    return out


def _drift_html(report):
    drift = _sorted_drift(report)
    out = ['<section id="drift-section">', "<h2>Drift</h2>"]
    if not drift:
        return out + ['<p id="no-drift">No drift.</p>', "</section>"]
    rows = []
    for row in drift:
        severity = _ID_UNSAFE.sub("-", str(row.get("severity")))
        rows.append((' class="drift drift-%s" data-kind="%s"' % (severity, _esc(row.get("kind"))),
                     [_esc(row.get(key)) for key in ("severity", "kind", "cluster", "user", "subject", "message")]))
    return out + _html_table(("Severity", "Kind", "Cluster", "User", "Subject", "Message"), rows,
                             ' id="drift"') + ["</section>"]


def _cluster_html(cluster, ids):
    name = cluster.get("name")
    out = ['<section id="%s" class="cluster">' % ids.make("cluster-", name),
           "<h2>Cluster <code>%s</code></h2>" % _esc(name)]
    if not cluster.get("reachable"):
        return out + ['<p class="unreachable">Unreachable: %s</p>' % _esc(cluster.get("error")), "</section>"]
    rows = []
    for grant in cluster.get("grants") or []:
        unlisted = grant.get("inventory_subject") and not grant.get("listed")
        rows.append((' class="unlisted"' if unlisted else "", [
            "%s <code>%s</code>" % (_esc(grant.get("subject_kind")), _esc(grant.get("subject"))),
            _esc(grant.get("scope")), "%s/<code>%s</code>" % (_esc(grant.get("role_kind")), _esc(grant.get("role"))),
            "%s <code>%s</code>" % (_esc(grant.get("binding_kind")), _esc(grant.get("binding"))),
            _esc(grant.get("managed_by")), _esc(grant.get("inventory")), _esc(_listed(grant))]))
    out += _html_table(("Subject", "Scope", "Role", "Source", "Managed by", "Inventory label", "In inventory"),
                       rows, ' id="%s" class="grants"' % ids.make("grants-", name))
    pending = cluster.get("pending_csrs") or []
    if pending:
        out.append("<h3>Pending CSRs</h3>")
        out += _html_table(("CSR", "User", "Groups", "Created", "Age (hours)"), [("", [
            _esc(csr.get("name")), _esc(csr.get("user")), _esc(", ".join(csr.get("groups") or []) or "-"),
            _esc(csr.get("created")), _esc("%.1f" % (csr.get("age_hours") or 0))]) for csr in pending],
            ' class="pending-csrs"')
    return out + ["</section>"]


def _matrix_rows(access):
    """{(scope, api_group, resource): verbs}, rows of the same key merged (a resource granted by two roles)."""
    merged = {}
    for row in access or []:
        key = (row.get("scope"), row.get("api_group"), row.get("resource"))
        merged.setdefault(key, set()).update(row.get("verbs") or [])
    return merged


def _matrix_html(access):
    rows = []
    for (scope, api_group, resource), verbs in sorted(_matrix_rows(access).items(),
                                                      key=lambda item: tuple(str(part) for part in item[0])):
        every = "*" in verbs
        cells = [_esc(scope), _esc("(core)" if api_group == "" else api_group), "<code>%s</code>" % _esc(resource)]
        for verb in MATRIX_VERBS:
            granted = every or verb in verbs
            cells.append((' class="verb %s" data-verb="%s"' % ("yes" if granted else "no", verb),
                          CHECK if granted else ""))
        other = sorted(verb for verb in verbs if verb not in MATRIX_VERBS)
        cells.append(_esc(", ".join(other)))
        rows.append(("", cells))
    return _html_table(("Scope", "API group", "Resource") + MATRIX_VERBS + ("other",), rows, ' class="matrix"')


def _user_html(user, ids):
    name = user.get("user")
    out = ['<section id="%s" class="user">' % ids.make("user-", name), "<h2>User <code>%s</code></h2>" % _esc(name),
           "<p>Host <code>%s</code>, groups: %s</p>" % (
               _esc(user.get("host")), _esc(", ".join(user.get("groups") or []) or "none"))]
    for entry in user.get("clusters") or []:
        certificate = entry.get("certificate") or {}
        approval = entry.get("approval") or {}
        kubeconfig = entry.get("kubeconfig") or {}
        failed = ' class="failed"' if kubeconfig.get("verified") is False else ""
        out.append("<h3>On cluster <code>%s</code></h3>" % _esc(entry.get("cluster")))
        facts = [
            ("Certificate", "%s, not after %s (%s days left), serial %s, groups %s, <code>%s</code>" % (
                _esc(certificate.get("state")), _esc(certificate.get("not_after")),
                _esc(_days(certificate.get("days_left"))), _esc(certificate.get("serial")),
                _esc(", ".join(certificate.get("groups") or []) or "none"), _esc(certificate.get("path")))),
            ("Approval", "%s (CSR <code>%s</code>)" % (_esc(_approval(approval)), _esc(approval.get("csr")))),
            ("Kubeconfig", "<span%s>%s</span> (context <code>%s</code>, <code>%s</code>)" % (
                failed, _esc(_kubeconfig(kubeconfig)), _esc(kubeconfig.get("context")), _esc(kubeconfig.get("path")))),
        ]
        out.append('<table class="facts"><tbody>')
        out += ["<tr><th>%s</th><td>%s</td></tr>" % (_esc(label), value) for label, value in facts]
        out.append("</tbody></table>")
        if entry.get("access"):
            out += _matrix_html(entry.get("access"))
        else:
            out.append('<p class="no-access">No access granted.</p>')
    return out + ["</section>"]


def html_page(report):
    """One self-contained HTML5 page: inline style, no script, nothing fetched from anywhere."""
    title = "kubeaccess.x509 audit: %s" % report.get("inventory")
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           # The page loads nothing: the policy makes a browser refuse any request a future change might add.
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>%s</title>" % _esc(title), "<style>%s</style>" % STYLE, "</head>", "<body>",
           '<header id="summary">', "<h1>%s</h1>" % _esc(title),
           "<p>Inventory <code>%s</code>, generated at %s</p>" % (
               _esc(report.get("inventory")), _esc(report.get("generated_at"))),
           "<p>%s</p>" % _esc(_summary_line(report)), "</header>"]
    out += _drift_html(report)
    ids = _Ids()
    for cluster in report.get("clusters") or []:
        out += _cluster_html(cluster, ids)
    for user in report.get("users") or []:
        out += _user_html(user, ids)
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
