"""Key rotation on renewal through the playbooks (user_access_rotate_key, on by default for keys on the controller):
renewal makes a new key, which waits beside the old one until the new kubeconfig verifies; a renewal whose kubeconfig
fails keeps the old key and the old, working kubeconfig, and the next run completes the rotation; a user who turns
rotation off keeps the key."""
# pylint: disable=missing-function-docstring,redefined-outer-name  # pytest fixtures are parameters named as fixtures

import base64
import os

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import public_key_fingerprint
from tests.integration.test_onboarding import whoami
from tests.integration.test_onboarding import onboarding  # noqa: F401 pylint: disable=unused-import  # a fixture


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def key_fingerprint(pem):
    return public_key_fingerprint(serialization.load_pem_private_key(pem, None).public_key())


def cert_fingerprint(pem):
    return public_key_fingerprint(x509.load_pem_x509_certificate(pem).public_key())


def kubeconfig_credentials(onboarding, user):
    """(key PEM, certificate PEM) of user@local in the user's kubeconfig."""
    config = yaml.safe_load(read(onboarding.kubeconfig(user)))
    (entry,) = [u["user"] for u in config["users"] if u["name"] == f"{user}@local"]
    return base64.b64decode(entry["client-key-data"]), base64.b64decode(entry["client-certificate-data"])


def test_renewal_rotates_the_key_once_the_new_kubeconfig_verifies(onboarding):
    rahul, seema = onboarding.rahul, onboarding.seema
    onboarding.users[seema]["user_access_rotate_key"] = False
    onboarding.write_inventory()
    onboarding.run("onboard.yml").ok()
    key_path = {user: os.path.join(onboarding.base_dir, user, "local.key") for user in (rahul, seema)}
    old = {user: read(key_path[user]) for user in (rahul, seema)}
    old_kubeconfig = read(onboarding.kubeconfig(rahul))

    # A renewal whose new kubeconfig fails its check: the old key and the old kubeconfig stay, and work.
    expectations = onboarding.users[rahul]["user_access_expect"]
    onboarding.users[rahul]["user_access_expect"] = expectations + [
        {"verb": "delete", "resource": "namespaces", "allowed": True}]
    onboarding.write_inventory()
    failed = onboarding.run("renew.yml", "-e", "renew_now=true", "-e", f"user={rahul}").failed()
    assert failed.recap(rahul)["failed"] == 1
    assert "the new credentials are not what was expected" in failed.output
    staged = f"{key_path[rahul]}.next"
    assert read(key_path[rahul]) == old[rahul] and os.stat(staged).st_mode & 0o777 == 0o600
    assert key_fingerprint(read(staged)) != key_fingerprint(old[rahul])
    assert read(onboarding.kubeconfig(rahul)) == old_kubeconfig
    assert whoami(onboarding.kubeconfig(rahul))["username"] == rahul

    # The next run, with the expectation fixed, completes the rotation without a new request.
    onboarding.users[rahul]["user_access_expect"] = expectations
    onboarding.write_inventory()
    completed = onboarding.run("renew.yml", "-e", f"user={rahul}").ok()
    assert "with a new key" in completed.output
    new_key = read(key_path[rahul])
    assert new_key != old[rahul] and not os.path.exists(staged)
    assert os.stat(key_path[rahul]).st_mode & 0o777 == 0o600
    kubeconfig_key, kubeconfig_cert = kubeconfig_credentials(onboarding, rahul)
    assert key_fingerprint(kubeconfig_key) == key_fingerprint(new_key) == cert_fingerprint(kubeconfig_cert)
    assert cert_fingerprint(read(os.path.join(onboarding.base_dir, rahul, "local.crt"))) == key_fingerprint(new_key)
    assert whoami(onboarding.kubeconfig(rahul))["username"] == rahul
    user_dir = os.path.join(onboarding.base_dir, rahul)
    assert not [name for name in os.listdir(user_dir) if read(os.path.join(user_dir, name)) == old[rahul]]

    assert onboarding.run("renew.yml").ok().changed_total() == 0

    # seema turned rotation off: renewal gives her a new certificate for the same key.
    old_serial = x509.load_pem_x509_certificate(kubeconfig_credentials(onboarding, seema)[1]).serial_number
    onboarding.run("renew.yml", "-e", "renew_now=true", "-e", f"user={seema}").ok()
    key, cert = kubeconfig_credentials(onboarding, seema)
    assert read(key_path[seema]) == old[seema] and key_fingerprint(key) == key_fingerprint(old[seema])
    assert x509.load_pem_x509_certificate(cert).serial_number != old_serial
    assert not os.path.exists(f"{key_path[seema]}.next")
