"""The dialog alone, on the real flow, with scripted actions: no app, no store, no HTTP."""

import pytest

from ivr import actions
from ivr import dialog
from ivr.calls import CallState
from ivr.flow import FlowError
from ivr.flow import load_flow
from ivr.flow import parse_flow
from ivr.types import Outcome

FLOW = load_flow(actions=actions.registry().outcomes())


class Script:
    """Effects whose actions answer as a test says, recording what they were asked."""

    def __init__(self, **outcomes):
        self.outcomes = outcomes  # action name -> Outcome, a list of them in turn, or a function
        self.ran = []

    def run(self, name, call, value):
        self.ran.append((name, value))
        found = self.outcomes.get(name, Outcome())
        if callable(found):
            return found(call)
        return found.pop(0) if isinstance(found, list) else found

    def prompt_values(self, call):
        return {}


def keys_of(turn):
    return [phrase.key for phrase in turn.phrases]


def new_call(**state):
    return CallState(call_sid="CA1", lang="zh", line="beijing", **state)


def test_a_call_starts_with_the_welcome_and_waits_at_the_main_menu():
    call = new_call()
    turn = dialog.start(FLOW, call, Script())
    assert keys_of(turn) == ["welcome", "language_offer", "main_menu"]
    assert (turn.gather.node, turn.gather.num_digits, turn.gather.timeout) == ("main", 1, 5)
    assert turn.trace == ("node:welcome", "node:main")
    assert call.node == "main"


def test_an_answer_that_needs_identity_asks_who_is_calling_and_remembers_the_intent():
    call = new_call(node="main")
    turn = dialog.step(FLOW, "main", "1", call, Script())
    assert keys_of(turn) == ["enter_number"]
    assert (call.intent, call.node) == ("balance", "identify")
    assert turn.trace == ("key:main:1", "node:balance", "node:identify")


def test_after_the_pin_the_caller_hears_the_answer_first_asked_for():
    call = new_call(node="pin", intent="credit", subject="s")

    def verified(call):
        call.account_id = 7
        return Outcome()

    effects = Script(verify_pin=verified)
    turn = dialog.step(FLOW, "pin", "123456", call, effects)
    assert effects.ran == [("verify_pin", "123456"), ("credit", 0)]
    assert keys_of(turn) == ["after_answer"]
    assert turn.gather.node == "credit"


def test_no_input_reprompts_with_the_menu_then_ends_without_speaking_of_entries():
    call = new_call(node="main")
    first = dialog.step(FLOW, "main", None, call, Script())
    assert keys_of(first) == ["no_input", "language_offer", "main_menu"]
    assert call.tries == 1
    dialog.step(FLOW, "main", None, call, Script())
    closed = Script(agents_open=Outcome(False, goto="closed"))
    last = dialog.step(FLOW, "main", None, call, closed)
    # The caller keyed nothing: no "输入次数"; out of hours, the goodbye.
    assert keys_of(last) == ["no_input_limit", "goodbye"]
    assert last.hangup
    assert last.gather is None
    assert last.trace == (
        "exit:main:no_input", "exit:main:max_tries", "node:give_up", "node:goodbye",
    )  # fmt: skip


def test_silence_at_an_entry_ends_without_speaking_of_a_choice():
    """At the number or PIN entry no choice was asked for: "没有收到您的输入", not 按键/choice."""
    call = new_call(node="identify")
    dialog.step(FLOW, "identify", None, call, Script())
    dialog.step(FLOW, "identify", None, call, Script())
    closed = Script(agents_open=Outcome(False, goto="closed"))
    last = dialog.step(FLOW, "identify", None, call, closed)
    assert keys_of(last) == ["no_entry_limit", "goodbye"]


