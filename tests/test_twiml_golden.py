"""Whole TwiML documents, one per node kind, in both voice modes: every element and attribute.

The words come from prompts/<lang>.toml (so rewording a prompt does not break these); the
structure around them is spelled out in full.
"""

import datetime as dt
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
from tests.test_webhooks import post

SID = "CA" + "7" * 32
HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
ZH_VOICE = 'language="cmn-CN" voice="Polly.Zhiyu"'
EN_VOICE = 'language="en-US" voice="Polly.Joanna"'
VOICE = {"zh": ZH_VOICE, "en": EN_VOICE}
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

    def speak(key, lang="zh", **params):
        phrase = Phrase.of(key, **{**REGION, **params})
        if mode == "say":
            return f"<Say {VOICE[lang]}>{escape(prompts.text(lang, phrase))}</Say>"
        if "{" in prompts.texts[lang][key]:
            return "<Play>http://localhost/audio/phrase/ID.wav</Play>"
        return f"<Play>http://localhost/audio/{lang}/{key}.wav</Play>"

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


def test_say_then_menu_with_the_english_offer_in_the_english_voice(line):
    caller, speak = line
    got = document(caller.ring("010-12333"))
    offer = speak("language_offer", lang="en")  # "For English, press 9." said by Joanna
    assert got == gather("main", speak("welcome") + offer + speak("main_menu"))


def test_the_english_menu_offers_mandarin_in_the_mandarin_voice(line):
    caller, speak = line
    caller.ring("010-12333")
    heard = speak("language_offer")  # 普通话请按9, Zhiyu, then the menu: no words between
    assert step(caller, "main", "9") == gather("main", heard + speak("main_menu", lang="en"))
    again = speak("invalid_key", lang="en") + speak("language_offer")
    expected = gather("main", again + speak("main_menu", lang="en"))
    assert step(caller, "main", "7") == expected


def test_menu_then_collect_of_an_id_or_card_number(line):
    caller, speak = line
    caller.ring("010-12333")
    expected = gather("identify", speak("enter_number"), num_digits=None, timeout=6)
    assert step(caller, "main", "1") == expected


def test_collect_of_a_secret_pin(line):
    caller, speak = line
    caller.ring("010-12333")
    step(caller, "main", "1")
    got = step(caller, "identify", "11010519491231002*")
    assert got == gather("pin", speak("enter_pin"), num_digits=None, query="&amp;secret=1")


def test_answer(line):
    caller, speak = line
    caller.ring("010-12333")
    for node, digits in (("main", "1"), ("identify", "11010519491231002*")):
        step(caller, node, digits)
    dated = speak("balance_date", date=Value("date", dt.date(2026, 11, 18)))  # the clock's day
    balance = dated + speak("balance", amount=Value("amount", Decimal("1234.56")))
    assert step(caller, "pin", "123456") == gather("balance", balance + speak("after_answer"))


# The agents' queue, and the line's own waitUrl in the caller's language (issue #21, point 8).
ENQUEUE = '<Enqueue waitUrl="/voice/hold?lang={lang}" waitUrlMethod="POST">12333-agents</Enqueue>'
HOLD_MUSIC = '<Play loop="2">http://localhost/voice/hold/music.wav</Play>'


def test_transfer(line):
    caller, speak = line
    caller.ring("010-12333")
    expected = (
        f"{HEAD}<Response>{speak('transferring')}{ENQUEUE.format(lang='zh')}<Hangup /></Response>"
    )
    assert step(caller, "main", "0") == expected
    caller.ring("010-12333")
    step(caller, "main", "9")
    heard = speak("transferring", lang="en")
    expected = f"{HEAD}<Response>{heard}{ENQUEUE.format(lang='en')}<Hangup /></Response>"
    assert step(caller, "main", "0") == expected


@pytest.mark.parametrize(
    ("lang", "position", "key", "params"),
    (
        ("zh", "1", "queue_next", {}),
        ("zh", "3", "queue_position", {"position": Value("number", 3)}),
        ("en", "12", "queue_position", {"position": Value("number", 12)}),
        ("en", "", "queue_wait", {}),  # no place given: that they are busy, no number
        ("zh", "0", "queue_wait", {}),
        ("zh", "x1", "queue_wait", {}),
        ("zh", "9" * 5000, "queue_wait", {}),
    ),
)
def test_hold_says_the_agents_are_busy_and_the_place_then_music(line, lang, position, key, params):
    """The waitUrl's document: words, then music, and no <Hangup> (it would end a waiting
    call); Twilio requests it again once it has played."""
    caller, speak = line
    data = {"CallSid": SID, "QueuePosition": position}
    got = document(post(caller.client, f"/voice/hold?lang={lang}", data))
    assert got == f"{HEAD}<Response>{speak(key, lang=lang, **params)}{HOLD_MUSIC}</Response>"


def test_three_silences_in_agent_hours_reach_an_agent(line):
    caller, speak = line
    caller.ring("010-12333")
    step(caller, "main")
    step(caller, "main")
    heard = speak("no_input_limit") + speak("transferring")  # never "输入次数" after silence
    expected = f"{HEAD}<Response>{heard}{ENQUEUE.format(lang='zh')}<Hangup /></Response>"
    assert step(caller, "main") == expected


def test_hangup_after_three_silences_out_of_agent_hours(line, clock):
    clock.advance(hours=10)  # 21:00 in Beijing: no agent answers
    caller, speak = line
    caller.ring("010-12333")
    step(caller, "main")
    step(caller, "main")
    heard = speak("no_input_limit") + speak("goodbye")
    assert step(caller, "main") == f"{HEAD}<Response>{heard}<Hangup /></Response>"


def test_busy_without_a_store(mode, tmp_path):
    dead = "sqlite:////nonexistent/dir/ivr.sqlite3"
    settings = {"DATABASE_URL": dead, "IVR_VOICE_MODE": mode, "TWILIO_AUTH_TOKEN": TOKEN}
    settings["SECRET_KEY"] = "test-secret"
    app = create_app({"TESTING": True, "IVR_AUDIO_CACHE": str(tmp_path), **settings})
    caller = Caller(app.test_client(), SID)
    caller.ring()
    caller.walk((("main", "1"),))
    got = step(caller, "identify", "11010519491231002*")  # the first step that needs the store
    busy = app.extensions["ivr"].prompts.texts["zh"]["system_busy"]
    said = f"<Say {ZH_VOICE}>{busy}</Say>"
    heard = said if mode == "say" else "<Play>http://localhost/audio/zh/system_busy.wav</Play>"
    assert got == f"{HEAD}<Response>{heard}<Hangup /></Response>"
