"""`flask flow map`: the flow drawn as Mermaid, dot and SVG; the flow handed to coverage."""

import re
import shutil
import subprocess

import pytest

from ivr.flow import parse_flow
from ivr.flowmap import coverage_model
from ivr.flowmap import dot
from ivr.flowmap import edges
from ivr.flowmap import mermaid
from ivr.prompts import Prompts

# Words Mermaid's flowchart grammar reads as keywords, not node ids (Mermaid 10 and 11).
MERMAID_KEYWORDS = {
    "call", "end", "graph", "flowchart", "subgraph", "style", "class", "classDef", "click",
    "linkStyle", "default", "direction", "href", "callback", "interpolate", "accTitle", "accDescr",
}  # fmt: skip
NODE_LINE = re.compile(
    r'  ([A-Za-z0-9_]+)(\(\(|\{\{|\[/|\[\[|\(\[|\[)"[^"]*"(\)\)|\}\}|/\]|\]\]|\]\)|\])'
)
EDGE_LINE = re.compile(r'  ([A-Za-z0-9_]+) (-->|-\.->)(?:\|"[^"]*"\|)? ([A-Za-z0-9_]+)')
# A flow whose node ids are Mermaid's keywords and characters no id may hold.
AWKWARD_FLOW = """
entry = "call"
on_error = "end"
identify = "class"

[nodes.call]
kind = "menu"
prompt = "p"
keys = { "1" = "graph", "2" = "click", "3" = "end", "4" = "x-ray.o" }
on_max = "end"

[nodes.graph]
kind = "say"
prompt = "p"
next = "subgraph"

[nodes.subgraph]
kind = "answer"
prompt = "p"
action = "a"
keys = { "*" = "call" }
identify = true
on_max = "end"

[nodes.class]
kind = "collect"
prompt = "p"
action = "a"
next = "$intent"
on_max = "end"

[nodes.click]
kind = "transfer"
prompt = "p"
queue = "agents"
next = "style"

[nodes.style]
kind = "say"
prompt = "p"
next = "end"

[nodes."x-ray.o"]
kind = "say"
prompt = 'say "hi"'
next = "end"

[nodes.end]
kind = "hangup"
prompt = "p"
"""


def test_mermaid_shows_nodes_with_their_first_words_keys_and_dashed_exits(runner):
    result = runner.invoke(args=["flow", "map", "--lang", "en"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("flowchart TD\n")
    # The other language's offer comes first, in its own language, as the caller hears it.
    assert 'n_main{{"main<br/>普通话请按9。 For your balance, pr…"}}' in out
    assert 'n_switch_language["switch_language"]' in out  # it says nothing of its own
    assert (
        'n_pin_attempts_exceeded(["pin_attempts_exceeded<br/>There have been too many inc…"])'
        in out
    )
    assert 'n_main -->|"1"| n_balance' in out
    assert 'n_main -->|"5"| n_services' in out
    assert 'n_identify -->|"ok"| n_pin' in out
    assert 'n_pin -.->|"card_lost"| n_card_lost' in out
    assert 'n_services -->|"1"| n_pin_old' in out
    assert 'n_pin_repeat -.->|"mismatch"| n_pin_new' in out
    assert 'n_pin -.->|"locked"| n_account_locked' in out
    assert 'n_pin -.->|"too_many"| n_pin_attempts_exceeded' in out
    assert 'n_pin_old -.->|"too_many"| n_pin_attempts_exceeded' in out
    assert 'n_main -.->|"3 × no or bad input"| n_give_up' in out
    assert 'n_balance -.->|"not identified"| n_identify' in out
    assert 'n_pin -->|"ok, as asked"| n_history' in out
    assert 'start_failure -.->|"any failure"| n_system_busy' in out


def test_mermaid_in_mandarin(runner):
    out = runner.invoke(args=["flow", "map", "--lang", "zh"]).output
    assert "welcome<br/>欢迎致电…幺二三三三。" in out


def test_dot(runner):
    out = runner.invoke(args=["flow", "map", "--format", "dot", "--lang", "en"]).output
    assert out.startswith("digraph flow {")
    assert '"main" -> "balance" [label="1"];' in out
    assert '"pin" -> "account_locked" [label="locked", style=dashed, color=gray40];' in out


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg(runner, tmp_path):
    path = tmp_path / "flow.svg"
    result = runner.invoke(args=["flow", "map", "--format", "svg", "-o", str(path)])
    assert result.exit_code == 0, result.output
    svg = path.read_text(encoding="utf-8")
    assert "<svg" in svg
    assert "account_locked" in svg


def test_svg_without_graphviz_says_how_to_get_it(runner, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = runner.invoke(args=["flow", "map", "--format", "svg"])
    assert result.exit_code == 1
    assert "apt-get install graphviz" in result.output
    assert "--format mermaid" in result.output


def test_coverage_model_lists_every_node_its_keys_and_exits(app):
    model = coverage_model(app.extensions["ivr"].flow)["nodes"]
    assert model["main"] == {
        "kind": "menu",
        "keys": ["1", "2", "3", "4", "5", "0", "9", "*"],
        "exits": ["no_input", "invalid", "max_tries"],
    }
    assert model["history"]["keys"] == ["1", "*", "0", "2"]
    assert model["pin"] == {
        "kind": "collect",
        "keys": ["*"],
        "exits": ["no_input", "invalid", "max_tries", "locked", "too_many"],
    }
    assert model["welcome"] == {"kind": "say", "keys": [], "exits": []}
    assert app.softphone_hooks.flow() == {"nodes": model}


def test_every_declared_target_is_an_edge(app):
    flow = app.extensions["ivr"].flow
    drawn = {(edge.source, edge.target) for edge in edges(flow)}
    for node in flow.nodes.values():
        for target in node.targets():
            assert (node.id, target) in drawn


def awkward():
    flow = parse_flow(AWKWARD_FLOW)
    texts = {"p": "Press 1.", 'say "hi"': 'He said "hi".'}
    return flow, Prompts({"en": texts, "zh": texts})


def test_mermaid_ids_are_never_keywords_whatever_the_nodes_are_called():
    flow, prompts = awkward()
    text = mermaid(flow, prompts, "en")
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    ids = set()
    for line in lines[1:]:
        if line.startswith("  classDef "):
            continue
        node, edge = NODE_LINE.fullmatch(line.removesuffix(":::start")), EDGE_LINE.fullmatch(line)
        assert node or edge, f"not a node or an edge: {line!r}"
        ids |= {node[1]} if node else {edge[1], edge[3]}
    assert not ids & MERMAID_KEYWORDS
    assert '  start_call(("call")):::start' in lines
    assert '  n_call{{"call<br/>Press 1."}}' in lines
    assert '  n_x_ray_o["x-ray.o<br/>He said #quot;hi#quot;."]' in lines
    assert "  start_call --> n_call" in lines
    assert '  n_call -->|"3"| n_end' in lines
    assert '  start_failure -.->|"any failure"| n_end' in lines


def test_dot_quotes_every_id():
    flow, prompts = awkward()
    text = dot(flow, prompts, "en")
    assert '  "call" -> "graph" [label="1"];' in text
    assert '  "_call" -> "call" [label=""];' in text  # the start, beside a node named call
    assert '  "x-ray.o" [shape=box, label="x-ray.o\nHe said \\"hi\\"."];' in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_dot_of_keyword_ids_renders():
    flow, prompts = awkward()
    done = subprocess.run(
        ["dot", "-Tsvg"], input=dot(flow, prompts, "en").encode(), capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.count(b'<g id="node') == 10  # eight nodes and the two starts
