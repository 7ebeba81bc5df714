"""The 12333 hotline: a Twilio voice webhook app, and an offline softphone to dial it."""

import os
from types import SimpleNamespace

from flask import Flask

from ivr import actions
from ivr import dialog
from ivr import identity
from ivr.config import DEFAULTS
from ivr.config import from_environment
from ivr.flow import FLOW_FILE
from ivr.flow import load_flow
from ivr.prompts import load_prompts
from ivr.regions import load_regions

log = identity.logger(__name__)


def load_hotline(flow_file=None):
    """Load the regions, prompts and flow, checked against each other and the code."""
    prompts = load_prompts()
    regions = load_regions()
    required = set(dialog.PROMPTS) | set(actions.PROMPTS)
    required |= {f"region_{key}" for key in regions.by_key}
    prompts.check(required)
    keys = {lang: prompts.keys(lang) for lang in prompts.texts}
    flow = load_flow(flow_file or FLOW_FILE, actions=actions.outcomes(), prompt_keys=keys)
    return SimpleNamespace(flow=flow, prompts=prompts, regions=regions)


def create_app(test_config=None):
    """Create the hotline app: settings, store, call flow, webhooks and CLI commands."""
    app = Flask(__name__, instance_relative_config=True)
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
    if not app.config["TWILIO_AUTH_TOKEN"]:
        log.warning("TWILIO_AUTH_TOKEN is not set: webhook signatures are NOT checked")

    app.extensions["ivr"] = load_hotline(app.config["IVR_FLOW_FILE"])

    from ivr import accounts
    from ivr import audio
    from ivr import flowmap
    from ivr import store
    from ivr import voice
    from ivr import web

    store.init_app(app)
    audio.init_app(app)
    voice.init_app(app)
    web.init_app(app)
    accounts.init_app(app)
    flowmap.init_app(app)
    return app
