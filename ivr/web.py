"""The browser dialer: a phone page, and a JSON API that runs the softphone on the server.

The page holds no call logic: each key goes to the server, where the softphone's
interpreter (the same engine as the terminal's) applies Twilio's rules. A call lives in
this process's memory under an unguessable id, so run the dialer with one worker (or
sticky sessions); idle calls are hung up and forgotten.

Anyone who reaches the page can use it, so it is on by default only for a local line (no
auth token), and each client has a budget of calls and PIN entries a minute. Every browser
call rings from a number of its own: the line's per-caller PIN cap then counts one visitor's
call, not every visitor's, and the dialer's own per-address budget counts the visitor.
The page is told what a caller hears, never where the call's next request goes: those URLs
carry the call's sealed state.
"""

import datetime as dt
import ipaddress
import json
import re
import secrets
import string
import threading
from urllib.parse import urlsplit

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import jsonify
from flask import make_response
from flask import render_template
from flask import request
from softphone.common import DTMF_KEYS
from softphone.interpreter import Call
from softphone.interpreter import Keys

from ivr import identity
from ivr import web_fetch
from ivr.web_limits import Budget
from softphone import dialer

log = identity.logger(__name__)
bp = Blueprint("web", __name__)
DTMF = frozenset(DTMF_KEYS)
IDLE = dt.timedelta(minutes=10)  # a call nobody touched for this long was abandoned
MAX_CALLS = 100  # browser calls at once in this process; more would only eat memory
MAX_CALLS_PER_CLIENT = 5  # so that one client cannot take all MAX_CALLS
MAX_BODY = 4096  # bytes of JSON any API request needs, with room to spare
MAX_DEPTH = 4  # our bodies are flat objects
# Prompts the page shows as an alert as well as speaking them (the caller must not miss them).
# Every refusal (with its tries left, a prompt of its own) and every ending but the goodbye.
ALERT_PROMPTS = (
    "wrong_pin", "tries_left", "lock_minutes", "account_locked", "invalid_number", "invalid_id",
    "pin_format", "invalid_key", "too_many_tries", "no_input_limit", "no_entry_limit",
    "system_busy", "pin_attempts_exceeded",
    "wrong_old_pin", "weak_pin", "pin_from_account", "same_pin", "pin_mismatch", "pin_not_changed",
    "card_already_lost", "card_not_lost", "card_lost_refused", "card_lost_call", "card_none",
    "agents_closed",
)  # fmt: skip
NUMBER = re.compile(r"[0-9+\- ()]{1,32}")  # what a phone's number field may hold
MOBILE_PREFIXES = ("135", "136", "137", "138", "139", "150", "151", "158", "186", "188")
# Where an event says where the call goes next (an action, a redirect, a callback): those
# URLs carry the sealed state, which is the line's and says things by its mere presence.
HIDDEN_FIELDS = ("action", "url")
QUERY = re.compile(r"(https?://[^\s?#]*)[?#]\S*")


class Session:
    """One browser call: the softphone call and the keys pressed at the waiting prompt."""

    def __init__(self, call, now, client, origin):
        self.call = call
        self.keys = ""
        self.first_at = None
        self.touched = now
        self.client = client
        self.origin = origin  # where our own audio is served, for the words of played files
        self.lock = threading.Lock()


class Sessions:
    """The calls in progress, by id; each browser call is its own."""

    def __init__(self):
        self.calls = {}
        self.lock = threading.Lock()

    def add(self, session, now):
        """Keep a new call; or return the reason it cannot be kept."""
        self.expire(now)
        call_id = secrets.token_urlsafe(16)
        with self.lock:
            if len(self.calls) >= MAX_CALLS:
                return None, "too many calls in progress; try again in a few minutes"
            mine = sum(1 for kept in self.calls.values() if kept.client == session.client)
            if mine >= MAX_CALLS_PER_CLIENT:
                return None, f"you have {mine} calls open; hang one up first"
            self.calls[call_id] = session
        return call_id, None

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
            sessions_ = [self.calls.pop(key) for key in stale]
        for session in sessions_:
            with session.lock:
                try:
                    session.call.hangup()  # sends the status callback: the call's row is closed
                except Exception:  # noqa: BLE001 - one broken call must not fail the visitor who found it
                    log.exception("an abandoned browser call failed to hang up")
        if stale:
            log.info("hung up %d abandoned browser calls", len(stale))


