"""In-memory object storage with etcd-like resourceVersions, a watch event log and an optional state file."""

import copy
import datetime
import json
import os
import tempfile
import threading
import uuid

EVENT_HISTORY = 1000


def timestamp(moment=None):
    moment = moment or datetime.datetime.now(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


class Store:
    """Objects keyed by (resource, namespace, name); one global resourceVersion counter, as etcd's revision."""

    def __init__(self, state_file=None):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.objects = {}
        self.revision = 0
        self.events = []  # (revision, resource, type, object)
        self.extra_state = {}
        self.state_file = state_file
        if state_file and os.path.exists(state_file):
            self._load()

    # -- persistence -------------------------------------------------------------------------------------------
    def _load(self):
        with open(self.state_file, encoding="utf-8") as handle:
            data = json.load(handle)
        self.revision = data["revision"]
        self.extra_state = data.get("extra", {})
        for item in data["objects"]:
            key = (item["resource"], item["namespace"], item["name"])
            self.objects[key] = item["object"]

    def save(self):
        if not self.state_file:
            return
        with self.lock:
            data = {
                "revision": self.revision,
                "extra": self.extra_state,
                "objects": [
                    {"resource": r, "namespace": ns, "name": n, "object": obj}
                    for (r, ns, n), obj in sorted(self.objects.items())
                ],
            }
            directory = os.path.dirname(os.path.abspath(self.state_file))
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".state-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.state_file)

    # -- reads -------------------------------------------------------------------------------------------------
    def get(self, resource, namespace, name):
        with self.lock:
            obj = self.objects.get((resource, namespace or "", name))
            return copy.deepcopy(obj)

    def list(self, resource, namespace=None):
        with self.lock:
            items = [
                copy.deepcopy(obj)
                for (r, ns, _name), obj in sorted(self.objects.items())
                if r == resource and (namespace is None or ns == namespace)
            ]
            return items, str(self.revision)

    # -- writes ------------------------------------------------------------------------------------------------
    def _record(self, resource, event_type, obj):
        self.events.append((self.revision, resource, event_type, copy.deepcopy(obj)))
        del self.events[:-EVENT_HISTORY]
        self.changed.notify_all()

    def create(self, resource, obj):
        with self.lock:
            meta = obj["metadata"]
            key = (resource, meta.get("namespace", ""), meta["name"])
            if key in self.objects:
                raise KeyError(key)
            self.revision += 1
            meta["uid"] = str(uuid.uuid4())
            meta["resourceVersion"] = str(self.revision)
            meta["creationTimestamp"] = timestamp()
            # No default generation: only kinds whose strategy sets one carry it (the registry sets it for them).
            self.objects[key] = copy.deepcopy(obj)
            self._record(resource, "ADDED", obj)
            self.save()
            return copy.deepcopy(obj)

    def update(self, resource, obj):
        """Store `obj` over the existing object; the caller has checked the resourceVersion precondition."""
        with self.lock:
            meta = obj["metadata"]
            key = (resource, meta.get("namespace", ""), meta["name"])
            old = self.objects[key]
            if obj == old:
                return copy.deepcopy(old)  # no-op updates do not bump resourceVersion, as in the real server
            self.revision += 1
            meta["resourceVersion"] = str(self.revision)
            self.objects[key] = copy.deepcopy(obj)
            self._record(resource, "MODIFIED", obj)
            self.save()
            return copy.deepcopy(obj)

    def delete(self, resource, namespace, name):
        with self.lock:
            obj = self.objects.pop((resource, namespace or "", name))
            self.revision += 1
            obj["metadata"]["resourceVersion"] = str(self.revision)
            self._record(resource, "DELETED", obj)
            self.save()
            return copy.deepcopy(obj)

    def events_since(self, resource, revision):
        with self.lock:
            return [(rev, etype, copy.deepcopy(obj)) for rev, res, etype, obj in self.events
                    if res == resource and rev > revision]

    def oldest_event_revision(self):
        with self.lock:
            return self.events[0][0] if self.events else self.revision
