"""Recorded-prompt mode: rendered prompts, phrases assembled from clips, served with caching."""

import datetime as dt
import io
import logging
import random
import re
import shutil
import wave
from decimal import Decimal
from pathlib import Path

import pytest
from flask import current_app
from pydub.silence import detect_silence
from softphone.phone import Phone

from ivr import audio
from ivr import create_app
from ivr import tts
from ivr.flow import load_flow
from ivr.prompts import Phrase
from ivr.prompts import Ref
from ivr.prompts import load_prompts
from ivr.spoken import Value
from ivr.spoken import en
from tests.conftest import TOKEN


def seconds(data):
    with wave.open(io.BytesIO(data)) as sound:
        assert (sound.getframerate(), sound.getnchannels(), sound.getsampwidth()) == (8000, 1, 2)
        return sound.getnframes() / sound.getframerate()


@pytest.fixture
def play_app(make_app):
    return make_app(IVR_VOICE_MODE="play")


@pytest.mark.parametrize("lang", ("zh", "en"))
def test_every_prompt_is_rendered_from_its_current_text(lang):
    """Fails when a prompt's text changed and `flask audio render` was not run."""
    prompts = load_prompts()
    manifest = audio.load_manifest(audio.AUDIO_DIR / lang)
    ends = audio.turn_ends(load_flow())
    for key, text in audio.items(prompts, lang).items():
        assert manifest.get(key) == audio.digest(key, text, ends), (
            f"audio/{lang}/{key}.wav is stale: run make audio"
        )
        assert (audio.AUDIO_DIR / lang / f"{key}.wav").exists()
    assert set(manifest) == set(audio.items(prompts, lang))


@pytest.mark.parametrize("lang", ("zh", "en"))
def test_every_flow_prompt_has_audio(play_app, lang):
    library = play_app.extensions["ivr"].audio
    flow = play_app.extensions["ivr"].flow
    context = {
        "region": audio.Ref("region_beijing"),
        "last4": Value("digits", "002X"),
        "minutes": Value("number", 30),
    }
    prompts = play_app.extensions["ivr"].prompts

    def letters(text):  # what is said, without spaces and punctuation; English numbers in words
        text = en.words(text) if lang == "en" else text
        return "".join(character for character in text.lower() if character.isalnum())

    for key in flow.prompt_keys():
        phrase = Phrase.of(key, **context)
        said = "".join(library.clip_text(lang, clip) for clip in library.recipe(lang, phrase))
        assert letters(said) == letters(prompts.text(lang, phrase)), key


@pytest.mark.parametrize("lang", ("zh", "en"))
def test_clips_cover_every_value(play_app, lang):
    library = play_app.extensions["ivr"].audio
    rng = random.Random(5)
    values = [
        Value("amount", Decimal(f"{rng.randint(0, 10**9)}.{rng.randint(0, 99):02d}"))
        for _ in range(200)
    ]
    values += [Value("amount", Decimal(a)) for a in ("0", "0.02", "2", "-12.5", "20000000")]
    values += [
        Value("month", f"{year}-{month:02d}")
        for year in (2000, 2019, 2026)
        for month in range(1, 13)
    ]
    values += [
        Value("digits", "0123456789X"),
        Value("number", 75),
        Value("count", 2),
        Value("year", 2026),
    ]
    values += [Value("hours", ((dt.time(9, 30), dt.time(12, 5)), (dt.time(13), dt.time(17, 45))))]
    for value in values:
        assert library.value_clips(lang, value.speak(lang))


