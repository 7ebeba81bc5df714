"""The engine where it used to depart from Twilio: canned TwiML, the requests and the clock."""

import math
import re
import wave
from xml.etree import ElementTree

import pytest
from softphone.common import REACTION
from softphone.hold import HOLD_PATIENCE
from softphone.interpreter import APPLICATION_ERROR
from softphone.interpreter import DTMF_KEYS
from softphone.interpreter import KEYS_GRAMMAR
from softphone.interpreter import Call
from softphone.interpreter import Keys
from softphone.interpreter import Reply
from softphone.interpreter import estimate_say

from softphone import interpreter
from softphone import ssml

BASE = "https://app.example/voice"
APP = "https://app.example"


class Server:
    """Canned documents by path; records every request the softphone sends."""

    def __init__(self, pages):
        self.pages = {(BASE if path == "/" else APP + path): page for path, page in pages.items()}
        self.requests = []

    def __call__(self, method, url, params):
        self.requests.append((method, url, dict(params)))
        page = self.pages.get(url.split("?")[0])
        if page is None:
            return Reply(404, "text/plain", b"not found", url)
        if callable(page) and not isinstance(page, Reply):
            page = page(params)
        if isinstance(page, Reply):
            return page
        return Reply(200, "text/xml", doc(page).encode(), url)

    def to(self, path):
        """The requests sent to one path."""
        return [params for _, url, params in self.requests if url.split("?")[0] == APP + path]


def doc(body):
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


def dial(pages, *keys, **options):
    server = Server(pages)
    call = Call(BASE, server, **options).start()
    for group in keys:
        call.send(Keys.parse(group) if isinstance(group, str) else group)
    return call, server


def events(call, kind):
    return [e for e in call.events if e.kind == kind]


# --keys: one grammar, strict


@pytest.mark.parametrize(
    ("group", "keys"),
    (
        ("1", Keys("1")),
        ("12w3#", Keys("12w3#")),
        ("1@2.5", Keys("1", at=2.5)),
        (".", Keys()),
        ("", Keys()),
        ("hangup", Keys(hangup=True)),
        ("hangup@5", Keys(hangup=True, at=5.0)),
        ('"sales please"', Keys(speech="sales please")),
        ('"sales"@2', Keys(speech="sales", at=2.0)),
    ),
)
def test_keys_grammar_reads_every_form(group, keys):
    assert Keys.parse(group) == keys


@pytest.mark.parametrize("group", ("1@x", "hangupp", "abc", "1@-2", '""', "12A"))
def test_keys_grammar_refuses_a_bad_group_naming_it(group):
    with pytest.raises(ValueError, match="key group") as error:
        Keys.parse(group)
    assert f"key group {group!r}" in str(error.value)
    assert KEYS_GRAMMAR in str(error.value)


def test_one_set_of_dtmf_keys():
    assert DTMF_KEYS == "0123456789*#"
    assert "say words, for a Gather that listens for speech" in KEYS_GRAMMAR


# 1. <Record>


def test_caller_who_hangs_up_while_recording_still_reaches_the_action(tmp_path):
    pages = {"/": '<Record action="/rec"/>', "/rec": "<Say>Thanks</Say>"}
    call, server = dial(pages, Keys(hangup=True, at=6.0), recordings=tmp_path)
    (params,) = server.to("/rec")
    assert params["Digits"] == "hangup"
    assert params["RecordingDuration"] == "6"
    assert re.fullmatch(r"RE[0-9a-f]{32}", params["RecordingSid"])
    assert params["RecordingUrl"].endswith("/Recordings/" + params["RecordingSid"])
    assert call.ended
    assert call.heard() == []  # the action's TwiML has nobody to play to


def test_hanging_up_the_phone_while_recording_reaches_the_action(tmp_path):
    call, server = dial({"/": '<Record action="/rec"/>', "/rec": ""}, recordings=tmp_path)
    call.hangup()
    assert server.to("/rec")[0]["Digits"] == "hangup"
    assert call.ended


def test_max_length_ends_the_recording(tmp_path):
    pages = {"/": '<Record action="/rec" maxLength="10"/>', "/rec": "<Say>Saved</Say>"}
    call, server = dial(pages, Keys("#", at=25.0), recordings=tmp_path)
    params = server.to("/rec")[0]
    assert params["RecordingDuration"] == "10"
    assert params["Digits"] == ""  # the key came after the recording had ended
    assert events(call, "say")[0].t == pytest.approx(0.5 + 10)  # the beep, then 10 s


