#!/usr/bin/env bash
# Run `ansible-test sanity` on the collection with the ansible-core of a venv:
#
#   tests/sanity/run-sanity.sh [VENV] [ansible-test sanity options...]     (VENV: .venv by default, or .venv-2.19 ...)
#
# ansible-test wants the collection under ansible_collections/<namespace>/<name>, so the tracked and
# untracked-but-not-ignored files are copied into a temporary tree of that shape and tested there, with
# --python of the venv's interpreter.
#
# ansible-test installs pip into each sanity test's venv with a get-pip script that it downloads from its bootstrap
# host into ~/.ansible/test/cache/get_pip_<version>.py. When that host cannot be reached (checked first, 5 s), the
# project's own stand-in, tests/sanity/offline_get_pip.py, is put there for each pip version this ansible-test asks
# for; when it can be, a stand-in left in the cache is removed, so that ansible-test downloads the real script.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv=".venv"
if [[ $# -gt 0 && "$1" != -* ]]; then
    venv="$1"
    shift
fi
[[ "${venv}" == /* ]] || venv="${root}/${venv}"
venv_bin="${venv}/bin"
if [[ ! -x "${venv_bin}/ansible-test" ]]; then
    echo "run-sanity.sh: ${venv_bin}/ansible-test not found; make the venv first (make venv, make VENV=... venv)" >&2
    exit 1
fi
python_version="$("${venv_bin}/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
ansible_test_dir="$("${venv_bin}/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')"
stand_in="${root}/tests/sanity/offline_get_pip.py"
cache="${HOME}/.ansible/test/cache"

# The pip versions this ansible-test bootstraps (`pip='25.2'` in its requirements code).
mapfile -t pip_versions < <(grep -hoE "\bpip='[0-9]+(\.[0-9]+)+'" "${ansible_test_dir}"/_internal/*.py \
    | sed -E "s/pip='(.*)'/\1/" | sort -u)
if [[ ${#pip_versions[@]} -eq 0 ]]; then
    echo "run-sanity.sh: no pip='X' found in ${ansible_test_dir}/_internal; ansible-test has changed" >&2
    exit 1
fi

reachable() {
    "${venv_bin}/python" - "$1" <<'EOF'
import sys
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except Exception:  # unreachable, refused, timed out, not found: all the same here
    sys.exit(1)
EOF
}

mkdir -p "${cache}"
for version in "${pip_versions[@]}"; do
    cached="${cache}/get_pip_${version//./_}.py"
    url="https://ci-files.testing.ansible.com/ansible-test/get-pip-${version}.py"
    if reachable "${url}"; then
        if [[ -f "${cached}" ]] && cmp -s "${cached}" "${stand_in}"; then
            rm -f "${cached}"
            echo "run-sanity.sh: ${url} answers; the offline stand-in for pip ${version} is removed from the cache"
        fi
    elif [[ -f "${cached}" && $(wc -c <"${cached}") -gt 1000000 ]] && grep -q '^DATA = b"""' "${cached}"; then
        # pypa's get-pip: pip itself inside (a megabyte and more of base85 DATA), so it works without its host.
        echo "run-sanity.sh: ${url} cannot be reached; the real get-pip already cached for pip ${version} is used"
    else
        if ! cmp -s "${cached}" "${stand_in}" 2>/dev/null; then
            cp "${stand_in}" "${cached}.kubeaccess.$$"
            mv -f "${cached}.kubeaccess.$$" "${cached}"
        fi
        echo "run-sanity.sh: ${url} cannot be reached; pip ${version} is bootstrapped by tests/sanity/offline_get_pip.py"
    fi
done

tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT
dest="${tmp}/ansible_collections/kubeaccess/x509"
mkdir -p "${dest}"

# Copy what git would see (tracked + untracked-but-not-ignored), skipping tracked files deleted in the work tree.
cd "${root}"
git ls-files -z -co --exclude-standard \
    | while IFS= read -r -d '' f; do [[ -e "${f}" || -L "${f}" ]] && printf '%s\0' "${f}"; done \
    | tar --null -T - -cf - \
    | tar -xf - -C "${dest}"

cd "${dest}"
echo "run-sanity.sh: ansible-test sanity with $("${venv_bin}/ansible-test" --version) on Python ${python_version}"
PATH="${venv_bin}:${PATH}" ansible-test sanity --local --python "${python_version}" --color no "$@"
