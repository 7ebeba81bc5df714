"""Round three (issue 22): where a call test passed or failed differently than on Twilio."""

import math
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import pytest
from flask import Flask
from flask import request
from softphone.common import estimate_say
from softphone.crawl import Crawler
from softphone.interpreter import Call
from softphone.interpreter import Keys
from softphone.interpreter import Reply
from softphone.phone import Phone
from softphone.target import Target
from test_twilio_engine import APP
from test_twilio_engine import BASE
from test_twilio_engine import Server
from test_twilio_engine import dial
from test_twilio_engine import doc
from test_twilio_engine import events
from twilio.request_validator import RequestValidator

from softphone import dialer
from softphone import lint
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


# 8. one table of codes: the engine warns as lint does (Twilio: 13313 timeout, 13314 numDigits)


def test_engine_and_lint_give_one_code_for_a_bad_gather_attribute():
    page = '<Gather timeout="soon" numDigits="two"><Say>Hi</Say></Gather>'
    call, _ = dial({"/": page}, "1")
    engine = sorted(e.data["code"] for e in events(call, "warning"))
    assert engine == [13313, 13314]
    assert sorted(f.code for f in lint.check(doc(page))) == [13313, 13314]


@pytest.mark.parametrize(("attribute", "code"), (('timeout="x"', 13611), ('maxLength="x"', 13612)))
def test_a_bad_record_attribute_gets_twilios_code(attribute, code, tmp_path):
    page = f"<Record {attribute}/>"
    call, _ = dial({"/": page}, Keys("#", at=2.0), recordings=tmp_path)
    assert [e.data["code"] for e in events(call, "warning")] == [code]
    assert [f.code for f in lint.check(doc(page))] == [code]


# lint and the engine agree


def test_leading_whitespace_without_a_declaration_is_fine_for_lint_too():
    assert lint.check("\n  <Response><Say>Hi</Say></Response>") == []


def test_an_empty_redirect_fetches_the_document_again_and_lint_accepts_it():
    pages = {"/": lambda params: "<Say>again</Say><Redirect/>"}
    call, server = dial(pages)
    assert server.requests[1][1] == BASE
    assert call.heard()[:2] == ["again", "again"]
    assert lint.check(doc("<Redirect/>"), url=BASE) == []


# 2. an MP3 plays for as long as it is, with no ffmpeg; a file that cannot play says so

FRAME = bytes.fromhex("fffb9064") + bytes(413)  # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz
FRAME_SECONDS = 1152 / 44100


def mp3(seconds):
    """A real MP3 of silence: whole frames whose side information plays nothing."""
    return FRAME * round(seconds / FRAME_SECONDS)


