"""SSML breaks are heard where they are written: the rendered prompt, not silence at its end."""

import array
import math
import shutil
import wave

import pytest
from softphone.interpreter import Call
from softphone.interpreter import Keys
from softphone.interpreter import Reply
from softphone.media import Media
from softphone.recorder import RATE
from softphone.recorder import Recorder

pytestmark = pytest.mark.skipif(
    not shutil.which("espeak-ng"),
    reason="espeak-ng is not installed (make test installs it as root)",
)

SAY = '<Say>Press one <break time="1s"/> for English</Say>'
FRAME = RATE // 50  # 20 ms
QUIET = 0.003  # RMS, 0..1: espeak-ng's words are far above it, padding is 0


def call_of(body, **options):
    """A call to a canned document `body`, run to its end."""
    document = f"<Response>{body}</Response>".encode()

    def fetch(method, url, params):
        return Reply(200, "text/xml", document, url)

    return Call("https://app.example/voice", fetch, **options).start()


def levels(path):
    """RMS of each 20 ms frame of an 8 kHz mono PCM16 WAV, 0..1."""
    with wave.open(str(path), "rb") as audio:
        assert audio.getframerate() == RATE
        samples = array.array("h", audio.readframes(audio.getnframes()))
    return [
        math.sqrt(sum(x * x for x in samples[i : i + FRAME]) / FRAME) / 32768
        for i in range(0, len(samples) - FRAME + 1, FRAME)
    ]


def quiet_runs(env):
    """[(start, end)] in seconds of each run of quiet frames."""
    runs, start = [], None
    for n, level in enumerate([*env, 1.0]):
        if level < QUIET and start is None:
            start = n
        elif level >= QUIET and start is not None:
            runs.append((start / 50, n / 50))
            start = None
    return runs


def played(media, event):
    """The file the SIP front plays for a say event, as its stretch makes it: the event's
    audio, lasting at least the engine's duration; and the audio's own seconds."""
    path, seconds = media.event(event)
    return media.join([(path, seconds, event.data["duration"])])[0], seconds


def assert_pause_in_place(env, words_before):
    """One silence of at least 0.9 s right after `words_before` seconds of words, speech after
    it, and no long silence at the end (the 1 s is not padded there)."""
    long = [(a, b) for a, b in quiet_runs(env) if b - a >= 0.9]
    assert len(long) == 1, quiet_runs(env)
    start, end = long[0]
    assert 0.3 <= start <= words_before + 0.1, (start, words_before)  # after "Press one"
    assert max(env[: int(start * 50)]) >= 10 * QUIET  # the first words are heard
    assert max(env[int(end * 50) :]) >= 10 * QUIET  # "for English" is heard after
    trailing = len(env) - max(n for n, level in enumerate(env) if level >= QUIET) - 1
    assert trailing / 50 < 0.5, f"{trailing / 50:.2f} s of silence at the end"


def test_a_break_is_silence_between_the_words_it_parts(tmp_path):
    media = Media(folder=tmp_path)
    call = call_of(
        SAY, say_seconds=lambda text, voice, language: media.say(text, voice, language)[1]
    )
    say = next(e for e in call.events if e.kind == "say")
    path, seconds = played(media, say)
    assert_pause_in_place(levels(path), media.say("Press one", "man", "en-US")[1])
    assert say.data["duration"] == pytest.approx(seconds, abs=0.01)  # the engine knows it


def test_a_prompt_with_a_break_in_a_gather_is_heard_the_same(tmp_path):
    media = Media(folder=tmp_path)
    call = call_of(
        f'<Gather numDigits="1">{SAY}</Gather>',
        say_seconds=lambda text, voice, language: media.say(text, voice, language)[1],
    )
    call.send(Keys())  # the caller listens to the end
    prompt = next(e for e in call.events if e.kind == "say")
    path, seconds = played(media, prompt)
    assert_pause_in_place(levels(path), media.say("Press one", "man", "en-US")[1])
    assert prompt.data["duration"] == pytest.approx(seconds, abs=0.01)


def test_the_recording_of_a_call_has_the_break_in_place(tmp_path):
    call = call_of(SAY)
    path = tmp_path / "call.wav"
    Recorder().record(call.events, path)
    words = len(Recorder().speech("Press one", "en-US", 1.0)) / 1000
    assert_pause_in_place(levels(path), words)


def test_a_key_in_the_pause_cuts_the_recorded_prompt_before_the_words_after_it(tmp_path):
    call = call_of(f'<Gather numDigits="1">{SAY}</Gather>')
    full = next(e for e in call.events if e.kind == "say").data["duration"]  # engine's clock
    call.send(Keys("1", at=full / 2))  # in the pause: "Press one" heard, not "for English"
    prompt = next(e for e in call.events if e.kind == "say")
    assert prompt.data["cut"]
    path = tmp_path / "prompt.wav"
    Recorder().record([prompt], path)
    env = levels(path)
    assert max(env[:25]) >= 10 * QUIET  # "Press one", in its first half second
    assert max(env[-10:]) < QUIET, "words after the pause were heard"
