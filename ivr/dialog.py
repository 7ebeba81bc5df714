# TEMP-TRACE: a minimal X-IVR-Trace from the scenarios branch, to be replaced by the lead's.
"""One caller input in, what the line says and where the call goes next out. Pure.

The dialog knows node kinds and the rules every gathering node shares (reprompt on no
input, say why on invalid input, give up after `max_tries`), nothing of HTTP or TwiML.
Side effects go through `env`: `env.run(action, call, value) -> Outcome` and
`env.context(call) -> dict` of values prompts may read.
"""

from dataclasses import dataclass
from dataclasses import replace  # TEMP-TRACE

from ivr.flow import GATHERING
from ivr.flow import INTENT
from ivr.flow import FlowError
from ivr.prompts import Phrase

PROMPTS = ("no_input", "invalid_key", "too_many_tries")
MAX_HOPS = 32  # say -> say chains longer than this are a flow bug, not a call


@dataclass(frozen=True)
class Outcome:
    """What an action made of its input: accepted, refused (with why), or a named outcome."""

    ok: bool = True
    phrases: tuple = ()
    goto: str | None = None


@dataclass(frozen=True)
class Gather:
    """Input the line waits for at a node."""

    node: str
    timeout: int
    num_digits: int | None
    secret: bool = False
    finish_on_key: str = "#"


@dataclass(frozen=True)
class Turn:
    """What the caller hears, then: wait for keys, join a queue, or hang up."""

    phrases: tuple = ()
    gather: Gather | None = None
    queue: str | None = None
    hangup: bool = False
    lang: str = "zh"
    trace: tuple = ()  # TEMP-TRACE


class Dialog:
    """Apply one input to a call, following a flow."""

    def __init__(self, flow, call, env):
        self.flow, self.call, self.env = flow, call, env
        self.phrases = []
        self.hops = 0
        self.trace = []  # TEMP-TRACE

    def prompt(self, key):
        return Phrase.of(key, **self.env.context(self.call))

    def gather(self, node):
        return Turn(
            phrases=tuple(self.phrases),
            gather=Gather(
                node=node.id,
                timeout=node.timeout,
                num_digits=None if node.kind == "collect" else 1,
                secret=node.secret,
            ),
            lang=self.call.lang,
        )

    def enter(self, node_id):
        """Arrive at a node: speak it and run it until the line waits or ends."""
        self.hops += 1
        if self.hops > MAX_HOPS:
            raise FlowError(f"node {node_id}: more than {MAX_HOPS} nodes in one turn")
        node = self.flow[node_id]
        self.trace.append(f"node:{node_id}")  # TEMP-TRACE
        if node.identify and not self.call.account_id:
            self.call.intent = node.id
            return self.enter(self.flow.identify)
        if self.call.node != node_id:
            self.call.page = 0
        self.call.node, self.call.tries = node_id, 0
        if node.kind == "say":
            outcome = self.env.run(node.action, self.call, None) if node.action else Outcome()
            self.phrases += [self.prompt(node.prompt), *outcome.phrases]
            return self.enter(node.next)
        if node.kind == "answer":
            return self.answer(node)
        if node.kind == "transfer":
            outcome = self.env.run(node.action, self.call, None) if node.action else Outcome()
            self.phrases += outcome.phrases
            if outcome.goto:
                return self.enter(node.outcomes[outcome.goto])
            self.phrases.append(self.prompt(node.prompt))
            return Turn(tuple(self.phrases), queue=node.queue, lang=self.call.lang)
        self.phrases.append(self.prompt(node.prompt))
        if node.kind == "hangup":
            return Turn(tuple(self.phrases), hangup=True, lang=self.call.lang)
        return self.gather(node)

    def answer(self, node):
        outcome = self.env.run(node.action, self.call, self.call.page)
        self.phrases += [*outcome.phrases, self.prompt(node.prompt)]
        return self.gather(node)

    def retry(self, node, reasons):
        """Count a failed input; reprompt shortly, or give up after max_tries."""
        self.call.tries += 1
        self.phrases += reasons
        if self.call.tries >= node.max_tries:
            self.trace.append(f"exit:{node.id}:max_tries")  # TEMP-TRACE
            self.phrases.append(self.prompt("too_many_tries"))
            return self.enter(node.on_max)
        self.phrases.append(self.prompt(node.short_prompt or node.prompt))
        return self.gather(node)

    def follow(self, node, outcome):
        """Go where an action's outcome leads from a collect node."""
        self.phrases += outcome.phrases
        if outcome.goto:
            self.trace.append(f"exit:{node.id}:{outcome.goto}")  # TEMP-TRACE
            return self.enter(node.outcomes[outcome.goto])
        if not outcome.ok:
            self.trace.append(f"exit:{node.id}:invalid")  # TEMP-TRACE
            return self.retry(node, [])
        if node.next == INTENT:
            return self.enter(self.call.intent or self.flow.entry)
        return self.enter(node.next)

    def input(self, node_id, digits):
        """Apply the keys a caller sent at a node (None: nothing arrived in time)."""
        if node_id not in self.flow.nodes:
            return self.enter(self.flow.entry)
        node = self.flow[node_id]
        if node.kind not in GATHERING or (node.identify and not self.call.account_id):
            return self.enter(node_id)  # nothing to apply keys to here: arrive afresh
        if self.call.node != node_id:  # a late or replayed request: start this node afresh
            self.call.node, self.call.tries = node_id, 0
        if not digits:
            self.trace.append(f"exit:{node.id}:no_input")  # TEMP-TRACE
            return self.retry(node, [self.prompt("no_input")])
        if node.kind == "collect":
            if digits == "*" and node.back:
                self.trace.append(f"key:{node.id}:*")  # TEMP-TRACE
                return self.enter(node.back)
            return self.follow(node, self.env.run(node.action, self.call, digits))
        if node.kind == "answer" and digits == node.more:
            self.trace.append(f"key:{node.id}:{digits}")  # TEMP-TRACE
            self.call.page += 1
            self.call.tries = 0
            return self.answer(node)
        target = node.keys.get(digits)
        if target is None:
            self.trace.append(f"exit:{node.id}:invalid")  # TEMP-TRACE
            return self.retry(node, [self.prompt("invalid_key")])
        self.trace.append(f"key:{node.id}:{digits}")  # TEMP-TRACE
        if target == node.id:  # repeat: the whole prompt (or answer) again
            self.call.tries = 0
            if node.kind == "answer":
                return self.answer(node)
            self.phrases.append(self.prompt(node.prompt))
            return self.gather(node)
        return self.enter(target)


def start(flow, call, env):
    """Begin a call at the flow's entry."""
    dialog = Dialog(flow, call, env)  # TEMP-TRACE
    return replace(dialog.enter(flow.entry), trace=tuple(dialog.trace))  # TEMP-TRACE


def step(flow, node_id, digits, call, env):
    """Apply one input at a node and return the next turn."""
    dialog = Dialog(flow, call, env)  # TEMP-TRACE
    return replace(dialog.input(node_id, digits), trace=tuple(dialog.trace))  # TEMP-TRACE


def fail(flow, call, env):
    """Return the turn for a failure: the flow's on_error node (it must not need the store)."""
    dialog = Dialog(flow, call, env)  # TEMP-TRACE
    dialog.trace.append(f"exit:{call.node or flow.entry}:busy")  # TEMP-TRACE
    return replace(dialog.enter(flow.on_error), trace=tuple(dialog.trace))  # TEMP-TRACE
