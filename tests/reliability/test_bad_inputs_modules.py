"""Bad input to the collection's modules, as a catalogue: each case is refused before anything changes on the cluster
or on disk, with a message that names the option and says what would be accepted.

Every case is a task of one playbook (ansible-playbook costs a second or two a run), in a directory of its own, with
names on the cluster that carry a token of its own; each case is a test item of its own, reading its task's result,
its directory and its names on the cluster before and after the run. CASES is the catalogue docs/reliability.md
lists.
"""

import json
import os

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from tests.integration.conftest import run_playbook
from tests.kube import make_csr_pem, new_key
from tests.reliability.support import (certificate_pem, cluster_objects, files_state, key_pem, kubeconfig_with,
                                       private_key)

pytestmark = pytest.mark.bad_input

# In args and file contents: {dir} is the case's own directory, {name} a name carrying the case's own token.
NOT_YAML = "this: is: not yaml: [\n"
NOT_A_KUBECONFIG = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"


def case(case_id, where, given, field, accepted, args, files=None):
    """One bad input: `args` of the module `where`, the files its directory holds first (name -> content, bytes or
    a function of the case's context; None makes a directory), the option the message must name and the words that
    say what would be accepted."""
    return {"id": case_id, "where": where, "input": given, "field": field, "accepted": accepted, "args": args,
            "files": files or {}}


def a_key(kind="ec", passphrase=None):
    return lambda context: key_pem(private_key(kind), passphrase)


def a_certificate(common_name, key_file=None):
    """A certificate for `common_name`, of the key in the case's `key_file` or of a key nobody has."""
    def make(context):
        key = context.key(key_file) if key_file else private_key()
        return certificate_pem(key, common_name.replace("{name}", context.name))
    return make


def a_request(common_name):
    return lambda context: context.request(common_name.replace("{name}", context.name))


def admin_kubeconfig(**changes):
    return lambda context: kubeconfig_with(context.admin_kubeconfig, **changes)


def another_ca(context):
    return kubeconfig_with(context.admin_kubeconfig, ca_pem=certificate_pem(private_key(), "not-the-cluster-ca"))


REQUEST = "k8s_csr_request"
APPROVE = "k8s_csr_approve"
KUBECONFIG = "k8s_kubeconfig_user"
BINDING = "k8s_rbac_binding"
INFO = "k8s_access_info"
NEW_KEY = {"user": "{name}", "private_key_path": "{dir}/user.key", "certificate_path": "{dir}/user.crt"}
OLD_KEY = dict(NEW_KEY, private_key_path="{dir}/old.key")
CREDENTIALS = {"path": "{dir}/kubeconfig", "user": "{name}", "client_certificate_path": "{dir}/user.crt",
               "client_key_path": "{dir}/user.key"}
GOOD_PAIR = {"user.key": a_key(), "user.crt": a_certificate("{name}", "user.key")}
BIND = {"name": "{name}", "role_name": "view", "subjects": [{"kind": "User", "name": "{name}"}]}

