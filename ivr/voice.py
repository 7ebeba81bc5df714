"""The Twilio webhooks, HTTP only: check the signature, parse, ask the hotline, render TwiML."""

import functools
import io
import re
from urllib.parse import unquote_plus

from flask import Blueprint
from flask import Request
from flask import Response
from flask import current_app
from flask import request
from flask import send_file
from flask import url_for
from flask.sessions import SessionInterface
from werkzeug.exceptions import RequestEntityTooLarge

from ivr import hold_music
from ivr import identity
from ivr import signature
from ivr import twiml
from ivr.calls import STATE_PARAM
from ivr.types import Turn

log = identity.logger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")
MAX_DIGITS = 64  # more than any entry needs; the rest of a flood is dropped at the edge
MAX_QUEUE = 5000  # Twilio's largest queue: a QueuePosition past it is junk, not a place
# A %-escape that is not UTF-8 stays as it came ("%FF"), as werkzeug keeps it.
KEEP_BAD_ESCAPES = "werkzeug.url_quote"
ENCODED_SEPARATOR = re.compile("%(26|3[dD])")  # an "&" or "=" inside a name or value
TRACE_HEADER = "X-IVR-Trace"  # the nodes, keys and exits of a turn, for path coverage
SEALED = "SEALED-STATE"  # stands for the sealed state in a node URL of a template (URL-safe)
# Audio anyone may fetch, signed or not (as /audio): the line's own tune holds no one's data.
UNSIGNED = ("voice.music",)
MUSIC_LOOPS = 2  # plays of the tune (19 s) between two sayings of the caller's place


class WebhookRequest(Request):
    """Flask's request, reading a form as Twilio posts it (urlencoded, with a length) in one
    pass; anything else goes through werkzeug's general parser.

    A body that cannot be read (a malformed chunk, a client gone mid-body) is an empty form,
    and `unreadable` says so: werkzeug would answer 400 and gunicorn's chunk errors a 500.
    """

    unreadable = False

    def _load_form_data(self):
        if "form" in self.__dict__:
            return
        try:
            self._read_form()
        except RequestEntityTooLarge:
            raise  # refused before it is read, by design (MAX_CONTENT_LENGTH)
        except Exception as error:  # noqa: BLE001 - whatever the server's reader raises
            log.warning("a webhook body could not be read (%s)", type(error).__name__)
            fields = self.parameter_storage_class
            self.unreadable = True
            self.__dict__.update(form=fields(), files=fields(), stream=io.BytesIO())

    def _read_form(self):
        environ = self.environ
        kind = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        length = self.content_length  # werkzeug's reading: None when chunked, 0 for junk
        limit = self.max_content_length
        if (
            kind != "application/x-www-form-urlencoded"
            or environ["REQUEST_METHOD"] != "POST"
            or length is None
            or (limit is not None and length > limit)
        ):
            super()._load_form_data()  # werkzeug's way, and its 413 for a body too big
            return
        body = self._get_stream_for_parsing().read(length).decode("utf-8", "replace")
        fields = self.parameter_storage_class
        self.__dict__.update(form=fields(form_fields(body)), files=fields(), stream=io.BytesIO())


def form_fields(body):
    """Split an urlencoded body into (name, value) pairs as werkzeug's form parser does,
    decoding the whole body in one call unless an "&" or "=" is encoded in it."""
    if "%" in body or "+" in body:
        if ENCODED_SEPARATOR.search(body):
            return [
                tuple(
                    unquote_plus(text, errors=KEEP_BAD_ESCAPES) for text in part.partition("=")[::2]
                )
                for part in body.split("&")
                if part
            ]
        body = unquote_plus(body, errors=KEEP_BAD_ESCAPES)
    return [part.partition("=")[::2] for part in body.split("&") if part]


class NoSessions(SessionInterface):
    """No cookie session: a call's state travels sealed in its URLs and the web dialer names
    its calls by id, so no request needs one, and a webhook skips the signed-cookie check."""

    def open_session(self, app, request):
        return None  # Flask hands out its null session

    def save_session(self, app, session, response):
        return None


def fields():
    """The fields Twilio sent: a POST's form, a GET's query string."""
    return request.form if request.method == "POST" else request.args


def keys_from(values):
    """Return the keys a request carries, or None for no input. Junk is kept, to be refused."""
    digits = values.get("Digits")
    if digits is None:
        return None
    digits = digits.strip()[:MAX_DIGITS]
    return digits or None


@functools.lru_cache(maxsize=4096)
def document(lang, slots, gather, queue, hangup, script_root, stateful):
    """The TwiML of a turn's shape, built once per worker: a slot for each phrase, and a
    placeholder for the sealed state. It holds nothing of any caller's."""
    turn = Turn(lang=lang, gather=gather, queue=queue, hangup=hangup)
    urls = functools.partial(node_url, stateful=stateful, script_root=script_root)
    wait_url = url_for("voice.hold", lang=lang) if queue else None
    return twiml.template(turn, slots, urls, state_mark=SEALED, wait_url=wait_url)


