"""Speak text with espeak-ng into pydub audio: Mandarin through pinyin, English as it is.

Debian's espeak-ng reads Chinese characters poorly (it spells their pinyin in English), so
Mandarin runs are turned into tone-numbered pinyin with pypinyin and read by the
`cmn-latn-pinyin` voice; Latin runs (App, For English) are read by `en-us`. Words with two
readings (重听 chóng, 为 wéi) take theirs from readings.toml before pypinyin guesses.
"""

import functools
import hashlib
import io
import re
import shutil
import subprocess
import tomllib
import warnings
from pathlib import Path

from ivr.spoken import zh

HAN = re.compile(r"([\u3007\u3400-\u9fff\uff0c\u3002\uff1b\u3001\uff1a\uff01\uff1f]+)")
ZH_DIGITS = str.maketrans("0123456789", zh.DIGITS)
AFTER_HAN_DIGITS = re.compile(r"(?<=[\u3007\u3400-\u9fff])\d+")
PAUSES = {"，": ",", "、": ",", "；": ",", "：": ",", "。": ".", "！": ".", "？": "?"}
READINGS_FILE = Path(__file__).with_name("readings.toml")
# espeak-ng's words a minute (its default is 175): a modest step up, to shorten the wait
# without blurring syllables on an 8 kHz line. Each voice has its own rate.
SPEED = {"cmn-latn-pinyin": 200, "en-us": 185}


class TTSError(RuntimeError):
    """Speech cannot be made here (espeak-ng missing, or it failed)."""


def espeak():
    """Return the espeak-ng executable, or raise naming the package to install."""
    found = shutil.which("espeak-ng")
    if not found:
        raise TTSError("espeak-ng is not installed: apt-get install espeak-ng (Debian package)")
    return found


def audio_segment():
    """Import pydub's AudioSegment without its warning about ffmpeg (WAV does not need it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydub import AudioSegment
    return AudioSegment


@functools.cache
def readings():
    """The line's own readings of polyphonic words, and a pattern matching the longest first.

    Kept here rather than in pypinyin's global phrase table (load_phrases_dict), so that no
    other user of pypinyin in the process reads differently because of us.
    """
    table = tomllib.loads(READINGS_FILE.read_text(encoding="utf-8"))["readings"]
    for word, reading in table.items():
        if len(reading.split()) != len(word):
            raise ValueError(f"readings.toml: {word!r} needs one syllable per character")
    words = sorted(table, key=len, reverse=True)
    return table, re.compile("|".join(map(re.escape, words)))


def version():
    """What the recordings depend on besides their text: the speeds and the readings."""
    material = repr(sorted(SPEED.items())) + READINGS_FILE.read_text(encoding="utf-8")
    return hashlib.sha256(material.encode()).hexdigest()[:8]


def pinyin(han):
    """Tone-numbered syllables for Han text: our readings first, pypinyin for the rest."""
    from pypinyin import Style
    from pypinyin import lazy_pinyin

    def guess(piece):
        return lazy_pinyin(piece, style=Style.TONE3, neutral_tone_with_five=True) if piece else []

    table, pattern = readings()
    out, at = [], 0
    for match in pattern.finditer(han):
        out += guess(han[at : match.start()]) + table[match.group()].split()
        at = match.end()
    return out + guess(han[at:])


def runs(text):
    """Split text into (voice, text) runs: Han characters in pinyin, the rest as written."""
    # Digits right after Han characters are read in Mandarin: "请按1", "普通话请按9".
    text = AFTER_HAN_DIGITS.sub(lambda match: match.group().translate(ZH_DIGITS), text)
    out = []
    for part in HAN.split(text):
        if not part.strip():
            continue
        if HAN.fullmatch(part):
            spoken = " ".join(PAUSES.get(s, s) for s in pinyin(part))
            out.append(("cmn-latn-pinyin", spoken))
        elif re.search(r"[A-Za-z0-9]", part):
            out.append(("en-us", part.strip()))
    return out


def synthesize(text):
    """Return the text spoken as a pydub AudioSegment."""
    program = espeak()
    AudioSegment = audio_segment()
    sound = AudioSegment.empty()
    for voice, part in runs(text):
        try:
            wav = subprocess.run(
                [program, "-v", voice, "-s", str(SPEED[voice]), "--stdout", part],
                capture_output=True,
                check=True,
                timeout=60,
            ).stdout
        except (OSError, subprocess.SubprocessError) as error:
            raise TTSError(f"espeak-ng failed: {error}") from None
        sound += AudioSegment.from_wav(io.BytesIO(wav))
    return sound
