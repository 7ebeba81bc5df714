"""`softphone map`: a crawl of a small app with a deliberate dead end and loop."""

from flask import Flask
from flask import Response
from flask import request
from local_server import serving_in_thread
from twilio.twiml.voice_response import VoiceResponse

from softphone import crawl
from softphone import target as targets


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
    assert loops[0].endswith("no key ever reaches an end")
    assert len(findings) == 3
    assert len(found.edges) == 8
    assert not found.truncated


def test_the_crawl_is_bounded():
    found = crawl.Crawler(targets.in_process(maze_app()), max_requests=4).crawl()
    assert found.truncated
    assert len(found.edges) == 2  # of 8: it stopped once 4 requests were spent
    assert found.requests == 6  # the replay under way when the limit came finished its call
    assert found.stuck() == []  # nothing unexplored is called a loop


def test_map_over_http_prints_the_map_and_flags(capsys):
    with serving_in_thread(maze_app()) as base:
        code = crawl.main([base + "/voice", "--format", "mermaid"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("flowchart TD")
    assert '-->|"silence"|' in out
    assert "FLAG  dead end after 1" in out
    assert "FLAG  loop after 2" in out


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