CASES = [
    # k8s_csr_request: names, groups, lifetimes, paths
    case("request-user-system-prefix", REQUEST, "user system:NAME", "user",
         ["choose another name", "allow_system_names=true"], dict(NEW_KEY, user="system:{name}")),
    case("request-user-too-long", REQUEST, "user of 65 characters", "user", ["at most 64"],
         dict(NEW_KEY, user="{name}" + "u" * 56)),
    case("request-user-padded", REQUEST, "user with a leading space", "user", ["remove them"],
         dict(NEW_KEY, user=" {name}")),
    case("request-group-control-character", REQUEST, "a group with a tab in it", "groups",
         ["printable characters only"], dict(NEW_KEY, groups=["dev\tops"])),
    case("request-group-system-masters", REQUEST, "groups [system:masters]", "groups", ["allow_system_names=true"],
         dict(NEW_KEY, groups=["system:masters"])),
    case("request-lifetime-below-10-minutes", REQUEST, "expiration_seconds 300", "expiration_seconds",
         ["below 600", "10 minutes"], dict(NEW_KEY, expiration_seconds=300)),
    case("request-lifetime-not-a-number", REQUEST, "expiration_seconds 'a day'", "expiration_seconds", ["int"],
         dict(NEW_KEY, expiration_seconds="a day")),
    case("request-renew-before-not-understood", REQUEST, "renew_before 'soon'", "renew_before",
         ["a duration such as '8h'", "'30%'"], dict(NEW_KEY, renew_before="soon")),
    case("request-renew-before-over-100-percent", REQUEST, "renew_before 150%", "renew_before",
         ["between 0% and 100%"], dict(NEW_KEY, renew_before="150%")),
    case("request-key-path-is-a-directory", REQUEST, "private_key_path names a directory", "private_key_path",
         ["give a file path"], dict(NEW_KEY, private_key_path="{dir}/keys"), {"keys": None}),
    case("request-key-path-under-a-file", REQUEST, "private_key_path under a regular file", "private_key_path",
         ["give a path under a directory"], dict(NEW_KEY, private_key_path="{dir}/a-file/user.key"),
         {"a-file": b"text\n"}),
    case("request-signer-name-malformed", REQUEST, "signer_name 'my signer'", "signer_name",
         ["such as kubernetes.io/kube-apiserver-client"], dict(NEW_KEY, signer_name="my signer")),
    case("request-usages-empty", REQUEST, "usages []", "usages", ["['client auth']"], dict(NEW_KEY, usages=[])),
    # The API refuses these: refused before the new key (and its directory) is written.
    case("request-usage-unknown", REQUEST, "usages [flying]", "usages", ["use ['client auth']"],
         dict(NEW_KEY, usages=["flying"], private_key_path="{dir}/keys/user.key")),
    case("request-usage-repeated", REQUEST, "usages [client auth, client auth]", "usages", ["give each usage once"],
         dict(NEW_KEY, usages=["client auth", "client auth"], private_key_path="{dir}/keys/user.key")),
    case("request-annotation-key-invalid", REQUEST, "an annotation key 'bad key!'", "annotations",
         ["at most 63 letters"], dict(NEW_KEY, annotations={"bad key!": "x"}, private_key_path="{dir}/keys/user.key")),
    case("request-label-key-invalid", REQUEST, "a label key 'bad key!'", "labels", ["at most 63 letters"],
         dict(NEW_KEY, labels={"bad key!": "x"})),
    case("request-key-type-unknown", REQUEST, "private_key_type dsa", "private_key_type", ["ecdsa, rsa"],
         dict(NEW_KEY, private_key_type="dsa")),
    case("request-subject-alt-name-malformed", REQUEST, "subject_alt_names [www.example.com]", "subject_alt_names",
         ["DNS:name"], dict(NEW_KEY, subject_alt_names=["www.example.com"])),
    case("request-key-and-request-both", REQUEST, "private_key_path and csr_path together", "private_key_path",
         ["mutually exclusive", "csr_path"], dict(NEW_KEY, csr_path="{dir}/user.csr"),
         {"user.csr": a_request("{name}")}),
    case("request-batch-with-one-bad-item", REQUEST, "requests: a good item, then one for system:NAME",
         "requests[1]", ["allow_system_names=true"],
         {"requests": [NEW_KEY, dict(NEW_KEY, user="system:{name}", private_key_path="{dir}/second.key")]}),
    # k8s_csr_request: key files
    case("request-key-file-not-a-key", REQUEST, "private_key_path holds text", "private_key_path",
         ["PEM private key"], OLD_KEY, {"old.key": b"not a key\n"}),
    case("request-key-file-is-a-certificate", REQUEST, "private_key_path holds a certificate", "private_key_path",
         ["PEM private key"], OLD_KEY, {"old.key": a_certificate("{name}")}),
    case("request-key-file-encrypted-without-passphrase", REQUEST, "an encrypted key, no passphrase",
         "private_key_path", ["give private_key_passphrase"], OLD_KEY, {"old.key": a_key(passphrase="secret")}),
    case("request-key-file-wrong-passphrase", REQUEST, "an encrypted key, a wrong passphrase", "private_key_path",
         ["passphrase is wrong"], dict(OLD_KEY, private_key_passphrase="not-the-passphrase"),
         {"old.key": a_key(passphrase="secret")}),
    case("request-key-file-dsa", REQUEST, "a DSA key", "private_key_path", ["use ECDSA or RSA"], OLD_KEY,
         {"old.key": a_key("dsa")}),
    case("request-key-file-rsa-1024", REQUEST, "an RSA key of 1024 bits", "private_key_path", ["2048 bits"],
         OLD_KEY, {"old.key": a_key("rsa1024")}),
    case("request-key-file-unsupported-curve", REQUEST, "an EC key on secp256k1", "private_key_path",
         ["P-256, P-384 or P-521"], OLD_KEY, {"old.key": a_key("secp256k1")}),
    # k8s_csr_request: CSR files
    case("request-csr-file-not-a-csr", REQUEST, "csr_path holds text", "csr_path", ["BEGIN CERTIFICATE REQUEST"],
         {"user": "{name}", "csr_path": "{dir}/user.csr"}, {"user.csr": b"not a request\n"}),
    case("request-csr-file-of-another-user", REQUEST, "csr_path holds someone else's request", "csr_path",
         ["CN='other-", "not user="], {"user": "{name}", "csr_path": "{dir}/user.csr"},
         {"user.csr": a_request("other-{name}")}),
    case("request-csr-file-missing", REQUEST, "csr_path names no file", "csr_path", ["PEM certificate request"],
         {"user": "{name}", "csr_path": "{dir}/missing.csr"}),
    # k8s_csr_request: servers
    case("request-server-unreachable", REQUEST, "a kubeconfig whose server does not answer", "kubeconfig",
         ["cannot reach the API server", "Check the server address"], dict(NEW_KEY, kubeconfig="{dir}/admin.conf"),
         {"admin.conf": admin_kubeconfig(server="https://127.0.0.1:1")}),
    case("request-server-untrusted", REQUEST, "a kubeconfig with another CA than the server's", "ca_cert",
         ["TLS failure", "give the cluster CA"], dict(NEW_KEY, kubeconfig="{dir}/admin.conf"),
         {"admin.conf": another_ca}),
    # k8s_csr_approve
    case("approve-no-expected-user", APPROVE, "no expected_user", "expected_user", ["allow_any_user=true"],
         {"name": "{name}"}),
    case("approve-name-invalid", APPROVE, "name Bad_Name", "name", ["lower-case letters, digits"],
         {"name": "Bad_Name", "expected_user": "{name}"}),
    case("approve-expected-request-not-a-csr", APPROVE, "expected_request 'hello'", "expected_request",
         ["BEGIN CERTIFICATE REQUEST"], {"name": "{name}", "expected_user": "{name}", "expected_request": "hello"}),
    case("approve-certificate-path-is-a-directory", APPROVE, "certificate_path names a directory",
         "certificate_path", ["give a file path"],
         {"name": "{name}", "expected_user": "{name}", "certificate_path": "{dir}/certs"}, {"certs": None}),
    case("approve-on-violation-unknown", APPROVE, "on_violation ignore", "on_violation", ["fail, deny"],
         {"name": "{name}", "expected_user": "{name}", "on_violation": "ignore"}),
    case("approve-csr-missing", APPROVE, "name of a CSR that does not exist", "name",
         ["the name of an existing one", "kubectl get csr"],
         {"name": "{name}", "expected_user": "{name}"}),
    # k8s_kubeconfig_user: kubeconfigs, credentials
    case("kubeconfig-file-not-yaml", KUBECONFIG, "path holds text that is not YAML", "path",
         ["Repair it, or move it away"], CREDENTIALS, dict(GOOD_PAIR, kubeconfig=NOT_YAML.encode())),
    case("kubeconfig-file-not-a-kubeconfig", KUBECONFIG, "path holds a Deployment manifest", "path",
         ["Give the path of a kubeconfig"], CREDENTIALS, dict(GOOD_PAIR, kubeconfig=NOT_A_KUBECONFIG.encode())),
    case("kubeconfig-path-is-a-directory", KUBECONFIG, "path names a directory", "path", ["give a file path"],
         CREDENTIALS, dict(GOOD_PAIR, kubeconfig=None)),
    case("kubeconfig-server-not-https", KUBECONFIG, "server http://...", "server", ["https:// URL"],
         dict(CREDENTIALS, server="http://kubernetes.example.com"), GOOD_PAIR),
    case("kubeconfig-key-not-a-key", KUBECONFIG, "client_key_path holds text", "client_key_path",
         ["PEM private key"], CREDENTIALS, {"user.key": b"not a key\n", "user.crt": a_certificate("{name}")}),
    case("kubeconfig-key-encrypted", KUBECONFIG, "client_key_path holds an encrypted key", "client_key_path",
         ["without a passphrase"], CREDENTIALS,
         {"user.key": a_key(passphrase="secret"), "user.crt": a_certificate("{name}")}),
    case("kubeconfig-key-of-another-certificate", KUBECONFIG, "a key that is not the certificate's",
         "client_key_path", ["not the key of the certificate"], CREDENTIALS,
         {"user.key": a_key(), "user.crt": a_certificate("{name}")}),
    case("kubeconfig-certificate-of-another-user", KUBECONFIG, "a certificate for another CN",
         "client_certificate_path", ["CN='other-", "not user="], CREDENTIALS,
         {"user.key": a_key(), "user.crt": a_certificate("other-{name}", "user.key")}),
    case("kubeconfig-certificate-not-a-certificate", KUBECONFIG, "client_certificate_path holds text",
         "client_certificate_path", ["PEM certificate"], CREDENTIALS,
         {"user.key": a_key(), "user.crt": b"not a certificate\n"}),
    case("kubeconfig-credentials-missing", KUBECONFIG, "certificate and key files that do not exist",
         "client_certificate_path", ["made by kubeaccess.x509.k8s_csr_request"], CREDENTIALS),
    case("kubeconfig-name-format-unknown-placeholder", KUBECONFIG, "name_format '{user}-{namespace}'",
         "name_format", ["only {user} and {cluster}"], dict(CREDENTIALS, name_format="{user}-{namespace}"),
         GOOD_PAIR),
    case("kubeconfig-ca-source-file-without-ca-file", KUBECONFIG, "ca_source file, no ca_file", "ca_file",
         ["required with ca_source=file"], dict(CREDENTIALS, ca_source="file"), GOOD_PAIR),
    case("kubeconfig-namespace-invalid", KUBECONFIG, "namespace 'Dev Team'", "namespace",
         ["at most 63 lower-case letters, digits and '-'"], dict(CREDENTIALS, namespace="Dev Team"), GOOD_PAIR),
    case("kubeconfig-namespace-with-a-dot", KUBECONFIG, "namespace 'dev.team' (an object name, not a namespace)",
         "namespace", ["at most 63 lower-case letters, digits and '-'"], dict(CREDENTIALS, namespace="dev.team"),
         GOOD_PAIR),
    # k8s_rbac_binding
    case("binding-namespace-missing", BINDING, "a namespace that does not exist", "namespace", ["create it first"],
         dict(BIND, namespace="{name}")),
    case("binding-subjects-empty", BINDING, "subjects []", "subjects", ["User, Group or ServiceAccount"],
         dict(BIND, subjects=[])),
    case("binding-subject-kind-unknown", BINDING, "a subject of kind Robot", "subjects[0].kind",
         ["use User, Group or ServiceAccount"], dict(BIND, subjects=[{"kind": "Robot", "name": "{name}"}])),
    case("binding-role-without-namespace", BINDING, "role_kind Role without namespace", "role_kind",
         ["set namespace"], dict(BIND, role_kind="Role")),
    case("binding-managed-by-label", BINDING, "labels app.kubernetes.io/managed-by", "labels", ["remove it"],
         dict(BIND, labels={"app.kubernetes.io/managed-by": "me"})),
    case("binding-rule-without-api-groups", BINDING, "a rule with resources and no api_groups",
         "rules[0].api_groups", ["[''] for the core group"],
         dict(BIND, role_name="{name}", rules=[{"resources": ["pods"], "verbs": ["get"]}])),
    case("binding-batch-with-one-bad-item", BINDING, "bindings: a good item, then one named Bad_Name",
         "bindings[1]", ["lower-case letters, digits"], {"bindings": [BIND, dict(BIND, name="Bad_Name")]}),
    case("binding-server-untrusted", BINDING, "a kubeconfig with another CA than the server's", "ca_cert",
         ["TLS failure", "give the cluster CA"], dict(BIND, kubeconfig="{dir}/admin.conf"),
         {"admin.conf": another_ca}),
    # k8s_access_info: the admin kubeconfig
    case("info-kubeconfig-missing", INFO, "kubeconfig names no file", "kubeconfig",
         ["give the path of a kubeconfig"], {"kubeconfig": "{dir}/missing.conf", "users": ["{name}"]}),
    case("info-kubeconfig-not-yaml", INFO, "kubeconfig holds text that is not YAML", "kubeconfig",
         ["give the path of another kubeconfig"], {"kubeconfig": "{dir}/admin.conf", "users": ["{name}"]},
         {"admin.conf": NOT_YAML.encode()}),
    case("info-kubeconfig-not-a-kubeconfig", INFO, "kubeconfig holds a Deployment manifest", "kubeconfig",
         ["Give the path of a kubeconfig"], {"kubeconfig": "{dir}/admin.conf", "users": ["{name}"]},
         {"admin.conf": NOT_A_KUBECONFIG.encode()}),
    case("info-context-missing", INFO, "a context the kubeconfig does not have", "context", ["it has:"],
         {"context": "{name}", "users": ["{name}"]}),
]


