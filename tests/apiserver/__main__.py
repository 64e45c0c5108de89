"""Command line: python -m tests.apiserver --dir DIR [--port N] [--state-file F] ..."""

import argparse
import datetime
import json
import signal
import sys
import threading

from .server import Options, TestAPIServer


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
        return value
    return parse


def _port(text):
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from exc
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is outside 0-65535 (0 picks a free port)")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m tests.apiserver",
        description="Local Kubernetes test API server (HTTPS, x509 and token authn, RBAC, CSR API, signer).")
    parser.add_argument("--dir", required=True,
                        help="work directory: ca.crt, ca.key and admin.kubeconfig are written here")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=0, help="port to listen on (default 0: a free port)")
    parser.add_argument("--state-file", help="keep objects in this JSON file across restarts")
    parser.add_argument("--no-signing", action="store_true",
                        help="never issue certificates (approved but never issued, as on EKS)")
    parser.add_argument("--signing-delay", type=float, default=0.0,
                        help="seconds between approval and issuance (default 0: at once, as the real signer)")
    parser.add_argument("--signer-qps", type=float, default=20.0,
                        help="requests a second the signer's client may make, one per certificate (default 20, as "
                             "kube-controller-manager's --kube-api-qps; 0: no limit)")
    parser.add_argument("--signer-burst", type=_positive(int), default=30,
                        help="requests the signer's client may make at once (default 30, as --kube-api-burst)")
    parser.add_argument("--cluster-signing-duration", type=_positive(float), default=365 * 24,
                        help="maximum certificate lifetime in hours (default 8760, as kube-controller-manager)")
    parser.add_argument("--cleaner-time-scale", type=_positive(float), default=1.0,
                        help="divide the CSR cleaner's periods (1h, 24h) by this factor (default 1)")
    parser.add_argument("--namespace-deletion-delay", type=float, default=5.0,
                        help="seconds a deleted namespace stays Terminating before it and its contents go "
                             "(default 5, as the namespace controller)")
    args = parser.parse_args(argv)
    if args.signing_delay < 0:
        parser.error("--signing-delay must be 0 or more seconds")
    if args.namespace_deletion_delay < 0:
        parser.error("--namespace-deletion-delay must be 0 or more seconds")
    if args.signer_qps < 0:
        parser.error("--signer-qps must be 0 (no limit) or more")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    server = TestAPIServer(Options(
        workdir=args.dir, host=args.host, port=args.port, state_file=args.state_file,
        signing_enabled=not args.no_signing, signing_delay=args.signing_delay, signer_qps=args.signer_qps,
        signer_burst=args.signer_burst, max_signing_duration=datetime.timedelta(hours=args.cluster_signing_duration),
        cleaner_time_scale=args.cleaner_time_scale, namespace_deletion_delay=args.namespace_deletion_delay)).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    print(json.dumps({"url": server.url, "kubeconfig": server.kubeconfig, "ca": server.ca_file}), flush=True)
    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
