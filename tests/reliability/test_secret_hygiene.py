"""Secret hygiene: private keys appear nowhere but in their own files, whatever a run prints, returns or leaves.

Each case runs the collection the way an operator debugging it would (`-vvv --diff`, a step that fails, check mode,
the audit, the modules with their results kept), with Ansible's log, local and remote temporary directories inside
the test's work directory. Then everything the run printed or returned, and every file under the work directory,
Ansible's own temporary directories and `*.retry` files, is scanned for every private key the case made or used
(the users' keys, old and new, and the admin credential's key) in each form a key can take.

The files that hold a key by design: the user's key file (`<base_dir>/<user>/<cluster>.key`, and `.key.next`, a
renewal's new key until it replaces it), the user's kubeconfig (its `client-key-data` embeds it), and a kubeconfig's
backup (`backup: true`). Each may hold its own user's keys and no other; any other file holding key material, and
any PEM private-key marker outside a key file, is a hit. Every file that holds a key must be 0600 in a 0700
directory.
"""

import base64
import json
import os
import re
import stat

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.integration.test_onboarding import ROOT

pytestmark = pytest.mark.secret_hygiene

PEM_HEADERS = ("-----BEGIN PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----",
               "-----BEGIN ENCRYPTED PRIVATE KEY-----")
