"""plugins/module_utils/kubeconfig.py on real files: what is merged, what is kept, what is refused, what is shown; the
admin kubeconfig as a file, a dict or $KUBECONFIG's files merged (compared with kubectl's merge), and the role's
cluster descriptions, which take the same connection options."""
# pylint: disable=missing-function-docstring

import base64
import json
import multiprocessing
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.kubeaccess.x509.plugins.module_utils.kubeconfig import (
    REDACTED, SECTIONS, KubeconfigError, KubeconfigFile, UserEntries, admin_connection, dump, kubeconfig_option,
    name_format_error, new_config, parse, plain_credentials, read_kubeconfig, redacted, uses_placeholder)
from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_plan

CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
KEY_DATA = base64.b64encode(b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAsecret\n-----END PRIVATE KEY-----\n").decode()

FOREIGN = {
    "apiVersion": "v1",
    "kind": "Config",
    "preferences": {"colors": True},
    "clusters": [{"name": "edge", "cluster": {"server": "https://edge:6443", "insecure-skip-tls-verify": True}},
                 {"name": "lab", "cluster": {"server": "https://lab:6443", "certificate-authority": "lab-ca.crt"}}],
    "users": [{"name": "ops", "user": {"token": "ops-token"}},
              {"name": "sso", "user": {"auth-provider": {"name": "oidc", "config": {
                  "client-secret": "oidc-secret", "id-token": "oidc-id", "refresh-token": "oidc-refresh",
                  "idp-issuer-url": "https://issuer"}}}},
              {"name": "basic", "user": {"username": "admin", "password": "hunter2"}}],
    "contexts": [{"name": "ops@edge", "context": {"cluster": "edge", "user": "ops"}},
                 {"name": "sso@lab", "context": {"cluster": "lab", "user": "sso", "namespace": "team"}}],
    "current-context": "sso@lab",
    "extensions": [{"name": "example.com/note", "extension": {"owner": "platform"}}],
}

CLUSTER = {"certificate-authority-data": base64.b64encode(CA_PEM).decode(), "server": "https://prod:6443"}
USER = {"client-certificate-data": base64.b64encode(b"certificate").decode(), "client-key-data": KEY_DATA}


def _ours(user="rahul", cluster="prod"):
    entries = UserEntries(cluster, f"{user}@{cluster}", f"{user}@{cluster}")
    return entries, {"cluster": cluster, "user": f"{user}@{cluster}"}


def _ordered(value):
    return json.dumps(value)


# -- parse ---------------------------------------------------------------------------------------------------------
def test_a_kubeconfig_is_parsed_and_blank_content_is_an_empty_one():
    assert parse(yaml.safe_dump(FOREIGN).encode(), "k") == FOREIGN
    assert parse(b"", "k") == parse(b"  \n\n", "k") == new_config()
    assert parse(b"{}", "k") == {}


@pytest.mark.parametrize("data, words", [
    (b"users:\n- name: x\n  user: {client-key-data: c2VjcmV0\n", "is not valid YAML (line 4, column 1)"),
    (b"\x00\x01binary", "is not valid YAML"),
    (b"a: 1\n---\nb: 2\n", "is not valid YAML"),
    (b"- clusters\n", "is not a kubeconfig (it holds a YAML list, not a mapping)"),
    (b"just text\n", "is not a kubeconfig (it holds a YAML str, not a mapping)"),
    (b"all:\n  hosts: {}\n", "is not a kubeconfig (it has none of the fields apiVersion, kind"),
    (b"kind: Pod\napiVersion: v1\n", "is not a kubeconfig (kind is 'Pod', not Config)"),
    (b"clusters: {prod: {}}\n", "is not a kubeconfig (clusters is not a list)"),
    (b"users:\n- user: {}\n", "is not a kubeconfig (users[0] has no name)"),
    (b"contexts:\n- name: a\n  context: [x]\n", "is not a kubeconfig (contexts[0].context is not a mapping)"),
    (b"current-context: [a]\n", "is not a kubeconfig (current-context is not a string)"),
], ids=["unclosed", "binary", "two-documents", "list", "scalar", "inventory", "pod", "clusters-map", "nameless",
        "context-list", "current-context-list"])
def test_what_is_not_a_kubeconfig_is_refused_naming_the_file_and_never_quoting_it(data, words):
    with pytest.raises(KubeconfigError) as refused:
        parse(data, "/home/rahul/.kube/config")
    message = str(refused.value)
    assert message.startswith("path: /home/rahul/.kube/config ") and words in message, message
    assert "left untouched" in message
    assert "c2VjcmV0" not in message


def test_the_option_named_in_a_refusal_can_be_chosen():
    with pytest.raises(KubeconfigError, match=r"^kubeconfig: admin.conf is not valid YAML"):
        parse(b"a: [", "admin.conf", option="kubeconfig")


@pytest.mark.parametrize("data, words", [(b"a: [", "is not valid YAML (line 2, column 1). Repair it, or give the path "
                                                   "of another kubeconfig"),
                                         (b"kind: Pod\n", "is not a kubeconfig (kind is 'Pod', not Config). Give the "
                                                          "path of a kubeconfig")])
def test_a_kubeconfig_only_read_is_not_said_to_be_left_or_replaced(tmp_path, data, words):
    """A connection's kubeconfig is never written: its refusal asks for another file, not to start a new one."""
    path = tmp_path / "admin.conf"
    path.write_bytes(data)
    with pytest.raises(KubeconfigError) as refused:
        read_kubeconfig(str(path))
    assert str(refused.value) == f"kubeconfig: {path} {words}"


# -- merge and removal ---------------------------------------------------------------------------------------------
def test_merging_appends_our_entries_and_keeps_everything_else_in_order():
    entries, context = _ours()
    merged = entries.merged(FOREIGN, CLUSTER, USER, context)
    for section in ("clusters", "users", "contexts"):
        assert _ordered(merged[section][:len(FOREIGN[section])]) == _ordered(FOREIGN[section])
    assert merged["clusters"][-1] == {"name": "prod", "cluster": CLUSTER}
    assert merged["users"][-1] == {"name": "rahul@prod", "user": USER}
    assert merged["contexts"][-1] == {"name": "rahul@prod", "context": context}
    assert _ordered({k: v for k, v in merged.items() if k not in ("clusters", "users", "contexts")}) == \
        _ordered({k: v for k, v in FOREIGN.items() if k not in ("clusters", "users", "contexts")})
    assert list(merged) == list(FOREIGN)
    assert FOREIGN["users"][-1]["name"] == "basic"


def test_our_entries_are_replaced_where_they_stand():
    entries, context = _ours()
    config = json.loads(json.dumps(FOREIGN))
    config["clusters"].insert(1, {"name": "prod", "cluster": {"server": "https://old:6443"}})
    config["users"].insert(0, {"name": "rahul@prod", "user": {"token": "old"}})
    config["contexts"].insert(1, {"name": "rahul@prod", "context": {"cluster": "old", "user": "rahul@prod"}})
    merged = entries.merged(config, CLUSTER, USER, context)
    assert [e["name"] for e in merged["clusters"]] == ["edge", "prod", "lab"]
    assert [e["name"] for e in merged["users"]] == ["rahul@prod", "ops", "sso", "basic"]
    assert [e["name"] for e in merged["contexts"]] == ["ops@edge", "rahul@prod", "sso@lab"]
    assert merged["users"][0]["user"] == USER and merged["contexts"][1]["context"] == context
    assert entries.merged(merged, CLUSTER, USER, context) == merged


def test_missing_or_null_sections_are_created():
    entries, context = _ours()
    merged = entries.merged({"apiVersion": "v1", "users": None}, CLUSTER, USER, context)
    assert list(merged) == ["apiVersion", "users", "clusters", "contexts", "current-context"]
    assert [e["name"] for e in merged["users"]] == ["rahul@prod"]


@pytest.mark.parametrize("policy, current, expected", [
    ("if_unset", "", "rahul@prod"),
    ("if_unset", None, "rahul@prod"),
    ("if_unset", "sso@lab", "sso@lab"),
    ("always", "sso@lab", "rahul@prod"),
    ("never", "", ""),
    ("never", "sso@lab", "sso@lab"),
])
def test_current_context_policy(policy, current, expected):
    entries, context = _ours()
    config = dict(FOREIGN, **{"current-context": current})
    assert entries.merged(config, CLUSTER, USER, context, policy)["current-context"] == expected


def test_removal_takes_only_ours_and_the_cluster_when_no_context_uses_it():
    rahul, rahul_context = _ours("rahul")
    seema, seema_context = _ours("seema")
    both = seema.merged(rahul.merged(FOREIGN, CLUSTER, USER, rahul_context, "always"), CLUSTER, USER, seema_context)
    without_rahul = rahul.removed(both)
    assert [e["name"] for e in without_rahul["clusters"]] == ["edge", "lab", "prod"]
    assert [e["name"] for e in without_rahul["users"]] == ["ops", "sso", "basic", "seema@prod"]
    assert without_rahul["current-context"] == ""
    assert _ordered(seema.removed(without_rahul)) == _ordered(dict(FOREIGN, **{"current-context": ""}))
    assert rahul.removed(FOREIGN) == FOREIGN
    assert rahul.removed(new_config()) == new_config()


def test_a_cluster_used_by_a_foreign_context_is_kept():
    entries = UserEntries("lab", "rahul@lab", "rahul@lab")
    merged = entries.merged(FOREIGN, CLUSTER, USER, {"cluster": "lab", "user": "rahul@lab"})
    assert _ordered(entries.removed(merged)["clusters"]) == _ordered(merged["clusters"])


# -- names ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name_format", ["{user}@{cluster}", "{cluster}-{user}", "{user}", "fixed"])
def test_name_formats_that_are_accepted(name_format):
    assert name_format_error(name_format) is None


@pytest.mark.parametrize("name_format, words", [
    ("{user}@{team}", "uses '{team}'"),
    ("{0}", "uses '{0}'"),
    ("{user!r}", "uses '{user}'"),
    ("{user:>9}", "uses '{user}'"),
    ("{user.upper}", "uses '{user.upper}'"),
    ("{user", "is not a format string"),
    ("", "is empty or padded with spaces"),
    (" {user}", "is empty or padded with spaces"),
    ("{user}\t@{cluster}", "contains control characters"),
])
def test_name_formats_that_are_refused(name_format, words):
    message = name_format_error(name_format)
    assert message.startswith(f"name_format: {name_format!r}") and words in message, message


def test_placeholders_in_use():
    assert uses_placeholder("{user}@{cluster}", "user")
    assert not uses_placeholder("ops@{cluster}", "user")


# -- redaction -----------------------------------------------------------------------------------------------------
def test_redaction_hides_every_credential_and_keeps_the_rest():
    entries, context = _ours()
    config = entries.merged(FOREIGN, CLUSTER, USER, context)
    shown = redacted(config)
    text = dump(shown)
    for secret in (KEY_DATA, "ops-token", "oidc-secret", "oidc-id", "oidc-refresh", "hunter2",
                   USER["client-certificate-data"], CLUSTER["certificate-authority-data"]):
        assert secret not in text
    assert shown["users"][-1]["user"]["client-key-data"] == REDACTED
    assert shown["users"][0]["user"]["token"] == REDACTED
    assert shown["users"][2]["user"] == {"username": "admin", "password": REDACTED}
    assert shown["users"][1]["user"]["auth-provider"]["config"]["idp-issuer-url"] == "https://issuer"
    assert shown["users"][-1]["user"]["client-certificate-data"].startswith("<redacted, 16 characters, sha256 ")
    assert shown["clusters"][-1]["cluster"]["server"] == "https://prod:6443"
    assert config["users"][-1]["user"]["client-key-data"] == KEY_DATA
    other = redacted(entries.merged(FOREIGN, dict(CLUSTER, **{"certificate-authority-data": "b3RoZXI="}), USER,
                                    context))
    assert other["clusters"][-1] != shown["clusters"][-1]


# -- files ---------------------------------------------------------------------------------------------------------
def test_a_file_is_written_whole_with_mode_0600_and_read_back(tmp_path):
    path = tmp_path / "new" / "kubeconfig"
    kubeconfig = KubeconfigFile(str(path))
    assert kubeconfig.read() is None
    with kubeconfig.locked():
        kubeconfig.write(FOREIGN)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    assert _ordered(kubeconfig.read()) == _ordered(FOREIGN)
    assert sorted(os.listdir(path.parent)) == [".kubeconfig.kubeaccess-lock", "kubeconfig"]


def test_a_symlink_is_followed_and_stays_a_link(tmp_path):
    target = tmp_path / "real.kubeconfig"
    target.write_text("")
    link = tmp_path / "config"
    link.symlink_to(target)
    kubeconfig = KubeconfigFile(str(link))
    with kubeconfig.locked():
        kubeconfig.write(FOREIGN)
    assert link.is_symlink()
    assert yaml.safe_load(target.read_text()) == FOREIGN


def _merge_many(path, worker, count):
    kubeconfig = KubeconfigFile(path)
    for index in range(count):
        entries = UserEntries("prod", f"user{worker}-{index}@prod", f"user{worker}-{index}@prod")
        with kubeconfig.locked():
            config = kubeconfig.read() or new_config()
            kubeconfig.write(entries.merged(config, CLUSTER, USER, {"cluster": "prod", "user": entries.user_name}))


def test_concurrent_writers_holding_the_lock_lose_nothing(tmp_path):
    path = str(tmp_path / "kubeconfig")
    workers, count = 6, 15
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_merge_many, args=(path, worker, count)) for worker in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    names = [entry["name"] for entry in KubeconfigFile(path).read()["users"]]
    assert sorted(names) == sorted(f"user{w}-{i}@prod" for w in range(workers) for i in range(count))


