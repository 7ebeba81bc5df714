"""The interpreter on canned TwiML: Twilio's rules, timing and error codes, with no app."""

import io
import re
import time
import wave

import pytest
from softphone.cli import Transcript
from softphone.interpreter import APPLICATION_ERROR
from softphone.interpreter import Call
from softphone.interpreter import FetchError
from softphone.interpreter import Keys
from softphone.interpreter import Reply
from softphone.interpreter import estimate_say

from softphone import dialer

BASE = "https://app.example/voice"


class Server:
    """Canned documents by URL; records every request the softphone sends."""

    def __init__(self, pages):
        self.pages = pages
        self.requests = []

    def __call__(self, method, url, params):
        self.requests.append((method, url, dict(params)))
        page = self.pages.get(url.split("?")[0] if url.split("?")[0] in self.pages else url)
        if page is None:
            return Reply(404, "text/plain", b"not found", url)
        if isinstance(page, Exception):
            raise page
        if isinstance(page, Reply):
            return page
        return Reply(200, "text/xml", page.encode(), url)


def doc(body):
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


def dial(pages, *keys, **options):
    server = Server(pages)
    call = Call(BASE, server, **options).start()
    for group in keys:
        call.send(Keys.parse(group) if isinstance(group, str) else group)
    return call, server


def kinds(call):
    return [event.kind for event in call.events]


def said(call):
    return call.heard()


# requests


def test_signature_matches_twilios_test_vectors():
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675310",
        "Digits": "1234",
        "From": "+14158675310",
        "To": "+18005551212",
    }
    url, headers = dialer.signed(
        "POST", "https://example.com/myapp.php?foo=1&bar=2", params, "12345"
    )
    assert headers["X-Twilio-Signature"] == "L/OH5YylLD5NRKLltdqwSvS0BnU="
    params = {**params, "Caller": "+14158675309", "From": "+14158675309"}
    _, headers = dialer.signed(
        "POST", "https://mycompany.com/myapp.php?foo=1&bar=2", params, "12345"
    )
    assert headers["X-Twilio-Signature"] == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_first_request_carries_twilios_parameters():
    call, server = dial(
        {BASE: doc("<Redirect>/next</Redirect>"), "https://app.example/next": doc("")}
    )
    method, url, params = server.requests[0]
    assert method == "POST"
    assert url == BASE
    assert re.fullmatch(r"CA[0-9a-f]{32}", params["CallSid"])
    assert re.fullmatch(r"AC[0-9a-f]{32}", params["AccountSid"])
    assert params["CallStatus"] == "ringing"
    assert params["Direction"] == "inbound"
    assert params["ApiVersion"] == "2010-04-01"
    assert params["To"] == params["Called"] == "12333"
    assert params["From"] == params["Caller"]
    assert server.requests[1][2]["CallStatus"] == "in-progress"
    assert server.requests[1][2]["CallSid"] == params["CallSid"]


def test_end_of_document_ends_the_call():
    call, _ = dial({BASE: doc("<Say>Hello</Say>")})
    assert call.ended
    assert call.status == "completed"
    assert call.events[-1].data["by"] == "end of document"


# timing


def test_say_takes_time_by_length_and_pause_by_seconds():
    call, _ = dial(
        {BASE: doc('<Say>Hello there</Say><Pause length="3"/><Say language="cmn-CN">您好</Say>')}
    )
    times = [event.t for event in call.events if event.kind in ("say", "pause")]
    first = estimate_say("Hello there", "en-US")
    assert times == [0.0, pytest.approx(first), pytest.approx(first + 3)]
    assert estimate_say("您好您好", "cmn-CN") > estimate_say("abcd", "en-US")


def wav(seconds, rate=8000):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()


