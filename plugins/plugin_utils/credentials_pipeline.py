# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The user_access role's certificate steps for the users whose keys are on the controller, overlapping with the
cluster's signer.

kube-controller-manager's signer issues about 20 certificates a second (its API client's rate limit), so a large
first run waits on it. Done one step after another (every key and request, then every approval and the wait, then
every kubeconfig), the keys and the kubeconfigs add to that wait; here the users go through the same three steps in
chunks: while the signer works through the approved requests of some, the next are requested and approved and the
kubeconfigs of those already issued are written and verified. Each step is the module's own backend with the same
items as the step tasks of the role would give it (plugin_utils/access_results.py), so the results, read back by
key into the same registered shapes, are the same; only their order differs.

`call(module, args)` runs one module with the given arguments and returns its result: the backend in this process
(threads: the chunks overlap) or a module process (one chunk per cluster: a process per chunk would cost more than
the overlap saves).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import threading

from ansible_collections.kubeaccess.x509.plugins.plugin_utils import access_results

CHUNK = 50
# Approvals in flight: enough approved requests to keep a signer busy while each approval call waits for its own.
APPROVERS = 3
CONNECTION = ("kubeconfig", "context", "host", "api_key", "ca_cert", "client_cert", "client_key", "validate_certs")
KUBECONFIG_ENDPOINT = ("server", "ca_source", "ca_file")
MODULES = {"requests": "kubeaccess.x509.k8s_csr_request", "approvals": "kubeaccess.x509.k8s_csr_approve",
           "kubeconfigs": "kubeaccess.x509.k8s_kubeconfig_user"}
_DONE = object()


def connection_args(cluster):
    """A cluster description of the plan as the modules' connection options."""
    return {option: cluster[option] for option in CONNECTION if (cluster or {}).get(option) is not None}


def chunks_of(work, cluster, size):
    """The request items of `cluster` in chunks of `size` (the plan gives each user of a cluster a file of their
    own)."""
    items = work["requests"].get(cluster) or []
    return [items[start:start + size] for start in range(0, len(items), size)]


class ClusterSteps:
    """The three steps of one cluster, their results gathered per step."""

    def __init__(self, work, cluster, bindings, verify, check_mode=False):
        self.work = work
        self.check_mode = check_mode
        self.cluster = cluster
        self.bindings = bindings
        self.verify = verify
        description = work["settings"]["clusters"][cluster] or {}
        self.connection = connection_args(description)
        self.endpoint = {option: description[option] for option in KUBECONFIG_ENDPOINT
                         if description.get(option) is not None}
        self.results = {step: [] for step in MODULES}
        self.failures = []
        self.warnings = []
        self._lock = threading.Lock()

    def looped(self, results):
        """`results` of this cluster as the loop item a task looped over the clusters registers for it."""
        return {"item": {"key": self.cluster}, "results": results, "changed": any(r.get("changed") for r in results)}

    def call(self, call, step, args):
        try:
            result = call(MODULES[step], dict(self.connection, **args))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # A thread that died would leave the others waiting for its chunks: the step fails instead.
            result = {"failed": True, "msg": f"{type(exc).__name__}: {exc}"}
        result.pop("invocation", None)  # the connection options: credentials, never shown
        with self._lock:
            self.warnings += [w for w in result.pop("warnings", []) if w not in self.warnings]
            self.results[step] += result.get("results") or []
            if result.get("failed"):
                self.failures.append(f"{self.cluster}: {MODULES[step]}: {result.get('msg') or 'failed'}")
        return result.get("results") or []

    def request(self, call, items):
        return self.call(call, "requests", {"requests": items, "delete_stale_pending": True,
                                            "continue_on_error": True})

    def approve(self, call, requested):
        items = access_results.approval_items(self.work, self.cluster, {"results": [self.looped(requested)]})
        return self.call(call, "approvals", {"csrs": items, "continue_on_error": True}) if items else []

    def kubeconfigs(self, call, requested, approved):
        items = access_results.kubeconfig_items(self.work, self.cluster, {"results": [self.looped(requested)]},
                                                {"results": [self.looped(approved)]}, self.bindings, self.verify)
        if items:
            written = self.call(call, "kubeconfigs", dict(self.endpoint, users=items, continue_on_error=True))
            if not self.check_mode:
                self.replace_rotated_keys(requested, written)

    def replace_rotated_keys(self, requested, written):
        """The old key is removed (replaced by the new one) only once the new kubeconfig holds the new key."""
        for staged, key_path in access_results.rotated_keys(self.work, self.cluster,
                                                            {"results": [self.looped(requested)]},
                                                            {"results": [self.looped(written)]}):
            try:
                os.replace(staged, key_path)
            except OSError as exc:
                with self._lock:
                    self.warnings.append(f"{self.cluster}: the new key {staged} could not replace {key_path} ({exc}); "
                                         "the next run completes it")

    def run_in_order(self, call):
        """All users in one chunk, one step after the other: three calls."""
        requested = self.request(call, self.work["requests"][self.cluster])
        if not self.failures:
            approved = self.approve(call, requested)
            if not self.failures:
                self.kubeconfigs(call, requested, approved)

    def run_overlapping(self, call, size=CHUNK, approvers=APPROVERS):
        """Chunks through requests, approvals (several in flight) and kubeconfigs at once; a step that fails as a
        whole (not item by item) stops the chunks that have not started."""
        to_approve, to_write = queue.Queue(), queue.Queue()

        def requester():
            for chunk in chunks_of(self.work, self.cluster, size):
                if self.failures:
                    break
                to_approve.put(self.request(call, chunk))
            for _approver in range(approvers):
                to_approve.put(_DONE)

        def approver():
            while (requested := to_approve.get()) is not _DONE:
                approved = [] if self.failures else self.approve(call, requested)
                to_write.put((requested, approved))
            to_write.put(_DONE)

        def writer():
            remaining = approvers
            while remaining:
                done = to_write.get()
                if done is _DONE:
                    remaining -= 1
                elif not self.failures:
                    self.kubeconfigs(call, *done)

        return [threading.Thread(target=target, name=f"{self.cluster}-{target.__name__}", daemon=True)
                for target in [requester, writer] + [approver] * approvers]


