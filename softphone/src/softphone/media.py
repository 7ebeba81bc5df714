"""The audio a real caller hears, as files a SIP media library plays: 8 kHz mono PCM16 WAV.

A <Say> is spoken by the app's `speak` hook (its own voice) else espeak-ng, through the
recorder's fallbacks; a <Play> URL is fetched and kept as its caching headers say (decoded
once per body); keys are DTMF tones; a <Pause> is silence. Each piece is cached on disk
under a hash of what made it (kind, voice, language, text or URL), written by atomic rename,
so a prompt is rendered once per process and a second process with the same folder renders
nothing. A stretch of pieces the caller hears back to back is joined into one file, so it
plays with no gap between its parts and a key stops it with one command. Runs on the SIP
front's call threads, never on the library's.
"""

import hashlib
import io
import math
import os
import tempfile
import threading
import time
import wave
from pathlib import Path

from softphone.recorder import RATE
from softphone.recorder import Recorder

SAMPLE_BYTES = 2
GRACE = 1.0  # seconds a <Play> that must be revalidated counts as validated


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
        self.lock = threading.RLock()  # pydub and the fallbacks' notes are not thread-safe
        self.renders = 0  # pieces rendered (cache misses), for tests and the benchmark
        self.fetch = fetch
        self.cached = {}  # <Play> URL -> its file, freshness and validators
        self.requests = 0  # <Play> requests sent
        self.grace = GRACE

    # pieces

    def say(self, text, voice, language):
        """The file and seconds of a <Say>: the app's voice, else espeak-ng, else a tone."""
        return self.piece(
            ("say", voice or "", language or "", text),
            lambda: self.recorder.speech(text, language, estimate(text, language)),
        )

    def spoken(self, pieces, voice, language):
        """The file and seconds of a <Say> with SSML breaks: each piece's words, then its
        silence, so the caller hears every pause where the SSML puts it."""
        parts = []
        for text, pause in pieces:
            path, seconds = self.say(text, voice, language) if text else self.silence(0)
            parts.append((path, seconds, seconds + pause))
        path, seconds, _ = self.join(parts)
        return path, seconds

    def play(self, url):
        """The file and seconds of a <Play> URL (silence if it cannot be read), cached as its
        caching headers say, as Twilio caches media: fresh for `Cache-Control: max-age`, then
        revalidated with If-None-Match / If-Modified-Since (a 304 keeps the audio); `no-cache`
        revalidates every time, `no-store` fetches anew every time; with no such header it is
        fetched once. Decoded audio is kept by the body's hash, so a body met before is never
        decoded again. A validation counts for GRACE seconds, so the engine's measure and the
        playing that follows it make one request."""
        with self.lock:
            entry, now = self.cached.get(url), time.monotonic()
            if entry is not None and now < entry["fresh_until"]:
                return entry["path"], self.seconds(entry["path"])
            headers = {}
            if entry is not None and entry.get("etag"):
                headers["If-None-Match"] = entry["etag"]
            if entry is not None and entry.get("last_modified"):
                headers["If-Modified-Since"] = entry["last_modified"]
            try:
                reply = self.get(url, headers)
            except Exception:  # noqa: BLE001 - an unreadable file is heard as silence
                reply = None
            self.requests += 1
            if reply is not None and reply.status == 304 and entry is not None:
                entry["fresh_until"] = now + freshness(reply, self.grace)
                return entry["path"], self.seconds(entry["path"])
            if reply is None or reply.status >= 400:
                self.cached.pop(url, None)
                return self.silence(1.0)
            body = reply.body
            path = self.folder / (digest(("play", hashlib.sha256(body).hexdigest())) + ".wav")
            if not path.exists():
                write(self.decode(url, body), path)
                self.renders += 1
            kept = {"path": str(path), "fresh_until": now + freshness(reply, self.grace)}
            if "no-store" not in cache_control(reply):
                kept["etag"] = header(reply, "ETag")
                kept["last_modified"] = header(reply, "Last-Modified")
                self.cached[url] = kept
            else:
                self.cached.pop(url, None)
            return kept["path"], self.seconds(kept["path"])

    def get(self, url, headers):
        if not headers:
            return self.fetch("GET", url, {})
        try:
            return self.fetch("GET", url, {}, extra_headers=headers)
        except TypeError:  # a fetch that sends no extra headers: a plain GET
            return self.fetch("GET", url, {})

    def decode(self, url, body):
        try:
            if body[:4] == b"RIFF":  # WAV needs no ffmpeg
                return self.recorder.AudioSegment.from_wav(io.BytesIO(body))
            return self.recorder.AudioSegment.from_file(io.BytesIO(body))
        except Exception:  # noqa: BLE001 - an unreadable file is heard as silence
            self.recorder.note(f"could not read {url}: played as silence")
            return self.recorder.silence(1.0)

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

        A <Say> with SSML breaks is its pieces with each silence in place (the engine's time
        for it is theirs); a cut prompt plays only as far as it was heard.
        """
        data = event.data
        if event.kind == "say" and data.get("pieces"):
            path, seconds = self.spoken(data["pieces"], data.get("voice"), data.get("language"))
        elif event.kind == "say":
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
                with open(path, "rb") as audio:  # pydub leaves a file it opens itself open
                    sound += self.recorder.AudioSegment.from_wav(audio)
                if least > seconds:
                    sound += self.recorder.silence(least - seconds)
            return sound

        path, seconds = self.piece(key, render)
        return path, seconds, starts


def cache_control(reply):
    """A reply's Cache-Control directives, {name: value or ""}."""
    found = {}
    for part in (header(reply, "Cache-Control") or "").lower().split(","):
        name, _, value = part.strip().partition("=")
        if name:
            found[name] = value.strip('"')
    return found


def freshness(reply, grace):
    """Seconds a fetched <Play> stays fresh: max-age (s-maxage first), `grace` for no-cache,
    no-store or max-age=0, forever with no Cache-Control or Expires (fetched once)."""
    directives = cache_control(reply)
    if "no-store" in directives or "no-cache" in directives:
        return grace
    for name in ("s-maxage", "max-age"):
        if directives.get(name, "").isdigit():
            return max(int(directives[name]), grace)
    if header(reply, "Expires") is not None:
        return grace  # an Expires without max-age: revalidate (clocks are not compared)
    return math.inf


def header(reply, name):
    headers = getattr(reply, "headers", None) or {}
    return next((v for k, v in dict(headers).items() if k.lower() == name.lower()), None)


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
