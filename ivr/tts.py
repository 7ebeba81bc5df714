"""Speak text with espeak-ng into pydub audio: Mandarin through pinyin, English as it is.

Debian's espeak-ng reads Chinese characters poorly (it spells their pinyin in English), so
Mandarin runs are turned into tone-numbered pinyin with pypinyin and read by the
`cmn-latn-pinyin` voice; Latin runs (App, For English) are read by `en-us`. Words with two
readings (重听 chóng, 为 wéi) take theirs from readings.toml before pypinyin guesses; 一 and
不 change tone with the syllable after them (一次 yí, 一千 yì, 不是 bú), as a speaker does.

Each clause is spoken on its own and joined to the next with a measured pause (250 ms after a
comma, 500 ms after a full stop): espeak-ng's own pauses are too short on a phone line.
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

HAN_CHARS = "\u3007\u3400-\u9fff"
# A Han run, with its punctuation and any reading written after a character: 一[yi2].
HAN = re.compile(rf"((?:[{HAN_CHARS}\uff0c\u3002\uff1b\u3001\uff1a\uff01\uff1f]|\[[a-z]+[1-5]\])+)")
SEGMENT = re.compile(rf"((?:[{HAN_CHARS}](?:\[[a-z]+[1-5]\])?)+)")
WRITTEN = re.compile(rf"([{HAN_CHARS}])(?:\[([a-z]+[1-5])\])?")
ZH_DIGITS = str.maketrans("0123456789", zh.DIGITS)
AFTER_HAN_DIGITS = re.compile(rf"(?<=[{HAN_CHARS}])\d+")
PAUSES = {"，": ",", "、": ",", "；": ",", "：": ",", "。": ".", "！": ".", "？": "?"}
COMMA_MS = 250
STOP_MS = 500
# The pause after each mark; Latin marks count only before a space or the end ("1.5" is not).
PAUSE_MS = {",": COMMA_MS, ";": COMMA_MS, ":": COMMA_MS, ".": STOP_MS, "!": STOP_MS, "?": STOP_MS}
PAUSE_MS |= {mark: PAUSE_MS[latin] for mark, latin in PAUSES.items()}
CLAUSE_END = re.compile(r"[，、；：。！？]+\s*|[,;:.!?]+(?:\s+|$)")
WORD_GAP_MS = 60  # between a Mandarin and an English run inside one clause: 平台 App
SILENCE_DBFS = -50
READINGS_FILE = Path(__file__).with_name("readings.toml")
# espeak-ng's words a minute (its default is 175): a modest step up, to shorten the wait
# without blurring syllables on an 8 kHz line. Each voice has its own rate.
SPEED = {"cmn-latn-pinyin": 200, "en-us": 185}


def _yi_keeps():
    """The characters next to which 一 keeps its own tone (readings.toml, [yi])."""
    table = tomllib.loads(READINGS_FILE.read_text(encoding="utf-8"))["yi"]
    numerals = set(table["numerals"])
    return numerals | set(table["before"]), numerals | set(table["after"])


# 一 keeps its own tone before or after a digit (一二三, 二〇二一年), in a date or an hour
# (一月, 一点), as the ones digit of a number (十一万, 一千零一元), after 第 or 按 (第一, 请按1).
YI_KEEPS_BEFORE, YI_KEEPS_AFTER = _yi_keeps()


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
    """What the recordings depend on besides their text: speeds, pauses, readings, rules."""
    rules = [SPEED, PAUSE_MS, WORD_GAP_MS, sorted(YI_KEEPS_BEFORE), sorted(YI_KEEPS_AFTER)]
    material = repr(rules) + READINGS_FILE.read_text(encoding="utf-8")
    return hashlib.sha256(material.encode()).hexdigest()[:8]


def plain(text):
    """The text without readings written after characters: 一[yi2] -> 一."""
    return re.sub(r"\[[a-z]+[1-5]\]", "", text)


def tone(syllable):
    return int(syllable[-1]) if syllable[-1].isdigit() else 5


def pinyin(han):
    """Tone-numbered syllables for Han text, one per character, marks left as they are.

    A reading written after a character (一[yi2]) wins, then readings.toml, then pypinyin;
    一 and 不 then take the tone the next syllable gives them, unless a reading fixed theirs.
    """
    out = []
    for part in SEGMENT.split(han):
        if not part:
            continue
        if SEGMENT.fullmatch(part):
            out += _segment(part)
        else:
            out += list(part)
    return out


def _segment(written):
    """Read a run of Han characters with no punctuation in it."""
    from pypinyin import Style
    from pypinyin import lazy_pinyin

    chars, fixed = [], {}
    for match in WRITTEN.finditer(written):
        if match.group(2):
            fixed[len(chars)] = match.group(2)
        chars.append(match.group(1))
    text = "".join(chars)
    table, pattern = readings()
    for match in pattern.finditer(text):
        for offset, syllable in enumerate(table[match.group()].split()):
            fixed.setdefault(match.start() + offset, syllable)
    guessed = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)
    syllables = [fixed.get(index, syllable) for index, syllable in enumerate(guessed)]
    # 一 before 不 (不一致): 一's own tone first, since 不 reads the syllable after it.
    for char in "一不":
        for index in range(len(syllables)):
            if chars[index] == char and index not in fixed:
                syllables[index] = _sandhi(chars, syllables, index)
    return syllables


def _sandhi(chars, syllables, index):
    """一 or 不 as the next syllable makes it: yí/bú before a fourth tone, else yì/bù."""
    char, syllable = chars[index], syllables[index]
    after = chars[index + 1] if index + 1 < len(chars) else None
    before = chars[index - 1] if index else None
    if tone(syllable) == 5:  # a neutral tone a word gives it (差不多): kept
        return syllable
    if char == "一" and (after in YI_KEEPS_BEFORE or before in YI_KEEPS_AFTER):
        after = None
    if after is None:
        return "yi1" if char == "一" else "bu4"
    # A neutral syllable after it (一个 ge5) was a fourth tone more often than not.
    falling = tone(syllables[index + 1]) in (4, 5)
    if char == "一":
        return "yi2" if falling else "yi4"
    return "bu2" if falling else "bu4"


def clauses(text):
    """Split text into clauses, each with the pause that follows it: [(clause, ms)]."""
    out, at = [], 0
    for match in CLAUSE_END.finditer(text):
        marks = match.group().strip()
        out.append((text[at : match.end()].strip(), max(PAUSE_MS[m] for m in marks)))
        at = match.end()
    if text[at:].strip():
        out.append((text[at:].strip(), 0))
    return out


def final_pause(text):
    """The pause after a text's last word: its closing mark's, or none."""
    found = clauses(text)
    return found[-1][1] if found else 0


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


def trim(sound):
    """The sound without the silence espeak-ng leaves before and after the words."""
    from pydub.silence import detect_leading_silence

    start = detect_leading_silence(sound, silence_threshold=SILENCE_DBFS)
    end = detect_leading_silence(sound.reverse(), silence_threshold=SILENCE_DBFS)
    return sound[start : len(sound) - end] if len(sound) - end > start else sound[:0]


def speak(voice, text):
    """One run in one voice, as espeak-ng says it (with its silence around it)."""
    try:
        wav = subprocess.run(
            [espeak(), "-v", voice, "-s", str(SPEED[voice]), "--stdout", text],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise TTSError(f"espeak-ng failed: {error}") from None
    return audio_segment().from_wav(io.BytesIO(wav))


def synthesize(text):
    """Return the text spoken as a pydub AudioSegment, a measured pause after each clause.

    No silence before the first word or after the last: whoever plays it decides that.
    """
    espeak()
    AudioSegment = audio_segment()
    sound, pause = AudioSegment.empty(), 0
    for clause, after in clauses(text):
        # Each clause keeps its mark, so espeak-ng gives it the intonation the mark asks for.
        words = AudioSegment.empty()
        for voice, part in runs(clause):
            spoken = trim(speak(voice, part))
            if len(spoken) and len(words):
                words += AudioSegment.silent(WORD_GAP_MS, frame_rate=spoken.frame_rate)
            words += spoken
        if not len(words):
            pause = max(pause, after)
            continue
        if len(sound):
            sound += AudioSegment.silent(pause, frame_rate=words.frame_rate)
        sound += words
        pause = after
    return sound
