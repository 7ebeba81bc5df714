"""`softphone sip` with real peers: sipp and baresip dial a canned TwiML app through it.

The front runs as the command does (`python -m softphone sip URL --listen ...`), in its own
process; the app is Flask in a thread of this one, so the test sees every webhook. Each call
takes a few seconds of real time; they run one after another on one worker. Without pjsua2,
sipp or baresip the tests that need them skip, saying why (`make test` installs the Debian
peers when root).
"""

import array
import contextlib
import importlib.util
import json
import math
import os
import queue
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import wave
from pathlib import Path

import pytest
from flask import Flask
from flask import request
from local_server import free_port
from local_server import serving_in_thread
from softphone.interpreter import Call
from softphone.interpreter import Keys
from softphone.interpreter import Reply

from softphone import codes
from softphone import sip

pytestmark = pytest.mark.xdist_group("sip")

HERE = Path(__file__).parent / "sip"
DTMF_PCAP = Path("/usr/share/sip-tester/dtmf_2833_1.pcap")
HAS_PJSUA2 = importlib.util.find_spec("pjsua2") is not None
needs_pjsua2 = pytest.mark.skipif(
    not HAS_PJSUA2, reason='pjsua2 is not installed (pip install "./softphone[sip]")'
)
needs_sipp = pytest.mark.skipif(
    not (shutil.which("sipp") and DTMF_PCAP.exists()),
    reason="sipp is not installed (Debian sip-tester; make test installs it when root)",
)
needs_baresip = pytest.mark.skipif(
    not shutil.which("baresip"),
    reason="baresip is not installed (Debian baresip; make test installs it when root)",
)
PROMPT = (
    "Please enter your account number, then press the pound key. "
    "This prompt goes on for a while so that a key can cut it short."
)
GREETING = "Welcome to the test line."
TONE_SECONDS = 1.5
BARESIP_NICE = 10
SILENT_SECONDS = 120  # a silent caller's audio source
RATE = 8000


# the engine's hook for a real-time driver (no SIP needed)


def canned(document):
    def fetch(method, url, params):
        return Reply(200, "text/xml", document.encode(), url)

    return fetch


def test_say_seconds_gives_the_engine_the_real_length_of_a_prompt():
    doc = '<Response><Gather timeout="3"><Say>Hello there</Say></Gather></Response>'
    lengths = []

    def say_seconds(text, voice, language):
        lengths.append((text, voice, language))
        return 4.0

    call = Call("https://app.example/voice", canned(doc), say_seconds=say_seconds).start()
    assert call.expects()["prompt_seconds"] == 4.0
    assert ("Hello there", "man", "en-US") in lengths
    call.send(Keys(keys="1", at=2.5))
    say = next(e for e in call.events if e.kind == "say")
    assert say.data["duration"] == 2.5
    assert say.data["cut"]


def test_without_say_seconds_the_engine_still_estimates():
    doc = "<Response><Say>Hello there</Say></Response>"
    call = Call("https://app.example/voice", canned(doc)).start()
    say = next(e for e in call.events if e.kind == "say")
    assert say.data["duration"] == round(0.07 * len("Hello there") + 0.3, 2)


def test_a_real_time_driver_ends_a_recording_on_silence_with_the_talk_it_heard():
    doc = '<Response><Record action="/done" timeout="2"/></Response>'
    asked = []

    def fetch(method, url, params):
        asked.append((url, params))
        return Reply(
            200, "text/xml", doc.encode() if url.endswith("voice") else b"<Response/>", url
        )

    call = Call("https://app.example/voice", fetch).start()
    call.send(Keys(talk=3.4))
    url, params = asked[-1]
    assert url.endswith("/done")
    assert (params["RecordingDuration"], params["Digits"]) == ("3", "")  # silence trimmed
    empty = Call("https://app.example/voice", fetch).start()
    empty.send(Keys(talk=0.0))
    assert any(e.kind == "record_empty" for e in empty.events)


