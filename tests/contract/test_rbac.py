"""RBAC authorization as kube-apiserver evaluates it: Roles, ClusterRoles and their bindings, the built-in roles,
the wording of a 403, roleRef immutability, escalation prevention and the access review APIs.
"""
# pylint: disable=missing-function-docstring,redefined-outer-name

import secrets

import requests

from tests.contract.support import (RBAC, SAR_PATH, SSAR_PATH, SSR_BODY, SSR_PATH, SSRR_PATH, assert_status, bind,
                                    make_role, rule)
from tests.kube import wait_for

CORE_READ = ["get", "list", "watch"]


def _configmap(admin, cleanup, namespace, name=None, data=None):
    name = name or f"cm-{secrets.token_hex(3)}"
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    admin.json("POST", path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                              "data": data or {"k": "v"}}, expect=201)
    cleanup.add(f"{path}/{name}")
    return name


def _allowed(client, method, path, body=None, expect=(200, 201)):
    """Wait until RBAC lets the request through (a real cluster's authorizer cache lags a little)."""
    return wait_for(lambda: client.request(method, path, body).status_code in expect, timeout=15,
                    what=f"{method} {path} to be allowed")


def _ssar(client, **attributes):
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes}}
    return client.json("POST", SSAR_PATH, body, expect=201)["status"]["allowed"]


# -- bindings and scope -----------------------------------------------------------------------------------------

def test_role_binding_grants_its_verbs_in_its_namespace_only(cluster, make_user, namespace, cleanup):
    dana = make_user("dana")
    role = make_role(cluster.admin, cleanup, [rule([""], ["configmaps"], CORE_READ)], namespace=namespace)
    bind(cluster.admin, cleanup, [("User", dana.name)], role, namespace=namespace, role_kind="Role")
    _allowed(dana.http, "GET", f"/api/v1/namespaces/{namespace}/configmaps")
    response = dana.http.request("GET", "/api/v1/namespaces/default/configmaps")
    body = assert_status(response, 403, "Forbidden",
                         f'configmaps is forbidden: User "{dana.name}" cannot list resource "configmaps" in API group '
                         f'"" in the namespace "default"')
    assert body["details"] == {"kind": "configmaps"}
    response = dana.http.request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                                 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nope"}})
    assert_status(response, 403, "Forbidden",
                  f'configmaps is forbidden: User "{dana.name}" cannot create resource "configmaps" in API group "" '
                  f'in the namespace "{namespace}"')


def test_forbidden_get_of_a_named_object_names_it(make_user):
    erin = make_user("erin")
    response = erin.http.request("GET", "/api/v1/namespaces/kube-system/secrets/some-secret")
    body = assert_status(response, 403, "Forbidden",
                         f'secrets "some-secret" is forbidden: User "{erin.name}" cannot get resource "secrets" in API '
                         f'group "" in the namespace "kube-system"')
    assert body["details"] == {"name": "some-secret", "kind": "secrets"}


def test_forbidden_cluster_scoped_request_says_at_the_cluster_scope(make_user):
    erin = make_user("erin")
    response = erin.http.request("GET", "/api/v1/pods")
    assert_status(response, 403, "Forbidden",
                  f'pods is forbidden: User "{erin.name}" cannot list resource "pods" in API group "" at the cluster '
                  f'scope')
    response = erin.http.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/cluster-admin")
    body = assert_status(response, 403, "Forbidden",
                         f'clusterroles.rbac.authorization.k8s.io "cluster-admin" is forbidden: User "{erin.name}" '
                         f'cannot get resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster '
                         f'scope')
    assert body["details"] == {"name": "cluster-admin", "group": "rbac.authorization.k8s.io", "kind": "clusterroles"}


def test_forbidden_non_resource_request_names_the_path(make_user):
    erin = make_user("erin")
    response = erin.http.request("GET", "/metrics")
    body = assert_status(response, 403, "Forbidden", f'forbidden: User "{erin.name}" cannot get path "/metrics"')
    assert body.get("details", {}) == {}


def test_discovery_is_open_to_every_authenticated_user(make_user):
    erin = make_user("erin")
    for path in ("/api", "/apis", "/api/v1", "/apis/certificates.k8s.io/v1", "/version"):
        assert erin.http.request("GET", path).status_code == 200, path