def test_an_assembled_amount_lasts_as_long_as_its_clips(play_app):
    library = play_app.extensions["ivr"].audio
    phrase = Phrase.of("balance", amount=Value("amount", Decimal("1234.56")))
    clips = library.recipe("zh", phrase)
    assert clips == [
        "balance.0",
        *(f"clip_{c}" for c in "yi_4 qian er bai san shi si yuan wu jiao liu fen".split()),
        "|。",
    ]
    words = clips[:-1]
    parts = sum(seconds(library.path("zh", clip).read_bytes()) for clip in words)
    joins = (len(words) - 1) * audio.JOIN_MS / 1000
    assembled = library.assemble("zh", clips)
    assert len(assembled) / 1000 == pytest.approx(parts + joins + 0.5, abs=0.01)


@pytest.mark.parametrize(
    ("key", "value", "ones"),
    (
        ("balance", Value("amount", Decimal("10000")), ["clip_yi_2"]),  # 一万 yí
        ("balance", Value("amount", Decimal("1100.1")), ["clip_yi_4"] * 3),  # 一千一百元一角 yì
        ("balance", Value("amount", Decimal("21.1")), ["clip_yi", "clip_yi_4"]),  # 二十一元一角
        ("balance", Value("amount", Decimal("110000")), ["clip_yi"]),  # 十一万 yī
        ("tries_left", Value("tries", 1), ["clip_yi_2"]),  # 一次 yí: the tone comes from 次
        ("balance_date", Value("month", "2021-01"), ["clip_yi", "clip_yi"]),  # 二〇二一年一月
    ),
)
def test_one_takes_the_tone_the_next_syllable_gives_it(play_app, key, value, ones):
    library = play_app.extensions["ivr"].audio
    name = {"balance": "amount", "tries_left": "tries", "balance_date": "date"}[key]
    clips = library.recipe("zh", Phrase.of(key, **{name: value}))
    assert [clip for clip in clips if clip.startswith("clip_yi")] == ones
    heard = {clip: tts.runs(audio.items(library.prompts, "zh")[clip]) for clip in set(ones)}
    for clip, runs in heard.items():  # each clip of 一 is rendered in its own tone
        assert runs == [("cmn-latn-pinyin", {"clip_yi": "yi1"}.get(clip, f"yi{clip[-1]}"))]


def pauses(sound):
    """The silences a caller hears as pauses (150 ms or more), in seconds: [(start, length)]."""
    found = detect_silence(sound, min_silence_len=150, silence_thresh=-45)
    return [(start / 1000, (end - start) / 1000) for start, end in found]


def assert_pauses(sound, marks, pause_after=True):
    """One pause for each mark, in order: ≈ 250 ms at a comma, ≈ 500 ms at a full stop.

    The last mark ends the phrase: its pause is the silence before the next phrase, unless
    the phrase is the last a caller hears before the line listens (`pause_after` False).
    """
    heard = pauses(sound)
    assert len(heard) == len(marks) - (0 if pause_after else 1), heard
    for (_, length), mark in zip(heard, marks, strict=False):
        low, high = (0.45, 0.6) if mark in "。." else (0.2, 0.35)
        assert low <= length <= high, (mark, heard)
    start, length = heard[-1]
    ends_at = start + length == pytest.approx(len(sound) / 1000, abs=0.001)
    assert ends_at if pause_after else not ends_at


def marks(text):
    return re.findall(r"[，、；：。,;:.](?=\s|$|[^\d\s])", text)


@pytest.mark.parametrize("lang", ("zh", "en"))
def test_a_menu_pauses_at_its_commas_and_full_stops(lang):
    text = load_prompts().texts[lang]["main_menu"]
    sound = tts.audio_segment().from_wav(
        io.BytesIO((audio.AUDIO_DIR / lang / "main_menu.wav").read_bytes())
    )
    assert len(marks(text)) >= 6  # a comma or a stop after each of the six options
    # The caller hears the menu last before the line listens: its file ends at the last word,
    # as the Gather's timeout is the silence after it (the bench's time to the balance).
    assert_pauses(sound, marks(text), pause_after=False)


