"""The Twilio webhooks, HTTP only: check the signature, parse, ask the hotline, render TwiML."""

import functools

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request
from flask import url_for

from ivr import identity
from ivr import signature
from ivr import twiml
from ivr.calls import STATE_PARAM
from ivr.types import Turn

log = identity.logger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")
MAX_DIGITS = 64  # more than any entry needs; the rest of a flood is dropped at the edge
TRACE_HEADER = "X-IVR-Trace"  # the nodes, keys and exits of a turn, for path coverage
SEALED = "SEALED-STATE"  # stands for the sealed state in a cached document (URL-safe)


def keys_from(values):
    """Return the keys a request carries, or None for no input. Junk is kept, to be refused."""
    digits = values.get("Digits")
    if digits is None:
        return None
    digits = digits.strip()[:MAX_DIGITS]
    return digits or None


@functools.lru_cache(maxsize=4096)
def document(lang, speeches, gather, queue, hangup, origin, script_root, stateful):
    """The TwiML of a turn, with a placeholder where the sealed state goes.

    The same turn (a menu, in one language, on one line) is rendered once per worker and
    reused; a turn that holds anything of a caller's is never cached (see `reply`).
    """
    turn = Turn(lang=lang, gather=gather, queue=queue, hangup=hangup)
    return twiml.render(turn, speeches, lambda node: node_url(node, stateful, script_root), origin)


@functools.lru_cache(maxsize=256)
def node_url(node, stateful, script_root):
    """The URL a node's input is posted to (the state, if any, as a placeholder)."""
    return url_for("voice.node", node=node, **({STATE_PARAM: SEALED} if stateful else {}))


def reply(spoken):
    """Render what the line says as a 200 TwiML response; its URLs carry the sealed state."""
    origin = signature.public_origin(request, current_app.config["IVR_PUBLIC_URL"])
    turn = spoken.turn  # keyed by what the document holds: not the phrases, not the trace
    render = document if spoken.shareable else document.__wrapped__
    body = render(
        turn.lang, spoken.speeches, turn.gather, turn.queue, turn.hangup,
        origin, request.script_root, bool(spoken.state),
    )  # fmt: skip
    if spoken.state:
        body = body.replace(SEALED, spoken.state)
    response = Response(body, status=200, mimetype="text/xml")
    if spoken.turn.trace:
        response.headers[TRACE_HEADER] = " ".join(spoken.turn.trace)
    return response


def hotline():
    return current_app.extensions["ivr"]


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
    values = request.values
    return reply(hotline().start(values.get("CallSid", ""), values.get("To"), values.get("From")))


@bp.route("/node/<node>", methods=["GET", "POST"])
def node(node):
    """A Gather's action (keys) or the redirect after it (no keys) at a node."""
    values = request.values
    sid, to, state = values.get("CallSid", ""), values.get("To"), request.args.get(STATE_PARAM)
    step = hotline().step(sid, node, keys_from(values), state, to=to, caller=values.get("From"))
    return reply(step)


@bp.route("/status", methods=["GET", "POST"])
def status():
    """Twilio's status callback: close the call record and forget who the caller was."""
    hotline().end(request.values.get("CallSid", ""))
    return Response(twiml.empty(), status=200, mimetype="text/xml")


def not_a_webhook(error):
    """Answer TwiML on any /voice URL that does not exist, so a misconfigured number hears words."""
    if not request.path.startswith(bp.url_prefix):
        return error
    return reply(hotline().busy())


def init_app(app):
    app.register_blueprint(bp)
    app.register_error_handler(404, not_a_webhook)
    app.register_error_handler(405, not_a_webhook)
