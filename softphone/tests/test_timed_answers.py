"""A hang-up or words at a moment of the prompt: `hangup@5` and `"words"@2` on the command line,
`hangup: {at: 5}` and `speak: {text: ..., at: 2}` in a scenario (issue 22)."""

import json

import pytest
from flask import Flask
from flask import request

from softphone import cli

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
