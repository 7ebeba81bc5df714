"""Check a TwiML document against Twilio's rules, warning with Twilio's code where one exists.

Codes come from softphone.codes, the one table the engine reports with too. Where Twilio
has no code (a verb after <Hangup> never runs) the finding has none. A document fetched as a
hold document (`wait="queue"` or `"conference"`) may hold only the verbs Twilio plays there.
"""

import re
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urljoin
from urllib.parse import urlsplit

from softphone import codes

XML_TYPES = ("text/xml", "application/xml", "text/html")
VERBS = {  # verb -> its attributes (None: not checked further)
    "Say": {"voice", "language", "loop"},
    "Play": {"loop", "digits"},
    "Pause": {"length"},
    "Gather": {
        "action", "method", "input", "timeout", "numDigits", "finishOnKey",
        "actionOnEmptyResult", "speechTimeout", "maxSpeechTime", "partialResultCallback",
        "partialResultCallbackMethod", "language", "hints", "profanityFilter", "bargeIn",
        "speechModel", "enhanced", "debug",
    },
    "Record": {
        "action", "method", "timeout", "finishOnKey", "maxLength", "playBeep", "trim",
        "recordingStatusCallback", "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent", "transcribe", "transcribeCallback", "recordingChannels",
    },
    "Redirect": {"method"},
    "Hangup": set(),
    "Reject": {"reason"},
    "Leave": set(),
    "Dial": {
        "action", "method", "timeout", "hangupOnStar", "timeLimit", "callerId", "record",
        "trim", "recordingStatusCallback", "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent", "answerOnBridge", "ringTone", "recordingTrack",
        "sequential", "referUrl", "referMethod", "events",
    },
    "Enqueue": {"action", "method", "waitUrl", "waitUrlMethod", "workflowSid", "maxQueueSize"},
    "Connect": None, "Start": None, "Stop": None, "Pay": None, "Refer": None, "Sms": None,
    "Echo": None, "Queue": None,
}  # fmt: skip
CHILDREN = {  # verb -> the children it may have (verbs not listed take none)
    "Gather": {"Say", "Play", "Pause"},
    "Dial": {"Number", "Client", "Conference", "Queue", "Sip", "Sim", "Application", "WhatsApp"},
    "Enqueue": {"Task"},
}
FINAL = ("Hangup", "Redirect", "Reject")  # nothing after these runs
KEYS = set("0123456789*#")
METHODS = ("GET", "POST")
# Polly voices and the one language each speaks (Twilio's TTS voice table); a pair that does
# not match is refused by Twilio at run time.
POLLY = {
    "Zhiyu": "cmn-CN", "Hiujin": "yue-CN",
    "Joanna": "en-US", "Matthew": "en-US", "Ivy": "en-US", "Kendra": "en-US",
    "Kimberly": "en-US", "Salli": "en-US", "Joey": "en-US", "Justin": "en-US",
    "Kevin": "en-US", "Ruth": "en-US", "Stephen": "en-US", "Danielle": "en-US",
    "Gregory": "en-US", "Amy": "en-GB", "Brian": "en-GB", "Emma": "en-GB", "Arthur": "en-GB",
    "Olivia": "en-AU", "Nicole": "en-AU", "Russell": "en-AU", "Aditi": "en-IN",
    "Raveena": "en-IN", "Kajal": "en-IN", "Takumi": "ja-JP", "Mizuki": "ja-JP",
    "Kazuha": "ja-JP", "Tomoko": "ja-JP", "Seoyeon": "ko-KR", "Lea": "fr-FR", "Celine": "fr-FR",
    "Mathieu": "fr-FR", "Vicki": "de-DE", "Hans": "de-DE", "Marlene": "de-DE",
    "Lucia": "es-ES", "Conchita": "es-ES", "Enrique": "es-ES", "Lupe": "es-US",
    "Penelope": "es-US", "Miguel": "es-US",
}  # fmt: skip
BASIC_LANGUAGES = {"en", "en-us", "en-gb", "es", "fr", "de", "it"}  # man and woman


@dataclass(frozen=True)
class Finding:
    """One finding: Twilio's code (or None), what is wrong, and where in the document."""

    code: int | None
    message: str
    where: str = ""

    def __str__(self):
        code = f"{self.code}" if self.code else "-----"
        return f"{code}  {self.where + ': ' if self.where else ''}{self.message}"


