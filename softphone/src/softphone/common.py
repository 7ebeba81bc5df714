"""What the engine's parts share: the event record, attribute reading, speaking time, limits."""

import itertools
import re
from dataclasses import dataclass
from dataclasses import field

REACTION = 1.0  # seconds a caller takes to press the first key after a prompt ends
MAX_SECONDS = 4 * 3600  # Twilio's default longest call
DTMF_KEYS = "0123456789*#"  # the keys a caller can press (Twilio error 13310 lists these)
WAIT = 0.5  # a `w` in a key group, as in sendDigits
LOOP_CAP = 1000  # loop="0" repeats at most this often (Twilio's cap)
# Every event's place in the order things happened: a mark taken before a key press stays
# valid when the key cuts the prompts and their unplayed events are dropped.
SEQUENCE = itertools.count(1)


@dataclass
class Event:
    """One thing that happened on the call, at simulated time `t` seconds."""

    kind: str
    t: float
    data: dict = field(default_factory=dict)
    seq: int = field(default_factory=SEQUENCE.__next__, compare=False, repr=False)

    def as_dict(self):
        return {"kind": self.kind, "t": round(self.t, 2), **self.data}


def estimate_say(text, language):
    """Estimate speaking time: about 4 Chinese characters or 14 Latin characters a second."""
    if (language or "").lower().startswith(("cmn", "zh", "yue")):
        return 0.25 * len(text.strip()) + 0.3
    return 0.07 * len(text.strip()) + 0.3


def language_of(text):
    """The language to time a caller's words in: Mandarin if they hold a Chinese character."""
    return "cmn-CN" if re.search(r"[\u3400-\u9fff]", text) else "en-US"


def int_attr(value, default, code, events, t, name):
    """A whole-number attribute, or `default` with Twilio's warning `code` if it is invalid."""
    if value is None:
        return default
    try:
        number = int(value)
        if number < 0:
            raise ValueError
        return number
    except ValueError:
        events.append(
            Event("warning", t, {"code": code, "message": f"{name}={value!r} is invalid"})
        )
        return default


def text_of(verb):
    """An element's text, trimmed (a URL, a number, a queue name)."""
    return (verb.text or "").strip()
