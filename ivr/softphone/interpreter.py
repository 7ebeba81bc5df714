"""Run TwiML as Twilio's voice engine does, on a simulated clock. Pure: no HTTP, no Flask.

The rules (../shared/research/twilio-voice-spec.md): verbs run top to bottom and the end of
the document ends the call; a Gather's nested prompts play while it listens and the first
key cuts them (barge-in); its timeout starts when the prompts end and restarts with each
key; `finishOnKey` (default `#`) is not sent in Digits, and alone it falls through like
silence; `numDigits` ends at once; action defaults to the current URL; relative URLs are
resolved against the document's. Fetch failures become Twilio's error codes, and the
caller hears the application-error message. Where Twilio's behaviour is undocumented, the
comment at the constant or method says which way was chosen.
"""

import math
import re
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

from ivr.softphone import numbers
from ivr.softphone import recording
from ivr.softphone import ssml

APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
XML_TYPES = ("text/xml", "application/xml", "text/html")
GATHER_CHILDREN = ("Say", "Play", "Pause")
DTMF_KEYS = "0123456789*#"  # the keys a caller can press (Twilio error 13310 lists these)
REACTION = 1.0  # seconds a caller takes to press the first key after a prompt ends
KEY_GAP = 0.4  # seconds between two keys of one entry
WAIT = 0.5  # a `w` in a key group, as in sendDigits
MAX_REQUESTS = 200  # a call that fetches more documents than this is stuck in a loop
MAX_SECONDS = 4 * 3600  # Twilio's default longest call
SECRET_FLAG = ("secret", "1")  # ?secret=1 on a Gather's action: its keys are masked
LOOP_CAP = 1000  # loop="0" repeats at most this often (Twilio's cap)
MAX_HTTP_REDIRECTS = 10  # 3xx hops before error 11215 (Twilio's number is undocumented)
WEBHOOK_LIMIT = 15  # seconds Twilio waits for a webhook's answer (error 11205)
# The time a webhook takes is on the clock in whole tenths of a second: an answer under
# 0.1 s is instant to the ear, and canned tests keep exact times.
WEBHOOK_TICK = 0.1
MAX_SPEECH = 60.0  # Twilio listens to speech for at most 60 s
# speechTimeout="auto" ends at "the first pause in speech"; its length is undocumented.
SPEECH_PAUSE = 1.0
CONFIDENCE = "0.9"  # the softphone hears the words exactly; Twilio's score is 0.0-1.0
# A caller on hold with no agent coming (no agent_after) hangs up after this long.
HOLD_PATIENCE = 60.0
HOLD_CHUNK = 30.0  # seconds of Twilio's default hold music per "hold" event
RECORDINGS_HOST = "https://softphone.invalid"  # where <Record>'s RecordingUrl points
DEFAULT_WAIT_URL = "http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"
# <Dial><Number> with answer="...": seconds of ringing before each outcome, and how long a
# call that is answered lasts (the softphone cannot talk, so the far end soon hangs up).
RING = {"completed": 5.0, "busy": 2.0, "failed": 0.0}
DIAL_TALK = 10.0
DIAL_ANSWERS = ("completed", "busy", "no-answer", "failed")
# Verbs Twilio knows that the softphone does not simulate: a note, and the call runs on.
NOT_SIMULATED = {
    "Connect": "connects the call to a stream, an assistant or a room",
    "Echo": "echoes the caller's audio back",
    "Pay": "takes a card payment",
    "Refer": "hands a SIP call to another address",
    "Sms": "sends a text message (deprecated)",
    "Start": "starts a stream, recording or transcription alongside the call",
    "Stop": "stops a stream, recording or transcription",
}
KEYS_GRAMMAR = """\
One group per prompt, separated by spaces:
  1   123#   *#    keys (0-9 * #), pressed after the prompt has played
  12w3             w waits half a second between two keys
  1@2.5            @SECONDS: press 2.5 s into the prompt, cutting it (barge-in)
  .                silence: press nothing and let the prompt time out
  hangup           hang up (hangup@5: five seconds into the prompt or recording)
  "words"          say words, for a Gather that listens for speech ("words"@2 barges in)"""
KEYS_FORMS = (
    re.compile(r'^"(?P<speech>[^"]*)"(?:@(?P<at>.*))?$'),
    re.compile(r"^(?P<hangup>hangup|h)(?:@(?P<at>.*))?$", re.IGNORECASE),
    re.compile(r"^(?P<keys>[0-9*#wW]+)(?:@(?P<at>.*))?$"),
)


