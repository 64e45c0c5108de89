"""RBAC authorization over the stored Roles, ClusterRoles and their bindings (plugin/pkg/auth/authorizer/rbac)."""

import dataclasses
import json
import os

RBAC_GROUP = "rbac.authorization.k8s.io"
SUPERUSER_GROUP = "system:masters"


@dataclasses.dataclass
class UserInfo:
    name: str
    groups: list
    uid: str = ""
    extra: dict = dataclasses.field(default_factory=dict)

    def as_dict(self):
        info = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            info["uid"] = self.uid
        if self.extra:
            info["extra"] = self.extra
        return info


@dataclasses.dataclass
class Attributes:
    """What a request asks to do, as in authorizer.AttributesRecord."""

    user: UserInfo
    verb: str
    resource_request: bool = True
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def combined_resource(self):
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _matches(values, wanted):
    return "*" in values or wanted in values


def _resource_matches(resources, combined, subresource):
    for res in resources:
        if res in ("*", combined):
            return True
        if subresource and res == "*/" + subresource:
            return True
    return False


def _nonresource_matches(urls, path):
    for url in urls:
        if url in ("*", path) or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(rule, attrs):
    if not _matches(rule.get("verbs", []), attrs.verb):
        return False
    if not attrs.resource_request:
        return _nonresource_matches(rule.get("nonResourceURLs", []), attrs.path)
    if not _matches(rule.get("apiGroups", []), attrs.group):
        return False
    if not _resource_matches(rule.get("resources", []), attrs.combined_resource, attrs.subresource):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def subject_matches(subject, user, binding_namespace):
    kind = subject.get("kind")
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.name == f"system:serviceaccount:{namespace}:{subject.get('name')}"
    return False


class Authorizer:
    def __init__(self, store):
        self.store = store

    def _role_rules(self, role_ref, namespace):
        if role_ref.get("kind") == "ClusterRole":
            role = self.store.get("clusterroles", "", role_ref.get("name"))
        else:
            role = self.store.get("roles", namespace, role_ref.get("name"))
        return (role or {}).get("rules") or []

    def rules_for(self, user, namespace):
        """Every rule that applies to `user` in `namespace` (cluster-wide rules included)."""
        rules = []
        for binding in self.store.list("clusterrolebindings")[0]:
            if any(subject_matches(s, user, "") for s in binding.get("subjects") or []):
                rules.extend(self._role_rules(binding["roleRef"], ""))
        if namespace:
            for binding in self.store.list("rolebindings", namespace)[0]:
                if any(subject_matches(s, user, namespace) for s in binding.get("subjects") or []):
                    rules.extend(self._role_rules(binding["roleRef"], namespace))
        return rules

    def allowed(self, attrs):
        if SUPERUSER_GROUP in attrs.user.groups:
            return True
        return any(rule_allows(rule, attrs) for rule in self.rules_for(attrs.user, attrs.namespace))

    def covers(self, user, namespace, wanted_rules):
        """The rules of `wanted_rules` that `user` does not hold (escalation check); empty when all are held."""
        if SUPERUSER_GROUP in user.groups:
            return []
        held = self.rules_for(user, namespace)
        missing = []
        for rule in wanted_rules:
            for attrs in _expand(rule, user, namespace):
                if not any(rule_allows(h, attrs) for h in held):
                    missing.append(rule)
                    break
        return missing


def _expand(rule, user, namespace):
    """One attribute record per (verb, group, resource, name) a rule grants, to test that another rule set holds it."""
    if rule.get("nonResourceURLs"):
        for verb in rule.get("verbs", []):
            for url in rule["nonResourceURLs"]:
                yield Attributes(user=user, verb=verb, resource_request=False, path=url)
        return
    for verb in rule.get("verbs", []):
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                res, _sep, sub = resource.partition("/")
                for name in rule.get("resourceNames") or [""]:
                    yield Attributes(user=user, verb=verb, group=group, resource=res, subresource=sub,
                                     namespace=namespace, name=name)


def forbidden_reason(attrs):
    """The real server's wording (endpoints/handlers/responsewriters/errors.go forbiddenMessage)."""
    if not attrs.resource_request:
        return f'User "{attrs.user.name}" cannot {attrs.verb} path "{attrs.path}"'
    scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return (f'User "{attrs.user.name}" cannot {attrs.verb} resource "{attrs.combined_resource}" '
            f'in API group "{attrs.group}" {scope}')


def _rule(groups, resources, verbs, names=None):
    rule = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        rule["resourceNames"] = names
    return rule


# admin, edit, view and cluster-admin exactly as a real 1.36 control plane serves them (the aggregated rules).
RECORDED_ROLES_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures",
                                   "real-apiserver", "bootstrap-clusterroles.json")


def _cluster_role(name, rules, labels=None, aggregation_rule=None):
    role = {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": labels or {"kubernetes.io/bootstrapping": "rbac-defaults"},
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "rules": rules}
    if aggregation_rule:
        role["aggregationRule"] = aggregation_rule
    return role


def _recorded_cluster_roles():
    with open(RECORDED_ROLES_FILE, encoding="utf-8") as handle:
        recorded = json.load(handle)["roles"]
    return [_cluster_role(name, role["rules"], role["labels"], role["aggregationRule"])
            for name, role in recorded.items()]


def _cluster_role_binding(name, role, groups):
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": g} for g in groups]}


def _signer_approver(signer):
    return [_rule(["certificates.k8s.io"], ["signers"], ["approve"], [signer])]


BOOTSTRAP_CLUSTER_ROLES = _recorded_cluster_roles() + [
    _cluster_role("system:basic-user", [
        _rule(["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], ["create"]),
        _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
    ]),
    _cluster_role("system:discovery", [{"nonResourceURLs": [
        "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
        "/version", "/version/"], "verbs": ["get"]}]),
    _cluster_role("system:public-info-viewer", [{"nonResourceURLs": [
        "/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
    _cluster_role("system:certificates.k8s.io:kube-apiserver-client-approver",
                  _signer_approver("kubernetes.io/kube-apiserver-client")),
    _cluster_role("system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
                  _signer_approver("kubernetes.io/kube-apiserver-client-kubelet")),
    _cluster_role("system:certificates.k8s.io:kubelet-serving-approver",
                  _signer_approver("kubernetes.io/kubelet-serving")),
    _cluster_role("system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                  [_rule(["certificates.k8s.io"], ["certificatesigningrequests/nodeclient"], ["create"])]),
    _cluster_role("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
                  [_rule(["certificates.k8s.io"], ["certificatesigningrequests/selfnodeclient"], ["create"])]),
]

BOOTSTRAP_CLUSTER_ROLE_BINDINGS = [
    _cluster_role_binding("cluster-admin", "cluster-admin", [SUPERUSER_GROUP]),
    _cluster_role_binding("system:basic-user", "system:basic-user", ["system:authenticated"]),
    _cluster_role_binding("system:discovery", "system:discovery", ["system:authenticated"]),
    _cluster_role_binding("system:public-info-viewer", "system:public-info-viewer",
                          ["system:authenticated", "system:unauthenticated"]),
]
