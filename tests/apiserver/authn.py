"""Authentication: x509 client certificates, ServiceAccount bearer tokens, anonymous, and impersonation."""

import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
import urllib.parse

from cryptography.x509.oid import NameOID

from . import errors, pki
from .api import DNS_LABEL, DNS_SUBDOMAIN
from .rbac import SUPERUSER_GROUP, Attributes, UserInfo, forbidden_reason
from .resources import Resource

AUTHENTICATED = "system:authenticated"
ANONYMOUS = UserInfo("system:anonymous", ["system:unauthenticated"])


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Bound ServiceAccount tokens: HS256 JWTs naming the ServiceAccount's namespace, name and uid."""

    def __init__(self, store):
        self.store = store
        with store.lock:
            key = store.extra_state.setdefault("token_key", secrets.token_hex(32))
        self.key = bytes.fromhex(key)

    def issue(self, service_account, expiration_seconds, audiences):
        now = int(time.time())
        meta = service_account["metadata"]
        claims = {
            "aud": audiences, "exp": now + expiration_seconds, "iat": now, "nbf": now,
            "iss": "https://kubernetes.default.svc.cluster.local",
            "sub": f"system:serviceaccount:{meta['namespace']}:{meta['name']}",
            "kubernetes.io": {"namespace": meta["namespace"],
                              "serviceaccount": {"name": meta["name"], "uid": meta["uid"]}},
        }
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps(claims).encode())
        signature = _b64url(hmac.new(self.key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        return f"{header}.{payload}.{signature}", claims["exp"]

    def authenticate(self, token):
        try:
            header, payload, signature = token.split(".")
            expected = _b64url(hmac.new(self.key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(expected, signature):
                return None
            claims = json.loads(_unb64url(payload))
        except (ValueError, TypeError):
            return None
        if claims.get("exp", 0) < time.time():
            return None
        bound = claims.get("kubernetes.io", {})
        namespace, sa_name = bound.get("namespace"), bound.get("serviceaccount", {}).get("name")
        account = self.store.get("serviceaccounts", namespace, sa_name)
        if not account or account["metadata"]["uid"] != bound["serviceaccount"]["uid"]:
            return None  # the token dies with its ServiceAccount
        return UserInfo(
            claims["sub"],
            ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED],
            uid=account["metadata"]["uid"],
            extra={"authentication.kubernetes.io/credential-id": [f"JTI={hashlib.sha256(token.encode()).hexdigest()[:32]}"]},
        )


def user_from_certificate(cert):
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    groups = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return UserInfo(names[0].value if names else "", groups + [AUTHENTICATED],
                    extra={"authentication.kubernetes.io/credential-id": [pki.credential_id(cert)]})


class Authenticator:
    def __init__(self, ca, tokens):
        self.ca = ca
        self.tokens = tokens

    def authenticate(self, peer_cert, authorization_header):
        """Union authenticator: a presented credential that does not verify is a 401, none at all is anonymous."""
        if authorization_header:
            scheme, _sep, token = authorization_header.partition(" ")
            if scheme.lower() == "bearer" and token:
                user = self.tokens.authenticate(token.strip())
                if user:
                    return user
            if peer_cert is None:
                raise errors.unauthorized()
        if peer_cert is not None:
            if not self.ca.verify_client(peer_cert):
                raise errors.unauthorized()
            return user_from_certificate(peer_cert)
        return ANONYMOUS


IMPERSONATION_GROUP = "authentication.k8s.io"
EXTRA_HEADER_PREFIX = "impersonate-extra-"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
NODE_PREFIX = "system:node:"
# Constrained modes first, legacy `impersonate` last; associated-node never applies here (tokens name no node).
IMPERSONATION_MODES = ("arbitrary-node", "serviceaccount", "user-info", "legacy")
# From this many groups or extra values on, a constrained mode first asks for all of them at once (name "*").
MANY_CHECKS = 4


@dataclasses.dataclass
class WantedUser:
    """What the Impersonate-* headers ask for, as given."""

    name: str
    uid: str
    groups: list
    extra: dict

    def only_name(self):
        return not (self.uid or self.groups or self.extra)

    def go_value(self):
        """%#v of the user.DefaultInfo, as the 400 for groups without a user prints it."""
        extra = "map[string][]string(nil)"
        if self.extra:
            entries = ", ".join(f"{_go_quoted(key)}:{_go_strings(self.extra[key])}" for key in sorted(self.extra))
            extra = f"map[string][]string{{{entries}}}"
        return (f"&user.DefaultInfo{{Name:{_go_quoted(self.name)}, UID:{_go_quoted(self.uid)}, "
                f"Groups:{_go_strings(self.groups)}, Extra:{extra}}}")


def _go_quoted(text):
    return json.dumps(text, ensure_ascii=False)


def _go_strings(values):
    """%#v of a []string that is nil when empty."""
    return "[]string{" + ", ".join(_go_quoted(v) for v in values) + "}" if values else "[]string(nil)"


def wanted_user(headers):
    """The impersonation headers of a request as one user, or None; a uid, group or extra without a user is a 400."""
    extra = {}
    for header in dict.fromkeys(key.lower() for key in headers.keys()):
        if header.startswith(EXTRA_HEADER_PREFIX):
            extra[urllib.parse.unquote(header[len(EXTRA_HEADER_PREFIX):])] = headers.get_all(header)
    wanted = WantedUser(headers.get("Impersonate-User") or "", headers.get("Impersonate-Uid") or "",
                        headers.get_all("Impersonate-Group") or [], extra)
    if not wanted.name:
        if not wanted.only_name():
            raise errors.bad_request(f"requested {wanted.go_value()} without impersonating a user name")
        return None
    return wanted


def _service_account(username):
    """(namespace, name) of a ServiceAccount user name, or None (serviceaccount.SplitUsername)."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    parts = username[len(SERVICE_ACCOUNT_PREFIX):].split(":")
    if len(parts) != 2 or not DNS_LABEL.match(parts[0]) or not DNS_SUBDOMAIN.match(parts[1]):
        return None
    return parts[0], parts[1]


def _node(username):
    """The node name of a node user name, or None."""
    name = username[len(NODE_PREFIX):] if username.startswith(NODE_PREFIX) else ""
    return name if name and len(name) <= 253 and DNS_SUBDOMAIN.match(name) else None


def _mode_applies(mode, wanted):
    if mode == "arbitrary-node":
        return wanted.only_name() and _node(wanted.name) is not None
    if mode == "serviceaccount":
        return wanted.only_name() and _service_account(wanted.name) is not None
    if mode == "user-info":
        return _node(wanted.name) is None and _service_account(wanted.name) is None
    return True


def _forbidden(attrs, detail=""):
    """responsewriters.ForbiddenStatusError: named after the attributes' group, resource and name."""
    reason = forbidden_reason(attrs) + (f": {detail}" if detail else "")
    if not attrs.resource_request:
        return errors.forbidden(None, "", reason)
    return errors.forbidden(Resource(attrs.group, "v1", attrs.resource, "", bool(attrs.namespace)), attrs.name,
                            reason)


class Impersonation:
    """Impersonate-User/-Group/-Uid/-Extra-* as 1.36 decides them (constrained impersonation, KEP 5284): each mode
    that applies to the wanted user is tried until one allows it; the answer to a refusal is the first mode's
    error. A constrained mode needs `impersonate-on:<mode>:<verb>` on what the request does, then
    `impersonate:<mode>` on each impersonated attribute (API group authentication.k8s.io); the legacy mode needs
    `impersonate` on each (users, groups and serviceaccounts in the core group). The mode that last worked for a
    requester is tried first, as the real modeIndexCache does."""

    def __init__(self, authorizer):
        self.authorizer = authorizer
        self._last_mode = {}  # requester name -> index in IMPERSONATION_MODES

    def apply(self, user, headers, request):
        """The user the request runs as: `user` itself, or the impersonated one (`request`: its RequestInfo)."""
        wanted = wanted_user(headers)
        if wanted is None:
            return user
        last = self._last_mode.get(user.name)
        order = ([last] if last is not None else []) + [i for i in range(len(IMPERSONATION_MODES)) if i != last]
        first_error = None
        for index in order:
            mode = IMPERSONATION_MODES[index]
            if not _mode_applies(mode, wanted):
                continue
            try:
                impersonated = self._check(mode, user, wanted, request)
            except errors.ApiError as refused:
                first_error = first_error or refused
                continue
            self._last_mode[user.name] = index
            return impersonated
        raise first_error

    def _require(self, attrs):
        """One authorization check of an impersonation; refused, the request is Forbidden naming these attributes."""
        if not self.authorizer.allowed(attrs):
            raise _forbidden(attrs)

    def _check(self, mode, user, wanted, request):
        legacy = mode == "legacy"
        verb = "impersonate" if legacy else f"impersonate:{mode}"
        user_group = "" if legacy else IMPERSONATION_GROUP
        if not legacy:
            action = request.attributes(user)
            action.verb = f"impersonate-on:{mode}:{action.verb}"
            self._require(action)
        groups = list(wanted.groups)
        target = Attributes(user=user, verb=verb, group=user_group, resource="users", name=wanted.name)
        node, account = _node(wanted.name), _service_account(wanted.name)
        if node is not None and not legacy:
            target.resource, target.name, groups = "nodes", node, ["system:nodes"]
        elif account is not None:
            target.resource, target.namespace, target.name = "serviceaccounts", account[0], account[1]
            groups = groups or ["system:serviceaccounts", f"system:serviceaccounts:{account[0]}"]
        self._require(target)
        if wanted.uid:
            self._require(Attributes(user=user, verb=verb, group=IMPERSONATION_GROUP, resource="uids",
                                     name=wanted.uid))
        self._check_groups(legacy, Attributes(user=user, verb=verb, group=user_group, resource="groups"),
                           wanted.groups)
        self._check_extra(legacy, Attributes(user=user, verb=verb, group=IMPERSONATION_GROUP, resource="userextras"),
                          wanted.extra)
        if wanted.name == ANONYMOUS.name:
            _ensure(groups, "system:unauthenticated")
        elif "system:unauthenticated" not in groups:
            _ensure(groups, AUTHENTICATED)
        return UserInfo(wanted.name, groups, uid=wanted.uid, extra=wanted.extra)

    def _check_groups(self, legacy, attrs, groups):
        if not groups:
            return
        if not legacy:
            if "" in groups:
                raise _forbidden(attrs, "impersonating the empty string group is not allowed")
            if SUPERUSER_GROUP in groups:
                raise _forbidden(dataclasses.replace(attrs, name=SUPERUSER_GROUP),
                                 "impersonating the system:masters group is not allowed")
            if len(groups) >= MANY_CHECKS and self.authorizer.allowed(dataclasses.replace(attrs, name="*")):
                return
        for group in groups:
            self._require(dataclasses.replace(attrs, name=group))

    def _check_extra(self, legacy, attrs, extra):
        if not extra:
            return
        if not legacy:
            problem = _extra_problem(extra)
            if problem:
                raise _forbidden(attrs, problem)
            if (len(extra) >= MANY_CHECKS or sum(len(v) for v in extra.values()) >= MANY_CHECKS) and \
                    self.authorizer.allowed(dataclasses.replace(attrs, subresource="*", name="*")):
                return
        for key, values in extra.items():
            for value in values:
                self._require(dataclasses.replace(attrs, subresource=key, name=value))


def _extra_problem(extra):
    """validateExtra of constrained impersonation (checks legacy impersonation never made), without its check that
    a key is a domain-prefixed path."""
    for key, values in extra.items():
        if not key:
            return "impersonating the empty string key in extra is not allowed"
        if key != key.lower():
            return f"impersonating a non-lowercase key in extra is not allowed: {_go_quoted(key)}"
        if "" in values:
            return "impersonating the empty string value in extra is not allowed"
    return None


def _ensure(groups, group):
    if group not in groups:
        groups.append(group)
