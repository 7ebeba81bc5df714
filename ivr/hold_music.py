"""The line's own hold music: a soft chime tune made here, so there is nothing to license and
nothing to fetch from elsewhere (the softphone plays it offline as Twilio plays it on a call).

Four phrases in C major pentatonic, a note every 0.6 s, each a sine with two quiet overtones
that dies away like a struck bell; the last notes ring on into the first, so the loop has no
seam. 8 kHz mono 16-bit, as a phone line carries it, peaking well below the prompts' level.
"""

import array
import functools
import hashlib
import io
import math
import wave

RATE = 8000
STEP = 0.6  # seconds from one note to the next
RING = 1.8  # seconds a note sounds
DECAY = 0.5  # seconds for a note to fall to 1/e
ATTACK = 0.01  # seconds to reach full strength (no click)
OVERTONES = ((1, 1.0), (2, 0.25), (3, 0.08))  # (harmonic, strength)
LEVEL = 0.4  # peak, of full scale
# Semitones from A4 (440 Hz): C4 -5 … the notes C D E G A of the C major pentatonic.
PHRASES = (
    (-9, -5, -2, 3, 0, -2, -5, -7),
    (-9, -5, -2, 0, -2, -5, -7, -5),
    (-12, -9, -5, 0, -2, -5, -7, -9),
    (-14, -9, -7, -2, -5, -7, -9, -9),
)


def _note(semitones):
    """One note's samples, as floats: a struck tone that dies away."""
    pitch = 440.0 * 2 ** (semitones / 12)
    samples = []
    for index in range(int(RING * RATE)):
        t = index / RATE
        angle = 2 * math.pi * pitch * t
        strength = math.exp(-t / DECAY) * min(1.0, t / ATTACK)
        samples.append(strength * sum(s * math.sin(h * angle) for h, s in OVERTONES))
    return samples


@functools.lru_cache(maxsize=1)
def wav():
    """The tune as a WAV file's bytes (made once per process, in about a tenth of a second)."""
    notes = [note for phrase in PHRASES for note in phrase]
    sounds = {note: _note(note) for note in set(notes)}
    total = int(STEP * RATE * len(notes))
    mix = [0.0] * total
    for number, note in enumerate(notes):
        start = int(number * STEP * RATE)
        for index, sample in enumerate(sounds[note]):
            mix[(start + index) % total] += sample  # the tail wraps round: a seamless loop
    scale = LEVEL * 32767 / max(map(abs, mix))
    pcm = array.array("h", (round(sample * scale) for sample in mix))
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(RATE)
        file.writeframes(pcm.tobytes())
    return out.getvalue()


def etag():
    """A tag for the tune's bytes, so Twilio (and any cache) keeps it between plays."""
    return hashlib.sha256(wav()).hexdigest()[:16]
