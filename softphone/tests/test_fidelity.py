"""Round three (issue 22): where a call test passed or failed differently than on Twilio."""

from softphone.interpreter import Keys
from softphone.phone import Phone
from softphone.target import Target
from test_twilio_engine import BASE
from test_twilio_engine import Server
from test_twilio_engine import dial
from test_twilio_engine import events

from softphone import runner
from softphone import save
from softphone import scenario as scenarios

# 1. a barge-in hides nothing of what follows

BARGE = {
    "/": '<Gather numDigits="1" action="/echo?tag=pressed"><Say>Welcome to the line</Say>'
    "<Say>For sales press 1</Say><Say>For support press 2</Say></Gather>",
    "/echo": "<Say>echo pressed</Say>",
}


def test_phone_hears_the_reply_to_a_key_that_cut_the_prompts():
    phone = Phone(Server(BARGE), BASE).dial()
    assert phone.press("1", at=0.5).heard == "echo pressed"


def test_a_scenario_expects_the_reply_to_a_key_that_cut_the_prompts():
    text = 'name: barge\nsteps:\n  - press: "1@0.5"\n  - expect: "echo pressed"\n'
    result = runner.run(scenarios.parse(text), Target(Server(BARGE), BASE))
    assert result.passed, result.failure


def test_a_saved_barge_in_replays(tmp_path):
    call, _ = dial(BARGE, Keys("1", at=0.5))
    path = tmp_path / "barge.call.yaml"
    document = save.write_scenario(call.events, path, [Keys("1", at=0.5)])
    assert {"press": "1@0.5"} in document["steps"]
    assert {"expect": "echo pressed"} in document["steps"]
    result = runner.run(scenarios.load(path), Target(Server(BARGE), BASE))
    assert result.passed, result.failure
    assert [e.data["cut"] for e in events(call, "say")[:1]] == [True]