def test_play_takes_the_files_real_duration():
    pages = {
        BASE: doc("<Play>/a.wav</Play><Say>after</Say>"),
        "https://app.example/a.wav": Reply(200, "audio/wav", wav(2.5)),
    }
    server = Server(pages)
    call = Call(BASE, server, measure=dialer.measurer(server)).start()
    play = next(e for e in call.events if e.kind == "play")
    assert play.data["url"] == "https://app.example/a.wav"
    assert play.data["duration"] == 2.5
    assert call.events[-2].t == pytest.approx(2.5)  # the Say after it
    assert ("GET", "https://app.example/a.wav", {}) in server.requests


def test_say_loop_repeats():
    call, _ = dial({BASE: doc('<Say loop="3">Hi</Say>')})
    assert said(call) == ["Hi", "Hi", "Hi"]


# Gather


def test_gather_defaults_action_to_the_current_url_and_strips_the_finish_key():
    call, server = dial({BASE: doc("<Gather><Say>Enter</Say></Gather>")}, "1234#")
    method, url, params = server.requests[1]
    assert (method, url) == ("POST", BASE)
    assert params["Digits"] == "1234"
    assert params["FinishedOnKey"] == "#"


def test_relative_action_is_resolved_against_the_document():
    call, server = dial(
        {BASE: doc('<Gather action="next?x=1" method="GET"><Say>Go</Say></Gather>')}, "5#"
    )
    method, url, params = server.requests[1]
    assert method == "GET"
    assert url == "https://app.example/next?x=1"


def test_num_digits_ends_at_once_and_later_keys_are_lost():
    call, server = dial(
        {BASE: doc('<Gather numDigits="2" action="/n"/>'), "https://app.example/n": doc("")}, "1234"
    )
    assert server.requests[1][2]["Digits"] == "12"
    assert server.requests[1][2]["FinishedOnKey"] == ""
    lost = next(e for e in call.events if e.kind == "lost_keys")
    assert lost.data["keys"] == "34"


def test_finish_key_alone_falls_through_to_the_next_verb():
    call, server = dial(
        {BASE: doc('<Gather action="/n"><Say>Enter</Say></Gather><Say>Nothing?</Say>')}, "#"
    )
    assert len(server.requests) == 1
    assert said(call) == ["Enter", "Nothing?"]


def test_silence_falls_through_after_the_timeout():
    call, server = dial(
        {BASE: doc('<Gather timeout="7"><Say>Enter</Say></Gather><Say>Bye</Say>')}, "."
    )
    assert len(server.requests) == 1
    bye = call.events[-2]
    assert bye.data["text"] == "Bye"
    assert bye.t == pytest.approx(estimate_say("Enter", "en-US") + 7)


def test_silence_with_action_on_empty_result_requests_the_action():
    call, server = dial(
        {
            BASE: doc('<Gather actionOnEmptyResult="true" action="/n"/>'),
            "https://app.example/n": doc(""),
        },
        ".",
    )
    assert server.requests[1][1] == "https://app.example/n"
    assert server.requests[1][2]["Digits"] == ""


def test_finish_on_key_empty_needs_timeout_or_num_digits():
    call, server = dial(
        {BASE: doc('<Gather finishOnKey="" action="/n"/>'), "https://app.example/n": doc("")}, "12#"
    )
    assert server.requests[1][2]["Digits"] == "12#"


def test_custom_finish_key():
    call, server = dial(
        {BASE: doc('<Gather finishOnKey="*" action="/n"/>'), "https://app.example/n": doc("")},
        "12*",
    )
    assert server.requests[1][2]["Digits"] == "12"
    assert server.requests[1][2]["FinishedOnKey"] == "*"


def test_timeout_restarts_with_each_key():
    # Each gap is 0.4 s + 4 waits (2 s) = 2.4 s: under a 3 s timeout, so all keys count,
    # though together they take longer than the timeout.
    call, server = dial(
        {BASE: doc('<Gather timeout="3" action="/n"/>'), "https://app.example/n": doc("")},
        "1wwww2wwww3wwww4",
    )
    assert server.requests[1][2]["Digits"] == "1234"


def test_a_slow_key_times_the_entry_out():
    call, server = dial(
        {BASE: doc('<Gather timeout="3" action="/n"/>'), "https://app.example/n": doc("")},
        "12wwwwwww3#",
    )
    assert server.requests[1][2]["Digits"] == "12"
    assert next(e for e in call.events if e.kind == "lost_keys").data["keys"] == "3#"


