"""A loopback TCP proxy in front of a server, that a test cuts, restores and slows down.

    with TcpProxy("127.0.0.1", 5432) as proxy:  # the store's URL names proxy.port instead
        proxy.cut()  # open connections drop, new ones are closed as soon as they arrive
        proxy.restore()
        proxy.slow(30)  # every chunk, either way, is held 30 s before it is passed on

A network fault between the app and its database, made on loopback with threads only: the
machine's PostgreSQL server, which other tests share, is never stopped.
"""

import socket
import threading

CHUNK = 65536
POLL = 0.1  # seconds between checks of the accept loop for the proxy's end


class TcpProxy:
    """Forward loopback connections to (host, port) until cut; close() ends everything."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(POLL)
        self.port = self.listener.getsockname()[1]
        self.delay = 0.0
        self.accepting = True
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.links = set()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def cut(self):
        """Drop every open connection and close new ones at once: the server is unreachable."""
        self.accepting = False
        self._drop_all()

    def restore(self):
        """Take connections again, at full speed."""
        self.delay = 0.0
        self.accepting = True

    def slow(self, seconds):
        """Hold every chunk of bytes, either way, this long before passing it on."""
        self.delay = seconds

    def close(self):
        self.closed.set()
        self.accepting = False
        self.thread.join()
        self.listener.close()
        self._drop_all()

    def _drop_all(self):
        with self.lock:
            links, self.links = self.links, set()
        for link in links:
            link.drop()

    def _accept(self):
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            if not self.accepting:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            link = _Link(client, server, self)
            with self.lock:
                self.links.add(link)
            link.start()


class _Link:
    """One proxied connection: two pumps, one per direction, dropped together."""

    def __init__(self, client, server, proxy):
        self.sockets = (client, server)
        self.proxy = proxy
        self.dropped = threading.Event()
        self.lock = threading.Lock()
        for sock in self.sockets:
            sock.settimeout(None)

    def start(self):
        client, server = self.sockets
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        try:
            while not self.dropped.is_set():
                chunk = source.recv(CHUNK)
                if not chunk:
                    break
                if self.proxy.delay and self.dropped.wait(self.proxy.delay):
                    break  # dropped while holding the chunk: it is never delivered
                sink.sendall(chunk)
        except OSError:
            pass
        self.drop()

    def drop(self):
        """Close both ends (once), which also wakes the other pump."""
        with self.lock:
            if self.dropped.is_set():
                return
            self.dropped.set()
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        with self.proxy.lock:
            self.proxy.links.discard(self)
