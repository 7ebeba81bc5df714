"""Read a <Say>'s SSML the way Twilio's Polly and Google voices speak it, for text and time.

Every word is spoken: the text and tails of every child, whatever the tag (`<emphasis>`,
`<phoneme>`, `<w>`, `<amazon:effect>`... speak their words). `<sub alias>` speaks its alias;
`<say-as>` speaks as Polly reads its `interpret-as` (the sayas module: digits one at a time,
a cardinal, an ordinal or a date in words, a telephone number in groups);
`<break time|strength>` and the pauses that end `<p>` and `<s>` add silence where they fall
(`Spoken.pieces`); `<prosody rate>` slows or speeds its words; `<lang xml:lang>` is the
language their time is estimated in. The pause lengths are Polly's comma / sentence /
paragraph pauses, estimated (undocumented).
"""

import re
from dataclasses import dataclass
from dataclasses import field

from softphone import sayas

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
BREAKS = {"none": 0.0, "x-weak": 0.0, "weak": 0.25, "medium": 0.5, "strong": 0.75, "x-strong": 1.25}
MAX_BREAK = 10.0  # Polly ignores a longer break time; we cap it there
RATES = {"x-slow": 0.6, "slow": 0.8, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.5}
TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$")


@dataclass
class Spoken:
    """What a <Say> speaks: runs of (text, language, rate) and where its breaks fall."""

    parts: list = field(default_factory=list)
    breaks: list = field(default_factory=list)  # (how many parts come before it, seconds)

    @property
    def text(self):
        return words(self.parts)

    @property
    def pause(self):
        """Seconds of silence in all: every break, and the pauses after <p> and <s>."""
        return sum((seconds for _, seconds in self.breaks), 0.0)

    @property
    def pieces(self):
        """[(text, seconds of silence after it)]: each silence where the caller hears it."""
        pieces, start = [], 0
        for end, seconds in self.breaks:
            text = words(self.parts[start:end])
            if pieces and not text:  # two pauses in a row are one longer silence
                pieces[-1] = (pieces[-1][0], pieces[-1][1] + seconds)
            else:
                pieces.append((text, seconds))
            start = end
        rest = words(self.parts[start:])
        return pieces + [(rest, 0.0)] if rest else pieces

    def seconds(self, estimate):
        """Speaking time with `estimate(text, language)`, slowed or sped by rate, plus breaks."""
        if not self.parts:
            return self.pause
        language = self.parts[0][1]
        if all(lang == language and rate == 1.0 for _, lang, rate in self.parts):
            return estimate(self.text, language) + self.pause
        overhead = estimate("", language)
        spoken = sum((estimate(text, lang) - overhead) / rate for text, lang, rate in self.parts)
        return overhead + spoken + self.pause


def words(parts):
    """The text of runs of (text, language, rate), one space between words."""
    return " ".join("".join(text for text, _, _ in parts).split())


def local(tag):
    """An element's name without its namespace: `amazon:effect` -> `effect`."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def read(say, language):
    """Read a <Say> element (plain text or SSML) spoken in `language`."""
    spoken = Spoken()
    _add(spoken, say.text, language, 1.0)
    for child in say:
        _walk(child, language, 1.0, spoken)
        _add(spoken, child.tail, language, 1.0)
    return spoken


def _walk(element, language, rate, spoken):
    name = local(element.tag)
    if name == "break":
        _pause(spoken, break_seconds(element))
        _add(spoken, " ", language, rate)  # words either side of a break are apart
        return
    if name == "sub":
        _add(spoken, element.get("alias") or "".join(element.itertext()), language, rate)
        return
    if name == "say-as":
        how, written = element.get("interpret-as"), "".join(element.itertext())
        _add(spoken, sayas.spoken(written, how, element.get("format"), language), language, rate)
        return
    if name == "lang":
        language = element.get(XML_LANG) or element.get("lang") or language
    if name == "prosody":
        rate *= rate_of(element.get("rate"))
    if name in ("p", "s"):
        _add(spoken, " ", language, rate)
    _add(spoken, element.text, language, rate)
    for child in element:
        _walk(child, language, rate, spoken)
        _add(spoken, child.tail, language, rate)
    if name in ("p", "s"):
        _pause(spoken, BREAKS["x-strong" if name == "p" else "strong"])
        _add(spoken, " ", language, rate)


def _pause(spoken, seconds):
    if seconds > 0:  # a break of no time ("none", "0ms") leaves the words together
        spoken.breaks.append((len(spoken.parts), seconds))


def _add(spoken, text, language, rate):
    if text:  # whitespace too: it is what keeps two words apart
        spoken.parts.append((text, language, rate))


def break_seconds(element):
    """A <break>'s silence: its `time` ("500ms", "2s"), else its strength (default medium)."""
    match = TIME.match(element.get("time") or "")
    if match:
        seconds = float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)
        return min(seconds, MAX_BREAK)
    return BREAKS.get(element.get("strength", "medium"), BREAKS["medium"])


def rate_of(value):
    """A prosody rate as a speed factor: x-slow..x-fast, or "80%" (100% is normal)."""
    value = (value or "").strip()
    if value in RATES:
        return RATES[value]
    if value.endswith("%"):
        try:
            percent = float(value[:-1])
        except ValueError:
            return 1.0
        return max(percent, 20.0) / 100  # Polly's slowest rate is 20%
    return 1.0
