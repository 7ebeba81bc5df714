"""Path coverage of apps that hand the softphone no flow and advertise few keys."""

from flask import Flask
from test_crawl import xml
from twilio.twiml.voice_response import VoiceResponse

from softphone import runner


def survey_app():
    """A survey in the shape of Twilio's sample: a Record, a rating nobody says "press" for,
    a spoken answer, and a goodbye."""
    app = Flask("survey")

    @app.post("/voice")
    def name():
        response = VoiceResponse()
        response.say("What is your name?")
        response.record(action="/voice/rate", max_length=10)
        response.say("We did not hear you. Goodbye.")
        return xml(response)

    @app.post("/voice/rate")
    def rate():
        response = VoiceResponse()
        gather = response.gather(num_digits=1, action="/voice/why")
        gather.say("On a scale of 1 to 5, how do you rate us?")
        return xml(response)

    @app.post("/voice/why")
    def why():
        response = VoiceResponse()
        gather = response.gather(input="speech dtmf", action="/voice/menu")
        gather.say("Why?")
        return xml(response)

    @app.post("/voice/menu")
    def menu():
        response = VoiceResponse()
        gather = response.gather(action="/voice/bye", finish_on_key="")
        gather.say("To hear it again, press 1. To leave, press 2.")
        return xml(response)

    @app.post("/voice/bye")
    def bye():
        response = VoiceResponse()
        response.say("Thank you for your call.")
        return xml(response)

    return app


def goodbye_app():
    """An app that asks for nothing."""
    app = Flask("goodbye")

    @app.post("/voice")
    def bye():
        response = VoiceResponse()
        response.say("We are closed. Goodbye.")
        return xml(response)

    return app


def scenario(tmp_path, name, steps):
    path = tmp_path / f"{name}.call.yaml"
    lines = [f"name: {name}", "steps:", *(f"  - {step}" for step in steps)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


SURVEY = ("survey", ['speak: "Ada Lovelace"', 'press: "5"', 'speak: "Quick answers"',
          'press: "2"', 'expect: "Thank you for your call."'])  # fmt: skip
AGAIN = ("again", ['speak: "Grace Hopper"', 'press: "3"', 'press: "42#"', 'press: "1"'])


def run(tmp_path, capsys, *scenarios, app="survey_app"):
    paths = [scenario(tmp_path, name, steps) for name, steps in scenarios]
    args = [*paths, "--app", f"test_coverage:{app}", "--coverage", "--min-coverage", "90"]
    code = runner.main(args)
    return code, capsys.readouterr().out


def test_a_survey_that_says_press_n_nowhere_is_covered_by_what_it_asks(tmp_path, capsys):
    code, out = run(tmp_path, capsys, SURVEY, AGAIN)
    assert code == 0, out
    table = out[out.index("where") :].splitlines()
    assert table == [
        "where                      verb    takes                    given               covered",
        "/voice -> /voice/rate      Record  a message                message             1/1",
        "/voice/rate -> /voice/why  Gather  1 key                    3 5                 1/1",
        '/voice/why -> /voice/menu  Gather  keys until # or words    "Quick answers" 42  1/1',
        "/voice/menu -> /voice/bye  Gather  keys until a pause: 1 2  1 2                 2/2",
        "Gathers reached: 3, Records reached: 1, documents fetched: 5 "
        "(/voice /voice/bye /voice/menu /voice/rate /voice/why)",
        "coverage: 5/5 = 100.0 %",
    ]


def test_what_no_scenario_did_is_named_and_fails_the_minimum(tmp_path, capsys):
    silent = ("silent", ["wait: true", 'expect: "We did not hear you."'])
    code, out = run(tmp_path, capsys, SURVEY, silent)
    assert code == 1
    assert "Record  a message                message silence  1/1\n" in out
    assert "Gather  keys until a pause: 1 2  2                1/2 (not 1)\n" in out
    assert out.endswith("coverage: 4/5 = 80.0 %\ncoverage 80.0 % is below --min-coverage 90\n")


def test_a_passing_run_that_asks_nothing_is_not_0_of_0(tmp_path, capsys):
    code, out = run(tmp_path, capsys, ("closed", ['expect: "Goodbye."']), app="goodbye_app")
    assert code == 0, out
    assert out.endswith(
        "Gathers reached: 0, Records reached: 0, documents fetched: 1 (/voice)\n"
        "coverage: nothing to cover (no input was asked for) = 100.0 %\n"
    )
