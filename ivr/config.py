"""Defaults and environment variables (a .env file is honoured)."""

import datetime as dt
import os


def utc_now():
    """Return the current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


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
    # Example values: the residents' yearly premium the guide quotes (set per deployment).
    "IVR_RESIDENT_PREMIUM": "400",
    "IVR_RESIDENT_PREMIUM_YEAR": 2026,
    # Keys the hashes that name identifiers in the lockout table; set it in production.
    "SECRET_KEY": "dev-only-not-secret",
    # The web dialer may dial TwiML URLs other than this app's. Off: it would be a
    # server-side request forgery tool in anyone's browser.
    "IVR_DIAL_ANY_URL": False,
    # The browser dialer at /. None: on for a local line (no auth token), off once one is set.
    "IVR_WEB_DIALER": None,
    "IVR_WEB_CALLS_PER_MINUTE": 10,  # calls one address may start a minute
    "IVR_WEB_PINS_PER_MINUTE": 5,  # PIN entries one address may submit a minute
}
INTEGERS = ("IVR_MAX_PIN_TRIES", "IVR_LOCKOUT_MINUTES", "IVR_RESIDENT_PREMIUM_YEAR")
INTEGERS += ("IVR_WEB_CALLS_PER_MINUTE", "IVR_WEB_PINS_PER_MINUTE")
FLAGS = ("IVR_DIAL_ANY_URL", "IVR_WEB_DIALER")
FROM_ENVIRONMENT = (
    "DATABASE_URL", "TWILIO_AUTH_TOKEN", "IVR_PUBLIC_URL", "IVR_VOICE_MODE", "IVR_FLOW_FILE",
    "IVR_AUDIO_DIR", "IVR_AUDIO_CACHE",
    "IVR_DEFAULT_LANG",
    "IVR_MAX_PIN_TRIES", "IVR_LOCKOUT_MINUTES", "IVR_RESIDENT_PREMIUM",
    "IVR_RESIDENT_PREMIUM_YEAR", "SECRET_KEY", "IVR_DIAL_ANY_URL",
    "IVR_WEB_DIALER", "IVR_WEB_CALLS_PER_MINUTE", "IVR_WEB_PINS_PER_MINUTE",
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
        elif name in FLAGS:
            found[name] = value.strip().lower() in ("1", "true", "yes", "on")
        else:
            found[name] = value
    return found
