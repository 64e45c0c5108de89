# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubeconfig files: one user's cluster, user and context entries merged in or taken out, everything else kept.

Only PyYAML is used here: reading the admin kubeconfig for its server and CA needs neither the `kubernetes`
package nor the API. Files are read and written whole; a writer holds `KubeconfigFile.locked()` from the read to
the atomic rename, so concurrent writers of one file take turns and lose nothing.

The admin kubeconfig of the connection options (`read_kubeconfig`) is a file, a dict (kubernetes.core's
`kubeconfig` takes the content as a mapping too), or, when none is given, the files of $KUBECONFIG merged as
kubectl merges them.
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
from collections.abc import Mapping

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


def parse(data, path, option="path", written=True):
    """The kubeconfig in `data` (bytes); blank content is an empty kubeconfig. `written`: the caller would write
    the file (a user's kubeconfig), so the way out of an error may be a new one; else it only reads it (a
    connection's), and the way out is another file.

    The error never quotes the file: a broken kubeconfig can hold keys and tokens.
    """
    if not data.strip():
        return new_config()
    try:
        config = yaml.load(data, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        fix = ("; it was left untouched. Repair it, or move it away to start a new kubeconfig" if written
               else ". Repair it, or give the path of another kubeconfig")
        raise KubeconfigError(f"{option}: {path} is not valid YAML{where}{fix}") from None
    problem = shape_problem(config)
    if problem:
        fix = "; it was left untouched. Give the path of a kubeconfig, or move the file away" if written \
            else ". Give the path of a kubeconfig"
        raise KubeconfigError(f"{option}: {path} is not a kubeconfig ({problem}){fix}") from None
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


# Where a pod's service account credentials are (the kubernetes package reads them for the in-cluster connection).
SERVICE_ACCOUNT_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
RECOMMENDED_PATH = "~/.kube/config"
# Paths in kubeconfig entries that kubectl resolves against the directory of the file the entry comes from
# (client-go clientcmd GetClusterFileReferences, GetAuthInfoFileReferences).
RELATIVE_PATHS = {"clusters": ("certificate-authority",), "users": ("client-certificate", "client-key", "tokenFile")}


class Kubeconfig:
    """A kubeconfig read for a connection: its content, the directory its relative paths are relative to, the
    files it was read from (none for a dict given as the option) and how messages name it. Messages never quote
    its content: it can hold keys and tokens."""

    def __init__(self, config, base_dir, paths, description):
        self.config = config
        self.base_dir = base_dir
        self.paths = paths
        self.description = description

    @property
    def path(self):
        """The file, when the kubeconfig is one file as it is on disk (not a dict, not several merged)."""
        return self.paths[0] if len(self.paths) == 1 else None

    def context_name(self, context=None):
        """`context`, or the current context; checked to be there."""
        name = context or self.config.get("current-context")
        if not name:
            if not self.paths:
                raise KubeconfigError("kubeconfig: the dict has no current-context; give context or set "
                                      "current-context")
            raise KubeconfigError(f"context: {self.description} has no current-context; give context")
        if entry(self.config, "contexts", name) is None:
            raise KubeconfigError(f"context: {name!r} is not in {self.description}; it has: "
                                  f"{', '.join(names(self.config, 'contexts')) or 'none'}")
        return name

    def context(self, context=None):
        """The cluster and user entries of the context (empty when missing), and the cluster's name."""
        body = entry(self.config, "contexts", self.context_name(context))
        cluster = entry(self.config, "clusters", body.get("cluster")) or {}
        user = entry(self.config, "users", body.get("user")) or {}
        return cluster, user, body.get("cluster")

    def file_path(self, value):
        """A path from an entry, as kubectl reads it: relative paths are relative to the kubeconfig's directory."""
        return os.path.normpath(os.path.join(self.base_dir, value))


def option_given(value):
    """Whether a connection option was given: a dict kubeconfig is given even when empty."""
    return value is not None and value != ""


def kubeconfig_option(value, option="kubeconfig"):
    """The `kubeconfig` option as the modules take it: a path (expanded as Ansible expands type=path options),
    the kubeconfig's content as a mapping (a copy), or None."""
    if isinstance(value, Mapping):
        return copy.deepcopy(dict(value))
    if isinstance(value, str):
        return os.path.expanduser(os.path.expandvars(value)) if value else None
    if value is None:
        return None
    raise KubeconfigError(f"{option}: must be the path of a kubeconfig or its content as a dict, not a "
                          f"{type(value).__name__}")


def kubeconfig_paths():
    """The files kubectl reads when no kubeconfig is given: those of $KUBECONFIG (separated by ':'; empty names
    are skipped, a repeated name is read once), else ~/.kube/config."""
    value = os.environ.get("KUBECONFIG")
    if not value:
        return [os.path.expanduser(RECOMMENDED_PATH)]
    paths = []
    for path in value.split(os.pathsep):
        path = os.path.expanduser(path)
        if path and path not in paths:
            paths.append(path)
    return paths


def default_path():
    """The first kubeconfig file kubectl would read when none is given (for messages and defaults)."""
    paths = kubeconfig_paths()
    return next((path for path in paths if os.path.exists(path)), paths[0] if paths else RECOMMENDED_PATH)


def read_kubeconfig(value, option="kubeconfig"):
    """The kubeconfig of the `kubeconfig` option (after kubeconfig_option): a file, a dict, or, for None, the
    files of $KUBECONFIG merged as kubectl merges them (else ~/.kube/config); None when no file of those exists."""
    if isinstance(value, dict):
        problem = shape_problem(value)
        if problem:
            raise KubeconfigError(f"{option}: the dict is not a kubeconfig ({problem}); give the content of a "
                                  "kubeconfig as a mapping, or its path")
        # As for the kubernetes package, relative paths in a dict are relative to the working directory.
        return Kubeconfig(value, os.getcwd(), [], "the kubeconfig dict")
    if value:
        return Kubeconfig(_read_file_config(value, option), os.path.dirname(os.path.abspath(value)), [value], value)
    paths = [path for path in kubeconfig_paths() if os.path.exists(path)]
    if len(paths) <= 1:
        return read_kubeconfig(paths[0], option) if paths else None
    configs = [(path, _read_file_config(path, "KUBECONFIG")) for path in paths]
    return Kubeconfig(merge_kubeconfigs(configs), os.path.dirname(os.path.abspath(paths[0])), paths,
                      f"$KUBECONFIG ({os.pathsep.join(paths)})")


def _read_file_config(path, option):
    try:
        data = read_file(path)
    except OSError as exc:
        raise KubeconfigError(f"{option}: cannot read {path}: {exc.strerror}") from None
    if data is None:
        raise KubeconfigError(f"{option}: {path} does not exist; give the path of a kubeconfig (or set "
                              "K8S_AUTH_KUBECONFIG), or host with credentials")
    return parse(data, path, option=option, written=False)


def merge_kubeconfigs(configs):
    """Several kubeconfigs, (path, config) in order, merged as kubectl merges the files of $KUBECONFIG (client-go
    clientcmd ClientConfigLoadingRules.Load): the first file to set a value or an entry name wins and is never
    changed, so an entry comes whole from the first file that has its name, current-context from the first file
    that sets one; relative paths of an entry are made absolute against the directory of its own file."""
    merged = new_config()
    merged["extensions"] = []
    for path, config in configs:
        base = os.path.dirname(os.path.abspath(path))
        for section in SECTIONS:
            taken = set(names(merged, section))
            for item in config.get(section) or []:
                if item["name"] not in taken:
                    taken.add(item["name"])
                    merged[section].append(_with_absolute_paths(section, item, base))
        if not merged["current-context"] and config.get("current-context"):
            merged["current-context"] = config["current-context"]
        for key, value in (config.get("preferences") or {}).items():
            merged["preferences"].setdefault(key, copy.deepcopy(value))
        taken = {item.get("name") for item in merged["extensions"]}
        merged["extensions"] += [copy.deepcopy(item) for item in config.get("extensions") or []
                                 if isinstance(item, dict) and item.get("name") not in taken]
    if not merged["extensions"]:
        del merged["extensions"]
    return merged


def _with_absolute_paths(section, item, base):
    item = copy.deepcopy(item)
    body = item.get(SECTIONS[section]) or {}
    for key in RELATIVE_PATHS.get(section, ()):
        if isinstance(body.get(key), str) and body[key] and not os.path.isabs(body[key]):
            body[key] = os.path.normpath(os.path.join(base, body[key]))
    command = (body.get("exec") or {}).get("command") if section == "users" else None
    # An exec command is a file only when it has a path separator; otherwise it is looked up in PATH.
    if isinstance(command, str) and os.sep in command and not os.path.isabs(command):
        body["exec"]["command"] = os.path.normpath(os.path.join(base, command))
    return item


def admin_connection(params):
    """Read the admin connection from its kubeconfig (a file, a dict, or $KUBECONFIG's files merged), or from
    `host` and `ca_cert`, without the API.

    Returns None for the in-cluster service account, which only the `kubernetes` client reads.
    """
    kubeconfig = kubeconfig_option(params.get("kubeconfig"))
    context, host = params.get("context"), params.get("host")
    explicit = option_given(kubeconfig) or context
    if not (explicit or host) and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    ca_pem = _read_option_file("ca_cert", params.get("ca_cert"))
    if host and not explicit:
        return AdminConnection(host, ca_pem, None, f"host {host}")
    loaded = read_kubeconfig(kubeconfig)
    if loaded is None:
        raise KubeconfigError(f"kubeconfig: no kubeconfig given and {default_path()} does not exist; give the "
                              "admin kubeconfig (or set K8S_AUTH_KUBECONFIG), or host with ca_cert")
    name = loaded.context_name(context)
    cluster, _user, cluster_name = loaded.context(name)
    if ca_pem is None:
        ca_pem = _cluster_ca(cluster, loaded)
    return AdminConnection(host or cluster.get("server"), ca_pem, cluster_name,
                           f"kubeconfig {loaded.description}, context {name}")


# What a context may hold for plain_credentials(); anything else (exec and auth-provider plugins, token files,
# proxies, server names) is the kubernetes package's to read.
PLAIN_CLUSTER_KEYS = frozenset(("server", "certificate-authority", "certificate-authority-data",
                                "insecure-skip-tls-verify"))
PLAIN_USER_KEYS = frozenset(("client-certificate", "client-certificate-data", "client-key", "client-key-data",
                             "token"))


def plain_credentials(kubeconfig, context=None):
    """The server, CA, client certificate and key, and token of a kubeconfig context that holds them plainly, as
    (path, data) pairs, and whether to verify the server; None when the context is missing or holds anything
    else or names a file that is not there, which the kubernetes package reads (and reports on).

    `kubeconfig` is a Kubeconfig (read_kubeconfig) or a path. Reading these without the package saves a module run
    about 0.2 s of imports. As in kubectl, data wins over a file, and relative files are relative to the
    kubeconfig's directory.
    """
    if not isinstance(kubeconfig, Kubeconfig):
        try:
            kubeconfig = read_kubeconfig(kubeconfig)
        except KubeconfigError:
            return None
    try:
        cluster, user, _name = kubeconfig.context(context)
    except KubeconfigError:
        return None
    if not cluster.get("server") or set(cluster) - PLAIN_CLUSTER_KEYS or set(user) - PLAIN_USER_KEYS:
        return None
    found = {}
    for key, section, option in (("ca", cluster, "certificate-authority"), ("cert", user, "client-certificate"),
                                 ("key", user, "client-key")):
        if section.get(f"{option}-data"):
            try:
                found[key] = (None, base64.b64decode(section[f"{option}-data"], validate=True))
            except (binascii.Error, ValueError, TypeError):
                return None
        elif section.get(option):
            found[key] = (kubeconfig.file_path(section[option]), None)
            if not os.path.isfile(found[key][0]):
                return None
        else:
            found[key] = (None, None)

    return dict(found, server=cluster["server"], token=user.get("token"),
                verify=not cluster.get("insecure-skip-tls-verify"))


def _cluster_ca(cluster, kubeconfig):
    if cluster.get("certificate-authority-data"):
        try:
            return base64.b64decode(cluster["certificate-authority-data"], validate=True)
        except (binascii.Error, ValueError):
            raise KubeconfigError(f"kubeconfig: the certificate-authority-data in {kubeconfig.description} is not "
                                  "base64") from None
    if cluster.get("certificate-authority"):
        # Like kubectl: a relative path is relative to the kubeconfig's directory.
        return _read_option_file("kubeconfig", kubeconfig.file_path(cluster["certificate-authority"]))
    return None


def _read_option_file(option, path):
    if not path:
        return None
    data = read_file(path)
    if data is None:
        raise KubeconfigError(f"{option}: the CA file {path} does not exist")
    return data
