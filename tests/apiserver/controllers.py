"""kube-controller-manager's controllers that matter here: csrsigning, csrapproving (kubelet client), csrcleaner
and the namespace controller."""

import base64
import datetime
import threading
import time

from cryptography import x509
from cryptography.x509.oid import NameOID

from . import csr as csr_registry
from . import pki, rbac
from .store import parse_timestamp, timestamp

CLIENT_USAGES = {"digital signature", "key encipherment", "client auth"}
APPROVED_EXPIRATION = datetime.timedelta(hours=1)
DENIED_EXPIRATION = datetime.timedelta(hours=1)
PENDING_EXPIRATION = datetime.timedelta(hours=24)
CLEANER_INTERVAL = datetime.timedelta(hours=1)


def _condition(obj, ctype):
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == ctype:
            return condition
    return None


def _subject(csr):
    organizations = [a.value for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return (names[0].value if names else ""), organizations


def _sans(csr):
    try:
        return csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def check_client(csr, usages):
    """validAPIServerClientUsages."""
    for usage in usages:
        if usage not in CLIENT_USAGES:
            return f"invalid usage for client certificate: {usage}"
    if "client auth" not in usages:
        return "missing required usage for client certificate: client auth"
    return None


KUBELET_CLIENT_USAGES = ({"key encipherment", "digital signature", "client auth"},
                         {"digital signature", "client auth"})
KUBELET_SERVING_USAGES = ({"key encipherment", "digital signature", "server auth"},
                          {"digital signature", "server auth"})
_SAN_KINDS = ((x509.DNSName, "DNS"), (x509.RFC822Name, "Email"), (x509.IPAddress, "IP"),
              (x509.UniformResourceIdentifier, "URI"))


def _node_organization_problem(csr):
    return None if _subject(csr)[1] == ["system:nodes"] else "subject organization is not system:nodes"


def _node_common_name_problem(csr):
    if _subject(csr)[0].startswith("system:node:"):
        return None
    return "subject common name does not begin with system:node:"


def _san_values(csr, kind):
    sans = _sans(csr)
    return sans.get_values_for_type(kind) if sans else []


def _usages_problem(usages, allowed):
    """The set of usages must be one of the two allowed sets, whatever the key type; Go prints the sorted first."""
    if set(usages) in allowed:
        return None
    return "usages did not match [" + " ".join(sorted(allowed[0])) + "]"


def check_kubelet_client(csr, usages):
    """ValidateKubeletClientCSR (pkg/apis/certificates/helpers.go), in its order: O, SANs, CN, usages."""
    problem = _node_organization_problem(csr)
    for kind, label in _SAN_KINDS:
        if not problem and _san_values(csr, kind):
            problem = f"{label} subjectAltNames are not allowed"
    return problem or _node_common_name_problem(csr) or _usages_problem(usages, KUBELET_CLIENT_USAGES)


def check_kubelet_serving(csr, usages):
    """ValidateKubeletServingCSR (pkg/apis/certificates/helpers.go), in its order: O, SANs, usages, CN."""
    problem = _node_organization_problem(csr)
    if not problem and not _san_values(csr, x509.DNSName) and not _san_values(csr, x509.IPAddress):
        problem = "DNS or IP subjectAltName is required"
    if not problem and _san_values(csr, x509.RFC822Name):
        problem = "Email subjectAltNames are not allowed"
    if not problem and _san_values(csr, x509.UniformResourceIdentifier):
        problem = "URI subjectAltNames are not allowed"
    return problem or _usages_problem(usages, KUBELET_SERVING_USAGES) or _node_common_name_problem(csr)


SIGNER_CHECKS = {
    csr_registry.CLIENT_SIGNER: check_client,
    csr_registry.KUBELET_CLIENT_SIGNER: check_kubelet_client,
    csr_registry.KUBELET_SERVING_SIGNER: check_kubelet_serving,
}


class ControllerLoop:
    """One controller of kube-controller-manager: woken by changes to its resource, as its informer would wake it,
    and by its own deadlines; `sync()` does one pass."""

    resource = ""
    longest_sleep = 0.1  # so that a stop or a changed switch is noticed soon

    def __init__(self, store):
        self.store = store
        self._stop = threading.Event()
        self._thread = None
        self._revision = None  # None: the next pass looks at every object (at start, or when events were lost)

    def start(self):
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        with self.store.lock:
            self.store.changed.notify_all()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self):
        while not self._stop.is_set():
            self.sync()
            with self.store.lock:
                if self.store.revision == self._revision and not self._stop.is_set():
                    self.store.changed.wait(max(0.0, min(self.longest_sleep, self.seconds_to_next_deadline())))

    def sync(self):
        raise NotImplementedError

    def seconds_to_next_deadline(self):
        return self.longest_sleep

    def changed_names(self):
        """Names of this resource's objects written since the last pass; every name after a gap in the events."""
        with self.store.lock:
            revision = self.store.revision
            if self._revision is None or self._revision < self.store.oldest_event_revision() - 1:
                objects = self.store.list(self.resource)[0]
            else:
                objects = [obj for _rev, _type, obj in self.store.events_since(self.resource, self._revision)]
            self._revision = revision
        return list(dict.fromkeys(obj["metadata"]["name"] for obj in objects))


