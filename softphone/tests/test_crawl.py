"""`softphone map`: crawls of small apps with dead ends, loops, retries, records and hold."""

import re
import sys

import pytest
from flask import Flask
from flask import Response
from flask import request
from local_server import serving_in_thread
from twilio.twiml.voice_response import VoiceResponse

from softphone import crawl
from softphone import target as targets

NODE = re.compile(r'  S\d+\["[^"]*"\]')
EDGE = re.compile(r'  S\d+ -->\|"[^"]*"\| S\d+')


def xml(response):
    return Response(str(response), mimetype="text/xml")


def maze_app():
    """A menu with a good ending, a dead end (no goodbye), a 500 and a maze with no way out."""
    app = Flask("maze")

    @app.post("/voice")
    def menu():
        response = VoiceResponse()
        gather = response.gather(num_digits=1, action="/voice/pick")
        gather.say("Press 1 for news. Press 2 for the maze. Press 3 to leave. Press 4 to break.")
        response.say("Thank you for calling. Goodbye.")
        return xml(response)

    @app.post("/voice/pick")
    def pick():
        response = VoiceResponse()
        digit = request.form.get("Digits")
        if digit == "1":
            response.say("Today nothing happened.")  # and the document ends: a dead end
        elif digit == "2":
            response.redirect("/voice/maze")
        elif digit == "3":
            response.say("Thank you for calling. Goodbye.")
            response.hangup()
        elif digit == "4":
            return Response("boom", status=500)
        else:
            response.redirect("/voice")
        return xml(response)

    @app.post("/voice/maze")
    def maze():
        response = VoiceResponse()
        gather = response.gather(num_digits=1, action="/voice/maze/turn")
        gather.say("You are in a maze. Press 1 to go left. Press 2 to go right.")
        response.redirect("/voice/maze")  # silence: round again
        return xml(response)

    @app.post("/voice/maze/turn")
    def turn():
        response = VoiceResponse()
        response.redirect("/voice/maze")  # every turn leads back into the maze
        return xml(response)

    return app


def test_the_crawl_finds_the_dead_end_the_error_and_the_loop():
    found = crawl.Crawler(targets.in_process(maze_app())).crawl()
    kinds = sorted(state.kind for state in found.states.values())
    assert kinds == ["dead_end", "end", "error", "gather", "gather"]  # both goodbyes are one end
    findings = found.findings()
    assert "dead end after 1: the call ends on 'Today nothing happened.', no goodbye" in findings
    assert (
        "error 11217: HTTP error response code 500 from http://localhost/voice/pick after 4"
        in findings
    )
    loops = [f for f in findings if f.startswith("loop after 2: from 'You are in a maze.")]
    assert loops[0].endswith("nothing reaches an end")
    assert len(findings) == 3
    assert len(found.edges) == 8
    assert not found.truncated


def test_the_crawl_is_bounded():
    found = crawl.Crawler(targets.in_process(maze_app()), max_requests=4).crawl()
    assert found.truncated
    assert len(found.edges) == 2  # of 8: it stopped once 4 requests were spent
    assert found.requests == 6  # the replay under way when the limit came finished its call
    assert found.stuck() == []  # nothing unexplored is called a loop


def test_a_well_built_menu_has_no_flags(capsys):
    app = Flask("tidy")

    @app.post("/voice")
    def menu():
        response = VoiceResponse()
        gather = response.gather(num_digits=1, action="/voice/bye")
        gather.say("请按1结束。")
        response.redirect("/voice/bye")
        return xml(response)

    @app.post("/voice/bye")
    def bye():
        response = VoiceResponse()
        response.say("感谢您的来电，再见。", language="cmn-CN", voice="Polly.Zhiyu")
        return xml(response)

    found = crawl.Crawler(targets.in_process(app)).crawl()
    assert found.findings() == []
    assert [state.keys for state in found.states.values() if state.kind == "gather"] == [["1"]]


def test_map_over_http_keeps_the_diagram_clean_and_flags_on_stderr(capsys):
    with serving_in_thread(maze_app()) as base:
        code = crawl.main([base + "/voice", "--format", "mermaid"])
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.out.splitlines()
    assert lines[0] == "flowchart TD"
    for line in lines[1:]:  # a node or an edge, and nothing a Mermaid parser would refuse
        assert NODE.fullmatch(line) or EDGE.fullmatch(line), line
    assert '  S0 -->|"silence"| S3' in lines
    assert '  S2["gather: You are in a maze. Press 1 to go left. P…"]' in lines
    assert "FLAG" not in captured.out
    assert "FLAG  dead end after 1" in captured.err
    assert "FLAG  loop after 2" in captured.err