def test_cluster_role_in_a_role_binding_grants_only_inside_that_namespace(cluster, make_user, namespace, cleanup):
    fay = make_user("fay")
    role = make_role(cluster.admin, cleanup, [rule([""], ["configmaps", "namespaces"], CORE_READ)])
    bind(cluster.admin, cleanup, [("User", fay.name)], role, namespace=namespace)
    _allowed(fay.http, "GET", f"/api/v1/namespaces/{namespace}/configmaps")
    assert_status(fay.http.request("GET", "/api/v1/configmaps"), 403, "Forbidden",
                  f'configmaps is forbidden: User "{fay.name}" cannot list resource "configmaps" in API group "" at '
                  f'the cluster scope')
    # A RoleBinding never grants cluster-scoped resources, even when its ClusterRole names them.
    assert_status(fay.http.request("GET", "/api/v1/namespaces"), 403, "Forbidden",
                  f'namespaces is forbidden: User "{fay.name}" cannot list resource "namespaces" in API group "" at '
                  f'the cluster scope')


def test_cluster_role_binding_grants_everywhere(cluster, make_user, namespace, cleanup):
    gus = make_user("gus")
    role = make_role(cluster.admin, cleanup, [rule([""], ["configmaps", "namespaces"], CORE_READ)])
    bind(cluster.admin, cleanup, [("User", gus.name)], role)
    _allowed(gus.http, "GET", "/api/v1/namespaces")
    assert gus.http.request("GET", "/api/v1/configmaps").status_code == 200
    assert gus.http.request("GET", f"/api/v1/namespaces/{namespace}/configmaps").status_code == 200
    assert gus.http.request("GET", "/api/v1/namespaces/kube-system/configmaps").status_code == 200


def test_group_subject_matches_members_of_the_group(cluster, make_user, namespace, cleanup):
    member = make_user("member", ["readers"])
    outsider = make_user("outsider", ["writers"])
    role = make_role(cluster.admin, cleanup, [rule([""], ["configmaps"], CORE_READ)], namespace=namespace)
    bind(cluster.admin, cleanup, [("Group", member.groups[0])], role, namespace=namespace, role_kind="Role")
    _allowed(member.http, "GET", f"/api/v1/namespaces/{namespace}/configmaps")
    assert_status(outsider.http.request("GET", f"/api/v1/namespaces/{namespace}/configmaps"), 403, "Forbidden")


def test_service_account_subject_matches_its_token(cluster, namespace, cleanup):
    name = f"robot-{secrets.token_hex(3)}"
    cluster.admin.json("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts",
                       {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}, expect=201)
    role = make_role(cluster.admin, cleanup, [rule([""], ["configmaps"], CORE_READ)], namespace=namespace)
    bind(cluster.admin, cleanup, [("ServiceAccount", name, namespace)], role, namespace=namespace, role_kind="Role")
    token = cluster.admin.json("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                               {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
                               expect=201)["status"]["token"]
    session = requests.Session()
    session.trust_env = False
    session.verify = cluster.admin.ca_file
    session.headers["Authorization"] = f"Bearer {token}"
    url = f"{cluster.server}/api/v1/namespaces/{namespace}/configmaps"
    wait_for(lambda: session.get(url, timeout=30).status_code == 200, timeout=15, what="the binding")
    response = session.get(f"{cluster.server}/api/v1/namespaces/default/configmaps", timeout=30)
    assert_status(response, 403, "Forbidden",
                  f'configmaps is forbidden: User "system:serviceaccount:{namespace}:{name}" cannot list resource '
                  f'"configmaps" in API group "" in the namespace "default"')


# -- what a rule matches ----------------------------------------------------------------------------------------

def test_resource_names_limit_a_rule_to_those_objects(cluster, make_user, namespace, cleanup):
    hal = make_user("hal")
    allowed = _configmap(cluster.admin, cleanup, namespace)
    other = _configmap(cluster.admin, cleanup, namespace)
    role = make_role(cluster.admin, cleanup, [rule([""], ["configmaps"], ["get"], [allowed])], namespace=namespace)
    bind(cluster.admin, cleanup, [("User", hal.name)], role, namespace=namespace, role_kind="Role")
    _allowed(hal.http, "GET", f"/api/v1/namespaces/{namespace}/configmaps/{allowed}")
    assert_status(hal.http.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/{other}"), 403, "Forbidden",
                  f'configmaps "{other}" is forbidden: User "{hal.name}" cannot get resource "configmaps" in API '
                  f'group "" in the namespace "{namespace}"')
    # A list names no object, so a rule with resourceNames never allows it.
    assert_status(hal.http.request("GET", f"/api/v1/namespaces/{namespace}/configmaps"), 403, "Forbidden")


