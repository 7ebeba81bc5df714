"""Run TwiML as Twilio's voice engine does, on a simulated clock. Pure: no HTTP, no Flask.

The rules (../shared/research/twilio-voice-spec.md): verbs run top to bottom and the end of
the document ends the call; a Gather's nested prompts play while it listens and the first
key cuts them (barge-in); its timeout starts when the prompts end and restarts with each
key; `finishOnKey` (default `#`) is not sent in Digits, and alone it falls through like
silence; `numDigits` ends at once; action defaults to the current URL; relative URLs are
resolved against the document's. Fetch failures become Twilio's error codes, and the
caller hears the application-error message.
"""

import math
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
XML_TYPES = ("text/xml", "application/xml", "text/html")
GATHER_CHILDREN = ("Say", "Play", "Pause")
REACTION = 1.0  # seconds a caller takes to press the first key after a prompt ends
KEY_GAP = 0.4  # seconds between two keys of one entry
WAIT = 0.5  # a `w` in a key group, as in sendDigits
MAX_REQUESTS = 200  # a call that fetches more documents than this is stuck in a loop
MAX_SECONDS = 4 * 3600  # Twilio's default longest call
SECRET_FLAG = ("secret", "1")  # ?secret=1 on a Gather's action: its keys are masked


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
    headers: dict = field(default_factory=dict)


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
    """What the caller does at one Gather: keys, or nothing (silence), or hang up.

    `at` is when the first key is pressed, in seconds from the start of the prompts; None
    means after the prompts, the way a caller who listens to the end presses.
    """

    keys: str = ""
    at: float | None = None
    hangup: bool = False
    speech: str | None = None

    @classmethod
    def parse(cls, group):
        """Parse a script group: "1", "110105194912310021#", "1@2.5" (barge in at 2.5 s), "."."""
        group = group.strip()
        if group in ("", "."):
            return cls()
        if group.lower() in ("hangup", "h"):
            return cls(hangup=True)
        at = None
        if "@" in group:
            group, moment = group.rsplit("@", 1)
            at = float(moment)
        keys = "".join(c for c in group if c in "0123456789*#wW").lower()
        return cls(keys=keys, at=at)


def estimate_say(text, language):
    """Estimate speaking time: about 4 Chinese characters or 14 Latin characters a second."""
    if (language or "").lower().startswith(("cmn", "zh", "yue")):
        return 0.25 * len(text.strip()) + 0.3
    return 0.07 * len(text.strip()) + 0.3


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


