"""Run TwiML as Twilio's voice engine does, on a simulated clock. Pure: no HTTP, no Flask.

The rules (../shared/research/twilio-voice-spec.md): verbs run top to bottom and the end of
the document ends the call; action defaults to the current URL; relative URLs are resolved
against the document's. Fetch failures become Twilio's error codes, and the caller hears
the application-error message. The verbs with most rules live beside this module: gather
(keys, speech, barge-in), hold (queues, conferences, dialled numbers), recording (<Record>),
ssml (what a <Say> speaks), numbers (E.164). Where Twilio's behaviour is undocumented, the
comment at the constant or method says which way was chosen.
"""

import math
import re
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import urljoin

from softphone import codes
from softphone import numbers
from softphone import ssml
from softphone.common import DTMF_KEYS
from softphone.common import LOOP_CAP
from softphone.common import MAX_SECONDS
from softphone.common import REACTION
from softphone.common import SEQUENCE
from softphone.common import WAIT
from softphone.common import Event
from softphone.common import estimate_say
from softphone.common import int_attr
from softphone.common import text_of
from softphone.gather import Gathering
from softphone.gather import inputs_of
from softphone.gather import is_secret
from softphone.hold import DIAL_ANSWERS
from softphone.hold import HOLD_PATIENCE
from softphone.hold import Queues
from softphone.recording import Recording

APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
XML_TYPES = ("text/xml", "application/xml", "text/html")
MAX_REQUESTS = 200  # a call that fetches more documents than this is stuck in a loop
MAX_HTTP_REDIRECTS = 10  # 3xx hops before error 11215 (Twilio's number is undocumented)
WEBHOOK_LIMIT = 15  # seconds Twilio waits for a webhook's answer (error 11205)
# The time a webhook takes is on the clock in whole tenths of a second: an answer under
# 0.1 s is instant to the ear, and canned tests keep exact times.
WEBHOOK_TICK = 0.1
# Verbs Twilio knows that the softphone does not simulate: a note, and the call runs on.
NOT_SIMULATED = {
    "Connect": "connects the call to a stream, an assistant or a room",
    "Pay": "takes a card payment",
    "Refer": "hands a SIP call to another address",
    "Sms": "sends a text message (deprecated)",
    "Start": "starts a stream, recording or transcription alongside the call",
    "Stop": "stops a stream, recording or transcription",
}
# <Echo>: Twilio's docs have no page for it, and its helper libraries give it no attribute (no
# timeout, unlike SignalWire's cXML <Echo timeout>, 60 s by default): the caller's own audio
# comes back until they hang up, at most the call's 4 hours, and the verbs after it never run.
ECHO_NOTE = (
    "<Echo> plays the caller's own audio back until they hang up: not simulated (there is no "
    "audio); the call waits for the caller to hang up, at most its 4 hours, and the verbs "
    "after <Echo> never run"
)
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
    re.compile(rf"^(?P<keys>[{re.escape(DTMF_KEYS)}wW]+)(?:@(?P<at>.*))?$"),
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
    headers: dict = field(default_factory=dict)


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
    # <Record>: seconds of the caller's audio kept, however it ended (a real-time driver);
    # with a key or the hang-up, `at` is still the real moment the engine's clock moves by
    talk: float | None = None
    times: tuple | None = None  # each key's moment from the prompts' start (a real-time driver)
    # <Record> ended by silence or maxLength: the real seconds it took on the call, from the
    # beep's end (a real-time driver); a trimmed recording (`talk`) leaves out some of them
    spent: float | None = None

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