def test_api_group_of_a_rule_must_match(cluster, make_user, namespace, cleanup):
    ida = make_user("ida")
    role = make_role(cluster.admin, cleanup, [rule(["apps"], ["configmaps"], CORE_READ)], namespace=namespace)
    bind(cluster.admin, cleanup, [("User", ida.name)], role, namespace=namespace, role_kind="Role")
    assert_status(ida.http.request("GET", f"/api/v1/namespaces/{namespace}/configmaps"), 403, "Forbidden")
    assert not _ssar(ida.http, verb="list", resource="configmaps", namespace=namespace)
    assert _ssar(ida.http, verb="list", group="apps", resource="configmaps", namespace=namespace)


def test_wildcards_match_every_group_resource_and_verb(cluster, make_user, namespace, cleanup):
    jon = make_user("jon")
    role = make_role(cluster.admin, cleanup, [rule(["*"], ["*"], ["*"])], namespace=namespace)
    bind(cluster.admin, cleanup, [("User", jon.name)], role, namespace=namespace, role_kind="Role")
    _allowed(jon.http, "GET", f"/api/v1/namespaces/{namespace}/secrets")
    name = f"cm-{secrets.token_hex(3)}"
    response = jon.http.request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
    assert response.status_code == 201, response.text
    assert jon.http.request("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/{name}").status_code == 200
    assert _ssar(jon.http, verb="approve", group="certificates.k8s.io", resource="signers", namespace=namespace)
    assert_status(jon.http.request("GET", "/api/v1/namespaces/default/secrets"), 403, "Forbidden")


def test_subresource_needs_its_own_rule(cluster, make_user, namespace, cleanup):
    kim = make_user("kim")
    account = f"sa-{secrets.token_hex(3)}"
    cluster.admin.json("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts",
                       {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}}, expect=201)
    token_path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token"
    token_body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    role = make_role(cluster.admin, cleanup, [rule([""], ["serviceaccounts"], ["get", "create"])],
                     namespace=namespace)
    bind(cluster.admin, cleanup, [("User", kim.name)], role, namespace=namespace, role_kind="Role")
    _allowed(kim.http, "GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}")
    response = kim.http.request("POST", token_path, token_body)
    body = assert_status(response, 403, "Forbidden",
                         f'serviceaccounts "{account}" is forbidden: User "{kim.name}" cannot create resource '
                         f'"serviceaccounts/token" in API group "" in the namespace "{namespace}"')
    assert body["details"] == {"name": account, "kind": "serviceaccounts"}
    role2 = make_role(cluster.admin, cleanup, [rule([""], ["serviceaccounts/token"], ["create"])],
                      namespace=namespace)
    bind(cluster.admin, cleanup, [("User", kim.name)], role2, namespace=namespace, role_kind="Role")
    _allowed(kim.http, "POST", token_path, token_body)


def test_star_slash_subresource_matches_that_subresource_of_every_resource(cluster, make_user, cleanup):
    lee = make_user("lee")
    role = make_role(cluster.admin, cleanup, [rule(["certificates.k8s.io"], ["*/approval"], ["update"])])
    bind(cluster.admin, cleanup, [("User", lee.name)], role)
    wait_for(lambda: _ssar(lee.http, verb="update", group="certificates.k8s.io",
                           resource="certificatesigningrequests", subresource="approval"), timeout=15,
             what="the binding")
    assert not _ssar(lee.http, verb="update", group="certificates.k8s.io", resource="certificatesigningrequests")
    assert not _ssar(lee.http, verb="update", group="certificates.k8s.io", resource="certificatesigningrequests",
                     subresource="status")


# -- superusers and built-in roles ------------------------------------------------------------------------------

def test_system_masters_is_allowed_everything_without_any_binding(cluster):
    headers = {"Impersonate-User": cluster.name("root"), "Impersonate-Group": "system:masters"}
    response = cluster.admin.request("GET", "/api/v1/namespaces/kube-system/secrets", headers=headers)
    assert response.status_code == 200, response.text
    response = cluster.admin.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", headers=headers)
    assert response.status_code == 200, response.text