def test_barge_in_cuts_the_prompt_and_skips_later_prompts():
    page = doc(
        '<Gather numDigits="1" action="/n"><Say>One two three four five six seven</Say><Say>Never heard</Say></Gather>'
    )
    call, server = dial(
        {BASE: page, "https://app.example/n": doc("<Say>Next</Say>")}, Keys("1", at=1.0)
    )
    first = call.events[1:][1]
    assert first.kind == "say"
    assert first.data["cut"] is True
    assert first.data["duration"] == 1.0
    assert "Never heard" not in said(call)
    assert said(call)[-1] == "Next"
    assert server.requests[1][2]["Digits"] == "1"


def test_keys_after_the_prompt_do_not_cut_it():
    call, _ = dial(
        {BASE: doc('<Gather numDigits="1"><Say>Hello</Say><Say>World</Say></Gather>')}, "1"
    )
    assert said(call)[:2] == ["Hello", "World"]
    assert not any(e.data.get("cut") for e in call.events)


def test_invalid_nested_verb_is_a_warning():
    call, _ = dial({BASE: doc("<Gather><Say>Hi</Say><Hangup/></Gather>")}, ".")
    warning = next(e for e in call.events if e.kind == "warning")
    assert warning.data["code"] == 13320
    assert said(call) == ["Hi"]


def test_secret_gather_masks_keys_and_long_entries_show_last_four():
    pages = {
        BASE: doc('<Gather action="/id"/>'),
        "https://app.example/id": doc('<Gather action="/pin?secret=1"/>'),
        "https://app.example/pin": doc(""),
    }
    call, server = dial(pages, "11010519491231002*#", "123456#")
    keys = [e.data["keys"] for e in call.events if e.kind == "keys"]
    assert keys == ["••••••••••••••002*#", "••••••#"]
    assert server.requests[2][2]["Digits"] == "123456"  # the app still gets the real keys


# the other verbs


def test_redirect_posts_standard_params_only():
    call, server = dial(
        {
            BASE: doc('<Redirect method="GET">/r</Redirect><Say>unreachable</Say>'),
            "https://app.example/r": doc("<Say>R</Say>"),
        }
    )
    assert server.requests[1][0] == "GET"
    assert "Digits" not in server.requests[1][2]
    assert said(call) == ["R"]


def test_hangup_ends_and_skips_the_rest():
    call, _ = dial({BASE: doc("<Say>A</Say><Hangup/><Say>B</Say>")})
    assert said(call) == ["A"]
    assert call.events[-1].data["by"] == "app"


@pytest.mark.parametrize(("reason", "status"), (("busy", "busy"), ("rejected", "no-answer")))
def test_reject(reason, status):
    call, _ = dial({BASE: doc(f'<Reject reason="{reason}"/>')})
    assert call.status == status


def test_enqueue_is_a_transfer():
    call, _ = dial({BASE: doc("<Say>Hold</Say><Enqueue>agents</Enqueue>")})
    transfer = next(e for e in call.events if e.kind == "transfer")
    assert transfer.data["queue"] == "agents"
    assert call.ended


def test_dial_without_answer_calls_the_action():
    call, server = dial(
        {
            BASE: doc('<Dial action="/after" timeout="20"><Number>+8610123</Number></Dial>'),
            "https://app.example/after": doc("<Say>No answer</Say>"),
        }
    )
    assert next(e for e in call.events if e.kind == "transfer").data["to"] == "+8610123"
    assert server.requests[1][2]["DialCallStatus"] == "no-answer"
    assert said(call) == ["No answer"]
    assert call.events[-2].t >= 20


def test_record_posts_the_recording():
    call, server = dial(
        {BASE: doc('<Record action="/rec" maxLength="30"/>'), "https://app.example/rec": doc("")},
        Keys("#", at=4.0),
    )
    params = server.requests[1][2]
    assert params["Digits"] == "#"
    assert params["RecordingDuration"] == "4"
    assert params["RecordingUrl"].startswith("https://")