def test_an_mp3_in_a_gather_plays_its_length_then_the_timeout_runs(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no ffmpeg anywhere: durations need none
    body = mp3(29.7)
    pages = {"/": "<Gather><Play>/long.mp3</Play></Gather><Say>Nothing pressed</Say>"}
    pages["/long.mp3"] = Reply(200, "audio/mpeg", body)
    server = Server(pages)
    call = Call(BASE, server, measure=dialer.measurer(server)).start().send(Keys())
    (play,) = events(call, "play")
    assert play.data["duration"] == pytest.approx(29.7, abs=0.1)
    assert events(call, "say")[-1].t == pytest.approx(34.7, abs=0.1)
    assert events(call, "warning") == []


@pytest.mark.parametrize(
    ("reply", "code"),
    (
        (Reply(404, "text/html", b"missing"), 11200),
        (Reply(200, "text/html", b"<html></html>"), 13420),
        (Reply(200, "audio/mpeg", b"not an mp3 at all"), 13420),
    ),
)
def test_audio_that_cannot_play_is_a_warning_with_twilios_code(reply, code):
    pages = {"/": "<Play>/a.mp3</Play><Say>after</Say>", "/a.mp3": reply}
    server = Server(pages)
    call = Call(BASE, server, measure=dialer.measurer(server)).start()
    (warning,) = events(call, "warning")
    assert (warning.data["code"], warning.data["url"]) == (code, APP + "/a.mp3")
    assert call.heard() == ["after"]


def test_audio_in_a_gather_that_is_not_audio_is_13325():
    pages = {"/": "<Gather><Play>/a.mp3</Play></Gather>", "/a.mp3": "<Say>xml</Say>"}
    server = Server(pages)
    call = Call(BASE, server, measure=dialer.measurer(server)).start()
    assert [e.data["code"] for e in events(call, "warning")] == [13325]


# 3. a conference's waitUrl is requested and loops until the conference starts


CONFERENCE = {
    "/": '<Dial action="/after"><Conference waitUrl="/wait">room</Conference></Dial>',
    "/wait": '<Say>Please wait for the host</Say><Pause length="8"/>',
    "/after": "<Say>The conference ended</Say>",
}


def test_a_conference_wait_url_loops_until_the_conference_starts():
    call, server = dial(CONFERENCE, agent_after=25)
    waits = [(method, url) for method, url, _ in server.requests if url == APP + "/wait"]
    assert waits == [("POST", APP + "/wait")] * 3  # at 0, ~10 and ~20 s
    assert call.heard() == ["Please wait for the host"] * 3 + ["The conference ended"]
    (after,) = server.to("/after")
    assert after["DialCallStatus"] == "completed"
    assert "DialCallSid" not in after
    assert events(call, "bridged")[0].t == 25


def test_a_conference_wait_url_honours_wait_method():
    pages = dict(CONFERENCE)
    pages["/"] = '<Dial><Conference waitUrl="/wait" waitMethod="GET">room</Conference></Dial>'
    _, server = dial(pages, agent_after=5)
    assert {m for m, url, _ in server.requests if url.startswith(APP + "/wait")} == {"GET"}


def test_a_conference_wait_url_refuses_what_it_may_not_hold_with_13238():
    pages = dict(CONFERENCE)
    pages["/wait"] = '<Say>Hold on</Say><Gather><Say>Press 1</Say></Gather><Pause length="9"/>'
    call, _ = dial(pages, agent_after=5)
    (error,) = events(call, "error")
    assert error.data["code"] == 13238
    assert "<Gather>" in error.data["message"]
    assert events(call, "gather") == []
    assert call.heard() == ["Hold on", "The conference ended"]


# 6. a queue's waitUrl refuses verbs Twilio does not play there; lint says so too


def test_a_queue_wait_url_refuses_record_and_dial():
    pages = {
        "/": '<Enqueue waitUrl="/wait">support</Enqueue>',
        "/wait": '<Record/><Dial>+8610123</Dial><Say>Still waiting</Say><Pause length="20"/>',
    }
    call, _ = dial(pages, agent_after=10)
    refused = [(e.data["code"], e.data["message"][:9]) for e in events(call, "warning")]
    assert refused == [(12200, "<Record> "), (12200, "<Dial> is")]
    assert events(call, "record") == events(call, "transfer")[1:] == []
    assert call.heard() == ["Still waiting"]


@pytest.mark.parametrize(
    ("wait", "document", "code"),
    (
        ("queue", "<Say>hold</Say><Record/>", 12200),
        ("conference", "<Say>hold</Say><Gather/>", 13238),
        ("conference", "<Say>hold</Say><Hangup/>", 13238),
    ),
)
def test_lint_flags_what_a_wait_url_may_not_hold(wait, document, code):
    found = lint.check(doc(document), wait=wait)
    assert [f.code for f in found] == [code]
    assert lint.check(doc(document)) == []  # fine anywhere but on hold


@pytest.mark.parametrize("strict", (True, False))
def test_strict_fails_a_scenario_whose_wait_url_holds_a_record(strict):
    pages = {
        "/": '<Enqueue waitUrl="/wait">support</Enqueue>',
        "/wait": '<Say>Please hold</Say><Record/><Pause length="10"/>',
    }
    text = "name: hold\ndial: {agent_after: 5}\nsteps:\n  - expect: Please hold\n"
    result = runner.run(scenarios.parse(text), Target(Server(pages), BASE), strict=strict)
    assert result.passed is not strict
    found = "Response/Record: <Record> is not allowed in a queue waitUrl"
    assert [e.data["message"] for e in result.findings] == [found]
    if strict:
        assert result.failure.startswith(f"--strict: lint 12200: {found}")


# 4. an agent takes a caller who sits in a waitUrl Gather at the agent's time


def test_an_agent_takes_a_caller_in_a_wait_url_gather_and_the_late_key_is_lost():
    pages = {
        "/": '<Enqueue waitUrl="/wait" action="/after">support</Enqueue>',
        "/wait": '<Gather action="/menu" numDigits="1"><Say>Press 1 to leave a message '
        "instead of waiting for the next free agent</Say></Gather>",
        "/menu": "<Say>Leave a message</Say>",
        "/after": "<Say>Thank you for holding</Say>",
    }
    call, server = dial(pages, "1", agent_after=3)
    assert server.to("/menu") == []
    (after,) = server.to("/after")
    assert (after["QueueResult"], after["QueueTime"]) == ("bridged", "3")
    assert events(call, "say")[0].data["cut"] is True
    assert events(call, "lost_keys")[0].data["keys"] == "1"
    assert call.heard()[-1] == "Thank you for holding"


# 5. a non-ASCII URL is signed as requested (percent-encoded); https without :443


def as_requested(request):
    """The URL as the request line carried it: what Twilio signs and apps validate."""
    query = request.query_string.decode()
    return request.host_url.rstrip("/") + quote(request.path) + ("?" + query if query else "")


def test_a_non_ascii_redirect_is_signed_as_requested_so_a_validating_app_accepts_it():
    app = Flask("validating")
    seen = []

    @app.route("/<path:page>", methods=["POST"])
    def page(page):
        signature = request.headers.get("X-Twilio-Signature", "")
        valid = RequestValidator("token").validate(as_requested(request), request.form, signature)
        seen.append((as_requested(request), dict(request.args)))
        if not valid:
            return "bad signature", 403
        if page == "voice":
            body = "<Response><Redirect>/echo/日本?tag=ü&amp;x=€</Redirect></Response>"
        else:
            body = f"<Response><Say>echo {request.args['tag']}</Say></Response>"
        return body, 200, {"Content-Type": "text/xml"}

    call = Call("http://localhost/voice", dialer.app_fetch(app, "token")).start()
    assert call.heard() == ["echo ü"]
    assert seen[1] == (
        "http://localhost/echo/%E6%97%A5%E6%9C%AC?tag=%C3%BC&x=%E2%82%AC",
        {"tag": "ü", "x": "€"},
    )


def test_https_webhooks_are_signed_without_the_default_port():
    params = {"CallSid": "CA1", "Digits": "1"}
    _, headers = dialer.signed("POST", "https://app.example:443/voice", params, "token")
    expected = RequestValidator("token").compute_signature("https://app.example/voice", params)
    assert headers["X-Twilio-Signature"] == expected


# 7. <Dial> attributes: honoured where they can be simulated, a note where not


def test_a_number_url_whisper_and_status_callbacks_are_requested_on_the_called_leg():
    pages = {
        "/": '<Dial action="/after" record="record-from-answer"><Number url="/whisper" '
        'sendDigits="ww12" statusCallback="/leg" statusCallbackEvent="initiated answered '
        'completed">+8610123</Number></Dial>',
        "/whisper": "<Say>A caller from the hotline</Say>",
        "/leg": "",
        "/after": "<Say>Goodbye</Say>",
    }
    call, server = dial(pages, answer="completed")
    (whisper,) = server.to("/whisper")
    child = whisper["CallSid"]
    assert (whisper["ParentCallSid"], whisper["To"]) == (call.call_sid, "+8610123")
    assert [p["CallStatus"] for p in server.to("/leg")] == ["initiated", "in-progress", "completed"]
    assert {p["CallSid"] for p in server.to("/leg")} == {child}
    assert server.to("/after")[0]["DialCallSid"] == child
    assert call.heard() == ["Goodbye"]  # the whisper is for the called party
    notes = " ".join(e.data["message"] for e in events(call, "note"))
    assert "sendDigits='ww12'" in notes
    assert "record='record-from-answer'" in notes


def test_an_empty_dial_fails_at_once_with_13224():
    pages = {"/": '<Dial action="/after"></Dial>', "/after": "<Say>Try later</Say>"}
    call, server = dial(pages)
    assert server.to("/after")[0]["DialCallStatus"] == "failed"
    assert [e.data["code"] for e in events(call, "error")] == [13224]
    assert events(call, "say")[0].t == 0


# the smaller points


def test_partial_result_callback_carries_twilios_fields():
    page = '<Gather input="speech" action="/s" partialResultCallback="/p"><Say>Hi</Say></Gather>'
    _, server = dial({"/": page, "/s": "", "/p": ""}, '"sales please"')
    (partial,) = server.to("/p")
    assert {k: partial[k] for k in ("StableSpeechResult", "Stability", "SequenceNumber")} == {
        "StableSpeechResult": "",
        "Stability": "0.9",
        "SequenceNumber": "1",
    }


@pytest.mark.parametrize(
    ("asked", "keys", "sent"),
    (
        ("in-progress completed", "#", ["in-progress", "completed"]),
        (None, "#", ["completed"]),
        ("absent", ".", ["absent"]),
        ("completed", ".", []),
    ),
)
def test_recording_status_callback_event_picks_what_is_sent(asked, keys, sent, tmp_path):
    event = f' recordingStatusCallbackEvent="{asked}"' if asked else ""
    page = f'<Record action="/rec" recordingStatusCallback="/status"{event}/>'
    _, server = dial({"/": page, "/rec": "", "/status": ""}, keys, recordings=tmp_path)
    statuses = server.to("/status")
    assert [s["RecordingStatus"] for s in statuses] == sent
    for status in statuses:
        assert parsedate_to_datetime(status["RecordingStartTime"]).tzinfo is not None


def test_a_key_after_max_length_is_listed_after_the_recording(tmp_path):
    call, server = dial(
        {"/": '<Record maxLength="3" action="/r"/>', "/r": ""}, Keys("#", at=5), recordings=tmp_path
    )
    kinds = [e.kind for e in call.events if e.kind in ("recording", "keys")]
    assert kinds == ["recording", "keys"]
    assert server.to("/r")[0]["Digits"] == ""


@pytest.mark.parametrize(
    ("page", "status", "duration"),
    (
        ("<Reject/>", "no-answer", "0"),
        ('<Reject reason="busy"/>', "busy", "0"),
        ("<Say>One moment please, we are checking</Say><Reject/>", "completed", "3"),
    ),
)
def test_reject_reports_call_duration_as_twilio_does(page, status, duration):
    _, server = dial({"/": page, "/status": ""}, status_callback=APP + "/status")
    (callback,) = server.to("/status")
    assert (callback["CallStatus"], callback["CallDuration"]) == (status, duration)


def test_connect_with_an_action_requests_it_instead_of_running_on():
    pages = {
        "/": '<Connect action="/done"><Stream url="wss://a.example/s"/></Connect><Say>Never</Say>',
        "/done": "<Say>The stream ended</Say>",
    }
    call, server = dial(pages)
    assert len(server.to("/done")) == 1
    assert call.heard() == ["The stream ended"]


# <say-as> spoken as Polly reads it (docs.aws.amazon.com/polly/latest/dg/say-as-tag.html)


@pytest.mark.parametrize(
    ("say", "heard"),
    (
        (
            'On <say-as interpret-as="date" format="mdy">12/25/2026</say-as>.',
            "On December twenty-fifth, twenty twenty-six.",
        ),
        (
            'On <say-as interpret-as="date" format="dmy">25-12-2026</say-as>',
            "On December twenty-fifth, twenty twenty-six",
        ),
        ('On <say-as interpret-as="date">????0922</say-as>', "On September twenty-second"),
        ('In <say-as interpret-as="date" format="y">2005</say-as>', "In two thousand five"),
        ('You are <say-as interpret-as="ordinal">3</say-as> in line', "You are third in line"),
        ('The <say-as interpret-as="ordinal">22nd</say-as>', "The twenty-second"),
        (
            '<say-as interpret-as="cardinal">1234</say-as> points',
            "one thousand two hundred thirty-four points",
        ),
        ('<say-as interpret-as="number">1,000,017</say-as>', "one million seventeen"),
        ('Call <say-as interpret-as="telephone">2025551212</say-as>', "Call 2 0 2, 5 5 5, 1 2 1 2"),
        (
            'Call <say-as interpret-as="telephone">555-1212x45</say-as>',
            "Call 5 5 5, 1 2 1 2, extension 4 5",
        ),
        ('Code <say-as interpret-as="spell-out">ab 12</say-as>', "Code a b 1 2"),
        ('Oh <say-as interpret-as="expletive">darn</say-as>', "Oh [beep]"),
    ),
)
def test_say_as_is_heard_as_polly_says_it(say, heard):
    call, _ = dial({"/": f'<Say voice="Polly.Joanna">{say}</Say>'})
    assert call.heard() == [heard]


def test_a_say_as_is_timed_as_its_words():
    say = 'Due <say-as interpret-as="date" format="mdy">1/2/2027</say-as>'
    call, _ = dial({"/": f"<Say>{say}</Say><Say>Next</Say>"})
    words = "Due January second, twenty twenty-seven"
    assert call.heard()[0] == words
    assert events(call, "say")[1].t == pytest.approx(estimate_say(words, "en-US"))


def test_uk_english_says_double_and_triple_in_a_phone_number():
    say = 'Ring <say-as interpret-as="telephone">2122241555</say-as>'
    call, _ = dial({"/": f'<Say voice="Polly.Amy" language="en-GB">{say}</Say>'})
    assert call.heard() == ["Ring 2 1 2, double 2 4, 1 triple 5"]


@pytest.mark.parametrize(
    ("say", "heard"),
    (
        # Polly lists no interpret-as="currency": the amount is read as written
        ('That is <say-as interpret-as="currency">$42.01</say-as>', "That is $42.01"),
        # a date needs its format (Polly's page); without one it is read as written
        ('On <say-as interpret-as="date">12/25/2026</say-as>', "On 12/25/2026"),
        ('On <say-as interpret-as="date" format="mdy">13/45/2026</say-as>', "On 13/45/2026"),
        # words are English: another language hears the figures as written
        (
            '<lang xml:lang="cmn-CN"><say-as interpret-as="cardinal">1234</say-as></lang>元',
            "1234元",
        ),
    ),
)
def test_say_as_polly_cannot_read_is_heard_as_written(say, heard):
    call, _ = dial({"/": f"<Say>{say}</Say>"})
    assert call.heard() == [heard]


# <Echo> holds the call until the caller hangs up (it used to run on into the next verb)

ECHO = {"/": "<Say>This is an echo test</Say><Echo/><Say>Never heard</Say>", "/status": ""}


def test_echo_holds_the_call_until_the_caller_hangs_up():
    call, server = dial(ECHO, "123", Keys(hangup=True, at=30), status_callback=APP + "/status")
    assert call.heard() == ["This is an echo test"]
    (note,) = events(call, "note")
    assert "until they hang up" in note.data["message"]
    assert [(e.data["keys"], e.data["echoed"]) for e in events(call, "keys")] == [("123", True)]
    (hangup,) = events(call, "hangup")
    assert hangup.data == {"by": "caller"}
    assert hangup.t == pytest.approx(events(call, "keys")[0].t + 2 * 0.4 + 30)
    assert [r[1] for r in server.requests] == [BASE, APP + "/status"]
    assert server.to("/status")[0]["CallDuration"] == str(math.ceil(hangup.t))


def test_an_echo_nobody_hangs_up_lasts_until_the_calls_limit():
    call, _ = dial(ECHO, ".")
    assert call.heard() == ["This is an echo test"]
    (hangup,) = events(call, "hangup")
    assert (hangup.t, hangup.data["by"]) == (4 * 3600, "twilio")
    assert call.ended


def test_a_scenario_hangs_up_during_an_echo():
    text = "steps:\n  - expect: echo test\n  - hangup: {at: 10}\n  - expect_hangup: true\n"
    result = runner.run(scenarios.parse(text), Target(Server(ECHO), BASE))
    assert result.passed, result.failure
    assert [e.kind for e in result.events][-2:] == ["echo", "hangup"]
    assert result.gathers == []  # coverage: an echo asks nothing


def test_the_map_ends_a_path_at_an_echo():
    found = Crawler(Target(Server(ECHO), BASE)).crawl()
    assert [(s.kind, s.label) for s in found.states.values()] == [
        ("dead_end", "This is an echo test")
    ]
    assert not [f for f in found.findings() if "loop" in f]
