"""The web dialer's JSON API: one engine on the server, one call per browser call."""

import contextlib
import datetime as dt
import json
import re
import socket
import threading
import time
from urllib.parse import quote

import pytest
from flask import Flask
from flask import Response
from flask import redirect
from flask import request
from local_server import serving_in_thread
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from ivr import web_fetch


@pytest.fixture
def app(make_app):
    """A line whose operator turned the dialer on (the test line has an auth token)."""
    return make_app(IVR_WEB_DIALER=True)


def start(client, **body):
    response = client.post("/dialer/api/calls", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def press(client, call_id, keys, at=None):
    data = None
    for key in keys:
        data = client.post(
            f"/dialer/api/calls/{call_id}/keys", json={"keys": key, "at": at}
        ).get_json()
    return data


def heard(data):
    return "\n".join(e.get("text", "") for e in data["events"] if e["kind"] == "say")


def test_the_page_is_a_phone(client):
    page = client.get("/").get_data(as_text=True)
    assert 'value="12333"' in page
    assert 'data-key="*"' in page
    assert 'data-key="#"' in page
    assert 'src="static/dialer.js"' in page  # relative: the page may be served under a path
    assert 'src="http' not in page
    assert 'href="http' not in page


def test_dial_and_hear_the_balance(client):
    data = start(client, to="010-12333")
    assert "欢迎致电北京市" in heard(data)
    assert data["expects"]["num_digits"] == 1
    call_id = data["id"]
    press(client, call_id, "1")
    data = press(client, call_id, "11010519491231002*")
    assert data["typed"] == "11010519491231002*"
    data = press(client, call_id, "#")
    assert data["expects"]["secret"] is True
    data = press(client, call_id, "123")
    assert data["typed"] == "•••"
    data = press(client, call_id, "456#")
    assert "余额是一千二百三十四元五角六分" in heard(data)
    assert not any("123456" in str(event) for event in data["events"])


def test_timeout_sends_what_was_typed_or_silence(client):
    call_id = start(client)["id"]
    data = client.post(f"/dialer/api/calls/{call_id}/wait", json={}).get_json()
    assert "没有收到您的按键" in heard(data)


def test_two_calls_never_share_state(client):
    first, second = start(client), start(client)
    assert first["id"] != second["id"]
    press(client, first["id"], "9")
    data = client.post(f"/dialer/api/calls/{second['id']}/wait", json={}).get_json()
    assert "For your balance" not in heard(data)  # the first call's English is not its own


def test_unknown_call_id_is_404(client):
    for path in ("keys", "wait", "hangup"):
        response = client.post(f"/dialer/api/calls/nope/{path}", json={"keys": "1"})
        assert response.status_code == 404
        assert "no such call" in response.get_json()["error"]


@pytest.mark.parametrize("keys", ("", "a", "1a", "😀", "<script>", None))
def test_junk_keys_are_400(client, keys):
    call_id = start(client)["id"]
    response = client.post(f"/dialer/api/calls/{call_id}/keys", json={"keys": keys})
    assert response.status_code == 400
    assert response.get_json()["error"] == "keys are 0-9, * and #"


def test_no_json_at_all(client):
    call_id = start(client)["id"]
    response = client.post(
        f"/dialer/api/calls/{call_id}/keys", data="garbage", content_type="application/json"
    )
    assert response.status_code == 400
    assert "not acceptable JSON" in response.get_json()["error"]
    empty = client.post("/dialer/api/calls", data="", content_type="application/json")
    assert empty.status_code == 200  # an empty body: the defaults, 12333


def test_hangup_ends_and_forgets_the_call(client):
    call_id = start(client)["id"]
    data = client.post(f"/dialer/api/calls/{call_id}/hangup", json={}).get_json()
    assert data["ended"] is True
    assert client.post(f"/dialer/api/calls/{call_id}/wait", json={}).status_code == 404


def test_an_abandoned_call_expires(client, clock):
    call_id = start(client)["id"]
    clock.advance(minutes=9)
    assert client.post(f"/dialer/api/calls/{call_id}/wait", json={}).status_code == 200
    clock.advance(minutes=10, seconds=1)
    assert client.post(f"/dialer/api/calls/{call_id}/wait", json={}).status_code == 404


def test_other_urls_are_off_by_default(client):
    response = client.post("/dialer/api/calls", json={"url": "http://127.0.0.1:9/voice"})
    assert response.status_code == 403
    assert "IVR_DIAL_ANY_URL" in response.get_json()["error"]


def test_other_urls_when_the_operator_allows(app, client):
    app.config["IVR_DIAL_ANY_URL"] = True
    assert client.post("/dialer/api/calls", json={"url": "file:///etc/passwd"}).status_code == 400
    data = start(client, url="http://127.0.0.1:9/voice")
    assert data["ended"] is True
    assert [e["code"] for e in data["events"] if e["kind"] == "error"] == [11200]


def test_play_mode_events_carry_their_words(make_app):
    client = make_app(IVR_WEB_DIALER=True, IVR_VOICE_MODE="play").test_client()
    data = start(client, to="010-12333")
    plays = [e for e in data["events"] if e["kind"] == "play"]
    assert plays[0]["url"].startswith("http://localhost/audio/phrase/")
    assert plays[0]["text"] == "欢迎致电北京市幺二三三三。"
    assert plays[1]["text"] == "For English, press 9."  # the English recording
    assert plays[1]["url"] == "http://localhost/audio/en/language_offer.wav"
    assert plays[2]["text"].startswith("余额请按1")
    assert client.get(plays[1]["url"].removeprefix("http://localhost")).mimetype == "audio/wav"


def test_dialing_on_a_weekend_uses_the_clock(client, clock):
    clock.now = dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.UTC)
    data = start(client)
    data = press(client, data["id"], "0")
    assert "现在不是人工服务时间" in heard(data)