def test_every_authenticated_user_may_review_itself(make_user):
    """system:basic-user, bound to system:authenticated, allows the self reviews."""
    max_ = make_user("max")
    assert max_.http.request("POST", SSR_PATH, SSR_BODY).status_code == 201
    assert _ssar(max_.http, verb="list", resource="secrets", namespace="kube-system") is False
    response = max_.http.request("POST", SSRR_PATH, {"apiVersion": "authorization.k8s.io/v1",
                                                     "kind": "SelfSubjectRulesReview",
                                                     "spec": {"namespace": "default"}})
    assert response.status_code == 201, response.text
    assert_status(max_.http.request("POST", SAR_PATH, _sar_body(max_.name, [], "list", "pods", "default")),
                  403, "Forbidden",
                  f'subjectaccessreviews.authorization.k8s.io is forbidden: User "{max_.name}" cannot create '
                  f'resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope')


def test_view_reads_but_does_not_write_or_see_secrets(cluster, make_user, namespace, cleanup):
    nia = make_user("nia")
    bind(cluster.admin, cleanup, [("User", nia.name)], "view", namespace=namespace)
    _allowed(nia.http, "GET", f"/api/v1/namespaces/{namespace}/configmaps")
    assert nia.http.request("GET", f"/api/v1/namespaces/{namespace}/serviceaccounts").status_code == 200
    assert_status(nia.http.request("GET", f"/api/v1/namespaces/{namespace}/secrets"), 403, "Forbidden",
                  f'secrets is forbidden: User "{nia.name}" cannot list resource "secrets" in API group "" in the '
                  f'namespace "{namespace}"')
    assert_status(nia.http.request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                                   {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
                  403, "Forbidden")


def test_edit_writes_and_reads_secrets_but_cannot_grant(cluster, make_user, namespace, cleanup):
    oli = make_user("oli")
    bind(cluster.admin, cleanup, [("User", oli.name)], "edit", namespace=namespace)
    name = f"cm-{secrets.token_hex(3)}"
    _allowed(oli.http, "POST", f"/api/v1/namespaces/{namespace}/configmaps",
             {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
    assert oli.http.request("GET", f"/api/v1/namespaces/{namespace}/secrets").status_code == 200
    response = oli.http.request("POST", f"{RBAC}/namespaces/{namespace}/rolebindings", _binding("x", "view", []))
    assert_status(response, 403, "Forbidden",
                  f'rolebindings.rbac.authorization.k8s.io is forbidden: User "{oli.name}" cannot create resource '
                  f'"rolebindings" in API group "rbac.authorization.k8s.io" in the namespace "{namespace}"')


def test_admin_of_a_namespace_may_grant_edit_there(cluster, make_user, namespace, cleanup):
    pat = make_user("pat")
    quinn = make_user("quinn")
    bind(cluster.admin, cleanup, [("User", pat.name)], "admin", namespace=namespace)
    path = f"{RBAC}/namespaces/{namespace}/rolebindings"
    body = _binding(f"quinn-edit-{secrets.token_hex(2)}", "edit", [("User", quinn.name)])
    _allowed(pat.http, "POST", path, body, expect=(201,))
    cleanup.add(f"{path}/{body['metadata']['name']}")
    _allowed(quinn.http, "GET", f"/api/v1/namespaces/{namespace}/secrets")


def test_cluster_admin_binding_allows_everything(cluster, make_user, cleanup):
    rae = make_user("rae")
    bind(cluster.admin, cleanup, [("User", rae.name)], "cluster-admin")
    _allowed(rae.http, "GET", "/api/v1/secrets")
    assert rae.http.request("GET", f"{RBAC}/clusterrolebindings").status_code == 200
    assert rae.http.request("GET", "/metrics").status_code != 403


# -- binding rules ----------------------------------------------------------------------------------------------

def _binding(name, role, subjects, kind="ClusterRole"):
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [{"kind": k, "name": n, "apiGroup": "rbac.authorization.k8s.io"} for k, n in subjects]}


def test_role_ref_cannot_change(cluster, namespace, cleanup):
    name = f"rb-{secrets.token_hex(3)}"
    path = bind(cluster.admin, cleanup, [("User", cluster.name("sam"))], "edit", namespace=namespace, name=name)
    current = cluster.admin.json("GET", path, expect=200)
    current["roleRef"]["name"] = "view"
    message = (f'RoleBinding.rbac.authorization.k8s.io "{name}" is invalid: roleRef: Invalid value: '
               '{"APIGroup":"rbac.authorization.k8s.io","Kind":"ClusterRole","Name":"view"}: cannot change roleRef')
    body = assert_status(cluster.admin.request("PUT", path, current), 422, "Invalid", message)
    assert body["details"]["kind"] == "RoleBinding"
    assert body["details"]["group"] == "rbac.authorization.k8s.io"
    assert body["details"]["causes"][0]["field"] == "roleRef"
    patch = cluster.admin.request("PATCH", path, {"roleRef": {"name": "view"}},
                                  content_type="application/merge-patch+json")
    assert_status(patch, 422, "Invalid", message)
    assert cluster.admin.json("GET", path, expect=200)["roleRef"]["name"] == "edit"


def test_subjects_of_a_binding_can_change(cluster, namespace, cleanup):
    path = bind(cluster.admin, cleanup, [("User", cluster.name("sam"))], "view", namespace=namespace)
    current = cluster.admin.json("GET", path, expect=200)
    current["subjects"].append({"kind": "Group", "name": cluster.name("team"), "apiGroup": "rbac.authorization.k8s.io"})
    updated = cluster.admin.json("PUT", path, current, expect=200)
    assert [s["kind"] for s in updated["subjects"]] == ["User", "Group"]


def test_binding_a_role_you_do_not_hold_is_an_escalation(cluster, make_user, namespace, cleanup):
    tom = make_user("tom", ["binders"])
    uma = make_user("uma")
    secret_reader = make_role(cluster.admin, cleanup, [rule([""], ["secrets"], ["get"])])
    grant = make_role(cluster.admin, cleanup, [rule(["rbac.authorization.k8s.io"], ["rolebindings"], ["create"])],
                      namespace=namespace)
    bind(cluster.admin, cleanup, [("User", tom.name)], grant, namespace=namespace, role_kind="Role")
    path = f"{RBAC}/namespaces/{namespace}/rolebindings"
    name = f"uma-{secrets.token_hex(2)}"
    body = _binding(name, secret_reader, [("User", uma.name)])
    response, = wait_for(lambda: _not_rbac_denied(tom.http.request("POST", path, body)), timeout=15,
                         what="the rolebinding grant")
    assert_status(response, 403, "Forbidden",
                  f'rolebindings.rbac.authorization.k8s.io "{name}" is forbidden: user "{tom.name}" '
                  f'(groups=["{tom.groups[0]}" "system:authenticated"]) is attempting to grant RBAC permissions not '
                  f'currently held:\n{{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}}')
    bind_verb = make_role(cluster.admin, cleanup, [rule(["rbac.authorization.k8s.io"], ["clusterroles"], ["bind"],
                                                        [secret_reader])], namespace=namespace)
    bind(cluster.admin, cleanup, [("User", tom.name)], bind_verb, namespace=namespace, role_kind="Role")
    _allowed(tom.http, "POST", path, body, expect=(201,))
    cleanup.add(f"{path}/{name}")


def _not_rbac_denied(response):
    """[response] once the create verb itself is granted (the first 403 may be the plain RBAC denial)."""
    return [response] if "is attempting to grant" in response.text or response.status_code != 403 else None


def test_binding_a_role_you_hold_needs_no_bind_verb(cluster, make_user, namespace, cleanup):
    vic = make_user("vic")
    reader = make_role(cluster.admin, cleanup, [rule([""], ["configmaps"], ["get"])])
    grant = make_role(cluster.admin, cleanup, [rule(["rbac.authorization.k8s.io"], ["rolebindings"], ["create"]),
                                               rule([""], ["configmaps"], ["get"])], namespace=namespace)
    bind(cluster.admin, cleanup, [("User", vic.name)], grant, namespace=namespace, role_kind="Role")
    path = f"{RBAC}/namespaces/{namespace}/rolebindings"
    body = _binding(f"held-{secrets.token_hex(2)}", reader, [("User", cluster.name("someone"))])
    _allowed(vic.http, "POST", path, body, expect=(201,))
    cleanup.add(f"{path}/{body['metadata']['name']}")


def test_creating_a_role_with_permissions_you_lack_is_an_escalation(cluster, make_user, namespace, cleanup):
    wes = make_user("wes")
    grant = make_role(cluster.admin, cleanup, [rule(["rbac.authorization.k8s.io"], ["roles"], ["create"])],
                      namespace=namespace)
    bind(cluster.admin, cleanup, [("User", wes.name)], grant, namespace=namespace, role_kind="Role")
    path = f"{RBAC}/namespaces/{namespace}/roles"
    name = f"wide-{secrets.token_hex(2)}"
    body = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name},
            "rules": [rule([""], ["secrets"], ["list"])]}
    response, = wait_for(lambda: _not_rbac_denied(wes.http.request("POST", path, body)), timeout=15,
                         what="the role grant")
    assert_status(response, 403, "Forbidden",
                  f'roles.rbac.authorization.k8s.io "{name}" is forbidden: user "{wes.name}" '
                  f'(groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
                  f'{{APIGroups:[""], Resources:["secrets"], Verbs:["list"]}}')
    escalate = make_role(cluster.admin, cleanup, [rule(["rbac.authorization.k8s.io"], ["roles"], ["escalate"])],
                         namespace=namespace)
    bind(cluster.admin, cleanup, [("User", wes.name)], escalate, namespace=namespace, role_kind="Role")
    _allowed(wes.http, "POST", path, body, expect=(201,))
    cleanup.add(f"{path}/{name}")