def test_play_is_cached_as_its_caching_headers_say(app, tmp_path):
    """A real HTTP server's Cache-Control and ETag: max-age keeps the file, no-cache
    revalidates (a 304 keeps the decoded audio), no-store fetches it again."""
    from softphone.dialer import http_fetch
    from softphone.media import Media

    base, seen = app
    clear(seen)
    media = Media(http_fetch("test-token"), folder=tmp_path)
    media.grace = 0.0  # no grace between the engine's measure and the playing
    heard = {}
    for policy in ("fresh", "revalidate", "never"):
        first = media.play(f"{base}/cached/{policy}.wav")
        assert media.play(f"{base}/cached/{policy}.wav") == first
        heard[policy] = [form for kind, form in drain_all(seen) if kind == "media"]
        assert abs(first[1] - TONE_SECONDS) < 0.01
    assert len(heard["fresh"]) == 1
    assert [form.get("If-None-Match") for form in heard["revalidate"]] == [None, '"v1"']
    assert [form.get("If-None-Match") for form in heard["never"]] == [None, None]
    assert media.renders == 1  # one body: decoded once, whatever its URL and policy


def drain_all(seen):
    got = []
    while not seen.empty():
        got.append(seen.get_nowait())
    return got


# the request mapping and the keys handed to the engine (no SIP needed)

INVITE = (
    "INVITE sip:0991-12333@10.0.0.5:5060;transport=udp SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bK1\r\n"
    'f: "Alice" <sip:13800138000@10.0.0.9>;tag=1\r\n'
    "To: <sip:0991-12333@10.0.0.5>\r\n"
    "Call-ID: abc123@10.0.0.9\r\n"
    "X-Customer: 42\r\n"
    "Content-Length: 0\r\n\r\n"
)


def test_an_invite_maps_as_twilio_sip_domains_map_it():
    invite = sip.parse_invite(INVITE, "10.0.0.9:5062")
    assert (invite.to, invite.caller) == ("0991-12333", "13800138000")
    assert invite.params() == {
        "SipCallId": "abc123@10.0.0.9",
        "SipSourceIp": "10.0.0.9",
        "SipHeader_X-Customer": "42",
    }
    assert sip.user_of("<sip:alice@example.com>") == "alice"
    assert sip.user_of("sip:example.com") == ""
    assert sip.user_of("<tel:+8612333>") == "+8612333"


def test_real_key_times_become_the_engines_keys():
    keys = sip.Session.timed("12#", [10.5, 10.62, 12.5], began=8.0)
    assert (keys.keys, keys.at) == ("12#", 2.5)
    assert keys.times == pytest.approx((2.5, 2.62, 4.5))


def test_the_engine_keeps_real_key_moments_so_a_fast_entry_brings_the_next_prompt_at_once():
    """Nineteen keys 0.12 s apart: the action is requested 2.2 s after the first, not at the
    engine's own 0.4 s a key (7.2 s), which a real caller would hear as dead air."""
    doc = '<Response><Gather action="/next"><Say>Enter your number.</Say></Gather></Response>'
    call = Call("http://app/voice", fetch=canned(doc), say_seconds=lambda *_: 3.0)
    call.start()
    moments = tuple(0.5 + 0.12 * n for n in range(19))
    call.send(Keys(keys="310101194903010318#", at=0.5, times=moments))
    keys = next(e for e in call.events if e.kind == "keys")
    nxt = next(e for e in call.events if e.kind == "gather" and e.t > 0)
    assert keys.t == 0.5
    assert abs(nxt.t - (0.5 + 0.12 * 18)) < 0.01, call.events


# real calls


