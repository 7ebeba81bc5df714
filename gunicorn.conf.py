"""Gunicorn settings for `make serve` (read from this folder; command-line flags override).

Threads, not only processes: a PIN check (scrypt, ~40 ms of CPU on purpose) runs one at a
time per process (identity.HASHING); the PIN entries waiting for it hold threads but no CPU,
and there are threads enough that menu steps still find one beside a flood of PIN entries.
"""

import multiprocessing

workers = multiprocessing.cpu_count()
worker_class = "gthread"
threads = 16
timeout = 20  # Twilio gives up after 15 s; a request still running past this is stuck
graceful_timeout = 10
# Longer than a load balancer's idle timeout (often 60 s): a connection it reuses just as
# gunicorn closes it would fail a webhook (Twilio's 11200).
keepalive = 75
accesslog = "-"
logger_class = "ivr.serving.MaskedLogger"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# Import the app once, in the master, and fork the workers from it: each starts in
# milliseconds instead of importing everything again (a killed worker is back at once), and
# they share its memory. The app checks the schema as it is built and closes that connection,
# so no connection is shared.
preload_app = True


def post_fork(server, worker):
    """Drop any pooled connection a worker inherited, as SQLAlchemy asks of forked processes."""
    hotline = getattr(server.app.wsgi(), "extensions", {}).get("ivr")
    if hotline is not None:  # another app served from this folder has no store of ours
        hotline.store.engine.dispose(close=False)
