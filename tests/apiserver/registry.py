"""REST storage: the verbs on stored kinds, the review kinds, and the per-kind rules (CSR, RBAC, namespaces)."""

import copy
import datetime
import secrets

from . import csr as csr_registry
from . import errors, fields, pki, rbac
from .api import (GENERATION_RESOURCES, TOKEN_DEFAULT_SECONDS, TOKEN_MIN_SECONDS, apply_patch, field_matcher,
                  label_matcher, role_ref_go, to_table, validate_binding, validate_labels, validate_name, wants_table)
from .resources import Resource, find

ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the "
    "internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes "
    "clusters.")
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
TOKEN_REQUEST = Resource("authentication.k8s.io", "v1", "serviceaccounts/token", "TokenRequest", True)


def _with_type(resource, obj):
    obj["kind"] = resource.kind
    obj["apiVersion"] = resource.api_version
    return obj


def _status_written(old, new):
    """CertificateSigning admission runs only when /status changes the certificate or the conditions."""
    old_status, new_status = old.get("status") or {}, new.get("status") or {}
    return (old_status.get("certificate") != new_status.get("certificate")
            or (old_status.get("conditions") or []) != (new_status.get("conditions") or []))


def _without_type(obj):
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    return obj


class Registry:
    def __init__(self, store, authorizer, tokens, ca):
        self.store = store
        self.authorizer = authorizer
        self.tokens = tokens
        self.ca = ca

    # -- bootstrap -------------------------------------------------------------------------------------------
    def bootstrap(self):
        """What a fresh cluster has: system namespaces (with their root CA ConfigMap) and the default RBAC policy."""
        for role in rbac.BOOTSTRAP_CLUSTER_ROLES:
            stored = self.store.get("clusterroles", "", role["metadata"]["name"])
            if stored is None:
                self.store.create("clusterroles", copy.deepcopy(role))
            elif role.get("aggregationRule") and stored.get("rules") != role["rules"]:
                # The aggregation controller owns an aggregated role's rules: a state file's older ones do not stay.
                stored["rules"] = copy.deepcopy(role["rules"])
                self.store.update("clusterroles", stored)
        for binding in rbac.BOOTSTRAP_CLUSTER_ROLE_BINDINGS:
            if not self.store.get("clusterrolebindings", "", binding["metadata"]["name"]):
                self.store.create("clusterrolebindings", copy.deepcopy(binding))
        for name in SYSTEM_NAMESPACES:
            if not self.store.get("namespaces", "", name):
                self._create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def _create_namespace(self, obj):
        name = obj["metadata"]["name"]
        obj.setdefault("metadata", {}).setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["status"] = {"phase": "Active"}
        created = self.store.create("namespaces", obj)
        self._namespace_controllers(name)
        return created

    def _namespace_controllers(self, namespace):
        """root-ca-cert-publisher and serviceaccount controllers, run at once rather than eventually."""
        ca_pem = pki.cert_pem(self.ca.cert).decode()
        if not self.store.get("configmaps", namespace, ROOT_CA_CONFIGMAP):
            self.store.create("configmaps", {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": namespace,
                             "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION}},
                "data": {"ca.crt": ca_pem}})
        if not self.store.get("serviceaccounts", namespace, "default"):
            self.store.create("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                                  "metadata": {"name": "default", "namespace": namespace}})

    # -- dispatch --------------------------------------------------------------------------------------------
    def handle(self, info, resource, user, body, content_type, accept):
        """Returns (status code, body); body is a dict, or a generator of watch events for `watch`."""
        verb = info.verb
        if not resource.stored:
            if verb != "create":
                raise errors.method_not_allowed()
            return self.review(info, resource, user, body)
        if info.subresource == "token":
            return self.token_request(info, body)
        if verb == "get":
            obj = self._get(resource, info.namespace, info.name)
            if wants_table(accept):
                return 200, to_table(resource, [obj], obj["metadata"]["resourceVersion"],
                                     info.query.get("includeObject", ["Metadata"])[0])
            return 200, _with_type(resource, obj)
        if verb == "list":
            items, list_rv = self._list(info, resource)
            if wants_table(accept):
                return 200, to_table(resource, items, list_rv, info.query.get("includeObject", ["Metadata"])[0])
            return 200, {"kind": resource.kind + "List", "apiVersion": resource.api_version,
                         "metadata": {"resourceVersion": list_rv}, "items": [_without_type(i) for i in items]}
        if verb == "watch":
            return 200, self.watch(info, resource)
        if verb == "create":
            return self.create(info, resource, user, body)
        if verb == "update":
            return 200, self.update(info, resource, user, body)
        if verb == "patch":
            current = self._get(resource, info.namespace, info.name)
            patched = apply_patch(_with_type(resource, current), content_type, body)
            if not isinstance(patched, dict):
                raise errors.bad_request("the patch produced an object that is not a JSON object")
            patched.setdefault("metadata", {})
            patched["metadata"].setdefault("name", info.name)
            if info.namespace:
                patched["metadata"].setdefault("namespace", info.namespace)
            return 200, self.update(info, resource, user, patched, dry_run=self._dry_run(info))
        if verb == "delete":
            return 200, self.delete(info, resource, body)
        if verb == "deletecollection":
            if verb not in resource.verbs:
                raise errors.method_not_allowed()
            items, list_rv = self._list(info, resource)
            for item in items:
                self.store.delete(resource.plural, item["metadata"].get("namespace", ""), item["metadata"]["name"])
            return 200, {"kind": resource.kind + "List", "apiVersion": resource.api_version,
                         "metadata": {"resourceVersion": list_rv}, "items": items}
        raise errors.method_not_allowed()

    @staticmethod
    def _dry_run(info):
        return "All" in info.query.get("dryRun", [])

    def _get(self, resource, namespace, name):
        # /api/v1/namespaces/NAME carries NAME as its namespace too (RequestInfoFactory); cluster-scoped objects are
        # stored without one.
        obj = self.store.get(resource.plural, namespace if resource.namespaced else "", name)
        if obj is None:
            raise errors.not_found(resource, name)
        return obj

    def _list(self, info, resource):
        items, list_rv = self.store.list(resource.plural, info.namespace or None)
        labels = label_matcher(info.query.get("labelSelector", [""])[0])
        fields = field_matcher(resource, info.query.get("fieldSelector", [""])[0])
        return [i for i in items if labels((i["metadata"].get("labels") or {})) and fields(i)], list_rv

    # -- watch -----------------------------------------------------------------------------------------------
    def watch(self, info, resource):
        labels = label_matcher(info.query.get("labelSelector", [""])[0])
        fields = field_matcher(resource, info.query.get("fieldSelector", [""])[0])
        timeout = float(info.query.get("timeoutSeconds", ["1800"])[0])
        since = info.query.get("resourceVersion", [""])[0]
        # Watch-list (KEP-3157, on by default in client-go since 1.32: kubectl delete --wait uses it): the current
        # objects as ADDED events, then a BOOKMARK marking the end of them, then the changes.
        initial_events = info.query.get("sendInitialEvents", [""])[0] == "true"
        if initial_events and (info.query.get("resourceVersionMatch", [""])[0] != "NotOlderThan"
                               or info.query.get("allowWatchBookmarks", [""])[0] != "true"):
            raise errors.ApiError(422, "Invalid", "sendInitialEvents is allowed only with "
                                  "resourceVersionMatch=NotOlderThan and allowWatchBookmarks=true")
        store = self.store

        def matches(obj):
            meta = obj["metadata"]
            if info.namespace and meta.get("namespace") != info.namespace:
                return False
            return labels(meta.get("labels") or {}) and fields(obj)

        def stream():
            deadline = datetime.datetime.now().timestamp() + timeout
            with store.lock:
                if since in ("", "0") or initial_events:
                    items, list_rv = store.list(resource.plural, info.namespace or None)
                    revision = int(list_rv)
                    initial = [("ADDED", i) for i in items if matches(i)]
                    if initial_events:
                        initial.append(("BOOKMARK", {"metadata": {
                            "resourceVersion": list_rv, "annotations": {"k8s.io/initial-events-end": "true"}}}))
                else:
                    revision = int(since)
                    if revision < store.oldest_event_revision() - 1 and revision < store.revision:
                        gone = errors.ApiError(410, "Expired", f"too old resource version: {since} "
                                               f"({store.oldest_event_revision()})")
                        initial = [("ERROR", gone.status())]
                        revision = None
                    else:
                        initial = []
            for event_type, obj in initial:
                yield {"type": event_type, "object": obj if event_type == "ERROR" else _with_type(resource, obj)}
            if revision is None:
                return
            while True:
                with store.lock:
                    events = store.events_since(resource.plural, revision)
                    if not events:
                        remaining = deadline - datetime.datetime.now().timestamp()
                        if remaining <= 0:
                            return
                        store.changed.wait(min(remaining, 1.0))
                        continue
                for rev, event_type, obj in events:
                    revision = rev
                    if matches(obj):
                        yield {"type": event_type, "object": _with_type(resource, obj)}

        return stream()

    # -- create ----------------------------------------------------------------------------------------------
    def _check_body(self, info, resource, body):
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request was empty or not a JSON object")
        body.setdefault("metadata", {})
        api_version = body.get("apiVersion")
        if api_version and api_version != resource.api_version:
            raise errors.bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                                     f"version ({resource.api_version})")
        if body.get("kind") and body["kind"] != resource.kind:
            raise errors.bad_request(f"the kind in the data ({body['kind']}) does not match the expected kind "
                                     f"({resource.kind})")
        if resource.namespaced:
            namespace = body["metadata"].get("namespace")
            if namespace and namespace != info.namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                         "the request")
            body["metadata"]["namespace"] = info.namespace
        else:
            body["metadata"].pop("namespace", None)
        return fields.validate(resource, body, info.query.get("fieldValidation", ["Warn"])[0])

    def create(self, info, resource, user, body):
        body = self._check_body(info, resource, body)
        meta = body["metadata"]
        requested_rv = meta.get("resourceVersion")
        for volatile in ("uid", "resourceVersion", "creationTimestamp", "generation", "deletionTimestamp"):
            meta.pop(volatile, None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        errs = errors.FieldErrors()
        if not meta.get("name"):
            errs.required("metadata.name", "name or generateName is required")
            raise errs.error(resource, "")
        validate_name(resource, meta["name"], errs)
        validate_labels(body, errs)
        if resource.plural in ("rolebindings", "clusterrolebindings"):
            validate_binding(resource, body, errs)
        if errs:
            raise errs.error(resource, meta["name"])
        if resource.namespaced:
            self._admit_namespace_lifecycle(resource, info.namespace, meta["name"])
        if resource.plural == "certificatesigningrequests":
            csr_registry.validate_create(resource, body)
            csr_registry.admit_create(resource, body)
            csr_registry.prepare_create(body, user)
        self._check_escalation(resource, user, body, info.namespace)
        body = _with_type(resource, body)
        if resource.plural in GENERATION_RESOURCES:
            meta["generation"] = 1
        if requested_rv not in (None, "", "0") and not self._dry_run(info):
            # etcd3 store Create: storage.ErrResourceVersionSetOnCreate, not a Status error, so a bare 500
            raise errors.ApiError(500, "", "resourceVersion should not be set on objects to be created")
        existing = self.store.get(resource.plural, info.namespace, meta["name"])
        if existing is not None:
            raise errors.already_exists(resource, meta["name"],
                                        being_deleted=bool(existing["metadata"].get("deletionTimestamp")))
        if self._dry_run(info):
            return 201, body
        if resource.plural == "namespaces":
            return 201, self._create_namespace(body)
        try:
            return 201, self.store.create(resource.plural, body)
        except KeyError as exc:
            raise errors.already_exists(resource, meta["name"]) from exc

    def _admit_namespace_lifecycle(self, resource, namespace, name):
        """NamespaceLifecycle admission: nothing new in a namespace that does not exist or is being terminated."""
        owner = self.store.get("namespaces", "", namespace)
        if owner is None:
            raise errors.not_found(find("", "v1", "namespaces"), namespace)
        if owner["metadata"].get("deletionTimestamp"):
            refused = errors.forbidden(resource, name, f"unable to create new content in namespace {namespace} "
                                                       "because it is being terminated")
            refused.details["causes"] = [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                          "message": f"namespace {namespace} is being terminated"}]
            raise refused

    def _check_escalation(self, resource, user, obj, namespace):
        """RBAC escalation prevention: hold what you grant, or have `escalate` / `bind`."""
        if resource.plural in ("roles", "clusterroles"):
            missing = self.authorizer.covers(user, namespace, obj.get("rules") or [])
            if missing and not self.authorizer.allowed(rbac.Attributes(
                    user=user, verb="escalate", group=rbac.RBAC_GROUP, resource=resource.plural,
                    namespace=namespace, name=obj["metadata"]["name"])):
                raise self._escalation_error(resource, user, obj, missing)
        elif resource.plural in ("rolebindings", "clusterrolebindings"):
            ref = obj.get("roleRef") or {}
            ref_plural = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
            if rbac.SUPERUSER_GROUP in user.groups or self.authorizer.allowed(rbac.Attributes(
                    user=user, verb="bind", group=rbac.RBAC_GROUP, resource=ref_plural,
                    namespace=namespace, name=ref.get("name", ""))):
                return
            role = self.store.get(ref_plural, namespace if ref_plural == "roles" else "", ref.get("name"))
            if role is None:
                raise errors.not_found(find(rbac.RBAC_GROUP, "v1", ref_plural), ref.get("name"))
            missing = self.authorizer.covers(user, namespace, role.get("rules") or [])
            if missing:
                raise self._escalation_error(resource, user, obj, missing)

    @staticmethod
    def _escalation_error(resource, user, obj, missing):
        groups = " ".join(f'"{g}"' for g in user.groups)
        held = "\n".join(
            "{APIGroups:%s, Resources:%s, Verbs:%s}" % (
                "[" + " ".join(f'"{g}"' for g in r.get("apiGroups", [])) + "]",
                "[" + " ".join(f'"{g}"' for g in r.get("resources", [])) + "]",
                "[" + " ".join(f'"{g}"' for g in r.get("verbs", [])) + "]") for r in missing)
        return errors.forbidden(resource, obj["metadata"]["name"],
                                f'user "{user.name}" (groups=[{groups}]) is attempting to grant RBAC permissions not '
                                f"currently held:\n{held}")

    # -- update ----------------------------------------------------------------------------------------------
    def update(self, info, resource, user, body, dry_run=None):
        body = self._check_body(info, resource, body)
        name = body["metadata"].get("name")
        if name != info.name:
            raise errors.bad_request(f'the name of the object ({name}) does not match the name on the URL '
                                     f'({info.name})')
        old = self._get(resource, info.namespace, info.name)
        wanted_rv = body["metadata"].get("resourceVersion")
        if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(resource, info.name)
        new = copy.deepcopy(body)
        for kept in ("uid", "creationTimestamp", "generation", "resourceVersion", "deletionTimestamp"):
            if kept in old["metadata"]:
                new["metadata"][kept] = old["metadata"][kept]
            else:
                new["metadata"].pop(kept, None)
        new = _with_type(resource, new)
        if resource.plural == "certificatesigningrequests":
            csr_registry.prepare_update(old, new, info.subresource)
            csr_registry.validate_update(resource, old, new, info.subresource)
            if info.subresource == "approval":
                self._check_signer_approval(resource, user, old)
            elif info.subresource == "status" and _status_written(old, new):
                self._check_signer_approval(resource, user, old, verb="sign")
        elif resource.plural == "namespaces":
            new["status"] = old.get("status")
        errs = errors.FieldErrors()
        validate_labels(new, errs)
        if resource.plural in ("rolebindings", "clusterrolebindings"):
            validate_binding(resource, new, errs)
            if not errs and new.get("roleRef") != old.get("roleRef"):
                errs.invalid("roleRef", role_ref_go(new.get("roleRef") or {}), "cannot change roleRef")
        if errs:
            raise errs.error(resource, info.name)
        if resource.plural in ("roles", "clusterroles", "rolebindings", "clusterrolebindings"):
            self._check_escalation(resource, user, new, info.namespace)
        spec_changed = resource.plural in GENERATION_RESOURCES and new.get("spec") != old.get("spec")
        if spec_changed:
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        if dry_run if dry_run is not None else self._dry_run(info):
            return new
        return self.store.update(resource.plural, new)

    def _check_signer_approval(self, resource, user, csr_obj, verb="approve"):
        """Approving or denying needs `approve` on the signer, writing /status `sign` (admission plugins
        CertificateApproval and CertificateSigning, IsAuthorizedForSignerName)."""
        signer = csr_obj["spec"]["signerName"]
        domain = signer.split("/")[0]
        for name in (signer, domain + "/*"):
            if self.authorizer.allowed(rbac.Attributes(user=user, verb=verb, group="certificates.k8s.io",
                                                       resource="signers", name=name)):
                return
        raise errors.forbidden(resource, csr_obj["metadata"]["name"],
                               f'user not permitted to {verb} requests with signerName "{signer}"')

    # -- delete ----------------------------------------------------------------------------------------------
    def delete(self, info, resource, body):
        obj = self._get(resource, info.namespace, info.name)
        preconditions = (body or {}).get("preconditions") or {}
        meta = obj["metadata"]
        # rest.BeforeDelete checks the preconditions first, naming the object by GroupResource{group, Kind}.
        by_kind = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
        details = {"name": info.name, **({"group": resource.group} if resource.group else {}), "kind": resource.kind}
        if preconditions.get("uid") and preconditions["uid"] != meta["uid"]:
            raise errors.ApiError(409, "Conflict",
                                  f'Operation cannot be fulfilled on {by_kind} "{info.name}": the UID in the '
                                  f'precondition ({preconditions["uid"]}) does not match the UID in record '
                                  f'({meta["uid"]}). The object might have been deleted and then recreated', details)
        if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != meta["resourceVersion"]:
            raise errors.ApiError(409, "Conflict",
                                  f'Operation cannot be fulfilled on {by_kind} "{info.name}": the ResourceVersion in '
                                  f'the precondition ({preconditions["resourceVersion"]}) does not match the '
                                  f'ResourceVersion in record ({meta["resourceVersion"]}). The object might have been '
                                  'modified', details)
        if resource.plural == "namespaces":
            # The first DELETE only marks the namespace Terminating; the namespace controller removes it and its
            # contents later. A DELETE of a Terminating namespace answers it as it is.
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = csr_registry.timestamp()
                obj.setdefault("status", {})["phase"] = "Terminating"
                if not self._dry_run(info):
                    obj = self.store.update(resource.plural, obj)
            return _with_type(resource, obj)
        if self._dry_run(info):
            return _with_type(resource, obj)
        self.store.delete(resource.plural, info.namespace, info.name)
        details = {"name": info.name}
        if resource.group:
            details["group"] = resource.group
        details.update({"kind": resource.plural, "uid": meta["uid"]})
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    # -- TokenRequest ----------------------------------------------------------------------------------------
    def token_request(self, info, body):
        if info.verb != "create":
            raise errors.method_not_allowed()
        spec = (body or {}).get("spec") or {}
        seconds = spec.get("expirationSeconds") or TOKEN_DEFAULT_SECONDS
        if seconds < TOKEN_MIN_SECONDS:
            # token.go validates before looking the ServiceAccount up: NewInvalid(TokenRequest GroupKind, "", errs)
            errs = errors.FieldErrors()
            errs.invalid("spec.expirationSeconds", seconds, "may not specify a duration less than 10 minutes")
            raise errs.error(TOKEN_REQUEST, "")
        account = self.store.get("serviceaccounts", info.namespace, info.name)
        if account is None:
            raise errors.not_found(find("", "v1", "serviceaccounts"), info.name)
        token, expires = self.tokens.issue(account, seconds, spec.get("audiences") or
                                           ["https://kubernetes.default.svc.cluster.local"])
        expiry = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 201, {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                     "metadata": {"name": info.name, "namespace": info.namespace},
                     "spec": {"audiences": spec.get("audiences") or ["https://kubernetes.default.svc.cluster.local"],
                              "expirationSeconds": seconds, "boundObjectRef": None},
                     "status": {"token": token, "expirationTimestamp": expiry}}

    # -- reviews ---------------------------------------------------------------------------------------------
    def review(self, info, resource, user, body):
        body = body if isinstance(body, dict) else {}
        spec = body.get("spec") or {}
        # 1.36 omits a zero creationTimestamp: an access review answers with no metadata fields at all.
        result = {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": {}}
        if resource.plural == "selfsubjectreviews":
            result["metadata"] = {"creationTimestamp": csr_registry.timestamp()}
            result["status"] = {"userInfo": user.as_dict()}
            return 201, result
        if resource.plural == "tokenreviews":
            reviewed = self.tokens.authenticate(spec.get("token", ""))
            result["spec"] = spec
            result["status"] = ({"authenticated": True, "user": reviewed.as_dict(),
                                 "audiences": spec.get("audiences") or []}
                                if reviewed else {"user": {}, "error": "invalid bearer token"})
            return 201, result
        if resource.plural == "selfsubjectrulesreviews":
            namespace = spec.get("namespace", "")
            if not namespace:
                raise errors.bad_request("no namespace on request")  # selfsubjectrulesreview/rest.go
            rules = self.authorizer.rules_for(user, namespace)
            if rbac.SUPERUSER_GROUP in user.groups:
                rules = rules + [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                                 {"verbs": ["*"], "nonResourceURLs": ["*"]}]
            result["spec"] = spec
            result["status"] = {
                "resourceRules": [{k: v for k, v in r.items() if k != "nonResourceURLs"}
                                  for r in rules if not r.get("nonResourceURLs")],
                "nonResourceRules": [{"verbs": r["verbs"], "nonResourceURLs": r["nonResourceURLs"]}
                                     for r in rules if r.get("nonResourceURLs")],
                "incomplete": False}
            return 201, result
        # access reviews
        if resource.plural == "selfsubjectaccessreviews":
            subject = user
        else:
            subject = rbac.UserInfo(spec.get("user", ""), list(spec.get("groups") or []), uid=spec.get("uid", ""),
                                    extra=spec.get("extra") or {})
            if not subject.name and not subject.groups:
                errs = errors.FieldErrors()
                errs.invalid("spec.user", "", "at least one of user or group must be specified")
                raise errs.error(resource, "")
        resource_attrs = spec.get("resourceAttributes")
        non_resource = spec.get("nonResourceAttributes")
        if resource.plural == "localsubjectaccessreviews" and (resource_attrs or {}).get("namespace") != info.namespace:
            errs = errors.FieldErrors()
            errs.invalid("spec.resourceAttributes.namespace", (resource_attrs or {}).get("namespace", ""),
                         "must match metadata.namespace")
            raise errs.error(resource, "")
        if resource_attrs:
            attrs = rbac.Attributes(user=subject, verb=resource_attrs.get("verb", ""),
                                    group=resource_attrs.get("group", ""),
                                    resource=resource_attrs.get("resource", ""),
                                    subresource=resource_attrs.get("subresource", ""),
                                    namespace=resource_attrs.get("namespace", ""),
                                    name=resource_attrs.get("name", ""))
        elif non_resource:
            attrs = rbac.Attributes(user=subject, verb=non_resource.get("verb", ""), resource_request=False,
                                    path=non_resource.get("path", ""))
        else:
            errs = errors.FieldErrors()
            errs.required("spec.resourceAttributes", "exactly one of nonResourceAttributes or resourceAttributes "
                                                     "must be specified")
            raise errs.error(resource, "")
        result["spec"] = spec
        result["status"] = {"allowed": self.authorizer.allowed(attrs)}
        return 201, result
