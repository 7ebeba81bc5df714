"""A hang-up or words at a moment of the prompt: `hangup@5` and `"words"@2` on the command line,
`hangup: {at: 5}` and `speak: {text: ..., at: 2}` in a scenario (issue 22)."""

import json
import re

import pytest
from flask import Flask
from flask import request
from softphone.interpreter import Call
from softphone.interpreter import Keys
from softphone.target import Target
from test_twilio_engine import BASE
from test_twilio_engine import Server

from softphone import cli
from softphone import runner
from softphone import save
from softphone import scenario as scenarios

PROMPT = (
    "Welcome to the city library. To renew a book, say renew or press 1. To hear your loans, "
    "say loans or press 2. For opening hours, say hours or press 3. To speak to a librarian, "
    "say librarian or press 0."
)


def library_app():
    """A Gather that listens for keys and words under a long prompt, and echoes what it got."""
    app = Flask("library")

    @app.post("/voice")
    def voice():
        body = (
            '<Response><Gather input="dtmf speech" action="/heard" numDigits="1">'
            f"<Say>{PROMPT}</Say></Gather><Say>Goodbye</Say></Response>"
        )
        return body, 200, {"Content-Type": "text/xml"}

    @app.post("/heard")
    def heard():
        said = request.form.get("SpeechResult") or request.form.get("Digits")
        return (
            f"<Response><Say>You chose {said}</Say></Response>",
            200,
            {"Content-Type": "text/xml"},
        )

    return app


def events_of(capsys, *keys):
    """Dial the library with --keys and --json; return the call's events."""
    assert cli.main(["--app", "test_timed_answers:library_app", "--json", "--keys", *keys]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_command_line_says_words_two_seconds_into_the_prompt(capsys):
    events = events_of(capsys, '"renew please"@2')
    (prompt,) = [e for e in events if e["kind"] == "say" and e["text"] == PROMPT]
    assert (prompt["duration"], prompt["cut"]) == (2.0, True)
    assert [e["text"] for e in events if e["kind"] == "say"][-1] == "You chose renew please"


def test_the_command_line_hangs_up_five_seconds_into_the_prompt(capsys):
    events = events_of(capsys, "hangup@5")
    (prompt,) = [e for e in events if e["kind"] == "say"]
    assert (prompt["duration"], prompt["cut"]) == (5.0, True)
    assert [(e["kind"], e["t"], e["by"]) for e in events if e["kind"] == "hangup"] == [
        ("hangup", 5.0, "caller")
    ]


@pytest.mark.parametrize(
    ("keys", "why"),
    (
        ('"renew"@soon', "'@' needs keys before it and seconds after it"),
        ("hangup@", "'@' needs keys before it and seconds after it"),
        ('""@2', "the quotes hold no words"),
    ),
)
def test_a_bad_timed_group_is_refused_before_dialling(keys, why, capsys):
    assert cli.main(["--app", "test_timed_answers:library_app", "--keys", keys]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert why in captured.err


# scenario files: hangup: {at: 5} and speak: {text: ..., at: 2}

LIBRARY = {
    "/": '<Gather input="dtmf speech" action="/heard" numDigits="1">'
    f"<Say>{PROMPT}</Say></Gather><Say>Goodbye</Say>",
    "/heard": lambda params: (
        f"<Say>You chose {params.get('SpeechResult') or params['Digits']}</Say>"
    ),
}


def run(steps):
    scenario = scenarios.parse("name: library\nsteps:\n" + "".join(f"  - {s}\n" for s in steps))
    return runner.run(scenario, Target(Server(LIBRARY), BASE))


def prompt_of(events_):
    (prompt,) = [e for e in events_ if e.kind == "say" and e.data["text"] == PROMPT]
    return prompt


def test_a_scenario_speaks_two_seconds_into_the_prompt():
    result = run(['speak: {text: "renew please", at: 2}', 'expect: "You chose renew please"'])
    assert result.passed, result.failure
    assert (prompt_of(result.events).data["duration"], prompt_of(result.events).data["cut"]) == (
        2.0,
        True,
    )


def test_a_scenario_hangs_up_five_seconds_into_the_prompt():
    result = run(["hangup: {at: 5}", "expect_hangup: true"])
    assert result.passed, result.failure
    assert prompt_of(result.events).data["duration"] == 5.0
    assert [(e.t, e.data["by"]) for e in events(result, "hangup")] == [(5.0, "caller")]


def test_the_plain_forms_still_wait_for_the_prompt():
    spoken = run(['speak: "loans"', 'expect: "You chose loans"'])
    assert spoken.passed, spoken.failure
    assert "cut" not in prompt_of(spoken.events).data
    ended = run(["hangup: true"])
    (hangup,) = events(ended, "hangup")
    assert hangup.t == pytest.approx(prompt_of(ended.events).data["duration"])


def events(result, kind):
    return [e for e in result.events if e.kind == kind]


@pytest.mark.parametrize(
    ("step", "message"),
    (
        ("hangup: {at: soon}", "step 1: hangup: true, or {at: SECONDS}"),
        ("hangup: {when: 5}", "step 1: hangup: true, or {at: SECONDS}"),
        ("hangup: false", "step 1: hangup: true, or {at: SECONDS}"),
        ("speak: {at: 2}", 'step 1: speak: words as text, or {text: "words", at: SECONDS}'),
        ('speak: {text: "renew", at: -1}', "step 1: speak: words as text, or {text:"),
    ),
)
def test_a_bad_at_is_named_with_its_step_and_form(step, message):
    with pytest.raises(scenarios.ScenarioError, match=re.escape(f"call.yaml: {message}")):
        scenarios.parse(f"steps:\n  - {step}\n", "call.yaml")


def test_a_timed_hangup_after_the_call_ended_is_named_with_its_moment():
    result = run(["press: 1", "hangup: {at: 5}"])
    assert result.failure.startswith("step 2: expected hangup at 5 s: the call had already ended")


@pytest.mark.parametrize(
    ("answer", "step"),
    (
        (Keys(speech="renew please", at=2.0), {"speak": {"text": "renew please", "at": 2.0}}),
        (Keys(hangup=True, at=5.0), {"hangup": {"at": 5.0}}),
    ),
)
def test_a_saved_timed_answer_replays(answer, step, tmp_path):
    call = Call(BASE, Server(LIBRARY)).start().send(answer)
    path = tmp_path / "library.call.yaml"
    assert step in save.write_scenario(call.events, path, [answer])["steps"]
    result = runner.run(scenarios.load(path), Target(Server(LIBRARY), BASE))
    assert result.passed, result.failure
    # The same moment, give or take the tenths a webhook really takes on a loaded machine.
    replayed = [e.t for e in events(result, "hangup")]
    recorded = [e.t for e in call.events if e.kind == "hangup"]
    assert len(replayed) == len(recorded) == 1
    assert replayed[0] == pytest.approx(recorded[0], abs=0.5)
