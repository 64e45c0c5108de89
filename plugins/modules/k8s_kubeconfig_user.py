#!/usr/bin/python
# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_kubeconfig_user
short_description: Write or merge one user's cluster, user and context into a kubeconfig, safely
version_added: 0.1.0
author:
  - kubeaccess maintainers (@kubeaccess)
description:
  - Writes a user's client certificate and key, the cluster's server URL and CA, and a context joining them into
    the kubeconfig O(path), like C(kubectl config set-cluster/set-credentials/set-context --embed-certs), or
    removes them again.
  - Merging keeps every other cluster, user and context, the preferences, extensions and current-context
    untouched and in their order; this user's entries are replaced where they stand, or appended. Entries of
    several clusters live side by side in one file.
  - The server and CA come from the admin connection (the auth options), read locally from its kubeconfig without
    any API call; the CA can also come from a file or from the C(kube-root-ca.crt) ConfigMap.
  - The file is written atomically, mode 0600 from the first byte, under a lock held from the read to the write,
    so that concurrent runs merging into one file lose nothing. It is not written at all when its content would
    not change. A file that is not a kubeconfig is never overwritten.
  - With O(verify), the API server is asked who the new credentials are, and the task fails unless it sees the
    user and the expected groups; this is asked before the file is written, so that a kubeconfig that fails
    verification is not written (or not changed), and the next run checks it again.
  - O(users) takes a list of users in one task, which is much faster than a loop.
extends_documentation_fragment:
  - kubeaccess.x509.k8s_auth_options
  - kubeaccess.x509.attributes
  - kubeaccess.x509.attributes.ACTION_GROUP
  - kubeaccess.x509.batch
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written, not even the lock file or a missing directory. The client certificate and key may be
        missing in check mode (a request task in check mode makes none); the result then says the file would
        change. O(verify) runs in check mode too, when they exist.
  diff_mode:
    support: full
    details:
      - Shows the kubeconfig before and after as YAML. Keys, tokens and passwords are replaced by
        C(<redacted>), certificates and CA bundles by their length and SHA-256; the private key never appears.