def test_the_text_map_prints_its_flags_below_it(capsys):
    assert crawl.main(["--app", "test_crawl:maze_app"]) == 1
    out = capsys.readouterr().out
    assert "  S2 --1--> S2  (heard again)" in out
    assert out.splitlines()[-1] == (
        "FLAG  loop after 2: from 'You are in a maze. Press 1 to go left. P…' "
        "nothing reaches an end"
    )


def retrying_app():
    """A menu that says the same on each silence and gives up on the third, as IVRs do."""
    app = Flask("retrying")

    @app.post("/voice")
    def menu():
        tries = int(request.args.get("tries", "0"))
        if tries == 3:
            response = VoiceResponse()
            response.say("Thank you for your call.")
            return xml(response)
        response = VoiceResponse()
        gather = response.gather(num_digits=1, action="/voice/pick")
        gather.say("Press 1 to hear the news.")
        response.redirect(f"/voice?tries={tries + 1}")  # the count lives in the URL's query
        return xml(response)

    @app.post("/voice/pick")
    def pick():
        response = VoiceResponse()
        response.say("Nothing happened today. Goodbye.")
        return xml(response)

    return app


def test_three_silences_then_goodbye_is_a_retry_not_a_loop():
    found = crawl.Crawler(targets.in_process(retrying_app())).crawl()
    assert found.findings() == []
    text = found.text()
    assert "  S0 --silence--> S0  (heard again)" in text
    assert "  S0 --silence ×3--> S2" in text
    assert "  S2   end       'Thank you for your call.'" in text


def survey_app(method="POST"):
    """A survey in the shape of Twilio's sample: a <Record> first, keys nobody advertises,
    speech, and 'Thank you for your call.' at the end."""
    app = Flask("survey")
    route = app.get if method == "GET" else app.post

    @route("/survey")
    def name():
        response = VoiceResponse()
        response.say("What is your full name?")
        response.record(action="/survey/age", method=method, max_length=10)
        response.say("We did not hear you.")
        return xml(response)

    @route("/survey/age")
    def age():
        response = VoiceResponse()
        response.say("In a scale of 1-10, how would you rate Python?")
        response.gather(action="/survey/framework", method=method)
        return xml(response)

    @route("/survey/framework")
    def framework():
        response = VoiceResponse()
        gather = response.gather(
            input="speech", hints="Flask, Django", action="/survey/done", method=method
        )
        gather.say("Name a Python based framework you know about.")
        return xml(response)

    @route("/survey/done")
    def done():
        response = VoiceResponse()
        heard = request.values.get("SpeechResult") or "nothing"
        response.say(f"You said {heard}. Thank you for your call.")
        return xml(response)

    return app


def test_a_survey_that_records_first_is_mapped():
    found = crawl.Crawler(targets.in_process(survey_app(), url="http://localhost/survey")).crawl()
    text = found.text()
    assert "  S0   record    'What is your full name?'" in text
    assert "  S0 --message--> S1" in text
    assert "  S0 --silence--> S2" in text
    assert "  S2   dead_end  'We did not hear you.'" in text
    assert "  S1 --1#--> S3" in text  # no key advertised: a sample entry and its end key
    assert '  S3 --"Flask"--> S5' in text
    assert '  S3 --"Django"--> S6' in text
    assert "  S5   end       'You said Flask. Thank you for your call.'" in text
    assert found.findings() == [
        "dead end after silence: the call ends on 'We did not hear you.', no goodbye",
        "dead end after message silence: the call ends in silence, no goodbye",
    ]


def test_a_get_app_is_crawled_with_the_method_it_asks_for():
    target = targets.in_process(survey_app("GET"), url="http://localhost/survey")
    refused = crawl.Crawler(target).crawl()  # POSTed to, as by default: a 405
    assert [state.kind for state in refused.states.values()] == ["error"]
    assert "HTTP error response code 405" in refused.findings()[0]
    found = crawl.Crawler(target, method="GET").crawl()
    assert [s.kind for s in found.states.values()][:2] == ["record", "gather"]


