"""`softphone map URL`: explore any TwiML app by giving each input what a caller would.

At every Gather the crawler presses each key the prompt advertises ("press 1", "请按1") (a
sample entry where it advertises none), says its hints if it listens for speech, and stays
silent; at a `<Record>` it leaves a message and stays silent. Each try replays the call from
the start (apps keep call state), up to a depth and a number of requests.

A state is what the caller hears and can do, not a URL. An input that brings the caller back
to the same state is a retry: the crawler repeats it until something else happens ("three
silences, then goodbye") or RETRIES runs out (a loop). It flags dead ends (a call that ends
without a goodbye), errors with Twilio's codes, and states from which nothing reaches an end;
a goodbye, a transfer and a caller on hold are ends.
"""

import argparse
import dataclasses
import re
import sys
from collections import deque
from dataclasses import dataclass
from dataclasses import field

from softphone import dialer
from softphone import settings
from softphone import target as targets
from softphone.coverage import advertised_keys
from softphone.gather import inputs_of
from softphone.interpreter import Call
from softphone.interpreter import Keys

# How calls end well in the languages IVRs speak most, as their last or next-to-last words.
GOODBYE = re.compile(
    r"good\s*-?\s*bye|\bbye\b|farewell|thank(?:s| you),? for (?:your call|calling|using|"
    r"contacting|choosing|taking|participating|your time)|have a (?:nice|good|great) day"
    r"|再见|拜拜|感谢|谢谢您?的?来电|欢迎再次|adi[oó]s|gracias por su llamada",
    re.IGNORECASE,
)
SILENCE, MESSAGE = "silence", "message"  # inputs that are not keys
MESSAGE_WORDS = "This is a test message from the softphone."
SPEECH_SAMPLE = "yes"  # said to a Gather that listens for speech and gives no hints
MAX_HINTS = 3
RETRIES = 4  # times an input that changes nothing heard is repeated before it is a loop
LABEL_CHARS = 40
QUIET = "(silence)"  # the label of a state where nothing was heard
GOOD_ENDS = ("end", "transfer", "hold")


@dataclass
class State:
    """Where a call can be: waiting for the caller (a Gather, a Record), or over."""

    id: str
    kind: str  # gather, record, end, transfer, hold, dead_end, error
    label: str
    path: list
    keys: list = field(default_factory=list)  # the keys its prompt advertises
    inputs: list = field(default_factory=list)  # what the crawler tries here
    expanded: bool = False


@dataclass
class Map:
    """What a crawl found."""

    states: dict
    edges: list  # (from id, input, to id); "silence ×2": the input given twice more
    requests: int
    truncated: bool

    def findings(self):
        """Dead ends, errors and loops, each with the inputs that lead there."""
        found = []
        for state in self.states.values():
            if state.kind == "dead_end":
                ends = "in silence" if state.label == QUIET else f"on {state.label!r}"
                found.append(f"dead end after {_how(state)}: the call ends {ends}, no goodbye")
            elif state.kind == "error":
                found.append(f"{state.label} after {_how(state)}")
        for state in self.stuck():
            found.append(f"loop after {_how(state)}: from {state.label!r} nothing reaches an end")
        return found

    def stuck(self):
        """States, fully explored, from which no path reaches an end, a transfer or hold."""
        good = {sid for sid, s in self.states.items() if s.kind in GOOD_ENDS}
        # An unexplored state might still end well: never flag it.
        good |= {sid for sid, s in self.states.items() if s.inputs and not s.expanded}
        changed = True
        while changed:
            changed = False
            for source, _input, target in self.edges:
                if target in good and source not in good:
                    good.add(source)
                    changed = True
        return [s for sid, s in self.states.items() if s.inputs and sid not in good]

    def names(self):
        return {sid: f"S{i}" for i, sid in enumerate(self.states)}

    def text(self):
        lines = [f"{len(self.states)} states, {self.requests} requests"]
        if self.truncated:
            lines[0] += " (stopped at the request limit)"
        names = self.names()
        for sid, state in self.states.items():
            keys = f"  keys {' '.join(state.keys)}" if state.keys else ""
            lines.append(f"  {names[sid]:<4} {state.kind:<9} {state.label!r}{keys}")
        for source, given, target in self.edges:
            again = "  (heard again)" if source == target else ""
            lines.append(f"  {names[source]} --{given}--> {names[target]}{again}")
        return "\n".join(lines)

    def mermaid(self):
        """The map as a Mermaid flowchart, and nothing else (flags go elsewhere)."""
        names = self.names()
        lines = ["flowchart TD"]
        for sid, state in self.states.items():
            lines.append(f'  {names[sid]}["{_mermaid_text(f"{state.kind}: {state.label}")}"]')
        for source, given, target in self.edges:
            lines.append(f'  {names[source]} -->|"{_mermaid_text(given)}"| {names[target]}')
        return "\n".join(lines) + "\n"