def test_the_lock_is_not_the_name_kubectl_uses(tmp_path):
    kubeconfig = KubeconfigFile(str(tmp_path / "config"))
    with kubeconfig.locked():
        assert not (tmp_path / "config.lock").exists()
        assert (tmp_path / ".config.kubeaccess-lock").exists()


# -- the admin connection ------------------------------------------------------------------------------------------
def _admin_kubeconfig(directory, **cluster_fields):
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "admin@prod",
              "clusters": [{"name": "prod", "cluster": {"server": "https://prod:6443", **cluster_fields}},
                           {"name": "dr", "cluster": {"server": "https://dr:6443"}}],
              "users": [{"name": "admin", "user": {"token": "t"}}],
              "contexts": [{"name": "admin@prod", "context": {"cluster": "prod", "user": "admin"}},
                           {"name": "admin@dr", "context": {"cluster": "dr", "user": "admin"}}]}
    path = directory / "admin.conf"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_admin_connection_from_its_kubeconfig_without_the_api(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    path = _admin_kubeconfig(tmp_path, **{"certificate-authority-data": base64.b64encode(CA_PEM).decode()})
    admin = admin_connection({"kubeconfig": path})
    assert (admin.server, admin.ca_pem, admin.cluster_name) == ("https://prod:6443", CA_PEM, "prod")
    other = admin_connection({"kubeconfig": path, "context": "admin@dr", "host": "https://vip:6443"})
    assert (other.server, other.ca_pem, other.cluster_name) == ("https://vip:6443", None, "dr")
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([path, "/nonexistent"]))
    assert admin_connection({}).cluster_name == "prod"