@pytest.mark.parametrize("lang", ("zh", "en"))
def test_a_prompt_followed_by_another_ends_with_its_pause(lang):
    """The language offer is followed by the menu: its full stop is heard between them."""
    sound = tts.audio_segment().from_wav(
        io.BytesIO((audio.AUDIO_DIR / lang / "language_offer.wav").read_bytes())
    )
    assert_pauses(sound, marks(load_prompts().texts[lang]["language_offer"]))


def test_the_prompts_that_end_a_turn_are_the_gathering_nodes_options():
    ends = audio.turn_ends(load_flow())
    assert {"main_menu", "enter_number", "enter_pin", "after_answer", "after_history"} <= ends
    assert not {"welcome", "language_offer", "goodbye", "wrong_pin", "tries_left"} & ends


@pytest.mark.parametrize(
    ("lang", "key", "params", "said"),
    (
        ("zh", "history_line", {"status": Ref("status_pending")}, "，，。"),
        ("en", "history_line", {"status": Ref("status_pending")}, ":,,."),
        ("zh", "credit_latest", {}, "，。"),
        ("en", "credit_latest", {}, ":."),
    ),
)
def test_an_answer_pauses_between_its_sentences(play_app, lang, key, params, said):
    """二〇二六年十月，个人缴费一百六十元，未到账。 and the next line after a full stop."""
    library = play_app.extensions["ivr"].audio
    phrase = Phrase.of(
        key, month=Value("month", "2026-10"), amount=Value("amount", Decimal("160")), **params
    )
    sound = library.assemble(lang, library.recipe(lang, phrase))
    assert_pauses(sound, list(said))
    # Two lines played one after the other: the first one's full stop is heard between them.
    assert_pauses(sound + sound, list(said * 2))


