"""`softphone map URL`: explore any TwiML app by pressing what its prompts offer.

At every Gather the crawler presses each key the prompt advertises ("press 1", "请按1") and
also stays silent, each time replaying the call from the start (apps keep call state), up
to a depth and a number of requests. It flags dead ends (a call that ends without a spoken
goodbye), errors with Twilio's codes, and menus from which no key ever reaches an end.
"""

import argparse
import re
import sys
from collections import deque
from dataclasses import dataclass
from dataclasses import field

from softphone import dialer
from softphone import target as targets
from softphone.coverage import advertised_keys
from softphone.coverage import gather_id
from softphone.interpreter import Call
from softphone.interpreter import Keys

GOODBYE = re.compile(r"good\s*bye|\bbye\b|thank you for calling|再见|感谢", re.IGNORECASE)
SILENCE = "."
LABEL_CHARS = 40


@dataclass
class State:
    """Where a call can be: waiting at a Gather, or over (well, badly, or with an error)."""

    id: str
    kind: str  # gather, end, transfer, dead_end, error
    label: str
    path: list
    keys: list = field(default_factory=list)
    expanded: bool = False


@dataclass
class Map:
    """What a crawl found."""

    states: dict
    edges: list  # (from id, key, to id)
    requests: int
    truncated: bool

    def findings(self):
        """Dead ends, errors and loops, each with the keys that lead there."""
        found = []
        for state in self.states.values():
            how = " ".join(state.path) or "(dialling)"
            if state.kind == "dead_end":
                found.append(f"dead end after {how}: the call ends on {state.label!r}, no goodbye")
            elif state.kind == "error":
                found.append(f"{state.label} after {how}")
        for state in self.stuck():
            how = " ".join(state.path) or "(dialling)"
            found.append(f"loop after {how}: from {state.label!r} no key ever reaches an end")
        return found

    def stuck(self):
        """Gathers, fully explored, from which no path reaches an end or a transfer."""
        ends = {sid for sid, s in self.states.items() if s.kind in ("end", "transfer")}
        unknown = {sid for sid, s in self.states.items() if s.kind == "gather" and not s.expanded}
        good = ends | unknown  # an unexplored state might still end well: never flag it
        changed = True
        while changed:
            changed = False
            for source, _key, target in self.edges:
                if target in good and source not in good:
                    good.add(source)
                    changed = True
        return [s for sid, s in self.states.items() if s.kind == "gather" and sid not in good]

    def text(self):
        lines = [f"{len(self.states)} states, {self.requests} requests"]
        if self.truncated:
            lines[0] += " (stopped at the request limit)"
        names = {sid: f"S{i}" for i, sid in enumerate(self.states)}
        for sid, state in self.states.items():
            keys = f"  keys {' '.join(state.keys)}" if state.keys else ""
            lines.append(f"  {names[sid]:<4} {state.kind:<9} {state.label!r}{keys}")
        for source, key, target in self.edges:
            lines.append(f"  {names[source]} --{key}--> {names[target]}")
        return "\n".join(lines)

    def mermaid(self):
        names = {sid: f"S{i}" for i, sid in enumerate(self.states)}
        lines = ["flowchart TD"]
        for sid, state in self.states.items():
            label = f"{state.kind}: {state.label}".replace('"', "#quot;")
            lines.append(f'  {names[sid]}["{label}"]')
        for source, key, target in self.edges:
            label = "silence" if key == SILENCE else key
            lines.append(f'  {names[source]} -->|"{label}"| {names[target]}')
        return "\n".join(lines) + "\n"


def _short(text):
    text = " ".join(text.split())
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS] + "…"


class Crawler:
    def __init__(self, target, to="12333", max_depth=6, max_requests=300):
        self.target, self.to = target, to
        self.max_depth, self.max_requests = max_depth, max_requests
        self.requests = 0

    def fetch(self, method, url, params):
        self.requests += 1
        return self.target.fetch(method, url, params)

    def replay(self, path):
        """Dial afresh and answer each Gather along `path`; return the call and the last mark."""
        call = Call(self.target.url, self.fetch, to=self.to, measure=lambda _url: 1.0)
        call.start()
        mark = 0
        for key in path:
            if call.ended:
                break
            mark = len(call.events)
            call.send(Keys() if key == SILENCE else Keys.parse(key))
        return call, mark

    def state(self, call, mark, path):
        events = call.events[mark:]
        said = [e.data["text"] for e in events if e.kind == "say"]
        errors = [e for e in events if e.kind == "error"]
        if errors:
            data = errors[0].data
            code = data.get("code")
            return State(
                f"error:{code}:{data.get('url', '')}",
                "error",
                f"error {code}: {data['message']}",
                path,
            )
        if call.ended:
            transfer = next((e for e in events if e.kind == "transfer"), None)
            if transfer:
                return State(
                    f"transfer:{transfer.data['to']}", "transfer", transfer.data["to"], path
                )
            last = said[-1] if said else ""
            kind = "end" if GOODBYE.search(" ".join(said[-2:])) else "dead_end"
            return State(f"{kind}:{last}", kind, _short(last) or "(silence)", path)
        start = max(i for i, e in enumerate(call.events) if e.kind == "gather")
        prompt = " ".join(e.data["text"] for e in call.events[start:] if e.kind == "say")
        keys = advertised_keys(prompt)
        action = call.events[start].data["action"]
        sid = f"gather:{gather_id(call.doc_url, action)}:{''.join(keys)}"
        return State(sid, "gather", _short(prompt) or "(no prompt)", path, keys)

    def crawl(self):
        call, mark = self.replay([])
        first = self.state(call, mark, [])
        states, edges, queue = {first.id: first}, [], deque([first.id])
        truncated = False
        while queue:
            state = states[queue.popleft()]
            if state.kind != "gather" or len(state.path) >= self.max_depth:
                continue
            for key in [*state.keys, SILENCE]:
                if self.requests >= self.max_requests:
                    truncated = True
                    break
                path = [*state.path, key]
                call, mark = self.replay(path)
                found = self.state(call, mark, path)
                if found.id not in states:
                    states[found.id] = found
                    queue.append(found.id)
                edges.append((state.id, key, found.id))
            else:
                state.expanded = True
            if truncated:
                break
        return Map(states, edges, self.requests, truncated)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="softphone map", description="Crawl a TwiML app's menus.")
    parser.add_argument("url", nargs="?", help="the Voice URL (default: the app, in-process)")
    parser.add_argument("--to", default="12333", help="the dialled number")
    parser.add_argument("--token", help="auth token to sign with (default: $TWILIO_AUTH_TOKEN)")
    parser.add_argument("--app", help="the app to crawl in-process (default app:app)")
    parser.add_argument("--max-depth", type=int, default=6, help="keys pressed per call (6)")
    parser.add_argument("--max-requests", type=int, default=300, help="webhooks in all (300)")
    parser.add_argument("--format", choices=("text", "mermaid"), default="text")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.url:
        target = targets.over_http(args.url, args.token or dialer.default_token())
    else:
        target = targets.in_process(targets.load_app(args.app), args.token)
    found = Crawler(target, args.to, args.max_depth, args.max_requests).crawl()
    print(found.mermaid() if args.format == "mermaid" else found.text())
    findings = found.findings()
    for finding in findings:
        print(f"FLAG  {finding}")
    if not findings:
        print("no dead ends, errors or loops found")
    return 1 if findings else 0