def test_admin_ca_from_a_relative_file_or_ca_cert(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_bytes(CA_PEM)
    path = _admin_kubeconfig(tmp_path, **{"certificate-authority": "pki/ca.crt"})
    assert admin_connection({"kubeconfig": path}).ca_pem == CA_PEM
    (tmp_path / "other.crt").write_bytes(b"other")
    assert admin_connection({"kubeconfig": path, "ca_cert": str(tmp_path / "other.crt")}).ca_pem == b"other"
    host_only = admin_connection({"host": "https://h:6443", "ca_cert": str(tmp_path / "other.crt")})
    assert (host_only.server, host_only.ca_pem, host_only.cluster_name) == ("https://h:6443", b"other", None)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert admin_connection({}) is None


@pytest.mark.parametrize("params, words", [
    ({"kubeconfig": "{dir}/missing.conf"}, "kubeconfig: {dir}/missing.conf does not exist"),
    ({"kubeconfig": "{path}", "context": "nobody@nowhere"},
     "context: 'nobody@nowhere' is not in {path}; it has: admin@prod, admin@dr"),
    ({"kubeconfig": "{path}", "ca_cert": "{dir}/missing.crt"}, "ca_cert: the CA file {dir}/missing.crt does not exist"),
])
def test_admin_connection_problems_name_the_option(tmp_path, monkeypatch, params, words):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    path = _admin_kubeconfig(tmp_path)
    params = {k: v.format(dir=tmp_path, path=path) for k, v in params.items()}
    with pytest.raises(KubeconfigError) as refused:
        admin_connection(params)
    assert words.format(dir=tmp_path, path=path) in str(refused.value)


def test_an_admin_kubeconfig_without_current_context_needs_context(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    path = tmp_path / "admin.conf"
    path.write_text(yaml.safe_dump(dict(FOREIGN, **{"current-context": ""})))
    with pytest.raises(KubeconfigError, match="context: .* has no current-context; give context"):
        admin_connection({"kubeconfig": str(path)})


# -- credentials read without the kubernetes package --------------------------------------------------------------
def _plain_kubeconfig(directory, cluster, user, name="plain.conf"):
    path = directory / name
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "me@prod",
        "clusters": [{"name": "prod", "cluster": cluster}], "users": [{"name": "me", "user": user}],
        "contexts": [{"name": "me@prod", "context": {"cluster": "prod", "user": "me"}}]}))
    return str(path)


