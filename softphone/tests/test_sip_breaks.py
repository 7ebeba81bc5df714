"""`softphone sip` with baresip: a real caller hears an SSML break where it is written.

The front runs as the command does, in front of a small app of this module; baresip records
what it heard. Without pjsua2 or baresip the tests skip, saying why.
"""

import queue
import time

import pytest
from flask import Flask
from flask import request
from local_server import serving_in_thread
from softphone.media import Media
from test_sip import HAS_PJSUA2
from test_sip import Baresip
from test_sip import drain
from test_sip import envelope
from test_sip import free_udp_port
from test_sip import needs_baresip
from test_sip import needs_pjsua2
from test_sip import read_wav
from test_sip import running_front
from test_sip import tone_wav
from test_sip import wait_for_call_end

pytestmark = pytest.mark.xdist_group("sip-speech")  # beside test_sip.py: a baresip each

SAY = '<Say>Press one <break time="1s"/> for English</Say>'
PIECES = [["Press one", 1.0], ["for English", 0.0]]  # as the engine carries them
TONE_SECONDS = 1.5
FLOOR = 0.01  # RMS, 0..1: speech and the tone are far above it, a silent line far below
WORD_GAP = 0.4  # seconds: espeak-ng's gaps between words are shorter


@pytest.fixture(scope="module")
def app():
    """A canned TwiML app: the prompt, alone or in a Gather whose action plays a tone."""
    flask = Flask(__name__)
    seen = queue.Queue()
    tone = tone_wav(TONE_SECONDS)

    def xml(body):
        return f"<Response>{body}</Response>", 200, {"Content-Type": "text/xml"}

    @flask.post("/voice")
    def voice():
        seen.put(("voice", dict(request.form)))
        if request.form["To"] == "gather":
            return xml(f'<Gather action="/digits" numDigits="1" timeout="3">{SAY}</Gather>')
        return xml(f"{SAY}<Hangup/>")

    @flask.post("/digits")
    def digits():
        seen.put(("digits", dict(request.form)))
        return xml("<Play>/tone.wav</Play><Hangup/>")

    @flask.get("/tone.wav")
    def tone_file():
        return tone, 200, {"Content-Type": "audio/wav"}

    @flask.post("/status")
    def status():
        seen.put(("status", dict(request.form)))
        return "", 204

    with serving_in_thread(flask) as base:
        yield base, seen


@pytest.fixture(scope="module")
def front(app, tmp_path_factory):
    """`softphone sip` in front of the app, on free ports; yields its port and transcript."""
    if not HAS_PJSUA2:
        pytest.skip('pjsua2 is not installed (pip install "./softphone[sip]")')
    base, _ = app
    port = free_udp_port()
    with running_front(base, port, tmp_path_factory.mktemp("sip-breaks")) as log:
        yield port, log


@pytest.fixture
def baresip(tmp_path):
    phone = Baresip(tmp_path)
    yield phone
    phone.stop()


def sounds(env):
    """[(start, end)] in seconds of each stretch of sound; a gap under WORD_GAP parts none."""
    loud = [n / 50 for n, level in enumerate(env) if level > FLOOR]
    stretches = []
    for t in loud:
        if stretches and t - stretches[-1][1] < WORD_GAP:
            stretches[-1][1] = t + 0.02
        else:
            stretches.append([t, t + 0.02])
    return [tuple(stretch) for stretch in stretches]


def dial(baresip, front, seen, to):
    """Dial `to` through the front; return how many calls had ended before."""
    port, log = front
    while not seen.empty():
        seen.get_nowait()
    ended = log.read_text(errors="replace").count(" ended")
    baresip.send("dial", f"sip:{to}@127.0.0.1:{port}")
    return ended


def heard(baresip, front, seen, ended):
    """The stretches of sound the caller heard, once the call is over."""
    _, log = front
    assert drain(seen, "status", timeout=15)["CallStatus"] == "completed"
    assert wait_for_call_end(log, ended + 1)
    time.sleep(0.3)  # baresip closes its recording
    return sounds(envelope(baresip.heard()))


@needs_pjsua2
@needs_baresip
def test_the_caller_hears_the_break_between_the_words(front, app, baresip, tmp_path):
    _, seen = app
    ended = dial(baresip, front, seen, "alone")
    stretches = heard(baresip, front, seen, ended)
    assert len(stretches) == 2, f"not two stretches of words apart: {stretches}"
    words, after = stretches
    path, _ = Media(folder=tmp_path / "render").spoken(PIECES, "man", "en-US")
    sent_words, sent_after = sounds(envelope(read_wav(path)))
    gap = after[0] - words[1]
    assert gap >= 0.9, f"only {gap:.2f} s of silence between the words"
    assert abs(gap - (sent_after[0] - sent_words[1])) <= 0.06  # as sent, within 3 frames
    spoken = (words[1] - words[0], after[1] - after[0])
    sent = (sent_words[1] - sent_words[0], sent_after[1] - sent_after[0])
    assert spoken == pytest.approx(sent, abs=0.06)  # "Press one", then "for English"


@needs_pjsua2
@needs_baresip
def test_a_key_in_the_break_cuts_the_prompt_before_the_words_after_it(front, app, baresip):
    """A key in the silence stops the prompt: the caller hears "Press one", then the
    action's tone, never "for English"."""
    _, seen = app
    ended = dial(baresip, front, seen, "gather")
    assert drain(seen, "voice", timeout=10) is not None
    time.sleep(1.2)  # the prompt began as the answer was sent: "Press one" is over by then
    baresip.send("sndcode", "1")
    assert drain(seen, "digits", timeout=10)["Digits"] == "1"
    stretches = heard(baresip, front, seen, ended)
    assert len(stretches) == 2, f"not the words, then the tone: {stretches}"
    words, tone = stretches
    assert words[1] - words[0] < 1.0, "more than 'Press one' before the key"
    assert tone[1] - tone[0] == pytest.approx(TONE_SECONDS, abs=0.1)
