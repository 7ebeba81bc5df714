"""The hotline behind `softphone sip`, as `make sip` serves it, dialled by a real SIP phone.

baresip dials the Shanghai line (the Request-URI's user is the number dialled), hears the
greeting, keys 1, the ID number and the PIN as RFC 4733 events, hears the balance and hangs
up. What it heard is its own recording of the call; what the line said is the front's
transcript, timed on the same clock as the call (the engine learns each prompt's real length).
"""

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_sip import Baresip
from test_sip import envelope
from test_sip import free_udp_port
from test_sip import needs_baresip
from test_sip import needs_pjsua2
from test_sip import read_line

ROOT = Path(__file__).resolve().parent.parent
ID_NUMBER, PIN = "310101194903010318", "654321"  # the demo seed's Shanghai retiree
BALANCE = "您的医保个人账户余额是一万六千四百零九元零二分。"  # 16409.02, from demo_accounts.toml
KEY_SPACING = 0.12  # seconds between two keys: a quick thumb


@pytest.fixture
def line(tmp_path):
    """`softphone sip` in front of this hotline, in-process, its store seeded with the demo
    accounts, as `make sip` runs it; yields (SIP port, transcript path)."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'line.db'}",
        "IVR_AUDIO_CACHE": str(tmp_path / "phrases"),
        "IVR_PIN_HASH_COST": "16",  # a PIN checked in a millisecond (production: 2**14)
        "TWILIO_AUTH_TOKEN": "test-token",  # every webhook signed and checked
        "SECRET_KEY": "a-test-secret-of-more-than-16-characters",
    }
    python = sys.executable
    seeded = subprocess.run(
        [python, "-m", "flask", "--app", "app", "accounts", "seed"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    port = free_udp_port()
    transcript = tmp_path / "front.log"
    command = [
        *[python, "-m", "softphone", "sip", "--listen", f"127.0.0.1:{port}", "--no-tcp"],
        *["--rtp-port", str(random.randrange(41000, 59000, 20)), "--token", "test-token"],
        *["--audio-cache", str(tmp_path / "audio")],
    ]
    with open(transcript, "wb") as out:
        front = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.PIPE)
    try:
        said = read_line(front.stderr, timeout=30)
        assert "listening on" in said, said
        yield port, transcript
    finally:
        front.terminate()
        front.wait(10)
        front.stderr.close()


def wait_for(transcript, text, timeout=15):
    """Wait until the front's transcript shows `text` (a Gather's line: its webhook answered)."""
    deadline = time.monotonic() + timeout
    while text not in transcript.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"no {text!r}:\n{transcript.read_text()}"
        time.sleep(0.05)


def said_at(transcript, text):
    """(start, end) in seconds of the first prompt that says `text`: from its line to the next."""
    lines = [line for line in transcript.read_text().splitlines() if "s] " in line]
    moments = [float(line.split("[", 2)[2].split("s]")[0]) for line in lines]
    for n, line in enumerate(lines):
        if " say " in line and text in line:
            return moments[n], moments[n + 1]
    raise AssertionError(f"{text!r} was not said:\n" + "\n".join(lines))


def loud_share(heard, start, end):
    """The share of the 20 ms frames between `start` and `end` (s) that carry sound."""
    frames = heard[int(start * 50) : int(end * 50)]
    return sum(1 for level in frames if level > 0.01) / max(len(frames), 1)


@needs_pjsua2
@needs_baresip
def test_a_sip_phone_keys_its_id_and_pin_and_hears_its_balance(line, tmp_path):
    port, transcript = line
    (tmp_path / "phone").mkdir()
    phone = Baresip(tmp_path / "phone")
    try:

        def press(keys):
            for key in keys:
                phone.send("sndcode", key)
                time.sleep(KEY_SPACING)

        phone.send("dial", f"sip:02112333@127.0.0.1:{port}")  # Shanghai's 021-12333
        wait_for(transcript, "/voice/node/main")
        time.sleep(3.0)  # the greeting (2.9 s)
        press("1")  # balance, cutting the menu short
        wait_for(transcript, "/voice/node/identify")
        time.sleep(1.5)
        press(ID_NUMBER + "#")
        wait_for(transcript, "/voice/node/pin")
        time.sleep(1.0)
        press(PIN + "#")
        wait_for(transcript, "/voice/node/balance")
        time.sleep(8.0)  # "截至…" (2.2 s), then the balance (4.7 s), then the options begin
        phone.send("hangup")
        wait_for(transcript, " ended")
        time.sleep(0.3)  # baresip closes its recording
    finally:
        phone.stop()
    heard = envelope(phone.heard())
    text = transcript.read_text()
    # Heard where the line says it spoke: the greeting from the start, the balance whole.
    greeting = said_at(transcript, "欢迎致电上海市")
    assert greeting[0] == 0.0
    assert loud_share(heard, 0.3, greeting[1] - 0.3) > 0.7, "the greeting was not heard"
    balance = said_at(transcript, BALANCE)
    assert "cut" not in next(line for line in text.splitlines() if BALANCE in line)
    assert loud_share(heard, balance[0] + 0.3, balance[1] - 0.3) > 0.7, "no balance was heard"
    # The first key cut the ID prompt: quiet while the caller keys the rest.
    keyed = said_at(transcript, "请输入身份证号")[1]
    assert loud_share(heard, keyed + 0.3, keyed + 18 * KEY_SPACING) < 0.05
    # The numbers keyed stay out of the transcript, but for the ID's last four.
    assert ID_NUMBER not in text
    assert PIN not in text
    assert "••••0318#" in text
