"""Kills an ansible-playbook run right after one of its steps, as a power cut or the OOM killer would.

The killed-run tests put this directory on PYTHONPATH, so every Python process of the run (ansible-playbook, its
workers, module processes) loads it. With KUBEACCESS_KILL_AT set to a step, the whole process tree under
ansible-playbook (whose pid the first process to load this records; Ansible's workers run in sessions of their
own) gets SIGKILL at the first audit event after the step's KUBEACCESS_KILL_NTH-th occurrence (default 1) has
completed. Steps are what a user can see: a file renamed into place, a request sent to the API server and
answered, a directory removed. The step's name goes to the file KUBEACCESS_KILL_MARKER first, so that the test
knows where the run died.

Nothing here changes what the run does until the moment it is killed; without KUBEACCESS_KILL_AT it does nothing.
"""

import os
import re
import signal
import sys
import threading

REQUEST_LINE = re.compile(rb"^(GET|POST|PUT|PATCH|DELETE) (\S+) HTTP/")
CSRS = r"/apis/certificates\.k8s\.io/v1/certificatesigningrequests"
RBAC = r"/apis/rbac\.authorization\.k8s\.io/v1/(namespaces/[^/]+/)?(rolebindings|clusterrolebindings)"


def _renamed_to(pattern):
    return lambda event, args: event == "os.rename" and re.search(pattern, os.fsdecode(args[1])) is not None


def _sent(method, path):
    def matches(event, args):
        if event != "http.client.send":
            return False
        line = REQUEST_LINE.match(bytes(args[1][:200]) if isinstance(args[1], (bytes, bytearray)) else b"")
        return bool(line) and line.group(1) == method and re.fullmatch(path, line.group(2).decode().split("?")[0])
    return matches


STEPS = {
    "key written": _renamed_to(r"/[^/]+\.key$"),
    "new key written": _renamed_to(r"/[^/]+\.key\.next$"),
    "csr submitted": _sent(b"POST", CSRS),
    "csr approved": _sent(b"PUT", CSRS + r"/[^/]+/approval"),
    "certificate saved": _renamed_to(r"/[^/]+\.crt$"),
    "kubeconfig written": _renamed_to(r"/kubeconfig$"),
    "binding made": _sent(b"POST", RBAC),
    "binding deleted": _sent(b"DELETE", RBAC + r"/[^/]+"),
    "csr deleted": _sent(b"DELETE", CSRS + r"/[^/]+"),
    "files removed": lambda event, args: event == "shutil.rmtree",
}


def _body_of_the_same_request(event, args):
    """The body of a request goes out in a send of its own, after the request line: not yet the request's end."""
    data = args[1] if event == "http.client.send" and len(args) > 1 else None
    return isinstance(data, (bytes, bytearray)) and not REQUEST_LINE.match(bytes(data[:200]))


def _kill_the_run(root):
    children = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending += children.get(pid, [])
    for pid in tree:
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    os.kill(os.getpid(), signal.SIGKILL)


def _completed(event, args):
    """When the step that `event` starts has completed: a rename once its source is gone (seen from any thread:
    a writer thread may end with it), a request or removal at the next event of the same thread."""
    thread = threading.get_ident()
    if event == "os.rename":
        source = args[0]
        return lambda: not os.path.lexists(source)
    return lambda: threading.get_ident() == thread


def _install(step, nth, marker):
    matches = STEPS[step]
    state = {"seen": 0, "completed": None, "killing": False}
    lock = threading.Lock()

    def hook(event, args):
        if state["killing"]:
            return
        if state["completed"] and not _body_of_the_same_request(event, args) and state["completed"]():
            state["killing"] = True
            with open(marker, "w", encoding="utf-8") as handle:
                handle.write(step)
            _kill_the_run(int(os.environ["KUBEACCESS_KILL_ROOT"]))
        try:
            hit = matches(event, args)
        except Exception:  # pylint: disable=broad-exception-caught
            hit = False  # an event whose arguments are not the expected shape is not the step
        if hit:
            with lock:
                state["seen"] += 1
                if state["seen"] == nth and state["completed"] is None:
                    state["completed"] = _completed(event, args)

    sys.addaudithook(hook)


if os.environ.get("KUBEACCESS_KILL_AT"):
    os.environ.setdefault("KUBEACCESS_KILL_ROOT", str(os.getpid()))  # ansible-playbook: the first to load this
    _install(os.environ["KUBEACCESS_KILL_AT"], int(os.environ.get("KUBEACCESS_KILL_NTH", "1")),
             os.environ["KUBEACCESS_KILL_MARKER"])
