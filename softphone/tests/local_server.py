"""Serve any WSGI app from a thread of the test process, on a free loopback port."""

import contextlib
import socket
import threading

from werkzeug.serving import make_server

# How often a server in a thread looks for its shutdown: the default 0.5 s was waited out at
# the end of every test that served one.
SHUTDOWN_POLL = 0.01


def free_port():
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving_in_thread(wsgi, host="127.0.0.1"):
    """Serve a WSGI app from a thread on a free port of `host`; yield its base URL; stop it."""
    server = make_server(host, 0, wsgi, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL}, daemon=True
    )
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
