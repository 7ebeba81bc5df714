"""What a new user does: seed the demo store, start the line, dial it and hear a balance."""

import os
import socket
import subprocess
import sys
import time

import pytest
from softphone.phone import Phone

from tests.conftest import TEST_SCRYPT_N


@pytest.fixture
def environment(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_", "DATABASE_"))
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "accounts", "seed", "--if-empty"],
        env={**env, "IVR_PIN_HASH_COST": str(TEST_SCRYPT_N)},  # the PINs hashed cheaply
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return env


def test_dial_in_process_from_the_terminal(environment):
    result = subprocess.run(
        [sys.executable, "-m", "softphone", "--keys", "1 1 11010519491231002*# 123456# *"],
        env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "余额是一千二百三十四元五角六分" in result.stdout
    assert "••••••#   (masked)" in result.stdout
    assert "123456" not in result.stdout
    assert "11010519491231" not in result.stdout
    assert "call completed" in result.stdout


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_served_line_answers_a_signed_call(environment):
    port = free_port()
    environment["TWILIO_AUTH_TOKEN"] = "quickstart-token"
    environment["SECRET_KEY"] = "quickstart-secret"  # the public default is refused with a token
    server = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        phone = Phone.for_url(f"http://127.0.0.1:{port}/voice", token="quickstart-token")
        phone.dial(to="010-12333").press("1").enter("110000001#").enter("123456#")
        assert "余额是一千二百三十四元五角六分" in phone.heard
        refused = Phone.for_url(f"http://127.0.0.1:{port}/voice", token="not-the-token").dial()
        assert refused.last("error").data["code"] == 11217
    finally:
        server.terminate()
        server.wait(timeout=10)
