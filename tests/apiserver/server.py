"""The local test API server: HTTPS front end, request pipeline (faults, authn, impersonation, authz), operability."""

import base64
import collections
import dataclasses
import datetime
import http.server
import json
import os
import socketserver
import threading
import time
import urllib.parse

import yaml
from OpenSSL import SSL

from . import authn, errors, openapi, pki, rbac, resources, tls
from .api import RequestInfo, find_resource, load_body
from .controllers import CertificateControllers, NamespaceController
from .registry import Registry
from .store import Store

CONTROL_PREFIX = "/_testserver/"
CLUSTER_NAME = "kubeaccess-test"
ADMIN_USER = "kubernetes-admin"
REQUEST_LOG_SIZE = 20000
PUBLIC_PATHS = {"/healthz", "/livez", "/readyz"}


@dataclasses.dataclass
class Options:
    workdir: str
    host: str = "127.0.0.1"
    port: int = 0
    state_file: str = None
    signing_enabled: bool = True
    signing_delay: float = 0.0
    signer_qps: float = 20.0
    signer_burst: int = 30
    max_signing_duration: datetime.timedelta = datetime.timedelta(days=365)
    cleaner_time_scale: float = 1.0
    namespace_deletion_delay: float = 5.0


@dataclasses.dataclass
class Fault:
    """Answer matching requests with an error, a delay or a dropped connection, `count` times (0 = forever)."""

    status: int = 0
    retry_after: int = 1
    delay: float = 0.0
    drop: bool = False
    count: int = 1
    verb: str = ""
    resource: str = ""

    def matches(self, info):
        if self.verb and self.verb != info.verb:
            return False
        combined = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
        return not self.resource or self.resource in (info.resource, combined)


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    def add(self, fault):
        with self.lock:
            self.rules.append(fault)

    def clear(self):
        with self.lock:
            self.rules.clear()

    def take(self, info):
        with self.lock:
            for fault in self.rules:
                if fault.matches(info):
                    if fault.count == 1:
                        self.rules.remove(fault)
                    elif fault.count > 1:
                        fault.count -= 1
                    return fault
        return None


