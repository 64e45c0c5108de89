"""plugins/module_utils/backends/self_service_info.py, run in this process against the cluster under test with a
ServiceAccount's own token (from the TokenRequest API): what the account publishes; a credential that is not a
ServiceAccount, and a ServiceAccount that publishes nothing, are refused with what to do."""
# pylint: disable=missing-function-docstring,redefined-outer-name  # pytest fixtures are parameters named as fixtures

import base64
import os
import secrets

import yaml

from ansible_collections.kubeaccess.x509.plugins.module_utils import self_service
from ansible_collections.kubeaccess.x509.plugins.module_utils.backends import self_service_account, self_service_info
from tests.contract.support import bind, make_role, rule
from tests.unit.backends.backend_support import make_namespace, unique


def make_account(admin, cleanup, namespace, name, annotations=None):
    """A ServiceAccount that may read only itself, as the role grants it."""
    metadata = {"name": name, "annotations": annotations} if annotations else {"name": name}
    admin.json("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts",
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}, expect=201)
    cleanup.add(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}")
    role = make_role(admin, cleanup, [rule([""], ["serviceaccounts"], ["get"], names=[name])], namespace=namespace)
    bind(admin, cleanup, [("ServiceAccount", name, namespace)], role, namespace=namespace, role_kind="Role")


def token_of(admin, namespace, name):
    """A token of the ServiceAccount from the TokenRequest API, as `kubectl create token` gets it."""
    review = admin.json("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                         "spec": {"expirationSeconds": 3600}}, expect=201)
    return review["status"]["token"]


def token_kubeconfig(cluster, tmp_path, token):
    path = os.path.join(str(tmp_path), f"token-{secrets.token_hex(3)}.kubeconfig")
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "self-service",
              "clusters": [{"name": "c", "cluster": {"server": cluster.server, "certificate-authority-data":
                                                     base64.b64encode(cluster.ca_pem).decode()}}],
              "users": [{"name": "sa", "user": {"token": token}}],
              "contexts": [{"name": "self-service", "context": {"cluster": "c", "user": "sa"}}]}
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    return path


def facts(result):
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    return {key: result[key] for key in ("namespace", "service_account", "user", "groups", "csr_name")}


def test_the_account_tells_what_it_publishes(run_backend, admin, cleanup, cluster, tmp_path):
    namespace = make_namespace(admin, cleanup, cluster, "ssi-facts")
    user = unique(cluster, "Rahul")
    name = self_service.account_name(user)
    make_account(admin, cleanup, namespace, name, self_service.annotations(user, ["sre", "developers"]))
    token = token_of(admin, namespace, name)
    expected = {"namespace": namespace, "service_account": name, "user": user, "groups": ["developers", "sre"],
                "csr_name": self_service.csr_name(user)}

    assert facts(run_backend(self_service_info, {"kubeconfig": token_kubeconfig(cluster, tmp_path, token)})) == expected
    assert facts(run_backend(self_service_info, {"kubeconfig": token_kubeconfig(cluster, tmp_path, token)},
                             check_mode=True)) == expected
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(cluster.ca_pem)
    direct = {"kubeconfig": None, "host": cluster.server, "api_key": token, "ca_cert": str(ca_file)}
    assert facts(run_backend(self_service_info, direct)) == expected


def test_an_account_made_by_the_administrator_module_is_read_by_the_user(run_backend, admin, cleanup, cluster,
                                                                         tmp_path):
    namespace, user = unique(cluster, "ssi-made"), unique(cluster, "seema")
    cleanup.add(f"/api/v1/namespaces/{namespace}")
    made = run_backend(self_service_account, {"user": user, "groups": ["developers"], "namespace": namespace})
    assert made["changed"] and made["action"] == "create", made
    role = make_role(admin, cleanup, [rule([""], ["serviceaccounts"], ["get"], names=[made["name"]])],
                     namespace=namespace)
    bind(admin, cleanup, [("ServiceAccount", made["name"], namespace)], role, namespace=namespace, role_kind="Role")
    kubeconfig = token_kubeconfig(cluster, tmp_path, token_of(admin, namespace, made["name"]))

    assert facts(run_backend(self_service_info, {"kubeconfig": kubeconfig})) == {
        "namespace": namespace, "service_account": made["name"], "user": user, "groups": ["developers"],
        "csr_name": made["csr_name"]}


def test_a_credential_that_is_not_a_service_account_is_refused(run_backend):
    result = run_backend(self_service_info, {})  # the administrator's kubeconfig
    assert result["failed"] and not result["changed"]
    assert result["msg"].startswith("this credential is "), result["msg"]
    assert ", not a ServiceAccount: run playbooks/request.yml with the token of your self-service ServiceAccount " \
           "(kubectl create token" in result["msg"]


def test_a_service_account_that_publishes_nothing_is_refused(run_backend, admin, cleanup, cluster, tmp_path):
    namespace = make_namespace(admin, cleanup, cluster, "ssi-bare")
    name = unique(cluster, "plain")
    make_account(admin, cleanup, namespace, name)
    result = run_backend(self_service_info,
                         {"kubeconfig": token_kubeconfig(cluster, tmp_path, token_of(admin, namespace, name))})
    assert result["failed"] and not result["changed"]
    assert result["msg"] == (f"ServiceAccount {namespace}/{name} publishes no self-service request (annotations "
                             "kubeaccess.x509/user, /groups, /csr-name): ask your administrator to set "
                             "user_access_self_service for you")


def test_an_account_that_may_not_read_itself_is_told_what_to_ask_for(run_backend, admin, cleanup, cluster,
                                                                     tmp_path):
    namespace = make_namespace(admin, cleanup, cluster, "ssi-unbound")
    name = unique(cluster, "unbound")
    admin.json("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts",
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}, expect=201)
    result = run_backend(self_service_info,
                         {"kubeconfig": token_kubeconfig(cluster, tmp_path, token_of(admin, namespace, name))})
    assert result["failed"]
    assert result["msg"].startswith(f"ServiceAccount {namespace}/{name} may not read itself"), result["msg"]
    assert "Missing permission: get on serviceaccounts" in result["msg"]
    assert "ask your administrator to set user_access_self_service for you" in result["msg"]