def check(body, url="", content_type="text/xml", fetch=None, resolve_hosts=False, wait=None):
    """Lint a document's bytes (or text).

    Args:
        url: where it came from, to resolve relative URLs against.
        fetch: (method, url, params) -> Reply, to GET each <Play> URL; None skips that.
        resolve_hosts: look up each URL's host name in DNS.
        wait: "queue" or "conference" when the document is an <Enqueue> or <Conference>
            waitUrl: a verb Twilio does not play there is a finding.
    """
    found = []
    if isinstance(body, str):
        body = body.encode("utf-8")
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind and kind not in XML_TYPES:
        return [
            Finding(codes.CONTENT_TYPE, f"Content-Type {kind!r} is not text/xml or application/xml")
        ]
    if body[:1].isspace() and body.lstrip()[:5] == b"<?xml":
        # As the engine: XML allows whitespace before the root element, not the declaration.
        found.append(Finding(codes.PARSE, "whitespace before the XML declaration"))
    body = body.lstrip()
    try:
        root = ET.fromstring(body)
    except ET.ParseError as error:
        return [*found, Finding(codes.PARSE, f"not well-formed XML: {error}")]
    if root.tag != "Response":
        return [*found, Finding(codes.ROOT, f"the root element is <{root.tag}>, not <Response>")]
    linter = _Linter(url, fetch, resolve_hosts)
    linter.verbs(root, "Response")
    return found + hold_findings(root, wait) + linter.found


def hold_findings(root, wait):
    """The verbs a waitUrl document may not hold (Twilio refuses them there)."""
    if wait is None:
        return []
    allowed, code = codes.HOLD_VERBS[wait]
    return [
        Finding(code, f"<{verb.tag}> is not allowed in a {wait} waitUrl", f"Response/{verb.tag}")
        for verb in root
        if verb.tag in VERBS and verb.tag not in allowed
    ]