@pytest.fixture(scope="module")
def app():
    """A canned TwiML app; the To user picks the document; every request is kept."""
    flask = Flask(__name__)
    seen = queue.Queue()
    tone = tone_wav(TONE_SECONDS)

    def xml(body):
        return f"<Response>{body}</Response>", 200, {"Content-Type": "text/xml"}

    @flask.post("/voice")
    def voice():
        seen.put(("voice", {**request.form, "_at": time.monotonic()}))
        to = request.form["To"]
        if to == "reject":
            return xml('<Reject reason="busy"/>')
        if to == "record":
            return xml('<Say>Leave a message.</Say><Record action="/recorded" maxLength="10"/>')
        if to == "quiet":
            return xml(
                '<Say>Leave a message.</Say><Record action="/recorded" timeout="2" maxLength="20"/>'
            )
        if to == "looping":
            return xml(
                '<Gather action="/digits" timeout="2"><Play loop="0">/tone.wav</Play></Gather>'
            )
        if to == "broken":
            return "oops", 500
        if to == "queue":
            return xml('<Say>Please hold.</Say><Enqueue waitUrl="/wait">support</Enqueue>')
        if to == "music":
            return xml("<Enqueue>support</Enqueue>")
        if to == "redirect":
            return xml(f"<Say>{GREETING}</Say><Redirect>/next</Redirect>")
        if to == "listen":
            return xml(f"<Say>{GREETING}</Say><Play>/tone.wav</Play><Hangup/>")
        return xml(
            f'<Gather action="/digits" timeout="3"><Say>{PROMPT}</Say></Gather>'
            "<Say>We did not hear anything.</Say>"
        )

    @flask.post("/digits")
    def digits():
        seen.put(("digits", dict(request.form)))
        return xml(f"<Say>You entered {request.form.get('Digits', '')}.</Say><Hangup/>")

    @flask.post("/next")
    def next_document():
        seen.put(("next", {**request.form, "_at": time.monotonic()}))
        return xml('<Pause length="5"/>')

    @flask.post("/recorded")
    def recorded():
        url = request.form["RecordingUrl"]
        with urllib.request.urlopen(url, timeout=5) as reply:  # as an app fetches it
            seen.put(("recorded", {**request.form, "_wav": reply.read(), "_type": reply.headers}))
        return xml("<Hangup/>")

    @flask.post("/fallback")
    def fallback():
        seen.put(("fallback", dict(request.form)))
        return xml('<Say>Sorry.</Say><Pause length="5"/>')

    @flask.post("/wait")
    def wait():
        seen.put(("wait", {**request.form, "_at": time.monotonic()}))
        return xml('<Pause length="1"/>')

    @flask.post("/status")
    def status():
        seen.put(("status", dict(request.form)))
        return "", 204

    @flask.get("/cached/<policy>.wav")
    def cached_file(policy):
        seen.put(("media", {"policy": policy, **request.headers}))
        validators = {"ETag": '"v1"', "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"}
        if request.headers.get("If-None-Match") == '"v1"':
            return "", 304, validators
        control = {"fresh": "max-age=60", "revalidate": "no-cache", "never": "no-store"}[policy]
        return tone, 200, {"Content-Type": "audio/wav", "Cache-Control": control, **validators}

    @flask.get("/tone.wav")
    def tone_file():
        return tone, 200, {"Content-Type": "audio/wav"}

    with serving_in_thread(flask) as base:
        yield base, seen


@pytest.fixture(scope="module")
def front(app, tmp_path_factory):
    """`softphone sip` in front of the canned app, on free ports; yields its SIP port."""
    if not HAS_PJSUA2:
        pytest.skip('pjsua2 is not installed (pip install "./softphone[sip]")')
    base, _ = app
    port = free_udp_port()
    folder = tmp_path_factory.mktemp("sip-front")
    with running_front(base, port, folder, "--fallback-url", f"{base}/fallback") as log:
        yield port, log


@contextlib.contextmanager
def running_front(base, port, folder, *extra):
    """Run `softphone sip` (the command, its own process) on `port`; yield its transcript's path.

    Its RTP ports are random, so fronts of other tests and workers do not meet."""
    rtp = random.randrange(41000, 59000, 20)
    command = [
        *[sys.executable, "-m", "softphone", "sip", f"{base}/voice"],
        *["--listen", f"127.0.0.1:{port}", "--rtp-port", str(rtp), "--no-tcp"],
        *["--status-callback", f"{base}/status", "--token", "test-token"],
        *["--audio-cache", str(folder / "audio"), *extra],
    ]
    log = folder / "front.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE)
    try:
        line = read_line(process.stderr, timeout=20)
        assert "listening on" in line, line + process.stderr.read().decode()
        yield log
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()
    assert process.returncode == 0, f"the front exited with {process.returncode}"


@needs_pjsua2
def test_the_front_prints_no_pjlib_lines(front):
    _, log = front  # the fixture waited for "listening on": its start-up is over
    printed = log.read_text(errors="replace")
    assert "pjlib" not in printed, printed[:500]
    assert "PJSUA state" not in printed, printed[:500]


def read_line(stream, timeout):
    found = queue.Queue()
    threading.Thread(target=lambda: found.put(stream.readline()), daemon=True).start()
    try:
        return found.get(timeout=timeout).decode()
    except queue.Empty:
        return "(nothing within the time)"


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return port if port != free_port() else free_udp_port()