def test_a_silent_recording_is_not_submitted_and_the_next_verb_runs(tmp_path):
    pages = {"/": '<Record action="/rec" timeout="3"/><Say>No message</Say>', "/rec": ""}
    call, server = dial(pages, ".", recordings=tmp_path)
    assert server.to("/rec") == []
    assert call.heard() == ["No message"]
    assert events(call, "say")[0].t == pytest.approx(0.5 + 3)


def test_the_recording_is_a_wav_the_softphone_writes_and_plays(tmp_path):
    pages = {"/": '<Record action="/rec"/>', "/rec": ""}
    call, server = dial(pages, Keys("#", at=4.0), recordings=tmp_path)
    url = server.to("/rec")[0]["RecordingUrl"]
    (made,) = events(call, "recording")
    with wave.open(made.data["file"]) as audio:
        assert audio.getnframes() / audio.getframerate() == pytest.approx(4.0)
        assert audio.getframerate() == 8000
    assert made.data["file"].startswith(str(tmp_path))
    assert made.data["url"] == url


def test_the_app_plays_the_recording_back_for_as_long_as_it_is(tmp_path):
    pages = {"/": '<Record action="/rec"/>', "/rec": lambda p: f"<Play>{p['RecordingUrl']}</Play>"}
    call, server = dial(pages, Keys("#", at=3.0), recordings=tmp_path)
    assert events(call, "play")[-1].data["duration"] == pytest.approx(3.0)
    assert not [url for method, url, _ in server.requests if method == "GET"]  # not fetched


def test_recording_status_callback_and_transcribe_are_accepted(tmp_path):
    page = '<Record action="/rec" recordingStatusCallback="/status" transcribe="true"/>'
    call, server = dial({"/": page, "/rec": "", "/status": ""}, "#", recordings=tmp_path)
    (status,) = server.to("/status")
    assert status["RecordingStatus"] == "completed"
    assert status["RecordingSid"] == server.to("/rec")[0]["RecordingSid"]
    warning = next(e for e in call.events if e.kind == "warning")
    assert "transcription is not simulated" in warning.data["message"]


def test_words_left_in_a_recording_end_on_silence(tmp_path):
    pages = {"/": '<Record action="/rec" timeout="2"/>', "/rec": ""}
    call, server = dial(pages, Keys(speech="please call me back"), recordings=tmp_path)
    params = server.to("/rec")[0]
    talk = estimate_say("please call me back", "en-US")
    assert params["RecordingDuration"] == str(math.floor(talk))  # the silence is trimmed
    assert params["Digits"] == ""


# 2. <Say> with SSML


def test_ssml_speaks_every_word():
    say = (
        '<Say voice="Polly.Joanna">Your code is <say-as interpret-as="digits">1234</say-as>. '
        '<break time="500ms"/>Press <emphasis level="strong">one</emphasis> for '
        '<sub alias="World Wide Web">WWW</sub>, <prosody rate="slow">slowly</prosody> '
        '<amazon:effect name="whispered">quietly</amazon:effect> '
        '<phoneme alphabet="ipa" ph="t">tomato</phoneme> <w role="amazon:NN">read</w> '
        '<lang xml:lang="fr-FR">bonjour</lang><p>A paragraph.</p><s>A sentence.</s></Say>'
    )
    call, _ = dial({"/": say})
    assert call.heard() == [
        "Your code is 1 2 3 4. Press one for World Wide Web, slowly quietly tomato read "
        "bonjour A paragraph. A sentence."
    ]


def test_ssml_breaks_are_on_the_clock():
    say = (
        '<Say>One<break time="500ms"/>two<break time="2s"/>three<break strength="x-strong"/></Say>'
    )
    call, _ = dial({"/": say + "<Say>Next</Say>"})
    first, after = events(call, "say")
    assert first.data["text"] == "One two three"
    assert after.t == pytest.approx(estimate_say("One two three", "en-US") + 0.5 + 2 + 1.25)


