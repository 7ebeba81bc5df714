"""Path coverage: which nodes, keys and failure exits a set of calls reached.

An app that hands the softphone its flow (`Hooks(flow=...)`) is measured against it:

    {"nodes": {"main": {"kind": "menu", "keys": ["1", "2"], "exits": ["no_input", ...]}}}

with what the app reports on each webhook answer in the `X-IVR-Trace` header, space-separated
tokens: `node:<id>` (a node entered), `key:<node>:<key>` (a declared key taken there) and
`exit:<node>:<kind>` (no_input, invalid, max_tries, locked, too_many, busy). The total is
nodes entered and declared keys taken; exits are listed, not counted, as some need a broken
store.

Any other app is measured by its Gathers (document URL + action URL): the keys each prompt
advertises ("press 1", "请按1") against the keys pressed there.
"""

import re
from urllib.parse import urlsplit

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


class Coverage:
    """What some calls reached, measured against the app's flow when it gave one."""

    def __init__(self, model=None):
        self.model = model
        self.nodes, self.keys, self.exits = set(), set(), set()
        self.gathers = {}  # gather id -> {"advertised": [...], "taken": set()}

    def add_trace(self, tokens):
        for token in tokens:
            kind, _, rest = token.partition(":")
            if kind == "node":
                self.nodes.add(rest)
            elif kind == "key":
                self.keys.add(tuple(rest.rsplit(":", 1)))
            elif kind == "exit":
                self.exits.add(tuple(rest.rsplit(":", 1)))

    def add_gather(self, gid, advertised, taken=None):
        entry = self.gathers.setdefault(gid, {"advertised": [], "taken": set()})
        entry["advertised"] += [key for key in advertised if key not in entry["advertised"]]
        if taken:
            entry["taken"].add(taken)

    def add(self, result):
        """Add what one scenario run reached."""
        self.add_trace(result.trace)
        for gid, (advertised, taken) in result.gathers:
            self.add_gather(gid, advertised, taken)

    def counts(self):
        """(reached, total) over nodes and declared keys, or over advertised keys."""
        if self.model:
            nodes = self.model["nodes"]
            total = len(nodes) + sum(len(node["keys"]) for node in nodes.values())
            reached = len(self.nodes & set(nodes)) + sum(
                1 for nid, node in nodes.items() for key in node["keys"] if (nid, key) in self.keys
            )
            return reached, total
        total = sum(len(entry["advertised"]) for entry in self.gathers.values())
        reached = sum(
            len(set(entry["advertised"]) & entry["taken"]) for entry in self.gathers.values()
        )
        return reached, total

    def percent(self):
        reached, total = self.counts()
        return 100.0 * reached / total if total else 0.0

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
            lines.append(f"{'gather':<50}keys pressed of those advertised")
            for gid, entry in sorted(self.gathers.items()):
                advertised = entry["advertised"]
                pressed = [key for key in advertised if key in entry["taken"]]
                missing = [key for key in advertised if key not in entry["taken"]]
                row = f"{len(pressed)}/{len(advertised)}"
                if missing:
                    row += f" (not {' '.join(missing)})"
                lines.append(f"{gid:<50}{row}")
        reached, total = self.counts()
        lines.append(f"coverage: {reached}/{total} = {self.percent():.1f} %")
        return "\n".join(lines)