def drain(seen, kind, timeout=5.0):
    """The next request of `kind` the app received within `timeout` seconds, else None."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            got, form = seen.get(timeout=left)
        except queue.Empty:
            return None
        if got == kind:
            return form
    return None


def clear(seen):
    while not seen.empty():
        seen.get_nowait()


def sipp(scenario, service, port, tmp_path, calls=1, **values):
    text = (HERE / scenario).read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace(name, str(value))
    path = tmp_path / scenario
    path.write_text(text, encoding="utf-8")
    command = [
        *["sipp", "-sf", str(path), "-s", service, "-m", str(calls), "-l", str(calls)],
        *["-i", "127.0.0.1", "-p", str(free_udp_port()), "-mp", str(free_udp_port())],
        *["-timeout", "20s", "-timeout_error", "-nostdin", f"127.0.0.1:{port}"],
    ]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=30, check=False)


@needs_pjsua2
@needs_sipp
def test_rfc4733_and_sip_info_keys_reach_the_gathers_action(front, app, tmp_path):
    port, _ = front
    _, seen = app
    clear(seen)
    done = sipp("uac_keys.xml", "gather", port, tmp_path, WAIT_MS=1000, HOLD_MS=8000)
    assert done.returncode == 0, done.stdout.decode()[-2000:]
    first = drain(seen, "voice")
    assert first["To"] == "gather"
    assert first["From"] == "1001"
    assert first["SipSourceIp"] == "127.0.0.1"
    assert first["SipHeader_X-Test"] == "keys"
    assert first["CallSid"].startswith("CA")
    assert first["SipCallId"]
    entry = drain(seen, "digits")
    # 1 came as RFC 4733 (sipp's pcap), 5 and # as SIP INFO; # finished the entry
    assert (entry["Digits"], entry["FinishedOnKey"]) == ("15", "#")
    assert entry["CallSid"] == first["CallSid"]
    status = drain(seen, "status")
    assert status["CallStatus"] == "completed"


@needs_pjsua2
@needs_sipp
def test_reject_answers_486_before_answering(front, app, tmp_path):
    port, _ = front
    _, seen = app
    clear(seen)
    done = sipp("uac_reject.xml", "reject", port, tmp_path)
    assert done.returncode == 0, done.stdout.decode()[-2000:]
    status = drain(seen, "status")
    assert (status["CallStatus"], status["CallDuration"]) == ("busy", "0")


@needs_pjsua2
@needs_sipp
def test_a_callers_bye_posts_the_status_callback(front, app, tmp_path):
    port, _ = front
    _, seen = app
    clear(seen)
    started = time.monotonic()
    done = sipp("uac_bye.xml", "gather", port, tmp_path, HOLD_MS=1500)
    assert done.returncode == 0, done.stdout.decode()[-2000:]
    status = drain(seen, "status")
    assert status is not None
    assert status["CallStatus"] == "completed"
    assert status["CallDuration"] == "2"  # 1.5 s, rounded up as Twilio rounds
    assert time.monotonic() - started < 5
    assert drain(seen, "digits", timeout=0.5) is None  # the Gather never posted


@needs_pjsua2
@needs_sipp
def test_a_redirect_is_requested_once_the_audio_before_it_was_heard(front, app, tmp_path):
    port, log = front
    _, seen = app
    clear(seen)
    done = sipp("uac_bye.xml", "redirect", port, tmp_path, HOLD_MS=3000)
    assert done.returncode == 0, done.stdout.decode()[-2000:]
    first, following = drain(seen, "voice"), drain(seen, "next")
    assert following is not None, "the redirect was never requested"
    # <Say> then <Redirect>: Twilio requests the next document once the words were heard.
    # The ACK, the 20 ms bridge tick and the webhook add a little; never less than the words.
    greeting = len(greeting_audio(log)) / RATE
    waited = following["_at"] - first["_at"]
    assert greeting <= waited <= greeting + 0.6, (waited, greeting)


@needs_pjsua2
@needs_sipp
def test_enqueue_loops_its_wait_url_in_real_time_until_the_caller_hangs_up(front, app, tmp_path):
    port, _ = front
    _, seen = app
    clear(seen)
    done = sipp("uac_bye.xml", "queue", port, tmp_path, HOLD_MS=3800)
    assert done.returncode == 0, done.stdout.decode()[-2000:]  # the caller's BYE ended it
    waits, status = [], None
    while status is None and (got := seen.get(timeout=5)):
        kind, form = got
        waits += [form] if kind == "wait" else []
        status = form if kind == "status" else None
    # "Please hold." (about 1 s), then /wait's 1 s pause, requested again once it was heard
    assert 2 <= len(waits) <= 3, len(waits)
    assert waits[0]["QueuePosition"] == "1"
    gaps = [b["_at"] - a["_at"] for a, b in zip(waits, waits[1:], strict=False)]
    # Never before its audio was heard; the upper bound leaves room for a loaded machine.
    assert all(1.0 <= gap <= 2.0 for gap in gaps), gaps
    assert status["CallStatus"] == "completed"


@needs_pjsua2
@needs_sipp
def test_enqueue_without_wait_url_holds_with_music_until_the_caller_hangs_up(front, app, tmp_path):
    _, seen = app
    clear(seen)
    port, log = front
    done = sipp("uac_bye.xml", "music", port, tmp_path, HOLD_MS=2500)
    assert done.returncode == 0, done.stdout.decode()[-2000:]  # the caller's BYE ended it
    sid = drain(seen, "voice")["CallSid"]
    status = drain(seen, "status")
    assert (status["CallStatus"], status["CallDuration"]) == ("completed", "3")
    # the transcript shows the hold music as it plays: one 30 s stretch began, not an hour's
    lines = [line for line in log.read_text().splitlines() if line.startswith(f"[{sid[-6:]}]")]
    assert len([line for line in lines if "hold" in line.lower()]) == 1, lines


@needs_pjsua2
@needs_sipp
def test_a_failing_voice_url_falls_back_to_the_fallback_url(front, app, tmp_path):
    port, _ = front
    _, seen = app
    clear(seen)
    done = sipp("uac_bye.xml", "broken", port, tmp_path, HOLD_MS=2000)
    assert done.returncode == 0, done.stdout.decode()[-2000:]
    fallback = drain(seen, "fallback")
    assert fallback is not None, "the fallback URL was never requested"
    # the engine's code for an HTTP error status, as the simulated softphone sends it
    assert (fallback["ErrorCode"], fallback["To"]) == (str(codes.HTTP_STATUS), "broken")
    assert fallback["ErrorUrl"].endswith("/voice")
    assert drain(seen, "status")["CallStatus"] == "completed"


# baresip: what the caller hears


class Baresip:
    """baresip driven through ctrl_tcp; its sndfile module records what it heard."""

    def __init__(self, folder, source=None):
        self.folder = folder
        self.records = folder / "rec"
        self.records.mkdir()
        # What the caller says: silence (for longer than any call here: baresip hangs up
        # when its source ends), or `source` (WAV).
        silence = folder / "silence.wav"
        if source is not None:
            silence.write_bytes(source)
        else:
            with wave.open(str(silence), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(RATE)
                out.writeframes(b"\0\0" * RATE * SILENT_SECONDS)
        self.log = open(folder / "baresip.log", "wb")  # noqa: SIM115 - closed in stop()
        # A free port can be taken between the check and baresip's bind (other tests run at
        # once): a baresip that exits before its control port answers is started again.
        for _attempt in range(3):
            if self._start(silence):
                return
        raise RuntimeError(f"baresip did not start: {(folder / 'baresip.log').read_text()}")

    def _start(self, silence):
        """Start baresip on fresh ports; True once its control port answers."""
        folder = self.folder
        self.control = free_port()
        config = {
            "poll_method": "epoll",
            "sip_listen": f"127.0.0.1:{free_udp_port()}",
            "audio_player": "alsa,null",
            "audio_source": f"aufile,{silence}",
            "audio_alert": "alsa,null",
            "module_path": "/usr/lib/baresip/modules",
            "module": ["g711.so", "aufile.so", "alsa.so", "sndfile.so"],
            "module_app": ["account.so", "menu.so", "ctrl_tcp.so"],
            "ctrl_tcp_listen": f"127.0.0.1:{self.control}",
            "snd_path": str(self.records),
            "net_interface": "127.0.0.1",
        }
        lines = []
        for name, value in config.items():
            for one in value if isinstance(value, list) else [value]:
                lines.append(f"{name}\t{one}")
        (folder / "config").write_text("\n".join(lines) + "\n")
        (folder / "accounts").write_text("<sip:caller@127.0.0.1>;regint=0\n")
        self.process = subprocess.Popen(
            ["baresip", "-f", str(folder)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            # Its ALSA null player busy-loops (about half a core for the whole call) though
            # it has little to do: niced, it leaves those cycles to the other tests.
            preexec_fn=lambda: os.nice(BARESIP_NICE),
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                self.socket = socket.create_connection(("127.0.0.1", self.control), 1)
                return True
            except OSError:
                if self.process.poll() is not None:
                    return False
                if time.monotonic() > deadline:
                    self.process.kill()
                    self.process.wait()
                    return False
                time.sleep(0.05)

    def send(self, command, params=""):
        body = json.dumps({"command": command, "params": params}).encode()
        self.socket.sendall(str(len(body)).encode() + b":" + body + b",")

    def stop(self):
        with_socket = getattr(self, "socket", None)
        if with_socket is not None:
            with_socket.close()
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def heard(self):
        files = sorted(self.records.glob("*-dec.wav"))
        assert files, "baresip recorded nothing"
        return read_wav(files[-1])


@pytest.fixture
def baresip(tmp_path):
    phone = Baresip(tmp_path)
    yield phone
    phone.stop()


def read_wav(path):
    with wave.open(str(path), "rb") as audio:
        assert audio.getframerate() == RATE
        assert audio.getnchannels() == 1
        return array.array("h", audio.readframes(audio.getnframes()))


def envelope(samples, frame=RATE // 50):
    """RMS per 20 ms frame, 0..1."""
    return [
        math.sqrt(sum(x * x for x in samples[i : i + frame]) / frame) / 32768
        for i in range(0, len(samples) - frame + 1, frame)
    ]


def voiced(env, floor=0.01):
    """(first, last) frame above `floor`, or None for silence."""
    loud = [n for n, level in enumerate(env) if level > floor]
    return (loud[0], loud[-1]) if loud else None


def tone_wav(seconds, hz=440):
    import io

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(
            array.array(
                "h",
                (
                    int(9000 * math.sin(2 * math.pi * hz * n / RATE))
                    for n in range(int(seconds * RATE))
                ),
            ).tobytes()
        )
    return buffer.getvalue()


def wait_for_call_end(front_log, sid_count, timeout=15):
    """Wait until the front's transcript has `sid_count` calls ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if front_log.read_text(errors="replace").count(" ended") >= sid_count:
            return True
        time.sleep(0.1)
    return False


