"""The caller's side of a <Record>, written as a WAV file the app can read from a file:// URL.

The softphone has no microphone: while the caller talks the file holds a low 200 Hz hum,
then silence (only with trim="do-not-trim"). 8 kHz mono 16-bit, like Twilio's recordings.
"""

import math
import struct
import tempfile
import wave
from pathlib import Path

RATE = 8000
HUM_HZ = 200  # 40 samples a period: one period repeats exactly
PERIOD = b"".join(
    struct.pack("<h", int(4000 * math.sin(2 * math.pi * n * HUM_HZ / RATE)))
    for n in range(RATE // HUM_HZ)
)


def directory(path=None):
    """Where recordings go: `path`, or a new temporary directory."""
    if path is not None:
        Path(path).mkdir(parents=True, exist_ok=True)
        return Path(path)
    return Path(tempfile.mkdtemp(prefix="softphone-recordings-"))


def write(folder, sid, talk, silence=0.0):
    """Write `talk` seconds of hum then `silence` seconds to folder/sid.wav; return its path."""
    frames = int(talk * RATE)
    hum = PERIOD * (frames // (RATE // HUM_HZ) + 1)
    body = hum[: frames * 2] + b"\0\0" * int(silence * RATE)
    path = Path(folder) / f"{sid}.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(body)
    return path