# A key's PEM marker in text, and as it starts the base64 of a PEM file (a kubeconfig's client-key-data).
MARKERS = ["PRIVATE KEY"] + [base64.b64encode(h.encode()[:len(h) // 3 * 3]).decode() for h in PEM_HEADERS]
CHUNK = 32  # base64 characters: a key's encodings are looked for in pieces, so that a line break cannot hide one
FORMATS = (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL)


def _encodings(key):
    """(text pieces, binary pieces, hex of the private numbers) of a key in every form it can be printed in."""
    pems = [key.private_bytes(serialization.Encoding.PEM, f, serialization.NoEncryption()) for f in FORMATS]
    ders = [key.private_bytes(serialization.Encoding.DER, f, serialization.NoEncryption()) for f in FORMATS]
    texts = []
    for blob in [base64.b64encode(der) for der in ders] + [base64.b64encode(pem) for pem in pems]:
        texts += [blob[i:i + CHUNK].decode() for i in range(0, len(blob) - CHUNK + 1, CHUNK)]
    for pem in pems:  # the body lines as written, which a wrapped base64 of the DER does not line up with
        texts += [line.decode() for line in pem.splitlines() if len(line) >= CHUNK and not line.startswith(b"-----")]
    numbers = key.private_numbers()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        private = [numbers.private_value]
    else:
        private = [numbers.d, numbers.p, numbers.q]
    width = (key.key_size + 7) // 8 if isinstance(key, rsa.RSAPrivateKey) else (key.curve.key_size + 7) // 8
    binaries = ders + [value.to_bytes(max(width, (value.bit_length() + 7) // 8), "big") for value in private]
    hexes = [f"{value:x}" for value in private]
    return texts, binaries, hexes


def _reference_of(key):
    """An unrelated key of the same kind: the pieces of ours that it shares (headers, the curve's OID) say nothing."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ec.generate_private_key(key.curve)
    return rsa.generate_private_key(65537, key.key_size)


class Key:
    def __init__(self, key, label):
        self.label = label
        # The public key (DER SubjectPublicKeyInfo) names the key.
        self.public = key.public_key().public_bytes(serialization.Encoding.DER,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
        texts, binaries, hexes = _encodings(key)
        shared_texts, shared_binaries, _hexes = _encodings(_reference_of(key))
        # What a private key's encoding shares with the public key (an EC point, an RSA modulus) is in every
        # certificate and request of it, at any of the three alignments base64 can give it.
        shared = "".join(shared_texts) + "".join(base64.b64encode(b"\0" * shift + self.public).decode()
                                                 for shift in range(3))
        self.texts = sorted({t for t in texts if t not in shared})
        self.binaries = [b for b in binaries if not any(b in other for other in shared_binaries)]
        self.hexes = hexes
        assert self.texts and self.binaries, f"{label}: nothing specific to look for"

    def found_in(self, blob):
        """The forms of this key in `blob` (bytes)."""
        text = blob.decode("latin-1")
        bare = re.sub(r"[\s:]", "", text.lower())
        forms = []
        if any(piece in text for piece in self.texts):
            forms.append("base64")
        if any(piece in blob for piece in self.binaries):
            forms.append("DER")
        if any(value in bare for value in self.hexes):
            forms.append("hex")
        return forms


def private_keys_in(path):
    """The private keys a key file or a kubeconfig holds, read as the tools read them."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IsADirectoryError, FileNotFoundError):
        return []
    if b"PRIVATE KEY-----" in data:
        return [serialization.load_pem_private_key(data, None)]
    try:
        config = yaml.safe_load(data)
    except yaml.YAMLError:
        return []
    if not isinstance(config, dict):
        return []
    return [serialization.load_pem_private_key(base64.b64decode(entry["user"]["client-key-data"]), None)
            for entry in config.get("users") or [] if (entry.get("user") or {}).get("client-key-data")]


class Scan:
    """Keys seen during a case, where each may be, and what was printed or returned."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.keys = {}
        self.holders = {}  # path -> the keys (by public key) it may hold
        self.texts = []  # (what, text): output and returned values
        self.people = set()

    def key(self, key, label):
        known = Key(key, label)
        return self.keys.setdefault(known.public, known).public

    def admin(self, kubeconfig):
        for key in private_keys_in(kubeconfig):
            self.key(key, "the admin credential")

    def users(self, onboarding):
        """Each user's key files and kubeconfig as they are now: the user's keys, and the files that may hold them."""
        self.people |= set(onboarding.users)
        for user in sorted(self.people):
            directory = os.path.join(onboarding.base_dir, user)
            own = set()
            for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
                if name.endswith((".key", ".key.next")):  # .next: a renewal's new key until it is moved over
                    path = os.path.join(directory, name)
                    own |= {self.key(k, f"{user}'s key {name}") for k in private_keys_in(path)}
                    self.holders.setdefault(path, set()).update(own)
            kubeconfig = onboarding.users[user].get("user_access_kubeconfig_path") if user in onboarding.users \
                else None
            kubeconfig = kubeconfig or onboarding.kubeconfig(user)
            for key in private_keys_in(kubeconfig):
                self.key(key, f"{user}'s kubeconfig")
            holder = self.holders.setdefault(kubeconfig, set())
            holder.update(own)
            self.holders.setdefault(f"{kubeconfig}*~", holder)  # its backups

    def output(self, what, text):
        self.texts.append((what, text if isinstance(text, str) else json.dumps(text)))

    def allowed(self, path):
        if path in self.holders:
            return self.holders[path]
        backups = [holder for pattern, holder in self.holders.items()
                   if pattern.endswith("*~") and path.startswith(pattern[:-2]) and path.endswith("~")]
        return backups[0] if backups else None

    def files(self):
        roots = [self.workdir, os.path.expanduser("~/.ansible/tmp")]
        for root in roots:
            for top, _dirs, names in os.walk(root):
                for name in names:
                    yield os.path.join(top, name)
        for folder in (os.path.join(ROOT, "playbooks"), os.path.join(ROOT, "tests", "integration", "playbooks")):
            yield from (os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".retry"))

    def hits(self):
        """Every piece of key material where it must not be: (where, what)."""
        found = []
        for what, text in self.texts:
            found += [(what, f"the marker {m!r}") for m in MARKERS if m in text]
            blob = text.encode("utf-8", "surrogateescape")
            found += [(what, f"{key.label} ({form})") for key in self.keys.values() for form in key.found_in(blob)]
        for path in self.files():
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as handle:
                blob = handle.read()
            allowed = self.allowed(path)
            if allowed is None and path.startswith(self.workdir):
                text = blob.decode("latin-1")
                found += [(path, f"the marker {m!r}") for m in MARKERS if m in text]
            for public, key in self.keys.items():
                if allowed is not None and public in allowed:
                    continue
                found += [(path, f"{key.label} ({form})") for form in key.found_in(blob)]
        return found

    def key_files(self):
        """Every file under the work directory that holds a key, with its mode and its directory's."""
        for path in self.files():
            if not path.startswith(self.workdir) or not os.path.isfile(path):
                continue
            with open(path, "rb") as handle:
                blob = handle.read()
            if any(key.found_in(blob) for key in self.keys.values()):
                yield (path, stat.S_IMODE(os.stat(path).st_mode),
                       stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode))


def debug_run(scan, onboarding, playbook, *args):
    """A run as someone debugging it makes one: -vvv --diff, its output kept for the scan."""
    run = onboarding.run(playbook, "-vvv", "--diff", *args)
    scan.output(f"{playbook} {' '.join(args)}".strip(), run.output)
    return run


def onboarded(scan, onboarding, *args):
    onboarding.run("onboard.yml", *args).ok()
    scan.users(onboarding)


def case_onboard(scan, onboarding, _run_module):
    debug_run(scan, onboarding, "onboard.yml").ok()
    scan.users(onboarding)


def case_renew(scan, onboarding, _run_module):
    onboarded(scan, onboarding)
    debug_run(scan, onboarding, "renew.yml", "-e", "renew_now=true").ok()
    scan.users(onboarding)  # the new keys (renewal rotates the keys on the controller)


def case_offboard(scan, onboarding, _run_module):
    onboarded(scan, onboarding)
    del onboarding.users[onboarding.rahul]
    onboarding.write_inventory()
    debug_run(scan, onboarding, "offboard.yml", "-e", f"user={onboarding.rahul}").ok()
    assert not os.path.exists(os.path.join(onboarding.base_dir, onboarding.rahul, "local.key"))


def case_failing_kubeconfig_path(scan, onboarding, _run_module):
    """seema's kubeconfig path is a directory: her key and certificate are made, then writing it fails."""
    directory = os.path.join(onboarding.workdir, "seema-kubeconfig-is-a-directory")
    os.mkdir(directory, 0o700)
    onboarding.users[onboarding.seema]["user_access_kubeconfig_path"] = directory
    onboarding.write_inventory()
    run = debug_run(scan, onboarding, "onboard.yml").failed()
    assert run.recap(onboarding.seema)["failed"] == 1 and run.recap(onboarding.rahul)["failed"] == 0
    scan.users(onboarding)


def case_failing_verification(scan, onboarding, _run_module):
    """rahul's kubeconfig is written, and its verification fails: the inventory expects what RBAC does not grant."""
    onboarding.users[onboarding.rahul]["user_access_expect"] = [
        {"verb": "list", "resource": "secrets", "namespace": "kube-system", "allowed": True}]
    onboarding.write_inventory()
    run = debug_run(scan, onboarding, "onboard.yml").failed()
    assert run.recap(onboarding.rahul)["failed"] == 1
    scan.users(onboarding)


def case_check_mode(scan, onboarding, _run_module):
    """rahul onboarded, then a group more for him (a new certificate and kubeconfig would be made) and seema new."""
    onboarded(scan, onboarding, "-e", f"user={onboarding.rahul}")
    onboarding.users[onboarding.rahul]["user_access_groups"].append(f"platform-team-{onboarding.suffix}")
    onboarding.write_inventory()
    run = onboarding.run("onboard.yml", "-vvv", "--check", "--diff").ok()
    scan.output("onboard.yml --check --diff", run.output)
    assert run.changed(onboarding.rahul) > 0 and run.changed(onboarding.seema) > 0


def case_audit(scan, onboarding, _run_module):
    onboarded(scan, onboarding)
    debug_run(scan, onboarding, "audit.yml", "-e", f"audit_dir={onboarding.workdir}/audit").ok()
    assert os.listdir(os.path.join(onboarding.workdir, "audit"))


def case_modules(scan, onboarding, run_module):
    """The modules one by one with diff, their results kept as returned: a key, its request and certificate, and a
    kubeconfig embedding it written twice with a backup."""
    directory = os.path.join(onboarding.workdir, "modules")
    os.mkdir(directory, 0o700)
    kubeconfig = os.path.join(directory, "kubeconfig")
    for user in (onboarding.rahul, onboarding.seema):
        key, certificate = os.path.join(directory, f"{user}.key"), os.path.join(directory, f"{user}.crt")
        request = run_module("k8s_csr_request", {"user": user, "private_key_path": key,
                                                 "certificate_path": certificate, "labels": {
                                                     "kubeaccess.x509/inventory": onboarding.label}}, diff=True)
        approved = run_module("k8s_csr_approve", {"name": request["name"], "expected_user": user, "wait": True,
                                                  "expected_public_key_fingerprint": request["public_key_fingerprint"],
                                                  "certificate_path": certificate}, diff=True)
        written = run_module("k8s_kubeconfig_user", {"path": kubeconfig, "user": user, "cluster": "local",
                                                     "client_certificate_path": certificate,
                                                     "client_key_path": key, "backup": True, "verify": True},
                             diff=True)
        for what, result in (("k8s_csr_request", request), ("k8s_csr_approve", approved),
                             ("k8s_kubeconfig_user", written)):
            assert not result.get("failed"), result
            scan.output(f"{what} result for {user}", result)
        for loaded in private_keys_in(key):
            scan.holders.setdefault(key, set()).add(scan.key(loaded, f"{user}'s key"))
    everyone = set().union(*(scan.holders[p] for p in list(scan.holders)))
    scan.holders[kubeconfig] = scan.holders[f"{kubeconfig}*~"] = everyone


CASES = {"onboard": case_onboard, "renew-now": case_renew, "offboard": case_offboard,
         "failing-kubeconfig-path": case_failing_kubeconfig_path, "failing-verification": case_failing_verification,
         "check-mode": case_check_mode, "audit": case_audit, "modules": case_modules}


@pytest.mark.parametrize("case", list(CASES))
def test_no_key_material_outside_its_own_files(case, onboarding, cluster, run_module, monkeypatch, record_property):
    workdir = onboarding.workdir
    # Ansible's own files of these runs, where the scan sees them (the runs copy this environment).
    monkeypatch.setenv("ANSIBLE_LOG_PATH", os.path.join(workdir, "ansible.log"))
    monkeypatch.setenv("ANSIBLE_LOCAL_TEMP", os.path.join(workdir, "ansible-local-tmp"))
    monkeypatch.setenv("ANSIBLE_REMOTE_TEMP", os.path.join(workdir, "ansible-remote-tmp"))
    scan = Scan(workdir)
    scan.admin(cluster.kubeconfig)
    CASES[case](scan, onboarding, run_module)
    scan.users(onboarding)  # the keys as the case leaves them
    assert len(scan.keys) > 1, "the case made no key to look for"
    assert os.path.getsize(os.path.join(workdir, "ansible.log")), "Ansible's log was not written where it is scanned"

    hits = scan.hits()
    record_property("secret_hits", len(hits))
    assert hits == [], "\n".join(f"{where}: {what}" for where, what in hits)
    loose = [(path, oct(mode), oct(folder)) for path, mode, folder in scan.key_files()
             if mode != 0o600 or folder != 0o700]
    assert loose == [], loose
