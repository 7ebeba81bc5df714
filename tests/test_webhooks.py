"""Every webhook answers 200 and valid TwiML whatever arrives; only a bad signature gets 403."""

import contextlib
import io
import logging
import socket
import wave
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
from twilio.request_validator import RequestValidator

from ivr import create_app
from ivr.calls import STATE_PARAM
from tests.conftest import TOKEN
from tests.served import served_app
from tests.served import serving_in_thread


@pytest.fixture
def app(app_on_each_store):
    """The webhook tests hold on SQLite and on PostgreSQL alike."""
    return app_on_each_store


VALIDATOR = RequestValidator(TOKEN)


def post(client, path, data, url=None, headers=None):
    """POST as Twilio would, signed for `url` (default: the test client's own URL)."""
    url = url or f"http://localhost{path}"
    signed = {"X-Twilio-Signature": VALIDATOR.compute_signature(url, data), **(headers or {})}
    return client.post(path, data=data, headers=signed)


def sealed_state(response):
    """The state the line sealed into its Gather's action URL (what Twilio posts back to)."""
    gather = ET.fromstring(response.data).find("Gather")
    query = parse_qs(urlsplit(gather.get("action")).query) if gather is not None else {}
    return query.get(STATE_PARAM, [None])[0]


class Caller:
    """One call as Twilio makes it: each input goes to a node with the state last sealed."""

    def __init__(self, client, sid="CA" + "1" * 32):
        self.client, self.sid, self.state = client, sid, None

    def ring(self, to="12333"):
        return self.remember(post(self.client, "/voice", {"CallSid": self.sid, "To": to}))

    def press(self, node, digits=None):
        """Post keys (None: no input) at a node, as its Gather's action or redirect would."""
        data = {"CallSid": self.sid} | ({"Digits": digits} if digits is not None else {})
        query = f"?{urlencode({STATE_PARAM: self.state})}" if self.state else ""
        return self.remember(post(self.client, f"/voice/node/{node}{query}", data))

    def remember(self, response):
        self.state = sealed_state(response) or self.state
        return response

    def walk(self, steps):
        """Post (node, digits) steps in order; return the last response."""
        for node, digits in steps:
            response = self.press(node, digits)
        return response


def twiml(response):
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    return root


def spoken(root):
    return " ".join(say.text for say in root.iter("Say"))


def start_call(client, sid="CA" + "1" * 32):
    caller = Caller(client, sid)
    twiml(caller.ring())
    return caller


TO_ID_ENTRY = (("main", "1"),)
TO_PIN_ENTRY = (*TO_ID_ENTRY, ("identify", "11010519491231002*"))


def test_incoming_call_gathers_the_main_menu(client):
    root = twiml(post(client, "/voice", {"CallSid": "CA" + "0" * 32, "To": "12333"}))
    gather = root.find("Gather")
    assert gather.get("action").startswith("/voice/node/main?s=")
    assert gather.get("numDigits") == "1"
    assert gather.find("Say").get("voice") == "Polly.Zhiyu"
    assert gather.find("Say").get("language") == "cmn-CN"
    assert root.find("Redirect").text == gather.get("action")


@pytest.mark.parametrize(
    ("digits", "heard"),
    (
        (None, "没有收到您的按键"),
        ("", "没有收到您的按键"),
        ("abc", "您的按键有误"),
        ("1" * 200, "您的按键有误"),
        ("😀", "您的按键有误"),
        ("<Response/>", "您的按键有误"),
        ("12", "您的按键有误"),
    ),
)
def test_menu_survives_any_digits(client, digits, heard):
    caller = start_call(client)
    assert heard in spoken(twiml(caller.press("main", digits)))


@pytest.mark.parametrize("digits", ("abc", "9" * 200, "😀😀", "**", "1*2#"))
def test_entry_survives_any_digits(client, digits):
    caller = start_call(client)
    root = twiml(caller.walk((*TO_ID_ENTRY, ("identify", digits))))
    assert "号码有误" in spoken(root)


def test_pin_entry_survives_junk(client):
    caller = start_call(client)
    root = twiml(caller.walk((*TO_PIN_ENTRY, ("pin", "😀" * 50))))
    assert "查询密码是六位数字" in spoken(root)


