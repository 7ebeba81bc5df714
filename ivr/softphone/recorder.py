"""Write what the caller heard to a WAV file: prompts, played audio and the keys as DTMF."""

import io

from ivr import tts
from ivr.softphone.interpreter import estimate_say

RATE = 8000  # a phone line: 8 kHz mono, 16-bit
# DTMF: each key is the sum of a low and a high tone.
DTMF = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477),
}  # fmt: skip
TONE_MS = 120
GAP_MS = 280


class Recorder:
    """Assemble a call's audio with pydub, one event after another.

    Prompts are spoken by espeak-ng where it is installed; without it each prompt is a soft
    tone of its estimated length, and `notes` says so. A prompt a key cut short is cut at
    the same fraction of its audio.
    """

    def __init__(self, fetch=None):
        self.AudioSegment = tts.audio_segment()
        self.fetch = fetch
        self.notes = []

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
        """Speak a prompt with espeak-ng, or a quiet tone of its length without it."""
        try:
            return tts.synthesize(text)
        except tts.TTSError as error:
            from pydub.generators import Sine

            note = f"{error}; prompts are recorded as tones of their length"
            if note not in self.notes:
                self.notes.append(note)
            tone = Sine(440, sample_rate=RATE)
            return tone.to_audio_segment(duration=int(seconds * 1000), volume=-30)

    def audio(self, url, seconds):
        try:
            reply = self.fetch("GET", url, {})
            body = io.BytesIO(reply.body)
            if reply.body[:4] == b"RIFF":  # WAV needs no ffmpeg
                return self.AudioSegment.from_wav(body)
            return self.AudioSegment.from_file(body)
        except Exception:  # noqa: BLE001 - an unreadable file is heard as silence
            self.notes.append(f"could not read {url}: recorded as silence")
            return self.silence(seconds)

    def segment(self, event):
        data = event.data
        if event.kind == "say":
            full = estimate_say(data["text"], data.get("language"))
            sound = self.speech(data["text"], data.get("language"), full)
            if data.get("cut"):
                sound = sound[: int(len(sound) * data["duration"] / full)]
            return sound
        if event.kind == "play" and data.get("url"):
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
