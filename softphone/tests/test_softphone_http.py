"""The softphone dials a TwiML app that is not the hotline, over real HTTP on loopback."""

import json
import subprocess
import sys

import pytest
import twiml_app
from local_server import serving_in_thread
from softphone.interpreter import APPLICATION_ERROR
from softphone.interpreter import Call
from softphone.interpreter import Keys
from softphone.phone import Phone

from softphone import dialer


@pytest.fixture
def server_url():
    with serving_in_thread(twiml_app.create_app()) as base_url:
        yield base_url + "/"


def test_dial_over_http_and_hear_a_fact(server_url):
    phone = Phone.for_url(server_url, token=twiml_app.TOKEN).dial()
    assert "Press 1 for a fact" in phone.heard
    phone.press("1")
    assert "Call CA heard a fact: octopuses have three hearts." in phone.heard
    assert phone.heard.endswith("Goodbye.")
    assert phone.ended


def test_silence_falls_through(server_url):
    phone = Phone.for_url(server_url, token=twiml_app.TOKEN).dial().wait()
    assert phone.heard == "You pressed nothing."
    assert phone.last("hangup").data["by"] == "end of document"


def test_a_500_is_an_application_error(server_url):
    phone = Phone.for_url(server_url, token=twiml_app.TOKEN).dial().press("2")
    assert phone.last("error").data["code"] == 11217
    assert phone.heard == APPLICATION_ERROR
    assert phone.ended


def test_a_malformed_document_is_12100(server_url):
    phone = Phone.for_url(server_url, token=twiml_app.TOKEN).dial().press("3")
    assert phone.last("error").data["code"] == 12100
    assert phone.heard == APPLICATION_ERROR


def test_a_slow_webhook_times_out(server_url):
    call = Call(server_url, dialer.http_fetch(twiml_app.TOKEN, timeout=1)).start()
    call.send(Keys("4"))
    assert next(e for e in call.events if e.kind == "error").data["code"] == 11205
    assert call.heard()[-1] == APPLICATION_ERROR


def test_a_wrong_token_is_refused_by_the_app(server_url):
    phone = Phone.for_url(server_url, token="wrong").dial()
    assert phone.last("error").data["code"] == 11217
    assert "403" in phone.last("error").data["message"]


def test_nothing_listening_is_11200():
    phone = Phone.for_url("http://127.0.0.1:9/", token="x").dial()
    assert phone.last("error").data["code"] == 11200
    assert phone.heard == APPLICATION_ERROR


def test_command_line_scripted_call_as_json(server_url):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "softphone",
            server_url,
            "--keys",
            "1",
            "--json",
            "--token",
            twiml_app.TOKEN,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    events = json.loads(result.stdout)
    assert [e["kind"] for e in events][:2] == ["dial", "gather"]
    assert any(e["kind"] == "say" and "three hearts" in e["text"] for e in events)
    times = [e["t"] for e in events]
    assert times == sorted(times)  # the simulated clock never runs backwards
    assert events[-1]["kind"] == "hangup"
