"""Every webhook answers 200 and valid TwiML whatever arrives; only a bad signature gets 403."""

import logging
import xml.etree.ElementTree as ET

import pytest
from twilio.request_validator import RequestValidator

from ivr import create_app
from tests.conftest import TOKEN

VALIDATOR = RequestValidator(TOKEN)


def post(client, path, data, url=None, headers=None):
    """POST as Twilio would, signed for `url` (default: the test client's own URL)."""
    url = url or f"http://localhost{path}"
    signed = {"X-Twilio-Signature": VALIDATOR.compute_signature(url, data), **(headers or {})}
    return client.post(path, data=data, headers=signed)


def twiml(response):
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    return root


def spoken(root):
    return " ".join(say.text for say in root.iter("Say"))


def start_call(client, sid="CA" + "1" * 32):
    twiml(post(client, "/voice", {"CallSid": sid, "To": "12333"}))
    return sid


TO_ID_ENTRY = (("main", "1"), ("identify", "1"))
TO_PIN_ENTRY = (*TO_ID_ENTRY, ("id_number", "11010519491231002*"))


def walk(client, sid, steps):
    """Post (node, digits) steps of one call in order; return the last response."""
    for node, digits in steps:
        response = post(client, f"/voice/node/{node}", {"CallSid": sid, "Digits": digits})
    return response


def test_incoming_call_gathers_the_main_menu(client):
    root = twiml(post(client, "/voice", {"CallSid": "CA" + "0" * 32, "To": "12333"}))
    gather = root.find("Gather")
    assert gather.get("action") == "/voice/node/main"
    assert gather.get("numDigits") == "1"
    assert gather.find("Say").get("voice") == "Polly.Zhiyu"
    assert gather.find("Say").get("language") == "cmn-CN"
    assert root.find("Redirect").text == "/voice/node/main"


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
    sid = start_call(client)
    data = {"CallSid": sid} if digits is None else {"CallSid": sid, "Digits": digits}
    assert heard in spoken(twiml(post(client, "/voice/node/main", data)))


@pytest.mark.parametrize("digits", ("abc", "9" * 200, "😀😀", "**", "1*2#"))
def test_entry_survives_any_digits(client, digits):
    sid = start_call(client)
    root = twiml(walk(client, sid, (*TO_ID_ENTRY, ("id_number", digits))))
    assert "您输入的身份证号码有误" in spoken(root)


def test_pin_entry_survives_junk(client):
    sid = start_call(client)
    root = twiml(walk(client, sid, (*TO_PIN_ENTRY, ("pin", "😀" * 50))))
    assert "查询密码为六位数字" in spoken(root)


def test_unknown_call_sid_starts_afresh(client):
    root = twiml(post(client, "/voice/node/balance", {"CallSid": "CAunknown", "Digits": "1"}))
    assert "欢迎致电" in spoken(root)


def test_no_call_sid_at_all(client):
    root = twiml(post(client, "/voice/node/main", {}))
    assert "欢迎致电" in spoken(root)


def test_node_that_does_not_exist(client):
    sid = start_call(client)
    root = twiml(post(client, "/voice/node/no_such_node", {"CallSid": sid, "Digits": "1"}))
    assert "欢迎致电" in spoken(root)


def test_answer_node_without_identity_asks_for_it(client):
    sid = start_call(client)
    root = twiml(post(client, "/voice/node/balance", {"CallSid": sid, "Digits": "1"}))
    assert "查询前需要验证身份" in spoken(root)


def test_url_that_is_no_webhook_still_speaks(client):
    root = twiml(post(client, "/voice/nowhere/at/all", {"CallSid": "CA1"}))
    assert "系统繁忙，请稍后再拨。" in spoken(root)
    assert root.find("Hangup") is not None


