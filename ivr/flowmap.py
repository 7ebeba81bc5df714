"""Draw the call flow (`flask flow map`) and hand the softphone its shape for path coverage."""

import re
import shutil
import subprocess
from dataclasses import dataclass

import click
from flask import current_app
from flask.cli import AppGroup

from ivr.flow import GATHERING
from ivr.flow import INTENT
from ivr.prompts import other_language

# The failure exits every gathering node has; a collect's `locked` and `too_many` outcomes
# (a locked number, a caller with too many wrong PINs) are ones too.
EXITS = ("no_input", "invalid", "max_tries")
OUTCOME_EXITS = ("locked", "too_many")
FIRST_WORDS = 28  # characters of a prompt shown on its node
SHAPES = {  # Mermaid node shapes by kind
    "say": ('["', '"]'),
    "menu": ('{{"', '"}}'),
    "collect": ('[/"', '"/]'),
    "answer": ('{{"', '"}}'),
    "transfer": ('[["', '"]]'),
    "hangup": ('(["', '"])'),
}
DOT_SHAPES = {
    "say": "box",
    "menu": "hexagon",
    "collect": "parallelogram",
    "answer": "hexagon",
    "transfer": "box3d",
    "hangup": "oval",
}


@dataclass(frozen=True)
class Start:
    """A drawn node that is not a flow node (a flow node's id is any TOML key, even "call")."""

    name: str
    label: str


CALL, FAILURE = Start("call", "call"), Start("failure", "any failure")


@dataclass(frozen=True)
class Edge:
    """One way from a node to another: a key, an outcome, or a failure exit (dashed)."""

    source: str
    target: str
    label: str = ""
    dashed: bool = False


def coverage_model(flow):
    """The flow as the softphone's coverage reads it: each node's kind, keys and exits."""
    nodes = {}
    for node in flow.nodes.values():
        keys = list(node.keys)
        if node.more:
            keys.append(node.more)
        if node.kind == "collect" and node.back:
            keys.append("*")
        exits = list(EXITS) if node.kind in GATHERING else []
        exits += [outcome for outcome in node.outcomes if outcome in OUTCOME_EXITS]
        nodes[node.id] = {"kind": node.kind, "keys": keys, "exits": exits}
    return {"nodes": nodes}


def edges(flow):
    """Every edge of the flow: keys solid and labelled, failure exits dashed."""
    found = [Edge(CALL, flow.entry), Edge(FAILURE, flow.on_error, "any failure", True)]
    asked_for = [node.id for node in flow.nodes.values() if node.identify]
    for node in flow.nodes.values():
        for key, target in node.keys.items():
            found.append(Edge(node.id, target, key))
        if node.more:
            found.append(Edge(node.id, node.id, f"{node.more} more"))
        if node.back:
            found.append(Edge(node.id, node.back, "*"))
        if node.next == INTENT:
            found += [Edge(node.id, target, "ok, as asked") for target in asked_for]
        elif node.next:
            found.append(Edge(node.id, node.next, "ok" if node.kind == "collect" else ""))
        for outcome, target in node.outcomes.items():
            found.append(Edge(node.id, target, outcome, True))
        if node.identify:
            found.append(Edge(node.id, flow.identify, "not identified", True))
        if node.kind in GATHERING:
            found.append(Edge(node.id, node.on_max, f"{node.max_tries} × no or bad input", True))
    return found


def first_words(prompts, lang, node):
    """The start of what a node says, as a caller hears it (the other language's offer first);
    placeholders shown as an ellipsis."""
    text = prompts.texts[lang][node.prompt] if node.prompt else ""
    if node.offer:
        text = prompts.texts[other_language(lang)][node.offer] + " " + text
    text = re.sub(r"\{[^}]*\}", "…", text).strip()
    return text if len(text) <= FIRST_WORDS else text[:FIRST_WORDS].rstrip() + "…"


def _label(prompts, lang, node):
    """A node's label lines: its id, and its first words if it says any (a say node may not)."""
    words = first_words(prompts, lang, node)
    return (node.id, words) if words else (node.id,)


