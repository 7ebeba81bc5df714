"""One caller input in, what the line says and where the call goes next out. Pure.

The dialog knows node kinds and the rules every gathering node shares (reprompt on no
input, say why on invalid input, give up after `max_tries`), nothing of HTTP or TwiML.
Side effects go through `effects`: `effects.run(action, call, value) -> Outcome` and
`effects.prompt_values(call) -> dict` of values any prompt may read. The dialog owns where
the call is (node, tries, page, intent); the actions own who the caller is.
"""

from ivr.flow import GATHERING
from ivr.flow import INTENT
from ivr.flow import FlowError
from ivr.prompts import Phrase
from ivr.prompts import other_language
from ivr.spoken import Value
from ivr.types import Gather
from ivr.types import Outcome
from ivr.types import Turn

PROMPTS = (
    "no_input", "invalid_key", "too_many_tries", "no_input_limit", "no_entry_limit", "tries_left",
)  # fmt: skip
MAX_HOPS = 32  # say -> say chains longer than this are a flow bug, not a call


class Dialog:
    """Apply one input to a call, following a flow."""

    def __init__(self, flow, call, effects):
        self.flow, self.call, self.effects = flow, call, effects
        self.phrases = []
        self.trace = []  # nodes entered, keys taken, failure exits: for path coverage
        self.hops = 0

    def prompt(self, key):
        return Phrase.of(key, **self.effects.prompt_values(self.call))

    def node_prompt(self, node, key=None):
        """A gathering node's prompt (or `key`), after its offer in the other language, if any."""
        offer = []
        if node.offer:
            offer = [Phrase(node.offer, lang=other_language(self.call.lang))]
        return [*offer, self.prompt(key or node.prompt)]

    def run(self, action, value):
        outcome = self.effects.run(action, self.call, value)
        if outcome.page is not None:
            self.call.page = outcome.page
        return outcome

    def turn(self, **how):
        """What the caller hears now, then what the line does (gather, queue or hang up)."""
        return Turn(tuple(self.phrases), lang=self.call.lang, trace=tuple(self.trace), **how)

    def gather(self, node):
        return self.turn(
            gather=Gather(
                node=node.id,
                timeout=node.timeout,
                num_digits=None if node.kind == "collect" else 1,
                secret=node.secret,
            )
        )

    def enter(self, node_id):
        """Arrive at a node: speak it and run it until the line waits or ends."""
        self.hops += 1
        if self.hops > MAX_HOPS:
            raise FlowError(f"node {node_id}: more than {MAX_HOPS} nodes in one turn")
        node = self.flow[node_id]
        self.trace.append(f"node:{node_id}")
        if node.identify and not self.call.account_id:
            self.call.intent = node.id
            return self.enter(self.flow.identify)
        if self.call.node != node_id:
            self.call.page, self.call.last_page = 0, False
        self.call.node, self.call.tries, self.call.keyed = node_id, 0, False
        if node.kind == "say":
            outcome = self.run(node.action, None) if node.action else Outcome()
            if node.prompt:
                self.phrases.append(self.prompt(node.prompt))
            self.phrases += outcome.phrases
            return self.enter(node.next)
        if node.kind == "answer":
            return self.speak_answer(node)
        if node.kind == "transfer":
            outcome = self.run(node.action, None) if node.action else Outcome()
            self.phrases += outcome.phrases
            if outcome.goto:
                return self.enter(node.outcomes[outcome.goto])
            self.phrases.append(self.prompt(node.prompt))
            return self.turn(queue=node.queue)
        if node.kind == "hangup":
            self.phrases.append(self.prompt(node.prompt))
            return self.turn(hangup=True)
        self.phrases += self.node_prompt(node)
        return self.gather(node)

    def speak_answer(self, node):
        """Run an answer node's action and speak what it found, then its options."""
        outcome = self.run(node.action, self.call.page)
        self.call.last_page = outcome.last  # a retry here offers what this page offered
        self.phrases += [*outcome.phrases, *self.node_prompt(node, self.options(node))]
        return self.gather(node)

    def options(self, node):
        """The prompt key a node's retry or answer ends with (None: the node's own prompt).

        An answer on its last page does not offer "more"; a menu's retry says its short form.
        """
        if node.kind == "answer":
            return node.last_prompt if self.call.last_page else None
        return node.short_prompt

    def retry(self, node, reasons, exit_kind, left=None):
        """Count a failed input; reprompt shortly, or give up after max_tries.

        `left` is what the action's own budgets still allow: the caller hears the smaller of
        it and the node's, and after the last try only that there is none (never a count).
        """
        self.call.tries += 1
        self.call.keyed = self.call.keyed or exit_kind != "no_input"
        self.trace.append(f"exit:{node.id}:{exit_kind}")
        node_left = node.max_tries - self.call.tries
        if node_left <= 0:
            self.trace.append(f"exit:{node.id}:max_tries")
            # After silences only the caller keyed nothing: say so, not that their entries ran
            # out; at an entry (a number, a PIN) no choice was asked for, so none is spoken of.
            # A last silence after keyed tries is no "many times nothing": the tries are up.
            last = "too_many_tries"
            if not self.call.keyed:
                last = "no_entry_limit" if node.kind == "collect" else "no_input_limit"
            self.phrases += [*(reasons if exit_kind != "no_input" else []), self.prompt(last)]
            return self.enter(node.on_max)
        self.phrases += reasons
        if left is not None:
            self.phrases.append(Phrase.of("tries_left", tries=Value("tries", min(left, node_left))))
        self.phrases += self.node_prompt(node, self.options(node))
        return self.gather(node)

    def follow(self, node, outcome):
        """Go where an action's outcome leads from a collect node."""
        if outcome.goto:
            self.phrases += outcome.phrases
            self.trace.append(f"exit:{node.id}:{outcome.goto}")
            return self.enter(node.outcomes[outcome.goto])
        if not outcome.ok:
            return self.retry(node, list(outcome.phrases), "invalid", outcome.left)
        self.phrases += outcome.phrases
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
            self.call.node, self.call.tries, self.call.keyed = node_id, 0, False
        if not digits:
            return self.retry(node, [self.prompt("no_input")], "no_input")
        if node.kind == "collect":
            if digits == "*" and node.back:
                self.trace.append(f"key:{node_id}:*")
                return self.enter(node.back)
            self.trace.append(f"key:{node_id}:entry")
            return self.follow(node, self.run(node.action, digits))
        if node.kind == "answer" and digits == node.more:
            self.trace.append(f"key:{node_id}:{digits}")
            self.call.page += 1
            self.call.tries, self.call.keyed = 0, False
            return self.speak_answer(node)
        target = node.keys.get(digits)
        if target is None:
            return self.retry(node, [self.prompt("invalid_key")], "invalid")
        self.trace.append(f"key:{node_id}:{digits}")
        if target == node.id:  # repeat: the whole prompt (or answer) again
            self.call.tries, self.call.keyed = 0, False
            if node.kind == "answer":
                return self.speak_answer(node)
            self.phrases += self.node_prompt(node)
            return self.gather(node)
        return self.enter(target)


def start(flow, call, effects):
    """Begin a call at the flow's entry."""
    return Dialog(flow, call, effects).enter(flow.entry)


def step(flow, node_id, digits, call, effects):
    """Apply one input at a node and return the next turn."""
    return Dialog(flow, call, effects).input(node_id, digits)


def fail(flow, call, effects):
    """Return the turn for a failure: the flow's on_error node (it must not need the store)."""
    return Dialog(flow, call, effects).enter(flow.on_error)
