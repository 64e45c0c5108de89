#!/usr/bin/env bash
# Run `ansible-test sanity` on the collection without network access to the pip bootstrap host.
# ansible-test wants the collection under ansible_collections/<namespace>/<name>, so the tracked and
# untracked-but-not-ignored files are copied into a temporary tree of that shape and tested there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv_bin="${root}/.venv/bin"
cd "${root}"

# ansible-test fetches a get-pip script from a host we cannot reach; use the offline stand-in.
"${venv_bin}/python" ../shared/tools/get_pip_bootstrap.py --install

tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT
dest="${tmp}/ansible_collections/kubeaccess/x509"
mkdir -p "${dest}"

# Copy what git would see (tracked + untracked-but-not-ignored), skipping tracked files deleted in the work tree.
git ls-files -z -co --exclude-standard \
    | while IFS= read -r -d '' f; do [[ -e "${f}" || -L "${f}" ]] && printf '%s\0' "${f}"; done \
    | tar --null -T - -cf - \
    | tar -xf - -C "${dest}"

cd "${dest}"
PATH="${venv_bin}:${PATH}" ansible-test sanity --local --python 3.11 --color no "$@"