def mermaid_ids(flow):
    """A Mermaid id for every drawn node: `n_` and the node's id in safe characters.

    The prefix keeps every id off Mermaid's keywords (`call`, `end`, `graph`, `click`, ...);
    the two start nodes have none, so no flow node can take their ids.
    """
    ids = {CALL: "start_call", FAILURE: "start_failure"}
    taken = set(ids.values())
    for node in flow.nodes.values():
        name = "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node.id)
        while name in taken:
            name += "_"
        ids[node.id] = name
        taken.add(name)
    return ids


def _mermaid_text(text):
    """Text inside a quoted Mermaid label: its own quotes as an entity."""
    return text.replace('"', "#quot;")


def mermaid(flow, prompts, lang):
    """The flow as a Mermaid flowchart."""
    ids = mermaid_ids(flow)
    lines = [
        "flowchart TD",
        *(f'  {ids[start]}(("{start.label}")):::start' for start in (CALL, FAILURE)),
    ]
    for node in flow.nodes.values():
        label = _mermaid_text("<br/>".join(_label(prompts, lang, node)))
        opening, closing = SHAPES[node.kind]
        lines.append(f"  {ids[node.id]}{opening}{label}{closing}")
    for edge in edges(flow):
        source, target, label = ids[edge.source], ids[edge.target], _mermaid_text(edge.label)
        if edge.dashed:
            lines.append(f'  {source} -.->|"{label}"| {target}')
        elif label:
            lines.append(f'  {source} -->|"{label}"| {target}')
        else:
            lines.append(f"  {source} --> {target}")
    lines.append("  classDef start fill:#eee,stroke:#999")
    return "\n".join(lines) + "\n"


def _quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(flow, prompts, lang):
    """The flow as a Graphviz digraph."""
    lines = [
        "digraph flow {",
        '  graph [rankdir=TB, fontname="Noto Sans CJK SC,sans-serif"];',
        '  node [fontname="Noto Sans CJK SC,sans-serif", fontsize=11];',
        '  edge [fontname="sans-serif", fontsize=10];',
    ]
    ids = {node.id: node.id for node in flow.nodes.values()}  # quoted, any id is safe in dot
    for start in (CALL, FAILURE):
        ids[start] = start.name
        while ids[start] in flow.nodes:
            ids[start] = "_" + ids[start]
        label = _quote(start.label.replace(" ", "\n"))
        style = 'style=filled, fillcolor="#eeeeee"'
        lines.append(f"  {_quote(ids[start])} [shape=circle, label={label}, {style}];")
    for node in flow.nodes.values():
        label = _quote("\n".join(_label(prompts, lang, node)))
        lines.append(f"  {_quote(node.id)} [shape={DOT_SHAPES[node.kind]}, label={label}];")
    for edge in edges(flow):
        style = ", style=dashed, color=gray40" if edge.dashed else ""
        source, target = _quote(ids[edge.source]), _quote(ids[edge.target])
        lines.append(f"  {source} -> {target} [label={_quote(edge.label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def svg(dot_text):
    """Render dot text to SVG with Graphviz's `dot`."""
    program = shutil.which("dot")
    if program is None:
        raise click.ClickException(
            "SVG needs Graphviz's `dot`: apt-get install graphviz (`make test` installs it "
            "when root), or use --format mermaid"
        )
    done = subprocess.run(
        [program, "-Tsvg"], input=dot_text.encode(), capture_output=True, check=False, timeout=60
    )
    if done.returncode:
        raise click.ClickException(f"dot failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode()


flow_cli = AppGroup("flow", help="The call flow (ivr/flow.toml).")


@flow_cli.command("map")
@click.option("--format", "form", type=click.Choice(("mermaid", "dot", "svg")), default="mermaid")
@click.option("--lang", help="the language of the prompts shown (default: the line's default)")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-")
def map_command(form, lang, output):
    """Draw the flow: nodes with their prompt's first words, keys on the edges."""
    hotline = current_app.extensions["ivr"]
    lang = lang or current_app.config["IVR_DEFAULT_LANG"]
    if lang not in hotline.prompts.texts:
        raise click.BadParameter(f"no prompts in {lang!r}", param_hint="--lang")
    if form == "mermaid":
        output.write(mermaid(hotline.flow, hotline.prompts, lang))
    else:
        text = dot(hotline.flow, hotline.prompts, lang)
        output.write(text if form == "dot" else svg(text))


def init_app(app):
    """Register `flask flow`."""
    app.cli.add_command(flow_cli)