def test_plain_credentials_from_data_and_from_files_relative_to_the_kubeconfig(tmp_path):
    from_data = plain_credentials(_plain_kubeconfig(tmp_path, CLUSTER, USER))
    assert from_data == {"server": "https://prod:6443", "ca": (None, CA_PEM), "cert": (None, b"certificate"),
                         "key": (None, base64.b64decode(KEY_DATA)), "token": None, "verify": True}
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_bytes(CA_PEM)
    (tmp_path / "me.crt").write_bytes(b"certificate")
    kubeconfig = _plain_kubeconfig(
        tmp_path / "pki", {"server": "https://prod:6443", "certificate-authority": "ca.crt",
                           "insecure-skip-tls-verify": True},
        {"client-certificate": str(tmp_path / "me.crt"), "client-key": "me.key", "client-key-data": KEY_DATA,
         "token": "t"})
    assert plain_credentials(kubeconfig, "me@prod") == {
        "server": "https://prod:6443", "ca": (str(tmp_path / "pki" / "ca.crt"), None),
        "cert": (str(tmp_path / "me.crt"), None), "key": (None, base64.b64decode(KEY_DATA)), "token": "t",
        "verify": False}
    # A file that is not there is for the kubernetes package to report.
    os.remove(tmp_path / "me.crt")
    assert plain_credentials(kubeconfig) is None


