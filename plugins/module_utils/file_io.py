# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing keys and certificates: whole files or nothing, with their final mode from the first byte."""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile


def read_file(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def writable_dir_error(option, path):
    """Why `path` could not be created, checked before anything else is changed."""
    directory = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(directory):
        if os.path.lexists(directory):
            return f"{option}: cannot create {path}: {directory} is not a directory; give a path under a directory"
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    if os.path.exists(path) and os.path.isdir(path):
        return f"{option}: {path} is a directory; give a file path"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"{option}: cannot create {path}: {directory} is not writable by this user"
    return None


def write_atomic(path, data, mode):
    """Write through a temporary file in the same directory and rename it over `path`.

    A run that dies leaves the old file or the new one, never a partial one; missing directories are created
    private (0700) because they hold credentials.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_new(path, data, mode):
    """write_atomic, unless `path` exists: then False, and nothing is written.

    Two processes making the same file at once (two runs for one user) check and write it in turn, under a lock on
    its directory: one writes it, the other finds it and uses it. Where the directory cannot be locked (some
    network file systems), the check is made without the lock.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        except OSError:
            pass
        if os.path.lexists(path):
            return False
        write_atomic(path, data, mode)
        return True
    finally:
        os.close(descriptor)  # and with it the lock


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)
