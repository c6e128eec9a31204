"""A loopback TCP proxy that holds every new connection before passing it on (a slow link: a busy
GPU box, an SSH tunnel), standard library only. It listens on its own port, so it also stands in for
``ssh -L 9000:localhost:8765`` (the client's Host header names the proxy's port, not the server's).

``host`` rewrites the Host header of each connection's request (to test the server's Host check).
"""

from __future__ import annotations

import re
import socket
import threading
import time


class SlowProxy:
    def __init__(self, target_port: int, hold_s: float = 1.5, host: str | None = None):
        self.target_port, self.hold_s, self.host = target_port, hold_s, host
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        time.sleep(self.hold_s)  # the slow link: nothing moves for hold_s after connecting
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
        except OSError:
            client.close()
            return
        self._open.append(upstream)
        first = self._rewrite_host if self.host else None
        threading.Thread(target=self._pipe, args=(client, upstream, first), daemon=True).start()
        self._pipe(upstream, client, None)

    def _rewrite_host(self, data: bytes) -> bytes:
        return re.sub(rb"(?im)^Host: [^\r\n]*", b"Host: " + self.host.encode(), data, count=1)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, first) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if first is not None:
                    data, first = first(data), None
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        """Stop: shutdown() wakes the threads blocked in accept() and recv() (close() alone does not,
        and the bpy 4.5 module then hangs at exit)."""
        self._stop.set()
        for s in [self.listener, *self._open]:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def __enter__(self) -> SlowProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