@pytest.mark.parametrize("cluster, user, context", [
    (CLUSTER, {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "aws"}}, None),
    (CLUSTER, {"auth-provider": {"name": "oidc"}}, None),
    (CLUSTER, {"tokenFile": "/var/run/token"}, None),
    (CLUSTER, {"username": "admin", "password": "hunter2"}, None),
    (dict(CLUSTER, **{"proxy-url": "http://proxy:3128"}), USER, None),
    (dict(CLUSTER, **{"tls-server-name": "api"}), USER, None),
    ({"certificate-authority-data": "not base64!"}, USER, None),
    (dict(CLUSTER, **{"certificate-authority-data": "not base64!"}), USER, None),
    (CLUSTER, USER, "someone@elsewhere"),
])
def test_anything_but_plain_credentials_is_left_to_the_kubernetes_package(tmp_path, cluster, user, context):
    assert plain_credentials(_plain_kubeconfig(tmp_path, cluster, user), context) is None


def test_a_kubeconfig_that_cannot_be_read_is_left_to_the_kubernetes_package(tmp_path):
    broken = tmp_path / "broken.conf"
    broken.write_text("users: [")
    assert plain_credentials(str(broken)) is None
    assert plain_credentials(str(tmp_path / "missing.conf")) is None
    no_current = _plain_kubeconfig(tmp_path, CLUSTER, USER)
    config = yaml.safe_load(open(no_current, encoding="utf-8"))
    config["current-context"] = ""
    (tmp_path / "plain.conf").write_text(yaml.safe_dump(config))
    assert plain_credentials(no_current) is None


# -- a kubeconfig given as a dict (kubernetes.core's kubeconfig option takes the content as a mapping) -------------
def _admin_dict(**cluster_fields):
    return {"apiVersion": "v1", "kind": "Config", "current-context": "admin@prod",
            "clusters": [{"name": "prod", "cluster": {"server": "https://prod:6443", **cluster_fields}}],
            "users": [{"name": "admin", "user": dict(USER)}],
            "contexts": [{"name": "admin@prod", "context": {"cluster": "prod", "user": "admin"}},
                         {"name": "other@prod", "context": {"cluster": "prod", "user": "admin"}}]}


def test_a_dict_kubeconfig_gives_the_admin_connection_and_plain_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    config = _admin_dict(**{"certificate-authority-data": base64.b64encode(CA_PEM).decode()})
    admin = admin_connection({"kubeconfig": config})
    assert (admin.server, admin.ca_pem, admin.cluster_name) == ("https://prod:6443", CA_PEM, "prod")
    assert admin.source == "kubeconfig the kubeconfig dict, context admin@prod"
    assert plain_credentials(read_kubeconfig(config), "other@prod") == {
        "server": "https://prod:6443", "ca": (None, CA_PEM), "cert": (None, b"certificate"),
        "key": (None, base64.b64decode(KEY_DATA)), "token": None, "verify": True}
    # Relative files in a dict are relative to the working directory, as the kubernetes package reads them.
    (tmp_path / "ca.crt").write_bytes(CA_PEM)
    monkeypatch.chdir(tmp_path)
    relative = _admin_dict(**{"certificate-authority": "ca.crt"})
    assert admin_connection({"kubeconfig": relative}).ca_pem == CA_PEM
    assert plain_credentials(read_kubeconfig(relative))["ca"] == (str(tmp_path / "ca.crt"), None)
    assert config == _admin_dict(**{"certificate-authority-data": base64.b64encode(CA_PEM).decode()}), \
        "the option's value was changed"


def test_a_dict_without_current_context_needs_context_and_says_so():
    config = dict(_admin_dict(), **{"current-context": ""})
    for reader in (lambda: admin_connection({"kubeconfig": config}),
                   lambda: read_kubeconfig(kubeconfig_option(config)).context_name()):
        with pytest.raises(KubeconfigError) as refused:
            reader()
        assert str(refused.value) == ("kubeconfig: the dict has no current-context; give context or set "
                                      "current-context")
    assert admin_connection({"kubeconfig": config, "context": "other@prod"}).cluster_name == "prod"
    assert plain_credentials(read_kubeconfig(config)) is None  # left to the kubernetes package, which says it too
    with pytest.raises(KubeconfigError, match=r"^context: 'nobody' is not in the kubeconfig dict; it has: "
                                              r"admin@prod, other@prod$"):
        admin_connection({"kubeconfig": config, "context": "nobody"})


@pytest.mark.parametrize("value, words", [
    ({"clusters": {"prod": {}}, "users": [{"name": "a", "user": {"client-key-data": KEY_DATA}}]},
     "kubeconfig: the dict is not a kubeconfig (clusters is not a list)"),
    ({"users": [{"user": {"client-key-data": KEY_DATA}}]}, "kubeconfig: the dict is not a kubeconfig (users[0] has no "
                                                           "name)"),
    ({"kind": "Secret", "data": {"token": KEY_DATA}}, "kubeconfig: the dict is not a kubeconfig (kind is 'Secret'"),
])
def test_a_dict_that_is_not_a_kubeconfig_is_refused_without_quoting_it(value, words):
    with pytest.raises(KubeconfigError) as refused:
        admin_connection({"kubeconfig": value})
    assert str(refused.value).startswith(words) and KEY_DATA not in str(refused.value)