def test_unknown_verb_is_skipped_with_a_warning():
    call, _ = dial({BASE: doc("<Dance/><Say>ok</Say>")})
    assert said(call) == ["ok"]
    assert next(e for e in call.events if e.kind == "warning").data["code"] == 12200


# errors, as Twilio reports them and as the caller hears them


@pytest.mark.parametrize(
    ("reply", "code"),
    (
        (Reply(500, "text/html", b"boom"), 11217),
        (Reply(404, "text/xml", b"<Response/>"), 11217),
        (FetchError(11205, "no answer within 15 s"), 11205),
        (FetchError(11200, "connection refused"), 11200),
        (Reply(200, "text/xml", b"<Response><Say>unclosed</Response>"), 12100),
        (Reply(200, "text/xml", b'  <?xml version="1.0"?><Response/>'), 12100),
        (Reply(200, "text/xml", b"<Document><Say>x</Say></Document>"), 12102),
        (Reply(200, "application/json", b"{}"), 12300),
        (Reply(200, "", b"<Response/>"), 12300),
    ),
)
def test_webhook_errors_play_the_application_error(reply, code):
    call, _ = dial({BASE: reply})
    error = next(e for e in call.events if e.kind == "error")
    assert error.data["code"] == code
    assert said(call) == [APPLICATION_ERROR]
    assert call.events[-1].kind == "hangup"
    assert call.ended


def test_text_plain_is_read_then_hangs_up():
    call, _ = dial({BASE: Reply(200, "text/plain; charset=utf-8", b"Just words")})
    assert said(call) == ["Just words"]
    assert call.ended


def test_audio_reply_is_played():
    server = Server({BASE: Reply(200, "audio/wav", wav(1.0))})
    call = Call(BASE, server, measure=dialer.measurer(server)).start()
    assert next(e for e in call.events if e.kind == "play").data["duration"] == 1.0


def test_fallback_url_gets_the_error():
    pages = {
        BASE: Reply(500, "text/html", b""),
        "https://app.example/fallback": doc("<Say>Fallback</Say>"),
    }
    call, server = dial(pages, fallback_url="https://app.example/fallback")
    assert server.requests[1][2]["ErrorCode"] == "11217"
    assert server.requests[1][2]["ErrorUrl"] == BASE
    assert said(call) == ["Fallback"]


def test_status_callback_reports_the_duration():
    pages = {BASE: doc('<Pause length="12"/><Hangup/>'), "https://app.example/status": doc("")}
    call, server = dial(pages, status_callback="https://app.example/status")
    params = server.requests[-1][2]
    assert server.requests[-1][1] == "https://app.example/status"
    assert params["CallStatus"] == "completed"
    assert params["CallDuration"] == "12"


def test_redirect_loop_is_stopped():
    call, server = dial({BASE: doc(f"<Redirect>{BASE}</Redirect>")})
    assert call.ended
    assert next(e for e in call.events if e.kind == "error").data["code"] == "loop"
    assert len(server.requests) == 200


def test_caller_hangs_up_at_a_prompt():
    call, server = dial({BASE: doc("<Gather><Say>Hi</Say></Gather>")}, "hangup")
    assert call.ended
    assert call.events[-1].data["by"] == "caller"
    assert len(server.requests) == 1


def test_the_terminal_speaks_an_ssml_break_as_a_pause_where_it_is_written():
    """`softphone URL` at a terminal speaks each prompt aloud: the words before a break, the
    pause, then the words after it (not the words at once and the pause after them)."""
    call = Call(BASE, Server({BASE: doc('<Say>Press one <break time="300ms"/> for English</Say>')}))
    said = []
    transcript = Transcript(
        call, speak=lambda text, _: said.append((text, time.monotonic())), out=io.StringIO()
    )
    call.start()
    transcript.show(everything=True)
    assert [text for text, _ in said] == ["Press one", "for English"]
    assert said[1][1] - said[0][1] >= 0.3