class Call:
    """One simulated call.

    Args:
        fetch: (method, url, params) -> Reply, raising FetchError; it signs and sends.
        measure: url -> seconds of audio, for <Play>; None estimates 1 s.
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
    ):
        self.url, self.fetch, self.method = url, fetch, method
        self.measure = measure or (lambda _url: 1.0)
        self.status_callback, self.fallback_url = status_callback, fallback_url
        self.call_sid = "CA" + secrets.token_hex(16)
        self.account_sid = "AC" + secrets.token_hex(16)
        self.to, self.caller = to, caller
        self.extra_params = dict(extra_params or {})
        self.events = []
        self.t = 0.0
        self.status = "ringing"
        self.verbs = []
        self.doc_url = url
        self.waiting = None  # the Gather (or Record) element that waits for the caller
        self.prompts = ([], 0.0, 0)  # the waiting Gather's prompts: timeline, end, first event
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
            return self.hangup()
        element, self.waiting = self.waiting, None
        if element.tag == "Record":
            self.finish_record(element, keys)
        else:
            self.finish_gather(element, keys)
        return self.run()

    def hangup(self):
        """The caller hangs up (at a prompt: once it has played, having heard it out)."""
        if not self.ended:
            if self.waiting is not None:
                self.t = max(self.t, self.prompts[1])
            self.waiting = None
            self.event("hangup", by="caller")
            self.end("completed")
        return self

    def run(self):
        while not self.ended and self.waiting is None:
            if self.t > MAX_SECONDS:
                self.event("error", code="limit", message="the call passed 4 hours")
                return self.end("completed")
            if not self.verbs:
                self.event("hangup", by="end of document")
                return self.end("completed")
            self.execute(self.verbs.pop(0))
        return self

    def end(self, status):
        self.ended = True
        self.status = status
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
        return {
            "CallSid": self.call_sid,
            "AccountSid": self.account_sid,
            "From": self.caller,
            "To": self.to,
            "Caller": self.caller,
            "Called": self.to,
            "CallStatus": self.status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            **self.extra_params,
        }

    def request(self, url, method, extra):
        """Fetch a document and make its verbs the call's next ones."""
        self.requests += 1
        if self.requests > MAX_REQUESTS:
            self.event("error", code="loop", message=f"more than {MAX_REQUESTS} webhook requests")
            self.verbs = []
            return self.end("completed")
        method = (method or "POST").upper()
        params = {**self.params(), **extra}
        self.status = "in-progress"
        try:
            reply = self.fetch(method, url, params)
            self.load(reply, url)
        except FetchError as error:
            self.fail(error, url)

    def load(self, reply, url):
        """Check a webhook's reply as Twilio does and queue what it says."""
        if not 200 <= reply.status < 300:
            raise FetchError(11217, f"HTTP error response code {reply.status} from {url}")
        content_type = reply.content_type.split(";")[0].strip().lower()
        self.doc_url = reply.url or url
        if content_type.startswith("audio/"):  # an audio file plays, then the call ends
            play = ET.Element("Play")
            play.text = self.doc_url
            self.verbs = [play, ET.Element("Hangup")]
            return
        if content_type == "text/plain":
            say = ET.Element("Say")
            say.text = reply.body.decode("utf-8", "replace")
            self.verbs = [say, ET.Element("Hangup")]
            return
        if content_type not in XML_TYPES:
            raise FetchError(12300, f"invalid Content-Type {content_type or '(none)'!r} from {url}")
        text = reply.body.decode("utf-8", "replace")
        if text[:1].isspace():
            raise FetchError(12100, "document parse failure: whitespace before the XML declaration")
        try:
            root = ET.fromstring(reply.body)
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
        self.verbs = []
        self.speak(APPLICATION_ERROR, "Polly.Joanna", "en-US", source="twilio")
        self.event("hangup", by="twilio")
        self.end("completed")

    def resolve(self, target):
        return urljoin(self.doc_url, (target or "").strip()) if target else self.doc_url

    # verbs

    def execute(self, verb):
        tag = verb.tag
        handler = getattr(self, f"verb_{tag.lower()}", None)
        if handler is None or tag[0].islower():
            self.event("warning", code=12200, message=f"<{tag}> is not a TwiML verb; skipped")
            return
        handler(verb)

    def speak(self, text, voice, language, **extra):
        duration = estimate_say(text, language)
        self.event(
            "say", text=text, voice=voice, language=language, duration=round(duration, 2), **extra
        )
        self.t += duration

    def verb_say(self, verb):
        loops = _int(verb.get("loop"), 1, 13510, self.events, self.t, "loop")
        for _ in range(loops or 1):
            self.speak(_text(verb), verb.get("voice", "man"), verb.get("language", "en-US"))
        if loops == 0:
            self.event(
                "hangup", by="caller", reason="<Say loop=0> repeats until the caller hangs up"
            )
            self.end("completed")

    def play_duration(self, verb):
        digits = verb.get("digits")
        if digits:
            return sum(WAIT if key in "wW" else 0.25 for key in digits)
        return self.measure(self.resolve(_text(verb)))

    def verb_play(self, verb):
        loops = _int(verb.get("loop"), 1, 13410, self.events, self.t, "loop")
        for _ in range(loops or 1):
            self.play(verb)
        if loops == 0:
            self.event(
                "hangup", by="caller", reason="<Play loop=0> repeats until the caller hangs up"
            )
            self.end("completed")

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
        self.event("gather", action=action, secret=_is_secret(action))
        timeline, prompts_end = self.prompt_timeline(verb)
        # The prompts are heard now; a key pressed during them cuts them later (barge-in).
        self.prompts = (timeline, prompts_end, len(self.events))
        self.hear(timeline, math.inf)
        self.waiting = verb

    def verb_record(self, verb):
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
        self.event("hangup", by="app")
        self.end("completed")

    def verb_reject(self, verb):
        reason = verb.get("reason", "rejected")
        self.event("reject", reason=reason)
        self.end("busy" if reason == "busy" else "no-answer")

    def verb_enqueue(self, verb):
        self.event("transfer", queue=_text(verb), to=f"queue:{_text(verb)}")
        self.event("hangup", by="caller", reason="the softphone has no agents to answer the queue")
        self.end("completed")

    def verb_dial(self, verb):
        numbers = [_text(child) for child in verb] or [_text(verb)]
        timeout = _int(verb.get("timeout"), 30, 13212, self.events, self.t, "timeout")
        self.event("transfer", to=", ".join(numbers), ring=timeout)
        self.t += timeout  # nobody answers a softphone transfer
        self.event("dial_result", status="no-answer")
        if verb.get("action"):
            extra = {"DialCallStatus": "no-answer", "DialCallDuration": "0"}
            self.request(self.resolve(verb.get("action")), verb.get("method", "POST"), extra)

    # input

    def prompt_timeline(self, gather):
        """Lay the nested prompts end to end from now: [(start, end, verb)]."""
        timeline, t = [], self.t
        for child in gather:
            if child.tag not in GATHER_CHILDREN:
                self.event(
                    "warning", code=13320, message=f"Gather: invalid nested verb <{child.tag}>"
                )
                continue
            loops = _int(child.get("loop"), 1, 13510, self.events, t, "loop")
            for _ in range(loops or 1):
                if child.tag == "Say":
                    duration = estimate_say(_text(child), child.get("language", "en-US"))
                elif child.tag == "Play":
                    duration = self.play_duration(child)
                else:
                    duration = _int(child.get("length"), 1, 13910, self.events, t, "length") or 1
                timeline.append((t, t + duration, child))
                t += duration
        return timeline, t

    def hear(self, timeline, cut):
        """Record the prompts that play until `cut` (a key), marking the one it cut short."""
        for start, end, child in timeline:
            if start >= cut:
                break
            played = min(end, cut) - start
            data = {"duration": round(played, 2)}
            if end > cut:
                data["cut"] = True
            if child.tag == "Say":
                data |= {"text": _text(child), "voice": child.get("voice", "man")}
                data["language"] = child.get("language", "en-US")
            elif child.tag == "Play":
                data |= (
                    {"digits": child.get("digits")}
                    if child.get("digits")
                    else {"url": self.resolve(_text(child))}
                )
            kind = child.tag.lower()
            self.events.append(Event(kind, start, data))

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

    def finish_gather(self, gather, keys):
        timeout = _int(gather.get("timeout"), 5, 13314, self.events, self.t, "timeout") or 5
        num_digits = _int(gather.get("numDigits"), None, 13312, self.events, self.t, "numDigits")
        finish = gather.get("finishOnKey", "#")
        if len(finish) > 1 or (finish and finish not in "0123456789*#"):
            self.event("warning", code=13310, message=f"Gather: invalid finishOnKey {finish!r}")
            finish = "#"
        action = self.resolve(gather.get("action"))
        secret = _is_secret(action)
        timeline, prompts_end, first_prompt = self.prompts
        first = prompts_end + REACTION if keys.at is None else self.t + max(keys.at, 0.0)
        timed = self.key_times(keys, first)
        if timed and timed[0][1] < prompts_end:  # barge-in: the rest of the prompts never play
            del self.events[first_prompt:]
            self.hear(timeline, timed[0][1])
            prompts_end = timed[0][1]
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

    def finish_record(self, record, keys):
        timeout = _int(record.get("timeout"), 5, 13612, self.events, self.t, "timeout")
        finish = record.get("finishOnKey", "1234567890*#")
        pressed = next((key for key in keys.keys if key in finish), "")
        if pressed:
            length = keys.at if keys.at is not None else REACTION
            self.events.append(Event("keys", self.t + length, {"keys": pressed, "secret": False}))
        else:
            length = timeout or 5
            self.events.append(Event("silence", self.t, {"duration": length}))
        self.t += length
        extra = {
            "RecordingUrl": f"https://softphone.invalid/Recordings/RE{secrets.token_hex(16)}",
            "RecordingDuration": str(math.floor(length) if pressed else 0),
            "Digits": pressed,
        }
        self.request(self.resolve(record.get("action")), record.get("method", "POST"), extra)

    # reading the call

    def expects(self):
        """What the waiting verb accepts, for a caller pressing keys one at a time; None if none."""
        if self.waiting is None:
            return None
        verb = self.waiting
        if verb.tag == "Record":
            finish = verb.get("finishOnKey", "1234567890*#")
            return {"kind": "record", "timeout": 5, "finish_on_key": finish, "num_digits": None}
        prompts_end = self.prompts[1]
        finish = verb.get("finishOnKey", "#")
        return {
            "kind": "gather",
            "timeout": _int(verb.get("timeout"), 5, 13314, [], self.t, "timeout") or 5,
            "num_digits": _int(verb.get("numDigits"), None, 13312, [], self.t, "numDigits"),
            "finish_on_key": finish if len(finish) <= 1 else "#",
            "prompt_seconds": round(prompts_end - self.t, 2),
            "secret": _is_secret(self.resolve(verb.get("action"))),
        }

    def heard(self, since=0):
        """Return the texts said to the caller from event `since` on."""
        return [e.data["text"] for e in self.events[since:] if e.kind == "say"]


def _text(verb):
    return (verb.text or "").strip()


def _is_secret(url):
    query = parse_qs(urlsplit(url).query)
    return SECRET_FLAG[1] in query.get(SECRET_FLAG[0], [])