class Context:
    """A case's directory, name and the files made for it."""

    def __init__(self, directory, name, admin_kubeconfig):
        self.dir, self.name, self.admin_kubeconfig = directory, name, admin_kubeconfig
        self.keys = {}

    def key(self, file_name):
        with open(os.path.join(self.dir, file_name), "rb") as handle:
            return serialization.load_pem_private_key(handle.read(), None)

    @staticmethod
    def request(common_name):
        return make_csr_pem(new_key(), common_name)

    def fill(self, value):
        """`value` (args) with {dir} and {name} in every string filled in."""
        if isinstance(value, str):
            return value.replace("{dir}", self.dir).replace("{name}", self.name)
        if isinstance(value, list):
            return [self.fill(item) for item in value]
        if isinstance(value, dict):
            return {self.fill(key): self.fill(item) for key, item in value.items()}
        return value

    def make_files(self, files):
        os.makedirs(self.dir)
        for file_name, content in files.items():
            path = os.path.join(self.dir, file_name)
            if content is None:
                os.makedirs(path)
                continue
            data = content(self) if callable(content) else content
            with open(path, "wb") as handle:
                handle.write(data)
            os.chmod(path, 0o600)


@pytest.fixture(scope="module")
def refusals(cluster, tmp_path_factory):
    """Every case run as one task of one playbook: case id -> (result, files before and after, objects before and
    after). A case's names carry its token (x<number><session suffix>), found in their names on the cluster."""
    workdir = tmp_path_factory.mktemp("bad-inputs")
    contexts, tasks = {}, []
    for number, entry in enumerate(CASES):
        context = Context(str(workdir / entry["id"]), f"x{number:02d}{cluster.suffix}", cluster.kubeconfig)
        context.make_files(entry["files"])
        contexts[entry["id"]] = context
        tasks.append({"name": entry["id"], f"kubeaccess.x509.{entry['where']}": context.fill(entry["args"]),
                      "register": f"case_{number}", "ignore_errors": True})
    results = ", ".join(f"'{entry['id']}': case_{number}" for number, entry in enumerate(CASES))
    tasks.append({"name": "Save the results", "ansible.builtin.copy": {
        "content": "{{ {" + results + "} | to_json }}", "dest": str(workdir / "results.json"), "mode": "0600"}})
    path = workdir / "bad_inputs.yml"
    path.write_text(yaml.safe_dump([{
        "name": "Bad input to every module", "hosts": "localhost", "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "module_defaults": {"group/kubeaccess.x509.k8s": {"kubeconfig": "{{ kubeconfig }}"}}, "tasks": tasks}]))

    files_before = {case_id: files_state(context.dir) for case_id, context in contexts.items()}
    objects_before = cluster_objects(cluster.admin, cluster.suffix)
    run_playbook(cluster, workdir, str(path)).assert_ok()
    objects_after = cluster_objects(cluster.admin, cluster.suffix)
    results = json.loads((workdir / "results.json").read_text())
    return {case_id: {"result": results[case_id], "files": (files_before[case_id], files_state(context.dir)),
                      "objects": tuple({key: version for key, version in objects.items() if context.name in key[2]}
                                       for objects in (objects_before, objects_after))}
            for case_id, context in contexts.items()}


@pytest.mark.parametrize("entry", CASES, ids=[entry["id"] for entry in CASES])
def test_bad_input_to_a_module_is_refused_before_any_change(refusals, entry):
    seen = refusals[entry["id"]]
    result, message = seen["result"], str(seen["result"].get("msg", ""))
    assert result.get("failed") is True, f"{entry['id']}: not refused: {result}"
    assert not result.get("changed"), result
    assert entry["field"] in message, f"the message does not name {entry['field']}: {message}"
    for words in entry["accepted"]:
        assert words in message, f"the message does not say {words!r}: {message}"
    assert "Traceback" not in json.dumps(result), result
    before, after = seen["files"]
    assert after == before, f"files changed: {sorted(set(after.items()) ^ set(before.items()))}"
    before, after = seen["objects"]
    assert after == before == {}, f"objects on the cluster: before {before}, after {after}"
