# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubeconfig files: one user's cluster, user and context entries merged in or taken out, everything else kept.

Only PyYAML is used here: reading the admin kubeconfig for its server and CA needs neither the `kubernetes`
package nor the API. Files are read and written whole; a writer holds `KubeconfigFile.locked()` from the read to
the atomic rename, so concurrent writers of one file take turns and lose nothing.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import fcntl
import hashlib
import os
import string

try:
    import yaml
except ImportError:
    HAS_YAML = False
else:
    HAS_YAML = True
    _LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    _DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

from ansible_collections.kubeaccess.x509.plugins.module_utils.file_io import read_file, write_atomic

SECTIONS = {"clusters": "cluster", "users": "user", "contexts": "context"}
KNOWN_KEYS = ("apiVersion", "kind", "preferences", "clusters", "users", "contexts", "current-context", "extensions")
DEFAULT_CLUSTER = "kubernetes"
NAME_PLACEHOLDERS = ("user", "cluster")
FILE_MODE = 0o600
REDACTED = "<redacted>"
# Credentials a kubeconfig can hold, wherever they appear (users, auth-provider configs).
SECRET_KEYS = frozenset(("client-key-data", "token", "password", "access-token", "refresh-token", "id-token",
                         "client-secret"))
# Public, but long: shown as a digest, so a diff still shows whether they changed.
DIGEST_KEYS = frozenset(("client-certificate-data", "certificate-authority-data"))


class KubeconfigError(Exception):
    """A kubeconfig that cannot be read or used; the message names the option and the file."""


def new_config():
    """What `kubectl config` writes into an empty file."""
    return {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": [], "users": [], "contexts": [],
            "current-context": ""}