def test_the_kubeconfig_option_is_a_path_expanded_as_ansible_expands_paths_or_a_dict(monkeypatch):
    monkeypatch.setenv("HOME", "/home/rahul")
    monkeypatch.setenv("ADMIN_DIR", "/etc/kubeaccess")
    assert kubeconfig_option("~/.kube/admin.conf") == "/home/rahul/.kube/admin.conf"
    assert kubeconfig_option("$ADMIN_DIR/prod.conf") == "/etc/kubeaccess/prod.conf"
    assert kubeconfig_option("") is None and kubeconfig_option(None) is None
    assert kubeconfig_option({}) == {}
    with pytest.raises(KubeconfigError, match="^kubeconfig: must be the path of a kubeconfig or its content as a dict, "
                                              "not a list$"):
        kubeconfig_option(["/etc/admin.conf"])


# -- $KUBECONFIG: several files, merged as kubectl merges them -----------------------------------------------------
KUBECTL = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "kubectl")


def _write(path, config):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _two_kubeconfigs(tmp_path):
    """Two files in different directories that set the same names and each a current-context or none, with
    relative paths that each mean their own file's directory."""
    (tmp_path / "a" / "pki").mkdir(parents=True)
    (tmp_path / "a" / "pki" / "ca.crt").write_bytes(b"CA OF A")
    (tmp_path / "a" / "ops.crt").write_bytes(b"CERT OF A")
    (tmp_path / "a" / "ops.key").write_bytes(b"KEY OF A")
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_bytes(b"CA OF B")
    first = _write(tmp_path / "a" / "config", {
        "apiVersion": "v1", "kind": "Config", "current-context": "", "preferences": {"colors": True},
        "clusters": [{"name": "prod", "cluster": {"server": "https://a:6443", "certificate-authority": "pki/ca.crt"}}],
        "users": [{"name": "ops", "user": {"client-certificate": "ops.crt", "client-key": "ops.key"}}],
        "contexts": [{"name": "ops@prod", "context": {"cluster": "prod", "user": "ops", "namespace": "a"}}]})
    second = _write(tmp_path / "b" / "config", {
        "apiVersion": "v1", "kind": "Config", "current-context": "ops@lab",
        "clusters": [{"name": "prod", "cluster": {"server": "https://b:6443", "insecure-skip-tls-verify": True}},
                     {"name": "lab", "cluster": {"server": "https://lab:6443",
                                                 "certificate-authority": "../certs/ca.crt"}}],
        "users": [{"name": "ops", "user": {"token": "token-of-b"}},
                  {"name": "ci", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                   "command": "./bin/credentials", "args": ["--json"],
                                                   "interactiveMode": "Never"}}}],
        "contexts": [{"name": "ops@prod", "context": {"cluster": "lab", "user": "ci"}},
                     {"name": "ops@lab", "context": {"cluster": "lab", "user": "ops"}}]})
    return first, second


def _kubectl_view(kubeconfig_env, *args):
    completed = subprocess.run([KUBECTL, "config", "view", "--merge", "-o", "json", *args],
                               env=dict(os.environ, KUBECONFIG=kubeconfig_env), capture_output=True, text=True,
                               check=True, timeout=60)
    return json.loads(completed.stdout)


def _by_name(config, section):
    return {item["name"]: item[SECTIONS[section]] for item in config.get(section) or []}


def _flattened(config):
    """Files named by the entries, embedded as kubectl config view --flatten embeds them."""
    flat = json.loads(json.dumps(config))
    for section, keys in (("clusters", ("certificate-authority",)), ("users", ("client-certificate", "client-key"))):
        for item in flat.get(section) or []:
            body = item[SECTIONS[section]]
            for key in keys:
                if body.get(key):
                    with open(body.pop(key), "rb") as handle:
                        body[f"{key}-data"] = base64.b64encode(handle.read()).decode()
    return flat


def _without_kubectl_defaults(body):
    """kubectl prints an exec entry's unset fields (env, provideClusterInfo), and its command as written: client-go
    makes a command with a '/' absolute when it runs it (clientcmd GetAuthInfoFileReferences), which is checked on
    its own below."""
    body = json.loads(json.dumps(body))
    exec_ = body.get("exec")
    if exec_:
        body["exec"] = {key: value for key, value in exec_.items() if value not in (None, False) and key != "command"}
    return body