class TokenBucket:
    """client-go's token bucket rate limiter (flowcontrol.NewTokenBucketRateLimiter): `qps` tokens a second, at
    most `burst` saved, full at start; qps 0 means no limit."""

    def __init__(self, qps, burst):
        self.qps = qps
        self.burst = burst
        self._tokens = float(burst)
        self._last = time.monotonic()

    def seconds_until_token(self):
        """0 when a token was taken now, else how long until the next one (nothing taken)."""
        if not self.qps:
            return 0.0
        now = time.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.qps


class CertificateControllers(ControllerLoop):
    """csrapproving, csrsigning and csrcleaner in one loop. The signer issues as soon as it sees an approval (the
    real one takes 10-20 ms) and spends one status update per certificate from a client limited to `signer_qps`
    requests a second with bursts of `signer_burst`, as kube-controller-manager's --kube-api-qps/--kube-api-burst
    (20 and 30) limit it."""

    resource = "certificatesigningrequests"

    def __init__(self, store, ca, authorizer, signing_enabled=True, signing_delay=0.0, signer_qps=20, signer_burst=30,
                 max_signing_duration=datetime.timedelta(days=365), cleaner_time_scale=1.0):
        super().__init__(store)
        self.ca = ca
        self.authorizer = authorizer
        self.signing_enabled = signing_enabled
        self.signing_delay = signing_delay
        self.signer_client = TokenBucket(signer_qps, signer_burst)
        self.max_signing_duration = max_signing_duration
        self.cleaner_time_scale = cleaner_time_scale
        self._last_clean = None
        self._due = {}  # approved CSR name -> monotonic time at which the signer may write it

    def sync(self, now=None):
        now = now or datetime.datetime.now(datetime.timezone.utc)
        names = self.changed_names()
        names.extend(name for name, due in sorted(self._due.items(), key=lambda item: item[1])
                     if due <= time.monotonic() and name not in names)
        for name in names:
            obj = self.store.get(self.resource, "", name)
            if obj is None:
                self._due.pop(name, None)
                continue
            self._approve_kubelet_client(obj)
            self._sign(obj, now)
        interval = CLEANER_INTERVAL / self.cleaner_time_scale
        if self._last_clean is None or now - self._last_clean >= interval:
            self._last_clean = now
            self.clean(now)

    def seconds_to_next_deadline(self):
        if not self._due or not self.signing_enabled:
            return self.longest_sleep
        return min(self._due.values()) - time.monotonic()

    # csrapproving: only kubelet client certificates, after a SubjectAccessReview for the requester.
    def _approve_kubelet_client(self, obj):
        spec = obj["spec"]
        if spec.get("signerName") != csr_registry.KUBELET_CLIENT_SIGNER or (obj.get("status") or {}).get("conditions"):
            return
        csr = csr_registry.parse_request(base64.b64decode(spec["request"]))[0]
        if csr is None or check_kubelet_client(csr, spec.get("usages") or []):
            return
        requester = rbac.UserInfo(spec.get("username", ""), spec.get("groups") or [])
        common_name = _subject(csr)[0]
        # sarapprove.go recognizers, most specific first: renewing one's own node identity, then any node client.
        recognizers = [("nodeclient", "Auto approving kubelet client certificate after SubjectAccessReview.")]
        if common_name == requester.name:
            recognizers.insert(0, ("selfnodeclient",
                                   "Auto approving self kubelet client certificate after SubjectAccessReview."))
        message = next((text for sub, text in recognizers if self.authorizer.allowed(rbac.Attributes(
            user=requester, verb="create", group="certificates.k8s.io", resource="certificatesigningrequests",
            subresource=sub))), None)
        if message is None:
            return
        now = timestamp()
        obj.setdefault("status", {}).setdefault("conditions", []).append({
            "type": "Approved", "status": "True", "reason": "AutoApproved", "message": message,
            "lastUpdateTime": now, "lastTransitionTime": now})
        self._write(obj)

    def _sign(self, obj, now):
        spec, status = obj["spec"], obj.get("status") or {}
        name = obj["metadata"]["name"]
        check = SIGNER_CHECKS.get(spec.get("signerName"))
        if check is None or not _condition(obj, "Approved") or _condition(obj, "Failed") or status.get("certificate"):
            self._due.pop(name, None)
            return
        # Condition timestamps have whole seconds, so the delay is measured from when this loop first saw it.
        due = self._due.setdefault(name, time.monotonic() + self.signing_delay)
        if not self.signing_enabled:
            return
        wait = due - time.monotonic()
        if wait <= 0:
            wait = self.signer_client.seconds_until_token()
        if wait > 0:
            self._due[name] = time.monotonic() + wait
            return
        del self._due[name]
        csr = csr_registry.parse_request(base64.b64decode(spec["request"]))[0]
        usages = spec.get("usages") or []
        problem = check(csr, usages)
        if problem:
            stamp = timestamp(now)
            status.setdefault("conditions", []).append({
                "type": "Failed", "status": "True", "reason": "SignerValidationFailure", "message": problem,
                "lastUpdateTime": stamp, "lastTransitionTime": stamp})
        else:
            ttl = pki.signing_duration(spec.get("expirationSeconds"), self.max_signing_duration)
            cert = self.ca.sign_csr(csr, usages, ttl, now)
            status["certificate"] = base64.b64encode(pki.cert_pem(cert)).decode()
        obj["status"] = status
        self._write(obj)

    def _write(self, obj):
        with self.store.lock:
            current = self.store.get("certificatesigningrequests", "", obj["metadata"]["name"])
            if current and current["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]:
                self.store.update("certificatesigningrequests", obj)

    # csrcleaner, with the real thresholds divided by the time scale.
    def clean(self, now):
        scale = self.cleaner_time_scale
        for obj in self.store.list("certificatesigningrequests")[0]:
            if self._expired(obj, now, scale):
                name = obj["metadata"]["name"]
                with self.store.lock:
                    if self.store.get("certificatesigningrequests", "", name):
                        self.store.delete("certificatesigningrequests", "", name)

    @staticmethod
    def _expired(obj, now, scale):
        def older_than(stamp, age):
            return bool(stamp) and now - parse_timestamp(stamp) > age / scale

        status = obj.get("status") or {}
        approved = _condition(obj, "Approved")
        if approved and status.get("certificate"):
            if older_than(approved.get("lastUpdateTime"), APPROVED_EXPIRATION):
                return True
            try:
                certs = x509.load_pem_x509_certificates(base64.b64decode(status["certificate"]))
                if certs and certs[0].not_valid_after_utc < now:
                    return True
            except ValueError:
                pass
        for ctype in ("Denied", "Failed"):
            condition = _condition(obj, ctype)
            if condition and older_than(condition.get("lastUpdateTime"), DENIED_EXPIRATION):
                return True
        if not status.get("conditions") and older_than(obj["metadata"].get("creationTimestamp"), PENDING_EXPIRATION):
            return True
        return False


class NamespaceController(ControllerLoop):
    """The namespace controller: a deleted namespace stays Terminating for `deletion_delay` seconds (the real
    controller waits its namespaceDeletionGracePeriod, 5 s, before it looks; an empty namespace is gone after about
    5.2 s), then everything in it is deleted and the namespace with it."""

    resource = "namespaces"

    def __init__(self, store, deletion_delay=5.0):
        super().__init__(store)
        self.deletion_delay = deletion_delay
        self._due = {}  # uid of a Terminating namespace -> (name, monotonic time at which it goes)

    def sync(self):
        for name in self.changed_names():
            namespace = self.store.get(self.resource, "", name)
            if namespace and namespace["metadata"].get("deletionTimestamp"):
                self._due.setdefault(namespace["metadata"]["uid"], (name, time.monotonic() + self.deletion_delay))
        for uid, (name, due) in list(self._due.items()):
            if due <= time.monotonic():
                del self._due[uid]
                self._finalize(name, uid)

    def seconds_to_next_deadline(self):
        if not self._due:
            return self.longest_sleep
        return min(due for _name, due in self._due.values()) - time.monotonic()

    def _finalize(self, name, uid):
        with self.store.lock:
            namespace = self.store.get(self.resource, "", name)
            if not namespace or namespace["metadata"]["uid"] != uid:
                return
            for resource, owner, item in list(self.store.objects):
                if owner == name:
                    self.store.delete(resource, owner, item)
            self.store.delete(self.resource, "", name)