def test_audio_is_served_with_validators_and_a_long_max_age(play_app):
    client = play_app.test_client()
    response = client.get("/audio/zh/welcome.0.wav")
    assert response.status_code == 200
    assert response.mimetype == "audio/wav"
    assert seconds(response.data) > 0.5
    assert response.headers["ETag"]
    assert response.headers["Last-Modified"]
    assert "max-age=86400" in response.headers["Cache-Control"]
    again = client.get(
        "/audio/zh/welcome.0.wav", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304
    assert again.data == b""


def test_a_phrase_is_cached_and_reassembled_from_its_recipe(play_app):
    client = play_app.test_client()
    library = play_app.extensions["ivr"].audio
    with play_app.test_request_context():
        path = library.url_path(
            "en",
            Phrase.of("balance", amount=Value("amount", Decimal("2.02"))),
            current_app.extensions["ivr"].store,
        )
    assert path.startswith("/audio/phrase/")
    first = client.get(path)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "private, no-store"  # it may speak a balance
    assert client.get(path, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    shutil.rmtree(library.cache)  # another worker, an empty cache: the store has the recipe
    second = client.get(path)
    assert second.status_code == 200
    assert second.data == first.data


@pytest.mark.parametrize(
    "path",
    (
        "/audio/zh/nothing.wav",
        "/audio/xx/welcome.wav",
        "/audio/zh/..%2F..%2Fapp.py.wav",
        "/audio/zh/../../app.py.wav",
        "/audio/zh/%2Fetc%2Fpasswd.wav",
        "/audio/zh/manifest.wav",
        "/audio/zh/WELCOME.wav",
        "/audio/phrase/abc.wav",
        "/audio/phrase/" + "0" * 32 + ".wav",
        "/audio/phrase/" + "g" * 32 + ".wav",
        "/audio/phrase/..%2F..%2Fivr.sqlite3.wav",
        "/audio/amount/1234.56.wav",
    ),
)
def test_bad_audio_urls_are_404(play_app, path):
    assert play_app.test_client().get(path).status_code == 404


def test_phrase_url_with_the_store_down_is_503_not_500(tmp_path):
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/none/x.sqlite3"})
    assert app.test_client().get("/audio/phrase/" + "a" * 32 + ".wav").status_code == 503


def test_balance_call_in_play_mode(play_app):
    phone = Phone.for_app(play_app, token=TOKEN)
    phone.dial().press("1").enter("11010519491231002*#").enter("123456#")
    plays = [e for e in phone.events if e.kind == "play"]
    assert not [e for e in phone.events if e.kind == "say"]
    assert all(e.data["duration"] > 0.3 for e in plays)
    balance = plays[-2]
    client = play_app.test_client()
    body = client.get(balance.data["url"].removeprefix("http://localhost")).data
    assert seconds(body) == pytest.approx(balance.data["duration"], abs=0.01)
    library = play_app.extensions["ivr"].audio
    clips = library.recipe("zh", Phrase.of("balance", amount=Value("amount", Decimal("1234.56"))))
    assert body == client.get(f"/audio/phrase/{library.phrase_id('zh', clips)}.wav").data
    assert plays[-1].data["url"] == "http://localhost/audio/zh/after_answer.wav"


def test_play_urls_use_the_public_url(play_app):
    play_app.config["IVR_PUBLIC_URL"] = "https://line.example"
    play_app.config["TWILIO_AUTH_TOKEN"] = None
    response = play_app.test_client().post("/voice", data={"CallSid": "CA1", "To": "12333"})
    assert b"<Play>https://line.example/audio/phrase/" in response.data
    assert b"<Play>https://line.example/audio/zh/main_menu.wav</Play>" in response.data


def test_a_missing_clip_falls_back_to_say_with_a_warning(tmp_path, clock, caplog):
    copy = tmp_path / "audio"
    shutil.copytree(audio.AUDIO_DIR, copy)
    (copy / "zh" / "main_menu.wav").unlink()
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.sqlite3'}",
            "IVR_VOICE_MODE": "play",
            "IVR_AUDIO_DIR": str(copy),
            "IVR_AUDIO_CACHE": str(tmp_path / "phrases"),
        }
    )
    with caplog.at_level(logging.WARNING):
        response = app.test_client().post("/voice", data={"CallSid": "CA1", "To": "12333"})
    assert b"<Play>" in response.data
    menu = load_prompts().texts["zh"]["main_menu"]
    assert menu.split("，")[0].encode() in response.data  # main_menu, said instead
    assert "audio/zh/main_menu.wav is not rendered; speaking this phrase with <Say>" in caplog.text


@pytest.mark.skipif(
    not shutil.which("espeak-ng"),
    reason="espeak-ng is not installed (make test installs it as root)",
)
def test_render_command_renders_only_what_changed(tmp_path):
    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "IVR_AUDIO_DIR": str(tmp_path)})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audio", "render", "--lang", "en"])
    assert result.exit_code == 0, result.output
    total = len(audio.items(app.extensions["ivr"].prompts, "en"))
    assert f"audio/en: {total} rendered, 0 unchanged, 0 removed" in result.output
    assert seconds((tmp_path / "en" / "goodbye.wav").read_bytes()) > 0.5
    manifest = Path(tmp_path / "en" / "manifest.json")
    manifest.write_text(
        manifest.read_text().replace(audio.text_hash("Thank you for calling. Goodbye."), "stale")
    )
    (tmp_path / "en" / "old_prompt.wav").write_bytes(b"")
    result = runner.invoke(args=["audio", "render", "--lang", "en"])
    assert f"audio/en: 1 rendered, {total - 1} unchanged, 1 removed" in result.output
    result = runner.invoke(args=["audio", "render", "--lang", "en", "--force"])
    assert f"audio/en: {total} rendered, 0 unchanged" in result.output


def test_render_without_espeak_names_the_package(monkeypatch):
    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://"})
    monkeypatch.setattr("shutil.which", lambda name: None)
    result = app.test_cli_runner().invoke(args=["audio", "render"])
    assert result.exit_code == 1
    assert "espeak-ng is not installed: apt-get install espeak-ng" in result.output
