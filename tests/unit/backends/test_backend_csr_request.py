"""module_utils/backends/csr_request.py, the backend of k8s_csr_request, run in this process with a real AnsibleModule
against the cluster under test: what it decides for an existing CSR, what it refuses and how it says so, the files it
writes, and the objects it leaves on the cluster."""
# pylint: disable=missing-function-docstring,redefined-outer-name  # pytest fixtures are parameters named as fixtures

import base64
import copy
import datetime
import os
import pathlib
import re

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.kubeaccess.x509.plugins.module_utils import csr_object
from ansible_collections.kubeaccess.x509.plugins.module_utils.backends import csr_request
from ansible_collections.kubeaccess.x509.plugins.module_utils.backends.csr_request import InputError, checked_request
from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import ItemModule, SharedClient
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import Request, public_key_fingerprint
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import remove_material
from tests.kube import CSR_PATH, approve, csr_manifest, make_csr_pem, new_key, set_condition

from tests.unit.backends.backend_support import warnings_of

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
CA_KEY = ec.generate_private_key(ec.SECP256R1())
CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unit-test-ca")])


# -- helpers ------------------------------------------------------------------------------------------------------
def write_key(path, key=None, mode=0o600):
    """A PEM private key in `path`, as an earlier run (or the user) left it; returns the key."""
    key = key or new_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(mode)
    return key