@needs_pjsua2
@needs_baresip
def test_baresip_hears_the_prompt_whole(front, app, baresip):
    port, log = front
    _, seen = app
    clear(seen)
    ended = log.read_text(errors="replace").count(" ended")
    baresip.send("dial", f"sip:listen@127.0.0.1:{port}")
    assert drain(seen, "status", timeout=15)["CallStatus"] == "completed"
    assert wait_for_call_end(log, ended + 1)
    time.sleep(0.3)  # baresip closes its recording
    heard = envelope(baresip.heard())
    span = voiced(heard)
    assert span is not None, "the caller heard silence"
    # What was sent: the greeting as the front rendered it (espeak-ng, or a tone without it),
    # then the 1.5 s tone; the far end's voiced span matches within 60 ms.
    source = envelope(greeting_audio(log) + read_wav_bytes(tone_wav(TONE_SECONDS)))
    sent = voiced(source)
    assert abs((span[1] - span[0]) - (sent[1] - sent[0])) <= 3, (span, sent)
    # the tone at the end: its 1.5 s are heard whole
    tail = heard[span[1] - int(TONE_SECONDS * 50) + 2 : span[1] + 1]
    assert min(tail) > 0.1, "the tone was not heard whole"


def greeting_audio(log):
    from softphone.media import Media

    folder = log.parent / "render"
    path, _ = Media(folder=folder).say(GREETING, "man", "en-US")
    return read_wav(path)


