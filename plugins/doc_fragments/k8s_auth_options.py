# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Same names, aliases and environment variables as kubernetes.core's k8s_auth_options.
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig with the administrator credentials used for API calls, or the kubeconfig's content as a
        dict (as with C(kubernetes.core)). Relative paths in a dict are relative to the working directory.
      - A dict with no C(current-context) needs O(context).
      - If none of O(kubeconfig), O(context) and O(host) is given, the in-cluster service account is used when
        running in a pod, else the files of C($KUBECONFIG), merged as C(kubectl) merges them (the first file that
        sets a C(current-context) or an entry of a name wins), or C(~/.kube/config).
      - Can also be given with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: raw
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
      - HTTP(S) proxy URL for API calls. Without it, the kubeconfig's C(proxy-url), then C(HTTPS_PROXY) and
        C(NO_PROXY) from the environment, apply.
      - Can also be given with the E(K8S_AUTH_PROXY) environment variable.
    type: str
  no_proxy:
    description:
      - Comma-separated hosts, domains, IP addresses and CIDRs whose API server is reached without the proxy, e.g.
        V(localhost,.example.com,10.0.0.0/8); V(*) for every host. Applies to the proxy in use (O(proxy), the
        kubeconfig's or the environment's), in place of C(NO_PROXY).
      - Can also be given with the E(K8S_AUTH_NO_PROXY) environment variable.
    type: str
  proxy_headers:
    description:
      - Headers sent to the proxy (with the C(CONNECT) of each connection), as C(kubernetes.core) sends them.
      - Each can also be given with its environment variable when O(proxy_headers) does not set it.
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - Colon-separated V(username:password) for the C(Proxy-Authorization) header.
          - Can also be given with the E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH) environment variable.
        type: str
      basic_auth:
        description:
          - Colon-separated V(username:password) for an C(Authorization) header sent to the proxy.
          - Can also be given with the E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH) environment variable.
        type: str
      user_agent:
        description:
          - The C(User-Agent) header sent to the proxy, such as V(foo/1.0).
          - Can also be given with the E(K8S_AUTH_PROXY_HEADERS_USER_AGENT) environment variable.
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
  request_timeout:
    description:
      - Seconds to wait for the answer to each request to the API server (and at most 10 to connect), as
        C(kubectl --request-timeout) does; 60 when not given. Not in C(kubernetes.core).
      - A request with no answer in time is sent again, as after a dropped connection or an overloaded or failing
        server (HTTP 429 or 5xx, after its C(Retry-After)), 5 attempts in all; then the task fails naming the
        server, what happened and for how long.
      - Can also be given with the E(K8S_AUTH_REQUEST_TIMEOUT) environment variable, which sets it for every step
        of the P(kubeaccess.x509.user_access#role) role and the collection's playbooks.
    type: float
requirements:
  - kubernetes >= 29.0.0
notes:
  - The options and environment variables match C(kubernetes.core)'s, so the same O(kubeconfig) and
    C(module_defaults) serve both; all modules of this collection are in the C(kubeaccess.x509.k8s) action group.
  - Key data of a kubeconfig (a file's or a dict's) is written only to files of mode 0600 in a private directory,
    removed when the module ends. Ansible masks only O(api_key) and O(proxy_headers)' credentials in what it logs
    and shows; a dict O(kubeconfig) is shown with C(-vvv) and logged to the system log of the host that runs the
    module, as any other option is. To keep keys and tokens out of those, give a kubeconfig path, or O(host) with
    O(api_key) or O(client_cert) and O(client_key).
"""