def certificate_pem(public_key, common_name, organizations=(), not_before=NOW - datetime.timedelta(hours=1),
                    not_after=NOW + DAY):
    """A certificate for `public_key` as a signer would issue it (from a test CA: the module does not check who
    issued the certificate it finds in certificate_path, only whose it is and how long it has left)."""
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    subject += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return (x509.CertificateBuilder().subject_name(x509.Name(subject)).issuer_name(CA_NAME).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .sign(CA_KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


def get_csr(admin, name):
    response = admin.request("GET", f"{CSR_PATH}/{name}")
    return response.json() if response.status_code == 200 else None


def with_status(obj, conditions=(), certificate=None):
    """An object as the API returns it once someone decided on it (and, with `certificate`, the signer issued it)."""
    obj = copy.deepcopy(obj)
    status = {"conditions": [dict({"status": "True", "reason": "KubeaccessTest", "message": "set by the test"},
                                  type=kind) for kind in conditions]}
    if certificate:
        status["certificate"] = base64.b64encode(certificate).decode()
    obj["status"] = status
    return obj


def track(cleanup, name):
    """Delete CSR `name` after the test; returns the name."""
    cleanup.add(f"{CSR_PATH}/{name}")
    return name


def files_under(directory):
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


@pytest.fixture
def checked(cluster):
    """`checked({...}, check_mode=False)`: the CsrRequest of a single-form task, after the checks run() makes of
    every item before doing any (validate, then load_request_or_key); InputError when they refuse it."""
    def make(module_args, check_mode=False, diff=False):
        args = {"kubeconfig": cluster.kubeconfig, **module_args, "_ansible_check_mode": check_mode,
                "_ansible_diff": diff}
        with patch_module_args(args):
            module = AnsibleModule(**csr_request.MODULE_ARGS)
        client = SharedClient(module.params)
        item = ItemModule(module, dict(module.params, requests=None), client)
        return checked_request(item, csr_object.reads(client, batch=False))
    yield make
    remove_material()


@pytest.fixture
def user(cluster, request):
    """A user name of this test alone, so that CSR names never collide on a shared cluster."""
    return cluster.name(re.sub("[^a-z0-9]+", "-", request.node.name[5:25].lower()).strip("-"))


# -- decide(): an existing CSR of the same name -> create / reuse / recreate / refusal ------------------------------
OURS, UNLABELLED, OTHER_KEY = "ours", "unlabelled", "labelled, another key"


def _existing(runner, kind, phase, changed_spec):
    """An existing CSR object under the runner's name, of `kind`, in `phase`, asking for what the runner asks for
    unless `changed_spec` (a longer lifetime)."""
    obj = runner.manifest()
    if kind == UNLABELLED:
        del obj["metadata"]["labels"]
    if kind == OTHER_KEY:
        obj["spec"]["request"] = base64.b64encode(make_csr_pem(new_key(), runner.user)).decode()
    if changed_spec:
        obj["spec"]["expirationSeconds"] = 2 * obj["spec"]["expirationSeconds"]
    public_key, cn, groups = runner.request.public_key, runner.user, runner.groups
    return {
        "pending": lambda: with_status(obj),
        "approved": lambda: with_status(obj, ["Approved"]),
        "issued": lambda: with_status(obj, ["Approved"], certificate_pem(public_key, cn, groups)),
        # 9 of 10 days gone: inside the default renewal window (30% of the lifetime).
        "issued, due": lambda: with_status(obj, ["Approved"], certificate_pem(
            public_key, cn, groups, not_before=NOW - 9 * DAY, not_after=NOW + DAY)),
        "denied": lambda: with_status(obj, ["Denied"]),
        "failed": lambda: with_status(obj, ["Approved", "Failed"]),
    }[phase]()


DECISIONS = [
    # kind,      phase,        changed spec, force, decision
    (OURS, "pending", False, False, "reuse"),
    (OURS, "approved", False, False, "reuse"),
    (OURS, "issued", False, False, "reuse"),
    (OURS, "issued, due", False, False, "recreate"),
    (OURS, "pending", True, False, "recreate"),
    (OURS, "issued", True, False, "recreate"),
    (OURS, "denied", True, False, "recreate"),
    (OURS, "denied", False, False, "refused: was denied"),
    (OURS, "failed", False, False, "refused: was failed"),
    (OURS, "denied", False, True, "recreate"),
    (OURS, "failed", False, True, "recreate"),
    # Only the holder of the key can make a request for it: an unlabelled CSR asking for exactly ours is reused.
    (UNLABELLED, "pending", False, False, "reuse"),
    (UNLABELLED, "pending", True, False, "refused: not managed"),
    (UNLABELLED, "denied", False, False, "refused: not managed"),
    (UNLABELLED, "pending", True, True, "recreate"),
    (OTHER_KEY, "pending", False, False, "refused: another key"),
    (OTHER_KEY, "issued", False, False, "refused: another key"),
    (OTHER_KEY, "pending", False, True, "recreate"),
]


@pytest.mark.parametrize("kind, phase, changed_spec, force, decision", DECISIONS,
                         ids=[f"{k}-{p}-{'changed' if c else 'same'}{'-force' if f else ''}"
                              for k, p, c, f, _decision in DECISIONS])
def test_decision_for_an_existing_csr(checked, tmp_path, kind, phase, changed_spec, force, decision):
    write_key(tmp_path / "user.key")
    runner = checked({"user": "rahul", "groups": ["developers"], "private_key_path": str(tmp_path / "user.key"),
                      "force": force})
    existing = _existing(runner, kind, phase, changed_spec)
    if not decision.startswith("refused"):
        assert runner.decide(existing, runner.manifest()) == decision
        return
    with pytest.raises(InputError) as refusal:
        runner.decide(existing, runner.manifest())
    message, name = str(refusal.value), runner.name
    if decision == "refused: was denied":
        assert message == (f"CSR {name} for this key was denied, reason KubeaccessTest: set by the test. Fix what "
                           f"was refused, then delete it (kubectl delete csr {name}) to submit it again")
    elif decision == "refused: was failed":
        assert message.startswith(f"CSR {name} for this key was failed, reason KubeaccessTest: set by the test.")
    elif decision == "refused: not managed":
        assert message == (f"name: a CSR named {name} exists and is not managed by kubeaccess.x509 (no label "
                           "app.kubernetes.io/managed-by=kubeaccess.x509); it is not replaced. Check who made it, "
                           f"then delete it (kubectl delete csr {name}) and run again")
    else:
        assert message.startswith(f"name: a CSR named {name} exists and carries the kubeaccess.x509 label but "
                                  "asks for another key")
        assert runner.request.fingerprint in message and "it is not replaced" in message


def test_no_csr_of_that_name_is_a_create(checked, tmp_path):
    write_key(tmp_path / "user.key")
    runner = checked({"user": "rahul", "private_key_path": str(tmp_path / "user.key")})
    assert runner.decide(None, runner.manifest()) == "create"


@pytest.mark.parametrize("renew_before, decision", [("2d", "recreate"), ("12h", "reuse"), ("0.05", "reuse"),
                                                    ("0.5", "recreate")])
def test_an_issued_csr_is_renewed_inside_renew_before(checked, tmp_path, renew_before, decision):
    """A certificate of 10 days with 1 day left: a duration is compared with what is left, a fraction with the
    lifetime (5% is 12 h, 50% is 5 days)."""
    write_key(tmp_path / "user.key")
    runner = checked({"user": "rahul", "private_key_path": str(tmp_path / "user.key"), "renew_before": renew_before})
    issued = with_status(runner.manifest(), ["Approved"], certificate_pem(
        runner.request.public_key, "rahul", not_before=NOW - 9 * DAY, not_after=NOW + DAY))
    assert runner.decide(issued, runner.manifest()) == decision


# -- validate() and load_request_or_key(): bad input is refused before anything is made ----------------------------
def _bad_files(directory):
    """Files a careless or hostile user could point the module at."""
    directory.mkdir()
    encrypted = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"right"))
    unusable = ec.generate_private_key(ec.SECP256K1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    der = x509.load_pem_x509_csr(make_csr_pem(new_key(), "tampered-name")).public_bytes(serialization.Encoding.DER)
    broken = der.replace(b"tampered-name", b"tampered-namf")
    files = {
        "garbage_key": b"this is not a key\n",
        "encrypted_key": encrypted,
        "unusable_key": unusable,
        "certificate_file": certificate_pem(new_key().public_key(), "a-certificate"),
        "broken_csr": b"-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(broken)
                      + b"-----END CERTIFICATE REQUEST-----\n",
        "other_csr": make_csr_pem(new_key(), "someone-else"),
        "bad_group_csr": make_csr_pem(new_key(), "bad-user", ["system:masters"]),
        "not_a_directory": b"a file where a directory is expected\n",
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return {name: str(directory / name) for name in files}


# (expected text of the message, the task's arguments over a valid request); `{name}` is a file of _bad_files.
# "keyless" cases give a request made elsewhere instead of private_key_path.
BAD_INPUT = [
    ("user: must not be empty", {"user": ""}),
    ("a certificate subject field holds at most 64", {"user": "u" * 65}),
    ("contains control characters", {"user": "ra\thul"}),
    ("allow_system_names=true", {"user": "system:bad"}),
    ("groups: 'system:masters' starts with 'system:'", {"groups": ["system:masters"]}),
    ("name: 'Not A Valid Name' is not a valid object name", {"name": "Not A Valid Name"}),
    ("expiration_seconds: 599 is below 600", {"expiration_seconds": 599}),
    ("signer_name: 'team-ca' is not a signer name; give a lower-case domain and a path", {"signer_name": "team-ca"}),
    ("renew_before: 'soon' is not understood", {"renew_before": "soon"}),
    ("labels: key 'team name' is invalid", {"labels": {"team name": "x"}}),
    ("usages: must not be empty; client certificates use ['client auth']", {"usages": []}),
    # What the API would refuse after the key is made: refused before it.
    ("usages: ['flying'] are not key usages of the CSR API; client certificates use ['client auth']",
     {"usages": ["flying"]}),
    ("usages: ['client auth'] are given more than once", {"usages": ["client auth", "client auth"]}),
    ("annotations: key 'bad key!' is invalid", {"annotations": {"bad key!": "x"}}),
    ("wait_timeout: must be 0 or more seconds", {"wait_timeout": -1}),
    # A key file is named (the role's users never typed private_key_path), with the way out of a new key.
    ("private_key_path: {garbage_key}: cannot read the private key", {"private_key_path": "{garbage_key}"}),
    ("private_key_path: {encrypted_key}: the key is encrypted; give private_key_passphrase; or move the file away, "
     "and a new key is made in its place", {"private_key_path": "{encrypted_key}"}),
    ("the passphrase is wrong", {"private_key_path": "{encrypted_key}", "private_key_passphrase": "not-it"}),
    ("holds a key the cluster cannot use: curve secp256k1 is not supported by Kubernetes; use P-256, P-384 or P-521; "
     "or move the file away, and a new key is made in its place", {"private_key_path": "{unusable_key}"}),
    ("private_key_path: cannot create {not_a_directory}/new.key: {not_a_directory} is not a directory; give a path "
     "under a directory",
     {"private_key_path": "{not_a_directory}/new.key"}),
    ("certificate_path: cannot create {not_a_directory}/new.crt: {not_a_directory} is not a directory",
     {"certificate_path": "{not_a_directory}/new.crt"}),
    ("subject_alt_names: 'NOPE:x' is not understood; write DNS:name", {"subject_alt_names": ["NOPE:x"]}),
    ("user: required with private_key_path; it becomes the certificate's CN", {"user": None}),
    ("private_key_path: required (or csr_path / csr_content for a request made elsewhere)", {"keyless": True}),
    ("csr_path: not a PEM certificate request", {"keyless": True, "csr_path": "{certificate_file}"}),
    ("csr_path: the certificate request's signature is broken", {"keyless": True, "csr_path": "{broken_csr}"}),
    ("csr_path: {garbage_key}.missing does not exist; give the path of a PEM certificate request",
     {"keyless": True, "csr_path": "{garbage_key}.missing"}),
    ("csr_content: the request is for CN='someone-else', not user='{user}'",
     {"keyless": True, "csr_content": "@{other_csr}"}),
    ("csr_content: the request has O=[], not groups=['developers']",
     {"keyless": True, "csr_content": "@{other_csr}", "user": None, "groups": ["developers"]}),
    ("csr_content: groups: 'system:masters' starts with 'system:'",
     {"keyless": True, "csr_content": "@{bad_group_csr}", "user": None}),
    ("name: required for state=absent (or user and private_key_path, the request, or certificate_path, that the "
     "default name is derived from)", {"state": "absent", "keyless": True, "certificate_path": None}),
    ("csr_content: cannot be combined with submit=false, which makes a new request from private_key_path and "
     "submits nothing", {"keyless": True, "csr_content": "x", "submit": False}),
    ("wait: cannot be combined with submit=false, which submits nothing", {"submit": False, "wait": True}),
    ("state: absent cannot be combined with submit=false", {"submit": False, "state": "absent"}),
    ("kubeconfig: /nonexistent/kubeconfig does not exist", {"kubeconfig": "/nonexistent/kubeconfig"}),
    ("context: 'no-such-context' is not in", {"context": "no-such-context"}),
]


def _bad_args(tmp_path, files, given):
    def fill(value):
        if isinstance(value, str) and value.startswith("@{"):
            return pathlib.Path(value[1:].format(**files)).read_text(encoding="ascii")
        return value.format(**files) if isinstance(value, str) else value
    given = dict(given)
    args = {"user": files["user"], "certificate_path": str(tmp_path / "out" / "new.crt")}
    if not given.pop("keyless", False):
        args["private_key_path"] = str(tmp_path / "out" / "new.key")
    args.update({option: fill(value) for option, value in given.items()})
    return {option: value for option, value in args.items() if value is not None}, fill


@pytest.mark.parametrize("expected, given", BAD_INPUT, ids=[e[:50] for e, _given in BAD_INPUT])
def test_bad_input_is_refused_naming_the_option_before_anything_is_made(run_backend, admin, cluster, tmp_path,
                                                                        expected, given):
    files = dict(_bad_files(tmp_path / "inputs"), user=cluster.name("bad-input"))
    (tmp_path / "out").mkdir()
    args, fill = _bad_args(tmp_path, files, given)
    result = run_backend(csr_request, args)
    assert result.get("failed") and not result["changed"], result
    assert fill(expected) in result["msg"]
    assert not re.search(r"(\w+): \1:", result["msg"]), "an option named twice over"
    assert files_under(tmp_path / "out") == [], "no key and no certificate are written"
    listed = admin.json("GET", CSR_PATH, expect=200)["items"]
    assert not [o for o in listed if o["metadata"]["name"].startswith(files["user"])], "no CSR is submitted"


def test_every_bad_option_is_named_at_once(checked, tmp_path):
    with pytest.raises(InputError) as refusal:
        checked({"user": "", "groups": ["system:nodes"], "expiration_seconds": 60, "usages": [],
                 "private_key_path": str(tmp_path / "k.key")})
    message = str(refusal.value)
    for option in ("user:", "groups:", "expiration_seconds:", "usages:"):
        assert option in message
    assert not (tmp_path / "k.key").exists()


def test_system_names_are_accepted_when_allowed(checked, tmp_path):
    runner = checked({"user": "system:rahul", "groups": ["system:nodes"], "allow_system_names": True,
                      "private_key_path": str(tmp_path / "k.key")})
    assert (runner.request.common_name, runner.request.organizations) == ("system:rahul", ["system:nodes"])


def test_sources_that_exclude_each_other_are_named_in_a_batch_item(run_backend, tmp_path):
    """The single form's mutually_exclusive is AnsibleModule's; an item of `requests` is checked by the backend."""
    (tmp_path / "user.csr").write_bytes(make_csr_pem(new_key(), "rahul"))
    result = run_backend(csr_request, {"requests": [{"user": "rahul", "private_key_path": str(tmp_path / "user.key"),
                                                     "csr_path": str(tmp_path / "user.csr")}]})
    assert result["failed"] and not result["changed"]
    assert "requests[0] (rahul): private_key_path: cannot be combined with csr_path" in result["msg"]
    assert not (tmp_path / "user.key").exists()


def test_a_request_made_elsewhere_gives_the_user_and_groups(checked, tmp_path):
    key = new_key()
    (tmp_path / "seema.csr").write_bytes(make_csr_pem(key, "seema", ["platform-team", "app1-devs"]))
    runner = checked({"csr_path": str(tmp_path / "seema.csr"), "groups": ["app1-devs", "platform-team"]})
    assert (runner.user, sorted(runner.groups)) == ("seema", ["app1-devs", "platform-team"])
    assert runner.key is None and runner.name == csr_object.default_name("seema", runner.request.fingerprint)


# -- present(): files, results and objects ------------------------------------------------------------------------
def test_request_in_check_mode_then_create_then_reuse(run_backend, admin, cleanup, user, tmp_path):
    key_path = tmp_path / "keys" / "user.key"
    args = {"user": user, "groups": ["developers"], "private_key_path": str(key_path),
            "annotations": {"team": "platform"}, "labels": {"tier": "gold"}, "expiration_seconds": 3600}

    predicted = run_backend(csr_request, args, check_mode=True, diff=True)
    assert predicted["changed"] and predicted["phase"] == "pending" and predicted["action"] == "create"
    # The name comes from the key, which check mode does not make.
    assert predicted["name"] == "" and not key_path.exists()
    assert predicted["diff"]["before"] == {}
    assert predicted["diff"]["after"]["spec"]["request"] == "(made at run time from a new private key)"

    made = run_backend(csr_request, args, diff=True)
    cleanup.add(f"{CSR_PATH}/{made['name']}")
    assert made["changed"] and (made["action"], made["phase"]) == ("create", "pending")
    assert made["name"] == csr_object.default_name(user, made["public_key_fingerprint"])
    assert os.stat(key_path).st_mode & 0o777 == 0o600
    assert os.stat(key_path.parent).st_mode & 0o777 == 0o700
    assert "PRIVATE KEY" not in str(made)
    on_cluster = get_csr(admin, made["name"])
    assert on_cluster["metadata"]["labels"] == {"tier": "gold", "app.kubernetes.io/managed-by": "kubeaccess.x509"}
    assert on_cluster["metadata"]["annotations"] == {"team": "platform", "kubeaccess.x509/user": user}
    assert on_cluster["spec"]["expirationSeconds"] == 3600
    assert made["diff"]["after"]["spec"]["request"] == on_cluster["spec"]["request"]
    assert set(made["diff"]["after"]["spec"]) == {"request", "signerName", "usages", "expirationSeconds"}

    again = run_backend(csr_request, args, diff=True)
    assert not again["changed"] and (again["action"], again["name"]) == ("reuse", made["name"])
    assert again["diff"]["before"] == again["diff"]["after"]
    assert get_csr(admin, made["name"])["metadata"]["uid"] == on_cluster["metadata"]["uid"]
    assert not run_backend(csr_request, args, check_mode=True)["changed"]


def test_a_changed_lifetime_recreates_our_pending_csr(run_backend, admin, cleanup, user, tmp_path):
    args = {"user": user, "private_key_path": str(tmp_path / "user.key")}
    made = run_backend(csr_request, args)
    cleanup.add(f"{CSR_PATH}/{made['name']}")
    first = get_csr(admin, made["name"])

    predicted = run_backend(csr_request, dict(args, expiration_seconds=7200), check_mode=True)
    assert predicted["changed"] and predicted["action"] == "recreate"
    assert get_csr(admin, made["name"])["metadata"]["uid"] == first["metadata"]["uid"]

    recreated = run_backend(csr_request, dict(args, expiration_seconds=7200))
    assert recreated["changed"] and recreated["action"] == "recreate" and recreated["name"] == made["name"]
    second = get_csr(admin, made["name"])
    assert second["metadata"]["uid"] != first["metadata"]["uid"] and second["spec"]["expirationSeconds"] == 7200


def test_a_denied_csr_is_not_submitted_again_unless_forced(run_backend, admin, cleanup, user, tmp_path):
    args = {"user": user, "private_key_path": str(tmp_path / "user.key")}
    made = run_backend(csr_request, args)
    name = track(cleanup, made['name'])
    assert set_condition(admin, name, "Denied", reason="TooBroad", message="ask for less").status_code == 200

    refused = run_backend(csr_request, args)
    assert refused["failed"] and not refused["changed"]
    assert refused["msg"] == (f"CSR {name} for this key was denied, reason TooBroad: ask for less. Fix what was "
                              f"refused, then delete it (kubectl delete csr {name}) to submit it again")
    assert csr_object.phase(get_csr(admin, name)) == "denied"

    forced = run_backend(csr_request, dict(args, force=True))
    assert forced["changed"] and (forced["action"], forced["phase"]) == ("recreate", "pending")
    assert csr_object.phase(get_csr(admin, name)) == "pending"


def test_a_csr_someone_else_made_under_the_name_is_left_alone(run_backend, admin, cleanup, cluster, tmp_path):
    name = cluster.name("someone-elses")
    admin.json("POST", CSR_PATH, csr_manifest(name, make_csr_pem(new_key(), "someone-else")), expect=201)
    cleanup.add(f"{CSR_PATH}/{name}")
    theirs = get_csr(admin, name)
    refused = run_backend(csr_request, {"name": name, "user": "rahul", "private_key_path": str(tmp_path / "r.key")})
    assert refused["failed"] and f"a CSR named {name} exists and is not managed by kubeaccess.x509" in refused["msg"]
    # The key made for the request is not kept when nothing was submitted with it.
    assert not (tmp_path / "r.key").exists()
    assert get_csr(admin, name)["metadata"]["uid"] == theirs["metadata"]["uid"]


def test_the_api_server_refusing_system_masters_is_reported_and_the_key_not_kept(run_backend, user, tmp_path):
    refused = run_backend(csr_request, {"user": user, "groups": ["system:masters"], "allow_system_names": True,
                                        "private_key_path": str(tmp_path / "masters.key")})
    assert refused["failed"]
    assert "refused to create CSR" in refused["msg"] and "system:masters group is not allowed" in refused["msg"]
    assert "Missing permission" not in refused["msg"]
    assert not (tmp_path / "masters.key").exists()


@pytest.mark.local_only("injects server errors")
def test_the_key_is_on_disk_before_its_request_so_that_the_next_run_submits_it(run_backend, admin, cleanup,
                                                                               cluster, user, tmp_path):
    key_path = tmp_path / "k.key"
    cluster.control("POST", "faults", {"status": 500, "count": 5, "verb": "create",
                                       "resource": "certificatesigningrequests"})
    try:
        failed = run_backend(csr_request, {"user": user, "private_key_path": str(key_path)})
    finally:
        cluster.control("DELETE", "faults")
    assert failed["failed"] and "refused to create CSR" in failed["msg"]
    # A server error may hide a request that was made: the key stays, and the next run submits it under its name.
    kept = key_path.read_bytes()
    done = run_backend(csr_request, {"user": user, "private_key_path": str(key_path)})
    cleanup.add(f"{CSR_PATH}/{done['name']}")
    assert done["action"] == "create" and key_path.read_bytes() == kept
    public_key = serialization.load_pem_private_key(kept, None).public_key()
    assert done["name"] == csr_object.default_name(user, public_key_fingerprint(public_key))


def test_a_current_certificate_makes_the_run_a_no_op_without_the_api(run_backend, tmp_path):
    key = write_key(tmp_path / "user.key")
    (tmp_path / "user.crt").write_bytes(certificate_pem(key.public_key(), "rahul", ["developers"]))
    # A kubeconfig that does not exist: any API call would fail the run.
    args = {"user": "rahul", "groups": ["developers"], "private_key_path": str(tmp_path / "user.key"),
            "certificate_path": str(tmp_path / "user.crt"), "kubeconfig": str(tmp_path / "no-such-kubeconfig")}
    for check_mode in (True, False):
        result = run_backend(csr_request, args, check_mode=check_mode)
        assert not result.get("failed"), result
        assert not result["changed"] and (result["action"], result["phase"]) == ("none", "issued")
        assert result["common_name"] == "rahul" and result["groups"] == ["developers"]
        assert result["certificate"] == (tmp_path / "user.crt").read_text()


@pytest.mark.parametrize("change", ["renew_before", "groups", "another key's certificate", "unreadable"])
def test_a_certificate_that_is_not_current_for_this_request_is_requested_anew(run_backend, tmp_path, change):
    """Check mode and a kubeconfig pointing nowhere: the run would have to call the API (so it fails) when it
    decides to submit; it does not when the certificate is current."""
    key = write_key(tmp_path / "user.key")
    public_key = new_key().public_key() if change == "another key's certificate" else key.public_key()
    cert = certificate_pem(public_key, "rahul", ["developers"])
    (tmp_path / "user.crt").write_bytes(b"garbage" if change == "unreadable" else cert)
    args = {"user": "rahul", "groups": ["developers"], "private_key_path": str(tmp_path / "user.key"),
            "certificate_path": str(tmp_path / "user.crt"), "kubeconfig": str(tmp_path / "no-such-kubeconfig")}
    if change == "renew_before":
        args["renew_before"] = "2d"
    if change == "groups":
        args["groups"] = ["developers", "ops"]
    result = run_backend(csr_request, args, check_mode=True)
    assert result["failed"] and "no-such-kubeconfig does not exist" in result["msg"]


def test_renewal_submits_under_the_same_name_and_the_certificate_comes_with_wait(run_backend, admin, cleanup,
                                                                                 user, tmp_path):
    args = {"user": user, "groups": ["developers"], "private_key_path": str(tmp_path / "user.key"),
            "certificate_path": str(tmp_path / "user.crt"), "expiration_seconds": 3600}
    made = run_backend(csr_request, args)
    cleanup.add(f"{CSR_PATH}/{made['name']}")
    approve(admin, made["name"])
    issued = run_backend(csr_request, dict(args, wait=True))
    assert issued["changed"] and (issued["action"], issued["phase"]) == ("reuse", "issued")
    assert issued["verification"]["public_key"] and issued["verification"]["subject"]
    assert issued["requested_expiration_seconds"] == 3600
    assert os.stat(tmp_path / "user.crt").st_mode & 0o777 == 0o644
    assert (tmp_path / "user.crt").read_text() == issued["certificate"]

    kept = run_backend(csr_request, args)
    assert not kept["changed"] and (kept["action"], kept["serial"]) == ("none", issued["serial"])

    # The issued CSR is still there and its certificate is due: replaced by a new request for the same key.
    renewal = run_backend(csr_request, dict(args, renew_before="2h"))
    assert renewal["changed"] and (renewal["action"], renewal["phase"]) == ("recreate", "pending")
    assert renewal["name"] == made["name"]
    assert csr_object.phase(get_csr(admin, made["name"])) == "pending"


def key_bytes(path):
    return pathlib.Path(path).read_bytes()


def test_rotation_makes_a_new_key_beside_the_old_one_when_the_certificate_is_due(
        run_backend, admin, cleanup, user, tmp_path):
    """rotate_key at renewal: the request is for a new key written to <key>.next (0600), under the new key's name;
    the old key and certificate stay untouched until the caller moves the new key in."""
    key_path = tmp_path / "user.key"
    old = write_key(key_path)
    old_pem = key_bytes(key_path)
    (tmp_path / "user.crt").write_bytes(certificate_pem(old.public_key(), user, ["developers"]))
    args = {"user": user, "groups": ["developers"], "private_key_path": str(key_path),
            "certificate_path": str(tmp_path / "user.crt"), "rotate_key": True}

    current = run_backend(csr_request, args)
    assert not current["changed"] and current["action"] == "none" and "next_private_key_path" not in current
    assert not os.path.exists(f"{key_path}.next")

    rotated = run_backend(csr_request, dict(args, renew_before="2d"))
    cleanup.add(f"{CSR_PATH}/{rotated['name']}")
    assert not rotated.get("failed"), rotated.get("msg")
    assert rotated["changed"] and rotated["next_private_key_path"] == f"{key_path}.next"
    assert os.stat(f"{key_path}.next").st_mode & 0o777 == 0o600
    new_fingerprint = public_key_fingerprint(
        serialization.load_pem_private_key(key_bytes(f"{key_path}.next"), None).public_key())
    assert new_fingerprint != public_key_fingerprint(old.public_key())
    assert rotated["public_key_fingerprint"] == new_fingerprint
    assert rotated["name"] == csr_object.default_name(user, new_fingerprint)
    assert Request(base64.b64decode(get_csr(admin, rotated["name"])["spec"]["request"])).fingerprint == new_fingerprint
    assert key_bytes(key_path) == old_pem

    # The next call completes the same rotation (same key, same request), even without rotate_key.
    again = run_backend(csr_request, dict(args, rotate_key=False, renew_before="2d"))
    assert (again["name"], again["action"], again["next_private_key_path"]) == (
        rotated["name"], "reuse", f"{key_path}.next")
    assert key_bytes(key_path) == old_pem


@pytest.mark.parametrize("situation", ["no certificate yet", "another key's certificate", "without rotate_key"])
def test_no_rotation_without_a_due_certificate_of_this_key(run_backend, cleanup, user, tmp_path, situation):
    """A key whose certificate never came (a first request, a run that stopped before it) is not rotated; nor is
    anything rotated without rotate_key."""
    key_path = tmp_path / "user.key"
    key = write_key(key_path)
    if situation != "no certificate yet":
        owner = new_key() if situation == "another key's certificate" else key
        (tmp_path / "user.crt").write_bytes(certificate_pem(owner.public_key(), user, ["developers"]))
    args = {"user": user, "groups": ["developers"], "private_key_path": str(key_path),
            "certificate_path": str(tmp_path / "user.crt"), "renew_before": "2d",
            "rotate_key": situation != "without rotate_key"}
    result = run_backend(csr_request, args)
    cleanup.add(f"{CSR_PATH}/{result['name']}")
    assert result["changed"] and "next_private_key_path" not in result
    assert result["public_key_fingerprint"] == Request(make_csr_pem(key, user)).fingerprint
    assert not os.path.exists(f"{key_path}.next")


def test_rotation_in_check_mode_writes_no_key(run_backend, tmp_path):
    key_path = tmp_path / "user.key"
    old = write_key(key_path)
    (tmp_path / "user.crt").write_bytes(certificate_pem(old.public_key(), "rahul", ["developers"]))
    result = run_backend(csr_request, {"user": "rahul", "groups": ["developers"], "private_key_path": str(key_path),
                                       "certificate_path": str(tmp_path / "user.crt"), "renew_before": "2d",
                                       "rotate_key": True}, check_mode=True)
    assert result["changed"] and result["next_private_key_path"] == f"{key_path}.next"
    assert sorted(os.listdir(tmp_path)) == ["user.crt", "user.key"]


def test_waiting_for_a_csr_nobody_approves_says_how_to_approve_it(run_backend, cleanup, user, tmp_path):
    result = run_backend(csr_request, {"user": user, "private_key_path": str(tmp_path / "user.key"),
                                       "wait": True, "wait_timeout": 0})
    name = result["name"] or csr_object.default_name(user, result["public_key_fingerprint"])
    cleanup.add(f"{CSR_PATH}/{name}")
    assert result["failed"]
    assert result["msg"] == (f"CSR {name} is still pending after 0 s: nobody approved it. Approve it with "
                             f"kubeaccess.x509.k8s_csr_approve or `kubectl certificate approve {name}`")


@pytest.mark.parametrize("check_mode", [True, False], ids=["check", "run"])
def test_a_key_readable_by_others_is_made_private(run_backend, tmp_path, check_mode):
    key_path = tmp_path / "user.key"
    key = write_key(key_path, mode=0o644)
    (tmp_path / "user.crt").write_bytes(certificate_pem(key.public_key(), "rahul"))
    args = {"user": "rahul", "private_key_path": str(key_path), "certificate_path": str(tmp_path / "user.crt")}

    result = run_backend(csr_request, args, check_mode=check_mode)
    assert result["changed"] and result["action"] == "none"
    assert f"private_key_path: {key_path} was readable by others (mode 644); set 0600" in warnings_of(result)
    assert os.stat(key_path).st_mode & 0o777 == (0o644 if check_mode else 0o600)
    if not check_mode:
        assert not run_backend(csr_request, args)["changed"]


# -- submit=false: the key and the request on the user's machine, nothing sent ------------------------------------
def test_submit_false_makes_the_key_and_the_request_and_connects_to_nothing(run_backend, tmp_path):
    key_path = tmp_path / "laptop" / "kim.key"
    args = {"user": "kim", "groups": ["team-kim"], "private_key_path": str(key_path), "submit": False,
            "kubeconfig": str(tmp_path / "no-such-kubeconfig")}

    predicted = run_backend(csr_request, args, check_mode=True)
    assert predicted["changed"] and (predicted["phase"], predicted["name"]) == ("unsubmitted", "")
    assert not key_path.parent.exists()

    made = run_backend(csr_request, args)
    assert made["changed"] and (made["phase"], made["action"]) == ("unsubmitted", "none")
    assert os.stat(key_path).st_mode & 0o777 == 0o600
    assert made["request"].startswith("-----BEGIN CERTIFICATE REQUEST-----") and "PRIVATE KEY" not in str(made)
    assert made["name"] == csr_object.default_name("kim", made["public_key_fingerprint"])

    again = run_backend(csr_request, args)
    assert not again["changed"] and again["name"] == made["name"]
    assert again["public_key_fingerprint"] == made["public_key_fingerprint"]

    # The certificate, once next to the key, makes the run report it issued.
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    (key_path.parent / "kim.crt").write_bytes(certificate_pem(key.public_key(), "kim", ["team-kim"]))
    issued = run_backend(csr_request, dict(args, certificate_path=str(key_path.parent / "kim.crt")))
    assert not issued["changed"] and (issued["phase"], issued["common_name"]) == ("issued", "kim")


# -- delete_stale_pending ---------------------------------------------------------------------------------------
def test_a_pending_csr_of_ours_is_deleted_while_the_certificate_is_current(run_backend, admin, cleanup, user,
                                                                           tmp_path):
    key = write_key(tmp_path / "user.key")
    args = {"user": user, "private_key_path": str(tmp_path / "user.key")}
    pending = run_backend(csr_request, dict(args, expiration_seconds=604800))
    name = track(cleanup, pending['name'])
    (tmp_path / "user.crt").write_bytes(certificate_pem(key.public_key(), user))
    args["certificate_path"] = str(tmp_path / "user.crt")

    untouched = run_backend(csr_request, args)
    assert not untouched["changed"] and untouched["action"] == "none" and "stale" not in untouched
    assert get_csr(admin, name) is not None

    stale = f"CSR {name} was pending (asking for 604800 s) while the certificate is current; deleted"
    predicted = run_backend(csr_request, dict(args, delete_stale_pending=True), check_mode=True, diff=True)
    assert predicted["changed"] and (predicted["action"], predicted["stale"]) == ("delete_stale", stale)
    assert predicted["diff"]["after"] == {} and predicted["diff"]["before"]["metadata"]["name"] == name
    assert get_csr(admin, name) is not None

    deleted = run_backend(csr_request, dict(args, delete_stale_pending=True))
    assert deleted["changed"] and (deleted["action"], deleted["phase"]) == ("delete_stale", "issued")
    assert get_csr(admin, name) is None
    assert not run_backend(csr_request, dict(args, delete_stale_pending=True))["changed"]


def test_delete_stale_pending_leaves_a_csr_that_is_not_ours(run_backend, admin, cleanup, cluster, tmp_path):
    key = write_key(tmp_path / "user.key")
    user = cluster.name("stale-foreign")
    name = csr_object.default_name(user, Request(make_csr_pem(key, user)).fingerprint)
    # Someone else's request (another key) under the name of ours, labelled as ours.
    admin.json("POST", CSR_PATH, csr_manifest(name, make_csr_pem(new_key(), user),
                                              labels={"app.kubernetes.io/managed-by": "kubeaccess.x509"}),
               expect=201)
    cleanup.add(f"{CSR_PATH}/{name}")
    (tmp_path / "user.crt").write_bytes(certificate_pem(key.public_key(), user))
    result = run_backend(csr_request, {"user": user, "private_key_path": str(tmp_path / "user.key"),
                                       "certificate_path": str(tmp_path / "user.crt"), "delete_stale_pending": True})
    assert not result["changed"] and result["action"] == "none"
    assert get_csr(admin, name) is not None


# -- state=absent ------------------------------------------------------------------------------------------------
def test_absent_deletes_our_csr_by_name(run_backend, admin, cleanup, user, tmp_path):
    made = run_backend(csr_request, {"user": user, "private_key_path": str(tmp_path / "user.key")})
    name = track(cleanup, made['name'])

    predicted = run_backend(csr_request, {"name": name, "state": "absent"}, check_mode=True, diff=True)
    assert predicted["changed"] and (predicted["action"], predicted["phase_before"]) == ("delete", "pending")
    assert predicted["diff"]["after"] == {} and get_csr(admin, name) is not None

    deleted = run_backend(csr_request, {"name": name, "state": "absent"})
    assert deleted["changed"] and (deleted["phase"], deleted["action"]) == ("absent", "delete")
    assert get_csr(admin, name) is None
    again = run_backend(csr_request, {"name": name, "state": "absent"})
    assert not again["changed"] and (again["phase"], again["action"]) == ("absent", "none")
    # The key file is kept: deleting a CSR revokes nothing.
    assert (tmp_path / "user.key").exists()


def test_absent_finds_the_csr_from_the_key_or_from_the_certificate(run_backend, admin, cleanup, user, tmp_path):
    args = {"user": user, "private_key_path": str(tmp_path / "user.key")}
    made = run_backend(csr_request, args)
    name = track(cleanup, made['name'])
    by_key = run_backend(csr_request, dict(args, state="absent"))
    assert by_key["changed"] and by_key["name"] == name and get_csr(admin, name) is None

    # The key is on the user's machine; the certificate in certificate_path names the CSR of its key.
    run_backend(csr_request, args)
    key = serialization.load_pem_private_key((tmp_path / "user.key").read_bytes(), None)
    (tmp_path / "user.crt").write_bytes(certificate_pem(key.public_key(), user))
    by_certificate = run_backend(csr_request, {"certificate_path": str(tmp_path / "user.crt"), "state": "absent"})
    assert by_certificate["changed"] and by_certificate["name"] == name and get_csr(admin, name) is None


def test_absent_with_no_key_and_no_certificate_left_does_nothing(run_backend, tmp_path):
    result = run_backend(csr_request, {"user": "gone", "private_key_path": str(tmp_path / "gone.key"),
                                       "certificate_path": str(tmp_path / "gone.crt"), "state": "absent"})
    assert not result.get("failed") and not result["changed"]
    assert (result["name"], result["phase"], result["action"]) == ("", "absent", "none")
    assert not (tmp_path / "gone.key").exists()


def test_absent_leaves_a_csr_that_is_not_ours_unless_forced(run_backend, admin, cleanup, cluster, tmp_path):
    name = cluster.name("absent-foreign")
    admin.json("POST", CSR_PATH, csr_manifest(name, make_csr_pem(new_key(), "someone-else")), expect=201)
    cleanup.add(f"{CSR_PATH}/{name}")
    refused = run_backend(csr_request, {"name": name, "state": "absent"})
    assert refused["failed"]
    assert refused["msg"] == (f"name: CSR {name} is not managed by kubeaccess.x509 (no label "
                              "app.kubernetes.io/managed-by=kubeaccess.x509); it is not deleted")
    assert get_csr(admin, name) is not None

    # Labelled as ours but for another key than the one given: someone else's.
    write_key(tmp_path / "mine.key")
    admin.request("DELETE", f"{CSR_PATH}/{name}")
    admin.json("POST", CSR_PATH, csr_manifest(name, make_csr_pem(new_key(), "rahul"),
                                              labels={"app.kubernetes.io/managed-by": "kubeaccess.x509"}),
               expect=201)
    args = {"name": name, "user": "rahul", "private_key_path": str(tmp_path / "mine.key"), "state": "absent"}
    refused = run_backend(csr_request, args)
    assert refused["failed"] and "asks for another key" in refused["msg"] and "it is not deleted" in refused["msg"]
    assert get_csr(admin, name) is not None

    forced = run_backend(csr_request, dict(args, force=True))
    assert forced["changed"] and forced["action"] == "delete" and get_csr(admin, name) is None


# -- two runs for one user at once -------------------------------------------------------------------------------
def test_a_key_another_run_wrote_meanwhile_is_used_one_key_one_csr(run_backend, admin, cleanup, user, tmp_path):
    """Two requests for one key path that both found no key (two runs at once; here two items of one batch, which
    make their keys before either writes): the first writes its key, the second uses that key instead of writing
    its own over it, so the user has one key and one CSR, and the key on disk is the CSR's."""
    key_path = tmp_path / "keys" / "user.key"
    item = {"user": user, "groups": ["developers"], "private_key_path": str(key_path)}
    result = run_backend(csr_request, {"requests": [item, item]})
    first, second = result["results"]
    cleanup.add(f"{CSR_PATH}/{first['name']}")
    assert (first["action"], second["action"]) == ("create", "reuse")
    assert second["name"] == first["name"]
    assert second["public_key_fingerprint"] == first["public_key_fingerprint"]
    public_key = serialization.load_pem_private_key(key_path.read_bytes(), None).public_key()
    assert first["name"] == csr_object.default_name(user, public_key_fingerprint(public_key))
    assert os.listdir(key_path.parent) == ["user.key"]
    mine = [item for item in admin.json("GET", CSR_PATH, expect=200)["items"]
            if item["metadata"].get("annotations", {}).get("kubeaccess.x509/user") == user]
    assert [csr["metadata"]["name"] for csr in mine] == [first["name"]]
