# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks on what the user typed, made before anything touches the cluster or the disk.

Every function returns an error message that names the option and what would be accepted, or None.
"""

from __future__ import annotations

import hashlib
import re

# X.509 ub-common-name and ub-organization-name (RFC 5280, appendix A.1).
MAX_NAME_LENGTH = 64
MIN_EXPIRATION_SECONDS = 600
SYSTEM_PREFIX = "system:"
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_NAMESPACE = re.compile(rf"^{_DNS_LABEL}$")
MAX_NAMESPACE_LENGTH = 63
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?)$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(w|d|h|m|s)")
_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
# The key usages certificates.k8s.io/v1 takes in a CSR's spec.usages (KeyUsage); it refuses any other.
KEY_USAGES = ("signing", "digital signature", "content commitment", "key encipherment", "key agreement",
              "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
              "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
              "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc")


def identity_name_error(option, value, allow_system=False, override=", or set allow_system_names=true if this is "
                        "really intended"):
    """A user name (certificate CN) or group (O) Kubernetes can take from a certificate; `override` names how the
    caller may allow a system: name (empty where nothing can)."""
    if not value or not value.strip():
        return f"{option}: must not be empty"
    if value != value.strip():
        return f"{option}: {value!r} has leading or trailing spaces; remove them"
    if len(value) > MAX_NAME_LENGTH:
        return (f"{option}: {value!r} is {len(value)} characters; a certificate subject field holds at most "
                f"{MAX_NAME_LENGTH}")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return f"{option}: {value!r} contains control characters; use printable characters only"
    if value.startswith(SYSTEM_PREFIX) and not allow_system:
        return (f"{option}: {value!r} starts with {SYSTEM_PREFIX!r}, which Kubernetes reserves for its own "
                f"components; choose another name{override}")
    return None


def object_name_error(option, value):
    """Names of CSR objects and bindings: the API takes more, but only DNS subdomains work everywhere (kubectl,
    label selectors, shells), so that is what we accept."""
    if not value:
        return f"{option}: must not be empty"
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        return (f"{option}: {value!r} is not a valid object name; use at most 253 lower-case letters, digits, '-' "
                "and '.', starting and ending with a letter or digit")
    return None


def signer_name_error(option, value):
    """spec.signerName as the API validates it (ValidateSignerName): a DNS subdomain, '/', and a path."""
    domain, slash, rest = str(value or "").partition("/")
    if not slash or not rest or any(char.isspace() for char in rest) or len(domain) > 253 \
            or not _DNS_SUBDOMAIN.match(domain):
        return (f"{option}: {value!r} is not a signer name; give a lower-case domain and a path, such as "
                "kubernetes.io/kube-apiserver-client or clusterissuers.cert-manager.io/my-issuer")
    return None


def dns_safe(value, limit=40):
    """A readable, DNS-subdomain-safe fragment of an arbitrary user name, for default object names."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    return cleaned[:limit].strip("-") or "user"


def readable_name(value, limit):
    """`value` made DNS-safe; when that changed it, a short hash of the exact value keeps distinct values apart
    (Developers and developers, team:dev and team.dev, long names cut at the same place)."""
    safe = dns_safe(value, limit)
    if safe == value:
        return safe
    return f"{safe}-{hashlib.sha256(value.encode()).hexdigest()[:8]}"


def label_errors(option, mapping):
    """Label keys and values as the API validates them (qualified names; values of at most 63 characters)."""
    errors = []
    for key, value in (mapping or {}).items():
        prefix, name = key.rsplit("/", 1) if "/" in key else ("", key)
        if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
            errors.append(f"{option}: key {key!r} has an invalid prefix; it must be a DNS subdomain")
        if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
            errors.append(f"{option}: key {key!r} is invalid; use at most 63 letters, digits, '-', '_' and '.', "
                          "starting and ending with a letter or digit, optionally after a DNS prefix and '/'")
        if value is not None and (len(str(value)) > 63 or not _LABEL_VALUE.match(str(value))):
            errors.append(f"{option}: value {value!r} of {key!r} is invalid; use at most 63 letters, digits, '-', "
                          "'_' and '.', starting and ending with a letter or digit")
    return errors


def usages_error(option, usages):
    """spec.usages as the API validates it: known key usages, each once."""
    if not usages:
        return f"{option}: must not be empty; client certificates use ['client auth']"
    unknown = [usage for usage in usages if usage not in KEY_USAGES]
    if unknown:
        return (f"{option}: {unknown} are not key usages of the CSR API; client certificates use ['client auth'] "
                f"(other usages: {', '.join(KEY_USAGES)})")
    repeated = sorted({usage for usage in usages if usages.count(usage) > 1})
    if repeated:
        return f"{option}: {repeated} are given more than once; give each usage once"
    return None


def expiration_error(option, value):
    if value is not None and value < MIN_EXPIRATION_SECONDS:
        return (f"{option}: {value} is below {MIN_EXPIRATION_SECONDS}; the API refuses certificates shorter than "
                "10 minutes")
    return None


def parse_duration(value):
    """'90d', '12h', '1h30m', '3600' or '3600s' → seconds; None when it is not a duration."""
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+", text):
        return int(text)
    if not text or _DURATION_PART.sub("", text):
        return None
    return int(sum(float(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(text)))


def parse_renew_before(value):
    """A duration, or a fraction of the lifetime written as '30%' or '0.3'.

    Returns ('seconds', n) or ('fraction', f); raises ValueError with an actionable message.
    """
    text = str(value).strip()
    accepted = "use a duration such as '8h', '2d', '1h30m', or a fraction of the lifetime such as '30%' or '0.3'"
    if text.endswith("%"):
        try:
            fraction = float(text[:-1]) / 100
        except ValueError:
            raise ValueError(f"renew_before: {value!r} is not a percentage; {accepted}") from None
        if not 0 < fraction < 1:
            raise ValueError(f"renew_before: {value!r} must be between 0% and 100%")
        return "fraction", fraction
    if re.fullmatch(r"0?\.\d+", text):
        return "fraction", float(text)
    seconds = parse_duration(text)
    if seconds is None:
        raise ValueError(f"renew_before: {value!r} is not understood; {accepted}")
    return "seconds", seconds


def namespace_error(option, value):
    """A namespace name (an RFC 1123 label), as the API server checks it."""
    if not isinstance(value, str) or not _NAMESPACE.match(value) or len(value) > MAX_NAMESPACE_LENGTH:
        return (f"{option}: {value!r} is not a namespace name: use at most {MAX_NAMESPACE_LENGTH} lower-case letters, "
                "digits and '-', starting and ending with a letter or digit")
    return None
