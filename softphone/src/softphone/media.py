"""The audio a real caller hears, as files a SIP media library plays: 8 kHz mono PCM16 WAV.

A <Say> is spoken by the app's `speak` hook (its own voice) else espeak-ng, through the
recorder's fallbacks; a <Play> URL is fetched once and decoded; keys are DTMF tones; a
<Pause> is silence. Each piece is cached on disk under a hash of what made it (kind, voice,
language, text or URL), written by atomic rename, so a prompt is rendered once per process
and a second process with the same folder renders nothing. A stretch of pieces the caller
hears back to back is joined into one file, so it plays with no gap between its parts and a
key stops it with one command. Runs on the SIP front's call threads, never on the library's.
"""

import hashlib
import os
import tempfile
import threading
import wave
from pathlib import Path

from softphone.recorder import RATE
from softphone.recorder import Recorder

SAMPLE_BYTES = 2


class Media:
    """Render and cache the audio of a call's events.

    Args:
        fetch: (method, url, params) -> Reply, for <Play> URLs (the target's fetch).
        speak: the app's speak hook, (text, language) -> pydub AudioSegment, or None.
        folder: where the WAV files go (default: a new temporary folder).
    """

    def __init__(self, fetch=None, speak=None, folder=None):
        self.recorder = Recorder(fetch=fetch, speak=speak)
        self.folder = Path(folder or tempfile.mkdtemp(prefix="softphone-sip-audio-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lengths = {}  # path -> seconds, for files this process made or read
        self.lock = threading.Lock()  # pydub and the fallbacks' notes are not thread-safe
        self.renders = 0  # pieces rendered (cache misses), for tests and the benchmark

    # pieces

    def say(self, text, voice, language):
        """The file and seconds of a <Say>: the app's voice, else espeak-ng, else a tone."""
        return self.piece(
            ("say", voice or "", language or "", text),
            lambda: self.recorder.speech(text, language, estimate(text, language)),
        )

    def play(self, url):
        """The file and seconds of a <Play> URL (silence if it cannot be read)."""
        return self.piece(("play", url), lambda: self.recorder.audio(url, 1.0))

    def digits(self, digits):
        """DTMF tones for <Play digits>, 0.25 s a key, `w` half a second (the engine's times)."""

        def render():
            sound = self.recorder.silence(0)
            for key in digits:
                if key in "wW":
                    sound += self.recorder.silence(0.5)
                else:
                    sound += self.recorder.tone(key) + self.recorder.silence(0.13)
            return sound

        return self.piece(("digits", digits), render)

    def silence(self, seconds):
        return self.piece(("silence", f"{seconds:.3f}"), lambda: self.recorder.silence(seconds))

    def seconds(self, path):
        path = str(path)
        if path not in self.lengths:
            with wave.open(path, "rb") as audio:
                self.lengths[path] = audio.getnframes() / audio.getframerate()
        return self.lengths[path]

    def piece(self, key, render):
        path = self.folder / (digest(key) + ".wav")
        if not path.exists():
            with self.lock:
                if not path.exists():
                    sound = render()
                    self.renders += 1
                    write(sound, path)
        return str(path), self.seconds(path)

    # a stretch of events

    def event(self, event):
        """The file and seconds of one engine event the caller hears, or None for the rest.

        A prompt is padded with silence to the event's length where the engine counts more
        than the words (SSML breaks); a cut prompt plays only as far as it was heard.
        """
        data = event.data
        if event.kind == "say":
            path, seconds = self.say(data["text"], data.get("voice"), data.get("language"))
        elif event.kind == "play" and data.get("digits") == "beep":  # <Record>'s
            path, seconds = self.beep()
        elif event.kind == "play" and data.get("digits"):
            path, seconds = self.digits(data["digits"])
        elif event.kind == "play" and data.get("url"):
            path, seconds = self.play(data["url"])
        elif event.kind == "pause" and data.get("duration"):
            path, seconds = self.silence(float(data["duration"]))
        elif event.kind == "hold" and data.get("duration"):  # on hold with no waitUrl
            seconds = float(data["duration"])
            music = data.get("music") != "silence"
            path, seconds = self.hold(seconds) if music else self.silence(seconds)
        else:
            return None
        return path, seconds

    def hold(self, seconds):
        """Hold music for Twilio's default (its classical MP3 is on the internet): a soft
        arpeggio of C major, a note every half second, made here; `seconds` long."""

        def render():
            from pydub.generators import Sine

            notes = [523.25, 659.25, 783.99, 659.25]
            sound = self.recorder.silence(0)
            for n in range(max(1, round(seconds * 2))):
                tone = Sine(notes[n % 4], sample_rate=RATE).to_audio_segment(400, volume=-18)
                sound += tone.fade_in(40).fade_out(120) + self.recorder.silence(0.1)
            return sound[: int(seconds * 1000)]

        return self.piece(("hold", f"{seconds:.3f}"), render)

    def beep(self):
        """<Record>'s beep: half a second of 1 kHz."""

        def render():
            from pydub.generators import Sine

            return Sine(1000, sample_rate=RATE).to_audio_segment(duration=500, volume=-9)

        return self.piece(("beep",), render)

    def join(self, parts):
        """One file of `parts` [(path, seconds, at_least)] back to back; (path, seconds, starts).

        Each part lasts at least `at_least` seconds (padded with silence). `starts` gives where
        each part begins in the joined file.
        """
        key = ("join",) + tuple((p, f"{least:.3f}") for p, _, least in parts)
        starts, t = [], 0.0
        for _, seconds, least in parts:
            starts.append(t)
            t += max(seconds, least)
        if len(parts) == 1 and parts[0][1] >= parts[0][2]:
            return parts[0][0], parts[0][1], starts

        def render():
            sound = self.recorder.silence(0)
            for path, seconds, least in parts:
                sound += self.recorder.AudioSegment.from_wav(path)
                if least > seconds:
                    sound += self.recorder.silence(least - seconds)
            return sound

        path, seconds = self.piece(key, render)
        return path, seconds, starts


def estimate(text, language):
    from softphone.common import estimate_say

    return estimate_say(text, language)


def digest(key):
    return hashlib.sha256("\0".join(map(str, key)).encode("utf-8")).hexdigest()[:32]


def write(sound, path):
    """Write an AudioSegment as 8 kHz mono PCM16 WAV, atomically."""
    sound = sound.set_frame_rate(RATE).set_channels(1).set_sample_width(SAMPLE_BYTES)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
    os.close(handle)
    try:
        sound.export(temporary, format="wav").close()
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
