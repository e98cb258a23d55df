"""The gateway's listening socket."""

from __future__ import annotations

import os
import socket

__all__ = ["listen"]


def listen(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """A non-blocking TCP socket bound to (host, port) and listening; OSError if it cannot be.

    It is made with proto IPPROTO_TCP, not 0 (as `socket.create_server` does): asyncio turns on
    TCP_NODELAY only for sockets that say they are TCP, and accepted sockets inherit the
    listening one's proto. Without it, every answer after the first on a kept-alive connection
    waited ~40 ms: its body sat behind Nagle's algorithm until the client's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name == "posix":  # rebinding right after a restart; Windows means otherwise
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