def test_a_last_silence_after_wrong_keys_says_the_tries_are_up_not_many_silences():
    """Two wrong keys then one silence: "多次没有收到您的按键" would be false; the tries are up."""
    call = new_call(node="main")
    for _ in range(2):
        dialog.step(FLOW, "main", "7", call, Script())
    closed = Script(agents_open=Outcome(False, goto="closed"))
    last = dialog.step(FLOW, "main", None, call, closed)
    assert keys_of(last) == ["too_many_tries", "goodbye"]
    # A new visit to the node starts its count afresh: silences alone say "no input" again.
    dialog.step(FLOW, "main", "*", call, Script())
    for _ in range(2):
        dialog.step(FLOW, "main", None, call, Script())
    assert keys_of(dialog.step(FLOW, "main", None, call, closed)) == ["no_input_limit", "goodbye"]


def test_repeated_failures_inside_agent_hours_put_the_caller_through():
    call = new_call(node="main")
    for _ in range(2):
        dialog.step(FLOW, "main", "7", call, Script())
    last = dialog.step(FLOW, "main", "7", call, Script(agents_open=Outcome()))
    assert keys_of(last) == ["invalid_key", "too_many_tries", "transferring"]
    assert last.queue == "12333-agents"
    assert not last.hangup


@pytest.mark.parametrize(
    ("left", "tries_before", "heard"),
    (
        (2, 0, ["wrong_pin", ("tries_left", 2), "enter_pin"]),  # the node's 2 and the account's 2
        (1, 0, ["wrong_pin", ("tries_left", 1), "enter_pin"]),  # the caller's cap is smaller
        (2, 1, ["wrong_pin", ("tries_left", 1), "enter_pin"]),  # a short PIN used a node try
        (2, 2, ["wrong_pin", "too_many_tries", "goodbye"]),  # none left: only that, no count
    ),
)
def test_a_refusal_announces_the_smallest_budget_and_none_when_none_is_left(
    left, tries_before, heard
):
    call = new_call(node="pin", subject="s", tries=tries_before)
    refused = Outcome(False, phrases=(dialog.Phrase.of("wrong_pin"),), left=left)
    effects = Script(verify_pin=refused, agents_open=Outcome(False, goto="closed"))
    turn = dialog.step(FLOW, "pin", "000000", call, effects)
    said = [
        (p.key, dict(p.params)["tries"].value) if p.key == "tries_left" else p.key
        for p in turn.phrases
    ]
    assert said == heard


def test_an_invalid_key_says_why():
    call = new_call(node="main")
    turn = dialog.step(FLOW, "main", "7", call, Script())
    assert keys_of(turn) == ["invalid_key", "language_offer", "main_menu"]
    assert turn.trace == ("exit:main:invalid",)


def test_a_refused_entry_counts_as_a_try_at_the_same_node():
    call = new_call(node="identify")
    refused = Outcome(ok=False, phrases=())
    turn = dialog.step(FLOW, "identify", "123", call, Script(identify_by_number=refused))
    assert turn.gather.node == "identify"
    assert call.tries == 1
    assert keys_of(turn) == ["enter_number"]


def test_star_alone_at_an_entry_goes_back():
    call = new_call(node="pin")
    turn = dialog.step(FLOW, "pin", "*", call, Script())
    assert turn.gather.node == "identify"
    turn = dialog.step(FLOW, "identify", "*", call, Script())
    assert turn.gather.node == "main"


def test_a_named_outcome_goes_where_the_flow_says():
    call = new_call(node="pin", subject="s")
    turn = dialog.step(
        FLOW, "pin", "000000", call, Script(verify_pin=Outcome(False, goto="locked"))
    )
    # The lock ends the call: at the menu, the PIN the caller keys next is three bad choices.
    assert keys_of(turn) == ["account_locked"]
    assert turn.hangup
    assert turn.trace[:2] == ("key:pin:entry", "exit:pin:locked")


def test_the_pin_gather_is_secret():
    call = new_call(node="identify")
    turn = dialog.step(FLOW, "identify", "11010519491231002X", call, Script())
    assert turn.gather.node == "pin"
    assert turn.gather.secret
    assert turn.gather.num_digits is None


