# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Same names, aliases and environment variables as kubernetes.core's k8s_auth_options.
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig with the administrator credentials used for API calls.
      - If none of O(kubeconfig), O(context) and O(host) is given, the in-cluster service account is used when
        running in a pod, else C($KUBECONFIG) or C(~/.kube/config).
      - Can also be given with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: path
  context:
    description:
      - The kubeconfig context to use; the kubeconfig's current context by default.
      - Can also be given with the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  host:
    description:
      - URL of the API server, overriding the kubeconfig's; without a kubeconfig, give credentials too.
      - Can also be given with the E(K8S_AUTH_HOST) environment variable.
    type: str
  api_key:
    description:
      - Bearer token for the API.
      - Can also be given with the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate.
      - Can also be given with the E(K8S_AUTH_VERIFY_SSL) environment variable.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to the CA bundle that signed the API server's certificate.
      - Can also be given with the E(K8S_AUTH_SSL_CA_CERT) environment variable.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate for the API.
      - Can also be given with the E(K8S_AUTH_CERT_FILE) environment variable.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the key of O(client_cert).
      - Can also be given with the E(K8S_AUTH_KEY_FILE) environment variable.
    type: path
    aliases: [key_file]
  proxy:
    description:
      - HTTP(S) proxy URL for API calls.
      - Can also be given with the E(K8S_AUTH_PROXY) environment variable.
    type: str
  impersonate_user:
    description:
      - User to impersonate for API calls (needs the C(impersonate) permission).
      - Can also be given with the E(K8S_AUTH_IMPERSONATE_USER) environment variable.
    type: str
  impersonate_groups:
    description:
      - Groups to impersonate for API calls.
      - Can also be given with the E(K8S_AUTH_IMPERSONATE_GROUPS) environment variable, comma-separated.
    type: list
    elements: str
requirements:
  - kubernetes >= 29.0.0
notes:
  - The options and environment variables match C(kubernetes.core)'s, so the same O(kubeconfig) and
    C(module_defaults) serve both; all modules of this collection are in the C(kubeaccess.x509.k8s) action group.
"""
