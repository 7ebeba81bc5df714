"""Serve the app under gunicorn, several worker processes on a free loopback port, for tests;
or any WSGI app in a thread of the test process (`serving_in_thread`).

    with served_app({"DATABASE_URL": url, "TWILIO_AUTH_TOKEN": TOKEN}) as base_url:
        Phone.for_url(base_url + "/voice", token=TOKEN).dial()

Settings travel as environment variables (what an operator sets), so the workers build the app
exactly as `gunicorn app:app` does in production. The server stops when the block ends.
"""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from local_server import free_port  # noqa: F401 - the hotline's tests use both
from local_server import serving_in_thread  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30  # seconds for every worker to import the app


@contextlib.contextmanager
def served_app(settings, workers=4, threads=4):
    """Run `gunicorn app:app` with these settings; yield its base URL; stop it afterwards."""
    port = free_port()
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_", "DATABASE_"))
    }
    environment |= {name: str(value) for name, value in settings.items() if value is not None}
    command = [
        sys.executable, "-m", "gunicorn", "app:app",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
        "--worker-class", "gthread" if threads > 1 else "sync", "--graceful-timeout", "3",
        "--no-control-socket",  # several servers run at once; they would share one socket
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_serving(server, base_url, workers, log)
            yield base_url
        finally:
            # A quick shutdown: the test is done with the server, and a graceful one holds
            # kept-alive connections open 2 s more for requests that will never come.
            server.send_signal(signal.SIGQUIT)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_until_serving(server, base_url, workers, log):
    """Wait until every worker has booted (so the first requests are not all on one)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{_tail(log)}")
        log.seek(0)
        booted = log.read().count(b"Booting worker")
        if booted >= workers:
            try:
                requests.get(base_url + "/voice/status", timeout=5)
                return
            except requests.RequestException:  # not answering yet
                pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not serve within {START_TIMEOUT} s:\n{_tail(log)}")


def _tail(log):
    log.seek(0)
    return log.read().decode(errors="replace")[-2000:]
