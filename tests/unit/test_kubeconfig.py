"""plugins/module_utils/kubeconfig.py on real files: what is merged, what is kept, what is refused, what is shown."""
# pylint: disable=missing-function-docstring

import base64
import json
import multiprocessing
import os

import pytest
import yaml

from ansible_collections.kubeaccess.x509.plugins.module_utils.kubeconfig import (
    REDACTED, KubeconfigError, KubeconfigFile, UserEntries, admin_connection, dump, name_format_error, new_config,
    parse, plain_credentials, redacted, uses_placeholder)

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