@pytest.mark.parametrize(
    ("words", "kind"),
    (
        ("Thank you for your call.", "end"),
        ("Thanks for calling, have a nice day.", "end"),
        ("Good-bye!", "end"),
        ("感谢您的来电。", "end"),
        ("再见。", "end"),
        ("谢谢来电。", "end"),
        ("Your balance is 12 dollars.", "dead_end"),
        ("查询结束。", "dead_end"),
    ),
)
def test_common_goodbyes_end_a_call_well(words, kind):
    app = Flask("bye")

    @app.post("/voice")
    def bye():
        response = VoiceResponse()
        response.say(words)
        return xml(response)

    found = crawl.Crawler(targets.in_process(app)).crawl()
    assert [state.kind for state in found.states.values()] == [kind]
    assert bool(found.findings()) == (kind == "dead_end")


def holding_app():
    """A menu whose keys put the caller in a queue, a conference, or through to a number."""
    app = Flask("holding")

    @app.post("/voice")
    def menu():
        response = VoiceResponse()
        gather = response.gather(num_digits=1, action="/voice/pick")
        gather.say("Press 1 for sales. Press 2 for the meeting. Press 3 for the front desk.")
        response.say("Goodbye.")
        return xml(response)

    @app.post("/voice/pick")
    def pick():
        response = VoiceResponse()
        digit = request.form.get("Digits")
        if digit == "1":
            response.say("Please hold.")
            response.enqueue("sales")
        elif digit == "2":
            response.dial().conference("standup")
        else:
            response.dial("+15005550006")
        return xml(response)

    return app


def test_hold_is_hold_and_a_transfer_a_transfer_not_dead_ends():
    found = crawl.Crawler(targets.in_process(holding_app())).crawl()
    ends = {state.label: state.kind for state in found.states.values() if state.kind != "gather"}
    assert ends == {
        "on hold: sales": "hold",
        "on hold: standup": "hold",
        "+15005550006": "transfer",
        "Goodbye.": "end",
    }
    assert found.findings() == []


def test_map_rings_a_get_app_with_method_get(capsys):
    with serving_in_thread(survey_app("GET")) as base:
        refused = crawl.main([base + "/survey"])
        assert "HTTP error response code 405" in capsys.readouterr().out
        code = crawl.main([base + "/survey", "--method", "GET", "--from", "+15005550006"])
    out = capsys.readouterr().out
    assert (refused, code) == (1, 1)  # the survey's own dead ends, below
    assert "  S0   record    'What is your full name?'" in out
    assert "  S5   end       'You said Flask. Thank you for your call.'" in out
    assert "error" not in out


def test_speech_hints_with_quotes_are_said_as_words():
    app = Flask("quoted")

    @app.post("/voice")
    def ask():
        response = VoiceResponse()
        gather = response.gather(input="speech", hints='say "yes", "", no', action="/voice/bye")
        gather.say("What do you say?")
        return xml(response)

    @app.post("/voice/bye")
    def bye():
        response = VoiceResponse()
        response.say(f"You said {request.form.get('SpeechResult')}. Goodbye.")
        return xml(response)

    text = crawl.Crawler(targets.in_process(app)).crawl().text()
    assert '  S0 --"say yes"--> S1' in text
    assert "  S1   end       'You said say yes. Goodbye.'" in text
    assert '  S0 --"no"--> S2' in text


def test_map_in_process_keeps_the_apps_start_up_log_quiet_unless_verbose(
    tmp_path, monkeypatch, caplog, capsys
):
    (tmp_path / "loud_maze.py").write_text(
        "import logging\nimport test_crawl\n"
        "logging.getLogger('loud').warning('SECRET_KEY is the public default')\n"
        "app = test_crawl.retrying_app()\n"
    )
    monkeypatch.chdir(tmp_path)
    for verbose in (False, True):
        monkeypatch.delitem(sys.modules, "loud_maze", raising=False)
        caplog.clear()
        assert crawl.main(["--app", "loud_maze:app", *(["-v"] if verbose else [])]) == 0
        said = any("SECRET_KEY is the public default" in r.getMessage() for r in caplog.records)
        assert said == verbose
    assert "no dead ends, errors or loops found" in capsys.readouterr().out
