"""The browser dialer: a phone page, and a JSON API that runs the softphone on the server.

The page holds no call logic: each key goes to the server, where the softphone's
interpreter (the same engine as the terminal's) applies Twilio's rules. A call lives in
this process's memory under an unguessable id, so run the dialer with one worker (or
sticky sessions); idle calls are hung up and forgotten.
"""

import datetime as dt
import secrets
import threading

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import jsonify
from flask import make_response
from flask import render_template
from flask import request

from ivr import identity
from ivr.softphone import dialer
from ivr.softphone.interpreter import Call
from ivr.softphone.interpreter import Keys

log = identity.logger(__name__)
bp = Blueprint("web", __name__)
DTMF = frozenset("0123456789*#")
IDLE = dt.timedelta(minutes=10)  # a call nobody touched for this long was abandoned
MAX_CALLS = 100  # browser calls at once in this process; more would only eat memory


class Session:
    """One browser call: the softphone call and the keys pressed at the waiting prompt."""

    def __init__(self, call, now):
        self.call = call
        self.keys = ""
        self.first_at = None
        self.touched = now
        self.lock = threading.Lock()


class Sessions:
    """The calls in progress, by id; each browser call is its own."""

    def __init__(self):
        self.calls = {}
        self.lock = threading.Lock()

    def add(self, session, now):
        """Keep a new call; None when too many are in progress."""
        self.expire(now)
        call_id = secrets.token_urlsafe(16)
        with self.lock:
            if len(self.calls) >= MAX_CALLS:
                return None
            self.calls[call_id] = session
        return call_id

    def get(self, call_id, now):
        self.expire(now)
        with self.lock:
            session = self.calls.get(call_id)
        if session is not None:
            session.touched = now
        return session

    def drop(self, call_id):
        with self.lock:
            self.calls.pop(call_id, None)

    def expire(self, now):
        """Hang up and forget the calls left idle too long (a closed tab never says goodbye)."""
        with self.lock:
            stale = [key for key, session in self.calls.items() if now - session.touched > IDLE]
            for key in stale:
                self.calls.pop(key).call.hangup()
        if stale:
            log.info("hung up %d abandoned browser calls", len(stale))


def sessions():
    return current_app.extensions["ivr.web"]


def now():
    return current_app.extensions["ivr"].clock()


def problem(status, message):
    return jsonify({"error": message}), status


def shown(event, origin):
    """An event for the page; a played file of ours carries the words it says."""
    data = event.as_dict()
    url = data.get("url") or ""
    if event.kind == "play" and url.startswith(origin + "/audio/"):
        try:
            data["text"] = current_app.extensions["ivr"].words(url[len(origin) :])
        except Exception:  # noqa: BLE001 - words are a courtesy; the audio still plays
            log.exception("no words for %s", url)
    return data


def state(call_id, session):
    """What the page shows: every event so far, what the call waits for, the keys typed."""
    call = session.call
    origin = request.host_url.rstrip("/")
    expects = call.expects()
    typed = session.keys
    if expects and expects.get("secret"):
        typed = "•" * len(session.keys)
    return jsonify(
        {
            "id": call_id,
            "events": [shown(event, origin) for event in call.events],
            "expects": expects,
            "typed": typed,
            "ended": call.ended,
            "status": call.status,
            "clock": round(call.t, 2),
        }
    )


def find(call_id):
    """Return the browser call with this id, or raise a 404 the page can show."""
    session = sessions().get(call_id, now())
    if session is None:
        abort(make_response(jsonify({"error": "no such call (it ended or expired)"}), 404))
    return session


def complete(keys, expects):
    """Whether the keys typed so far end the waiting Gather at once (finish key or numDigits)."""
    if not keys:
        return False
    if keys[-1] in (expects.get("finish_on_key") or ""):
        return True
    return bool(expects.get("num_digits")) and len(keys) >= expects["num_digits"]


def submit(session, keys):
    """Hand the typed keys (or silence) to the waiting prompt."""
    session.call.send(Keys(keys=keys, at=session.first_at if keys else None))
    session.keys, session.first_at = "", None


@bp.get("/")
def page():
    """The phone."""
    return render_template(
        "dialer.html", dial_any=current_app.config["IVR_DIAL_ANY_URL"], number="12333"
    )


@bp.post("/dialer/api/calls")
def start():
    """Dial: the hotline in-process, or (when the operator allows it) any TwiML URL."""
    body = request.get_json(silent=True) or {}
    to = str(body.get("to") or "12333")[:32]
    url = str(body.get("url") or "").strip()
    if url and not current_app.config["IVR_DIAL_ANY_URL"]:
        return problem(403, "dialing other URLs is off (the operator sets IVR_DIAL_ANY_URL=1)")
    if url and not url.startswith(("http://", "https://")):
        return problem(400, "the URL must start with http:// or https://")
    if url:
        fetch = dialer.http_fetch(dialer.default_token())
    else:
        # Same host as the page, so the browser can fetch the audio the call plays.
        fetch = dialer.app_fetch(current_app._get_current_object())
        url = request.host_url.rstrip("/") + "/voice"
    call = Call(url, fetch, to=to, measure=dialer.measurer(fetch))
    session = Session(call, now())
    call_id = sessions().add(session, now())
    if call_id is None:
        return problem(503, "too many calls in progress; try again in a few minutes")
    with session.lock:
        call.start()
        return state(call_id, session)


@bp.post("/dialer/api/calls/<call_id>/keys")
def keys(call_id):
    """Press keys at the waiting prompt; `at`: seconds into its prompts (a key cuts them)."""
    session = find(call_id)
    body = request.get_json(silent=True) or {}
    pressed = str(body.get("keys", ""))[:64]
    if not pressed or any(key not in DTMF for key in pressed):
        return problem(400, "keys are 0-9, * and #")
    with session.lock:
        expects = session.call.expects()
        if expects is None:
            return state(call_id, session)
        for key in pressed:
            if session.first_at is None:
                at = body.get("at")
                session.first_at = float(at) if isinstance(at, int | float) and at >= 0 else None
            session.keys += key
            if complete(session.keys, expects):
                submit(session, session.keys)
                break
        return state(call_id, session)


@bp.post("/dialer/api/calls/<call_id>/wait")
def wait(call_id):
    """The prompt's timeout ran out: hand over what was typed, or silence."""
    session = find(call_id)
    with session.lock:
        if session.call.expects() is not None:
            submit(session, session.keys)
        return state(call_id, session)


@bp.post("/dialer/api/calls/<call_id>/hangup")
def hangup(call_id):
    """Hang up and forget the call."""
    session = find(call_id)
    with session.lock:
        session.call.hangup()
        sessions().drop(call_id)
        return state(call_id, session)


def init_app(app):
    app.extensions["ivr.web"] = Sessions()
    app.register_blueprint(bp)