@pytest.mark.parametrize(
    ("body", "pieces"),
    (
        ('Press one <break time="1s"/> for English', [("Press one", 1.0), ("for English", 0.0)]),
        (
            'One<break strength="weak"/>two<break/>three<break strength="x-strong"/>',
            [("One", 0.25), ("two", 0.5), ("three", 1.25)],
        ),
        ('<break time="500ms"/>Hello', [("", 0.5), ("Hello", 0.0)]),
        ('Wait<break time="1s"/><break time="500ms"/>go', [("Wait", 1.5), ("go", 0.0)]),
        ('Long<break time="20s"/>wait', [("Long", 10.0), ("wait", 0.0)]),  # Polly's cap
        ("<p>First.</p><p>Second.</p>", [("First.", 1.25), ("Second.", 1.25)]),
        ('<s>One.</s>Two<break strength="none"/>three', [("One.", 0.75), ("Two three", 0.0)]),
        (
            'Press <prosody rate="slow">one <break time="2s"/>now</prosody> '
            '<lang xml:lang="fr-FR">bon<emphasis>jour</emphasis></lang>',
            [("Press one", 2.0), ("now bonjour", 0.0)],
        ),
    ),
)
def test_ssml_pauses_fall_where_they_are_written(body, pieces):
    spoken = ssml.read(ElementTree.fromstring(f"<Say>{body}</Say>"), "en-US")
    assert spoken.pieces == pieces
    assert spoken.text == " ".join(text for text, _ in pieces if text)
    assert spoken.pause == pytest.approx(sum(pause for _, pause in pieces))


def test_a_say_without_breaks_has_no_pieces():
    call, _ = dial({"/": '<Say>Hello</Say><Say>Press <sub alias="one">1</sub></Say>'})
    assert [sorted(e.data) for e in events(call, "say")] == [
        ["duration", "language", "text", "voice"]
    ] * 2


def test_a_break_is_carried_on_the_say_and_timed_piece_by_piece():
    """With say_seconds (the SIP front's real audio) each piece is measured as it is played."""
    asked = []

    def say_seconds(text, voice, language):
        asked.append(text)
        return len(text.split())  # a second a word

    say = '<Say>Press one <break time="1s"/> for English</Say>'
    page = f'{say}<Gather numDigits="1">{say}</Gather>'
    call, _ = dial({"/": page}, ".", say_seconds=say_seconds)
    alone, prompt = events(call, "say")
    for event in (alone, prompt):
        assert event.data["text"] == "Press one for English"
        assert event.data["pieces"] == [["Press one", 1.0], ["for English", 0.0]]
        assert event.data["duration"] == 2 + 1 + 2
    assert set(asked) == {"Press one", "for English"}


def test_ssml_digits_in_chinese():
    say = '<Say language="cmn-CN">验证码<say-as interpret-as="digits">123</say-as></Say>'
    call, _ = dial({"/": say})
    assert call.heard() == ["验证码1 2 3"]


def test_ssml_inside_a_gather_prompt():
    page = '<Gather numDigits="1"><Say>Press <sub alias="one">1</sub> now</Say></Gather>'
    call, _ = dial({"/": page}, ".")
    assert call.heard() == ["Press one now"]


# 3. loop="0"


def test_an_endless_nested_prompt_repeats_and_a_key_in_any_repetition_counts():
    page = '<Gather numDigits="1" action="/n"><Say loop="0">Press one</Say></Gather>'
    length = estimate_say("Press one", "en-US")
    call, server = dial({"/": page, "/n": "<Say>Done</Say>"}, Keys("1", at=length * 2.5))
    prompts = [e for e in events(call, "say") if e.data["text"] == "Press one"]
    assert len(prompts) == 3
    assert prompts[-1].data["cut"] is True
    assert server.to("/n")[0]["Digits"] == "1"


def test_an_endless_prompt_is_cut_by_a_caller_who_listened_to_it_once():
    page = '<Gather numDigits="1" action="/n"><Play loop="0" digits="1234"/></Gather>'
    call, server = dial({"/": page, "/n": ""}, "5")
    plays = events(call, "play")
    assert len(plays) == 2
    assert plays[1].data["duration"] == pytest.approx(REACTION)
    assert server.to("/n")[0]["Digits"] == "5"


def test_an_endless_prompt_stops_at_twilios_cap_of_1000_in_silence():
    page = '<Gather><Say loop="0">Hi</Say></Gather><Say>Bye</Say>'
    call, _ = dial({"/": page}, ".")
    said = call.heard()
    assert said.count("Hi") == 1000
    assert said[-1] == "Bye"
    assert events(call, "say")[-1].t == pytest.approx(1000 * estimate_say("Hi", "en-US") + 5)