# -- access reviews ---------------------------------------------------------------------------------------------

def _sar_body(user, groups, verb, resource, namespace="", *, group="", name=""):  # pylint: disable=too-many-arguments
    attributes = {"verb": verb, "resource": resource, "group": group}
    if namespace:
        attributes["namespace"] = namespace
    if name:
        attributes["name"] = name
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": groups, "resourceAttributes": attributes}}


def test_subject_access_review_answers_for_another_user(cluster, namespace, cleanup):
    user, group = cluster.name("xena"), cluster.name("auditors")
    role = make_role(cluster.admin, cleanup, [rule([""], ["configmaps"], ["get"])], namespace=namespace)
    bind(cluster.admin, cleanup, [("Group", group)], role, namespace=namespace, role_kind="Role")

    def allowed(groups, verb, where):
        review = cluster.admin.json("POST", SAR_PATH, _sar_body(user, groups, verb, "configmaps", where), expect=201)
        assert review["kind"] == "SubjectAccessReview"
        return review["status"]["allowed"]

    wait_for(lambda: allowed([group], "get", namespace), timeout=15, what="the binding")
    assert allowed([], "get", namespace) is False
    assert allowed([group], "delete", namespace) is False
    assert allowed([group], "get", "default") is False
    assert allowed(["system:masters"], "delete", "default") is True


