"""The Twilio webhooks: thin routes, a signature check, and never a 500 on the line."""

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g  # TEMP-TRACE
from flask import request
from flask import url_for

from ivr import audio
from ivr import dialog
from ivr import identity
from ivr import signature
from ivr import twiml
from ivr.actions import Env
from ivr.calls import Call
from ivr.calls import end_call
from ivr.calls import load_call
from ivr.calls import new_call
from ivr.calls import save_call
from ivr.identity import mask
from ivr.store import get_store

log = identity.logger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")
MAX_DIGITS = 64  # more than any entry needs; the rest of a flood is dropped at the edge


def hotline():
    """Return the app's loaded flow, prompts and regions."""
    return current_app.extensions["ivr"]


def xml(body):
    headers = {"X-IVR-Trace": " ".join(g.get("ivr_trace", ()))}  # TEMP-TRACE
    return Response(body, status=200, mimetype="text/xml", headers=headers)


def keys_from(values):
    """Return the keys a request carries, or None for no input. Junk is kept, to be refused."""
    digits = values.get("Digits")
    if digits is None:
        return None
    digits = digits.strip()[:MAX_DIGITS]
    return digits or None


def speech(lang, phrase, play):
    """A phrase as text, and in play mode as the URL of its recorded audio."""
    text = hotline().prompts.text(lang, phrase)
    if not play:
        return twiml.Speech(text)
    try:
        path = audio.library().url_path(lang, phrase, get_store())
    except audio.AudioError as error:
        log.warning("play mode: %s; speaking this phrase with <Say>", error)
        return twiml.Speech(text)
    return twiml.Speech(
        text, signature.public_origin(request, current_app.config["IVR_PUBLIC_URL"]) + path
    )


def speak(turn):
    """Render a turn as TwiML, with <Say> or (play mode) <Play> of recorded audio."""
    play = current_app.config["IVR_VOICE_MODE"] == "play"
    g.ivr_trace = g.get("ivr_trace", ()) + turn.trace  # TEMP-TRACE
    speeches = [speech(turn.lang, phrase, play) for phrase in turn.phrases]
    return twiml.render(turn, speeches, lambda node: url_for("voice.node", node=node))


def new_env():
    config = current_app.config
    return Env(get_store(), hotline().regions, config, config["IVR_CLOCK"]())


def fresh_call(values, env):
    line = hotline().regions.for_dialled(values.get("To")).key
    return new_call(values.get("CallSid", ""), env.config["IVR_DEFAULT_LANG"], line, env.now)


def answer(node=None):
    """Run one webhook's dialog; any failure ends the call with the busy message, as TwiML."""
    values = request.values
    env = new_env()
    call = None
    try:
        if node is not None:
            call = load_call(env.store, values.get("CallSid", ""))
        if call is None or call.ended_at:  # a new call, or an unknown CallSid: start afresh
            call = fresh_call(values, env)
            turn = dialog.start(hotline().flow, call, env)
        else:
            turn = dialog.step(hotline().flow, node, keys_from(values), call, env)
        save_call(env.store, call, env.now)
        return xml(speak(turn))
    except Exception:
        log.exception(
            "call %s failed; the caller hears the busy message", mask(values.get("CallSid"))
        )
        return xml(busy(call or fresh_call(values, env), env))


def busy(call, env):
    """Return the busy message and a hang-up, without touching the store."""
    try:
        return speak(dialog.fail(hotline().flow, call, env))
    except Exception:
        log.exception("the busy message failed too; hanging up")
        return twiml.hangup()


@bp.before_request
def check_signature():
    """Refuse a request whose signature does not match, when an auth token is set."""
    token = current_app.config["TWILIO_AUTH_TOKEN"]
    if not token:
        return None
    if signature.is_valid(request, token, current_app.config["IVR_PUBLIC_URL"]):
        return None
    log.warning("refused a webhook with a bad or missing X-Twilio-Signature: %s", request.path)
    return Response("invalid signature", status=403, mimetype="text/plain")


@bp.route("", methods=["GET", "POST"])
def incoming():
    """The Voice URL: a call rings in."""
    return answer()


@bp.route("/node/<node>", methods=["GET", "POST"])
def node(node):
    """A Gather's action (keys) or the redirect after it (no keys) at a node."""
    return answer(node)


@bp.route("/status", methods=["GET", "POST"])
def status():
    """Twilio's status callback: close the call record and forget who the caller was."""
    env = new_env()
    try:
        end_call(env.store, request.values.get("CallSid", ""), env.now)
    except Exception:
        log.exception("could not close call %s", mask(request.values.get("CallSid")))
    return xml(twiml.empty())


def not_a_webhook(error):
    """Answer TwiML on any /voice URL that does not exist, so a misconfigured number hears words."""
    if not request.path.startswith(bp.url_prefix):
        return error
    env = new_env()
    return xml(
        busy(Call(call_sid="", lang=env.config["IVR_DEFAULT_LANG"], line=env.regions.default), env)
    )


def init_app(app):
    app.register_blueprint(bp)
    app.register_error_handler(404, not_a_webhook)
    app.register_error_handler(405, not_a_webhook)
