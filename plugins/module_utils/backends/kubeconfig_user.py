# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend of the k8s_kubeconfig_user module: a user's cluster, user and context entries merged into (or removed
from) kubeconfig files, one locked read-modify-write per file, with the new credentials verified before the write."""

from __future__ import annotations

import concurrent.futures
import os
import tempfile

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import (
    batch_argument_spec, identity_of, run_batch)
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_crypto import (
    HAS_CRYPTOGRAPHY, Certificate, CryptoInputError, load_private_key, public_key_fingerprint)
from ansible_collections.kubeaccess.x509.plugins.module_utils.file_io import read_file, writable_dir_error
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import (
    AUTH_ARG_SPEC, ApiError, KubeClient, KubeError)
from ansible_collections.kubeaccess.x509.plugins.module_utils.kubeconfig import (
    DEFAULT_CLUSTER, FILE_MODE, HAS_YAML, AdminConnection, KubeconfigError, KubeconfigFile, UserEntries,
    admin_connection, b64, dump, name_format_error, new_config, redacted, text_error, uses_placeholder)
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import (
    identity_name_error, namespace_error)

ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
SSR_VERSIONS = ("v1", "v1beta1")
# Each check is a new TLS connection with the user's own certificate, mostly waiting on the network and the server:
# a batch checks this many at once.
VERIFY_CONNECTIONS = 8

ITEM_SPEC = dict(
    path=dict(type="path"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    user=dict(type="str"),
    cluster=dict(type="str"),
    name_format=dict(type="str", default="{user}@{cluster}"),
    server=dict(type="str"),
    ca_source=dict(type="str", choices=["connection", "file", "configmap"], default="connection"),
    ca_file=dict(type="path"),
    ca_configmap_namespace=dict(type="str", default="default"),
    client_certificate_path=dict(type="path"),
    client_key_path=dict(type="path", no_log=False),
    embed_credentials=dict(type="bool", default=True),
    namespace=dict(type="str"),
    current_context=dict(type="str", choices=["always", "if_unset", "never"], default="if_unset"),
    backup=dict(type="bool", default=False),
    verify=dict(type="bool", default=False),
    verify_only_if_changed=dict(type="bool", default=False),
    expected_groups=dict(type="list", elements="str"),
    expected_access=dict(type="list", elements="dict", default=[], options=dict(
        verb=dict(type="str", required=True),
        resource=dict(type="str", required=True),
        group=dict(type="str", default=""),
        subresource=dict(type="str", default=""),
        name=dict(type="str", default=""),
        namespace=dict(type="str", default=""),
        allowed=dict(type="bool", required=True),
    )),
)
MODULE_SPEC = dict(AUTH_ARG_SPEC, **ITEM_SPEC)
LIST_OPTION = "users"
MODULE_ARGS = dict(argument_spec=batch_argument_spec(MODULE_SPEC, LIST_OPTION), supports_check_mode=True,
                   add_file_common_args=True)


class InputError(Exception):
    """Bad options or files, reported before anything is changed."""


class VerificationError(Exception):
    """The API server does not see the new credentials as the user and groups expected."""


ERRORS = (InputError, VerificationError, KubeconfigError, KubeError)


class AdminSide:
    """The admin connection, read at most once per task: locally from its kubeconfig, and through the API only
    for the kube-root-ca.crt ConfigMap (or to read the in-cluster service account)."""

    def __init__(self, params, client):
        self.params = params
        self.client = client
        self._local = None
        self._configmap_ca = {}

    def local(self):
        if self._local is None:
            self._local = admin_connection(self.params) or AdminConnection(
                self.client().server, self.client().ca_pem(), None, "the in-cluster service account")
        return self._local

    def configmap_ca(self, namespace):
        """data["ca.crt"] of kube-root-ca.crt; a failure is kept too, so that it costs one request per task."""
        if namespace not in self._configmap_ca:
            try:
                self._configmap_ca[namespace] = self._read_configmap_ca(namespace)
            except KubeError as exc:
                self._configmap_ca[namespace] = exc
        found = self._configmap_ca[namespace]
        if isinstance(found, Exception):
            raise found
        return found

    def _read_configmap_ca(self, namespace):
        where = f"ConfigMap {ROOT_CA_CONFIGMAP} in namespace {namespace} (ca_configmap_namespace)"
        try:
            obj = self.client().get_or_none(f"/api/v1/namespaces/{namespace}/configmaps/{ROOT_CA_CONFIGMAP}")
        except KubeError as exc:
            raise KubeError(f"ca_source=configmap: cannot read the {where}: {exc}") from None
        if obj is None:
            raise KubeError(f"ca_source=configmap: there is no {where}; Kubernetes 1.21 and later publish it in "
                            "every namespace. Use ca_source=connection or file instead")
        data = (obj.get("data") or {}).get("ca.crt")
        if not data:
            raise KubeError(f"ca_source=configmap: the {where} has no ca.crt")
        return data.encode()


class FileGroup:
    """The items of a task that write one kubeconfig, done in one locked read-modify-write, in list order."""

    def __init__(self, module, path):
        self.module = module
        self.file = KubeconfigFile(path)
        self.members = []
        self.done = False
        self.committed = False
        self.refusal = None

    def precheck(self, state):
        """Refuse an unwritable path or a file that is not a kubeconfig before anything is done."""
        if self.refusal is None and (state == "present" or os.path.exists(self.file.path)):
            self.refusal = writable_dir_error("path", self.file.path) or ""
            if not self.refusal:
                try:
                    self.file.read()
                except KubeconfigError as exc:
                    self.refusal = str(exc)
                except OSError as exc:
                    self.refusal = f"path: cannot read {self.file.path}: {exc.strerror}"
        if self.refusal:
            raise InputError(self.refusal)

    def stage(self):
        """Prepare every member and work out its change without writing; start the checks of the new credentials
        of the members that need them, which run while the other files are staged."""
        self.done = True
        for member in self.members:
            try:
                member.prepare()
            except ERRORS as exc:
                member.error = exc
        ready = [member for member in self.members if member.error is None]
        try:
            config = self.file.read()
            for member in ready:
                config = member.change(config)
        except KubeconfigError as exc:
            for member in ready:
                member.error = exc
            return
        for member in ready:
            member.start_verification()

    def commit(self):
        """Write the changes of the members whose credentials passed (all of them when none was checked)."""
        if self.committed:
            return
        self.committed = True
        for member in self.members:
            member.end_verification()
        ready = [member for member in self.members if member.error is None]
        for member in self.members:
            if member.error is not None:
                member.result["changed"] = False
        if not ready:
            return
        # Removing from a file that does not exist changes nothing, and must not even create its directory.
        writes = os.path.exists(self.file.path) or any(m.params["state"] == "present" for m in ready)
        try:
            if self.module.check_mode or not writes:
                self._apply(ready)
            else:
                with self.file.locked():
                    self._apply(ready)
        except OSError as exc:
            failure = KubeconfigError(f"path: cannot write {self.file.path}: {exc.strerror or exc}")
            for member in ready:
                member.error = member.error or failure
        except KubeconfigError as exc:
            for member in ready:
                member.error = member.error or exc

    def _apply(self, members):
        original = self.file.read()
        previous = os.stat(self.file.path) if original is not None else None
        config = original
        for member in members:
            config = member.change(config)
        content_changed = config != original and config is not None
        if content_changed and not self.module.check_mode:
            asked = [m for m in members if m.params["backup"]]
            if asked and original is not None:
                backup_file = self.module.backup_local(self.file.path)
                for member in asked:
                    member.result["backup_file"] = backup_file
            self.file.write(config)
        if content_changed or (original is not None and any(m.params["state"] == "present" for m in members)):
            if self._set_attributes(previous):
                for member in members:
                    member.result["changed"] = True
        for member in members:
            member.result["current_context"] = (config or {}).get("current-context") or ""
        # One diff per file, not per item: items sharing a file would each repeat all of it.
        if self.module._diff:  # pylint: disable=protected-access
            members[0].result["diff"] = {"before_header": self.file.path, "after_header": self.file.path,
                                         "before": _shown(original), "after": _shown(config)}

    def _set_attributes(self, previous):
        file_args = self.module.load_file_common_arguments(self.module.params, path=self.file.path)
        if file_args.get("mode") is None:
            file_args["mode"] = FILE_MODE
        # A rewrite by root would otherwise hand a user's kubeconfig to root.
        if previous is not None:
            if file_args.get("owner") is None:
                file_args["owner"] = str(previous.st_uid)
            if file_args.get("group") is None:
                file_args["group"] = str(previous.st_gid)
        return self.module.set_fs_attributes_if_different(file_args, False)


class KubeconfigUser:
    """One item: checked and read when made, merged by its FileGroup, then verified."""

    def __init__(self, item, task):
        self.module = item
        self.params = item.params
        self.task = task
        self.error = None
        self.credentials = None
        self.ca_pem = None
        self.certificate = None
        self.bodies = None
        self.verification = None
        self.result = {"changed": False, "path": self.params["path"]}
        self.check_options()
        self.resolve_names()
        self.group = task.group_for(self.params["path"])
        self.group.precheck(self.params["state"])
        if self.params["state"] == "present":
            self.server = self.params["server"] or self.admin_server()
            self.load_credentials()
            self.load_ca()
        self.group.members.append(self)

    # -- checked before anything is done -----------------------------------------------------------------------
    def check_options(self):
        params = self.params
        present = params["state"] == "present"
        errors = []
        if not params["path"]:
            errors.append("path: required, at the top level or in the item")
        format_error = name_format_error(params["name_format"])
        errors.append(format_error)
        if params["user"] is not None:
            errors.append(identity_name_error("user", params["user"], allow_system=True))
        elif present:
            errors.append("user: required with state=present; it is the certificate's CN")
        elif not format_error and uses_placeholder(params["name_format"], "user"):
            errors.append("user: required to find the entries to remove (name_format uses {user})")
        if params["cluster"] is not None:
            errors.append(text_error("cluster", params["cluster"]))
        if present:
            for option in ("client_certificate_path", "client_key_path"):
                if not params[option]:
                    errors.append(f"{option}: required with state=present")
        if params["server"] is not None and not params["server"].startswith("https://"):
            errors.append(f"server: {params['server']!r} is not an https:// URL")
        if params["ca_source"] == "file" and not params["ca_file"]:
            errors.append("ca_file: required with ca_source=file")
        if params["ca_file"] and params["ca_source"] != "file":
            errors.append(f"ca_file: only used with ca_source=file, but ca_source is {params['ca_source']}")
        if params["ca_source"] == "configmap":
            errors.append(namespace_error("ca_configmap_namespace", params["ca_configmap_namespace"]))
        if params["namespace"] is not None:
            errors.append(namespace_error("namespace", params["namespace"]))
        for group in params["expected_groups"] or []:
            errors.append(identity_name_error("expected_groups", group, allow_system=True))
        errors = [e for e in errors if e]
        if errors:
            raise InputError("; ".join(errors))

    def resolve_names(self):
        params = self.params
        cluster = params["cluster"] or self.task.admin.local().cluster_name or DEFAULT_CLUSTER
        name = params["name_format"].format(user=params["user"], cluster=cluster)
        self.entries = UserEntries(cluster, name, name)
        self.result.update(cluster_name=cluster, user_name=name, context_name=name)

    def admin_server(self):
        local = self.task.admin.local()
        if not local.server:
            raise InputError(f"server: the admin connection ({local.source}) names no server; give server")
        return local.server

    def load_credentials(self):
        params = self.params
        cert_path, key_path = params["client_certificate_path"], params["client_key_path"]
        missing = [option for option in ("client_certificate_path", "client_key_path")
                   if not os.path.isfile(params[option])]
        if missing and self.module.check_mode:
            self.module.warn(f"{' and '.join(missing)}: not there yet; in check mode the kubeconfig is reported as "
                             "changing, with their content to come")
            return
        if missing:
            raise InputError("; ".join(f"{option}: {params[option]} does not exist or is not a file (made by "
                                       "kubeaccess.x509.k8s_csr_request and k8s_csr_approve)" for option in missing))
        try:
            cert_data, key_data = read_file(cert_path), read_file(key_path)
        except OSError as exc:
            raise InputError(f"client_certificate_path/client_key_path: cannot read {exc.filename}: "
                             f"{exc.strerror}") from None
        try:
            self.certificate = Certificate(cert_data)
        except CryptoInputError as exc:
            raise InputError(f"client_certificate_path: {cert_path} is {exc}") from None
        if b"ENCRYPTED" in key_data:
            raise InputError(f"client_key_path: {key_path} is encrypted; kubectl cannot use an encrypted key. "
                             "Store it without a passphrase (the kubeconfig holds it in the clear anyway)")
        try:
            key = load_private_key(key_data, None, source="client_key_path")
        except CryptoInputError as exc:
            raise InputError(f"{exc} ({key_path})") from None
        if public_key_fingerprint(key.public_key()) != self.certificate.fingerprint:
            raise InputError(f"client_key_path: {key_path} is not the key of the certificate in {cert_path}")
        if self.certificate.common_name != params["user"]:
            raise InputError(f"client_certificate_path: {cert_path} is for CN={self.certificate.common_name!r}, not "
                             f"user={params['user']!r}")
        if self.certificate.remaining_seconds() <= 0:
            self.module.warn(f"client_certificate_path: {cert_path} expired at "
                             f"{self.certificate.describe()['not_after']}; the API server will refuse it")
        self.credentials = (cert_data, key_data)

    def load_ca(self):
        source = self.params["ca_source"]
        if source == "connection":
            local = self.task.admin.local()
            if not local.ca_pem:
                raise InputError(f"ca_source=connection: the admin connection ({local.source}) has no CA "
                                 "certificate; use ca_source=configmap, or ca_source=file with ca_file")
            self.ca_pem = self.checked_ca(local.ca_pem, f"the CA of the admin connection ({local.source})")
        elif source == "file":
            data = read_file(self.params["ca_file"])
            if data is None:
                raise InputError(f"ca_file: {self.params['ca_file']} does not exist")
            self.ca_pem = self.checked_ca(data, f"ca_file: {self.params['ca_file']}")

    @staticmethod
    def checked_ca(data, what):
        try:
            Certificate(data)
        except CryptoInputError as exc:
            raise InputError(f"{what} is {exc}") from None
        return data

    # -- done -----------------------------------------------------------------------------------------------
    def run(self):
        if not self.group.done:
            self.group.stage()

    def finish(self):
        self.group.commit()
        if self.error is not None:
            raise self.error

    def start_verification(self):
        if self.params["verify"] and self.params["state"] == "present" and (
                self.result.get("changed") or not self.params["verify_only_if_changed"]):
            self.verification = self.task.verifier().submit(self.verify)

    def end_verification(self):
        if self.verification is not None:
            try:
                self.verification.result()
            except ERRORS as exc:
                self.error = exc

    def prepare(self):
        """The entries' bodies; the ConfigMap CA is read here, once per task."""
        params = self.params
        if params["state"] == "absent":
            return
        if self.ca_pem is None:
            self.ca_pem = self.checked_ca(self.task.admin.configmap_ca(params["ca_configmap_namespace"]),
                                          f"ca_source=configmap: ca.crt of {ROOT_CA_CONFIGMAP}")
        context = {"cluster": self.entries.cluster_name, "user": self.entries.user_name}
        if params["namespace"]:
            context["namespace"] = params["namespace"]
        self.bodies = ({"certificate-authority-data": b64(self.ca_pem), "server": self.server},
                       self.user_body(), context)

    def user_body(self):
        params = self.params
        cert_path, key_path = params["client_certificate_path"], params["client_key_path"]
        if not params["embed_credentials"]:
            return {"client-certificate": os.path.abspath(cert_path), "client-key": os.path.abspath(key_path)}
        if self.credentials is None:
            return {"client-certificate-data": f"(from {cert_path}, not there yet)",
                    "client-key-data": f"(from {key_path}, not there yet)"}
        cert_data, key_data = self.credentials
        return {"client-certificate-data": b64(cert_data), "client-key-data": b64(key_data)}

    def change(self, config):
        """This item's change of `config` (None: no file yet); returns the new content."""
        base = config if config is not None else new_config()
        if self.params["state"] == "present":
            after = self.entries.merged(base, *self.bodies, current_context=self.params["current_context"])
        else:
            after = self.entries.removed(base)
        if after == base:
            after = config
        self.result["changed"] = after != config
        return after

    def verify(self):
        params = self.params
        if self.certificate is None:
            self.module.warn("verify: skipped in check mode, the client certificate and key are not there yet")
            return
        seen = self.who_am_i()
        self.result["verified"] = seen
        expected = params["expected_groups"]
        if expected is None:
            expected = self.certificate.organizations
        problems = credential_problems(seen, params["user"], expected, params["expected_access"])
        if problems:
            raise VerificationError(f"verify: the new credentials are not what was expected: {'; '.join(problems)}")

    def who_am_i(self):
        """Ask the API server who the new credentials are and what they may do, with a CA file that exists only
        meanwhile."""
        params = self.params
        with tempfile.NamedTemporaryFile(prefix="kubeaccess-ca-", suffix=".crt") as ca_file:
            ca_file.write(self.ca_pem)
            ca_file.flush()
            try:
                client = KubeClient({"host": self.server, "ca_cert": ca_file.name, "proxy": self.task.proxy,
                                     "client_cert": params["client_certificate_path"],
                                     "client_key": params["client_key_path"]})
                seen = self._review(client)
                if params["expected_access"]:
                    seen["access"] = [access_review(client, expectation) for expectation in params["expected_access"]]
                return seen
            except KubeError as exc:
                raise VerificationError(f"verify: the API server at {self.server} did not accept the new "
                                        f"credentials: {exc}") from None

    def _review(self, client):
        seen = self_subject_review(client)
        if seen is None:
            # Older servers: a created access review shows that the credentials were authenticated.
            client.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", expect=(201,),
                           body={"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                 "spec": {"nonResourceAttributes": {"path": "/version", "verb": "get"}}})
            seen = {"username": self.certificate.common_name, "groups": self.certificate.organizations,
                    "method": "SelfSubjectAccessReview"}
        return seen


def self_subject_review(client):
    """Who the API server sees with the client's credentials ({username, groups, method}), or None where it has no
    SelfSubjectReview (before Kubernetes 1.27)."""
    for version in SSR_VERSIONS:
        group_version = f"authentication.k8s.io/{version}"
        try:
            review = client.request("POST", f"/apis/{group_version}/selfsubjectreviews",
                                    body={"apiVersion": group_version, "kind": "SelfSubjectReview"})
        except ApiError as exc:
            if exc.status == 404:
                continue
            raise
        user_info = (review.get("status") or {}).get("userInfo") or {}
        return {"username": user_info.get("username", ""), "groups": user_info.get("groups") or [],
                "method": f"SelfSubjectReview/{version}"}
    return None


def credential_problems(seen, user, expected_groups, expected_access):
    """How what the API server sees (`seen`, with `access` as access_review gives it for each of `expected_access`)
    differs from the user name, groups and access expected."""
    problems = []
    if seen["username"] != user:
        problems.append(f"the API server sees user {seen['username']!r}, not {user!r}")
    missing = [group for group in expected_groups if group not in seen["groups"]]
    if missing:
        problems.append(f"expected_groups: the API server does not see {missing} (it sees {seen['groups']})")
    for index, (expectation, allowed) in enumerate(zip(expected_access, seen.get("access", []))):
        if allowed["allowed"] != expectation["allowed"]:
            problems.append(f"expected_access[{index}]: {allowed['check']} is "
                            f"{'allowed' if allowed['allowed'] else 'forbidden'}, expected "
                            f"{'allowed' if expectation['allowed'] else 'forbidden'}")
    return problems


def access_review(client, expectation):
    """`kubectl auth can-i` with the client's credentials: {check, allowed}."""
    attributes = {key: expectation[key] for key in ("verb", "resource", "group", "subresource", "name", "namespace")
                  if expectation.get(key)}
    review = client.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", expect=(201,),
                            body={"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                  "spec": {"resourceAttributes": attributes}})
    resource = expectation["resource"] + (f".{expectation['group']}" if expectation.get("group") else "")
    check = " ".join(filter(None, (expectation["verb"], resource, expectation.get("name"))))
    if expectation.get("namespace"):
        check += f" in {expectation['namespace']}"
    return {"check": check, "allowed": bool((review.get("status") or {}).get("allowed"))}


def _shown(config):
    return "" if config is None else dump(redacted(config))


class Task:
    """What the items of one task share: the admin connection and the files being written."""

    def __init__(self, module):
        self.module = module
        self.admin = None
        self.proxy = module.params["proxy"]
        self.groups = {}
        self._verifier = None

    def verifier(self):
        """The threads that check new credentials against the API, started by the first item that needs them."""
        if self._verifier is None:
            self._verifier = concurrent.futures.ThreadPoolExecutor(max_workers=VERIFY_CONNECTIONS)
        return self._verifier

    def group_for(self, path):
        key = os.path.realpath(path)
        if key not in self.groups:
            self.groups[key] = FileGroup(self.module, path)
        return self.groups[key]

    def runner(self, item):
        if self.admin is None:
            # Every item carries the same lazily made client (batch.SharedClient).
            self.admin = AdminSide(self.module.params, item.client)
        return KubeconfigUser(item, self)

    def close(self):
        """Stop the verification threads: inside the controller process, nothing ends them when the run ends. Every
        check has been waited for by then (FileGroup.commit)."""
        if self._verifier is not None:
            self._verifier.shutdown(wait=True)
            self._verifier = None


def describe(params):
    return f"user {params.get('user')} in {params.get('path')}"


def run(module):
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    task = Task(module)
    try:
        run_batch(module, MODULE_SPEC, LIST_OPTION, task.runner, ERRORS, describe, shared=AUTH_ARG_SPEC,
                  identity=identity_of("user", "path", "cluster"))
    finally:
        task.close()