def _how(state):
    return " ".join(state.path) or "(dialling)"


def _mermaid_text(text):
    """Text for a quoted Mermaid label: quotes and the characters Mermaid reads as entities."""
    return text.replace("#", "#35;").replace('"', "#quot;")


def _short(text):
    text = " ".join(text.split())
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS] + "…"


def keys_of(given):
    """What the caller does for one input of a path."""
    if given == SILENCE:
        return Keys()
    if given == MESSAGE:
        return Keys(speech=MESSAGE_WORDS)
    return Keys.parse(given)


def heard(events, words=None):
    """What the caller heard in these events: what was said, and each audio file played (its
    words, if the app tells them, else its URL); tones and beeps are not words."""
    found = []
    for event in events:
        if event.kind == "say":
            found.append(event.data["text"])
        elif event.kind == "play" and event.data.get("url"):
            url = event.data["url"]
            found.append((words(url) if words else None) or f"[{url}]")
    return found


def inputs_at(call, keys):
    """What to try at the verb the call waits on: its advertised keys (else a sample entry),
    its speech hints, a message for a <Record>, and silence."""
    verb = call.waiting
    if verb.tag == "Record":
        return [MESSAGE, SILENCE]
    accepted = inputs_of(verb)
    tried = []
    if "dtmf" in accepted:
        tried += keys or [sample_entry(verb)]
    if "speech" in accepted:
        # A hint is said as words; a quote in it would end them early.
        hints = [
            " ".join(h.replace('"', " ").split()) for h in (verb.get("hints") or "").split(",")
        ]
        hints = [hint for hint in hints if hint]
        tried += [f'"{hint}"' for hint in hints[:MAX_HINTS]] or [f'"{SPEECH_SAMPLE}"']
    return [*tried, SILENCE]


def sample_entry(gather):
    """An entry for a Gather whose prompt names no key: numDigits ones, or 1 and its end key."""
    digits = gather.get("numDigits", "")
    if digits.isdigit() and int(digits) > 0:
        return "1" * int(digits)
    finish = gather.get("finishOnKey", "#")
    return "1" + (finish if len(finish) == 1 else "")