class _Linter:
    def __init__(self, url, fetch, resolve_hosts):
        self.url, self.fetch, self.resolve_hosts = url, fetch, resolve_hosts
        self.found = []
        self.hosts = {}

    def warn(self, code, message, where):
        self.found.append(Finding(code, message, where))

    def verbs(self, parent, where):
        if (parent.text or "").strip():
            self.warn(codes.SCHEMA, f"text {parent.text.strip()[:30]!r} outside any verb", where)
        ended = None
        counts = {}
        for verb in parent:
            counts[verb.tag] = counts.get(verb.tag, 0) + 1
            path = f"{where}/{verb.tag}[{counts[verb.tag]}]"
            if ended:
                self.warn(None, f"never runs: it comes after <{ended}>", path)
            if verb.tag not in VERBS:
                self.warn(codes.SCHEMA, f"<{verb.tag}> is not a TwiML verb", path)
                continue
            self.verb(verb, path, nested=False)
            if verb.tag in FINAL:
                ended = ended or verb.tag

    def verb(self, verb, path, nested):
        allowed = VERBS[verb.tag]
        if allowed is None:
            return
        for name in verb.attrib:
            if name not in allowed:
                self.warn(codes.SCHEMA, f"<{verb.tag}> has no attribute {name!r}", path)
        children = CHILDREN.get(verb.tag, set())
        if verb.tag != "Say":
            for child in verb:
                if child.tag not in children:
                    code = codes.GATHER_NESTED if verb.tag == "Gather" else codes.SCHEMA
                    self.warn(code, f"<{child.tag}> cannot be nested in <{verb.tag}>", path)
        getattr(self, f"verb_{verb.tag.lower()}", lambda *_: None)(verb, path, nested)

    # one method per verb with rules of its own

    def verb_gather(self, verb, path, nested):
        finish = verb.get("finishOnKey")
        if finish is not None and (len(finish) > 1 or (finish and finish not in KEYS)):
            self.warn(
                codes.GATHER_FINISH_ON_KEY, f"finishOnKey={finish!r}: one of 0-9 * # or empty", path
            )
        self.whole(verb, "numDigits", codes.GATHER_NUM_DIGITS, path, minimum=1)
        self.whole(verb, "timeout", codes.GATHER_TIMEOUT, path, minimum=1)
        self.method(verb, codes.GATHER_METHOD, path)
        empty = verb.get("actionOnEmptyResult")
        if empty is not None and empty not in ("true", "false"):
            self.warn(
                codes.GATHER_EMPTY_RESULT, f"actionOnEmptyResult={empty!r}: true or false", path
            )
        kinds = (verb.get("input") or "dtmf").split()
        if not kinds or set(kinds) - {"dtmf", "speech"}:
            self.warn(
                codes.SCHEMA, f"input={verb.get('input')!r}: dtmf, speech or 'dtmf speech'", path
            )
        self.link(verb.get("action"), path, "action")
        counts = {}
        for child in verb:
            if child.tag in ("Say", "Play", "Pause"):
                counts[child.tag] = counts.get(child.tag, 0) + 1
                self.verb(child, f"{path}/{child.tag}[{counts[child.tag]}]", nested=True)

    def verb_say(self, verb, path, nested):
        text = "".join(verb.itertext()).strip()
        if not text:
            self.warn(codes.SAY_TEXT, "<Say> has no text", path)
        self.whole(
            verb, "loop", codes.GATHER_SAY_LOOP if nested else codes.SAY_LOOP, path, minimum=0
        )
        voice, language = verb.get("voice", "man"), verb.get("language")
        problem = voice_problem(voice, language)
        if problem:
            self.warn(codes.GATHER_SAY_VOICE if nested else codes.SAY_VOICE, problem, path)
        for child in verb:
            if child.tag[:1].isupper():
                self.warn(codes.SCHEMA, f"<{child.tag}> in <Say>: only SSML tags may be", path)

    def verb_play(self, verb, path, nested):
        self.whole(verb, "loop", codes.PLAY_LOOP, path, minimum=0)
        digits = verb.get("digits")
        if digits is not None:
            if not digits or set(digits) - set("0123456789*#wWABCD"):
                self.warn(codes.SCHEMA, f"digits={digits!r}: 0-9 * # w only", path)
            return
        target = self.link((verb.text or "").strip(), path, "the audio URL", required=True)
        if target and self.fetch:
            self.audio(target, path)

    def verb_pause(self, verb, path, nested):
        self.whole(verb, "length", codes.PAUSE_LENGTH, path, minimum=1)

    def verb_redirect(self, verb, path, nested):
        self.method(verb, codes.REDIRECT_METHOD, path)
        # An empty <Redirect/> fetches the current document again, as the engine does and
        # Twilio's own templates rely on; only a URL that is there is checked.
        self.link((verb.text or "").strip(), path, "the URL")

    def verb_record(self, verb, path, nested):
        self.method(verb, codes.SCHEMA, path)
        self.whole(verb, "timeout", codes.RECORD_TIMEOUT, path, minimum=0)
        self.whole(verb, "maxLength", codes.RECORD_MAX_LENGTH, path, minimum=1)
        finish = verb.get("finishOnKey")
        if finish and set(finish) - KEYS:
            self.warn(
                codes.RECORD_FINISH_ON_KEY, f"finishOnKey={finish!r}: keys from 0-9 * #", path
            )
        self.link(verb.get("action"), path, "action")

    def verb_reject(self, verb, path, nested):
        if verb.get("reason", "rejected") not in ("rejected", "busy"):
            self.warn(codes.SCHEMA, f"reason={verb.get('reason')!r}: rejected or busy", path)

    def verb_dial(self, verb, path, nested):
        self.whole(verb, "timeout", codes.DIAL_TIMEOUT, path, minimum=1)
        self.method(verb, codes.SCHEMA, path)
        self.link(verb.get("action"), path, "action")
        if not (verb.text or "").strip() and not len(verb):
            self.warn(codes.DIAL_INVALID_NUMBER, "<Dial> with nothing to dial", path)

    def verb_enqueue(self, verb, path, nested):
        if not (verb.text or "").strip() and not verb.get("workflowSid"):
            self.warn(codes.SCHEMA, "<Enqueue> names no queue", path)
        self.link(verb.get("action"), path, "action")
        self.link(verb.get("waitUrl"), path, "waitUrl")

    # values

    def whole(self, verb, name, code, path, minimum):
        value = verb.get(name)
        if value is None:
            return
        if not re.fullmatch(r"\d+", value.strip()) or int(value) < minimum:
            kind = "a positive whole number" if minimum else "a whole number, 0 or more"
            self.warn(code, f"{name}={value!r}: {kind}", path)

    def method(self, verb, code, path):
        value = verb.get("method")
        if value is not None and value.upper() not in METHODS:
            self.warn(code, f"method={value!r}: GET or POST", path)

    def link(self, value, path, what, required=False):
        """Check a URL resolves (syntax, and DNS when asked); return it absolute, or None."""
        if value is None:
            return None
        value = value.strip()
        if not value:
            if required:
                self.warn(codes.INVALID_URL, f"{what} is empty", path)
            return None
        target = urljoin(self.url, value) if self.url else value
        parts = urlsplit(target)
        if not self.url and not parts.scheme:
            return None  # relative, and no document URL to resolve it against
        if parts.scheme not in ("http", "https") or not parts.hostname or " " in target:
            self.warn(codes.INVALID_URL, f"{what} {value!r} is not an http(s) URL", path)
            return None
        if self.resolve_hosts and not self.resolves(parts.hostname):
            self.warn(
                codes.HTTP_BAD_HOST, f"{what}: host {parts.hostname!r} does not resolve", path
            )
            return None
        return target

    def resolves(self, host):
        if host not in self.hosts:
            try:
                socket.getaddrinfo(host, None)
                self.hosts[host] = True
            except (socket.gaierror, UnicodeError):
                self.hosts[host] = False
        return self.hosts[host]

    def audio(self, url, path):
        try:
            reply = self.fetch("GET", url, {})
        except Exception as error:  # noqa: BLE001 - any failure is the finding
            self.warn(codes.HTTP_RETRIEVAL, f"the audio {url} cannot be fetched: {error}", path)
            return
        if not 200 <= reply.status < 300:
            self.warn(codes.HTTP_RETRIEVAL, f"the audio {url} answered HTTP {reply.status}", path)
        elif not reply.content_type.lower().startswith("audio/"):
            self.warn(
                codes.PLAY_TYPE, f"the audio {url} is {reply.content_type or 'untyped'}", path
            )


