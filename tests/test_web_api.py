"""The web dialer's JSON API: one engine on the server, one call per browser call."""

import datetime as dt

import pytest


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
    assert "/static/dialer.js" in page
    assert 'src="http' not in page
    assert 'href="http' not in page


def test_dial_and_hear_the_balance(client):
    data = start(client, to="010-12333")
    assert "欢迎致电北京市" in heard(data)
    assert data["expects"]["num_digits"] == 1
    call_id = data["id"]
    press(client, call_id, "11")
    data = press(client, call_id, "11010519491231002*")
    assert data["typed"] == "11010519491231002*"
    data = press(client, call_id, "#")
    assert data["expects"]["secret"] is True
    data = press(client, call_id, "123")
    assert data["typed"] == "•••"
    data = press(client, call_id, "456#")
    assert "余额为一千二百三十四元五角六分" in heard(data)
    assert not any("123456" in str(event) for event in data["events"])


def test_timeout_sends_what_was_typed_or_silence(client):
    call_id = start(client)["id"]
    data = client.post(f"/dialer/api/calls/{call_id}/wait").get_json()
    assert "没有收到您的按键" in heard(data)


def test_two_calls_never_share_state(client):
    first, second = start(client), start(client)
    assert first["id"] != second["id"]
    press(client, first["id"], "9")
    data = client.post(f"/dialer/api/calls/{second['id']}/wait").get_json()
    assert "You are now using" not in heard(data)


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
    assert client.post(f"/dialer/api/calls/{call_id}/keys", data="garbage").status_code == 400
    assert client.post("/dialer/api/calls", data="garbage").status_code == 200  # defaults: 12333


def test_hangup_ends_and_forgets_the_call(client):
    call_id = start(client)["id"]
    data = client.post(f"/dialer/api/calls/{call_id}/hangup").get_json()
    assert data["ended"] is True
    assert client.post(f"/dialer/api/calls/{call_id}/wait").status_code == 404


def test_an_abandoned_call_expires(client, clock):
    call_id = start(client)["id"]
    clock.advance(minutes=9)
    assert client.post(f"/dialer/api/calls/{call_id}/wait").status_code == 200
    clock.advance(minutes=10, seconds=1)
    assert client.post(f"/dialer/api/calls/{call_id}/wait").status_code == 404


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


def test_play_mode_events_carry_their_words(app, client):
    app.config["IVR_VOICE_MODE"] = "play"
    data = start(client, to="010-12333")
    plays = [e for e in data["events"] if e["kind"] == "play"]
    assert plays[0]["url"].startswith("http://localhost/audio/phrase/")
    assert plays[0]["text"] == "欢迎致电北京市幺二三三三。"
    assert plays[1]["text"].startswith("For English, press 9. 查余额请按1")
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