class Call(Gathering, Queues, Recording):
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
        say_seconds: (text, voice, language) -> seconds a <Say> takes; None estimates them. A
            real-time driver (the SIP front) gives the length of the audio it will play, so
            the engine's timeline (barge-in, the Gather timeout's start) is the caller's.
        before_request: called with no argument just before each document is requested (a
            <Redirect>, an action, a waitUrl, the fallback); a real-time driver plays the
            audio computed so far and returns once the caller has heard it, so a webhook is
            requested when Twilio would request it, not as soon as the verbs before it run.
        record_file: (folder, sid, talk, silence) -> path: writes a <Record>'s WAV as
            folder/sid.wav; None writes the placeholder hum (a real-time driver keeps the
            caller's own audio).
        recordings_url: where a RecordingUrl points (default: softphone.invalid, which never
            resolves); a driver that serves the WAV files gives its own address.
        hold_patience: seconds a caller on hold with no agent waits before hanging up
            (default HOLD_PATIENCE, 60); a real caller's own hang-up comes first in SIP.
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
        say_seconds=None,
        before_request=None,
        record_file=None,
        recordings_url=None,
        hold_patience=HOLD_PATIENCE,
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
        self.say_seconds = say_seconds
        self.before_request = before_request
        self.record_file, self.recordings_url = record_file, recordings_url
        self.hold_patience = hold_patience
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
        if keys.hangup:  # a caller can hang up whatever the call is doing
            return self.hangup(keys.at, keys.talk)
        if self.ended or self.waiting is None:
            return self
        element, self.waiting = self.waiting, None
        if element.tag == "Echo":
            return self.echo_back(element, keys)
        if element.tag == "Record":
            self.finish_record(element, keys)
        else:
            self.finish_gather(element, keys)
        return self.run()

    def hangup(self, at=None, talk=None):
        """The caller hangs up: at a prompt once it has played (or `at` seconds into it); in
        a Record, `talk` is the audio a real-time driver kept (see finish_record)."""
        if self.ended:
            return self
        waiting, self.waiting = self.waiting, None
        if waiting is not None and waiting.tag == "Record":
            self.finish_record(waiting, Keys(hangup=True, at=at, talk=talk))
            return self
        if waiting is not None and waiting.tag == "Echo":
            self.t += max(at or 0.0, 0.0)  # an echo has no prompt: `at` counts from now
        elif waiting is not None and at is not None:
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
        duration = math.ceil(self.t) if self.answered() else 0  # an unanswered call lasts 0 s
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
        if self.before_request is not None:
            self.before_request()
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
                raise FetchError(
                    codes.HTTP_TIMEOUT, f"{url} took {elapsed:.1f} s (Twilio waits 15 s)"
                )
            self.t += math.floor(elapsed / WEBHOOK_TICK) * WEBHOOK_TICK
            location = _header(reply, "Location")
            if not (300 <= reply.status < 400 and location):
                return reply, url
            url = urljoin(url, location.strip())
            if reply.status in (301, 302, 303):
                method, params = "GET", {}
            self.event("http_redirect", status=reply.status, url=url)
        message = f"HTTP too many redirects: more than {MAX_HTTP_REDIRECTS}, the last to {url}"
        raise FetchError(codes.HTTP_REDIRECTS, message)

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
            raise FetchError(
                codes.HTTP_STATUS, f"HTTP error response code {reply.status} from {url}"
            )
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
            raise FetchError(
                codes.CONTENT_TYPE, f"no Content-Type from {url} (Twilio's debugger: 502)"
            )
        if content_type not in XML_TYPES:
            raise FetchError(
                codes.CONTENT_TYPE, f"invalid Content-Type {content_type!r} from {url}"
            )
        body = reply.body
        if body.lstrip()[:5] == b"<?xml" and body[:1].isspace():
            # XML allows whitespace before the root element but not before the declaration.
            raise FetchError(
                codes.PARSE, "document parse failure: whitespace before the XML declaration"
            )
        if re.search(rb"<\s*amazon:", body) and b"xmlns:amazon" not in body:
            # Twilio's SSML uses <amazon:effect> without declaring the prefix; declare it.
            declared = rb'<Response xmlns:amazon="urn:amazon"'
            body = re.sub(rb"<Response(?=[\s>/])", declared, body, count=1)
        try:
            root = ET.fromstring(body)
        except ET.ParseError as error:
            raise FetchError(codes.PARSE, f"document parse failure: {error}") from None
        if root.tag != "Response":
            raise FetchError(codes.ROOT, f"the root element must be Response, not {root.tag}")
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
        if self.refused_on_hold(verb):
            return
        if tag == "Connect" and verb.get("action"):
            # <Connect action>: the verbs after it never run; once the connection ends Twilio
            # requests the action. The softphone connects nothing, so it ends at once.
            message = f"<{tag}> {NOT_SIMULATED[tag]}: not simulated; its action is requested"
            self.event("note", verb=tag, message=message)
            return self.request(self.resolve(verb.get("action")), verb.get("method", "POST"), {})
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
            self.event(
                "warning", code=codes.SCHEMA, message=f"<{tag}> is not a TwiML verb; skipped"
            )
            return
        handler(verb)

    def say_length(self, text, voice, language):
        """Seconds a <Say> of `text` takes: the say_seconds hook's, else the estimate."""
        if self.say_seconds is not None:
            return self.say_seconds(text, voice, language)
        return estimate_say(text, language)

    def speak(self, text, voice, language, duration=None, **extra):
        duration = self.say_length(text, voice, language) if duration is None else duration
        self.event(
            "say", text=text, voice=voice, language=language, duration=round(duration, 2), **extra
        )
        self.t += duration

    def saytext_of(self, verb):
        """What a <Say> speaks, for how long, and its pieces [[text, pause]] if it has breaks.

        With say_seconds each piece's audio is measured on its own, as it is played (media
        renders each piece, then its silence), so the engine's time is the caller's.
        """
        language, voice = verb.get("language", "en-US"), verb.get("voice", "man")
        if len(verb) == 0:
            text = text_of(verb)
            return text, self.say_length(text, voice, language), None
        spoken = ssml.read(verb, language)
        pieces = (
            [[text, round(pause, 3)] for text, pause in spoken.pieces] if spoken.breaks else None
        )
        if self.say_seconds is None:
            return spoken.text, spoken.seconds(estimate_say), pieces
        if pieces is None:
            return spoken.text, self.say_seconds(spoken.text, voice, language), None
        words = sum(self.say_seconds(text, voice, language) for text, _ in pieces if text)
        return spoken.text, words + spoken.pause, pieces

    def say_data(self, verb):
        """A <Say> event's words: its text, voice and language, and its pieces if it has breaks."""
        text, _, pieces = self.saytext_of(verb)
        data = {"text": text, "voice": verb.get("voice", "man")}
        data["language"] = verb.get("language", "en-US")
        return data | ({"pieces": pieces} if pieces else {})

    def repeat(self, verb, code, once):
        """Run `once` loop times; loop="0" repeats until the hold or the call must stop."""
        loops = int_attr(verb.get("loop"), 1, code, self.events, self.t, "loop")
        for n in range(loops or LOOP_CAP):
            if n and self.t >= self.deadline():
                break
            once()

    def verb_say(self, verb):
        text, seconds, pieces = self.saytext_of(verb)
        voice, language = verb.get("voice", "man"), verb.get("language", "en-US")
        extra = {"pieces": pieces} if pieces else {}
        self.repeat(
            verb, codes.SAY_LOOP, lambda: self.speak(text, voice, language, seconds, **extra)
        )

    def play_duration(self, verb, nested=False):
        """A <Play>'s seconds; a file that cannot be fetched or read is a warning and 0 s."""
        digits = verb.get("digits")
        if digits:
            return sum(WAIT if key in "wW" else 0.25 for key in digits)
        url = self.resolve(text_of(verb))
        if url in self.recordings:
            return self.recordings[url]
        try:
            return self.measure(url)
        except FetchError as error:
            code = error.code
            if nested and code == codes.PLAY_TYPE:
                code = codes.GATHER_PLAY_TYPE
            self.event("warning", code=code, message=f"<Play>: {error.message}", url=url)
            return 0.0

    def verb_play(self, verb):
        self.repeat(verb, codes.PLAY_LOOP, lambda: self.play(verb))

    def play(self, verb):
        duration = self.play_duration(verb)
        if verb.get("digits"):
            self.event("play", digits=verb.get("digits"), duration=round(duration, 2))
        else:
            self.event("play", url=self.resolve(text_of(verb)), duration=round(duration, 2))
        self.t += duration

    def verb_pause(self, verb):
        length = (
            int_attr(verb.get("length"), 1, codes.PAUSE_LENGTH, self.events, self.t, "length") or 1
        )
        self.event("pause", duration=length)
        self.t += length

    def verb_redirect(self, verb):
        url = self.resolve(text_of(verb))
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
        if self.answered():
            # Only a <Reject> before anything is heard leaves the call unanswered (Reject
            # page: it must come first). After audio the call was answered: it ends as a
            # hang-up does, completed, and CallDuration counts the seconds it lasted.
            self.event("hangup", by="app", reason="<Reject> after the call was answered")
            return self.end("completed")
        return self.end("busy" if reason == "busy" else "no-answer")

    def answered(self):
        """Whether the caller has heard anything yet (Twilio answers the call to play it)."""
        heard = ("say", "play", "pause", "gather", "record", "echo")
        return any(e.kind in heard for e in self.events)

    def verb_echo(self, verb):
        """<Echo>: the call waits for the caller, whose keys and words only come back to them."""
        self.event("note", verb="Echo", message=ECHO_NOTE)
        self.event("echo")
        self.waiting = verb

    def echo_back(self, echo, keys):
        """What the caller does during <Echo>: keys and words are echoed, silence lasts until
        the call's 4-hour limit ends it; nothing is requested."""
        if keys.speech is not None:
            self.t += max(keys.at or 0.0, 0.0)
            self.event("speech", text=keys.speech, echoed=True)
            self.t += estimate_say(keys.speech, "en-US")
        elif keys.keys:
            start = self.t + (REACTION if keys.at is None else max(keys.at, 0.0))
            timed = self.key_times(keys, start) or [("", start)]
            self.t = timed[0][1]
            self.event("keys", keys=keys.keys, echoed=True)
            self.t = timed[-1][1]
        else:
            self.event("silence", duration=round(MAX_SECONDS - self.t, 2))
            self.t = MAX_SECONDS
            self.event("hangup", by="twilio", reason="the call reached its 4-hour limit in <Echo>")
            return self.end("completed")
        self.waiting = echo
        return self

    # reading the call

    def expects(self):
        """What the waiting verb accepts, for a caller pressing keys one at a time; None if none."""
        if self.waiting is None:
            return None
        verb = self.waiting
        if verb.tag == "Echo":  # only a hang-up ends it: the timeout is the call's limit
            timeout = round(MAX_SECONDS - self.t)
            return {"kind": "echo", "timeout": timeout, "prompt_seconds": 0, "num_digits": None}
        if verb.tag == "Record":
            finish = verb.get("finishOnKey", "1234567890*#")
            timeout = int_attr(verb.get("timeout"), 5, codes.RECORD_TIMEOUT, [], self.t, "timeout")
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
            "timeout": int_attr(verb.get("timeout"), 5, codes.GATHER_TIMEOUT, [], self.t, "timeout")
            or 5,
            "num_digits": int_attr(
                verb.get("numDigits"), None, codes.GATHER_NUM_DIGITS, [], self.t, "numDigits"
            ),
            "finish_on_key": finish if len(finish) <= 1 else "#",
            "prompt_seconds": round(prompts_end - self.t, 2),
            "secret": is_secret(self.resolve(verb.get("action"))),
            "input": sorted(inputs_of(verb)),
        }

    def mark(self):
        """A place in the call to read on from (`since`): it stays valid when a key cuts prompts."""
        return next(SEQUENCE)

    def since(self, mark=0):
        """The events after `mark` (from `mark()`; 0: all of them)."""
        return [e for e in self.events if e.seq > mark]

    def heard(self, since=0):
        """Return the texts said to the caller after the mark `since` (0: all)."""
        return [e.data["text"] for e in self.since(since) if e.kind == "say"]


def _header(reply, name):
    """A reply's header, if the fetcher passed headers on (Reply.headers), else None."""
    headers = getattr(reply, "headers", None) or {}
    return next((v for k, v in dict(headers).items() if k.lower() == name.lower()), None)