def parse(data, path, option="path"):
    """The kubeconfig in `data` (bytes); blank content is an empty kubeconfig.

    The error never quotes the file: a broken kubeconfig can hold keys and tokens.
    """
    if not data.strip():
        return new_config()
    try:
        config = yaml.load(data, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise KubeconfigError(f"{option}: {path} is not valid YAML{where}; it was left untouched. Repair it, or move "
                              "it away to start a new kubeconfig") from None
    problem = shape_problem(config)
    if problem:
        raise KubeconfigError(f"{option}: {path} is not a kubeconfig ({problem}); it was left untouched. Give the "
                              "path of a kubeconfig, or move the file away") from None
    return config


def shape_problem(config):
    """Why a parsed document is not a kubeconfig this code can merge into, or None."""
    if not isinstance(config, dict):
        return f"it holds a YAML {type(config).__name__}, not a mapping"
    if config and not any(key in config for key in KNOWN_KEYS):
        return "it has none of the fields " + ", ".join(KNOWN_KEYS)
    if config.get("kind") not in (None, "Config"):
        return f"kind is {config['kind']!r}, not Config"
    if not isinstance(config.get("current-context") or "", str):
        return "current-context is not a string"
    for section, inner in SECTIONS.items():
        entries = config.get(section)
        if entries is None:
            continue
        if not isinstance(entries, list):
            return f"{section} is not a list"
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                return f"{section}[{index}] has no name"
            if not isinstance(entry.get(inner) or {}, dict):
                return f"{section}[{index}].{inner} is not a mapping"
    return None


def dump(config):
    return yaml.dump(config, Dumper=_DUMPER, default_flow_style=False, sort_keys=False, allow_unicode=True)


def entry(config, section, name):
    """The body of the entry called `name` (the `cluster` of a cluster entry, ...), or None."""
    for item in config.get(section) or []:
        if item.get("name") == name:
            return item.get(SECTIONS[section]) or {}
    return None


def names(config, section):
    return [item["name"] for item in config.get(section) or []]


def put_entry(config, section, name, body):
    """Replace the entry called `name` where it stands, or append it."""
    if config.get(section) is None:
        config[section] = []
    entries = config[section]
    new = {"name": name, SECTIONS[section]: body}
    for index, item in enumerate(entries):
        if item.get("name") == name:
            entries[index] = new
            return
    entries.append(new)


def drop_entry(config, section, name):
    if config.get(section):
        config[section] = [item for item in config[section] if item.get("name") != name]


class UserEntries:
    """One user's three entries: the cluster (named after the cluster), the user and the context."""

    def __init__(self, cluster_name, user_name, context_name):
        self.cluster_name = cluster_name
        self.user_name = user_name
        self.context_name = context_name

    def merged(self, config, cluster, user, context, current_context="if_unset"):
        """A copy of `config` with these entries set; foreign entries keep their content and order.

        `current_context`: V(always), V(if_unset) (when the file has none) or V(never) make it this context.
        """
        result = copy.deepcopy(config)
        put_entry(result, "clusters", self.cluster_name, cluster)
        put_entry(result, "users", self.user_name, user)
        put_entry(result, "contexts", self.context_name, context)
        if current_context == "always" or (current_context == "if_unset" and not result.get("current-context")):
            result["current-context"] = self.context_name
        return result

    def removed(self, config):
        """A copy of `config` without the user and context; the cluster goes only when no context uses it."""
        result = copy.deepcopy(config)
        drop_entry(result, "users", self.user_name)
        drop_entry(result, "contexts", self.context_name)
        if not any((item.get("context") or {}).get("cluster") == self.cluster_name
                   for item in result.get("contexts") or []):
            drop_entry(result, "clusters", self.cluster_name)
        if result.get("current-context") == self.context_name:
            result["current-context"] = ""
        return result


def text_error(option, value):
    """Names in a kubeconfig can be any text; but not empty, padded or with control characters."""
    if not value.strip() or value != value.strip():
        return f"{option}: {value!r} is empty or padded with spaces"
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return f"{option}: {value!r} contains control characters; use printable characters only"
    return None


def name_format_error(name_format):
    """`name_format` may use {user} and {cluster} only; the user and cluster names are checked on their own."""
    problem = text_error("name_format", name_format)
    if problem:
        return problem
    try:
        fields = [(field, spec, conversion) for _literal, field, spec, conversion
                  in string.Formatter().parse(name_format) if field is not None]
    except ValueError as exc:
        return f"name_format: {name_format!r} is not a format string ({exc}); use e.g. '{{user}}@{{cluster}}'"
    unknown = [field for field, spec, conversion in fields
               if field not in NAME_PLACEHOLDERS or spec or conversion]
    if unknown:
        return (f"name_format: {name_format!r} uses {', '.join(repr('{' + f + '}') for f in unknown)}; only {{user}} "
                "and {cluster} can be used")
    return None


def uses_placeholder(name_format, placeholder):
    return any(field == placeholder for _literal, field, _spec, _conversion in string.Formatter().parse(name_format))


def redacted(config):
    """A copy that is safe to show: credentials replaced by a marker, certificates by a short digest."""
    if isinstance(config, dict):
        return {key: _redacted_value(key, value) for key, value in config.items()}
    if isinstance(config, list):
        return [redacted(item) for item in config]
    return config


def _redacted_value(key, value):
    if value in (None, ""):
        return value
    if key in SECRET_KEYS:
        return REDACTED
    if key in DIGEST_KEYS:
        digest = hashlib.sha256(str(value).encode()).hexdigest()[:16]
        return f"<redacted, {len(str(value))} characters, sha256 {digest}>"
    return redacted(value)


def b64(data):
    return base64.b64encode(data).decode()


class KubeconfigFile:
    """A kubeconfig on disk, read and written whole; a symlink is followed, so its target is what changes."""

    def __init__(self, path):
        self.path = os.path.realpath(path) if os.path.islink(path) else path

    @property
    def lock_path(self):
        # Not `<file>.lock`: kubectl creates and deletes that name itself, and refuses to write while it exists.
        directory, base = os.path.split(os.path.abspath(self.path))
        return os.path.join(directory, f".{base}.kubeaccess-lock")

    @contextlib.contextmanager
    def locked(self):
        """Hold an exclusive lock (fcntl, on a sidecar file) from reading to writing; a missing directory is
        created 0700."""
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), mode=0o700, exist_ok=True)
        descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield self
        finally:
            os.close(descriptor)

    def read(self):
        """The parsed kubeconfig, or None when there is no file."""
        data = read_file(self.path)
        return None if data is None else parse(data, self.path)

    def write(self, config):
        """Replace the file atomically, mode 0600 from the first byte."""
        write_atomic(self.path, dump(config).encode(), FILE_MODE)


class AdminConnection:
    """What a user's kubeconfig borrows from the admin connection: server URL, CA and cluster name."""

    def __init__(self, server, ca_pem, cluster_name, source):
        self.server = server
        self.ca_pem = ca_pem
        self.cluster_name = cluster_name
        self.source = source


def default_path():
    """The kubeconfig used when none is given: the first of $KUBECONFIG, else ~/.kube/config."""
    return os.path.expanduser(os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0])