def voice_problem(voice, language):
    """Why a <Say> voice and language do not go together, or None."""
    if voice.startswith("Polly."):
        name = voice[len("Polly.") :].split("-")[0]
        if name not in POLLY:
            return None  # a voice this table does not know: no opinion
        if language and language != POLLY[name]:
            return f"{voice} speaks {POLLY[name]}, not language={language!r}"
        if not language and POLLY[name] != "en-US":
            return f"{voice} needs language={POLLY[name]!r} (the default is en-US)"
        return None
    if voice.startswith("Google."):
        locale = voice[len("Google.") :].rsplit("-", 2)[0]
        if language and language != locale:
            return f"{voice} speaks {locale}, not language={language!r}"
        return None
    if voice in ("man", "woman"):
        if language and language.lower() not in BASIC_LANGUAGES:
            return f"voice {voice!r} cannot speak {language!r}; use a Polly or Google voice"
        return None
    if voice != "alice":
        return f"voice={voice!r}: man, woman, alice, Polly.NAME or Google.NAME"
    return None


def describe(warnings):
    """The warnings as lines for a terminal."""
    return "\n".join(str(warning) for warning in warnings)


def main(argv=None):
    """`softphone lint FILE_OR_URL`: lint one document; exit 1 on any finding."""
    import argparse
    import sys

    from softphone import dialer
    from softphone import settings
    from softphone.interpreter import Call

    parser = argparse.ArgumentParser(prog="softphone lint", description="Check one TwiML document.")
    parser.add_argument("source", help="a TwiML file, or a Voice URL (requested as Twilio rings)")
    parser.add_argument("--token", help="auth token to sign with (default: $TWILIO_AUTH_TOKEN)")
    settings.add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.source.startswith(("http://", "https://")):
        fetch = dialer.http_fetch(args.token or dialer.default_token())
        number = settings.from_args(args)
        params = Call(args.source, fetch, **number.call_options()).params()
        try:
            reply = fetch(number.method, args.source, params)
        except Exception as error:  # noqa: BLE001 - FetchError or worse: say it and stop
            print(f"11200  {args.source}: {error}")
            return 1
        if not 200 <= reply.status < 300:
            print(f"11217  {args.source} answered HTTP {reply.status}")
            return 1
        found = check(reply.body, reply.url or args.source, reply.content_type, fetch, True)
    else:
        try:
            with open(args.source, "rb") as file:
                body = file.read()
        except OSError as error:
            print(f"{args.source}: {error.strerror}", file=sys.stderr)
            return 2
        found = check(body)
    print(describe(found) if found else f"{args.source}: no findings")
    return 1 if found else 0