class FetchError(Exception):
    """A webhook that could not be fetched: Twilio's error code and what went wrong."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Reply:
    """What a webhook answered."""

    status: int
    content_type: str
    body: bytes
    url: str = ""


@dataclass
class Event:
    """One thing that happened on the call, at simulated time `t` seconds."""

    kind: str
    t: float
    data: dict = field(default_factory=dict)

    def as_dict(self):
        return {"kind": self.kind, "t": round(self.t, 2), **self.data}


@dataclass(frozen=True)
class Keys:
    """What the caller does at one Gather: keys, or nothing (silence), or hang up, or speak.

    `at` is when the first key is pressed (or the words begin), in seconds from the start of
    the prompts; None means after the prompts, the way a caller who listens to the end does.
    """

    keys: str = ""
    at: float | None = None
    hangup: bool = False
    speech: str | None = None

    @classmethod
    def parse(cls, group):
        """Parse a script group (see KEYS_GRAMMAR); raise ValueError naming a bad group."""
        text = group.strip()
        if text in ("", "."):
            return cls()
        match = next((m for form in KEYS_FORMS if (m := form.match(text))), None)
        if match is None:
            raise ValueError(_bad_group(group, "not keys, '.', hangup or \"words\""))
        at = None
        if match.group("at") is not None:
            try:
                at = float(match.group("at"))
            except ValueError:
                at = -1.0
            if not 0 <= at < math.inf:
                raise ValueError(_bad_group(group, "after @ comes a number of seconds, e.g. 2.5"))
        found = match.groupdict()
        if found.get("speech") is not None:
            words = " ".join(found["speech"].split())
            if not words:
                raise ValueError(_bad_group(group, "the quotes hold no words"))
            return cls(at=at, speech=words)
        if found.get("hangup"):
            return cls(hangup=True, at=at)
        return cls(keys=found["keys"].lower(), at=at)


def _bad_group(group, why):
    return f"key group {group.strip()!r}: {why}.\n{KEYS_GRAMMAR}"


def estimate_say(text, language):
    """Estimate speaking time: about 4 Chinese characters or 14 Latin characters a second."""
    if (language or "").lower().startswith(("cmn", "zh", "yue")):
        return 0.25 * len(text.strip()) + 0.3
    return 0.07 * len(text.strip()) + 0.3


def language_of(text):
    """The language to time a caller's words in: Mandarin if they hold a Chinese character."""
    return "cmn-CN" if re.search(r"[\u3400-\u9fff]", text) else "en-US"


def mask_keys(keys, secret):
    """Mask keys for a transcript: all of a secret entry, long entries but the last 4."""
    if secret:
        return "•" * len(keys.rstrip("#")) + ("#" if keys.endswith("#") else "")
    body = keys.rstrip("#")
    if len(body) > 6:
        body = "•" * (len(body) - 4) + body[-4:]
    return body + keys[len(keys.rstrip("#")) :]


def _int(value, default, code, events, t, name):
    if value is None:
        return default
    try:
        number = int(value)
        if number < 0:
            raise ValueError
        return number
    except ValueError:
        events.append(
            Event("warning", t, {"code": code, "message": f"{name}={value!r} is invalid"})
        )
        return default


@dataclass
class Hold:
    """A caller waiting in a queue: the hold TwiML to loop, until when, and what comes after."""

    name: str
    sid: str
    started: float
    until: float  # when the hold ends: an agent answers, or the caller gives up
    result: str  # what happens then: "bridged" or "hangup"
    action: str | None
    method: str
    wait_url: str | None  # None: Twilio's default music; "": silence
    wait_method: str
    rest: list  # the verbs after <Enqueue>, for when the caller leaves the queue
    doc_url: str


