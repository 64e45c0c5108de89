#!/usr/bin/env bash
# The virtual environment of the packaging checks (tests/packaging, tests/tools/build-docs-site.sh): antsibull-docs
# and Sphinx, galaxy-importer, ansible-builder, and the collection's runtime requirements, from
# tests/packaging/requirements.txt. Creates or updates it when needed and prints its directory on stdout.
#
#   KUBEACCESS_PACKAGING_VENV   the venv to use (default tests/output/packaging-venv)
#   PYTHON                      the interpreter to create it with (default: the one of .venv, else python3)
#
# It is made again when the requirements files or the interpreter's version change.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${KUBEACCESS_PACKAGING_VENV:-${root}/tests/output/packaging-venv}"
requirements="${root}/tests/packaging/requirements.txt"

if [[ -n "${PYTHON:-}" ]]; then
    python="${PYTHON}"
elif [[ -x "${root}/.venv/bin/python" ]]; then
    python="${root}/.venv/bin/python"
else
    python="python3"
fi

# What the venv was made from: the interpreter's version and the requirements (ours and the collection's).
wanted="$("${python}" -c 'import sys; print("%d.%d" % sys.version_info[:2])') $(cat "${requirements}" "${root}/requirements.txt" | sha256sum | cut -c1-16)"
stamp="${venv}/.kubeaccess-packaging"
if [[ "$(cat "${stamp}" 2>/dev/null || true)" != "${wanted}" ]]; then
    echo "packaging-venv: installing ${venv} (${wanted})" >&2
    rm -rf "${venv}"
    "${python}" -m venv "${venv}" >&2
    "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check -r "${requirements}" >&2
    echo "${wanted}" >"${stamp}"
fi
echo "${venv}"