class Stats:
    """Request log and per verb/resource counters, read by tests and benchmarks."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counters = collections.Counter()
        self.log = collections.deque(maxlen=REQUEST_LOG_SIZE)

    def record(self, entry):
        key = f"{entry['verb']} {entry['resource'] or entry['path']}"
        with self.lock:
            self.counters[key] += 1
            self.log.append(entry)

    def snapshot(self):
        with self.lock:
            return {"counters": dict(self.counters), "requests": list(self.log)}

    def reset(self):
        with self.lock:
            self.counters.clear()
            self.log.clear()


class _HTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, api):
        self.api = api
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address):
        try:
            stream = tls.accept(self.api.tls_context, request)
        except (SSL.Error, OSError):
            request.close()
            return
        try:
            self.RequestHandlerClass(stream, client_address, self)
        finally:
            stream.close()

    def shutdown_request(self, request):
        self.close_request(request)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubeaccess-test-apiserver"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """The request log in Stats replaces the stderr access log."""

    def do_GET(self):
        self.server.api.serve(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, code, payload, extra_headers=None):
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def send_text(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_stream(self, events):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        # The connection ends with the stream; say so, or a client puts it back in its pool and its next request
        # meets a closed socket.
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for event in events:
                chunk = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (ConnectionError, OSError):
            pass


class TestAPIServer:
    """Start with `start()`; `url`, `kubeconfig`, `ca_file` tell clients where it is; `stop()` ends it."""

    __test__ = False  # not a pytest test class

    def __init__(self, options):
        self.options = options
        os.makedirs(options.workdir, exist_ok=True)
        self.ca = self._load_or_create_ca()
        self.store = Store(options.state_file)
        self.authorizer = rbac.Authorizer(self.store)
        self.tokens = authn.TokenIssuer(self.store)
        self.authenticator = authn.Authenticator(self.ca, self.tokens)
        self.impersonation = authn.Impersonation(self.authorizer)
        self.registry = Registry(self.store, self.authorizer, self.tokens, self.ca)
        self.registry.bootstrap()
        self.controllers = CertificateControllers(
            self.store, self.ca, self.authorizer, signing_enabled=options.signing_enabled,
            signing_delay=options.signing_delay, signer_qps=options.signer_qps, signer_burst=options.signer_burst,
            max_signing_duration=options.max_signing_duration, cleaner_time_scale=options.cleaner_time_scale)
        self.namespace_controller = NamespaceController(self.store, options.namespace_deletion_delay)
        self.faults = Faults()
        self.stats = Stats()
        serving_key, serving_cert = self.ca.issue_serving(["127.0.0.1", "localhost", "::1", "kubernetes.default.svc"])
        self.tls_context = tls.server_context(self.ca, serving_key, serving_cert)
        self.httpd = None
        self._thread = None

    # -- files -----------------------------------------------------------------------------------------------
    @property
    def ca_file(self):
        return os.path.join(self.options.workdir, "ca.crt")

    @property
    def kubeconfig(self):
        return os.path.join(self.options.workdir, "admin.kubeconfig")

    @property
    def url(self):
        host, port = self.httpd.server_address[:2]
        return f"https://{host}:{port}"

    def _load_or_create_ca(self):
        key_path = os.path.join(self.options.workdir, "ca.key")
        cert_path = os.path.join(self.options.workdir, "ca.crt")
        if os.path.exists(key_path) and os.path.exists(cert_path):
            with open(key_path, "rb") as key_file, open(cert_path, "rb") as cert_file:
                return pki.CertificateAuthority.load(key_file.read(), cert_file.read())
        ca = pki.CertificateAuthority.create()
        _write_private(key_path, pki.key_pem(ca.key))
        with open(cert_path, "wb") as handle:
            handle.write(pki.cert_pem(ca.cert))
        return ca

    def _write_admin_kubeconfig(self):
        key = pki.new_key()
        cert = self.ca.issue_client(ADMIN_USER, ["system:masters"], key.public_key())
        context = f"{ADMIN_USER}@{CLUSTER_NAME}"
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": context,
            "clusters": [{"name": CLUSTER_NAME, "cluster": {
                "server": self.url,
                "certificate-authority-data": base64.b64encode(pki.cert_pem(self.ca.cert)).decode()}}],
            "users": [{"name": ADMIN_USER, "user": {
                "client-certificate-data": base64.b64encode(pki.cert_pem(cert)).decode(),
                "client-key-data": base64.b64encode(pki.key_pem(key)).decode()}}],
            "contexts": [{"name": context, "context": {"cluster": CLUSTER_NAME, "user": ADMIN_USER}}],
        }
        _write_private(self.kubeconfig, yaml.safe_dump(config, sort_keys=False).encode())

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self):
        self.httpd = _HTTPServer((self.options.host, self.options.port), self)
        self._write_admin_kubeconfig()
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="apiserver", daemon=True)
        self._thread.start()
        self.controllers.start()
        self.namespace_controller.start()
        return self

    def stop(self):
        self.controllers.stop()
        self.namespace_controller.stop()
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
        self.store.save()

    # -- request pipeline ------------------------------------------------------------------------------------
    def serve(self, handler):
        started = time.monotonic()
        split = urllib.parse.urlsplit(handler.path)
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        info = RequestInfo(handler.command, split.path, query)
        raw_body = handler.read_body()
        user = None
        code = 500
        try:
            fault = self.faults.take(info)
            if fault:
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.drop:
                    handler.close_connection = True
                    handler.request.drop()
                    code = 0
                    return
                if fault.status == 429:
                    raise errors.too_many_requests(fault.retry_after)
                if fault.status == 503:
                    raise errors.service_unavailable(fault.retry_after)
                if fault.status:
                    raise errors.internal_error()
            user = self.authenticator.authenticate(handler.request.peer_certificate,
                                                   handler.headers.get("Authorization"))
            user = self.impersonation.apply(user, handler.headers, info)
            code, payload = self._route(info, user, raw_body, handler.headers)
            if code == "text":
                code = 200
                handler.send_text(200, payload)
            elif hasattr(payload, "__next__"):
                handler.send_stream(payload)
            else:
                handler.send_json(code, payload)
        except errors.ApiError as exc:
            code = exc.code
            handler.send_json(exc.code, exc.status(), exc.headers)
        finally:
            self.stats.record({
                "time": time.time(), "user": user.name if user else "", "verb": info.verb,
                "resource": (f"{info.resource}/{info.subresource}" if info.subresource else info.resource),
                "namespace": info.namespace, "name": info.name, "path": info.path, "code": code,
                "seconds": round(time.monotonic() - started, 6)})

    def _route(self, info, user, raw_body, headers):
        if info.path.startswith(CONTROL_PREFIX):
            return self._control(info, user, raw_body)
        attrs = info.attributes(user)
        if not self.authorizer.allowed(attrs):
            resource = resources.find(info.group, info.version, info.resource) if info.resource_request else None
            if info.resource_request and resource is None:
                resource = resources.Resource(info.group, info.version, info.resource, "", bool(info.namespace))
            raise errors.forbidden(resource, info.name, rbac.forbidden_reason(attrs))
        if not info.resource_request:
            return self._non_resource(info)
        resource = find_resource(info)
        body = load_body(raw_body, headers.get("Content-Type")) if info.verb != "patch" else raw_body
        return self.registry.handle(info, resource, user, body, headers.get("Content-Type"), headers.get("Accept"))

    def _non_resource(self, info):
        path = info.path.rstrip("/") or "/"
        if path in PUBLIC_PATHS:
            return "text", "ok"
        if path == "/version":
            return 200, resources.VERSION_INFO
        if path == "/api":
            host, port = self.httpd.server_address[:2]
            return 200, resources.api_versions(f"{host}:{port}")
        if path == "/apis":
            return 200, resources.api_group_list()
        if path == "/openapi/v3":
            return 200, openapi.root_document()
        if path.startswith("/openapi/v3/"):
            document = openapi.group_version_document(path[len("/openapi/v3/"):])
            if document is None:
                raise errors.path_not_found()
            return 200, document
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            listing = resources.resource_list("", parts[1])
        elif parts[0] == "apis" and len(parts) == 2 and parts[1] in resources.GROUPS:
            return 200, {"kind": "APIGroup", "apiVersion": "v1", **resources.api_group(parts[1])}
        elif parts[0] == "apis" and len(parts) == 3:
            listing = resources.resource_list(parts[1], parts[2])
        else:
            listing = None
        if listing is None:
            raise errors.path_not_found()
        return 200, listing

    # -- test-only control surface (system:masters) ----------------------------------------------------------
    def _control(self, info, user, raw_body):
        if rbac.SUPERUSER_GROUP not in user.groups:
            raise errors.forbidden(None, "", rbac.forbidden_reason(info.attributes(user)))
        what = info.path[len(CONTROL_PREFIX):].strip("/")
        body = json.loads(raw_body or b"{}")
        if what == "stats":
            if info.verb == "delete":
                self.stats.reset()
            return 200, self.stats.snapshot()
        if what == "faults":
            if info.verb == "delete":
                self.faults.clear()
            elif info.verb == "post":
                self.faults.add(Fault(**body))
            return 200, {"faults": [dataclasses.asdict(f) for f in self.faults.rules]}
        if what == "settings":
            if info.verb in ("put", "post"):
                self._change_settings(body)
            return 200, self._settings()
        raise errors.path_not_found()

    def _settings_targets(self):
        """Each runtime switch: its name in /_testserver/settings, the object holding it and its attribute."""
        controllers = self.controllers
        return {"signingEnabled": (controllers, "signing_enabled"),
                "cleanerTimeScale": (controllers, "cleaner_time_scale"),
                "signingDelay": (controllers, "signing_delay"),
                "signerQPS": (controllers.signer_client, "qps"),
                "signerBurst": (controllers.signer_client, "burst"),
                "namespaceDeletionDelay": (self.namespace_controller, "deletion_delay")}

    def _settings(self):
        return {name: getattr(holder, attribute) for name, (holder, attribute) in self._settings_targets().items()}

    def _change_settings(self, body):
        targets = self._settings_targets()
        unknown = sorted(set(body) - set(targets))
        if unknown:
            raise errors.bad_request(f"unknown settings: {', '.join(unknown)}")
        for name, value in body.items():
            holder, attribute = targets[name]
            setattr(holder, attribute, value)


def _write_private(path, data):
    """Secrets in the work directory: mode 0600 from the start, replaced atomically."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
