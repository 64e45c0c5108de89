"""Runs a command and reports its wall time and resource usage: the benchmark's measured runs (docs/benchmark.md).

    python benchmarks/rusage.py REPORT.json COMMAND [ARG ...]

The exit code is the command's. REPORT.json gets its wall time, CPU time and the peak RSS of the largest process
among it and every descendant it waited for (wait4's usage of the child). This small process, not the benchmark,
starts the command: Linux counts in a process's peak RSS the memory of the process it was forked from until its
exec, so the command started from the benchmark's own process (the kubernetes client and matplotlib loaded, over
100 MiB) would never measure less than that. Only the standard modules needed are imported, to keep it small.
"""

import json
import os
import sys
import time


def main():
    report, argv = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            print(f"{argv[0]}: {exc}", file=sys.stderr, flush=True)
        os._exit(127)  # pylint: disable=protected-access
    _pid, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    returncode = os.waitstatus_to_exitcode(status)
    with open(report, "w", encoding="utf-8") as handle:
        json.dump({"returncode": returncode, "wall_seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                   "max_rss_kib": usage.ru_maxrss}, handle)
    return returncode if returncode >= 0 else 128 - returncode


if __name__ == "__main__":
    sys.exit(main())