def test_store_down_says_busy_and_hangs_up(tmp_path, caplog):
    app = create_app(
        {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/ivr.sqlite3"}
    )
    client = app.test_client()
    with caplog.at_level(logging.ERROR):
        root = twiml(client.post("/voice", data={"CallSid": "CA9", "To": "12333"}))
    assert spoken(root) == "系统繁忙，请稍后再拨。再见。"
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert "failed; the caller hears the busy message" in caplog.text
    root = twiml(client.post("/voice/node/main", data={"CallSid": "CA9", "Digits": "1"}))
    assert spoken(root) == "系统繁忙，请稍后再拨。再见。"
    assert client.post("/voice/status", data={"CallSid": "CA9"}).status_code == 200


def test_store_down_mid_call_keeps_the_language(app, client, monkeypatch):
    sid = start_call(client)
    post(client, "/voice/node/main", {"CallSid": sid, "Digits": "9"})
    store = app.extensions["ivr"].store

    def broken(*args):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "save_call", broken)
    root = twiml(post(client, "/voice/node/main", {"CallSid": sid, "Digits": "4"}))
    assert spoken(root) == "The system is busy. Please call again later. Goodbye."


@pytest.mark.parametrize(
    "headers",
    ({}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}, {"X-Twilio-Signature": ""}),
)
def test_bad_signature_is_403(client, headers):
    response = client.post("/voice", data={"CallSid": "CA1"}, headers=headers)
    assert response.status_code == 403


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


def test_status_callback_closes_the_call(app, client):
    sid = start_call(client)
    walk(client, sid, TO_PIN_ENTRY)
    root = twiml(post(client, "/voice/status", {"CallSid": sid, "CallStatus": "completed"}))
    assert list(root) == []
    row = app.extensions["ivr"].store.load_call(sid)
    assert row["ended_at"] is not None
    assert row["last4"] is None
    assert row["subject"] is None
    # A request after the end starts a new call rather than resuming the old one.
    root = twiml(post(client, "/voice/node/pin", {"CallSid": sid, "Digits": "123456"}))
    assert "欢迎致电" in spoken(root)


def test_status_callback_for_unknown_call(client):
    twiml(post(client, "/voice/status", {"CallSid": "CAnever", "CallStatus": "completed"}))


def test_pin_gather_is_marked_secret_and_no_personal_data_in_urls(client):
    sid = start_call(client)
    response = walk(client, sid, TO_PIN_ENTRY)
    root = twiml(response)
    assert root.find("Gather").get("action") == "/voice/node/pin?secret=1"
    assert b"11010519" not in response.data


def test_logs_mask_numbers_and_never_hold_a_pin(client, caplog):
    sid = start_call(client)
    with caplog.at_level(logging.DEBUG):
        walk(client, sid, (*TO_PIN_ENTRY, ("pin", "654987"), ("pin", "123456")))
    assert "002X" in caplog.text
    assert "110105194912" not in caplog.text
    assert "654987" not in caplog.text
    assert "123456" not in caplog.text


def test_a_failure_that_quotes_a_number_is_logged_masked(app, client, monkeypatch, caplog):
    sid = start_call(client)
    walk(client, sid, TO_ID_ENTRY)

    def failing(kind, number):
        raise RuntimeError(f"lookup of {number} failed")

    monkeypatch.setattr(app.extensions["ivr"].store, "find_account", failing)
    with caplog.at_level(logging.ERROR):
        root = twiml(
            post(client, "/voice/node/id_number", {"CallSid": sid, "Digits": "11010519491231002*"})
        )
    assert spoken(root) == "系统繁忙，请稍后再拨。再见。"
    assert "lookup of **************002X failed" in caplog.text
    assert "11010519491231002X" not in caplog.text


def test_a_pin_without_a_number_asks_who_is_calling(client):
    sid = start_call(client)
    root = twiml(post(client, "/voice/node/pin", {"CallSid": sid, "Digits": "123456"}))
    assert "查询前需要验证身份" in spoken(root)


def test_a_repeated_pin_request_after_success_carries_on(client):
    sid = start_call(client)
    root = twiml(walk(client, sid, (*TO_PIN_ENTRY, ("pin", "123456"))))
    assert "一千二百三十四元五角六分" in spoken(root)
    root = twiml(post(client, "/voice/node/pin", {"CallSid": sid, "Digits": "123456"}))
    assert "一千二百三十四元五角六分" in spoken(root)
