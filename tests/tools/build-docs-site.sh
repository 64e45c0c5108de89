#!/usr/bin/env bash
# Build the collection's HTML documentation site with antsibull-docs and Sphinx: modules, the user_access role,
# the filters, and the extra pages of docs/docsite (playbooks, guides). Offline: no intersphinx inventories.
#
#   tests/tools/build-docs-site.sh              -> tests/output/docs-site/build/html/index.html
#
#   KUBEACCESS_DOCS_VENV   a venv with antsibull-docs, sphinx and sphinx-ansible-theme (and ansible-core) to use;
#                          default: the packaging venv of tests/tools/packaging-venv.sh (made on first use)
#   KUBEACCESS_DOCS_OUT    where the Sphinx project and the site go (default tests/output/docs-site; emptied first)
#
# The collection's docs are linted first (antsibull-docs lint-collection-docs --plugin-docs); any error fails the
# build, and so does any Sphinx warning.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${KUBEACCESS_DOCS_VENV:-$("${root}/tests/tools/packaging-venv.sh")}"
out="${KUBEACCESS_DOCS_OUT:-${root}/tests/output/docs-site}"

# The checkout as the installed collection kubeaccess.x509, in a collections path of its own.
collections="$(mktemp -d)"
trap 'rm -rf "${collections}"' EXIT
mkdir -p "${collections}/ansible_collections/kubeaccess"
ln -s "${root}" "${collections}/ansible_collections/kubeaccess/x509"
export ANSIBLE_COLLECTIONS_PATH="${collections}" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export PATH="${venv}/bin:${PATH}"

echo "# antsibull-docs lint-collection-docs --plugin-docs"
antsibull-docs lint-collection-docs --plugin-docs "${root}"

rm -rf "${out}"
mkdir -p "${out}"
antsibull-docs sphinx-init --use-current --dest-dir "${out}" kubeaccess.x509 >/dev/null
# No network here: intersphinx would try to download the Python and Ansible inventories, and warn (-W fails on it).
# The few labels of Ansible's own documentation that the generated pages use are linked to docs.ansible.com instead.
cat >>"${out}/conf.py" <<'PY'

# tests/tools/build-docs-site.sh: an offline build.
project = 'kubeaccess.x509'
title = html_short_title = 'kubeaccess.x509 collection documentation'
extensions = [extension for extension in extensions if extension != 'sphinx.ext.intersphinx']
intersphinx_mapping = {}
ANSIBLE_DOCS = 'https://docs.ansible.com/projects/ansible/latest/'
ANSIBLE_LABELS = {
    'ansible_configuration_settings': 'reference_appendices/config.html#ansible-configuration-settings',
    'common_return_values': 'reference_appendices/common_return_values.html#common-return-values',
    'action_plugins': 'plugins/action.html#action-plugins',
}


def _link_to_ansible_docs(app, env, node, contnode):
    from docutils import nodes
    target = node.get('reftarget') or ''
    page = ANSIBLE_LABELS.get(target)
    if target.startswith('ansible_collections.ansible.builtin.'):
        plugin, _, kind = target[len('ansible_collections.ansible.builtin.'):].rpartition('_')
        page = f'collections/ansible/builtin/{plugin}_{kind}.html'
    if page is None:
        return None
    reference = nodes.reference('', '', internal=False, refuri=ANSIBLE_DOCS + page)
    reference += contnode
    return reference


def setup(app):
    app.connect('missing-reference', _link_to_ansible_docs)
PY
echo "# antsibull-docs collection + sphinx-build (warnings are errors)"
bash "${out}/build.sh"
test -s "${out}/build/html/collections/kubeaccess/x509/index.html"
echo "# site: ${out}/build/html/index.html"