class Crawler:
    """Explore an app from its Voice URL, each call rung with the number's settings (to,
    caller, method, status_callback, ...: see softphone.settings), as Twilio would ring it."""

    def __init__(
        self,
        target,
        *,
        to=settings.DEFAULT_TO,
        caller=None,
        method="POST",
        max_depth=6,
        max_requests=300,
        **call,
    ):
        self.target, self.caller = target, caller  # caller None: a fresh number per call
        self.call = {"to": to, "method": method}
        self.call |= {name: value for name, value in call.items() if value is not None}
        self.max_depth, self.max_requests = max_depth, max_requests
        self.requests = 0

    def fetch(self, method, url, params):
        self.requests += 1
        return self.target.fetch(method, url, params)

    def replay(self, path):
        """Dial afresh and give each input along `path`; return the call and the last mark."""
        caller = self.caller or settings.default_caller()
        call = Call(
            self.target.url, self.fetch, caller=caller, measure=lambda _url: 1.0, **self.call
        )
        call.start()
        mark = 0
        for given in path:
            if call.ended:
                break
            mark = call.mark()
            call.send(keys_of(given))
        return call, mark

    def state(self, call, mark, path):
        """The state the call is in: what was heard since the last input, and what comes."""
        events = call.since(mark)
        said = heard(events, self.target.hooks.words)
        errors = [e for e in events if e.kind == "error"]
        if errors:
            data = errors[0].data
            code = data.get("code")
            label = f"error {code}: {data['message']}"
            return State(f"error:{code}:{data.get('url', '')}", "error", label, path)
        if call.ended or call.waiting.tag == "Echo":  # an echo waits only for the hang-up
            return self.ending(events, said, path)
        kind = "record" if call.waiting.tag == "Record" else "gather"
        keys = advertised_keys(" ".join(said)) if kind == "gather" else []
        inputs = inputs_at(call, keys)
        can = "|".join(inputs)
        text = " ".join(said)
        return State(f"{kind}:{text}:{can}", kind, _short(text) or QUIET, path, keys, inputs)

    def ending(self, events, said, path):
        """How the call ended: on hold, transferred, with a goodbye, or dead."""
        held = next((e for e in events if e.kind == "hold"), None)
        if held is not None:
            where = held.data.get("queue") or held.data.get("conference") or ""
            return State(f"hold:{where}", "hold", f"on hold: {where}", path)
        transfer = next((e for e in events if e.kind == "transfer"), None)
        if transfer is not None:
            to = transfer.data["to"]
            kind = "hold" if to.split(":")[0] in ("queue", "dequeue", "conference") else "transfer"
            return State(f"{kind}:{to}", kind, to, path)
        last = said[-1] if said else ""
        kind = "end" if GOODBYE.search(" ".join(said[-2:])) else "dead_end"
        return State(f"{kind}:{last}", kind, _short(last) or QUIET, path)

    def crawl(self):
        call, mark = self.replay([])
        first = self.state(call, mark, [])
        self.states, self.edges, self.queue = {first.id: first}, [], deque([first.id])
        truncated = False
        while self.queue and not truncated:
            state = self.states[self.queue.popleft()]
            if not state.inputs or len(state.path) >= self.max_depth:
                continue
            for given in state.inputs:
                if self.requests >= self.max_requests:
                    truncated = True
                    break
                truncated = self.follow(state, given)
                if truncated:
                    break
            else:
                state.expanded = True
        return Map(self.states, self.edges, self.requests, truncated)

    def follow(self, state, given):
        """Give `state` one input, and again on the same call while it leads back (a retry);
        return True if the requests ran out."""
        path = [*state.path, given]
        call, mark = self.replay(path)
        for times in range(1, RETRIES + 2):
            found = self.state(call, mark, path)
            if found.id not in self.states:
                self.states[found.id] = found
                self.queue.append(found.id)
            if found.id != state.id:
                label = given if times == 1 else f"{given} ×{times}"
                self.edges.append((state.id, label, found.id))
                return False
            if times == 1:
                self.edges.append((state.id, given, state.id))
            if self.requests >= self.max_requests:
                return True
            path = [*path, given]
            mark = call.mark()
            call.send(keys_of(given))
        return False


def main(argv=None):
    parser = argparse.ArgumentParser(prog="softphone map", description="Crawl a TwiML app's menus.")
    parser.add_argument("url", nargs="?", help="the Voice URL (default: the app, in-process)")
    settings.add_arguments(parser)
    parser.add_argument("--token", help="auth token to sign with (default: $TWILIO_AUTH_TOKEN)")
    parser.add_argument("--app", help="the app to crawl in-process (default app:app)")
    parser.add_argument("--max-depth", type=int, default=6, help="inputs given per call (6)")
    parser.add_argument("--max-requests", type=int, default=300, help="webhooks in all (300)")
    parser.add_argument("--format", choices=("text", "mermaid"), default="text")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the app's start-up log")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.url:
        target = targets.over_http(args.url, args.token or dialer.default_token())
    else:
        app = targets.load_app(args.app, quiet=not args.verbose)
        target = targets.in_process(app, args.token)
    number = dataclasses.asdict(settings.from_args(args))
    found = Crawler(
        target, max_depth=args.max_depth, max_requests=args.max_requests, **number
    ).crawl()
    mermaid = args.format == "mermaid"
    print(found.mermaid() if mermaid else found.text(), end="" if mermaid else "\n")
    # A diagram is piped to a file or a renderer: the flags go beside it, never into it.
    report = sys.stderr if mermaid else sys.stdout
    findings = found.findings()
    for finding in findings:
        print(f"FLAG  {finding}", file=report)
    if not findings:
        print("no dead ends, errors or loops found", file=report)
    return 1 if findings else 0
