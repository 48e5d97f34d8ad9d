"""A TLS client that behaves like a charger's TLS stack on failure (shared by the core and the
Home Assistant tests of failed TLS handshakes)."""

from __future__ import annotations

import socket
import ssl

LOCALHOST = "127.0.0.1"


def blocking_handshake(
    port: int, context: ssl.SSLContext, server_hostname: str = LOCALHOST
) -> ssl.SSLError | None:
    """A TLS handshake from a blocking socket (run it in a thread). Unlike asyncio's TLS client,
    OpenSSL then sends its alert before giving up (the server learns why); the client's error,
    if any."""
    with socket.create_connection((LOCALHOST, port), timeout=5) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=server_hostname) as tls:
                tls.recv(1)  # TLS 1.3: the server's verdict on our certificate comes after
        except ssl.SSLError as err:
            return err
        except ConnectionError:
            return None
    return None