def test_loop_zero_outside_a_gather_repeats_too():
    call, _ = dial({"/": '<Say loop="0">Hold on</Say><Say>Still here</Say>'})
    assert call.heard().count("Hold on") == 1000
    assert call.heard()[-1] == "Still here"


# 4. speech


SPEECH = '<Gather input="speech" action="/s"><Say>Tell us</Say></Gather><Say>Nothing?</Say>'


def test_speech_posts_speech_result_and_confidence():
    call, server = dial({"/": SPEECH, "/s": ""}, '"sales please"')
    (params,) = server.to("/s")
    assert params["SpeechResult"] == "sales please"
    assert params["Confidence"] == "0.9"
    assert "Digits" not in params
    assert events(call, "speech")[0].data["text"] == "sales please"


def test_keys_are_refused_where_only_speech_is_asked():
    call, server = dial({"/": SPEECH, "/s": ""}, "1#")
    assert server.to("/s") == []
    assert call.heard()[-1] == "Nothing?"
    assert next(e for e in call.events if e.kind == "warning").data["code"] == "input"


def test_words_are_not_heard_where_only_keys_are_asked():
    call, server = dial({"/": '<Gather action="/s"/><Say>Nothing?</Say>', "/s": ""}, '"one"')
    assert server.to("/s") == []
    assert call.heard() == ["Nothing?"]
    assert "the words 'one' are not heard" in events(call, "warning")[0].data["message"]


@pytest.mark.parametrize(("speech_timeout", "wait"), (("3", 3.0), ("auto", 1.0), (None, 7.0)))
def test_speech_timeout_is_on_the_clock(speech_timeout, wait):
    attribute = f' speechTimeout="{speech_timeout}"' if speech_timeout else ""
    page = f'<Gather input="speech" timeout="7"{attribute} action="/s"><Say>Tell us</Say></Gather>'
    call, _ = dial({"/": page, "/s": "<Say>Thanks</Say>"}, '"sales"')
    start = estimate_say("Tell us", "en-US") + REACTION
    end = start + estimate_say("sales", "en-US") + wait
    assert events(call, "say")[-1].t == pytest.approx(end)


def test_dtmf_speech_takes_keys_or_words():
    page = '<Gather input="dtmf speech" numDigits="1" action="/s"><Say>Go</Say></Gather>'
    _, server = dial({"/": page, "/s": ""}, "2")
    assert server.to("/s")[0]["Digits"] == "2"
    _, server = dial({"/": page, "/s": ""}, '"agent"')
    assert server.to("/s")[0]["SpeechResult"] == "agent"


def test_partial_result_callback_gets_the_words_once_and_hints_are_shown():
    page = (
        '<Gather input="speech" action="/s" partialResultCallback="/partial" '
        'hints="sales, customer support"><Say>Tell us</Say></Gather>'
    )
    call, server = dial({"/": page, "/s": "", "/partial": ""}, '"customer support"')
    (partial,) = server.to("/partial")
    assert partial["UnstableSpeechResult"] == "customer support"
    assert [url for _, url, _ in server.requests][-2:] == [APP + "/partial", APP + "/s"]
    assert events(call, "gather")[0].data["hints"] == ["sales", "customer support"]


def test_words_cut_the_prompt():
    page = '<Gather input="speech" action="/s"><Say>One two three four five six</Say></Gather>'
    call, _ = dial({"/": page, "/s": ""}, '"agent"@1')
    assert events(call, "say")[0].data["cut"] is True


# 5. queues, conferences and dialled numbers


WAIT = '<Say>You are caller one</Say><Pause length="10"/>'


def test_enqueue_loops_the_wait_url_until_an_agent_answers():
    pages = {
        "/": '<Enqueue waitUrl="/wait" action="/after">support</Enqueue>',
        "/wait": WAIT,
        "/after": "<Say>Thanks for waiting</Say>",
    }
    call, server = dial(pages, agent_after=25)
    waits = server.to("/wait")
    assert len(waits) == 3
    assert [w["QueueTime"] for w in waits] == ["0", "11", "23"]
    assert {(w["QueuePosition"], w["CurrentQueueSize"]) for w in waits} == {("1", "1")}
    assert waits[1]["AvgQueueTime"] == "11"
    (after,) = server.to("/after")
    assert (after["QueueResult"], after["QueueTime"]) == ("bridged", "25")
    assert call.heard()[-1] == "Thanks for waiting"
    assert next(e for e in call.events if e.kind == "transfer").data["queue"] == "support"
    assert events(call, "pause")[-1].data["cut"] is True  # the agent answered mid-music