def read_wav_bytes(data):
    import io

    with wave.open(io.BytesIO(data), "rb") as audio:
        return array.array("h", audio.readframes(audio.getnframes()))


@needs_pjsua2
@needs_baresip
def test_baresip_keys_cut_the_prompt_and_reach_the_action(front, app, baresip):
    port, _ = front
    _, seen = app
    clear(seen)
    baresip.send("dial", f"sip:gather@127.0.0.1:{port}")
    assert drain(seen, "voice", timeout=10) is not None
    time.sleep(1.5)
    for key in "42#":
        baresip.send("sndcode", key)
        time.sleep(0.3)
    entry = drain(seen, "digits", timeout=10)
    assert (entry["Digits"], entry["FinishedOnKey"]) == ("42", "#")
    assert drain(seen, "status", timeout=10)["CallStatus"] == "completed"
    time.sleep(0.3)
    heard = envelope(baresip.heard())
    loud = [n for n, level in enumerate(heard) if level > 0.01]
    assert loud, "the caller heard silence"
    # The prompt (about 8 s) stopped at the first key, 1.5 s in: then a quiet stretch while
    # the caller keys, then "You entered 42".
    gaps = [(a, b) for a, b in zip(loud, loud[1:], strict=False) if b - a > 20]
    assert gaps, "no silence after the key: the prompt was not cut"
    cut = gaps[0][0] / 50
    assert 1.0 <= cut <= 2.2, f"the prompt stopped at {cut:.2f} s, not at the key (1.5 s)"