def test_kubeconfig_files_are_merged_as_kubectl_merges_them(tmp_path, monkeypatch):
    first, second = _two_kubeconfigs(tmp_path)
    (tmp_path / "empty").write_text("")
    env = os.pathsep.join([str(tmp_path / "missing"), first, str(tmp_path / "empty"), "", second, first])
    monkeypatch.setenv("KUBECONFIG", env)
    merged = read_kubeconfig(None)
    assert merged.paths == [first, str(tmp_path / "empty"), second] and merged.path is None
    assert merged.description == f"$KUBECONFIG ({first}:{tmp_path / 'empty'}:{second})"
    expected = _kubectl_view(env, "--flatten")
    ours = _flattened(merged.config)
    for section in SECTIONS:
        assert {name: _without_kubectl_defaults(body) for name, body in _by_name(ours, section).items()} == \
            {name: _without_kubectl_defaults(body) for name, body in _by_name(expected, section).items()}, section
    assert ours["current-context"] == expected["current-context"] == "ops@lab"
    assert ours["preferences"] == expected["preferences"] == {"colors": True}
    # Entries come whole from the first file that names them; paths mean their own file's directory.
    assert _by_name(merged.config, "clusters")["prod"] == {"server": "https://a:6443",
                                                           "certificate-authority": str(tmp_path / "a/pki/ca.crt")}
    assert _by_name(merged.config, "clusters")["lab"]["certificate-authority"] == str(tmp_path / "certs/ca.crt")
    assert _by_name(merged.config, "users")["ci"]["exec"]["command"] == str(tmp_path / "b/bin/credentials")
    assert _by_name(merged.config, "users")["ops"] == {"client-certificate": str(tmp_path / "a/ops.crt"),
                                                       "client-key": str(tmp_path / "a/ops.key")}


def test_the_first_file_that_sets_current_context_wins_as_in_kubectl(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    first, second = _two_kubeconfigs(tmp_path)
    for order, current in (((first, second), "ops@lab"), ((second, first), "ops@lab")):
        config = yaml.safe_load(open(order[0], encoding="utf-8"))
        config["current-context"] = "ops@prod"
        third = _write(tmp_path / "c" / "config", config)
        env = os.pathsep.join([third, *order])
        monkeypatch.setenv("KUBECONFIG", env)
        assert read_kubeconfig(None).config["current-context"] == _kubectl_view(env)["current-context"] == "ops@prod"
        env = os.pathsep.join(order)
        monkeypatch.setenv("KUBECONFIG", env)
        assert read_kubeconfig(None).config["current-context"] == _kubectl_view(env)["current-context"] == current


def test_the_admin_connection_and_plain_credentials_of_merged_files(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    first, second = _two_kubeconfigs(tmp_path)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([first, second]))
    admin = admin_connection({})
    # ops@lab (current in the second file) is the lab cluster with the first file's user ops.
    assert (admin.server, admin.ca_pem, admin.cluster_name) == ("https://lab:6443", b"CA OF B", "lab")
    assert plain_credentials(read_kubeconfig(None)) == {
        "server": "https://lab:6443", "ca": (str(tmp_path / "certs/ca.crt"), None),
        "cert": (str(tmp_path / "a/ops.crt"), None), "key": (str(tmp_path / "a/ops.key"), None), "token": None,
        "verify": True}
    # ops@prod is the first file's: the prod cluster and user of the first file.
    assert admin_connection({"context": "ops@prod"}).ca_pem == b"CA OF A"
    # A file named alone is read alone, as before; one file of $KUBECONFIG is that file.
    assert admin_connection({"kubeconfig": second}).cluster_name == "lab"
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(tmp_path / "missing"), second]))
    assert read_kubeconfig(None).path == second
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert read_kubeconfig(None) is None
    with pytest.raises(KubeconfigError, match=f"^kubeconfig: no kubeconfig given and {tmp_path}/missing does not "
                                              "exist"):
        admin_connection({})


def test_a_broken_file_of_kubeconfig_is_named(tmp_path, monkeypatch):
    first, _second = _two_kubeconfigs(tmp_path)
    broken = tmp_path / "broken"
    broken.write_text("users: [")
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([first, str(broken)]))
    with pytest.raises(KubeconfigError, match=f"^KUBECONFIG: {broken} is not valid YAML"):
        read_kubeconfig(None)


# -- the role's cluster descriptions: the same connection options (access_plan.check_clusters, cluster_endpoints) --
TOKEN = "eyJhbGciOiJSUzI1NiJ9.the-secret-token"


def _checked(clusters):
    report = access_plan.PlanInput()
    return access_plan.check_clusters(clusters, report), report.errors


def test_a_cluster_is_described_with_host_and_credentials_or_a_kubeconfig_dict_or_nothing(tmp_path):
    (tmp_path / "ca.crt").write_bytes(CA_PEM)
    clusters = {
        "token": {"host": "https://api.example.com:6443", "api_key": TOKEN, "ca_cert": str(tmp_path / "ca.crt")},
        "certificate": {"host": "https://10.0.0.1:6443", "client_cert": "/etc/k/admin.crt",
                        "client_key": "/etc/k/admin.key", "validate_certs": "yes"},
        "inline": {"kubeconfig": _admin_dict(), "context": "other@prod"},
        "pod": {},
    }
    checked, errors = _checked(clusters)
    assert errors == [] and sorted(checked) == sorted(clusters)