def test_more_turns_the_page_and_an_action_may_turn_it_back():
    call = new_call(node="history", account_id=1)
    effects = Script(history=[Outcome(), Outcome(page=0)])
    dialog.step(FLOW, "history", "2", call, effects)
    assert effects.ran[-1] == ("history", 1)
    assert call.page == 1
    call.page = 0
    dialog.step(FLOW, "history", "2", call, effects)
    assert call.page == 0  # the action said there was no page 1


def test_a_late_request_for_another_node_starts_that_node_afresh():
    call = new_call(node="identify", tries=2)
    turn = dialog.step(FLOW, "main", "7", call, Script())
    assert call.tries == 1
    assert turn.gather.node == "main"


def test_an_unknown_node_starts_at_the_entry():
    call = new_call(node="main")
    turn = dialog.step(FLOW, "nowhere", "1", call, Script())
    assert keys_of(turn) == ["welcome", "language_offer", "main_menu"]


def test_the_transfer_joins_the_queue_or_says_the_hours():
    call = new_call(node="main")
    turn = dialog.step(FLOW, "main", "0", call, Script())
    assert turn.queue == "12333-agents"
    assert keys_of(turn) == ["transferring"]
    closed = Script(agents_open=Outcome(False, goto="closed"))
    turn = dialog.step(FLOW, "main", "0", new_call(node="main"), closed)
    assert keys_of(turn) == ["agents_closed", "language_offer", "main_menu"]
    assert turn.gather.node == "main"


def test_fail_speaks_the_busy_message_and_hangs_up():
    turn = dialog.fail(FLOW, new_call(), Script())
    assert keys_of(turn) == ["system_busy"]
    assert turn.hangup


def test_a_flow_that_loops_through_say_nodes_is_stopped():
    flow = parse_flow(
        """
        entry = "a"
        on_error = "a"
        identify = "a"
        [nodes.a]
        kind = "say"
        prompt = "welcome"
        next = "b"
        [nodes.b]
        kind = "say"
        prompt = "welcome"
        next = "a"
        """
    )
    with pytest.raises(FlowError, match="more than 32 nodes in one turn"):
        dialog.start(flow, new_call(), Script())


def test_the_language_offer_is_said_first_in_the_other_language():
    call = new_call()
    offer = dialog.start(FLOW, call, Script()).phrases[1]
    assert (offer.key, offer.lang) == ("language_offer", "en")
    call.lang = "en"
    turn = dialog.step(FLOW, "main", "7", call, Script())
    assert [(p.key, p.lang) for p in turn.phrases] == [
        ("invalid_key", None),
        ("language_offer", "zh"),
        ("main_menu", None),
    ]


def test_nine_switches_to_the_menu_in_the_other_language_with_no_words_between():
    """The menu in the chosen language says it; the offer to go back comes first, in its voice."""
    call = new_call(node="main")
    turn = dialog.step(FLOW, "main", "9", call, Script(switch_language=_switch))
    assert [(p.key, p.lang) for p in turn.phrases] == [
        ("language_offer", "zh"),
        ("main_menu", None),
    ]
    assert turn.lang == "en"


def _switch(call):
    call.lang = "en"
    return Outcome()


def test_the_last_page_of_an_answer_does_not_offer_more():
    call = new_call(node="history", account_id=1)
    turn = dialog.step(FLOW, "history", "1", call, Script(history=Outcome(last=True)))
    assert keys_of(turn) == ["after_answer"]
    turn = dialog.step(FLOW, "history", "1", call, Script(history=Outcome()))
    assert keys_of(turn) == ["after_history"]


def test_a_wrong_key_on_the_last_page_offers_what_the_page_offered():
    """No "查询更早的记录请按2" in the retry when there are no earlier records."""
    call = new_call(node="history", account_id=1)
    dialog.step(FLOW, "history", "1", call, Script(history=Outcome(last=True)))
    turn = dialog.step(FLOW, "history", "7", call, Script())
    assert keys_of(turn) == ["invalid_key", "after_answer"]
    dialog.step(FLOW, "history", "1", call, Script(history=Outcome()))
    turn = dialog.step(FLOW, "history", "7", call, Script())
    assert keys_of(turn) == ["invalid_key", "after_history"]