LOCK_FILE = ".kubeaccess-lock"


def key_homes(work):
    """The directories that hold the users' key directories: the base directory, unless users have their own
    user_access_key_dir."""
    return sorted({os.path.dirname(os.path.dirname(item["private_key_path"]))
                   for items in work["requests"].values() for item in items if item.get("private_key_path")})


@contextlib.contextmanager
def users_locked(work, say):
    """Hold a lock in each of key_homes() for the whole step, so that another run for the same users (a schedule and
    a merge, renew.yml and onboard.yml) waits and then finds their work done, instead of making a second key, request
    and certificate, or storing one run's certificate beside the other run's key. flock on LOCK_FILE, which stays
    (removing a lock file is racy): a killed run's lock goes with its process. `say` tells the wait."""
    descriptors = []
    try:
        for directory in key_homes(work):
            path = os.path.join(directory, LOCK_FILE)
            try:
                os.makedirs(directory, mode=0o700, exist_ok=True)  # as write_atomic makes it: it holds keys
                descriptors.append(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            except OSError:
                continue  # a directory this user cannot write in: its users' own steps say so, unlocked as before
            try:
                fcntl.flock(descriptors[-1], fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say(f"Another onboard or renew run is making keys and certificates under {directory}; waiting for it "
                    f"to finish (it holds {path})")
                fcntl.flock(descriptors[-1], fcntl.LOCK_EX)
        yield
    finally:
        for descriptor in descriptors:
            os.close(descriptor)


def run(work, bindings, verify, call, overlap, check_mode=False, say=lambda message: None):
    """Every cluster's steps, one cluster after the other (a user on several clusters has one kubeconfig file,
    which each cluster's step reads and writes), holding users_locked() unless in check mode, which writes nothing;
    returns {step: registered shape, "failures": [messages of steps that failed as a whole], "warnings": [...]}."""
    with contextlib.nullcontext() if check_mode else users_locked(work, say):
        return _run(work, bindings, verify, call, overlap, check_mode)


def _run(work, bindings, verify, call, overlap, check_mode):
    clusters = [ClusterSteps(work, cluster, bindings, verify, check_mode) for cluster in work["settings"]["clusters"]
                if work["requests"].get(cluster)]
    for steps in clusters:
        if overlap:
            threads = steps.run_overlapping(call)
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        else:
            steps.run_in_order(call)
    outcome = {}
    for step in MODULES:
        looped = [steps.looped(steps.results[step]) for steps in clusters if steps.results[step]]
        outcome[step] = {"results": looped, "changed": any(result["changed"] for result in looped)}
    outcome["failures"] = [failure for steps in clusters for failure in steps.failures]
    outcome["warnings"] = [warning for steps in clusters for warning in steps.warnings]
    return outcome
