"""What the unit tests of the user_access role's plugin code share: the shipped example inventory and role options,
plans made from them, results registered by the role's looped module calls, and a CA with client certificates.

The tests of access_settings, access_plan, access_results and access_offboarding each import from here.
"""

import base64
import copy
import datetime
import os

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_plan, access_settings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE_PATH = os.path.join(ROOT, "roles", "user_access")
EXAMPLE_INVENTORY = os.path.join(ROOT, "examples", "inventory")
ADMIN_KUBECONFIG = "/etc/kubeaccess/local-admin.conf"
LABEL = "kubeaccess.x509/inventory"
SERVER = "https://10.0.0.1:6443"
DEVELOPERS = {"developers": [{"cluster_role": "edit", "namespace": "dev"}]}
ROLE_OPTIONS = access_settings.ROLE_WIDE + access_settings.PER_USER
UTC = datetime.timezone.utc


# -- the role and the example inventory ------------------------------------------------------------------------------

def load_yaml(*parts):
    """A YAML file of the checkout."""
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def example_inventory():
    """The shipped example inventory as the plan gets it: users' host vars, clusters and group grants.

    The admin kubeconfig of the example is read from the environment; here it is what that lookup would give.
    """
    users = load_yaml("examples", "inventory", "hosts.yml")["kube_users"]["hosts"]
    group_vars = load_yaml("examples", "inventory", "group_vars", "all.yml")
    clusters = copy.deepcopy(group_vars["user_access_clusters"])
    clusters["local"]["kubeconfig"] = ADMIN_KUBECONFIG
    return copy.deepcopy(users), clusters, copy.deepcopy(group_vars["user_access_group_grants"])