def test_unknown_call_sid_starts_afresh(client):
    root = twiml(post(client, "/voice/node/balance", {"CallSid": "CAunknown", "Digits": "1"}))
    assert "欢迎致电" in spoken(root)


def test_no_call_sid_at_all(client):
    root = twiml(post(client, "/voice/node/main", {}))
    assert "欢迎致电" in spoken(root)


def test_node_that_does_not_exist(client):
    root = twiml(start_call(client).press("no_such_node", "1"))
    assert "欢迎致电" in spoken(root)


def test_answer_node_without_identity_asks_for_it(client):
    root = twiml(start_call(client).press("balance", "1"))
    assert "请输入身份证号或社保卡号" in spoken(root)


def test_url_that_is_no_webhook_still_speaks(client):
    root = twiml(post(client, "/voice/nowhere/at/all", {"CallSid": "CA1"}))
    assert "系统繁忙，请稍后再拨。" in spoken(root)
    assert root.find("Hangup") is not None


def test_store_down_the_menus_still_answer_and_a_lookup_says_busy(tmp_path, caplog):
    app = create_app(
        {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/ivr.sqlite3"}
    )
    caller = Caller(app.test_client(), sid="CA9")
    assert "欢迎致电" in spoken(twiml(caller.ring()))  # the menus need no store
    caller.walk(TO_ID_ENTRY)
    with caplog.at_level(logging.ERROR):
        root = twiml(caller.press("identify", "11010519491231002*"))
    assert spoken(root) == "系统繁忙，请稍后再拨。再见。"
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert "failed; the caller hears the busy message" in caplog.text
    assert caller.client.post("/voice/status", data={"CallSid": "CA9"}).status_code == 200


def test_store_down_mid_call_keeps_the_language(app, client, monkeypatch):
    caller = start_call(client)
    caller.walk((("main", "9"), ("main", "1")))
    store = app.extensions["ivr"].store

    def broken(*args):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "find_account", broken)
    root = twiml(caller.press("identify", "11010519491231002*"))
    assert spoken(root) == "The system is busy. Please call again later. Goodbye."


@pytest.mark.parametrize(
    "headers",
    ({}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}, {"X-Twilio-Signature": ""}),
)
def test_bad_signature_is_403(client, headers):
    response = client.post("/voice", data={"CallSid": "CA1"}, headers=headers)
    assert response.status_code == 403


def test_the_hold_is_signed_like_every_webhook(client):
    data = {"CallSid": "CA1", "QueuePosition": "2"}
    assert client.post("/voice/hold?lang=zh", data=data).status_code == 403
    signed = twiml(post(client, "/voice/hold?lang=zh", data))
    assert spoken(signed) == "坐席正忙，您排在第二位，请稍候。"
    assert signed.find("Hangup") is None  # a hang-up here would end the waiting call


def test_the_hold_music_is_the_lines_own_and_anyone_may_fetch_it(client):
    """A tune of the line's own (ivr/hold_music.py): nothing to fetch from elsewhere, so the
    softphone plays it offline, and no signature is needed (as for /audio: no one's data)."""
    response = client.get("/voice/hold/music.wav")
    assert response.status_code == 200
    assert response.mimetype == "audio/wav"
    with wave.open(io.BytesIO(response.data)) as music:
        assert (music.getframerate(), music.getnchannels(), music.getsampwidth()) == (8000, 1, 2)
        assert music.getnframes() / music.getframerate() == pytest.approx(19.2)
    again = client.get("/voice/hold/music.wav", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304  # kept between plays
    assert client.post("/voice/hold/music.wav").mimetype == "text/xml"  # a webhook's answer


def test_signature_over_other_params_is_403(client):
    url = "http://localhost/voice/node/main"
    signature = VALIDATOR.compute_signature(url, {"CallSid": "CA1", "Digits": "1"})
    response = client.post(
        "/voice/node/main",
        data={"CallSid": "CA1", "Digits": "0"},
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 403


def test_signature_behind_a_proxy_uses_forwarded_headers(make_app):
    client = make_app(IVR_PROXIES=1).test_client()
    public = "https://ivr.example.com/voice"
    data = {"CallSid": "CA1", "To": "12333"}
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.com"}
    assert post(client, "/voice", data, url=public, headers=headers).status_code == 200
    assert post(client, "/voice", data, url=public).status_code == 403


def test_signature_with_configured_public_url(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path}/ivr.sqlite3",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "SECRET_KEY": "test-secret",
            "IVR_PUBLIC_URL": "https://abc.ngrok.example/",
        }
    )
    client = app.test_client()
    data = {"CallSid": "CA1", "To": "12333"}
    assert post(client, "/voice", data, url="https://abc.ngrok.example/voice").status_code == 200
    assert post(client, "/voice", data).status_code == 403