@pytest.mark.parametrize("spec, expected", [
    ({"kubeconfig": dict(_admin_dict(), **{"current-context": ""})},
     "user_access_clusters.prod.kubeconfig: the dict has no current-context; give context or set current-context"),
    ({"kubeconfig": _admin_dict(), "context": "nobody"},
     "user_access_clusters.prod.context: 'nobody' is not in the kubeconfig dict; it has: admin@prod, other@prod"),
    ({"kubeconfig": {"users": {"admin": {"client-key-data": KEY_DATA}}}},
     "user_access_clusters.prod.kubeconfig: the dict is not a kubeconfig (users is not a list)"),
    ({"kubeconfig": ["/etc/admin.conf"]}, "user_access_clusters.prod.kubeconfig: is a list; give the path"),
    ({"host": "api.example.com", "api_key": TOKEN},
     "user_access_clusters.prod.host: 'api.example.com' is not the URL of an API server"),
    ({"host": "https://api.example.com", "api_key": ""},
     "user_access_clusters.prod.api_key: must be a non-empty string (is the environment variable"),
    ({"host": "https://api.example.com", "api_key": ["x"]},
     "user_access_clusters.prod.api_key: must be a non-empty string"),
    ({"host": "https://api.example.com", "client_cert": "/etc/k/admin.crt"},
     "user_access_clusters.prod: client_cert and client_key go together"),
    ({"host": "https://api.example.com", "api_key": TOKEN, "validate_certs": "sometimes"},
     "user_access_clusters.prod.validate_certs: 'sometimes' is not true or false"),
    ({"host": "https://api.example.com", "apikey": TOKEN},
     "user_access_clusters.prod: unknown keys ['apikey']; known: ['kubeconfig', 'context', 'host', 'api_key', "),
])
def test_a_bad_connection_in_a_cluster_description_is_named_and_its_secrets_are_not(spec, expected):
    _checked_clusters, errors = _checked({"prod": spec})
    assert len(errors) == 1 and errors[0].startswith(expected), errors
    assert TOKEN not in errors[0] and KEY_DATA not in errors[0]


def test_endpoints_for_users_machines_come_from_host_and_ca_cert_or_a_kubeconfig_dict(tmp_path, monkeypatch):
    for name in ("KUBERNETES_SERVICE_HOST", "K8S_AUTH_KUBECONFIG", "K8S_AUTH_HOST", "K8S_AUTH_SSL_CA_CERT",
                 "K8S_AUTH_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "ca.crt").write_bytes(CA_PEM)
    monkeypatch.setenv("HOME", str(tmp_path))
    clusters, _errors = _checked({
        "token": {"host": "https://api.example.com:6443", "api_key": TOKEN, "ca_cert": "~/ca.crt"},
        "inline": {"kubeconfig": _admin_dict(**{"certificate-authority-data": base64.b64encode(CA_PEM).decode()})},
        "public": {"host": "https://api.example.com:6443", "api_key": TOKEN, "server": "https://k8s.example.com"}})
    report = access_plan.PlanInput()
    endpoints = access_plan.cluster_endpoints(clusters, ["token", "inline", "public"], report)
    assert endpoints == {"token": {"server": "https://api.example.com:6443", "ca": CA_PEM.decode()},
                         "inline": {"server": "https://prod:6443", "ca": CA_PEM.decode()}}
    assert report.errors == ["user_access_clusters.public: the admin connection (host https://api.example.com:6443) "
                             "names no CA; give ca_file"]
    # As the modules: without a connection of its own, the cluster's is K8S_AUTH_HOST and K8S_AUTH_SSL_CA_CERT.
    monkeypatch.setenv("K8S_AUTH_HOST", "https://from-the-environment:6443")
    monkeypatch.setenv("K8S_AUTH_SSL_CA_CERT", str(tmp_path / "ca.crt"))
    assert access_plan.cluster_endpoints({"env": {}}, ["env"], access_plan.PlanInput()) == {
        "env": {"server": "https://from-the-environment:6443", "ca": CA_PEM.decode()}}


def test_in_a_pod_endpoints_need_the_server_users_reach(monkeypatch):
    for name in ("K8S_AUTH_KUBECONFIG", "K8S_AUTH_HOST", "K8S_AUTH_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    report = access_plan.PlanInput()
    assert access_plan.cluster_endpoints({"ci": {}}, ["ci"], report) == {}
    assert report.errors == ["user_access_clusters.ci: the in-cluster service account names no server for users' "
                             "machines; give server"]
