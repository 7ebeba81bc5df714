"""Path coverage: which nodes, keys and failure exits a set of calls reached.

An app that hands the softphone its flow (`Hooks(flow=...)`) is measured against it:

    {"nodes": {"main": {"kind": "menu", "keys": ["1", "2"], "exits": ["no_input", ...]}}}

with what the app reports on each webhook answer in the `X-IVR-Trace` header, space-separated
tokens: `node:<id>` (a node entered), `key:<node>:<key>` (a declared key taken there) and
`exit:<node>:<kind>` (no_input, invalid, max_tries, locked, too_many, busy). The total is
nodes entered and declared keys taken; exits are listed, not counted, as some need a broken
store.

Any other app is measured by what its calls were asked for, each Gather and Record named by
its document and action URLs: at a Gather whose prompt advertises keys ("press 1", "请按1"),
those keys pressed there; at one that advertises none, an answer given (keys or words, as it
takes them); at a Record, a message left. The documents fetched are listed. With nothing to
cover the total is 100 %, never 0/0.
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from softphone.gather import inputs_of
from softphone.interpreter import Keys

TRACE_HEADER = "x-ivr-trace"
KEY_WORDS = {
    "star": "*", "hash": "#", "pound": "#", "zero": "0", "one": "1", "two": "2", "three": "3",
    "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "星号": "*", "井号": "#",
}  # fmt: skip
ADVERTISED = re.compile(
    r"(?:press|dial|enter)\s+(\d|star|hash|pound|zero|one|two|three|four|five|six|seven|eight|nine)\b"
    r"|按\s*(\d|星号|井号|[*#])",
    re.IGNORECASE,
)


def advertised_keys(text):
    """The keys a prompt tells the caller to press, in the order it says them."""
    keys = []
    for english, chinese in ADVERTISED.findall(text or ""):
        word = (english or chinese).lower()
        key = KEY_WORDS.get(word, word)
        if key not in keys:
            keys.append(key)
    return keys


def trace_of(headers):
    """The trace tokens in a reply's headers (any case of the header's name)."""
    for name, value in (headers or {}).items():
        if name.lower() == TRACE_HEADER:
            return value.split()
    return []


def gather_id(document_url, action_url):
    """A Gather, named by the document it is in and where it posts, without query strings."""
    return f"{urlsplit(document_url).path or '/'} -> {urlsplit(action_url).path or '/'}"


# The events that end what the caller heard before being asked again.
ANSWERS = ("dial", "keys", "speech", "silence")
ANSWER_ITEM = "an answer"  # what a Gather that advertises no key is covered by
MESSAGE_ITEM = "a message"  # what a Record is covered by


@dataclass(frozen=True)
class Asked:
    """One time a call waited for the caller: where, what it could take, and what it got."""

    id: str  # "document path -> action path"
    kind: str  # Gather or Record
    offered: tuple  # the keys its prompt advertised
    takes: str  # what it can take, in words
    given: str  # the keys pressed, "words", silence, message or hangup


def takes(verb):
    """What a Gather or Record can take, in words: from numDigits, finishOnKey and input."""
    if verb.tag == "Record":
        return MESSAGE_ITEM
    inputs = inputs_of(verb)
    digits, finish = verb.get("numDigits", ""), verb.get("finishOnKey", "#")
    if digits.isdigit() and int(digits) > 0:
        keys = "1 key" if digits == "1" else f"{digits} keys"
    else:
        keys = f"keys until {finish}" if len(finish) == 1 else "keys until a pause"
    return " or ".join({"dtmf": keys, "speech": "words"}[kind] for kind in sorted(inputs))


def asked(call, kind, value=None):
    """The Gather or Record the call waits at and the caller's answer (a step's kind and
    value: press, speak, wait, hangup), or None if it waits for nothing."""
    verb = call.waiting
    if verb is None or verb.tag == "Echo":  # an echo asks nothing
        return None
    start = max((i for i, e in enumerate(call.events) if e.kind in ANSWERS), default=-1)
    said = " ".join(e.data["text"] for e in call.events[start + 1 :] if e.kind == "say")
    where = gather_id(call.doc_url, call.resolve(verb.get("action")))
    if kind == "hangup" or kind == "wait":
        given = "hangup" if kind == "hangup" else "silence"
    elif verb.tag == "Record":
        given = "message"
    elif kind == "speak":
        given = f'"{value}"'
    else:
        keys = Keys.parse(value).keys.replace("w", "")
        finish, digits = verb.get("finishOnKey", "#"), verb.get("numDigits", "")
        if digits.isdigit() and int(digits) > 0:
            keys = keys[: int(digits)]  # numDigits ends the entry: the rest is not taken
        given = keys[:-1] if len(keys) > 1 and finish and keys.endswith(finish) else keys
    offered = tuple(advertised_keys(said)) if verb.tag == "Gather" else ()
    return Asked(where, verb.tag, offered, takes(verb), given or "silence")


class Coverage:
    """What some calls reached, measured against the app's flow when it gave one."""

    def __init__(self, model=None):
        self.model = model
        self.nodes, self.keys, self.exits = set(), set(), set()
        self.asked = {}  # (gather or record id, kind) -> {"offered", "takes", "given"}
        self.documents = set()

    def add_trace(self, tokens):
        for token in tokens:
            kind, _, rest = token.partition(":")
            if kind == "node":
                self.nodes.add(rest)
            elif kind == "key":
                self.keys.add(tuple(rest.rsplit(":", 1)))
            elif kind == "exit":
                self.exits.add(tuple(rest.rsplit(":", 1)))

    def add_asked(self, noted):
        entry = self.asked.setdefault(
            (noted.id, noted.kind), {"offered": [], "takes": noted.takes, "given": set()}
        )
        entry["offered"] += [key for key in noted.offered if key not in entry["offered"]]
        entry["given"].add(noted.given)

    def add(self, result):
        """Add what one scenario run reached."""
        self.add_trace(result.trace)
        self.documents |= {urlsplit(url).path or "/" for url in result.documents}
        for noted in result.gathers:
            self.add_asked(noted)

    @staticmethod
    def items(kind, entry):
        """What covers one Gather or Record: [(item, reached)]."""
        given = entry["given"]
        if kind == "Record":
            return [(MESSAGE_ITEM, "message" in given)]
        if entry["offered"]:
            return [(key, key in given) for key in entry["offered"]]
        return [(ANSWER_ITEM, bool(given - {"silence", "hangup"}))]

    def counts(self):
        """(reached, total) over nodes and declared keys, or over advertised keys."""
        if self.model:
            nodes = self.model["nodes"]
            total = len(nodes) + sum(len(node["keys"]) for node in nodes.values())
            reached = len(self.nodes & set(nodes)) + sum(
                1 for nid, node in nodes.items() for key in node["keys"] if (nid, key) in self.keys
            )
            return reached, total
        items = [item for (_id, kind), e in self.asked.items() for item in self.items(kind, e)]
        return sum(reached for _item, reached in items), len(items)

    def percent(self):
        """Reached over total; 100 when there is nothing to cover (never a 0/0 that fails)."""
        reached, total = self.counts()
        return 100.0 * reached / total if total else 100.0

    def report(self):
        """A table per node (or per Gather) and the total."""
        lines = []
        if self.model:
            width = max(18, *(len(nid) + 2 for nid in self.model["nodes"]))  # ids line up
            lines.append(f"{'node':<{width}}{'kind':<10}{'entered':<9}{'keys':<22}exits fired")
            for nid, node in self.model["nodes"].items():
                keys = node["keys"]
                missing = [key for key in keys if (nid, key) not in self.keys]
                taken = f"{len(keys) - len(missing)}/{len(keys)}" if keys else "-"
                if missing:
                    taken += f" (not {' '.join(missing)})"
                fired = [kind for kind in node["exits"] if (nid, kind) in self.exits]
                fired += sorted(k for n, k in self.exits if n == nid and k not in node["exits"])
                entered = "yes" if nid in self.nodes else "NO"
                lines.append(
                    f"{nid:<{width}}{node['kind']:<10}{entered:<9}{taken:<22}"
                    f"{' '.join(fired) or '-'}"
                )
            entered = len(self.nodes & set(self.model["nodes"]))
            lines.append(f"nodes entered: {entered}/{len(self.model['nodes'])}")
        else:
            lines += self.asked_rows()
        reached, total = self.counts()
        if total:
            lines.append(f"coverage: {reached}/{total} = {self.percent():.1f} %")
        else:
            lines.append("coverage: nothing to cover (no input was asked for) = 100.0 %")
        return "\n".join(lines)

    def asked_rows(self):
        """The table of an app without a flow: each Gather and Record, then the documents."""
        rows = [("where", "verb", "takes", "given", "covered")]
        for (where, kind), entry in self.asked.items():  # in the order the calls reached them
            items = self.items(kind, entry)
            missing = [item for item, reached in items if not reached]
            covered = f"{len(items) - len(missing)}/{len(items)}"
            if missing:
                covered += f" (not {', '.join(missing)})"
            offered = f": {' '.join(entry['offered'])}" if entry["offered"] else ""
            given = " ".join(sorted(entry["given"]))
            rows.append((where, kind, entry["takes"] + offered, given, covered))
        widths = [max(len(row[column]) for row in rows) + 2 for column in range(4)]
        lines = [
            "".join(f"{cell:<{w}}" for cell, w in zip(row[:4], widths, strict=True)) + row[4]
            for row in rows
        ]
        gathers = sum(kind == "Gather" for _where, kind in self.asked)
        lines.append(
            f"Gathers reached: {gathers}, Records reached: {len(self.asked) - gathers}, "
            f"documents fetched: {len(self.documents)} ({' '.join(sorted(self.documents))})"
        )
        return lines
