"""`--record`: a WAV of what the caller heard, with the keys as real DTMF tones."""

import math
import shutil
import struct
import subprocess
import sys
import wave

import pytest
from softphone.common import DTMF_KEYS
from softphone.interpreter import estimate_say
from softphone.recorder import DTMF
from softphone.recorder import RATE
from softphone.recorder import Recorder

from ivr import audio
from ivr import flow
from tests.conftest import TEST_SCRYPT_N


def power(samples, frequency, rate=8000):
    """Goertzel: the energy of one frequency in a block of samples."""
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    previous = before = 0.0
    for sample in samples:
        previous, before = sample + coefficient * previous - before, previous
    return previous**2 + before**2 - coefficient * previous * before


@pytest.mark.parametrize("key", ("1", "5", "9", "*", "0", "#"))
def test_keys_are_real_dtmf(key):
    tone = Recorder().tone(key)
    samples = struct.unpack(f"<{len(tone.raw_data) // 2}h", tone.raw_data)
    low, high = DTMF[key]
    others = [f for pair in DTMF.values() for f in pair if f not in (low, high)]
    loudest_other = max(power(samples, f) for f in others)
    assert power(samples, low) > 20 * loudest_other
    assert power(samples, high) > 20 * loudest_other


def read(path):
    with wave.open(str(path)) as audio:
        return (
            audio.getframerate(),
            audio.getnchannels(),
            audio.getsampwidth(),
            audio.getnframes() / audio.getframerate(),
        )


@pytest.mark.skipif(
    not shutil.which("espeak-ng"),
    reason="espeak-ng is not installed (make test installs it as root)",
)
def test_record_a_whole_call_with_speech(app, phone, tmp_path):
    phone.dial().press("1").enter("11010519491231002*#").enter("123456#").hangup()
    path = tmp_path / "call.wav"
    recorder = Recorder(speak=app.softphone_hooks.speak)
    seconds = recorder.record(phone.events, path)
    rate, channels, width, length = read(path)
    assert (rate, channels, width) == (8000, 1, 2)
    assert length == pytest.approx(seconds, abs=0.01)
    assert length > 30  # the welcome, four menus and prompts, the balance
    assert recorder.notes == []


def test_record_without_espeak_uses_tones_and_says_so(phone, tmp_path, monkeypatch):
    phone.dial().wait().hangup()
    recorder = Recorder()
    monkeypatch.setattr("shutil.which", lambda name: None)
    seconds = recorder.record(phone.events, tmp_path / "call.wav")
    said = sum(e.data["duration"] for e in phone.events if e.kind in ("say", "silence"))
    assert seconds == pytest.approx(said, abs=0.1)
    assert "espeak-ng is not installed" in recorder.notes[0]


def test_record_speaks_with_the_hook_it_is_given(phone, tmp_path):
    phone.dial().press("1@2").wait().hangup()
    heard = []

    def speak(text, language):  # an app's own voice: here, two seconds for every prompt
        heard.append((text, language))
        return Recorder().silence(2)

    seconds = Recorder(speak=speak).record(phone.events, tmp_path / "call.wav")
    says = [e for e in phone.events if e.kind == "say"]
    assert heard == [(e.data["text"], e.data["language"]) for e in says]
    # A prompt a key cut short keeps the same share of its audio as of its spoken time.
    spoken = sum(
        2 * e.data["duration"] / estimate_say(e.data["text"], e.data["language"]) for e in says
    )
    rest = sum(e.data["duration"] for e in phone.events if e.kind == "silence")
    keys = len(Recorder().segment(phone.last("keys"))) / 1000
    assert seconds == pytest.approx(spoken + rest + keys, abs=0.01)


def test_one_sample_rate_and_one_set_of_keys():
    assert RATE == audio.RATE == 8000  # a phone line: the app renders its prompts at that rate
    assert set(DTMF) == set(DTMF_KEYS) == set("0123456789*#")  # a tone for every key there is
    assert flow.DTMF_KEYS is DTMF_KEYS  # the flow's keys are the engine's


def test_record_from_the_command_line(tmp_path, monkeypatch):
    path = tmp_path / "demo.wav"
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "accounts", "seed"],
        env={**env, "IVR_PIN_HASH_COST": str(TEST_SCRYPT_N)},  # the PINs hashed cheaply
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [sys.executable, "-m", "softphone", "--keys", "4 .", "--record", str(path)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert f"to {path}" in result.stderr
    assert read(path)[:3] == (8000, 1, 2)