def goertzel(samples, hz):
    """The power of one frequency in `samples` (8 kHz), per sample."""
    k = 2 * math.cos(2 * math.pi * hz / RATE)
    a = b = 0.0
    for x in samples:
        a, b = x + k * a - b, a
    return (a * a + b * b - k * a * b) / max(len(samples), 1) ** 2


@needs_pjsua2
@needs_baresip
def test_record_keeps_the_callers_audio_served_as_the_recording_url(front, app, tmp_path):
    """baresip says a 660 Hz tone; <Record> keeps it, and the app fetches it as a WAV."""
    port, _ = front
    _, seen = app
    clear(seen)
    phone = Baresip(tmp_path, source=tone_wav(30, hz=660))
    try:
        phone.send("dial", f"sip:record@127.0.0.1:{port}")
        assert drain(seen, "voice", timeout=10) is not None
        time.sleep(4.0)  # "Leave a message." (about 1.2 s), the beep (0.5 s), then 2 s of tone
        phone.send("sndcode", "#")
        done = drain(seen, "recorded", timeout=10)
    finally:
        phone.stop()
    assert done is not None, "the Record action was never requested"
    assert done["Digits"] == "#"
    assert done["RecordingUrl"].startswith("http://127.0.0.1:")
    import io

    with wave.open(io.BytesIO(done["_wav"]), "rb") as audio:
        assert (audio.getframerate(), audio.getnchannels()) == (RATE, 1)
        said = array.array("h", audio.readframes(audio.getnframes()))
    seconds = len(said) / RATE
    assert 1.0 <= seconds <= 3.5, seconds
    assert int(done["RecordingDuration"]) == math.floor(seconds)
    # the caller's tone, not the engine's 200 Hz placeholder hum, and not silence
    middle = said[len(said) // 4 : 3 * len(said) // 4]
    assert max(envelope(middle)) > 0.05, "the recording is silence"
    assert goertzel(middle, 660) > 50 * goertzel(middle, 200), "not the caller's 660 Hz"


@needs_pjsua2
@needs_baresip
def test_record_ends_after_timeout_seconds_of_silence(front, app, tmp_path):
    """baresip says a tone for 4 s, then nothing: 2 s of silence end <Record timeout="2">,
    its action gets the talk (the silence trimmed) with no key, as Twilio sends it."""
    port, _ = front
    _, seen = app
    clear(seen)
    said = read_wav_bytes(tone_wav(4.0, hz=660)) + array.array("h", [0] * RATE * 26)
    source = tone_wav(0)[:44] + said.tobytes()
    source = source[:40] + len(said.tobytes()).to_bytes(4, "little") + source[44:]
    source = source[:4] + (len(source) - 8).to_bytes(4, "little") + source[8:]
    phone = Baresip(tmp_path, source=source)
    try:
        phone.send("dial", f"sip:quiet@127.0.0.1:{port}")
        started = drain(seen, "voice", timeout=10)["_at"]
        done = drain(seen, "recorded", timeout=12)
        ended = time.monotonic()
    finally:
        phone.stop()
    assert done is not None, "the silence never ended the recording"
    assert done["Digits"] == ""
    # the prompt and beep (about 1.7 s), the tone's last 2.3 s, then 2 s of silence
    assert 4.5 <= ended - started <= 8.0, ended - started
    assert 1 <= int(done["RecordingDuration"]) <= 3, done["RecordingDuration"]


@needs_pjsua2
@needs_baresip
def test_a_loop_0_prompt_in_a_gather_repeats_until_a_key(front, app, baresip):
    """<Play loop="0"> of a 1.5 s tone in a Gather: the caller hears it again and again
    (three times in 4.5 s), and a key ends it."""
    port, _ = front
    _, seen = app
    clear(seen)
    baresip.send("dial", f"sip:looping@127.0.0.1:{port}")
    assert drain(seen, "voice", timeout=10) is not None
    time.sleep(4.6)
    baresip.send("sndcode", "7")
    entry = drain(seen, "digits", timeout=10)
    assert entry is not None
    assert entry["Digits"] == "7"
    assert drain(seen, "status", timeout=10) is not None
    time.sleep(0.3)
    heard = envelope(baresip.heard())
    span = voiced(heard)
    assert span is not None, "the caller heard silence"
    loud = sum(1 for level in heard[span[0] : span[0] + 225] if level > 0.1) / 50
    assert loud >= 3.5, f"only {loud:.1f} s of tone in 4.5 s"  # once: 1.5 s


# more than one process: Kamailio's dispatcher in front (docs/kamailio-dispatcher.cfg)

KAMAILIO_CFG = Path(__file__).resolve().parents[2] / "docs" / "kamailio-dispatcher.cfg"
needs_kamailio = pytest.mark.skipif(
    not shutil.which("kamailio") and not Path("/usr/sbin/kamailio").exists(),
    reason="kamailio is not installed (Debian kamailio; make test installs it when root)",
)


@contextlib.contextmanager
def running_kamailio(port, instances, folder):
    """Kamailio with the docs' dispatcher config on `port`, in front of `instances` (ports)."""
    listing = folder / "softphone.list"
    listing.write_text("".join(f"1 sip:127.0.0.1:{p} 0 0\n" for p in instances))
    command = [
        *[shutil.which("kamailio") or "/usr/sbin/kamailio", "-DD", "-E", "-f", str(KAMAILIO_CFG)],
        *["-A", f"LISTEN=udp:127.0.0.1:{port}", "-A", f'DISPATCHER_LIST="{listing}"'],
        *["-A", "PING_INTERVAL=1", "-A", "FR_TIMER=1000"],
        *["-Y", str(folder), "-w", str(folder), "-m", "32", "-M", "4"],
    ]
    log = folder / "kamailio.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while udp_port_free(port):  # Kamailio has bound it once it is taken
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "Kamailio did not listen within 10 s"
            time.sleep(0.05)
        yield log
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def udp_port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def calls_in(log):
    return log.read_text(errors="replace").count("(Call-ID ")


@needs_pjsua2
@needs_sipp
@needs_kamailio
def test_kamailio_spreads_calls_over_two_instances_and_skips_a_dead_one(app, tmp_path):
    """Two `softphone sip` of 2 calls each behind Kamailio take 4 calls at once; the
    dispatcher list also names a port where nothing answers, and no call is lost to it."""
    base, seen = app
    clear(seen)
    one, two, dead, proxy = (free_udp_port() for _ in range(4))
    folders = [tmp_path / name for name in ("one", "two", "kamailio")]
    for folder in folders:
        folder.mkdir()
    with (
        running_front(base, one, folders[0], "--max-calls", "2") as log_one,
        running_front(base, two, folders[1], "--max-calls", "2") as log_two,
        running_kamailio(proxy, [one, two, dead], folders[2]) as log_proxy,
    ):
        started = time.monotonic()
        done = sipp("uac_proxy.xml", "gather", proxy, tmp_path, HOLD_MS=2500, calls=4)
        took = time.monotonic() - started
        assert done.returncode == 0, done.stdout.decode()[-2000:] + log_proxy.read_text()[-3000:]
        # every call reached one instance once: four first webhooks, each call's own
        firsts = [drain(seen, "voice") for _ in range(4)]
        assert all(firsts), firsts
        assert sorted(form["SipHeader_X-Call"] for form in firsts) == ["1", "2", "3", "4"]
        assert drain(seen, "voice", timeout=0.5) is None
        # spread over both (each takes 2 at most: a third would be refused, 486 Too many calls)
        deadline = time.monotonic() + 5
        while calls_in(log_one) + calls_in(log_two) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (calls_in(log_one), calls_in(log_two)) == (2, 2)
        routed = log_proxy.read_text(errors="replace")
        # the dead one was tried before its first probe came back, and marked; or never tried
        tried = f"goes to sip:127.0.0.1:{dead}" in routed
        assert tried == ("did not answer: marked inactive" in routed), routed
        assert took < 15, f"the four calls took {took:.1f} s"