class Limits:
    """The per-client budgets, sized from the settings."""

    def __init__(self, config):
        self.calls = Budget(config["IVR_WEB_CALLS_PER_MINUTE"])
        self.pins = Budget(config["IVR_WEB_PINS_PER_MINUTE"])


def sessions():
    return current_app.extensions["ivr.web"]


def limits():
    return current_app.extensions["ivr.web.limits"]


def now():
    return current_app.extensions["ivr"].clock()


def problem(status, message, **headers):
    response = jsonify({"error": message})
    response.status_code = status
    response.headers.update(headers)
    return response


def client_of(request):
    """Who is asking, for budgets: the address, or its /64 for IPv6 (one host's whole range)."""
    address = request.remote_addr or "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        if parsed.ipv4_mapped:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def spend(budget, what):
    """Spend one of the client's budget, or the 429 to answer."""
    wait = budget.take(client_of(request), now())
    if not wait:
        return None
    return problem(
        429, f"too many {what} from your address; try again in {wait} s", **{"Retry-After": wait}
    )


def refuse_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def check(value, level=0):
    """Refuse JSON nested too deeply, or with text no UTF-8 can carry (a lone surrogate)."""
    if level > MAX_DEPTH:
        raise ValueError("the JSON is nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            check(key, level + 1)
            check(item, level + 1)
    elif isinstance(value, list):
        for item in value:
            check(item, level + 1)
    elif isinstance(value, str):
        value.encode()  # UnicodeEncodeError is a ValueError


def body():
    """The request's JSON object, strictly: anything else aborts with a 400 and why."""
    raw = request.stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        abort(problem(413, f"the body is larger than {MAX_BODY} bytes"))
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_constant=refuse_constant)
        check(data)
    except RecursionError:
        abort(problem(400, "the JSON is nested too deeply"))
    except ValueError as error:  # includes JSONDecodeError and UnicodeDecodeError
        abort(problem(400, f"the body is not acceptable JSON: {error}"))
    if not isinstance(data, dict):
        abort(problem(400, "the body must be a JSON object"))
    return data


@bp.before_request
def guard():
    """Off: nothing here exists. On: only the page's own JSON requests reach the API."""
    if not current_app.config["IVR_WEB_DIALER"]:
        if request.path.startswith("/dialer/api/"):
            return problem(404, "the web dialer is off on this line")
        return make_response(render_template("dialer_off.html"), 404)
    if request.method != "POST":
        return None
    # A cross-site HTML form can send only form types, and fetch() from another site cannot
    # send JSON without a CORS preflight we never answer: so JSON means the page itself.
    if request.mimetype != "application/json":
        return problem(415, "send JSON (Content-Type: application/json)")
    if cross_site(request):
        return problem(403, "requests from other sites are refused")
    return None


@bp.after_request
def defend(response):
    """The page runs only its own files, in no other site's frame, sniffed as nothing else."""
    config = current_app.config
    media = ["'self'"]
    if config["IVR_PUBLIC_URL"]:
        parts = urlsplit(config["IVR_PUBLIC_URL"])
        media.append(f"{parts.scheme}://{parts.netloc}")  # our prompts, by their public URL
    if config["IVR_DIAL_ANY_URL"]:
        media += ["http:", "https:"]  # another app's <Play> files
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; "
        f"img-src 'self'; media-src {' '.join(media)}; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def cross_site(request):
    """Whether the browser says the request comes from another site's page."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site:  # set by the browser itself, whatever proxies do to Host
        return fetch_site == "cross-site"
    origin = request.headers.get("Origin")
    if not origin:
        return False
    public = current_app.config["IVR_PUBLIC_URL"]
    ours = {request.host, urlsplit(public).netloc if public else request.host}
    return urlsplit(origin).netloc not in ours


def prompt_patterns():
    """Regular expressions matching the alert prompts in every language (built once)."""
    extensions = current_app.extensions
    if "ivr.web.alerts" not in extensions:
        extensions["ivr.web.alerts"] = alert_patterns(extensions["ivr"].prompts.texts)
    return extensions["ivr.web.alerts"]


def alert_patterns(texts):
    """Regular expressions matching the alert prompts' texts, any placeholder filled."""
    patterns = []
    for lang in texts:
        for key in ALERT_PROMPTS:
            text = texts[lang].get(key)
            if not text:
                continue
            parts = [(literal, name) for literal, name, _, _ in string.Formatter().parse(text)]
            regex = "".join(re.escape(literal) + (".+?" if name else "") for literal, name in parts)
            patterns.append(re.compile(regex))
    return patterns