class Call:
    """One simulated call.

    Args:
        fetch: (method, url, params) -> Reply, raising FetchError; it signs and sends.
        measure: url -> seconds of audio, for <Play>; None estimates 1 s.
        agent_after: seconds on hold before an agent takes the call (<Enqueue>, <Dial><Queue>,
            <Dial><Conference>); None: no agent comes and the caller gives up.
        answer: what a <Dial><Number> gets: completed, busy, no-answer or failed;
            None: no-answer (nobody answers a softphone's transfer).
        recordings: the directory <Record> writes its WAV files to (default: a temporary one).
        timer: the wall clock that times webhooks.
    """

    def __init__(
        self,
        url,
        fetch,
        *,
        to="12333",
        caller="+8613800138000",
        method="POST",
        measure=None,
        status_callback=None,
        fallback_url=None,
        extra_params=None,
        agent_after=None,
        answer=None,
        recordings=None,
        timer=time.monotonic,
    ):
        if answer is not None and answer not in DIAL_ANSWERS:
            raise ValueError(f"answer must be one of {', '.join(DIAL_ANSWERS)}, not {answer!r}")
        self.url, self.fetch, self.method = url, fetch, method
        self.measure = measure or (lambda _url: 1.0)
        self.status_callback, self.fallback_url = status_callback, fallback_url
        self.call_sid = "CA" + secrets.token_hex(16)
        self.account_sid = "AC" + secrets.token_hex(16)
        self.to, self.caller = to, caller
        self.extra_params = dict(extra_params or {})
        self.agent_after, self.answer, self.timer = agent_after, answer, timer
        self.recordings_dir, self.recordings_folder, self.recordings = recordings, None, {}
        self.events = []
        self.t = 0.0
        self.status = "ringing"
        self.verbs = []
        self.doc_url = url
        self.waiting = None  # the Gather (or Record) element that waits for the caller
        # The waiting Gather's prompts: timeline, the end of their first pass, first event.
        self.prompts = ([], 0.0, 0)
        self.prompts_span = (0, 0)  # the events that show the prompts, replaced on a key
        self.prompts_end = 0.0  # when the prompts stop, loop="0" repetitions included
        self.hold = None
        self.ended = False
        self.requests = 0

    # the call's life

    def start(self):
        """Ring the Voice URL and run until the call waits for the caller or ends."""
        self.event("dial", url=self.url, to=self.to)
        self.request(self.url, self.method, {})
        return self.run()

    def send(self, keys):
        """Give the caller's answer to the waiting Gather (or Record) and run on."""
        if self.ended or self.waiting is None:
            return self
        if keys.hangup:
            return self.hangup(keys.at)
        element, self.waiting = self.waiting, None
        if element.tag == "Record":
            self.finish_record(element, keys)
        else:
            self.finish_gather(element, keys)
        return self.run()

    def hangup(self, at=None):
        """The caller hangs up: at a prompt once it has played (or `at` seconds into it)."""
        if self.ended:
            return self
        waiting, self.waiting = self.waiting, None
        if waiting is not None and waiting.tag == "Record":
            self.finish_record(waiting, Keys(hangup=True, at=at))
            return self
        if waiting is not None and at is not None:
            moment = self.t + max(at, 0.0)
            self.replay(moment)
            self.t = moment
        elif waiting is not None:
            self.t = max(self.t, self.prompts[1])
        if self.hold is not None:
            return self.leave_queue("hangup", by="caller")
        self.event("hangup", by="caller")
        return self.end("completed")

    def run(self):
        while not self.ended and self.waiting is None:
            if self.t > MAX_SECONDS:
                self.event("error", code="limit", message="the call passed 4 hours")
                return self.end("completed")
            if self.hold is not None and self.t >= self.hold.until:
                self.leave_queue(self.hold.result)
                continue
            if not self.verbs:
                if self.hold is not None:
                    self.hold_music()
                    continue
                self.event("hangup", by="end of document")
                return self.end("completed")
            mark = len(self.events)
            self.execute(self.verbs.pop(0))
            if self.hold is not None and self.waiting is None:
                self.cut_at(self.hold.until, mark)
        return self

    def deadline(self):
        """When the current stretch of verbs must stop: the hold's end, else the call's."""
        return self.hold.until if self.hold is not None else MAX_SECONDS

    def cut_at(self, moment, mark):
        """Cut what events[mark:] played after `moment`: an agent answered, or a limit."""
        if self.t <= moment:
            return
        kept = [e for e in self.events[mark:] if e.t < moment]
        for e in kept:
            if "duration" in e.data and e.t + e.data["duration"] > moment:
                e.data["duration"] = round(moment - e.t, 2)
                e.data["cut"] = True
        self.events[mark:] = kept
        self.t = moment

    def end(self, status):
        self.ended = True
        self.status = status
        self.waiting = None
        duration = math.ceil(self.t)
        if self.status_callback:
            params = {**self.params(), "CallStatus": status, "CallDuration": str(duration)}
            try:
                self.fetch("POST", self.status_callback, params)
                self.event(
                    "status_callback", url=self.status_callback, status=status, duration=duration
                )
            except FetchError as error:
                self.event("warning", code=error.code, message=f"status callback: {error.message}")
        return self

    def event(self, kind, **data):
        self.events.append(Event(kind, self.t, data))
        return self.events[-1]

    # webhooks

    def params(self):
        """The parameters Twilio sends on every voice request."""
        to, caller = numbers.e164(self.to), numbers.e164(self.caller)
        return {
            "CallSid": self.call_sid,
            "AccountSid": self.account_sid,
            "From": caller,
            "To": to,
            "Caller": caller,
            "Called": to,
            "CallStatus": self.status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            **numbers.geography("To", to),
            **numbers.geography("From", caller),
            **numbers.geography("Called", to),
            **numbers.geography("Caller", caller),
            **self.extra_params,
        }

    def request(self, url, method, extra):
        """Fetch a document and make its verbs the call's next ones."""
        self.requests += 1
        if self.requests > MAX_REQUESTS:
            # Twilio documents no limit for a voice call's documents (messaging's is 50,
            # warning 14106); a real call would loop until its 4 hours. We stop it here.
            self.event(
                "error",
                code="loop",
                message=f"more than {MAX_REQUESTS} webhook requests: the TwiML loops "
                "(a <Redirect> or action that leads back to itself)",
            )
            self.verbs = []
            return self.end("completed")
        method = (method or "POST").upper()
        params = {**self.params(), **extra}
        self.status = "in-progress"
        try:
            reply, url = self.follow(method, url, params)
            self.load(reply, url)
        except FetchError as error:
            self.fail(error, url)

    def follow(self, method, url, params):
        """Fetch, following 3xx replies as Twilio does; its time goes on the clock.

        Twilio follows a redirect but does not send the parameters again (Gather docs:
        "Twilio follows this redirect, but won't resend the Digits parameter"): 301, 302 and
        303 become a GET with none, as a browser does; 307 and 308 repeat the request.
        """
        for _ in range(MAX_HTTP_REDIRECTS + 1):
            started = self.timer()
            reply = self.fetch(method, url, params)
            elapsed = self.timer() - started
            if elapsed > WEBHOOK_LIMIT:
                raise FetchError(11205, f"{url} took {elapsed:.1f} s (Twilio waits 15 s)")
            self.t += math.floor(elapsed / WEBHOOK_TICK) * WEBHOOK_TICK
            location = _header(reply, "Location")
            if not (300 <= reply.status < 400 and location):
                return reply, url
            url = urljoin(url, location.strip())
            if reply.status in (301, 302, 303):
                method, params = "GET", {}
            self.event("http_redirect", status=reply.status, url=url)
        message = f"HTTP too many redirects: more than {MAX_HTTP_REDIRECTS}, the last to {url}"
        raise FetchError(11215, message)

    def notify(self, url, method, extra, what):
        """An asynchronous webhook (a callback): sent, its answer ignored, a failure a warning."""
        try:
            self.fetch((method or "POST").upper(), url, {**self.params(), **extra})
            self.event("callback", what=what, url=url)
        except FetchError as error:
            self.event("warning", code=error.code, message=f"{what}: {error.message}")

    def load(self, reply, url):
        """Check a webhook's reply as Twilio does and queue what it says."""
        if not 200 <= reply.status < 300:
            raise FetchError(11217, f"HTTP error response code {reply.status} from {url}")
        content_type = reply.content_type.split(";")[0].strip().lower()
        self.doc_url = reply.url or url
        # On hold, an audio or text answer loops with the hold music instead of ending the call.
        then = [] if self.hold is not None else [ET.Element("Hangup")]
        if content_type.startswith("audio/"):  # an audio file plays, then the call ends
            play = ET.Element("Play")
            play.text = self.doc_url
            self.verbs = [play, *then]
            return
        if content_type == "text/plain":
            say = ET.Element("Say")
            say.text = reply.body.decode("utf-8", "replace")
            self.verbs = [say, *then]
            return
        if not content_type:
            # Both of Twilio's pages name this case: 11200 lists "No Content-Type header" among
            # its generic causes; 12300 (Invalid Content-Type) says "You must return a
            # Content-Type for all requests" and that the debugger shows it as a 502. We keep
            # 12300, the specific one (and what this softphone always reported).
            raise FetchError(12300, f"no Content-Type from {url} (Twilio's debugger: 502)")
        if content_type not in XML_TYPES:
            raise FetchError(12300, f"invalid Content-Type {content_type!r} from {url}")
        body = reply.body
        if body.lstrip()[:5] == b"<?xml" and body[:1].isspace():
            # XML allows whitespace before the root element but not before the declaration.
            raise FetchError(12100, "document parse failure: whitespace before the XML declaration")
        if re.search(rb"<\s*amazon:", body) and b"xmlns:amazon" not in body:
            # Twilio's SSML uses <amazon:effect> without declaring the prefix; declare it.
            declared = rb'<Response xmlns:amazon="urn:amazon"'
            body = re.sub(rb"<Response(?=[\s>/])", declared, body, count=1)
        try:
            root = ET.fromstring(body)
        except ET.ParseError as error:
            raise FetchError(12100, f"document parse failure: {error}") from None
        if root.tag != "Response":
            raise FetchError(12102, f"the root element must be Response, not {root.tag}")
        self.verbs = list(root)

    def fail(self, error, url):
        """A fatal webhook error: try the fallback URL, else the application-error message."""
        self.event("error", code=error.code, message=error.message, url=url)
        if self.fallback_url and url != self.fallback_url:
            fallback, self.fallback_url = self.fallback_url, None
            self.request(fallback, "POST", {"ErrorCode": str(error.code), "ErrorUrl": url})
            return
        self.verbs, self.hold = [], None
        self.speak(APPLICATION_ERROR, "Polly.Joanna", "en-US", source="twilio")
        self.event("hangup", by="twilio")
        self.end("completed")

    def resolve(self, target):
        return urljoin(self.doc_url, (target or "").strip()) if target else self.doc_url

    # verbs

    def execute(self, verb):
        tag = verb.tag
        if tag in NOT_SIMULATED:
            nouns = "".join(f"<{child.tag}>" for child in verb)
            self.event(
                "note",
                verb=tag,
                message=f"<{tag}>{nouns} {NOT_SIMULATED[tag]}: not simulated; the call runs on",
            )
            return
        handler = getattr(self, f"verb_{tag.lower()}", None) if isinstance(tag, str) else None
        if handler is None or tag[0].islower():
            self.event("warning", code=12200, message=f"<{tag}> is not a TwiML verb; skipped")
            return
        handler(verb)

    def speak(self, text, voice, language, duration=None, **extra):
        duration = estimate_say(text, language) if duration is None else duration
        self.event(
            "say", text=text, voice=voice, language=language, duration=round(duration, 2), **extra
        )
        self.t += duration

    def say_text(self, verb):
        """What a <Say> speaks and for how long: plain text, or SSML read by the ssml module."""
        language = verb.get("language", "en-US")
        if len(verb) == 0:
            text = _text(verb)
            return text, estimate_say(text, language)
        spoken = ssml.read(verb, language)
        return spoken.text, spoken.seconds(estimate_say)

    def repeat(self, verb, code, once):
        """Run `once` loop times; loop="0" repeats until the hold or the call must stop."""
        loops = _int(verb.get("loop"), 1, code, self.events, self.t, "loop")
        for n in range(loops or LOOP_CAP):
            if n and self.t >= self.deadline():
                break
            once()

    def verb_say(self, verb):
        text, seconds = self.say_text(verb)
        voice, language = verb.get("voice", "man"), verb.get("language", "en-US")
        self.repeat(verb, 13510, lambda: self.speak(text, voice, language, seconds))

    def play_duration(self, verb):
        digits = verb.get("digits")
        if digits:
            return sum(WAIT if key in "wW" else 0.25 for key in digits)
        url = self.resolve(_text(verb))
        return self.recordings[url] if url in self.recordings else self.measure(url)

    def verb_play(self, verb):
        self.repeat(verb, 13410, lambda: self.play(verb))

    def play(self, verb):
        duration = self.play_duration(verb)
        if verb.get("digits"):
            self.event("play", digits=verb.get("digits"), duration=round(duration, 2))
        else:
            self.event("play", url=self.resolve(_text(verb)), duration=round(duration, 2))
        self.t += duration

    def verb_pause(self, verb):
        length = _int(verb.get("length"), 1, 13910, self.events, self.t, "length") or 1
        self.event("pause", duration=length)
        self.t += length

    def verb_gather(self, verb):
        action = self.resolve(verb.get("action"))
        inputs = _inputs(verb)
        extra = {} if inputs == {"dtmf"} else {"input": " ".join(sorted(inputs))}
        if verb.get("hints") and "speech" in inputs:
            extra["hints"] = [hint.strip() for hint in verb.get("hints").split(",")]
        self.event("gather", action=action, secret=_is_secret(action), **extra)
        timeline, first_pass, self.prompts_end = self.prompt_timeline(verb)
        # The prompts' first pass is heard now; a key pressed during them cuts them later
        # (barge-in), and a caller who waits hears loop="0" prompts again (replay).
        first = len(self.events)
        self.prompts = (timeline, first_pass, first)
        self.events.extend(self.prompt_events(timeline, first_pass))
        self.prompts_span = (first, len(self.events))
        self.waiting = verb

    def verb_record(self, verb):
        if verb.get("transcribe") == "true" or verb.get("transcribeCallback"):
            self.event(
                "warning",
                code="transcribe",
                message="Record: transcription is not simulated; no transcribeCallback comes",
            )
        if verb.get("playBeep", "true") != "false":
            self.event("play", digits="beep", duration=0.5)
            self.t += 0.5
        self.waiting = verb
        self.event("record", action=self.resolve(verb.get("action")))

    def verb_redirect(self, verb):
        url = self.resolve(_text(verb))
        self.event("redirect", url=url)
        self.request(url, verb.get("method", "POST"), {})

    def verb_hangup(self, verb):
        if self.hold is not None:
            self.leave_queue("hangup", by="app")
            return
        self.event("hangup", by="app")
        self.end("completed")

    def verb_reject(self, verb):
        reason = verb.get("reason", "rejected")
        self.event("reject", reason=reason)
        self.end("busy" if reason == "busy" else "no-answer")

    # queues, conferences and transfers

    def verb_enqueue(self, verb):
        name = _text(verb)
        self.event("transfer", queue=name, to=f"queue:{name}")
        if self.agent_after is None:
            until, result = self.t + HOLD_PATIENCE, "hangup"
        else:
            until, result = self.t + max(self.agent_after, 0.0), "bridged"
        wait_url = verb.get("waitUrl")
        self.hold = Hold(
            name=name,
            sid="QU" + secrets.token_hex(16),
            started=self.t,
            until=until,
            result=result,
            action=self.resolve(verb.get("action")) if verb.get("action") else None,
            method=verb.get("method", "POST"),
            wait_url=self.resolve(wait_url) if wait_url else wait_url,
            wait_method=verb.get("waitUrlMethod", "POST"),
            rest=self.verbs,
            doc_url=self.doc_url,
        )
        self.verbs = []

    def hold_music(self):
        """The hold TwiML ran out: request waitUrl again, or play Twilio's music (or silence)."""
        hold = self.hold
        if hold.wait_url:
            params = {
                "QueuePosition": "1",
                "QueueSid": hold.sid,
                "QueueTime": str(int(self.t - hold.started)),
                "AvgQueueTime": str(int(self.t - hold.started)),  # the only caller's
                "CurrentQueueSize": "1",
                "MaxQueueSize": "1000",
            }
            self.request(hold.wait_url, hold.wait_method, params)
            return
        seconds = min(HOLD_CHUNK, hold.until - self.t)
        music = "silence" if hold.wait_url == "" else DEFAULT_WAIT_URL
        self.event("hold", queue=hold.name, music=music, duration=round(seconds, 2))
        self.t += seconds

    def verb_leave(self, verb):
        if self.hold is None:
            self.event("warning", code="leave", message="<Leave> outside a queue; skipped")
            return
        self.leave_queue("leave")

    def leave_queue(self, result, by="caller"):
        """The call leaves the queue: `action` hears why (QueueResult), else the next verb runs."""
        hold, self.hold = self.hold, None
        waited = self.t - hold.started
        self.event("dequeue", queue=hold.name, result=result, waited=round(waited, 2))
        params = {"QueueResult": result, "QueueSid": hold.sid, "QueueTime": str(int(waited))}
        if result == "hangup":
            self.verbs = []
            reason = None
            if by == "caller" and waited >= HOLD_PATIENCE and self.agent_after is None:
                reason = f"no agent answered in {HOLD_PATIENCE:.0f} s (see agent_after)"
            self.event("hangup", by=by, **({"reason": reason} if reason else {}))
            self.status = "completed"
            if hold.action:  # requested though nobody is left to hear its TwiML
                self.notify(hold.action, hold.method, params, "Enqueue action")
            return self.end("completed")
        if result == "bridged":
            self.event(
                "bridged",
                queue=hold.name,
                reason="an agent answered; the softphone "
                "cannot talk, so the agent hangs up at once",
            )
        self.doc_url = hold.doc_url
        if hold.action:
            self.request(hold.action, hold.method, params)
        else:
            self.verbs = hold.rest

    def verb_dial(self, verb):
        timeout = _int(verb.get("timeout"), 30, 13212, self.events, self.t, "timeout")
        nouns = {child.tag: child for child in verb}
        if "Queue" in nouns:
            return self.dial_queue(verb, nouns["Queue"], timeout)
        if "Conference" in nouns:
            return self.dial_conference(verb, nouns["Conference"])
        numbers_ = [_text(child) for child in verb] or [_text(verb)]
        self.event("transfer", to=", ".join(numbers_), ring=timeout)
        status = self.answer or "no-answer"
        self.t += min(RING.get(status, timeout), timeout)  # no-answer rings out the timeout
        talk = 0.0
        if status == "completed":
            limit = _int(verb.get("timeLimit"), 14400, 13213, self.events, self.t, "timeLimit")
            talk = min(DIAL_TALK, limit)
            self.event("bridged", to=", ".join(numbers_), duration=talk)
            self.t += talk
        self.event("dial_result", status=status)
        self.dial_done(verb, status, talk, sid=True)

    def dial_queue(self, verb, queue, timeout):
        """<Dial><Queue>: the queue is empty (this is the only caller) until agent_after."""
        name = _text(queue)
        self.event("transfer", queue=name, to=f"dequeue:{name}", ring=timeout)
        joined = self.agent_after is not None and self.agent_after <= timeout
        wait = self.agent_after if joined else timeout
        self.event("hold", queue=name, music=DEFAULT_WAIT_URL, duration=round(wait, 2))
        self.t += wait
        status = "completed" if joined else "no-answer"
        if joined:
            self.event("bridged", queue=name, reason="a caller joined the queue and hung up")
        self.event("dial_result", status=status)
        self.dial_done(verb, status, 0.0, sid=True)

    def dial_conference(self, verb, conference):
        """<Dial><Conference>: alone, the caller hears the hold music until agent_after."""
        name = _text(conference)
        self.event("transfer", conference=name, to=f"conference:{name}")
        wait = HOLD_PATIENCE if self.agent_after is None else max(self.agent_after, 0.0)
        music = conference.get("waitUrl") or DEFAULT_WAIT_URL
        self.event("hold", conference=name, music=music, duration=round(wait, 2))
        self.t += wait
        if self.agent_after is None:
            reason = f"alone in the conference for {HOLD_PATIENCE:.0f} s (see agent_after)"
            self.event("hangup", by="caller", reason=reason)
            return self.end("completed")
        self.event("bridged", conference=name, reason="someone joined, then left")
        self.event("dial_result", status="completed")
        self.dial_done(verb, "completed", 0.0, sid=False)  # no DialCallSid for a conference

    def dial_done(self, verb, status, duration, sid):
        """The dialled call ended: its action hears how (else the next verb runs)."""
        if verb.get("action"):
            extra = {"DialCallStatus": status, "DialCallDuration": str(int(duration))}
            if sid:
                extra["DialCallSid"] = "CA" + secrets.token_hex(16)
            self.request(self.resolve(verb.get("action")), verb.get("method", "POST"), extra)

    # input

    def prompt_timeline(self, gather):
        """Lay the nested prompts end to end from now: ([(start, end, verb)], first pass, end).

        The first pass ends where a loop="0" prompt has played once: after that the caller
        hears only repetitions (up to LOOP_CAP of them, or the call's 4 hours).
        """
        timeline, t, first_pass = [], self.t, None
        for child in gather:
            if child.tag not in GATHER_CHILDREN:
                self.event(
                    "warning", code=13320, message=f"Gather: invalid nested verb <{child.tag}>"
                )
                continue
            loops = _int(child.get("loop"), 1, 13510, self.events, t, "loop")
            if child.tag == "Say":
                duration = self.say_text(child)[1]
            elif child.tag == "Play":
                duration = self.play_duration(child)
            else:
                duration = _int(child.get("length"), 1, 13910, self.events, t, "length") or 1
            for n in range(loops or LOOP_CAP):
                if n and t > MAX_SECONDS:
                    break
                timeline.append((t, t + duration, child))
                t += duration
                if loops == 0 and first_pass is None:
                    first_pass = t
        return timeline, t if first_pass is None else first_pass, t

    def prompt_events(self, timeline, cut):
        """The events of the prompts that play until `cut` (a key), marking the one it cut."""
        events = []
        for start, end, child in timeline:
            if start >= cut:
                break
            played = min(end, cut) - start
            data = {"duration": round(played, 2)}
            if end > cut:
                data["cut"] = True
            if child.tag == "Say":
                data |= {"text": self.say_text(child)[0], "voice": child.get("voice", "man")}
                data["language"] = child.get("language", "en-US")
            elif child.tag == "Play":
                data |= (
                    {"digits": child.get("digits")}
                    if child.get("digits")
                    else {"url": self.resolve(_text(child))}
                )
            events.append(Event(child.tag.lower(), start, data))
        return events

    def replay(self, cut):
        """Show the waiting Gather's prompts as heard until `cut`; return when they stopped."""
        timeline = self.prompts[0]
        cut = min(cut, self.prompts_end)
        first, last = self.prompts_span
        heard = self.prompt_events(timeline, cut)
        self.events[first:last] = heard
        self.prompts_span = (first, first + len(heard))
        return cut

    def key_times(self, keys, first):
        """Give each key its moment: the first at `first`, then one every KEY_GAP (`w` waits)."""
        timed, t = [], first
        for key in keys.keys:
            if key == "w":
                t += WAIT
                continue
            timed.append((key, t))
            t += KEY_GAP
        return timed

    def accept(self, gather, keys):
        """Keep only the input the Gather listens for; the rest is a warning and no input."""
        inputs = _inputs(gather)
        if keys.speech is not None and "speech" not in inputs:
            self.event(
                "warning",
                code="input",
                message="Gather listens for keys only "
                f'(input="dtmf"): the words {keys.speech!r} are not heard',
            )
            return Keys()
        if keys.speech is None and keys.keys.strip("w") and "dtmf" not in inputs:
            self.event(
                "warning",
                code="input",
                message="Gather listens for speech only "
                f'(input="speech"): the keys {keys.keys!r} are refused',
            )
            return Keys()
        return keys

    def finish_gather(self, gather, keys):
        timeout = _int(gather.get("timeout"), 5, 13314, self.events, self.t, "timeout") or 5
        keys = self.accept(gather, keys)
        if keys.speech is not None:
            return self.finish_speech(gather, keys, timeout)
        num_digits = _int(gather.get("numDigits"), None, 13312, self.events, self.t, "numDigits")
        finish = gather.get("finishOnKey", "#")
        if len(finish) > 1 or (finish and finish not in DTMF_KEYS):
            self.event("warning", code=13310, message=f"Gather: invalid finishOnKey {finish!r}")
            finish = "#"
        action = self.resolve(gather.get("action"))
        secret = _is_secret(action)
        first_pass = self.prompts[1]
        first = first_pass + REACTION if keys.at is None else self.t + max(keys.at, 0.0)
        timed = self.key_times(keys, first)
        # A key during the prompts cuts them (barge-in); with none, they play to their end.
        prompts_end = self.replay(timed[0][1] if timed else math.inf)
        digits, finished_on, last, ended_at, used = "", "", None, None, 0
        for key, moment in timed:
            # The timer starts when the prompts end, and again with each key.
            timer_from = prompts_end if last is None else last
            if moment > timer_from + timeout:
                ended_at = timer_from + timeout
                break
            used += 1
            if finish and key == finish:  # alone, it ends the Gather with no input
                finished_on, ended_at = key, moment
                break
            digits, last = digits + key, moment
            if num_digits and len(digits) >= num_digits:
                ended_at = moment
                break
        else:
            ended_at = (prompts_end if last is None else last) + timeout
        pressed = "".join(key for key, _ in timed[:used])
        if pressed:
            self.events.append(
                Event("keys", timed[0][1], {"keys": mask_keys(pressed, secret), "secret": secret})
            )
        lost = "".join(key for key, _ in timed[used:])
        if lost:
            self.events.append(Event("lost_keys", ended_at, {"keys": mask_keys(lost, secret)}))
        if not pressed:
            self.events.append(Event("silence", prompts_end, {"duration": timeout}))
        self.t = ended_at
        if digits:
            extra = {"Digits": digits, "FinishedOnKey": finished_on}
            self.request(action, gather.get("method", "POST"), extra)
        elif gather.get("actionOnEmptyResult") == "true":
            self.request(
                action, gather.get("method", "POST"), {"Digits": "", "FinishedOnKey": finished_on}
            )
        # else: no input, or the finish key alone, falls through to the next verb

    def speech_timeout(self, gather, timeout):
        """Seconds of quiet after the words before Twilio sends them (speechTimeout)."""
        value = gather.get("speechTimeout")
        if value is None:
            return timeout  # Twilio: speechTimeout defaults to the timeout value
        if value.strip().lower() == "auto":
            return SPEECH_PAUSE
        number = _int(value, None, 13327, self.events, self.t, "speechTimeout")
        return timeout if number is None else number

    def finish_speech(self, gather, keys, timeout):
        """The caller speaks: SpeechResult and Confidence go to the action, as Twilio sends."""
        action = self.resolve(gather.get("action"))
        secret = _is_secret(action)
        start = self.prompts[1] + REACTION if keys.at is None else self.t + max(keys.at, 0.0)
        barge_in = gather.get("bargeIn", "true") != "false"
        prompts_end = self.replay(start if barge_in else math.inf)
        if start > prompts_end + timeout:  # the words come after the Gather has given up
            self.events.append(Event("silence", prompts_end, {"duration": timeout}))
            self.events.append(Event("lost_speech", start, {"text": _mask_words(keys, secret)}))
            self.t = prompts_end + timeout
            return
        language = gather.get("language", "en-US")
        talk = min(estimate_say(keys.speech, language), MAX_SPEECH)
        data = {"text": _mask_words(keys, secret), "duration": round(talk, 2), "secret": secret}
        self.events.append(Event("speech", start, data))
        self.t = start + talk
        if gather.get("partialResultCallback"):
            # Twilio posts partial transcripts as it hears; the softphone hears the words at
            # once, so it posts once, with the whole text.
            partial = {"UnstableSpeechResult": keys.speech, "SequenceNumber": "1"}
            url = self.resolve(gather.get("partialResultCallback"))
            method = gather.get("partialResultCallbackMethod", "POST")
            self.notify(url, method, partial, "partialResultCallback")
        self.t += self.speech_timeout(gather, timeout)
        extra = {"SpeechResult": keys.speech, "Confidence": CONFIDENCE}
        self.request(action, gather.get("method", "POST"), extra)

    def finish_record(self, record, keys):
        """The caller's message: it ends on a finish key, silence, maxLength or a hang-up.

        A key group's time (`at`, else REACTION) is how long the caller talks before the key
        or the hang-up; words take as long as they would be said. A recording with no audio
        (silence until `timeout`) is not submitted and the next verb runs: Twilio's older
        docs say so (its current ones say silent recordings are kept; we follow the older).
        """
        timeout = _int(record.get("timeout"), 5, 13612, self.events, self.t, "timeout")
        max_length = _int(record.get("maxLength"), 3600, 13613, self.events, self.t, "maxLength")
        max_length = max_length or 3600
        finish = record.get("finishOnKey", "1234567890*#")
        trim = record.get("trim", "trim-silence") != "do-not-trim"
        moment = keys.at if keys.at is not None else REACTION
        pressed = next((key for key in keys.keys if key in finish), "")
        if keys.speech is not None:
            talk = min(estimate_say(keys.speech, language_of(keys.speech)), max_length)
            self.events.append(Event("speech", self.t, {"text": keys.speech, "secret": False}))
            digits, quiet = "", (timeout if talk < max_length else 0)
        elif keys.hangup or pressed:
            talk, digits, quiet = min(moment, max_length), "hangup" if keys.hangup else pressed, 0
            if moment > max_length and not keys.hangup:
                digits = ""  # the key came after maxLength had ended the recording
            if pressed:
                data = {"keys": pressed, "secret": False}
                self.events.append(Event("keys", self.t + moment, data))
        else:
            talk = min(moment, max_length) if keys.keys.strip("w") else 0.0
            digits, quiet = "", (timeout or max_length) if talk < max_length else 0
            if talk == 0:
                quiet = min(quiet, max_length)
        if talk == 0 and not keys.hangup:
            self.events.append(Event("silence", self.t, {"duration": quiet}))
            self.t += quiet
            self.event(
                "record_empty",
                message="no audio: the recording is not submitted; the next verb runs",
            )
            return
        if quiet:
            self.events.append(Event("silence", self.t + talk, {"duration": quiet}))
        sid = "RE" + secrets.token_hex(16)
        length = talk if trim else talk + quiet
        if self.recordings_folder is None:
            self.recordings_folder = recording.directory(self.recordings_dir)
        path = recording.write(self.recordings_folder, sid, talk, 0 if trim else quiet)
        # Shaped like Twilio's; .invalid never resolves, so only the softphone plays it (its
        # length is known) and the WAV is the file the "recording" event names.
        url = f"{RECORDINGS_HOST}/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}"
        self.recordings[url] = self.recordings[url + ".wav"] = length
        self.t += talk + quiet
        self.event("recording", url=url, file=str(path), duration=round(length, 2), digits=digits)
        params = {
            "RecordingUrl": url,
            "RecordingSid": sid,
            "RecordingDuration": str(math.floor(length)),
            "Digits": digits,
        }
        action, method = self.resolve(record.get("action")), record.get("method", "POST")
        if keys.hangup:  # requested though nobody is left to hear its TwiML
            self.verbs = []
            self.status = "completed"
            self.event("hangup", by="caller")
            self.notify(action, method, params, "Record action")
        else:
            self.request(action, method, params)
        if record.get("recordingStatusCallback"):
            status = {
                "RecordingSid": sid,
                "RecordingUrl": url,
                "RecordingStatus": "completed",
                "RecordingDuration": params["RecordingDuration"],
                "RecordingChannels": "1",
                "RecordingSource": "RecordVerb",
            }
            callback = self.resolve(record.get("recordingStatusCallback"))
            method = record.get("recordingStatusCallbackMethod", "POST")
            self.notify(callback, method, status, "recordingStatusCallback")
        if keys.hangup:
            self.end("completed")

    # reading the call

    def expects(self):
        """What the waiting verb accepts, for a caller pressing keys one at a time; None if none."""
        if self.waiting is None:
            return None
        verb = self.waiting
        if verb.tag == "Record":
            finish = verb.get("finishOnKey", "1234567890*#")
            timeout = _int(verb.get("timeout"), 5, 13612, [], self.t, "timeout")
            return {
                "kind": "record",
                "timeout": timeout,
                "finish_on_key": finish,
                "num_digits": None,
            }
        prompts_end = self.prompts[1]
        finish = verb.get("finishOnKey", "#")
        return {
            "kind": "gather",
            "timeout": _int(verb.get("timeout"), 5, 13314, [], self.t, "timeout") or 5,
            "num_digits": _int(verb.get("numDigits"), None, 13312, [], self.t, "numDigits"),
            "finish_on_key": finish if len(finish) <= 1 else "#",
            "prompt_seconds": round(prompts_end - self.t, 2),
            "secret": _is_secret(self.resolve(verb.get("action"))),
            "input": sorted(_inputs(verb)),
        }

    def heard(self, since=0):
        """Return the texts said to the caller from event `since` on."""
        return [e.data["text"] for e in self.events[since:] if e.kind == "say"]


def _text(verb):
    return (verb.text or "").strip()


def _inputs(gather):
    """What a Gather listens for: {"dtmf"}, {"speech"} or both (input="dtmf speech")."""
    inputs = set((gather.get("input") or "dtmf").lower().split()) & {"dtmf", "speech"}
    return inputs or {"dtmf"}


def _mask_words(keys, secret):
    return "•••" if secret else keys.speech


def _header(reply, name):
    """A reply's header, if the fetcher passed headers on (Reply.headers), else None."""
    headers = getattr(reply, "headers", None) or {}
    return next((v for k, v in dict(headers).items() if k.lower() == name.lower()), None)


def _is_secret(url):
    query = parse_qs(urlsplit(url).query)
    return SECRET_FLAG[1] in query.get(SECRET_FLAG[0], [])