def test_a_caller_with_no_agent_hangs_up_and_the_action_hears_it():
    pages = {"/": '<Enqueue waitUrl="/wait" action="/after">support</Enqueue>', "/wait": WAIT}
    pages["/after"] = "<Say>Never heard</Say>"
    call, server = dial(pages)
    assert server.to("/after")[0]["QueueResult"] == "hangup"
    assert call.ended
    assert "Never heard" not in call.heard()
    assert call.t == pytest.approx(HOLD_PATIENCE)


def test_leave_in_the_wait_url_runs_the_verb_after_enqueue():
    pages = {
        "/": '<Enqueue waitUrl="/wait">support</Enqueue><Say>Call again tomorrow</Say>',
        "/wait": "<Say>We are closed</Say><Leave/>",
    }
    call, _ = dial(pages, agent_after=100)
    assert call.heard() == ["We are closed", "Call again tomorrow"]


def test_a_redirect_in_the_wait_url_stays_on_hold():
    pages = {
        "/": '<Enqueue waitUrl="/wait" action="/after">q</Enqueue>',
        "/wait": "<Say>Please hold</Say><Redirect>/music</Redirect>",
        "/music": '<Pause length="5"/>',
        "/after": "",
    }
    call, server = dial(pages, agent_after=20)
    assert len(server.to("/music")) == len(server.to("/wait")) == 4
    assert server.to("/after")[0]["QueueResult"] == "bridged"


def test_hanging_up_partway_through_a_prompt():
    page = "<Gather><Say>One two three four five six seven eight nine ten</Say></Gather>"
    call, _ = dial({"/": page}, "hangup@2")
    assert events(call, "say")[0].data["cut"] is True
    assert call.t == pytest.approx(2.0)
    assert call.ended


def test_default_hold_music_without_a_wait_url():
    call, _ = dial({"/": "<Enqueue>support</Enqueue>"})
    assert sum(e.data["duration"] for e in events(call, "hold")) == pytest.approx(HOLD_PATIENCE)
    assert call.ended


def test_a_wait_url_that_loops_at_once_is_stopped():
    call, server = dial({"/": '<Enqueue waitUrl="/wait">q</Enqueue>', "/wait": ""}, agent_after=60)
    assert call.ended
    assert next(e for e in call.events if e.kind == "error").data["code"] == "loop"


@pytest.mark.parametrize(
    ("answer", "duration"),
    (("completed", "10"), ("busy", "0"), ("failed", "0"), ("no-answer", "0")),
)
def test_dial_number_gets_the_answer_chosen(answer, duration):
    pages = {"/": '<Dial action="/d"><Number>+8610123</Number></Dial>', "/d": ""}
    _, server = dial(pages, answer=answer)
    (params,) = server.to("/d")
    assert params["DialCallStatus"] == answer
    assert params["DialCallDuration"] == duration
    assert re.fullmatch(r"CA[0-9a-f]{32}", params["DialCallSid"])


def test_dial_queue_waits_for_a_caller_to_join():
    pages = {"/": '<Dial action="/d"><Queue>support</Queue></Dial>', "/d": ""}
    call, server = dial(pages, agent_after=12)
    assert server.to("/d")[0]["DialCallStatus"] == "completed"
    assert events(call, "hold")[0].data["duration"] == 12
    _, server = dial(pages)
    assert server.to("/d")[0]["DialCallStatus"] == "no-answer"


def test_a_single_caller_in_a_conference_hears_hold_music():
    pages = {"/": '<Dial action="/d"><Conference>room</Conference></Dial>', "/d": ""}
    call, server = dial(pages)
    assert events(call, "hold")[0].data["duration"] == HOLD_PATIENCE
    assert call.ended
    assert server.to("/d") == []
    call, server = dial(pages, agent_after=20)
    params = server.to("/d")[0]
    assert params["DialCallStatus"] == "completed"
    assert "DialCallSid" not in params  # Twilio sends none for a conference