def shown(event, origin, alerts):
    """An event for the page, as a caller would know it; a played file of ours carries the
    words it says. No URL the call goes to next, no query of any URL (the sealed state)."""
    data = event.as_dict()
    url = data.get("url") or ""
    if event.kind != "play":  # a prompt's audio is the one URL the page needs (to play it)
        for field in HIDDEN_FIELDS:
            data.pop(field, None)
    if "message" in data:
        data["message"] = QUERY.sub(r"\1", str(data["message"]))
    if origin and event.kind == "play" and url.startswith(origin + "/audio/"):
        try:
            data["text"] = current_app.extensions["ivr"].words(url[len(origin) :])
        except Exception:  # noqa: BLE001 - words are a courtesy; the audio still plays
            log.exception("no words for %s", url)
    if event.kind in ("say", "play") and data.get("text"):
        if any(pattern.search(data["text"]) for pattern in alerts):
            data["alert"] = True
    return data


def state(call_id, session):
    """What the page shows: every event so far, what the call waits for, the keys typed."""
    call = session.call
    expects = call.expects()
    typed = session.keys
    if expects and expects.get("secret"):
        typed = "•" * len(session.keys)
    alerts = prompt_patterns() if session.origin else []
    return jsonify(
        {
            "id": call_id,
            "call_sid": call.call_sid,
            "events": [shown(event, session.origin, alerts) for event in call.events],
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
        abort(problem(404, "no such call (it ended or expired)"))
    return session


def complete(keys, expects):
    """Whether the keys typed so far end the waiting Gather at once (finish key or numDigits)."""
    if not keys:
        return False
    if keys[-1] in (expects.get("finish_on_key") or ""):
        return True
    return bool(expects.get("num_digits")) and len(keys) >= expects["num_digits"]


def submit(session, keys):
    """Hand the typed keys (or silence) to the waiting prompt; a PIN spends the client's budget."""
    expects = session.call.expects() or {}
    if keys and expects.get("secret"):
        refused = spend(limits().pins, "PIN entries")
        if refused is not None:
            session.keys, session.first_at = "", None
            return refused
    try:
        answer = Keys(keys=keys, at=session.first_at if keys else None)
    except ValueError as error:  # the interpreter refuses what no phone can send
        session.keys, session.first_at = "", None
        return problem(400, str(error))
    session.call.send(answer)
    session.keys, session.first_at = "", None
    return None


def line_base():
    """The line's base URL, as Twilio rings it: the public one when set (a path included).

    With IVR_PUBLIC_URL and an auth token, the app checks signatures against the public
    URL, so the in-process request must be made (and signed) for that URL.
    """
    public = current_app.config["IVR_PUBLIC_URL"]
    return public.rstrip("/") if public else request.host_url.rstrip("/")


def mounted(app, prefix):
    """The app as a proxy serving it under `prefix` would: the prefix is its SCRIPT_NAME.

    The line is told its public URL (https://host/ivr) and signs and links under it; the
    in-process request for https://host/ivr/voice must then reach its /voice.
    """

    def wsgi(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            environ = {**environ, "SCRIPT_NAME": prefix, "PATH_INFO": path[len(prefix) :]}
        return app(environ, start_response)

    return wsgi


def fresh_caller():
    """A plausible mobile number of its own for each browser call (see the module's why)."""
    return "+86" + secrets.choice(MOBILE_PREFIXES) + f"{secrets.randbelow(10**8):08d}"


@bp.get("/")
def page():
    """The phone."""
    config = current_app.config
    return render_template(
        "dialer.html",
        dial_any=config["IVR_DIAL_ANY_URL"],
        dial_token=web_fetch.dial_token(config["SECRET_KEY"]),
        number="12333",
    )


@bp.post("/dialer/api/calls")
def start():
    """Dial: the hotline in-process, or (when the operator allows it) any TwiML URL."""
    data = body()
    to = data.get("to") or "12333"
    if not isinstance(to, str) or not NUMBER.fullmatch(to):
        return problem(400, "the number may hold digits, +, -, spaces and brackets (32 at most)")
    url = data.get("url") or ""
    if not isinstance(url, str):
        return problem(400, "the URL must be text")
    url = url.strip()
    if url and not current_app.config["IVR_DIAL_ANY_URL"]:
        return problem(403, "dialing other URLs is off (the operator sets IVR_DIAL_ANY_URL=1)")
    if url and not url.startswith(("http://", "https://")):
        return problem(400, "the URL must start with http:// or https://")
    refused = spend(limits().calls, "calls")
    if refused is not None:
        return refused
    if url:
        token = web_fetch.dial_token(current_app.config["SECRET_KEY"])
        public = current_app.config["IVR_PUBLIC_URL"]  # "this app" by configuration, not Host
        fetch = web_fetch.guarded_fetch(url, public, token)
        origin, callback = "", None  # another app: no words of ours, no status callback
    else:
        origin = line_base()
        app = mounted(current_app._get_current_object(), urlsplit(origin).path)
        fetch = dialer.app_fetch(app, token=current_app.config["TWILIO_AUTH_TOKEN"])
        url = origin + "/voice"
        callback = origin + "/voice/status"  # so the call's row is closed when it ends
    call = Call(
        url, fetch, to=to, caller=fresh_caller(), measure=dialer.measurer(fetch),
        status_callback=callback,
    )  # fmt: skip
    session = Session(call, now(), client_of(request), origin)
    call_id, reason = sessions().add(session, now())
    if call_id is None:
        return problem(503, reason)
    with session.lock:
        try:
            call.start()
        except Exception:  # noqa: BLE001 - a call that cannot start must not hold a slot
            sessions().drop(call_id)
            log.exception("a browser call failed to start")
            return problem(502, "the call could not be started; try again")
        if call.ended:
            sessions().drop(call_id)
        return state(call_id, session)


@bp.post("/dialer/api/calls/<call_id>/keys")
def keys(call_id):
    """Press keys at the waiting prompt; `at`: seconds into its prompts (a key cuts them)."""
    session = find(call_id)
    data = body()
    pressed = data.get("keys")
    if not isinstance(pressed, str) or not pressed or any(key not in DTMF for key in pressed):
        return problem(400, "keys are 0-9, * and #")
    pressed = pressed[:64]
    at = data.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float) or not 0 <= at <= 3600:
        at = None  # compared before float(): a 400-digit integer has no float
    at = None if at is None else float(at)
    with session.lock:
        expects = session.call.expects()
        if expects is None:
            return state(call_id, session)
        for key in pressed:
            if session.first_at is None:
                session.first_at = at
            session.keys += key
            if complete(session.keys, expects):
                refused = submit(session, session.keys)
                if refused is not None:
                    return refused
                break
        return finish(call_id, session)


@bp.post("/dialer/api/calls/<call_id>/wait")
def wait(call_id):
    """The prompt's timeout ran out: hand over what was typed, or silence."""
    session = find(call_id)
    body()
    with session.lock:
        if session.call.expects() is not None:
            refused = submit(session, session.keys)
            if refused is not None:
                return refused
        return finish(call_id, session)


@bp.post("/dialer/api/calls/<call_id>/hangup")
def hangup(call_id):
    """Hang up and forget the call."""
    session = find(call_id)
    body()
    with session.lock:
        session.call.hangup()
        sessions().drop(call_id)
        return state(call_id, session)


def finish(call_id, session):
    """The state after a step; a call that has ended is forgotten."""
    if session.call.ended:
        sessions().drop(call_id)
    return state(call_id, session)


def init_app(app):
    config = app.config
    if config.get("IVR_WEB_DIALER") is None:
        config["IVR_WEB_DIALER"] = not config["TWILIO_AUTH_TOKEN"]
    if config["IVR_WEB_DIALER"]:
        why = "IVR_WEB_DIALER=1" if config["TWILIO_AUTH_TOKEN"] else "no TWILIO_AUTH_TOKEN"
        log.warning(
            "the web dialer is ON at / (%s): anyone who reaches this server can dial the line, "
            "%d calls and %d PIN entries a minute per address in this process (each worker "
            "counts its own); IVR_WEB_DIALER=0 turns it off",
            why,
            config["IVR_WEB_CALLS_PER_MINUTE"],
            config["IVR_WEB_PINS_PER_MINUTE"],
        )
    else:
        log.warning(
            "the web dialer is OFF (TWILIO_AUTH_TOKEN is set); IVR_WEB_DIALER=1 turns it on"
        )
    app.extensions["ivr.web"] = Sessions()
    app.extensions["ivr.web.limits"] = Limits(config)
    app.register_blueprint(bp)