def role_spec():
    """The options of roles/user_access/meta/argument_specs.yml."""
    return load_yaml("roles", "user_access", "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]


def role_defaults():
    """option (without prefix) -> value of roles/user_access/defaults/main.yml, for the options the plan takes."""
    defaults = load_yaml("roles", "user_access", "defaults", "main.yml")
    return {option: defaults[access_settings.variable(option)] for option in ROLE_OPTIONS}


def rendered_on(renderer_inventory=None, play=None):
    """The options as roles/user_access/tasks/plan.yml renders them on the host it runs on: the role defaults, under
    that host's own inventory values, under what the play sets (Ansible's precedence)."""
    return {**role_defaults(), **(renderer_inventory or {}), **(play or {})}


def one_cluster(**spec):
    """user_access_clusters with one cluster, `local`."""
    return {"local": dict({"kubeconfig": ADMIN_KUBECONFIG}, **spec)}


# -- plans -----------------------------------------------------------------------------------------------------------

def make_plan(base_dir, users, clusters=None, group_grants=None, run=None, **options):
    """access_plan.plan() for `users` (host -> variables, user_access_* as in the inventory), every one of them in
    the run unless `run` names the hosts of the run. `options` are role options without prefix: role-wide ones are
    the run's, per-user ones the value for users without their own (the play's or the role default)."""
    defaults = dict(role_defaults(), base_dir=str(base_dir),
                    clusters=one_cluster() if clusters is None else clusters,
                    group_grants=DEVELOPERS if group_grants is None else group_grants, **options)
    settings = {option: defaults[option] for option in access_settings.ROLE_WIDE}
    per_user = {host: dict({option: defaults[option] for option in access_settings.PER_USER},
                           **access_settings.inventory_values(variables, access_settings.PER_USER))
                for host, variables in users.items()}
    own = {host: {name: value for name, value in variables.items()
                  if name not in [access_settings.variable(option) for option in ROLE_OPTIONS]}
           for host, variables in users.items()}
    return access_plan.plan(own, set(users) if run is None else set(run), settings, per_user)


def entries_of(the_plan, host, key="users"):
    """The work entries of `host` in the plan (`users` or `remote_users`)."""
    return [entry for entry in the_plan[key] if entry["host"] == host]


def entry_of(the_plan, host, cluster="local", key="users"):
    """The one work entry of `host` on `cluster`."""
    found = [entry for entry in entries_of(the_plan, host, key) if entry["cluster"] == cluster]
    assert len(found) == 1, the_plan[key]
    return found[0]


def refusals(the_plan, host):
    """What refuses `host`, a user of the run, alone."""
    return the_plan["hosts"][host]["errors"]


def all_refusals(the_plan):
    """Every refusal of every user of the run."""
    return [error for described in the_plan["hosts"].values() for error in described["errors"]]


def binding_names(the_plan, cluster="local"):
    """The names of the bindings the plan makes on `cluster`."""
    return sorted(item["name"] for item in the_plan["bindings"][cluster])


def binding(the_plan, name, cluster="local"):
    """The binding item `name` of `cluster`."""
    found = [item for item in the_plan["bindings"][cluster] if item["name"] == name]
    assert len(found) == 1, the_plan["bindings"][cluster]
    return found[0]


# -- results registered by a task looped over `user_access_plan.settings.clusters | dict2items` ---------------------

def registered(per_cluster, skipped=()):
    """{"results": [{"item": {"key": cluster, ...}, "results": [per item...]}]}; `skipped` clusters were skipped."""
    results = []
    for cluster, items in per_cluster.items():
        results.append({"item": {"key": cluster, "value": {"kubeconfig": ADMIN_KUBECONFIG}}, "results": items,
                        "changed": any(i.get("changed") for i in items), "failed": False,
                        "ansible_loop_var": "item"})
    for cluster in skipped:
        results.append({"item": {"key": cluster, "value": {}}, "skipped": True, "changed": False,
                        "skip_reason": "Conditional result was False", "ansible_loop_var": "item"})
    return {"results": results, "changed": any(r["changed"] for r in results), "msg": "All items completed"}


def looped(per_cluster):
    """A looped module call whose results are whole module results per cluster (k8s_access_info,
    k8s_rbac_binding's `pruned`): {"results": [dict(result, item={"key": cluster})]}."""
    return {"results": [dict(result, item={"key": cluster, "value": {}}, ansible_loop_var="item")
                        for cluster, result in per_cluster.items()]}


def request_result(user, name, phase, changed=False, **extra):
    """One item of k8s_csr_request's batch result: the item's identity (user) and what happened."""
    return dict({"user": user, "name": name, "phase": phase, "changed": changed,
                 "action": "create" if changed else "none", "public_key_fingerprint": f"fp:{name}"}, **extra)


def failed_item(msg, **identity):
    """An item of a batch result that failed (continue_on_error): its identity, failed and the message."""
    return dict(identity, changed=False, failed=True, msg=msg)


# -- certificates ----------------------------------------------------------------------------------------------------

def make_ca():
    """A self-signed CA (key, certificate) that signs the users' client certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubeaccess-test-ca")])
    now = datetime.datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def client_certificate(ca_pair, common_name, organizations, not_after, serial=0x1F2E3D, lifetime_days=1):
    """A client certificate as the Kubernetes signer issues it (CN the user, one O per group), and its key."""
    ca_key, ca_cert = ca_pair
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in organizations]
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name(attributes)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(not_after - datetime.timedelta(days=lifetime_days)).not_valid_after(not_after)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def iso(moment):
    """A moment as the certificates' facts give it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def in_hours(hours):
    """Now plus `hours`, to the second."""
    return (datetime.datetime.now(UTC) + datetime.timedelta(hours=hours)).replace(microsecond=0)


def admin_kubeconfig(directory, ca_pair):
    """An admin kubeconfig on the controller (server SERVER, the CA inline), as a cluster's description names it:
    (its path, the CA's PEM text)."""
    ca_pem = ca_pair[1].public_bytes(serialization.Encoding.PEM)
    path = os.path.join(str(directory), "admin.kubeconfig")
    cluster = {"server": SERVER, "certificate-authority-data": base64.b64encode(ca_pem).decode()}
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "admin@local",
                        "clusters": [{"name": "local", "cluster": cluster}],
                        "users": [{"name": "admin", "user": {"token": "not-used"}}],
                        "contexts": [{"name": "admin@local", "context": {"cluster": "local", "user": "admin"}}]},
                       handle)
    return path, ca_pem.decode()