def admin_connection(params):
    """Read the admin connection from its kubeconfig (or `host` and `ca_cert`), without the API.

    Returns None for the in-cluster service account, which only the `kubernetes` client reads.
    """
    kubeconfig, context, host = params.get("kubeconfig"), params.get("context"), params.get("host")
    if not (kubeconfig or context or host) and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    ca_pem = _read_option_file("ca_cert", params.get("ca_cert"))
    if host and not (kubeconfig or context):
        return AdminConnection(host, ca_pem, None, f"host {host}")
    path = kubeconfig or default_path()
    data = read_file(path)
    if data is None:
        raise KubeconfigError(f"kubeconfig: {path} does not exist; give the admin kubeconfig (or set "
                              "K8S_AUTH_KUBECONFIG), or host with ca_cert")
    config = parse(data, path, option="kubeconfig")
    name = context or config.get("current-context")
    if not name:
        raise KubeconfigError(f"context: {path} has no current-context; give context")
    body = entry(config, "contexts", name)
    if body is None:
        raise KubeconfigError(f"context: {name!r} is not in {path}; it has: "
                              f"{', '.join(names(config, 'contexts')) or 'none'}")
    cluster = entry(config, "clusters", body.get("cluster")) or {}
    if ca_pem is None:
        ca_pem = _cluster_ca(cluster, path)
    return AdminConnection(host or cluster.get("server"), ca_pem, body.get("cluster"),
                           f"kubeconfig {path}, context {name}")


# What a context may hold for plain_credentials(); anything else (exec and auth-provider plugins, token files,
# proxies, server names) is the kubernetes package's to read.
PLAIN_CLUSTER_KEYS = frozenset(("server", "certificate-authority", "certificate-authority-data",
                                "insecure-skip-tls-verify"))
PLAIN_USER_KEYS = frozenset(("client-certificate", "client-certificate-data", "client-key", "client-key-data",
                             "token"))


def plain_credentials(path, context=None):
    """The server, CA, client certificate and key, and token of a kubeconfig context that holds them plainly, as
    (path, data) pairs, and whether to verify the server; None when the context is missing or holds anything
    else or names a file that is not there, which the kubernetes package reads (and reports on).

    Reading these without the package saves a module run about 0.2 s of imports. As in kubectl, data wins over a
    file, and relative files are relative to the kubeconfig's directory.
    """
    try:
        config = parse(read_file(path) or b"", path, option="kubeconfig")
    except KubeconfigError:
        return None
    name = context or config.get("current-context")
    body = entry(config, "contexts", name) if name else None
    if body is None:
        return None
    cluster = entry(config, "clusters", body.get("cluster")) or {}
    user = entry(config, "users", body.get("user")) or {}
    if not cluster.get("server") or set(cluster) - PLAIN_CLUSTER_KEYS or set(user) - PLAIN_USER_KEYS:
        return None
    base = os.path.dirname(os.path.abspath(path))
    found = {}
    for key, section, option in (("ca", cluster, "certificate-authority"), ("cert", user, "client-certificate"),
                                 ("key", user, "client-key")):
        if section.get(f"{option}-data"):
            try:
                found[key] = (None, base64.b64decode(section[f"{option}-data"], validate=True))
            except (binascii.Error, ValueError, TypeError):
                return None
        elif section.get(option):
            found[key] = (os.path.join(base, section[option]), None)
            if not os.path.isfile(found[key][0]):
                return None
        else:
            found[key] = (None, None)

    return dict(found, server=cluster["server"], token=user.get("token"),
                verify=not cluster.get("insecure-skip-tls-verify"))


def _cluster_ca(cluster, kubeconfig_path):

    if cluster.get("certificate-authority-data"):
        try:
            return base64.b64decode(cluster["certificate-authority-data"], validate=True)
        except (binascii.Error, ValueError):
            raise KubeconfigError(f"kubeconfig: the certificate-authority-data in {kubeconfig_path} is not "
                                  "base64") from None
    if cluster.get("certificate-authority"):
        # Like kubectl: a relative path is relative to the kubeconfig's directory.
        ca_path = os.path.join(os.path.dirname(os.path.abspath(kubeconfig_path)), cluster["certificate-authority"])
        return _read_option_file("kubeconfig", ca_path)
    return None


def _read_option_file(option, path):
    if not path:
        return None
    data = read_file(path)
    if data is None:
        raise KubeconfigError(f"{option}: the CA file {path} does not exist")
    return data