def test_too_many_calls_at_once(client, monkeypatch):
    monkeypatch.setattr("ivr.web.MAX_CALLS", 2)
    start(client)
    start(client)
    response = client.post("/dialer/api/calls", json={})
    assert response.status_code == 503
    assert "too many calls" in response.get_json()["error"]


# Who may use the dialer, and how much (issue 13, point 2)


def test_off_by_default_once_an_auth_token_is_set(make_app, caplog):
    client = make_app().test_client()  # the test line has TWILIO_AUTH_TOKEN set
    page = client.get("/")
    assert page.status_code == 404
    assert "IVR_WEB_DIALER=1" in page.get_data(as_text=True)
    response = client.post("/dialer/api/calls", json={})
    assert response.status_code == 404
    assert response.get_json()["error"] == "the web dialer is off on this line"
    assert "the web dialer is OFF (TWILIO_AUTH_TOKEN is set)" in caplog.text


def test_on_by_default_for_a_local_line(make_app, caplog):
    client = make_app(TWILIO_AUTH_TOKEN=None).test_client()
    assert client.get("/").status_code == 200
    assert "欢迎致电" in heard(start(client))
    assert "the web dialer is ON at / (no TWILIO_AUTH_TOKEN)" in caplog.text


def test_the_setting_comes_from_the_environment():
    from ivr.config import from_environment

    assert from_environment({"IVR_WEB_DIALER": "0"})["IVR_WEB_DIALER"] is False
    assert from_environment({"IVR_WEB_DIALER": "1"})["IVR_WEB_DIALER"] is True
    assert "IVR_WEB_DIALER" not in from_environment({})
    assert from_environment({"IVR_WEB_PINS_PER_MINUTE": "7"})["IVR_WEB_PINS_PER_MINUTE"] == 7


def test_a_cross_site_form_cannot_start_calls(client):
    for _ in range(100):
        response = client.post("/dialer/api/calls", data={"to": "12333"})
        assert response.status_code == 415
    for headers in (
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},
    ):
        response = client.post("/dialer/api/calls", json={}, headers=headers)
        assert response.status_code == 403
        assert response.get_json()["error"] == "requests from other sites are refused"
    assert "欢迎致电" in heard(start(client))  # the real page still dials