def test_answer_must_be_one_twilio_knows():
    with pytest.raises(ValueError, match="answer must be one of"):
        Call(BASE, Server({}), answer="maybe")


# 6. every TwiML verb is known


@pytest.mark.parametrize(
    "verb",
    (
        '<Start><Stream url="wss://example.com/s"/></Start>',
        '<Stop><Stream name="s"/></Stop>',
        '<Connect><Stream url="wss://example.com/s"/></Connect>',
        '<Pay paymentConnector="c"/>',
        "<Refer><Sip>sip:a@example.com</Sip></Refer>",
        "<Sms>hi</Sms>",
    ),
)
def test_verbs_not_simulated_get_a_note_and_the_call_runs_on(verb):
    call, _ = dial({"/": verb + "<Say>After</Say>"})
    assert call.heard() == ["After"]
    assert events(call, "note")[0].data["message"].endswith("not simulated; the call runs on")
    assert events(call, "warning") == []


def test_leave_outside_a_queue_is_skipped_not_unknown():
    call, _ = dial({"/": "<Leave/><Say>After</Say>"})
    assert call.heard() == ["After"]
    assert events(call, "warning")[0].data["code"] == "leave"


# 7. smaller


def test_leading_whitespace_without_a_declaration_is_accepted():
    call, _ = dial({"/": Reply(200, "text/xml", b"\n   <Response><Say>Hi</Say></Response>")})
    assert call.heard() == ["Hi"]


def test_numbers_are_sent_in_e164_with_twilios_geographic_parameters():
    _, server = dial({"/": ""}, to="010-12333", caller="13800138000")
    params = server.requests[0][2]
    assert (params["To"], params["Called"]) == ("+861012333", "+861012333")
    assert (params["From"], params["Caller"]) == ("+8613800138000", "+8613800138000")
    assert params["ToCountry"] == params["FromCountry"] == params["CalledCountry"] == "CN"
    assert params["ToCity"] == params["ToState"] == params["ToZip"] == params["FromCity"] == ""
    _, server = dial({"/": ""}, to="+86 21 12333")
    assert server.requests[0][2]["To"] == "+862112333"
    _, server = dial({"/": ""}, to="12333")  # a service number has no E.164 form
    assert server.requests[0][2]["To"] == "12333"


def test_the_time_a_webhook_takes_is_on_the_clock():
    clock = [100.0]
    server = Server({"/": "<Say>Hi</Say>"})

    def slow(method, url, params):
        clock[0] += 2.34
        return server(method, url, params)

    call = Call(BASE, slow, timer=lambda: clock[0]).start()
    assert events(call, "say")[0].t == pytest.approx(2.3)


def test_a_webhook_slower_than_15_seconds_is_11205():
    clock = [0.0]
    server = Server({"/": "<Say>Hi</Say>"})

    def slow(method, url, params):
        clock[0] += 16
        return server(method, url, params)

    call = Call(BASE, slow, timer=lambda: clock[0]).start()
    assert events(call, "error")[0].data["code"] == 11205
    assert call.heard() == [APPLICATION_ERROR]


def moved(status, location):
    reply = Reply(status, "text/html", b"")
    reply.headers = {"Location": location}  # as a fetcher that passes headers on sets them
    return reply


def test_a_302_is_followed_with_a_get_and_no_parameters():
    pages = {"/": '<Gather action="/old"/>', "/old": moved(302, "/new"), "/new": "<Say>Moved</Say>"}
    call, server = dial(pages, "12#")
    method, url, params = server.requests[-1]
    assert (method, url, params) == ("GET", APP + "/new", {})
    assert call.heard() == ["Moved"]


def test_a_307_repeats_the_post():
    pages = {"/": '<Gather action="/old"/>', "/old": moved(307, "/new"), "/new": ""}
    _, server = dial(pages, "12#")
    method, url, params = server.requests[-1]
    assert (method, url, params["Digits"]) == ("POST", APP + "/new", "12")


def test_a_redirect_loop_over_http_is_11215():
    call, _ = dial({"/": moved(302, "/voice")})
    assert events(call, "error")[0].data["code"] == 11215
    assert call.heard() == [APPLICATION_ERROR]


def test_a_twiml_loop_says_what_loops():
    call, _ = dial({"/": f"<Redirect>{BASE}</Redirect>"})
    assert "loops" in events(call, "error")[0].data["message"]
    assert interpreter.MAX_REQUESTS == 200
