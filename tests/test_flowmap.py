"""`flask flow map`: the flow drawn as Mermaid, dot and SVG; the flow handed to coverage."""

import shutil

import pytest

from ivr.flowmap import coverage_model
from ivr.flowmap import edges


def test_mermaid_shows_nodes_with_their_first_words_keys_and_dashed_exits(runner):
    result = runner.invoke(args=["flow", "map", "--lang", "en"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("flowchart TD\n")
    # The other language's offer comes first, in its own language, as the caller hears it.
    assert 'main{{"main<br/>普通话请按9。 For your balance, pr…"}}' in out
    assert (
        'pin_attempts_exceeded(["pin_attempts_exceeded<br/>There have been too many inc…"])' in out
    )
    assert 'main -->|"1"| balance' in out
    assert 'main -->|"5"| services' in out
    assert 'identify -->|"ok"| pin' in out
    assert 'pin -.->|"card_lost"| card_lost' in out
    assert 'services -->|"1"| pin_old' in out
    assert 'pin_repeat -.->|"mismatch"| pin_new' in out
    assert 'pin -.->|"locked"| account_locked' in out
    assert 'pin -.->|"too_many"| pin_attempts_exceeded' in out
    assert 'main -.->|"3 × no or bad input"| goodbye' in out
    assert 'balance -.->|"not identified"| identify' in out
    assert 'pin -->|"ok, as asked"| history' in out
    assert 'failure -.->|"any failure"| system_busy' in out


def test_mermaid_in_mandarin(runner):
    out = runner.invoke(args=["flow", "map", "--lang", "zh"]).output
    assert "welcome<br/>欢迎致电…幺二三三三。" in out


def test_dot(runner):
    out = runner.invoke(args=["flow", "map", "--format", "dot", "--lang", "en"]).output
    assert out.startswith("digraph flow {")
    assert 'main -> balance [label="1"];' in out
    assert 'pin -> account_locked [label="locked", style=dashed, color=gray40];' in out


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