def test_unsigned_requests_pass_when_no_token_is_set(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/ivr.sqlite3"})
    assert "signatures are NOT checked" in caplog.text
    root = twiml(app.test_client().post("/voice", data={"CallSid": "CA1"}))
    assert "欢迎致电" in spoken(root)


def test_get_webhooks_are_signed_over_the_query(client):
    url = "http://localhost/voice?CallSid=CA1&To=12333"
    signature = VALIDATOR.compute_signature(url, {})
    response = client.get("/voice?CallSid=CA1&To=12333", headers={"X-Twilio-Signature": signature})
    assert "欢迎致电" in spoken(twiml(response))


def test_status_callback_closes_the_call(client):
    caller = start_call(client)
    caller.walk(TO_PIN_ENTRY)
    root = twiml(post(client, "/voice/status", {"CallSid": caller.sid, "CallStatus": "completed"}))
    assert list(root) == []
    # A request after the end starts a new call rather than resuming the old one.
    root = twiml(caller.press("pin", "123456"))
    assert "欢迎致电" in spoken(root)
    assert "一千二百三十四元" not in spoken(root)


def test_a_replay_after_the_call_ended_reads_no_balance(client):
    caller = start_call(client)
    identified = caller.walk((*TO_PIN_ENTRY, ("pin", "123456")))
    assert "一千二百三十四元五角六分" in spoken(twiml(identified))
    post(client, "/voice/status", {"CallSid": caller.sid, "CallStatus": "completed"})
    root = twiml(caller.press("balance", "1"))
    assert "一千二百三十四元" not in spoken(root)
    assert "欢迎致电" in spoken(root)


def test_ended_calls_are_swept_away_at_most_every_ten_minutes(app, client, clock):
    store = app.extensions["ivr"].store

    def end(letter):
        sid = "CA" + letter * 32
        post(client, "/voice/status", {"CallSid": sid, "CallStatus": "completed"})
        return sid

    first = end("a")  # the process's first end sweeps
    clock.advance(hours=3, minutes=59, seconds=55)
    second = end("b")  # a sweep: the first call ended just under 4 h ago and is kept
    clock.advance(seconds=10)
    end("c")  # no sweep 10 s after the last one, though the first call is now past 4 h
    assert store.call_ended(first)
    clock.advance(minutes=10)
    end("d")
    assert not store.call_ended(first)
    assert store.call_ended(second)


def test_a_state_sealed_for_one_call_opens_for_no_other(client):
    caller = start_call(client)
    caller.walk((*TO_PIN_ENTRY, ("pin", "123456")))
    thief = Caller(client, sid="CA" + "2" * 32)
    thief.state = caller.state
    root = twiml(thief.press("balance", "1"))
    assert "一千二百三十四元" not in spoken(root)
    assert "欢迎致电" in spoken(root)


def test_a_sealed_state_expires_with_the_longest_call(client, clock):
    caller = start_call(client)
    caller.walk((*TO_PIN_ENTRY, ("pin", "123456")))
    clock.advance(hours=4, seconds=1)
    root = twiml(caller.press("balance", "1"))
    assert "欢迎致电" in spoken(root)


def test_a_forged_state_starts_afresh(client):
    caller = start_call(client)
    caller.walk(TO_PIN_ENTRY)
    caller.state = caller.state[:-4] + ("AAAA" if caller.state[-4:] != "AAAA" else "BBBB")
    assert "欢迎致电" in spoken(twiml(caller.press("pin", "123456")))


def test_status_callback_for_unknown_call(client):
    twiml(post(client, "/voice/status", {"CallSid": "CAnever", "CallStatus": "completed"}))


def test_pin_gather_is_marked_secret_and_no_personal_data_in_urls(client):
    caller = start_call(client)
    response = caller.walk(TO_PIN_ENTRY)
    root = twiml(response)
    action = root.find("Gather").get("action")
    assert action == f"/voice/node/pin?s={caller.state}&amp;secret=1".replace("&amp;", "&")
    assert b"11010519" not in response.data
    assert b"002X" not in response.data  # the sealed state is encrypted, not merely signed


def test_logs_mask_numbers_and_never_hold_a_pin(client, caplog):
    caller = start_call(client)
    with caplog.at_level(logging.DEBUG):
        caller.walk((*TO_PIN_ENTRY, ("pin", "654987"), ("pin", "123456")))
    assert "002X" in caplog.text
    assert "110105194912" not in caplog.text
    assert "654987" not in caplog.text
    assert "123456" not in caplog.text


def test_a_failure_that_quotes_a_number_is_logged_masked(app, client, monkeypatch, caplog):
    caller = start_call(client)
    caller.walk(TO_ID_ENTRY)

    def failing(kind, number):
        raise RuntimeError(f"lookup of {number} failed")

    monkeypatch.setattr(app.extensions["ivr"].store, "find_account", failing)
    with caplog.at_level(logging.ERROR):
        root = twiml(caller.press("identify", "11010519491231002*"))
    assert spoken(root) == "系统繁忙，请稍后再拨。再见。"
    assert "lookup of **************002X failed" in caplog.text
    assert "11010519491231002X" not in caplog.text


def test_a_pin_without_a_number_asks_who_is_calling(client):
    root = twiml(start_call(client).press("pin", "123456"))
    assert "请输入身份证号或社保卡号" in spoken(root)


def test_a_repeated_pin_request_after_success_carries_on(client):
    caller = start_call(client)
    root = twiml(caller.walk((*TO_PIN_ENTRY, ("pin", "123456"))))
    assert "一千二百三十四元五角六分" in spoken(root)
    root = twiml(caller.press("pin", "123456"))
    assert "一千二百三十四元五角六分" in spoken(root)


# Bodies no Twilio sends, as a broken proxy or client might (issue #20, point 6): a chunk size
# that is no hex number, a chunk longer than its size says, a chunk shorter than it and cut.
BAD_CHUNKS = (
    b"zz\r\nCallSid=CA1\r\n0\r\n\r\n",
    b"5\r\nCallSid=CA1&To=12333\r\n0\r\n\r\n",
    b"ff\r\nCallSid=CA1&To=12333\r\n",
)


def post_raw(base_url, body):
    """POST /voice chunked with this body, as bytes on a socket; return the whole answer."""
    host, port = base_url.removeprefix("http://").split(":")
    head = (
        "POST /voice HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head.format(host=host).encode() + body)
        connection.shutdown(socket.SHUT_WR)  # the client sends nothing more
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


@contextlib.contextmanager
def serving(server, tmp_path):
    """The line on werkzeug's development server (flask run) or under gunicorn."""
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.sqlite3'}", "SECRET_KEY": "s" * 32}
    if server == "gunicorn":
        with served_app({**settings, "TWILIO_AUTH_TOKEN": TOKEN}, workers=1, threads=2) as url:
            yield url
        return
    app = create_app({"TESTING": True, "TWILIO_AUTH_TOKEN": TOKEN, **settings})
    with serving_in_thread(app) as url:
        yield url


@pytest.mark.parametrize("server", ("dev", "gunicorn"))
def test_a_malformed_chunked_body_hears_the_busy_message(server, tmp_path):
    """werkzeug answered 400 with an HTML page, gunicorn's chunk errors a 500."""
    with serving(server, tmp_path) as url:
        for body in BAD_CHUNKS:
            answer = post_raw(url, body)
            head, _, document = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 "), (body, answer[:200])
            assert b"Content-Type: text/xml" in head
            root = ET.fromstring(document)
            assert spoken(root) == "系统繁忙，请稍后再拨。再见。"
            assert root.find("Hangup") is not None
