"""Whole TwiML documents, one per node kind, in both voice modes: every element and attribute.

The words come from prompts/<lang>.toml (so rewording a prompt does not break these); the
structure around them is spelled out in full.
"""

import re
from decimal import Decimal
from xml.sax.saxutils import escape

import pytest

from ivr import create_app
from ivr.prompts import Phrase
from ivr.prompts import Ref
from ivr.spoken import Value
from tests.conftest import TOKEN
from tests.test_webhooks import Caller

SID = "CA" + "7" * 32
HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
ZH_VOICE = 'language="cmn-CN" voice="Polly.Zhiyu"'
PHRASE_ID = re.compile(r"/audio/phrase/[0-9a-f]{32}\.wav")
SEALED = re.compile(r"\?s=[A-Za-z0-9_-]+")
REGION = {"region": Ref("region_beijing"), "last4": Value("digits", "002X")}
REGION |= {"minutes": Value("number", 30)}


@pytest.fixture(params=("say", "play"))
def mode(request):
    return request.param


@pytest.fixture
def line(make_app, mode):
    """The app in a voice mode, and `speak(key, **params)`: a phrase as that mode renders it."""
    app = make_app(IVR_VOICE_MODE=mode)
    prompts = app.extensions["ivr"].prompts

    def speak(key, **params):
        phrase = Phrase.of(key, **{**REGION, **params})
        if mode == "say":
            return f"<Say {ZH_VOICE}>{escape(prompts.text('zh', phrase))}</Say>"
        if "{" in prompts.texts["zh"][key]:
            return "<Play>http://localhost/audio/phrase/ID.wav</Play>"
        return f"<Play>http://localhost/audio/zh/{key}.wav</Play>"

    return Caller(app.test_client(), SID), speak


def document(response):
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    text = PHRASE_ID.sub("/audio/phrase/ID.wav", response.get_data(as_text=True))
    return SEALED.sub("?s=STATE", text)


def step(caller, node, digits=None):
    return document(caller.press(node, digits))


def gather(node, inner, num_digits=1, timeout=5, query=""):
    """A Gather at a node; its action and redirect carry the sealed state (shown as STATE)."""
    digits = f' numDigits="{num_digits}"' if num_digits else ""
    return (
        f'{HEAD}<Response><Gather action="/voice/node/{node}?s=STATE{query}" finishOnKey="#" '
        f'input="dtmf" method="POST"{digits} timeout="{timeout}">{inner}</Gather>'
        f'<Redirect method="POST">/voice/node/{node}?s=STATE</Redirect></Response>'
    )


def test_say_then_menu(line):
    caller, speak = line
    got = document(caller.ring("010-12333"))
    assert got == gather("main", speak("welcome") + speak("main_menu"))


def test_menu_to_menu_then_collect(line):
    caller, speak = line
    caller.ring("010-12333")
    assert step(caller, "main", "1") == gather("identify", speak("identify_menu"))
    expected = gather("id_number", speak("enter_id"), num_digits=None, timeout=6)
    assert step(caller, "identify", "1") == expected


def test_collect_of_a_secret_pin(line):
    caller, speak = line
    caller.ring("010-12333")
    step(caller, "main", "1")
    step(caller, "identify", "1")
    got = step(caller, "id_number", "11010519491231002*")
    assert got == gather("pin", speak("enter_pin"), num_digits=None, query="&amp;secret=1")


def test_answer(line):
    caller, speak = line
    caller.ring("010-12333")
    for node, digits in (("main", "1"), ("identify", "1"), ("id_number", "11010519491231002*")):
        step(caller, node, digits)
    balance = speak("balance", amount=Value("amount", Decimal("1234.56")))
    assert step(caller, "pin", "123456") == gather("balance", balance + speak("after_answer"))


def test_transfer(line):
    caller, speak = line
    caller.ring("010-12333")
    expected = f"{HEAD}<Response>{speak('transferring')}<Enqueue>12333-agents</Enqueue><Hangup /></Response>"
    assert step(caller, "main", "0") == expected


def test_hangup_after_three_silences(line):
    caller, speak = line
    caller.ring("010-12333")
    step(caller, "main")
    step(caller, "main")
    heard = speak("no_input") + speak("too_many_tries") + speak("goodbye")
    assert step(caller, "main") == f"{HEAD}<Response>{heard}<Hangup /></Response>"


def test_busy_without_a_store(mode, tmp_path):
    dead = "sqlite:////nonexistent/dir/ivr.sqlite3"
    settings = {"DATABASE_URL": dead, "IVR_VOICE_MODE": mode, "TWILIO_AUTH_TOKEN": TOKEN}
    settings["SECRET_KEY"] = "test-secret"
    app = create_app({"TESTING": True, "IVR_AUDIO_CACHE": str(tmp_path), **settings})
    caller = Caller(app.test_client(), SID)
    caller.ring()
    caller.walk((("main", "1"), ("identify", "1")))
    got = step(caller, "id_number", "11010519491231002*")  # the first step that needs the store
    busy = app.extensions["ivr"].prompts.texts["zh"]["system_busy"]
    said = f"<Say {ZH_VOICE}>{busy}</Say>"
    heard = said if mode == "say" else "<Play>http://localhost/audio/zh/system_busy.wav</Play>"
    assert got == f"{HEAD}<Response>{heard}<Hangup /></Response>"