def test_subject_access_review_for_a_non_resource_url(cluster):
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": cluster.name("yan"), "groups": ["system:authenticated"],
                     "nonResourceAttributes": {"verb": "get", "path": "/version"}}}
    assert cluster.admin.json("POST", SAR_PATH, body, expect=201)["status"]["allowed"] is True
    body["spec"]["nonResourceAttributes"]["path"] = "/metrics"
    assert cluster.admin.json("POST", SAR_PATH, body, expect=201)["status"]["allowed"] is False


def test_self_subject_rules_review_lists_the_rules_of_a_namespace(cluster, make_user, namespace, cleanup):
    zoe = make_user("zoe")
    allowed = _configmap(cluster.admin, cleanup, namespace)
    role = make_role(cluster.admin, cleanup, [rule([""], ["configmaps"], ["get", "update"], [allowed])],
                     namespace=namespace)
    bind(cluster.admin, cleanup, [("User", zoe.name)], role, namespace=namespace, role_kind="Role")

    def rules(where):
        review = zoe.http.json("POST", SSRR_PATH, {"apiVersion": "authorization.k8s.io/v1",
                                                   "kind": "SelfSubjectRulesReview", "spec": {"namespace": where}},
                               expect=201)
        assert review["kind"] == "SelfSubjectRulesReview"
        assert review["status"]["incomplete"] is False
        return review["status"]

    granted = {"verbs": ["get", "update"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": [allowed]}

    def granted_rules():
        status = rules(namespace)
        return status if granted in status["resourceRules"] else None

    status = wait_for(granted_rules, timeout=15, what="the binding in the rules review")
    assert {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"],
            "resources": ["selfsubjectreviews"]} in status["resourceRules"]
    assert any("/version" in r["nonResourceURLs"] for r in status["nonResourceRules"])
    assert granted not in rules("default")["resourceRules"]


def test_self_subject_rules_review_needs_a_namespace(make_user):
    amy = make_user("amy")
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {}}
    response = amy.http.request("POST", SSRR_PATH, body)
    assert_status(response, 400, "BadRequest", "no namespace on request")