def test_calls_a_minute_per_address(client, clock):
    for _ in range(10):
        call_id = start(client)["id"]
        client.post(f"/dialer/api/calls/{call_id}/hangup", json={})
    response = client.post("/dialer/api/calls", json={})
    assert response.status_code == 429
    assert response.get_json()["error"].startswith("too many calls from your address")
    assert int(response.headers["Retry-After"]) > 0
    other = client.post("/dialer/api/calls", json={}, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 200  # someone else is not held back
    clock.advance(seconds=61)
    assert client.post("/dialer/api/calls", json={}).status_code == 200


def test_one_address_cannot_take_every_line(client):
    for _ in range(5):
        start(client)
    response = client.post("/dialer/api/calls", json={})
    assert response.status_code == 503
    assert "hang one up first" in response.get_json()["error"]
    other = client.post("/dialer/api/calls", json={}, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 200


def to_pin_prompt(client):
    call_id = start(client)["id"]
    press(client, call_id, "1")
    data = press(client, call_id, "11010519491231002*#")
    assert data["expects"]["secret"] is True
    return call_id


def test_pin_entries_a_minute_per_address(make_app, clock):
    client = make_app(IVR_WEB_DIALER=True, IVR_WEB_PINS_PER_MINUTE=2).test_client()
    call_id = to_pin_prompt(client)
    for tries_left in ("两", "一"):
        data = press(client, call_id, "000000#")
        assert f"您还可以尝试{tries_left}次" in heard(data)
    response = client.post(f"/dialer/api/calls/{call_id}/keys", json={"keys": "000000#"})
    assert response.status_code == 429
    assert response.get_json()["error"].startswith("too many PIN entries from your address")
    clock.advance(seconds=61)
    data = press(client, call_id, "123456#")
    assert "余额是一千二百三十四元五角六分" in heard(data)


@pytest.mark.parametrize(
    "raw",
    (
        '{"keys": "1", "at": NaN}',
        '{"keys": "1", "at": Infinity}',
        '{"keys": "1", "at": -Infinity}',
        '{"keys": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"keys": ' + "[" * 50 + "]" * 50 + "}",
        "[1, 2]",
        '"1"',
        "{",
        b'{"keys": "\xff"}',
    ),
)
def test_hostile_json_is_400_with_a_reason(client, raw):
    call_id = start(client)["id"]
    for path in ("/dialer/api/calls", f"/dialer/api/calls/{call_id}/keys"):
        response = client.post(path, data=raw, content_type="application/json")
        assert response.status_code in (400, 413), (path, response.status_code)
        assert response.get_json()["error"]


def test_a_huge_number_is_not_a_moment(client):
    call_id = start(client)["id"]
    data = press(client, call_id, "1", at=1e308)
    assert "请输入身份证号或社保卡号" in heard(data)
    response = client.post(
        f"/dialer/api/calls/{call_id}/keys",
        data='{"keys": "1", "at": 1e999}',
        content_type="application/json",
    )
    assert response.status_code == 200


@pytest.mark.parametrize("public", ("https://ivr.example.org", "https://ivr.example.org/ivr/"))
def test_with_a_public_url_and_a_token_the_dialer_works(make_app, public):
    """Every request is signed for the public URL (a path included) and the line accepts it."""
    app = make_app(IVR_WEB_DIALER=True, IVR_PUBLIC_URL=public, IVR_VOICE_MODE="play")
    client = app.test_client()
    data = start(client, to="010-12333")
    welcome = next(e for e in data["events"] if e["kind"] == "play")
    assert welcome["text"] == "欢迎致电北京市幺二三三三。"  # the words of our audio
    assert welcome["url"].startswith(public.rstrip("/") + "/audio/phrase/")
    press(client, data["id"], "1")
    press(client, data["id"], "11010519491231002*#")
    data = press(client, data["id"], "123456#")
    assert "余额是" in " ".join(e.get("text", "") for e in data["events"])
    assert not [e for e in data["events"] if e["kind"] == "error"]
    client.post(f"/dialer/api/calls/{data['id']}/hangup", json={})
    assert ended(app, data)  # the status callback reached the line too


def ended(app, data):
    """Whether the line was told the call ended (the status callback reached it)."""
    return app.extensions["ivr"].store.call_ended(data["call_sid"])


def test_a_hung_up_call_is_ended_on_the_line(app, client):
    data = start(client)
    press(client, data["id"], "1")
    press(client, data["id"], "11010519491231002*#")
    press(client, data["id"], "123456#")
    assert not ended(app, data)
    client.post(f"/dialer/api/calls/{data['id']}/hangup", json={})
    assert ended(app, data)


def test_an_abandoned_call_is_ended_on_the_line(app, client, clock):
    data = start(client)
    assert not ended(app, data)
    clock.advance(minutes=11)
    start(client)  # any request hangs up the calls left idle
    assert ended(app, data)


def test_a_call_the_line_ends_is_ended_on_the_line(app, client):
    data = start(client)
    for _ in range(3):
        data = client.post(f"/dialer/api/calls/{data['id']}/wait", json={}).get_json()
    assert data["ended"] is True
    assert ended(app, data)


def test_the_page_shows_wrong_pins_as_alerts(client):
    call_id = to_pin_prompt(client)
    data = press(client, call_id, "000000#")
    alerts = [e["text"] for e in data["events"] if e.get("alert")]
    assert alerts == ["号码或密码不正确。", "您还可以尝试两次。"]  # the tries left with it


def test_the_page_shows_a_mistyped_id_as_an_alert(client):
    call_id = start(client)["id"]
    press(client, call_id, "1")
    data = press(client, call_id, "110105194912310021#")  # the check digit is wrong
    alerts = [e["text"] for e in data["events"] if e.get("alert")]
    assert alerts == ["您输入的身份证号码有误，请核对。"]


# Dialling another app (IVR_DIAL_ANY_URL=1) lends it nothing of ours


def foreign_app(hits, token):
    """Another team's TwiML app; it records who reached it and whether the signature held."""
    app = Flask(__name__)

    @app.route("/voice", methods=["GET", "POST"])
    def voice():
        signature = request.headers.get("X-Twilio-Signature", "")
        hits.append(
            (request.host, RequestValidator(token).validate(request.url, request.form, signature))
        )
        response = VoiceResponse()
        response.say("Hello from another app.")
        return Response(str(response), mimetype="text/xml")

    @app.post("/to-private")
    def to_private():
        hits.append((request.host, None))
        return redirect(request.args["where"], code=int(request.args.get("code", 302)))

    @app.post("/twiml-to-private")
    def twiml_to_private():
        response = VoiceResponse()
        response.redirect(request.args["where"])
        return Response(str(response), mimetype="text/xml")

    @app.post("/plain")
    def plain():
        return Response("internal: db password hunter2", mimetype="text/plain")

    return app


@pytest.fixture
def serve():
    """Serve a WSGI app on a loopback address; return its base URL."""
    with contextlib.ExitStack() as servers:
        yield lambda wsgi, host="127.0.0.1": servers.enter_context(serving_in_thread(wsgi, host))


@pytest.fixture
def dial_any(app, monkeypatch):
    app.config["IVR_DIAL_ANY_URL"] = True
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "the-operators-real-token")
    return web_fetch.dial_token(app.config["SECRET_KEY"])


def test_another_app_is_signed_with_the_dialers_own_token(client, serve, dial_any):
    hits = []
    base = serve(foreign_app(hits, dial_any))
    data = start(client, url=base + "/voice")
    assert heard(data) == "Hello from another app."
    assert hits == [(base.removeprefix("http://"), True)]
    assert dial_any != "the-operators-real-token"
    assert dial_any in client.get("/").get_data(as_text=True)  # the other team can check it


@pytest.mark.parametrize("path", ("/to-private", "/twiml-to-private"))
def test_no_redirect_into_a_private_address(client, serve, dial_any, path):
    inside = []
    private = serve(foreign_app(inside, dial_any), host="127.0.0.2")
    base = serve(foreign_app([], dial_any))
    data = start(client, url=f"{base}{path}?where={private}/voice")
    errors = [e for e in data["events"] if e["kind"] == "error"]
    assert [e["code"] for e in errors] == [11200]
    assert "a private address" in errors[0]["message"]
    assert inside == []


def test_a_plain_text_body_is_never_shown(client, serve, dial_any):
    base = serve(foreign_app([], dial_any))
    data = start(client, url=base + "/plain")
    assert "hunter2" not in str(data)
    assert "text/plain" in heard(data)


def test_the_page_behind_its_public_url_may_call(make_app):
    client = make_app(IVR_WEB_DIALER=True, IVR_PUBLIC_URL="https://ivr.example.org").test_client()
    for headers in ({"Origin": "https://ivr.example.org"}, {"Sec-Fetch-Site": "same-origin"}):
        assert client.post("/dialer/api/calls", json={}, headers=headers).status_code == 200


def test_the_font_covers_every_character_of_the_line():
    ttlib = pytest.importorskip("fontTools.ttLib", reason="fonttools is not installed")
    pytest.importorskip("brotli", reason="brotli (for WOFF2) is not installed")
    from ivr import web_font

    cmap = ttlib.TTFont(str(web_font.FONT)).getBestCmap()
    wanted = web_font.characters()
    assert "余" in wanted  # a prompt's
    assert "秒" in wanted  # the page's own
    chinese = [c for c in wanted if "\u3000" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef"]
    missing = [c for c in chinese + list(web_font.ASCII) if ord(c) not in cmap]
    assert not missing, f"make font: the subset lacks {''.join(missing)!r}"


def test_the_font_is_served_with_its_licence(client):
    font = client.get("/static/fonts/wqy-microhei-subset.woff2")
    assert font.status_code == 200
    assert font.mimetype == "font/woff2"
    assert font.get_data()[:4] == b"wOF2"
    font.close()
    licence = client.get("/static/fonts/LICENSE-wqy-microhei.txt")
    assert "Apache License" in licence.get_data(as_text=True)
    licence.close()


@pytest.mark.parametrize(
    ("code", "heard_", "error"),
    (
        (302, "Hello from another app.", None),
        (307, "Hello from another app.", None),
        (308, "", 11216),
    ),
)
def test_redirects_within_the_dialled_app_are_followed_as_twilio_does(
    client, serve, dial_any, code, heard_, error
):
    hits = []
    base = serve(foreign_app(hits, dial_any))
    data = start(client, url=f"{base}/to-private?code={code}&where={base}/voice")
    assert [e["code"] for e in data["events"] if e["kind"] == "error"] == ([error] if error else [])
    if heard_:
        assert heard(data) == heard_
        assert hits[-1][1] is True  # the hop is signed too


# The page learns what a caller hears, never the sealed state (issue 20, point 2)


def test_the_dialer_json_carries_no_state(client):
    data = start(client)
    answers = [data]
    answers.append(press(client, data["id"], "1"))
    answers.append(client.post(f"/dialer/api/calls/{data['id']}/wait", json={}).get_json())
    answers.append(press(client, data["id"], "11010519491231002*#"))
    assert answers[-1]["expects"]["secret"] is True
    answers.append(client.post(f"/dialer/api/calls/{data['id']}/hangup", json={}).get_json())
    for answer in answers:
        text = json.dumps(answer)
        assert "s=" not in text
        assert "/voice" not in text
        assert not [e for e in answer["events"] if "action" in e or "url" in e]
    kinds = {e["kind"] for e in answers[-1]["events"]}
    assert {"gather", "redirect", "status_callback"} <= kinds  # still shown, without a URL


# Whatever a visitor sends, the API answers 4xx JSON, never a 500 (issue 20, point 6)


@pytest.mark.parametrize(
    "raw",
    (
        '{"to": "\\ud800"}',
        '{"to": "12333\\udfff"}',
        '{"to": ["12333"]}',
        '{"to": "12333; DROP"}',
        '{"to": "' + "1" * 33 + '"}',
        '{"url": "http://\\ud800.example/"}',
        '{"url": 5}',
        '{"\\ud800": 1}',
    ),
)
def test_a_number_no_phone_can_dial_is_400(client, clock, raw):
    response = client.post("/dialer/api/calls", data=raw, content_type="application/json")
    assert response.status_code in (400, 403), response.data
    assert response.get_json()["error"]
    clock.advance(minutes=11)  # the refused call held no slot that could fail on expiring
    assert "欢迎致电" in heard(start(client))


def test_a_400_digit_moment_is_no_moment(client):
    call_id = start(client)["id"]
    response = client.post(
        f"/dialer/api/calls/{call_id}/keys",
        data='{"keys": "1", "at": ' + "9" * 400 + "}",
        content_type="application/json",
    )
    assert response.status_code == 200
    assert "社保卡号" in heard(response.get_json())  # the key went through: the entry's prompt


def test_keys_with_a_lone_surrogate_are_400(client):
    call_id = start(client)["id"]
    response = client.post(
        f"/dialer/api/calls/{call_id}/keys",
        data='{"keys": "1\\ud800"}',
        content_type="application/json",
    )
    assert response.status_code == 400


# Each browser call is its own caller (issue 21, point 3)


def test_one_visitors_wrong_pins_lock_out_no_other_visitor(make_app):
    """Six wrong PINs over three numbers from one browser; the next visitor still gets in."""
    client = make_app(IVR_WEB_DIALER=True, IVR_WEB_PINS_PER_MINUTE=100).test_client()
    guesser = {"REMOTE_ADDR": "10.0.0.1"}
    for number in ("110105194912310038", "110101199001010015", "110000009"):
        data = client.post("/dialer/api/calls", json={}, environ_base=guesser).get_json()
        for keys in ("1", number + "#", "000000#", "000000#"):
            data = client.post(
                f"/dialer/api/calls/{data['id']}/keys", json={"keys": keys}, environ_base=guesser
            ).get_json()
        assert "不正确" in heard(data)
    data = start(client)  # another visitor, at another address
    press(client, data["id"], "1")
    press(client, data["id"], "11010519491231002*#")
    data = press(client, data["id"], "123456#")
    assert "余额是一千二百三十四元五角六分" in heard(data)


def test_every_browser_call_rings_from_a_plausible_number_of_its_own():
    from ivr.identity import caller_number
    from ivr.web import fresh_caller

    callers = {fresh_caller() for _ in range(50)}
    assert len(callers) == 50
    for caller in callers:
        assert re.fullmatch(r"\+861[3-9][0-9]{9}", caller)
        assert caller_number(caller)  # the line counts it as a real number


# The page defends itself in the browser (issue 20, point 9)


def test_the_page_sends_its_security_headers(client):
    for path in ("/", "/dialer/api/calls/nope/wait"):
        response = client.post(path, json={}) if "api" in path else client.get(path)
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy


def test_every_alert_prompt_is_one_the_line_says(app):
    from ivr.web import ALERT_PROMPTS

    texts = app.extensions["ivr"].prompts.texts
    missing = [key for key in ALERT_PROMPTS for lang in texts if key not in texts[lang]]
    assert not missing, f"ALERT_PROMPTS names prompts the line no longer has: {missing}"


def test_the_budgets_are_per_process_and_the_log_says_so(make_app, caplog):
    make_app(IVR_WEB_DIALER=True)
    assert "per address in this process" in caplog.text


@pytest.mark.parametrize(
    "key",
    (
        "pin_attempts_exceeded",
        "weak_pin",
        "pin_from_account",
        "card_lost_refused",
        "card_already_lost",
    ),
)
def test_endings_and_refusals_are_alerts(app, key):
    """Too many PINs across numbers, a lost card, a weak new PIN: red on the page."""
    from ivr.web import alert_patterns

    texts = app.extensions["ivr"].prompts.texts
    for lang in texts:
        said = texts[lang][key].replace("{card}", "002X").replace("{tries}", "2")
        assert any(pattern.search(said) for pattern in alert_patterns(texts)), (lang, key)


# Dialling another app cannot hold the server or reach inside it (issue 20, point 5)


@contextlib.contextmanager
def dripping_server(drip_for=20.0):
    """An HTTP server that answers one byte of TwiML every 0.2 s, for `drip_for` seconds."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n")
                deadline = time.monotonic() + drip_for
                while time.monotonic() < deadline and not stop.is_set():
                    try:
                        conn.sendall(b" ")
                    except OSError:
                        break
                    time.sleep(0.2)
                with contextlib.suppress(OSError):
                    conn.sendall(b"<Response><Say>Finally.</Say></Response>")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_an_app_that_drips_its_answer_is_cut_at_the_deadline(client, dial_any, monkeypatch):
    monkeypatch.setattr("softphone.dialer.TIMEOUT", 1)  # each byte comes well within it
    with dripping_server() as base:
        data = start(client, url=base + "/voice")
    errors = [e for e in data["events"] if e["kind"] == "error"]
    assert [e["code"] for e in errors] == [11205]
    assert errors[0]["message"].startswith("no answer from")  # cut, not waited out ("took 20 s")


def test_a_huge_document_is_not_read(client, serve, dial_any):
    app = Flask(__name__)

    @app.post("/voice")
    def voice():
        verbs = "<Unknown/>" * (1024 * 1024 // 10)  # 1 MiB of verbs no engine knows
        return Response(f"<Response>{verbs}<Say>Hi.</Say></Response>", mimetype="text/xml")

    data = start(client, url=serve(app) + "/voice")
    errors = [e for e in data["events"] if e["kind"] == "error"]
    assert [e["code"] for e in errors] == [11200]
    assert "larger than 64 KiB" in errors[0]["message"]


def test_the_host_a_client_names_is_not_this_app(client, serve, dial_any):
    inside = []
    private = serve(foreign_app(inside, dial_any), host="127.0.0.2")
    base = serve(foreign_app([], dial_any))
    response = client.post(
        "/dialer/api/calls",
        json={"url": f"{base}/to-private?where={private}/voice"},
        headers={"Host": private.removeprefix("http://")},
    )
    errors = [e for e in response.get_json()["events"] if e["kind"] == "error"]
    assert [e["code"] for e in errors] == [11200]
    assert inside == []


def test_a_url_parsed_two_ways_is_refused(client, serve, dial_any):
    inside = []
    private = serve(foreign_app(inside, dial_any), host="127.0.0.2")
    base = serve(foreign_app([], dial_any))
    sneaky = f"{private}\\@{base.removeprefix('http://')}/voice"  # urllib3 connects to private
    data = start(client, url=f"{base}/twiml-to-private?where={quote(sneaky)}")
    assert [e["code"] for e in data["events"] if e["kind"] == "error"] == [11200]
    assert inside == []


def test_the_address_connected_to_is_checked_not_a_lookup_before(
    client, serve, dial_any, monkeypatch
):
    """A name that looks public when checked and private when connecting gains nothing."""
    inside = []
    private = serve(foreign_app(inside, dial_any), host="127.0.0.2")
    base = serve(foreign_app([], dial_any))
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        """A public address to a look-up (no port), the private one to a connection."""
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        return real("93.184.216.34" if port is None else "127.0.0.2", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = private.rsplit(":", 1)[1]
    data = start(client, url=f"{base}/to-private?where=http://rebind.example:{port}/voice")
    errors = [e for e in data["events"] if e["kind"] == "error"]
    assert [e["code"] for e in errors] == [11200]
    assert "a private address" in errors[0]["message"]
    assert inside == []