options:
  path:
    description:
      - The kubeconfig to write or merge into, on the host the module runs on. A missing directory is created
        with mode 0700. A symlink is followed.
      - Required, at the top level or in every item of O(users).
    type: path
  state:
    description:
      - V(present) writes the cluster, user and context entries.
      - V(absent) removes the user entry and the context named by O(name_format), and the cluster entry only when
        no remaining context uses it; a current-context that pointed at the removed context is cleared. Nothing
        else is touched, and a missing file stays missing.
    type: str
    choices: [present, absent]
    default: present
  user:
    description:
      - The Kubernetes user name, the CN of the client certificate (which must match).
      - Used in the entry names (see O(name_format)) and by O(verify).
      - Required with O(state=present).
    type: str
  cluster:
    description:
      - Short name of the cluster, for example V(prod); the cluster entry is named after it, and it is the
        C({cluster}) of O(name_format).
      - Defaults to the cluster of the admin connection's context (O(context), else the current one) in its
        kubeconfig, else V(kubernetes).
    type: str
  name_format:
    description:
      - Name of the user entry and of the context. C({user}) and C({cluster}) are replaced by O(user) and
        O(cluster).
    type: str
    default: "{user}@{cluster}"
  server:
    description:
      - URL of the API server written into the cluster entry (C(https://...)).
      - Defaults to the admin connection's server.
    type: str
  ca_source:
    description:
      - Where the cluster CA written as C(certificate-authority-data) comes from.
      - V(connection) is the CA the admin connection trusts (O(ca_cert), or the admin kubeconfig's
        C(certificate-authority-data) or C(certificate-authority)). The task fails if it has none.
      - V(file) is O(ca_file).
      - V(configmap) is C(data["ca.crt"]) of the ConfigMap C(kube-root-ca.crt) in O(ca_configmap_namespace), read
        with the admin connection (C(get) on C(configmaps)), once per task.
    type: str
    choices: [connection, file, configmap]
    default: connection
  ca_file:
    description: PEM CA bundle to embed, with O(ca_source=file).
    type: path
  ca_configmap_namespace:
    description: Namespace of the C(kube-root-ca.crt) ConfigMap, with O(ca_source=configmap).
    type: str
    default: default
  client_certificate_path:
    description:
      - The user's PEM client certificate, for example RV(kubeaccess.x509.k8s_csr_request#module:certificate)
        stored by M(kubeaccess.x509.k8s_csr_request). Its CN must be O(user).
      - Required with O(state=present).
    type: path
  client_key_path:
    description:
      - The private key of O(client_certificate_path), unencrypted PEM (kubectl cannot use an encrypted key).
      - Required with O(state=present).
    type: path
  embed_credentials:
    description:
      - V(true) embeds the certificate and key (C(client-certificate-data), C(client-key-data)), so the
        kubeconfig stands alone.
      - V(false) references O(client_certificate_path) and O(client_key_path) (C(client-certificate),
        C(client-key)) as absolute paths; a renewed certificate is then picked up without rewriting the file.
    type: bool
    default: true
  namespace:
    description: Default namespace of the context.
    type: str
  current_context:
    description:
      - When to make this context the file's current-context.
      - V(if_unset) when the file has none, so that a new kubeconfig works with plain C(kubectl).
      - V(always) every time; V(never) leaves it alone.
    type: str
    choices: [always, if_unset, never]
    default: if_unset
  backup:
    description:
      - Keep a timestamped copy of an existing file before changing it, and return its name in
        RV(backup_file). The copy holds the same secrets, with the same permissions.
    type: bool
    default: false
  verify:
    description:
      - With O(state=present), call the API server with the new credentials (the files given, so this works in
        check mode when they exist) and fail unless it sees O(user) and every group of O(expected_groups).
      - Asks a C(SelfSubjectReview) (C(authentication.k8s.io/v1), else C(v1beta1)). On servers with neither, a
        C(SelfSubjectAccessReview) that the server accepts (201) proves that it authenticates the credentials,
        and the certificate's subject supplies the user name and groups.
      - The check comes before the write. An entry whose credentials fail it is not written (the file keeps what
        it had), the item fails, and the other items of the file are written.
    type: bool
    default: false
  verify_only_if_changed:
    description:
      - With O(verify), verify only when this task changes the entries (a new certificate always does), so that a
        run with nothing to do makes no API request.
    type: bool
    default: false
  expected_groups:
    description:
      - Groups the API server must see with O(verify) (ignored without). Defaults to the certificate's O fields.
    type: list
    elements: str
  expected_access:
    description:
      - With O(verify), what the new credentials must be allowed and forbidden to do, each checked like
        C(kubectl auth can-i) with a C(SelfSubjectAccessReview) made with those credentials.
      - "For example C({verb: list, resource: pods, namespace: dev, allowed: true}) and
        C({verb: list, resource: secrets, namespace: kube-system, allowed: false})."
    type: list
    elements: dict
    default: []
    suboptions:
      verb:
        description: The verb, such as V(get), V(list), V(create), V(delete).
        type: str
        required: true
      resource:
        description: The resource (plural), such as V(pods) or V(deployments).
        type: str
        required: true
      group:
        description: The API group (V(apps) for deployments); empty for the core group.
        type: str
        default: ""
      subresource:
        description: A subresource, such as V(log).
        type: str
        default: ""
      name:
        description: One object's name.
        type: str
        default: ""
      namespace:
        description: The namespace; empty for cluster-scoped resources or all namespaces.
        type: str
        default: ""
      allowed:
        description: Whether the action must be allowed (V(true)) or forbidden (V(false)).
        type: bool
        required: true
  mode:
    description:
      - Permissions of the kubeconfig. Defaults to V('0600'), whatever the file had before, because it holds a
        private key.
  owner:
    description:
      - Owner of the kubeconfig. An existing file keeps its owner when this is not set.
  group:
    description:
      - Group of the kubeconfig. An existing file keeps its group when this is not set.
  users:
    description:
      - The batch form, several users (or the same user in several files) in one task. Each item takes O(path),
        O(user), O(cluster), O(name_format), O(server), O(ca_source), O(ca_file), O(ca_configmap_namespace),
        O(client_certificate_path), O(client_key_path), O(embed_credentials), O(namespace), O(current_context),
        O(state), O(backup), O(verify), O(verify_only_if_changed), O(expected_groups) and O(expected_access); what
        an item leaves out comes from the top level, so top-level values are the defaults of every item.
      - The auth options and the file options (O(mode), O(owner), ...) are top-level only. The admin connection,
        and the ConfigMap CA, are read once for all items.
      - Items that write the same file are applied in one locked read-modify-write, in list order. In diff mode,
        each file has one diff, in the result of the first item that writes it.
      - Every item is checked before any is done; bad input in any item fails the task with nothing changed,
        naming the item as C(users[i]). Otherwise every item is done, and the task fails afterwards naming each
        item that failed.
    type: list
    elements: dict
notes:
  - YAML comments and formatting of a merged file are not kept (kubectl does not keep them either); the content
    and order of everything that is not this user's is.
  - The lock is C(fcntl) on a sidecar file C(.<name>.kubeaccess-lock) next to the kubeconfig, which stays.
    It is not C(<name>.lock), which kubectl itself creates and removes while it writes.
  - An empty file is treated as an empty kubeconfig.
seealso:
  - module: kubeaccess.x509.k8s_csr_request
  - module: kubeaccess.x509.k8s_csr_approve
  - name: Organizing cluster access using kubeconfig files
    description: The kubeconfig format, contexts and how kubectl merges files.
    link: https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/
requirements:
  - cryptography >= 42.0.0
  - PyYAML
"""

EXAMPLES = r"""
- name: Give rahul a kubeconfig for prod, proving that the cluster accepts it
  kubeaccess.x509.k8s_kubeconfig_user:
    kubeconfig: ~/.kube/admin.conf
    path: /srv/kubeaccess/rahul/kubeconfig
    user: rahul
    cluster: prod
    namespace: dev
    client_certificate_path: /srv/kubeaccess/rahul/rahul.crt
    client_key_path: /srv/kubeaccess/rahul/rahul.key
    verify: true
    expected_groups: [developers]

- name: Add the staging cluster to the same file, next to prod
  kubeaccess.x509.k8s_kubeconfig_user:
    kubeconfig: ~/.kube/staging-admin.conf
    path: /srv/kubeaccess/rahul/kubeconfig
    user: rahul
    cluster: staging
    ca_source: configmap
    client_certificate_path: /srv/kubeaccess/rahul/staging.crt
    client_key_path: /srv/kubeaccess/rahul/staging.key

- name: One task for a whole team, one kubeconfig each
  kubeaccess.x509.k8s_kubeconfig_user:
    cluster: prod
    verify: true
    users:
      - user: rahul
        path: /srv/kubeaccess/rahul/kubeconfig
        client_certificate_path: /srv/kubeaccess/rahul/rahul.crt
        client_key_path: /srv/kubeaccess/rahul/rahul.key
      - user: seema
        path: /srv/kubeaccess/seema/kubeconfig
        client_certificate_path: /srv/kubeaccess/seema/seema.crt
        client_key_path: /srv/kubeaccess/seema/seema.key
        namespace: app1
  register: kubeconfigs

- name: Take rahul's prod entries out of a shared kubeconfig, keeping a copy
  kubeaccess.x509.k8s_kubeconfig_user:
    path: /srv/kubeaccess/shared/kubeconfig
    user: rahul
    cluster: prod
    state: absent
    backup: true
"""

RETURN = r"""
path:
  description: The kubeconfig written (or that would be written in check mode).
  returned: always
  type: str
  sample: /srv/kubeaccess/rahul/kubeconfig
cluster_name:
  description: Name of the cluster entry.
  returned: always
  type: str
  sample: prod
user_name:
  description: Name of the user entry.
  returned: always
  type: str
  sample: rahul@prod
context_name:
  description: Name of the context.
  returned: always
  type: str
  sample: rahul@prod
current_context:
  description: The file's current-context after the task (empty when it has none).
  returned: always
  type: str
  sample: rahul@prod
backup_file:
  description: The copy made by O(backup) before the file was changed.
  returned: when a backup was made
  type: str
  sample: /srv/kubeaccess/rahul/kubeconfig.4242.2026-05-04@10:00:00~
verified:
  description: What the API server saw when it was called with the new credentials.
  returned: when O(verify) ran
  type: dict
  contains:
    username:
      description: The user name the server authenticated.
      type: str
      sample: rahul
    groups:
      description: The groups the server authenticated (from the certificate with a C(SelfSubjectAccessReview)).
      type: list
      elements: str
      sample: [developers, system:authenticated]
    method:
      description: V(SelfSubjectReview/v1), V(SelfSubjectReview/v1beta1) or V(SelfSubjectAccessReview).
      type: str
      sample: SelfSubjectReview/v1
    access:
      description: Each O(expected_access) check, as C(verb resource [in namespace]) and whether it is allowed.
      type: list
      elements: dict
      sample: [{"check": "list pods in dev", "allowed": true}]
results:
  description: With O(users), the result of each item in order, with the keys above plus C(changed) (and
    C(failed) and C(msg) for an item that failed), and the item's C(user), C(path) and C(cluster), which tell whose
    it is.
  returned: when O(users) is given
  type: list
  elements: dict
failed_items:
  description: With O(continue_on_error), how many items failed.
  returned: when O(continue_on_error) is set and items failed
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubeaccess.x509.plugins.module_utils.backends.kubeconfig_user import MODULE_ARGS, run


def main():
    run(AnsibleModule(**MODULE_ARGS))


if __name__ == "__main__":
    main()
