# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend of the k8s_self_service_account module: the ServiceAccount (and its namespace) through which a user
requests their own certificate, with annotations that publish what they may request (module_utils/self_service.py)."""

from __future__ import annotations

import copy
import itertools

from ansible_collections.kubeaccess.x509.plugins.module_utils import self_service
from ansible_collections.kubeaccess.x509.plugins.module_utils.batch import (
    SharedClient, batch_argument_spec, identity_of, run_batch)
from ansible_collections.kubeaccess.x509.plugins.module_utils.csr_object import (
    MANAGED_BY, MANAGED_BY_LABEL, is_managed)
from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import (
    AUTH_ARG_SPEC, ApiError, KubeError, ObjectReads, delete_options, with_conflict_retries)
from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import (
    identity_name_error, label_errors, namespace_error)

LIST_OPTION = "accounts"
ITEM_SPEC = dict(
    user=dict(type="str"),
    groups=dict(type="list", elements="str"),
    namespace=dict(type="str", default=self_service.DEFAULT_NAMESPACE),
    labels=dict(type="dict", default={}),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)
MODULE_SPEC = dict(AUTH_ARG_SPEC, **ITEM_SPEC)
SHARED = tuple(AUTH_ARG_SPEC)
MODULE_ARGS = dict(argument_spec=batch_argument_spec(MODULE_SPEC, LIST_OPTION), supports_check_mode=True)
NAMESPACES = "/api/v1/namespaces"
NOT_OURS = f"is not managed by kubeaccess.x509 (no label {MANAGED_BY_LABEL}={MANAGED_BY})"


class InputError(Exception):
    """Bad options, or an object this item may not touch; raised before the item changes anything."""


def owned_labels(labels):
    return dict({key: "" if value is None else str(value) for key, value in (labels or {}).items()},
                **{MANAGED_BY_LABEL: MANAGED_BY})


def account_path(namespace, name):
    return f"{NAMESPACES}/{namespace}/serviceaccounts/{name}"


def namespace_manifest(namespace):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {MANAGED_BY_LABEL: MANAGED_BY}}}


def account_manifest(namespace, name, labels, annotations):
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
            # The account is a person's, used from their machine: no pod should get its token mounted.
            "automountServiceAccountToken": False}


def account_view(obj):
    """What the diff shows of a ServiceAccount: None where there is none."""
    if obj is None:
        return None
    metadata = obj.get("metadata") or {}
    return {"name": metadata.get("name"), "namespace": metadata.get("namespace"),
            "labels": dict(metadata.get("labels") or {}), "annotations": dict(metadata.get("annotations") or {})}


def terminating_error(namespace):
    return (f"namespace: {namespace} is being deleted (Terminating), so nothing can be created in it; wait until it "
            "is gone and run again (it is then created anew), or choose another namespace")


class Cluster:
    """What one module run knows of the cluster: one client, made on first use; in the batch form one LIST of
    namespaces and one of the ServiceAccounts of each namespace, kept current as items write."""

    def __init__(self, batch, shared_client):
        self.batch = batch
        self._connect = shared_client
        self._namespaces = ObjectReads(shared_client, NAMESPACES, batch)
        self._accounts = {}

    @property
    def client(self):
        return self._connect()

    def namespace(self, name, fresh=False):
        return self._namespaces.get(name, fresh)

    def _account_reads(self, namespace):
        if namespace not in self._accounts:
            self._accounts[namespace] = ObjectReads(self._connect, f"{NAMESPACES}/{namespace}/serviceaccounts",
                                                    self.batch)
        return self._accounts[namespace]

    def account(self, namespace, name, fresh=False):
        if self.namespace(namespace) is None:
            return None  # what a namespace that does not exist (yet) holds
        return self._account_reads(namespace).get(name, fresh)

    def remember_account(self, namespace, name, obj):
        self._account_reads(namespace).remember(name, obj)

    def ensure_namespace(self, namespace, check_mode):
        """Create the namespace when it is missing; True when this call created it (or would, in check mode)."""
        current = self.namespace(namespace)
        if current is None:
            planned = namespace_manifest(namespace)
            if check_mode:
                self._namespaces.remember(namespace, planned)
                return True
            try:
                self._namespaces.remember(namespace, self.client.request("POST", NAMESPACES, body=planned,
                                                                         expect=(201,)))
                return True
            except ApiError as exc:
                if not exc.already_exists:
                    raise
            current = self.namespace(namespace, fresh=True)  # made meanwhile by someone else
        if current is not None and current["metadata"].get("deletionTimestamp"):
            raise InputError(terminating_error(namespace))
        return False


class AccountItem:
    """One user's self-service ServiceAccount: checked and planned when made, written by run()."""

    def __init__(self, item, cluster, top_labels):
        self.item = item
        self.params = params = item.params
        self.cluster = cluster
        self.user = params["user"]
        self.namespace = params["namespace"]
        self.present = params["state"] == "present"
        self.given_labels = dict(top_labels or {}, **(params["labels"] or {}))
        self.labels = owned_labels(self.given_labels)
        self.groups = sorted(set(params["groups"] or []))
        self.validate()
        self.name = self_service.account_name(self.user)
        self.what = f"ServiceAccount {self.namespace}/{self.name}"
        self.diff = {"before": {}, "after": {}}
        self.result = {"changed": False, "user": self.user, "namespace": self.namespace, "name": self.name,
                       "csr_name": self_service.csr_name(self.user), "groups": self.groups, "action": "none",
                       "namespace_created": False}
        self.current = self.planned = None
        self.plan(fresh=False)

    def validate(self):
        params = self.params
        errors = []
        if self.user is None:
            errors.append("user: required; the user name (the certificate's CN) the ServiceAccount requests for")
        else:
            errors.append(identity_name_error("user", self.user, override=""))
        for index, group in enumerate(params["groups"] or []):
            errors.append(identity_name_error(f"groups[{index}]", group, override=""))
        if self.present and not params["groups"]:
            errors.append("groups: self-service needs at least one group to publish; list the groups (the "
                          "certificate's O) the user may request, for example [developers]")
        errors.append(namespace_error("namespace", self.namespace))
        errors += label_errors("labels", self.labels)
        if MANAGED_BY_LABEL in self.given_labels:
            errors.append(f"labels: {MANAGED_BY_LABEL} is set by this module; remove it")
        errors = [e for e in errors if e]
        if errors:
            raise InputError("; ".join(errors))

    def plan(self, fresh):
        """Read the namespace and the ServiceAccount, and decide what to do; refuses what may not be touched."""
        namespace = self.cluster.namespace(self.namespace, fresh)
        if self.present and namespace is not None and namespace["metadata"].get("deletionTimestamp"):
            raise InputError(terminating_error(self.namespace))
        current = self.cluster.account(self.namespace, self.name, fresh)
        if current is not None and not is_managed(current):
            fate = f"it is not taken over for {self.user!r}" if self.present else "it is not deleted"
            raise InputError(f"user: {self.what} exists and {NOT_OURS}; {fate}. Check who made it and delete it "
                             "(kubectl delete) first, or choose another namespace")
        if not self.present:
            action, planned = ("none", None) if current is None else ("delete", None)
            if current is not None:
                published = self_service.published(current)
                self.result["groups"] = published[1] if published else self.groups
        elif current is None:
            action = "create"
            planned = account_manifest(self.namespace, self.name, self.labels,
                                       self_service.annotations(self.user, self.groups))
        else:
            metadata = current["metadata"]
            labels = dict(metadata.get("labels") or {}, **self.labels)
            annotations = dict(metadata.get("annotations") or {}, **self_service.annotations(self.user, self.groups))
            if labels == (metadata.get("labels") or {}) and annotations == (metadata.get("annotations") or {}):
                action, planned = "none", current
            else:
                # A PUT of the object as read: its resourceVersion makes a concurrent change a conflict.
                action, planned = "update", copy.deepcopy(current)
                planned["metadata"].update(labels=labels, annotations=annotations)
        self.current, self.planned = current, planned
        self.result["action"] = action

    # -- running ---------------------------------------------------------------------------------------------
    def run(self):
        attempts = itertools.count()

        def attempt():
            fresh = next(attempts) > 0
            if fresh:
                self.plan(fresh=True)
            try:
                return self.apply()
            except ApiError as exc:
                if exc.already_exists and not fresh:  # made meanwhile: decide again on what is there
                    self.plan(fresh=True)
                    return self.apply()
                raise
        with_conflict_retries(attempt)
        self.diff["before"]["service_account"] = account_view(self.current)
        self.diff["after"]["service_account"] = account_view(self.planned)
        if self.item.diff_mode:
            self.result["diff"] = self.diff

    def apply(self):
        action, check_mode = self.result["action"], self.item.check_mode
        if self.present and self.cluster.ensure_namespace(self.namespace, check_mode):
            self.result.update(namespace_created=True, changed=True)
            self.diff["before"]["namespace"] = None
            self.diff["after"]["namespace"] = {"name": self.namespace,
                                               "labels": {MANAGED_BY_LABEL: MANAGED_BY}}
        if action == "none":
            return
        self.result["changed"] = True
        written = self.planned
        if not check_mode:
            client, path = self.cluster.client, account_path(self.namespace, self.name)
            if action == "create":
                written = client.request("POST", f"{NAMESPACES}/{self.namespace}/serviceaccounts",
                                         body=self.planned, expect=(201,))
            elif action == "update":
                written = client.request("PUT", path, body=self.planned)
            else:
                client.request("DELETE", path, body=delete_options(self.current), expect=(200, 202, 404))
        self.cluster.remember_account(self.namespace, self.name, written)


def describe_item(params):
    user = params.get("user")
    if not user:
        return "(no user)"
    return f"user {user}, ServiceAccount {params.get('namespace')}/{self_service.account_name(user)}"


def run(module):
    """The module's whole job with `module` (an AnsibleModule of MODULE_ARGS); ends with exit_json or fail_json."""
    params = module.params
    client = SharedClient(params)
    cluster = Cluster(params[LIST_OPTION] is not None, client)
    run_batch(module, MODULE_SPEC, LIST_OPTION, lambda item: AccountItem(item, cluster, params["labels"]),
              (InputError, KubeError), describe_item, shared=SHARED, client=client,
              identity=identity_of("user", "namespace"))
