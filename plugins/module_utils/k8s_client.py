# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection to the Kubernetes API: the kubernetes.core-compatible auth options, one HTTP client, retries, and the
one place where API failures become messages a user can act on.

The `kubernetes` package is only used to read kubeconfigs that need it (exec and auth-provider plugins, token
files, the in-cluster config, proxies from the environment) and to build their TLS connection pool; `host` options
and kubeconfig contexts with plain credentials are read here, without its 0.2 s of imports. Requests and responses
are plain JSON, so no model classes are built, and a module run that does not talk to the API imports nothing.

Both ways read the same kubeconfig (a file, a dict, or $KUBECONFIG's files merged as kubectl merges them: see
kubeconfig.read_kubeconfig) and apply `proxy`, `no_proxy` and `proxy_headers` alike. Key data a kubeconfig holds goes
into files only in a private directory (0700, files 0600) removed when the module ends.
"""

from __future__ import annotations

import atexit
import datetime
import ipaddress
import json
import os
import random
import re
import shutil
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from ansible.module_utils.basic import env_fallback


# Headers sent to the proxy (urllib3.util.make_headers), as kubernetes.core's proxy_headers.
PROXY_HEADERS_SPEC = dict(
    proxy_basic_auth=dict(type="str", no_log=True,
                          fallback=(env_fallback, ["K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH"])),
    basic_auth=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_PROXY_HEADERS_BASIC_AUTH"])),
    user_agent=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_PROXY_HEADERS_USER_AGENT"])),
)

AUTH_ARG_SPEC = dict(
    # A path, or the kubeconfig's content as a mapping (kubeconfig.kubeconfig_option).
    kubeconfig=dict(type="raw", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
    context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
    host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
    client_cert=dict(type="path", aliases=["cert_file"], fallback=(env_fallback, ["K8S_AUTH_CERT_FILE"])),
    client_key=dict(type="path", aliases=["key_file"], no_log=False,
                    fallback=(env_fallback, ["K8S_AUTH_KEY_FILE"])),
    proxy=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_PROXY"])),
    no_proxy=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_NO_PROXY"])),
    # Without the option, each header still comes from its environment variable, as in kubernetes.core.
    proxy_headers=dict(type="dict", options=PROXY_HEADERS_SPEC, apply_defaults=True),
    impersonate_user=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_IMPERSONATE_USER"])),
    impersonate_groups=dict(type="list", elements="str", fallback=(env_fallback, ["K8S_AUTH_IMPERSONATE_GROUPS"])),
    # kubectl's --request-timeout, in seconds: how long one request may wait for its answer.
    request_timeout=dict(type="float", fallback=(env_fallback, ["K8S_AUTH_REQUEST_TIMEOUT"])),
)

USER_AGENT = "kubeaccess.x509"
# Servers with anonymous auth answer unauthenticated requests with a 403 for this user, not a 401.
ANONYMOUS = 'User "system:anonymous"'
RETRIABLE_STATUS = (429, 500, 502, 503, 504)
MAX_ATTEMPTS = 5
MAX_SLEEP = 10.0
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
REQUEST_TIMEOUT_ENV = "K8S_AUTH_REQUEST_TIMEOUT"
_VERB_BY_METHOD = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_RBAC_DENIAL = re.compile(r"cannot (\w+) resource")
_SIGNER_DENIAL = re.compile(r"not permitted to (\w+) requests with signerName \"([^\"]+)\"")
_KUBE_IMPORT = threading.Lock()


class KubeError(Exception):
    """Anything that stops a request; `str()` is the message for the user."""


class ConnectionConfigError(KubeError):
    """The auth options or kubeconfig cannot give a connection; raised before any request."""


class ApiError(KubeError):
    """The API answered with a failure Status."""

    def __init__(self, status, body, method, path, requirements=None, retried=None, credential=None):
        """`retried` (server, attempts, seconds): the answer was the same after that many attempts; `credential`:
        why the server did not accept the credentials, when the client certificate itself says (expired)."""
        self.status = status
        self.body = body if isinstance(body, dict) else {}
        self.reason = self.body.get("reason") or ""
        self.server_message = self.body.get("message") or (body if isinstance(body, str) else "")
        self.method = method
        self.path = path
        super().__init__(self._describe(requirements, retried, credential))

    def _describe(self, requirements, retried=None, credential=None):
        text = f"{self.method} {self.path}: HTTP {self.status} {self.reason or ''}".rstrip()
        if self.server_message:
            text += f": {self.server_message}"
        if retried and self.status in RETRIABLE_STATUS:
            server, attempts, seconds = retried
            trouble = ("is overloaded and kept asking to slow down" if self.status == 429 else
                       "(or a proxy or load balancer in front of it) kept failing, for no fault of this request")
            text += (f" (the API server at {server} {trouble}: {attempts} attempts over {seconds:.0f} s. Run again "
                     "later: the next run picks up where this one stopped. If it lasts, check the API server's "
                     "health (kubectl get --raw='/readyz?verbose') and its logs)")
        elif credential and (self.status == 401 or ANONYMOUS in self.server_message):
            text += f" ({credential})"
        elif self.status == 401 or ANONYMOUS in self.server_message:
            text += (" (the API server did not accept the credentials: a client certificate not signed by the "
                     "cluster CA or expired, or an invalid token)")
        elif self.status == 403 and self.missing_permission():
            text += f". Missing permission: {self.missing_permission()}"
            others = [r for r in requirements or () if r != self.missing_permission()]
            if others:
                text += f"; this call also needs: {'; '.join(others)}"
        return text

    def missing_permission(self):
        """For RBAC refusals, the rule to grant; None for admission plugins, which also answer 403."""
        signer = _SIGNER_DENIAL.search(self.server_message)
        if signer:
            return signer_permission(signer.group(2), signer.group(1))
        if _RBAC_DENIAL.search(self.server_message):
            return permission_for(self.method, self.path)
        return None

    @property
    def conflict(self):
        return self.status == 409 and self.reason == "Conflict"

    @property
    def already_exists(self):
        return self.status == 409 and self.reason == "AlreadyExists"


_PATH = re.compile(r"^/apis?/(?:(?P<group>[^/]+)/)?(?P<version>v[^/]+)/(?:namespaces/(?P<namespace>[^/]+)/)?"
                   r"(?P<resource>[^/?]+)(?:/(?P<name>[^/?]+))?(?:/(?P<subresource>[^/?]+))?")


def permission_for(method, path):
    """The RBAC rule a request needs, derived from its method and path."""
    match = _PATH.match(path)
    if not match:
        return f"{method.lower()} on the non-resource URL {path.split('?')[0]}"
    parts = match.groupdict()
    verb = _VERB_BY_METHOD.get(method) or ("get" if parts["name"] else "list")
    resource = parts["resource"] + (f"/{parts['subresource']}" if parts["subresource"] else "")
    group = parts["group"] if path.startswith("/apis/") else ""
    scope = f"in namespace {parts['namespace']}" if parts["namespace"] else "at the cluster scope"
    return f"{verb} on {resource} in API group \"{group}\" {scope}"


def signer_permission(signer, verb="approve"):
    return f"{verb} on signers (resourceNames: [\"{signer}\"]) in API group \"certificates.k8s.io\""


def _kube_modules():
    # Imported here, so that module runs that need no API never pay for it; under a lock, because the package's
    # lazy imports fail when two threads (parallel verifications) run them at once.
    with _KUBE_IMPORT:
        from kubernetes.client import rest  # pylint: disable=import-outside-toplevel
        from kubernetes import config  # pylint: disable=import-outside-toplevel
        from kubernetes.client.configuration import Configuration  # pylint: disable=import-outside-toplevel
        import urllib3  # pylint: disable=import-outside-toplevel
    return rest, config, Configuration, urllib3


class _Connection:
    """Where requests go and with what: the server, the CA file (None: the system's), the pool with the client
    certificate (`cert_path`), and the Authorization header (`token()`, re-read per request: exec plugins refresh
    it). `origin` names where the credentials come from, for messages."""

    def __init__(self, server, ca_path, pool, token, urllib3, cert_path=None):
        self.server = server
        self.ca_path = ca_path
        self.pool = pool
        self.token = token
        self.urllib3 = urllib3
        self.cert_path = cert_path
        self.origin = None


class _Source:
    """What the connection options name: `host` alone, the in-cluster service account, or a kubeconfig (a file, a
    dict, or $KUBECONFIG's files merged), read and its context checked before any request."""

    def __init__(self, params):
        # Imported here: module runs that make no API call do not pay for PyYAML.
        from ansible_collections.kubeaccess.x509.plugins.module_utils import kubeconfig as kubeconfigs  # pylint: disable=import-outside-toplevel
        self.context = params.get("context")
        self.kubeconfig = None
        try:
            option = kubeconfigs.kubeconfig_option(params.get("kubeconfig"))
            named = kubeconfigs.option_given(option) or bool(self.context)
            self.explicit_host = bool(params.get("host")) and not named
            self.in_cluster = not (named or params.get("host")) and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
            if self.explicit_host or self.in_cluster:
                return
            if not kubeconfigs.HAS_YAML:
                raise ConnectionConfigError("kubeconfig: reading a kubeconfig needs the PyYAML package; install it "
                                            "(or give host with credentials)")
            self.kubeconfig = kubeconfigs.read_kubeconfig(option)
            if self.kubeconfig is None:
                raise ConnectionConfigError(f"kubeconfig: no kubeconfig given and {kubeconfigs.default_path()} does "
                                            "not exist; give kubeconfig (or set K8S_AUTH_KUBECONFIG), or host with "
                                            "credentials")
            self.kubeconfig.context_name(self.context)
        except kubeconfigs.KubeconfigError as exc:
            raise ConnectionConfigError(str(exc)) from None

    def plain_credentials(self):
        from ansible_collections.kubeaccess.x509.plugins.module_utils.kubeconfig import (  # pylint: disable=import-outside-toplevel
            plain_credentials)
        return plain_credentials(self.kubeconfig, self.context)


def _connection(params):
    source = _Source(params)
    connection = _plain_connection(params, source) or _package_connection(params, source)
    if params.get("client_cert"):
        connection.origin = f"client_cert {params['client_cert']}"
    elif source.kubeconfig is not None and source.kubeconfig.path:
        connection.origin = f"the kubeconfig {source.kubeconfig.path}"
    return connection


def _plain_connection(params, source):
    """The connection of `host` with ca_cert/client_cert/client_key/api_key, or of a kubeconfig context holding
    plain files or data (kubeconfig.plain_credentials), made without the kubernetes package; None otherwise.

    Proxies from the environment (HTTPS_PROXY, NO_PROXY) take the package's way (_load_configuration).
    """
    proxy = params.get("proxy")
    if (proxy is None and _environment_proxies()) or (proxy or "").startswith("socks") or source.in_cluster:
        return None
    if source.explicit_host:
        found = {"server": params["host"], "ca": (None, None), "cert": (None, None), "key": (None, None),
                 "token": None, "verify": True}
    else:
        found = source.plain_credentials()
        if found is None:
            return None
    files = {key: _material_file(*found[key]) for key in ("ca", "cert", "key")}
    overrides = {"host": "server", "ca_cert": "ca", "client_cert": "cert", "client_key": "key",
                 "validate_certs": "verify", "api_key": "token"}
    settings = dict(found, **files)
    settings.update((setting, params[option]) for option, setting in overrides.items() if params.get(option) is not None)
    import urllib3  # pylint: disable=import-outside-toplevel
    pool_args = {"cert_reqs": "CERT_REQUIRED" if settings["verify"] else "CERT_NONE", "ca_certs": settings["ca"],
                 "cert_file": settings["cert"], "key_file": settings["key"], "maxsize": (os.cpu_count() or 1) * 5}
    if proxy and not bypasses_proxy(settings["server"], params.get("no_proxy")):
        pool = urllib3.ProxyManager(proxy, proxy_headers=proxy_headers(params.get("proxy_headers")), **pool_args)
    else:
        pool = urllib3.PoolManager(**pool_args)
    header = f"Bearer {settings['token']}" if settings["token"] else None
    return _Connection(settings["server"], settings["ca"], pool, lambda: header, urllib3, settings["cert"])


def _environment_proxies():
    proxies = urllib.request.getproxies()
    return proxies.get("https") or proxies.get("all")


def bypasses_proxy(url, no_proxy):
    """Whether `url` goes around the proxy by the comma-separated `no_proxy` list (the `no_proxy` option, as the
    kubernetes package and curl read NO_PROXY): `*`; a host name and its subdomains (`example.com`,
    `.example.com`); a host and port (`api.example.com:6443`); an IP address or a CIDR (`10.0.0.0/8`)."""
    parsed = urllib.parse.urlparse(url or "")
    host = (parsed.hostname or "").lower()
    if not host or not no_proxy:
        return not host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    netloc = parsed.netloc.lower().rpartition("@")[2]
    for rule in (part.strip().lower() for part in no_proxy.split(",")):
        if not rule:
            continue
        if rule == "*":
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(rule.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
        rule = rule.lstrip(".")
        if host == rule or host.endswith("." + rule) or netloc == rule or netloc.endswith("." + rule):
            return True
    return False


def proxy_headers(option):
    """The headers the `proxy_headers` option (proxy_basic_auth, basic_auth, user_agent) sends to the proxy, or
    None when it sets none."""
    given = {key: value for key, value in (option or {}).items() if key in PROXY_HEADERS_SPEC and value}
    if not given:
        return None
    import urllib3  # pylint: disable=import-outside-toplevel
    return urllib3.util.make_headers(**given)


_material_dir = None


def _material_directory():
    """A private directory (0700) for TLS material written to files, removed when the module ends."""
    global _material_dir  # pylint: disable=global-statement
    if _material_dir is None:
        _material_dir = tempfile.mkdtemp(prefix="kubeaccess-tls-")
        atexit.register(remove_material)
    return _material_dir


def remove_material():
    """Remove the private directory now: a run inside Ansible's worker process (plugin_utils.in_process) ends
    without atexit handlers."""
    global _material_dir  # pylint: disable=global-statement
    if _material_dir is not None:
        shutil.rmtree(_material_dir, True)
        _material_dir = None


def _material_file(path, data):
    """`path`, or a file holding `data` (mode 0600, in the private directory): TLS needs files, as for the
    kubernetes package's own kubeconfig loading."""
    if data is None:
        return path
    descriptor, name = tempfile.mkstemp(dir=_material_directory())
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return name


def _package_connection(params, source):
    configuration, pool, urllib3 = _load_configuration(params, source)
    return _Connection(configuration.host, configuration.ssl_ca_cert, pool, lambda: _package_token(configuration),
                       urllib3, configuration.cert_file)


def _package_token(configuration):
    # The package's loaders keep the token under "BearerToken" (kubernetes >= 32) or "authorization" (before).
    return configuration.get_api_key_with_prefix("BearerToken") or configuration.api_key.get("authorization")


def _load_configuration(params, source):
    rest, config, configuration_class, urllib3 = _kube_modules()
    configuration = configuration_class()
    # Data from a kubeconfig goes into files (0600) in the private directory, removed when the module ends.
    options = {"client_configuration": configuration, "persist_config": False,
               "temp_file_path": _material_directory()}
    try:
        if source.in_cluster:
            config.load_incluster_config(client_configuration=configuration)
        elif source.kubeconfig is not None and source.kubeconfig.path:
            config.load_kube_config(config_file=source.kubeconfig.path, context=source.context, **options)
        elif source.kubeconfig is not None:
            # A dict, or $KUBECONFIG's files merged (entry paths made absolute): kubectl's merge, not the
            # package's, whose current-context is the last file's.
            config.load_kube_config_from_dict(source.kubeconfig.config, context=source.context, **options)
    except config.ConfigException as exc:
        raise ConnectionConfigError(str(exc)) from None
    overrides = {"host": "host", "ca_cert": "ssl_ca_cert", "client_cert": "cert_file", "client_key": "key_file",
                 "validate_certs": "verify_ssl", "proxy": "proxy"}
    for option, attribute in overrides.items():
        if params.get(option) is not None:
            setattr(configuration, attribute, params[option])
    if params.get("api_key"):
        configuration.api_key = {"BearerToken": f"Bearer {params['api_key']}"}
        configuration.refresh_api_key_hook = None
    if not configuration.host or configuration.host == "http://localhost":
        raise ConnectionConfigError("no API server: give kubeconfig (or K8S_AUTH_KUBECONFIG), or host with "
                                    "credentials")
    # The proxy is the option's, the kubeconfig's proxy-url or the environment's; no_proxy is the option's, else
    # NO_PROXY. Decided here, so that every version of the package does the same (29.0.0 reads neither variable).
    if not configuration.proxy:
        configuration.proxy = _environment_proxies() or None
    no_proxy = params.get("no_proxy")
    if no_proxy is None:
        no_proxy = getattr(configuration, "no_proxy", None) or urllib.request.getproxies().get("no")
    if configuration.proxy and bypasses_proxy(configuration.host, no_proxy):
        configuration.proxy = None
    if hasattr(configuration, "no_proxy"):
        configuration.no_proxy = no_proxy
    headers = proxy_headers(params.get("proxy_headers"))
    if headers:
        configuration.proxy_headers = headers
    return configuration, rest.RESTClientObject(configuration).pool_manager, urllib3


class KubeClient:
    """JSON over HTTPS with the caller's credentials, with bounded retries on overload and server errors."""

    def __init__(self, params):
        # A client made from a dict (a check with a user's own credentials) has no option: the variable applies.
        self.request_timeout = timeout_seconds(params.get("request_timeout", os.environ.get(REQUEST_TIMEOUT_ENV)))
        connection = _connection(params)
        self._ca_path, self._pool, self._token, self._urllib3 = (
            connection.ca_path, connection.pool, connection.token, connection.urllib3)
        self._cert_path, self._origin = connection.cert_path, connection.origin
        self.server = connection.server.rstrip("/")
        self.impersonate_user = params.get("impersonate_user")
        self.impersonate_groups = params.get("impersonate_groups") or []
        self._timeout = self._urllib3.Timeout(connect=min(CONNECT_TIMEOUT, self.request_timeout),
                                              read=self.request_timeout)
        self._down = None  # why the server could not be reached, once every attempt at a request failed

    def ca_pem(self):
        """The CA bundle the connection trusts, when it has one (from the kubeconfig or ca_cert)."""
        path = self._ca_path
        if not path or not os.path.isfile(path):
            return None
        with open(path, "rb") as handle:
            return handle.read()

    def _headers(self, body):
        headers = self._urllib3.HTTPHeaderDict({"Accept": "application/json", "User-Agent": USER_AGENT})
        if body is not None:
            headers["Content-Type"] = "application/json"
        token = self._token()
        if token:
            headers["Authorization"] = token
        if self.impersonate_user:
            headers["Impersonate-User"] = self.impersonate_user
        for group in self.impersonate_groups:
            headers.add("Impersonate-Group", group)
        return headers

    def _send(self, method, url, body):
        exceptions = self._urllib3.exceptions
        try:
            return self._pool.request(method, url, body=None if body is None else json.dumps(body).encode(),
                                      headers=self._headers(body), retries=False, redirect=False,
                                      timeout=self._timeout)
        except exceptions.SSLError as exc:
            raise KubeError(f"TLS failure talking to {self.server}: {exc}. If the server certificate is not "
                            "trusted, give the cluster CA (certificate-authority-data in the kubeconfig, or "
                            "ca_cert); if it is the client certificate, check client_cert/client_key") from None
        except exceptions.ProxyError as exc:
            raise _Unreachable(f"cannot reach the API server at {self.server} through the proxy: "
                               f"{_reason(getattr(exc, 'original_error', exc))}. "
                               "Check the proxy option, or HTTPS_PROXY and NO_PROXY in the environment") from None
        except (exceptions.NewConnectionError, exceptions.ConnectTimeoutError) as exc:
            raise _Unreachable(f"cannot reach the API server at {self.server}: {_reason(exc)}. Check the server "
                               "address in the kubeconfig (or host), the network and proxy") from None
        except exceptions.ReadTimeoutError:
            raise _Unreachable(f"the API server at {self.server} did not answer {method} {url[len(self.server):]} "
                               f"within {self.request_timeout:g} s (request_timeout). Check the API server's load "
                               "and what is in between (proxy, load balancer)") from None
        except exceptions.ProtocolError as exc:
            # Its last argument is the cause (a reset, a closed connection), the first only "Connection aborted."
            cause = exc.args[-1] if exc.args and isinstance(exc.args[-1], Exception) else exc
            raise _Unreachable(f"the API server at {self.server} dropped the connection: {_reason(cause)}. Check that "
                               "it is up and what is in between (proxy, load balancer)") from None

    def request(self, method, path, body=None, requirements=None, expect=(200, 201)):
        """Send one request; retry 429 and 5xx (honouring Retry-After), dropped connections and requests that got
        no answer in time, boundedly; the failure that remains says how long it lasted. A server that could not be
        reached in all the attempts at one request is not tried again by this client: its other requests (a prune
        after the writes, the next item) fail at once the same way, instead of each waiting as long again."""
        if self._down is not None:
            raise _Unreachable(self._down)
        url = self.server + path
        attempt = 1
        started = time.monotonic()
        while True:
            try:
                response = self._send(method, url, body)
            except _Unreachable as exc:
                if attempt == MAX_ATTEMPTS:
                    self._down = (f"{exc} ({attempt} attempts over {time.monotonic() - started:.0f} s; the next run "
                                  "picks up where this one stopped)")
                    raise _Unreachable(self._down) from None
                time.sleep(backoff(attempt))
                attempt += 1
                continue
            payload = _decode(response.data)
            if response.status in expect:
                return payload
            if response.status not in RETRIABLE_STATUS or attempt == MAX_ATTEMPTS:
                retried = (self.server, attempt, time.monotonic() - started) if attempt > 1 else None
                problem = self.credential_problem() if response.status == 401 else None
                credential = f"the API server at {self.server} did not accept the credentials: {problem}" \
                    if problem else None
                raise ApiError(response.status, payload, method, path, requirements, retried, credential)
            time.sleep(retry_after(response.headers.get("Retry-After")) or backoff(attempt))
            attempt += 1

    def credential_problem(self):
        """What the client certificate itself says is wrong with it (expired, not yet valid) and where it comes
        from, or None: the API server's 401 does not say why."""
        if not self._cert_path:
            return None
        try:
            from cryptography import x509  # pylint: disable=import-outside-toplevel
            with open(self._cert_path, "rb") as handle:
                cert = x509.load_pem_x509_certificate(handle.read())
        except (ImportError, OSError, ValueError):
            return None
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = cert.subject.rfc4514_string()
        origin = f" of {self._origin}" if self._origin else ""
        if now > cert.not_valid_after_utc:
            when = cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
            return (f"the client certificate{origin} ({subject}) expired at {when}. Renew it (on kubeadm clusters: "
                    "kubeadm kubeconfig user, or kubeadm certs renew admin.conf) and give the new credentials")
        if now < cert.not_valid_before_utc:
            when = cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
            return (f"the client certificate{origin} ({subject}) is not valid before {when}. Check this machine's "
                    "clock")
        return None

    def get_or_none(self, path):
        try:
            return self.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise


class ObjectReads:
    """Reads of the objects of one collection during a module run.

    A batch (`listing`) reads the whole collection with one LIST instead of a GET per item, and keeps that view
    current with its own writes (`remember`); what others change meanwhile is caught by the resourceVersion or uid
    preconditions of those writes, after which the object is read again with `fresh`. A single item GETs, and so
    does a batch whose credentials may get but not list.

    A batch that names the objects it will read (`want`) keeps only those of a LIST, so that a run over a few users
    of a large cluster (a chunk of the role's certificate step) does not hold every object; any other name read is
    then GET and kept too.
    """

    PAGE = 500  # as kubectl: a large collection comes in pages, not one response

    def __init__(self, client, collection, listing):
        self._client = client  # made on first use (batch.SharedClient)
        self.collection = collection
        self.listing = listing
        self._objects = None
        self._written = set()  # names this run wrote since the last LIST
        self._wanted = None  # names kept from a LIST; None: all

    def want(self, name):
        """Name an object this run will read (before the first read)."""
        if self._wanted is None:
            self._wanted = set()
        self._wanted.add(name)

    def get(self, name, fresh=False):
        """The object, or None; `fresh` GETs it whatever the mode (after a conflict)."""
        if self.listing and self._objects is None:
            self.refresh()
        if self._wanted is not None and name not in self._wanted:
            self._wanted.add(name)
            fresh = True
        if fresh or not self.listing:
            obj = self._client().get_or_none(f"{self.collection}/{name}")
            self._store(name, obj)
            return obj
        return self._objects.get(name)

    def reread(self, name):
        """The object as the server holds it now: a new LIST in a batch (one answers every item), else a GET."""
        if self.listing:
            self.refresh()
        return self.get(name)

    def current(self, name):
        """The object as the server held it after this run's own writes: what others (a controller) made of
        them shows only there. In a batch, one LIST after the writes serves every item."""
        if not self.listing or name in self._written:
            return self.reread(name)
        return self.get(name)

    def refresh(self):
        objects, token = {}, ""
        while True:
            query = f"?limit={self.PAGE}" + (f"&continue={urllib.parse.quote(token)}" if token else "")
            try:
                page = self._client().request("GET", self.collection + query)
            except ApiError as exc:
                if exc.status != 403:
                    raise
                self.listing = False
                return
            objects.update((obj["metadata"]["name"], obj) for obj in page.get("items") or []
                           if self._wanted is None or obj["metadata"]["name"] in self._wanted)
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
        self._objects = objects
        self._written.clear()

    def remember(self, name, obj):
        """What a later read of this run sees: the object as written (None once deleted)."""
        self._written.add(name)
        self._store(name, obj)

    def _store(self, name, obj):
        if self._objects is not None:
            if obj is None:
                self._objects.pop(name, None)
            else:
                self._objects[name] = obj


class _Unreachable(KubeError):
    pass


def _reason(exc):
    return str(getattr(exc, "reason", None) or exc).split(": ", 1)[-1]


def _decode(data):
    try:
        return json.loads(data) if data else {}
    except ValueError:
        return data.decode("utf-8", "replace")


def timeout_seconds(given):
    """The request_timeout option (or its variable) in seconds; READ_TIMEOUT when not given."""
    if given in (None, ""):
        return READ_TIMEOUT
    try:
        seconds = float(given)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:  # also NaN
        raise ConnectionConfigError(f"request_timeout: {given!r} is not a number of seconds greater than 0; give one "
                                    f"(or {REQUEST_TIMEOUT_ENV}), such as 30. Without it, {READ_TIMEOUT:g}")
    return seconds


def retry_after(header):
    """Seconds to wait from a Retry-After header, capped; None when absent or not a number of seconds."""
    try:
        return min(max(float(header), 0.0), MAX_SLEEP) if header is not None else None
    except ValueError:
        return None


def backoff(attempt):
    """Exponential backoff with jitter: about 0.25, 0.5, 1, 2 s…, capped."""
    return min(MAX_SLEEP, 0.25 * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)


def delete_options(obj):
    """Delete exactly the object that was read: a uid precondition fails if it was replaced in between."""
    return {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": obj["metadata"]["uid"]}}


def with_conflict_retries(operation):
    """Run `operation` again (it re-reads what it changes) when an update lost a resourceVersion race."""
    attempt = 1
    while True:
        try:
            return operation()
        except ApiError as exc:
            if not exc.conflict or attempt == MAX_ATTEMPTS:
                raise
            time.sleep(backoff(attempt))
            attempt += 1
