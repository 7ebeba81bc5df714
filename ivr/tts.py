"""Speak text with espeak-ng into pydub audio: Mandarin through pinyin, English as it is.

Debian's espeak-ng reads Chinese characters poorly (it spells their pinyin in English), so
Mandarin runs are turned into tone-numbered pinyin with pypinyin and read by the
`cmn-latn-pinyin` voice; Latin runs (App, For English) are read by `en-us`.
"""

import io
import re
import shutil
import subprocess
import warnings

from ivr.spoken import zh

HAN = re.compile(r"([\u3007\u3400-\u9fff\uff0c\u3002\uff1b\u3001\uff1a\uff01\uff1f]+)")
ZH_DIGITS = str.maketrans("0123456789", zh.DIGITS)
AFTER_HAN_DIGITS = re.compile(r"(?<=[\u3007\u3400-\u9fff])\d+")
PAUSES = {"，": ",", "、": ",", "；": ";", "：": ",", "。": ".", "！": ".", "？": "?"}


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


def runs(text):
    """Split text into (voice, text) runs: Han characters in pinyin, the rest as written."""
    from pypinyin import Style
    from pypinyin import lazy_pinyin

    # Digits right after Han characters are read in Mandarin: "请按1", "普通话请按9".
    text = AFTER_HAN_DIGITS.sub(lambda match: match.group().translate(ZH_DIGITS), text)
    out = []
    for part in HAN.split(text):
        if not part.strip():
            continue
        if HAN.fullmatch(part):
            syllables = lazy_pinyin(part, style=Style.TONE3, neutral_tone_with_five=True)
            spoken = " ".join(PAUSES.get(s, s) for s in syllables)
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
                [program, "-v", voice, "-s", "150", "--stdout", part],
                capture_output=True,
                check=True,
                timeout=60,
            ).stdout
        except (OSError, subprocess.SubprocessError) as error:
            raise TTSError(f"espeak-ng failed: {error}") from None
        sound += AudioSegment.from_wav(io.BytesIO(wav))
    return sound
