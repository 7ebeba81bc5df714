"""What `make serve` runs: nginx in front, buffering every request whole, and gunicorn
behind it on a unix socket, with an access log that never shows a whole number."""

import argparse
import getpass
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from dotenv import dotenv_values
from gunicorn.glogging import Logger

from ivr.identity import mask_text

# Atoms of gunicorn's access log that are figures, never a caller's: status, size, time.
FIGURES = ("s", "b", "B", "D", "T", "M", "L", "p", "t")
# A phrase's id fetches its audio, which can speak a balance: only its last 4 are logged.
PHRASE_ID = re.compile(r"(/audio/phrase/)[0-9a-f]{28}([0-9a-f]{4})")


def mask_request(text):
    """Mask a request's numbers and phrase ids to their last 4."""
    return mask_text(PHRASE_ID.sub(r"\1****\2", text))


class MaskedLogger(Logger):
    """Gunicorn's logger, with the request's numbers and phrase ids masked in an access line,
    and its figures (status, size, duration) as they are."""

    def access(self, resp, req, environ, request_time):
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.syslog):
            return
        atoms = self.atoms(resp, req, environ, request_time)
        for name, value in atoms.items():
            if name not in FIGURES and isinstance(value, str):
                atoms[name] = mask_request(value)
        try:
            self.access_log.info(self.cfg.access_log_format % atoms)
        except Exception:  # noqa: BLE001 - as gunicorn's own: a log line never fails a request
            self.exception("failed to write an access log line")


# `make serve`: nginx on HOST:PORT, gunicorn behind it on a unix socket of its run folder.

NGINX_TEMPLATE = Path(__file__).with_name("nginx.conf.in")
STARTUP = 30  # seconds gunicorn may take to import the app and open its socket


def nginx_config(listen, socket_path, run_dir):
    """Render nginx.conf.in: listen on `listen` ("host:port"), pass to gunicorn's socket."""
    # Run as root (a container), nginx's workers would drop to "nobody", who cannot reach
    # gunicorn's socket in the run folder: they stay the launcher's user.
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    text = NGINX_TEMPLATE.read_text(encoding="utf-8")
    for mark, value in (("@USER@", user), ("@RUN@", str(run_dir)), ("@LISTEN@", listen)):
        text = text.replace(mark, value)
    return text.replace("@SOCKET@", str(socket_path))


def trusted_proxies(environ):
    """IVR_PROXIES for gunicorn behind nginx: the operator's (environment or .env), plus one."""
    value = environ.get("IVR_PROXIES") or dotenv_values().get("IVR_PROXIES") or 0
    return int(value) + 1


def serve(host, port, run_dir, gunicorn_args=()):
    """Run gunicorn on a unix socket and nginx in front on host:port until either ends.

    SIGINT or SIGTERM stops both. Returns the exit status of the first that ended.
    """
    nginx = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(path, os.X_OK)), None
    )
    if nginx is None:
        raise SystemExit("nginx is not installed (apt-get install nginx): `make serve` needs it")
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    socket_path = run_dir / "gunicorn.sock"
    socket_path.unlink(missing_ok=True)
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    config = run_dir / "nginx.conf"
    config.write_text(nginx_config(listen, socket_path, run_dir), encoding="utf-8")
    environ = {**os.environ, "IVR_PROXIES": str(trusted_proxies(os.environ))}
    command = [sys.executable, "-m", "gunicorn", "--bind", f"unix:{socket_path}", *gunicorn_args]
    app = subprocess.Popen([*command, "app:app"], env=environ)
    processes = [app]
    try:
        waited = time.monotonic() + STARTUP
        while not socket_path.exists():
            if app.poll() is not None or time.monotonic() > waited:
                return app.returncode or 1
            time.sleep(0.05)
        front = [nginx, "-p", str(run_dir), "-c", str(config), "-g", "daemon off;"]
        processes.append(subprocess.Popen(front))
        return _wait_for_either(processes)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for_either(processes):
    """Wait until a process ends or a stop signal comes; return an exit status."""
    stop = []
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda number, _frame: stop.append(number))
    while not stop:
        for process in processes:
            if process.poll() is not None:
                return process.returncode
        time.sleep(0.2)
    return 0


def main(argv=None):
    """`python -m ivr.serving --host HOST --port PORT [-- gunicorn options]`."""
    parser = argparse.ArgumentParser(prog="python -m ivr.serving", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--run-dir", default="instance/serve", help="nginx's and the socket's")
    parser.add_argument("gunicorn_args", nargs="*", help="passed to gunicorn (after --)")
    options = parser.parse_args(argv)
    return serve(options.host, options.port, options.run_dir, options.gunicorn_args)


if __name__ == "__main__":
    sys.exit(main())
