"""Authentication: x509 client certificates, ServiceAccount bearer tokens, anonymous, and impersonation."""

import base64
import hashlib
import hmac
import json
import secrets
import time

from cryptography.x509.oid import NameOID

from . import errors, pki
from .rbac import Attributes, UserInfo, forbidden_reason

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


def impersonate(user, headers, authorizer):
    """Impersonate-User/-Group/-Uid/-Extra-*: each requested attribute needs the `impersonate` verb."""
    target = headers.get("Impersonate-User")
    groups = headers.get_all("Impersonate-Group") or []
    uid = headers.get("Impersonate-Uid")
    extras = {k[len("Impersonate-Extra-"):].lower(): headers.get_all(k)
              for k in headers.keys() if k.lower().startswith("impersonate-extra-")}
    if not target:
        if groups or uid or extras:
            requested = ", ".join(f"Impersonate-Group: {g}" for g in groups)
            raise errors.ApiError(500, "InternalError",
                                  f"Internal error occurred: requested [{requested}] without impersonating a user")
        return user
    checks = []
    if target.startswith("system:serviceaccount:"):
        namespace, _sep, name = target[len("system:serviceaccount:"):].partition(":")
        checks.append(("", "serviceaccounts", "", namespace, name))
        default_groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    else:
        checks.append(("", "users", "", "", target))
        default_groups = []
    checks.extend(("", "groups", "", "", g) for g in groups)
    if uid:
        checks.append(("authentication.k8s.io", "uids", "", "", uid))
    for key, values in extras.items():
        checks.extend(("authentication.k8s.io", "userextras", key, "", v) for v in values)
    for group, resource, subresource, namespace, name in checks:
        attrs = Attributes(user=user, verb="impersonate", group=group, resource=resource,
                           subresource=subresource, namespace=namespace, name=name)
        if not authorizer.allowed(attrs):
            qualified = f"{resource}.{group}" if group else resource
            raise errors.ApiError(403, "Forbidden", f'{qualified} "{name}" is forbidden: {forbidden_reason(attrs)}',
                                  {"name": name, **({"group": group} if group else {}), "kind": resource})
    final_groups = list(groups) or default_groups
    if target != ANONYMOUS.name and AUTHENTICATED not in final_groups:
        final_groups.append(AUTHENTICATED)
    return UserInfo(target, final_groups, uid=uid or "", extra=extras)
