"""`make demo`: onboard a user on the bundled local test API server and prove the kubeconfig works.

Starts the server in a temporary directory, runs the seed's manual flow (openssl + kubectl) and prints every
command with its output, then stops the server. Pass --keep to leave the directory for a look afterwards.
"""

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests import seed_flow  # noqa: E402  pylint: disable=wrong-import-position
from tests.apiserver import Options, TestAPIServer  # noqa: E402  pylint: disable=wrong-import-position


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", default="rahul", help="user name to onboard (default rahul)")
    parser.add_argument("--group", default="developers", help="group of the user (default developers)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and print its path")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="kubeaccess-demo-")
    server = TestAPIServer(Options(workdir=os.path.join(workdir, "apiserver"))).start()
    print(f"# local test API server at {server.url}, admin kubeconfig {server.kubeconfig}\n")
    try:
        transcript = seed_flow.run(server.kubeconfig, os.path.join(workdir, "work"), user=args.user,
                                   group=args.group, echo=print)
    finally:
        server.stop()
    whoami = transcript.step("whoami")
    allowed = transcript.step("pods allowed")
    ok = whoami.returncode == 0 and args.user in whoami.stdout and allowed.returncode == 0
    print(f"# {'OK' if ok else 'FAILED'}: {args.user}'s kubeconfig authenticates and RBAC grants what was bound")
    if args.keep:
        print(f"# files kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
