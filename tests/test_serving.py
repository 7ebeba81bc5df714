"""What `make serve` runs: gunicorn with gunicorn.conf.py, a health check, a masked access log."""

import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests
from softphone.phone import Phone
from twilio.request_validator import RequestValidator

from ivr import create_app
from ivr.store import Store
from tests.conftest import TOKEN
from tests.served import ROOT
from tests.served import free_port

LONG_SECRET = "serve-test-secret-of-some-length"
PHRASE_ID = "0123456789abcdef0123456789abcdef"


def test_healthz_says_whether_the_store_answers(make_app, tmp_path):
    assert make_app().test_client().get("/healthz").status_code == 200
    dead = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/no/dir/x.sqlite3"})
    response = dead.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"store": "unreachable"}


def test_served_as_make_serve_does_with_numbers_masked_in_the_access_log(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_"))}
    env |= {"DATABASE_URL": f"sqlite:///{tmp_path}/serve.sqlite3", "SECRET_KEY": "serve-test"}
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    command += ["--no-control-socket"]  # other tests serve at the same time
    server = subprocess.Popen(
        [*command, "app:app"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                health = requests.get(base + "/healthz", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.1)
        assert health.status_code == 200
        answer = requests.post(base + "/voice?ref=11010519491231002X", data={"CallSid": "CA1"})
        assert answer.status_code == 200
        assert "<Response>" in answer.text
        menu = requests.get(base + "/audio/zh/main_menu.wav")
        assert menu.status_code == 200
        requests.get(base + f"/audio/phrase/{PHRASE_ID}.wav")  # none such: a 404, still logged
    finally:
        server.terminate()
        log = server.communicate(timeout=20)[0].decode()
    assert '"GET /healthz HTTP/1.1" 200' in log
    assert "/voice?ref=**************002X" in log
    assert "11010519491231002X" not in log
    # A size is a figure, not a number to mask; a phrase id would fetch a spoken balance.
    assert f'"GET /audio/zh/main_menu.wav HTTP/1.1" 200 {len(menu.content)} ' in log
    assert f"/audio/phrase/****{PHRASE_ID[-4:]}.wav" in log
    assert PHRASE_ID not in log
    assert "gthread" in log  # the config's worker class: threads beside the slow PIN checks


# Issue #20, point 4: slow clients cost nginx a connection, never a gunicorn thread.

NGINX = shutil.which("nginx") or (
    "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
)
SLOW_CLIENTS = 200
BALANCE = "余额是一千二百三十四元五角六分。"


@contextlib.contextmanager
def served_as_make_serve(tmp_path, store_url):
    """Run `python -m ivr.serving` (what `make serve` runs): one worker of 4 threads."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_"))}
    env |= {"DATABASE_URL": store_url, "TWILIO_AUTH_TOKEN": TOKEN, "SECRET_KEY": LONG_SECRET}
    command = [sys.executable, "-m", "ivr.serving", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--run-dir", str(tmp_path / "run"), "--"]
    command += ["--workers", "1", "--threads", "4", "--no-control-socket"]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, "make serve's processes ended"
            assert time.monotonic() < deadline, "not serving within 30 s"
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)


def slow_client(port, kind):
    """A connection that never finishes its request: headers a line at a time, or a body
    shorter than its Content-Length."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    head = f"POST /voice HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if kind == "headers":
        sock.sendall(head.encode())
    else:
        head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
        sock.sendall(head.encode() + b"CallSid=CA")
    return sock


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make serve installs it as root)")
def test_two_hundred_slow_clients_leave_signed_webhooks_answering(tmp_path, account_rows):
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    store = Store(url)
    store.replace_accounts(account_rows)
    store.engine.dispose()
    with served_as_make_serve(tmp_path, url) as base:
        port = int(base.rsplit(":", 1)[1])
        slow = [slow_client(port, ("headers", "body")[n % 2]) for n in range(SLOW_CLIENTS)]
        try:
            phone = Phone.for_url(base + "/voice", token=TOKEN)
            steps = [
                phone.dial,
                lambda: phone.press("1"),
                lambda: phone.press("1"),
                lambda: phone.enter("11010519491231002*#"),
                lambda: phone.enter("123456#"),
            ]
            for step in steps:
                started = time.monotonic()
                step()
                # A header line more from each slow client: they are all still there.
                for sock in slow[::2]:
                    sock.sendall(b"X-Slow: 1\r\n")
                assert time.monotonic() - started < 5  # 4 threads, 200 clients holding on
            assert BALANCE in phone.heard
            assert [e for e in phone.events if e.kind == "error"] == []
        finally:
            for sock in slow:
                sock.close()


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make serve installs it as root)")
def test_behind_nginx_a_client_cannot_choose_the_url_a_signature_is_checked_against(tmp_path):
    with served_as_make_serve(tmp_path, f"sqlite:///{tmp_path / 'serve.sqlite3'}") as base:
        fields = {"CallSid": "CA1", "To": "12333"}
        forged = {"X-Forwarded-Host": "attacker.example", "X-Forwarded-Proto": "https"}
        real = signed_post(base + "/voice", fields, base + "/voice", forged)
        assert real.status_code == 200  # nginx's view of the URL, whatever the client says
        chosen = signed_post(base + "/voice", fields, "https://attacker.example/voice", forged)
        assert chosen.status_code == 403


def signed_post(url, fields, signed_for, headers):
    signature = RequestValidator(TOKEN).compute_signature(signed_for, fields)
    headers = {**headers, "X-Twilio-Signature": signature}
    return requests.post(url, data=fields, headers=headers, timeout=10)


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make serve installs it as root)")
def test_after_a_413_the_next_request_on_the_connection_is_answered(tmp_path):
    """gunicorn alone answered a too-big body "keep-alive" and then dropped the connection,
    so the next request on it failed; nginx refuses it and says the connection closes."""
    with served_as_make_serve(tmp_path, f"sqlite:///{tmp_path / 'serve.sqlite3'}") as base:
        connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
        try:
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            big = b"CallSid=CA1&Junk=" + b"x" * 100_000
            connection.request("POST", "/voice/status", big, form)
            refused = connection.getresponse()
            refused.read()
            assert refused.status == 413
            assert refused.getheader("Connection") == "close"
            signature = RequestValidator(TOKEN).compute_signature(
                base + "/voice/status", {"CallSid": "CA2"}
            )
            signed = {**form, "X-Twilio-Signature": signature}
            connection.request("POST", "/voice/status", b"CallSid=CA2", signed)  # a new one
            answer = connection.getresponse()
            assert answer.status == 200
            assert b"<Response" in answer.read()
        finally:
            connection.close()
