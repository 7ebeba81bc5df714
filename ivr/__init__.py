"""The 12333 hotline: a Twilio voice webhook app, and an offline softphone to dial it."""

import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr import identity
from ivr.config import DEFAULTS
from ivr.config import DEV_SECRET_KEY
from ivr.config import MIN_SECRET_LENGTH
from ivr.config import from_environment
from ivr.config import utc_now

log = identity.logger(__name__)


def create_app(test_config=None, *, clock=utc_now):
    """Create the hotline app: settings, the hotline (the composition root), webhooks, CLI.

    `clock` is () -> an aware datetime; tests pass one they move by hand.
    """
    app = Flask(__name__, instance_relative_config=True)
    # "/voice//node/main" must reach the line (and hear TwiML), not get werkzeug's 308 redirect.
    app.url_map.merge_slashes = False
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        from dotenv import load_dotenv

        load_dotenv()
        app.config.from_mapping(from_environment())
    else:
        app.config.from_mapping(test_config)
    if not app.config["DATABASE_URL"]:
        os.makedirs(app.instance_path, exist_ok=True)
        path = os.path.join(app.instance_path, "ivr.sqlite3")
        app.config["DATABASE_URL"] = f"sqlite:///{path}"
    if app.config["IVR_VOICE_MODE"] not in ("say", "play"):
        raise ValueError(f"IVR_VOICE_MODE is say or play, not {app.config['IVR_VOICE_MODE']!r}")
    check_security(app.config)
    if app.config["IVR_PROXIES"]:
        proxies = app.config["IVR_PROXIES"]
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )

    from ivr import accounts
    from ivr import actions
    from ivr import audio
    from ivr import flowmap
    from ivr import health
    from ivr import phone_hooks
    from ivr import voice
    from ivr import web
    from ivr.hotline import Hotline
    from ivr.hotline import load_definitions
    from ivr.store import Store
    from ivr.types import Settings

    registry = actions.registry()
    prompts, regions, flow = load_definitions(registry, app.config["IVR_FLOW_FILE"])
    app.extensions["ivr"] = Hotline(
        flow=flow,
        prompts=prompts,
        regions=regions,
        store=Store(
            app.config["DATABASE_URL"],
            timeout=app.config["IVR_DB_TIMEOUT"],
            concurrency=app.config["IVR_STORE_CONCURRENCY"],
        ),
        actions=registry,
        settings=Settings.from_config(app.config),
        clock=clock,
        audio=audio.library_for(app, prompts, clock=clock),
        play=app.config["IVR_VOICE_MODE"] == "play",
    )
    audio.init_app(app)
    voice.init_app(app)
    web.init_app(app)
    health.init_app(app)
    accounts.init_app(app)
    flowmap.init_app(app)
    app.softphone_hooks = phone_hooks.for_hotline(app.extensions["ivr"])
    return app


def check_security(config):
    """Refuse a production line keyed with the public SECRET_KEY; warn about weaker set-ups."""
    token = config["TWILIO_AUTH_TOKEN"]
    if config["SECRET_KEY"] == DEV_SECRET_KEY:
        if token:
            raise ValueError(
                "SECRET_KEY is the public development value while TWILIO_AUTH_TOKEN is set: "
                "set SECRET_KEY to a long random value"
            )
        log.warning("SECRET_KEY is the public development value: set it for a real line")
    elif token and not config.get("TESTING") and len(config["SECRET_KEY"]) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"SECRET_KEY has {len(config['SECRET_KEY'])} characters while TWILIO_AUTH_TOKEN is "
            f"set: it needs {MIN_SECRET_LENGTH} at least (python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))' makes one)"
        )
    if not token:
        log.warning("TWILIO_AUTH_TOKEN is not set: webhook signatures are NOT checked")
    elif not config["IVR_PUBLIC_URL"]:
        log.warning(
            "TWILIO_AUTH_TOKEN is set without IVR_PUBLIC_URL: signatures are checked against "
            "the Host header (and X-Forwarded-* from %d proxies); set IVR_PUBLIC_URL",
            config["IVR_PROXIES"],
        )