@functools.lru_cache(maxsize=256)
def node_url(node, stateful, script_root):
    """The URL a node's input is posted to (the state, if any, as a placeholder)."""
    return url_for("voice.node", node=node, **({STATE_PARAM: SEALED} if stateful else {}))


def reply(spoken):
    """Render what the line says as a 200 TwiML response; its URLs carry the sealed state."""
    turn, speeches = spoken.turn, spoken.speeches
    slots = tuple((speech.lang, speech.path is not None) for speech in speeches)
    parts = document(
        turn.lang, slots, turn.gather, turn.queue, turn.hangup,
        request.script_root, bool(spoken.state),
    )  # fmt: skip
    origin = ""
    if any(played for _, played in slots):
        origin = signature.public_origin(request, current_app.config["IVR_PUBLIC_URL"])
    words = [origin + speech.path if speech.path else speech.text for speech in speeches]
    body = twiml.fill(parts, words, spoken.state or "")
    response = Response(body, status=200, mimetype="text/xml")
    if turn.trace:
        response.headers[TRACE_HEADER] = " ".join(turn.trace)
    return response


def hotline():
    return current_app.extensions["ivr"]


@bp.before_request
def check_signature():
    """Refuse a request whose signature does not match, when an auth token is set.

    A POST whose body cannot be read hears the busy message first: no signature can be
    checked over fields nobody could read, and the busy message tells no one anything.
    """
    # An empty form is the only kind an unreadable body leaves (reading it here, once).
    if request.method == "POST" and not request.form and request.unreadable:
        return reply(hotline().busy())
    token = current_app.config["TWILIO_AUTH_TOKEN"]
    if not token or request.endpoint in UNSIGNED:
        return None
    if signature.is_valid(request, token, current_app.config["IVR_PUBLIC_URL"]):
        return None
    log.warning("refused a webhook with a bad or missing X-Twilio-Signature: %s", request.path)
    return Response("invalid signature", status=403, mimetype="text/plain")


@bp.route("", methods=["GET", "POST"])
def incoming():
    """The Voice URL: a call rings in."""
    values = fields()
    return reply(hotline().start(values.get("CallSid", ""), values.get("To"), values.get("From")))


@bp.route("/node/<node>", methods=["GET", "POST"])
def node(node):
    """A Gather's action (keys) or the redirect after it (no keys) at a node."""
    values = fields()
    sid, to, state = values.get("CallSid", ""), values.get("To"), request.args.get(STATE_PARAM)
    step = hotline().step(sid, node, keys_from(values), state, to=to, caller=values.get("From"))
    return reply(step)


@bp.route("/hold", methods=["GET", "POST"])
def hold():
    """The agents' queue's waitUrl: that they are busy and the caller's place, then music.

    Twilio requests it again each time it has played, with the caller's QueuePosition.
    """
    spoken = hotline().hold(request.args.get("lang"), queue_position(fields()))
    origin = signature.public_origin(request, current_app.config["IVR_PUBLIC_URL"])
    music = origin + url_for("voice.music")
    body = twiml.hold(spoken.turn, spoken.speeches, music, MUSIC_LOOPS, origin)
    return Response(body, status=200, mimetype="text/xml")


@bp.get("/hold/music.wav")
def music():
    """The line's own hold music, which the hold's <Play> fetches; Twilio keeps it cached."""
    return send_file(
        io.BytesIO(hold_music.wav()),
        mimetype="audio/wav",
        etag=hold_music.etag(),
        max_age=86400,
        conditional=True,
    )


def queue_position(values):
    """The caller's place in the queue (1: next) as Twilio sends it, or None for junk."""
    text = (values.get("QueuePosition") or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_QUEUE))):
        return None
    return int(text) if 1 <= int(text) <= MAX_QUEUE else None


@bp.route("/status", methods=["GET", "POST"])
def status():
    """Twilio's status callback: close the call record and forget who the caller was."""
    hotline().end(fields().get("CallSid", ""))
    return Response(twiml.empty(), status=200, mimetype="text/xml")


def not_a_webhook(error):
    """Answer TwiML on any /voice URL that does not exist, so a misconfigured number hears words."""
    if not request.path.startswith(bp.url_prefix):
        return error
    return reply(hotline().busy())


def init_app(app):
    app.request_class = WebhookRequest
    app.session_interface = NoSessions()
    app.register_blueprint(bp)
    app.register_error_handler(404, not_a_webhook)
    app.register_error_handler(405, not_a_webhook)
