"""Write what the caller heard to a WAV file: prompts, played audio and the keys as DTMF."""

import io
import shutil
import subprocess
import warnings

from softphone.interpreter import estimate_say

RATE = 8000  # the softphone's one sample rate: a phone line, 8 kHz mono 16-bit
# DTMF, the softphone's one table of keys: each key is the sum of a low and a high tone.
DTMF = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477),
}  # fmt: skip
TONE_MS = 120
GAP_MS = 280


class NoSpeech(RuntimeError):
    """This machine cannot speak a prompt (no espeak-ng, or it failed)."""


def audio_segment():
    """Import pydub's AudioSegment without its warning about ffmpeg (WAV does not need it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydub import AudioSegment
    return AudioSegment


def espeak_voice(language):
    """The espeak-ng voice for a <Say> language: cmn-CN -> cmn, en-US -> en-us."""
    language = (language or "en-us").lower()
    if language.startswith(("cmn", "zh")):
        return "cmn"
    return language


def espeak(text, language):
    """Speak a prompt plainly with espeak-ng, as an AudioSegment; raise NoSpeech without it."""
    program = shutil.which("espeak-ng")
    if not program:
        raise NoSpeech("espeak-ng is not installed (Debian package espeak-ng)")
    voice = espeak_voice(language)
    for choice in dict.fromkeys((voice, voice.split("-")[0], "en")):  # unknown voice: fall back
        try:
            wav = subprocess.run(
                [program, "-v", choice, "--stdout", text],
                capture_output=True,
                check=True,
                timeout=60,
            ).stdout
            return audio_segment().from_wav(io.BytesIO(wav))
        except subprocess.CalledProcessError:
            continue
        except (OSError, subprocess.SubprocessError) as error:
            raise NoSpeech(f"espeak-ng failed: {error}") from None
    raise NoSpeech(f"espeak-ng has no voice for {language!r}")


class Recorder:
    """Assemble a call's audio with pydub, one event after another.

    Prompts are spoken by the app's `speak` hook when it gives one (its own voice), else by
    espeak-ng plainly where it is installed, else as a soft tone of the prompt's estimated
    length; `notes` says which fallback was taken. A prompt a key cut short is cut at the
    same fraction of its audio.
    """

    def __init__(self, fetch=None, speak=None):
        self.AudioSegment = audio_segment()
        self.fetch = fetch
        self.speak = speak
        self.notes = []

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)

    def silence(self, seconds):
        return self.AudioSegment.silent(duration=int(seconds * 1000), frame_rate=RATE)

    def tone(self, key):
        from pydub.generators import Sine

        if key not in DTMF:
            return self.silence(TONE_MS / 1000)
        low, high = DTMF[key]
        sound = Sine(low, sample_rate=RATE).to_audio_segment(duration=TONE_MS, volume=-9)
        return sound.overlay(
            Sine(high, sample_rate=RATE).to_audio_segment(duration=TONE_MS, volume=-9)
        )

    def speech(self, text, language, seconds):
        """Speak a prompt: the app's voice, else espeak-ng, else a quiet tone of its length."""
        if self.speak:
            try:
                return self.speak(text, language)
            except Exception as error:  # noqa: BLE001 - a hook that fails still leaves a recording
                self.note(f"the app's speech failed ({error}); using espeak-ng or tones")
        try:
            return espeak(text, language)
        except NoSpeech as error:
            from pydub.generators import Sine

            self.note(f"{error}; prompts are recorded as tones of their length")
            tone = Sine(440, sample_rate=RATE)
            return tone.to_audio_segment(duration=int(seconds * 1000), volume=-30)

    def say(self, data):
        """A say event's audio: its pieces' words, each SSML break's silence where it falls."""
        language = data.get("language")
        pieces = data.get("pieces") or [[data["text"], 0.0]]
        full = estimate_say(data["text"], language) + sum(pause for _, pause in pieces)
        sound = self.silence(0)
        for text, pause in pieces:
            if text:
                sound += self.speech(text, language, estimate_say(text, language))
            sound += self.silence(pause)
        if data.get("cut"):  # the same share of its audio as of its time on the engine's clock
            sound = sound[: int(len(sound) * data["duration"] / full)]
        return sound

    def audio(self, url, seconds):
        try:
            reply = self.fetch("GET", url, {})
            body = io.BytesIO(reply.body)
            if reply.body[:4] == b"RIFF":  # WAV needs no ffmpeg
                return self.AudioSegment.from_wav(body)
            return self.AudioSegment.from_file(body)
        except Exception:  # noqa: BLE001 - an unreadable file is heard as silence
            self.note(f"could not read {url}: recorded as silence")
            return self.silence(seconds)

    def segment(self, event):
        data = event.data
        if event.kind == "say":
            return self.say(data)
        if event.kind == "play" and data.get("url") and self.fetch:
            return self.audio(data["url"], data["duration"])
        if event.kind == "play":
            return self.silence(data["duration"])
        if event.kind == "keys":
            keys = data["keys"]  # a masked PIN still sounds as tones: a key per mark
            sound = self.silence(0)
            for key in keys:
                sound += self.tone(key if key in DTMF else "0") + self.silence(GAP_MS / 1000)
            return sound
        if event.kind in ("silence", "pause"):
            return self.silence(data["duration"])
        return None

    def record(self, events, path):
        """Write the call to `path` as an 8 kHz mono 16-bit WAV; return its length in seconds."""
        call = self.silence(0)
        for event in events:
            sound = self.segment(event)
            if sound is not None:
                call += sound.set_frame_rate(RATE).set_channels(1).set_sample_width(2)
        call.export(path, format="wav").close()
        return len(call) / 1000
