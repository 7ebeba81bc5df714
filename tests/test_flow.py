"""The flow loader refuses a broken flow, naming the node and what is wrong with it."""

import pytest

from ivr import actions
from ivr import create_app
from ivr.flow import FlowError
from ivr.flow import load_flow
from ivr.flow import parse_flow
from ivr.prompts import load_prompts

GOOD = """
entry = "main"
on_error = "busy"
identify = "who"

[nodes.main]
kind = "menu"
prompt = "main_menu"
keys = { "1" = "balance", "0" = "agent", "*" = "main" }

[nodes.who]
kind = "collect"
prompt = "enter_number"
action = "identify_by_number"
next = "pin"
back = "main"
outcomes = { locked = "main" }

[nodes.pin]
kind = "collect"
prompt = "enter_pin"
action = "verify_pin"
next = "$intent"
outcomes = { locked = "main", unidentified = "who", too_many = "main", card_lost = "who" }

[nodes.balance]
kind = "answer"
action = "balance"
identify = true
prompt = "after_answer"
keys = { "*" = "main" }

[nodes.agent]
kind = "transfer"
action = "agents_open"
prompt = "transferring"
queue = "q"
outcomes = { closed = "main" }

[nodes.goodbye]
kind = "hangup"
prompt = "goodbye"

[nodes.busy]
kind = "hangup"
prompt = "system_busy"
"""


def parse(text):
    prompts = load_prompts()
    keys = {lang: prompts.keys(lang) for lang in prompts.texts}
    return parse_flow(text, actions.registry().outcomes(), keys)


def test_the_real_flow_loads():
    flow = load_flow(actions=actions.registry().outcomes())
    assert flow.entry == "welcome"
    assert flow["main"].keys["9"] == "switch_language"


def test_a_good_flow_parses():
    assert parse(GOOD)["balance"].identify


@pytest.mark.parametrize(
    ("old", "new", "message"),
    (
        ('"1" = "balance"', '"1" = "nowhere"', "node main: target 'nowhere' is not a node"),
        ('"1" = "balance"', '"A" = "balance"', "node main: key 'A' is not one of 0-9 * #"),
        ('"1" = "balance"', '"11" = "balance"', "node main: key '11' is not one of 0-9 * #"),
        (
            'action = "balance"',
            'action = "rm_rf"',
            "node balance: action 'rm_rf' is not a known action",
        ),
        (
            'prompt = "goodbye"',
            'prompt = "nope"',
            "node goodbye: prompt 'nope' is missing in prompts/zh.toml",
        ),
        ('kind = "transfer"', 'kind = "teleport"', "node agent: kind must be one of"),
        (
            'prompt = "main_menu"',
            'prompt = "main_menu"\noffer = "no_such_offer"',
            "node main: prompt 'no_such_offer' is missing in prompts/zh.toml",
        ),
        (
            'outcomes = { closed = "main" }',
            "",
            "node agent: outcome 'closed' of agents_open has no target",
        ),
        ('"0" = "agent", ', "", "node agent: unreachable from the entry 'main'"),
        ('entry = "main"', 'entry = "start"', "flow: entry names 'start', which is not a node"),
        ('identify = "who"', 'identify = ""', "flow: identify names '', which is not a node"),
        ('queue = "q"', 'queue = "q"\ncolour = "red"', "node agent: unknown field 'colour'"),
        ('queue = "q"', "", "node agent: field 'queue' is required for a transfer node"),
        (
            'prompt = "goodbye"',
            'prompt = "goodbye"\nnext = "main"',
            "node goodbye: a hangup node has no keys",
        ),
        ('next = "pin"', 'next = "pin"\ntimeout = 0', "node who: timeout must be a whole number"),
        ('entry = "main"', 'entry = "main"\n[nodes', "flow is not valid TOML"),
    ),
)
def test_broken_flows_are_refused(old, new, message):
    assert old in GOOD
    with pytest.raises(FlowError) as error:
        parse(GOOD.replace(old, new, 1))
    assert message in str(error.value)


def test_app_refuses_to_start_with_a_broken_flow(tmp_path):
    broken = tmp_path / "flow.toml"
    broken.write_text(GOOD.replace('"1" = "balance"', '"1" = "nowhere"'), encoding="utf-8")
    with pytest.raises(FlowError, match="node main: target 'nowhere'"):
        create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "IVR_FLOW_FILE": str(broken)})


def test_app_starts_with_another_valid_flow(tmp_path):
    other = tmp_path / "flow.toml"
    other.write_text(GOOD, encoding="utf-8")
    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "IVR_FLOW_FILE": str(other)})
    assert app.extensions["ivr"].flow.entry == "main"
