"""The resources this server serves, and the discovery documents built from them."""

import dataclasses

VERSION_INFO = {
    "major": "1",
    "minor": "36",
    "emulationMajor": "1",
    "emulationMinor": "36",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "35",
    "gitVersion": "v1.36.2-kubeaccess-test",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-11-22T00:00:00Z",
    "goVersion": "go1.27.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}

CRUD = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclasses.dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: tuple = tuple(CRUD)
    short_names: tuple = ()
    subresources: tuple = ()  # (name, verbs)
    stored: bool = True  # False for the review kinds, which are computed and never kept

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self):
        return self.kind.lower()

    @property
    def qualified(self):
        """`pods` or `certificatesigningrequests.certificates.k8s.io`, as in the real server's messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES = [
    # The namespace registry has no deletecollection: namespaces go one by one, through Terminating.
    Resource("", "v1", "namespaces", "Namespace", False, verbs=tuple(v for v in CRUD if v != "deletecollection"),
             short_names=("ns",), subresources=(("status", ("get", "patch", "update")),)),
    Resource("", "v1", "pods", "Pod", True, short_names=("po",)),
    Resource("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",)),
    Resource("", "v1", "secrets", "Secret", True),
    Resource("", "v1", "events", "Event", True, short_names=("ev",)),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=("sa",),
             subresources=(("token", ("create",)),)),
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    Resource("certificates.k8s.io", "v1", "certificatesigningrequests", "CertificateSigningRequest", False,
             short_names=("csr",),
             subresources=(("approval", ("get", "patch", "update")), ("status", ("get", "patch", "update")))),
    Resource("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False, verbs=("create",),
             stored=False),
    Resource("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False, verbs=("create",), stored=False),
    Resource("authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", True,
             verbs=("create",), stored=False),
    Resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
             verbs=("create",), stored=False),
    Resource("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False,
             verbs=("create",), stored=False),
    Resource("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False,
             verbs=("create",), stored=False),
]

BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_KIND = {(r.group, r.kind): r for r in RESOURCES}
GROUPS = sorted({r.group for r in RESOURCES if r.group})


def find(group, version, plural):
    return BY_PATH.get((group, version, plural))


def api_versions(server_address):
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(name):
    group_version = {"groupVersion": f"{name}/v1", "version": "v1"}
    return {"name": name, "versions": [group_version], "preferredVersion": group_version}


def api_group_list():
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [api_group(g) for g in GROUPS]}


def resource_list(group, version):
    entries = []
    for res in RESOURCES:
        if res.group != group or res.version != version:
            continue
        entry = {
            "name": res.plural,
            "singularName": res.singular,
            "namespaced": res.namespaced,
            "kind": res.kind,
            "verbs": sorted(res.verbs),
        }
        if res.short_names:
            entry["shortNames"] = list(res.short_names)
        entries.append(entry)
        for sub, verbs in res.subresources:
            if sub == "token":
                entries.append({"name": f"{res.plural}/token", "singularName": "", "namespaced": True,
                                "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest",
                                "verbs": list(verbs)})
            else:
                entries.append({"name": f"{res.plural}/{sub}", "singularName": "", "namespaced": res.namespaced,
                                "kind": res.kind, "verbs": list(verbs)})
    if not entries:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": entries}
