"""The project's offline stand-in for the get-pip script that `ansible-test sanity` bootstraps pip with.

ansible-test makes each sanity test's virtual environment without pip and runs
~/.ansible/test/cache/get_pip_<version>.py in it, downloading that script from its bootstrap host
(ci-files.testing.ansible.com) the first time. Where the package index can be reached but that host cannot,
tests/sanity/run-sanity.sh puts this file there instead, under the name of each pip version the installed
ansible-test asks for. It is run as ansible-test runs the real script:

    python get_pip_25_2.py --disable-pip-version-check pip==25.2 --no-setuptools --no-wheel

and does the same: pip from the interpreter's own `ensurepip`, then `pip install` of the given packages and options
from the package index, without setuptools and wheel (the two --no-* options are the real script's, not pip's).
"""

import subprocess
import sys

GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")


def main(arguments):
    pip_arguments = [argument for argument in arguments if argument not in GET_PIP_ONLY]
    ensured = subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL,
                             check=False)
    if ensured.returncode != 0:
        sys.exit(f"offline_get_pip: {sys.executable} -m ensurepip failed (exit code {ensured.returncode}); this "
                 "interpreter has no bundled pip. Use an interpreter with ensurepip (python.org or pyenv builds; "
                 "Debian: apt-get install python3-venv), or let ansible-test reach its bootstrap host")
    if not pip_arguments:
        return 0
    return subprocess.run([sys.executable, "-m", "pip", "install", *pip_arguments], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
