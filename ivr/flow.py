"""Load the call flow from TOML into frozen dataclasses and refuse a broken one at start-up."""

import tomllib
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from softphone.common import DTMF_KEYS

FLOW_FILE = Path(__file__).with_name("flow.toml")
KINDS = ("say", "menu", "collect", "answer", "transfer", "hangup")
INTENT = "$intent"  # `next` of the PIN node: the answer asked for before identification
GATHERING = ("menu", "collect", "answer")
FIELDS = {
    "kind", "prompt", "short_prompt", "keys", "next", "back", "action", "identify",
    "more", "queue", "outcomes", "timeout", "max_tries", "on_max", "secret", "offer", "last_prompt",
}  # fmt: skip
REQUIRED = {
    "say": ("next",),  # a say node may only act (switch the language) and go on
    "menu": ("prompt", "keys"),
    "collect": ("prompt", "action", "next"),
    "answer": ("prompt", "action", "keys"),
    "transfer": ("prompt", "queue"),
    "hangup": ("prompt",),
}


class FlowError(ValueError):
    """A flow that cannot run; the message names the node and the field."""


@dataclass(frozen=True)
class Node:
    id: str
    kind: str
    prompt: str | None = None
    short_prompt: str | None = None
    keys: dict = field(default_factory=dict)
    next: str | None = None
    back: str | None = None
    action: str | None = None
    identify: bool = False
    more: str | None = None
    queue: str | None = None
    outcomes: dict = field(default_factory=dict)
    timeout: int = 5
    max_tries: int = 3
    on_max: str = "goodbye"
    secret: bool = False
    offer: str | None = None  # a prompt said first, in the other language (the language offer)
    last_prompt: str | None = None  # an answer's options on its last page (no "more" key)

    def prompt_keys(self):
        """The prompt keys this node may speak (None where a field is unset)."""
        return (self.prompt, self.short_prompt, self.offer, self.last_prompt)

    def targets(self):
        """Every node this one can lead to, as declared."""
        found = [*self.keys.values(), *self.outcomes.values(), self.back]
        if self.kind in GATHERING:
            found.append(self.on_max)
        if self.next != INTENT:
            found.append(self.next)
        return [target for target in found if target]


@dataclass(frozen=True)
class Flow:
    entry: str
    on_error: str
    identify: str  # where an answer that needs identity sends an unidentified caller
    nodes: dict

    def __getitem__(self, node_id):
        return self.nodes[node_id]

    def __contains__(self, node_id):
        return node_id in self.nodes

    def prompt_keys(self):
        """Every prompt key the flow speaks."""
        keys = set()
        for node in self.nodes.values():
            keys.update(key for key in node.prompt_keys() if key)
        return keys


def _node(node_id, data, defaults):
    unknown = set(data) - FIELDS
    if unknown:
        raise FlowError(f"node {node_id}: unknown field {sorted(unknown)[0]!r}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise FlowError(f"node {node_id}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    for name in REQUIRED[kind]:
        if not data.get(name):
            raise FlowError(f"node {node_id}: field {name!r} is required for a {kind} node")
    keys = {str(key): target for key, target in data.get("keys", {}).items()}
    for key in [*keys, data.get("more")]:
        if key is not None and key not in DTMF_KEYS:
            raise FlowError(f"node {node_id}: key {key!r} is not one of 0-9 * #")
    values = {**defaults, **data, "keys": keys}
    for name in ("timeout", "max_tries"):
        if not isinstance(values[name], int) or values[name] < 1:
            raise FlowError(f"node {node_id}: {name} must be a whole number of at least 1")
    return Node(id=node_id, **values)


def _reachable(flow):
    seen, todo = set(), [flow.entry, flow.on_error]
    while todo:
        node_id = todo.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        node = flow[node_id]
        todo.extend(node.targets())
        if node.identify:
            todo.append(flow.identify)
    return seen


def parse_flow(text, actions=None, prompt_keys=None):
    """Parse and validate a flow document.

    Args:
        actions: a mapping of action name to the outcome names it may return; names the
            flow uses must be in it, and each outcome must be mapped to a node.
        prompt_keys: per language, the set of prompt keys that exist.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise FlowError(f"flow is not valid TOML: {error}") from None
    defaults = {"timeout": 5, "max_tries": 3, "on_max": "goodbye", **data.get("defaults", {})}
    nodes = {nid: _node(nid, body, defaults) for nid, body in data.get("nodes", {}).items()}
    flow = Flow(
        entry=data.get("entry", ""),
        on_error=data.get("on_error", ""),
        identify=data.get("identify", ""),
        nodes=nodes,
    )
    for name in ("entry", "on_error", "identify"):
        if getattr(flow, name) not in nodes:
            raise FlowError(f"flow: {name} names {getattr(flow, name)!r}, which is not a node")
    for node in nodes.values():
        for target in node.targets():
            if target not in nodes:
                raise FlowError(f"node {node.id}: target {target!r} is not a node")
        if node.next == INTENT and not any(n.identify for n in nodes.values()):
            raise FlowError(f"node {node.id}: next is {INTENT} but no answer needs identity")
        if node.kind == "hangup" and (node.keys or node.next):
            raise FlowError(f"node {node.id}: a hangup node has no keys and no next")
        if node.identify and not any(n.next == INTENT for n in nodes.values()):
            raise FlowError(f"node {node.id}: identify is set but no node has next = {INTENT}")
        if actions is not None and node.action:
            if node.action not in actions:
                raise FlowError(f"node {node.id}: action {node.action!r} is not a known action")
            for outcome in actions[node.action]:
                if outcome not in node.outcomes:
                    raise FlowError(
                        f"node {node.id}: outcome {outcome!r} of {node.action} has no target"
                    )
    unreachable = sorted(set(nodes) - _reachable(flow))
    if unreachable:
        raise FlowError(f"node {unreachable[0]}: unreachable from the entry {flow.entry!r}")
    for lang, keys in (prompt_keys or {}).items():
        for node in nodes.values():
            for key in node.prompt_keys():
                if key and key not in keys:
                    raise FlowError(
                        f"node {node.id}: prompt {key!r} is missing in prompts/{lang}.toml"
                    )
    return flow


def load_flow(path=FLOW_FILE, actions=None, prompt_keys=None):
    """Load and validate the flow file."""
    return parse_flow(Path(path).read_text(encoding="utf-8"), actions, prompt_keys)
