"""TLS that requests but does not verify client certificates during the handshake, as kube-apiserver does.

The standard library's ssl module either ignores client certificates or fails the handshake on an unknown CA;
kube-apiserver accepts the handshake and answers 401 from its authenticator. pyOpenSSL's verify callback gives
the same behaviour: the certificate is collected here and verified against the cluster CA per request.
"""

import errno
import io
import socket

from OpenSSL import SSL


def server_context(ca, serving_key, serving_cert):
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.use_certificate(serving_cert)
    context.use_privatekey(serving_key)
    context.check_privatekey()
    # Accept any certificate here; the authenticator decides (unknown CA or expired → 401, not a TLS failure).
    context.set_verify(SSL.VERIFY_PEER, lambda _conn, _cert, _errno, _depth, _ok: True)
    context.add_client_ca(ca.cert)
    context.set_session_id(b"kubeaccess-test-apiserver")
    return context


class _RawTLS(io.RawIOBase):
    def __init__(self, connection):
        super().__init__()
        self._connection = connection

    def readable(self):
        return True

    def readinto(self, buffer):
        try:
            return self._connection.recv_into(buffer)
        except SSL.ZeroReturnError:
            return 0
        except SSL.SysCallError as exc:
            if exc.args[0] in (-1, errno.ECONNRESET, errno.EPIPE):
                return 0
            raise


class TLSStream:
    """What socketserver's StreamRequestHandler needs from a connected socket, over a pyOpenSSL connection."""

    def __init__(self, connection):
        self.connection = connection
        self.peer_certificate = connection.get_peer_certificate(as_cryptography=True)

    def makefile(self, mode="rb", buffering=-1):
        if "r" not in mode:
            raise ValueError("only read streams are made from a TLS connection")
        return io.BufferedReader(_RawTLS(self.connection), buffering if buffering > 0 else io.DEFAULT_BUFFER_SIZE)

    def sendall(self, data):
        try:
            self.connection.sendall(bytes(data))
        except (SSL.SysCallError, SSL.ZeroReturnError) as exc:
            raise ConnectionResetError(str(exc)) from exc

    def settimeout(self, _value):
        """Blocking connections only: pyOpenSSL raises WantRead on sockets with a timeout."""

    def drop(self):
        """Close the TCP connection abruptly, without a TLS close_notify (fault injection)."""
        raw = self.connection
        try:
            raw.sock_shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raw.close()

    def shutdown(self, _how):
        try:
            self.connection.shutdown()
        except SSL.Error:
            pass

    def close(self):
        try:
            self.connection.close()
        except SSL.Error:
            pass


def accept(context, sock):
    # As Go's net/http (kube-apiserver): without it, Nagle holds each response behind the client's delayed ACK,
    # about 40 ms per request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connection = SSL.Connection(context, sock)
    connection.set_accept_state()
    connection.do_handshake()
    return TLSStream(connection)
