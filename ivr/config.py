"""Defaults and environment variables (a .env file is honoured)."""

import datetime as dt
import os


def utc_now():
    """Return the current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


DEV_SECRET_KEY = "dev-only-not-secret"
# The shortest SECRET_KEY a line with TWILIO_AUTH_TOKEN starts with (it keys the sealed
# states and the lockout hashes): secrets.token_urlsafe(32) gives 43 characters.
MIN_SECRET_LENGTH = 16
DEFAULTS = {
    "DATABASE_URL": None,  # None: SQLite in the instance folder
    "TWILIO_AUTH_TOKEN": None,  # set: every webhook must carry a valid X-Twilio-Signature
    "IVR_PUBLIC_URL": None,  # the base URL Twilio calls, when behind a proxy or tunnel
    "IVR_VOICE_MODE": "say",
    "IVR_FLOW_FILE": None,  # None: the hotline's own ivr/flow.toml
    "IVR_AUDIO_DIR": None,  # None: the rendered prompts in audio/
    "IVR_AUDIO_CACHE": None,  # None: assembled phrases in instance/phrases/
    "IVR_DEFAULT_LANG": "zh",
    "IVR_MAX_PIN_TRIES": 3,
    "IVR_LOCKOUT_MINUTES": 30,
    # Wrong PINs one caller (a call, or a real From number within a lockout) may give across
    # different numbers before the call ends: a guesser walks numbers, two PINs each.
    "IVR_MAX_CALLER_PIN_FAILURES": 5,
    # Seconds any store call may wait (connect, statement, lock): well under Twilio's 15 s.
    "IVR_DB_TIMEOUT": 5,
    # Store calls one process runs at once; more are answered busy at once, so that a hung
    # store never holds the threads menu steps need (keep it under gunicorn's 16 threads).
    "IVR_STORE_CONCURRENCY": 12,
    # scrypt cost (N, a power of 2) for PINs the import hashes: 2**14 takes ~30 ms a PIN.
    "IVR_PIN_HASH_COST": 2**14,
    # How many reverse proxies in front of the app set X-Forwarded-*; 0: those headers are
    # ignored, so a client cannot choose the URL a signature is checked against.
    "IVR_PROXIES": 0,
    # Webhook bodies are small; a bigger request gets 413 before it is read.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # Example values: the residents' yearly premium the guide quotes (set per deployment).
    "IVR_RESIDENT_PREMIUM": "400",
    # Keys the hashes that name identifiers in the lockout table and the ids of spoken phrases.
    # The app refuses to start with this public value once TWILIO_AUTH_TOKEN is set.
    "SECRET_KEY": DEV_SECRET_KEY,
    # The web dialer may dial TwiML URLs other than this app's. Off: it would be a
    # server-side request forgery tool in anyone's browser.
    "IVR_DIAL_ANY_URL": False,
    # The browser dialer at /. None: on for a local line (no auth token), off once one is set.
    "IVR_WEB_DIALER": None,
    "IVR_WEB_CALLS_PER_MINUTE": 10,  # calls one address may start a minute
    "IVR_WEB_PINS_PER_MINUTE": 5,  # PIN entries one address may submit a minute
}
INTEGERS = (
    "IVR_MAX_PIN_TRIES", "IVR_LOCKOUT_MINUTES",
    "IVR_MAX_CALLER_PIN_FAILURES", "IVR_PIN_HASH_COST", "IVR_PROXIES",
    "IVR_WEB_CALLS_PER_MINUTE", "IVR_WEB_PINS_PER_MINUTE", "IVR_STORE_CONCURRENCY",
)  # fmt: skip
NUMBERS = ("IVR_DB_TIMEOUT",)
FLAGS = ("IVR_DIAL_ANY_URL", "IVR_WEB_DIALER")
FROM_ENVIRONMENT = (
    "DATABASE_URL", "TWILIO_AUTH_TOKEN", "IVR_PUBLIC_URL", "IVR_VOICE_MODE", "IVR_FLOW_FILE",
    "IVR_AUDIO_DIR", "IVR_AUDIO_CACHE",
    "IVR_DEFAULT_LANG",
    "IVR_MAX_PIN_TRIES", "IVR_LOCKOUT_MINUTES", "IVR_RESIDENT_PREMIUM",
    "SECRET_KEY", "IVR_DIAL_ANY_URL",
    "IVR_WEB_DIALER", "IVR_WEB_CALLS_PER_MINUTE", "IVR_WEB_PINS_PER_MINUTE",
    "IVR_MAX_CALLER_PIN_FAILURES", "IVR_DB_TIMEOUT", "IVR_PIN_HASH_COST", "IVR_PROXIES",
    "IVR_STORE_CONCURRENCY",
)  # fmt: skip


def from_environment(environ=None):
    """Return the settings found in the environment, typed."""
    environ = os.environ if environ is None else environ
    found = {}
    for name in FROM_ENVIRONMENT:
        value = environ.get(name)
        if value in (None, ""):
            continue
        if name in INTEGERS:
            found[name] = int(value)
        elif name in NUMBERS:
            found[name] = float(value)
        elif name in FLAGS:
            found[name] = value.strip().lower() in ("1", "true", "yes", "on")
        else:
            found[name] = value
    return found
