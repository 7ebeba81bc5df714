"""Read `<say-as interpret-as>` as Amazon Polly's English voices say it, for the heard text.

Polly's say-as page (docs.aws.amazon.com/polly/latest/dg/say-as-tag.html; Twilio's <Say>
page sends SSML questions there) lists characters / spell-out, cardinal / number, ordinal,
digits, fraction, unit, date (with `format`), time, address, expletive and telephone.
`currency` is not among them, so its text is spoken as written, as any text is. Every voice
is read the Polly way, Twilio's `Google.*` voices too (Google documents a currency reading;
it is not reproduced), as the rest of SSML is read here for every voice.

Choices where Polly's page gives no words (each made once, here):
- Words are English (US) for any `en-*` language; in another language the text stays as
  written, as plain text does (the heard text shows what the app wrote, not a Mandarin
  reading of it). Digit by digit (digits, characters, telephone) is the same in every
  language: the characters one at a time, as the heard text has always shown them.
- A date is "December twenty-fifth, twenty twenty-six": the month, the day as an ordinal,
  the year in two pairs (2000-2009 "two thousand five", 1905 "nineteen oh five"); en-GB is
  read in the same order. A date that is not one (month 13, no format) stays as written.
- A telephone number is grouped as the US groups it (10 digits 3-3-4, 7 digits 3-4, an 11th
  leading 1 alone), else by the dashes, dots, spaces and brackets it was written with; a
  pause (a comma) between groups; `x345` is "extension 3 4 5". en-GB says a pair or triple
  of one digit as "double 5" / "triple 4", as Polly's page says UK English does.
- Numbers: "one thousand two hundred thirty-four" (no "and", as en-US voices say it),
  "three point one four", "minus five"; 1,234 with its commas is the same number.
- An expletive is heard as "[beep]", never its words. fraction, unit, time and address
  are read as written: Polly's own reading of them is not reproduced.
"""

import re

SPELLED = ("digits", "characters", "spell-out")
ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
ORDINALS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
MONTHS = (
    "January February March April May June July August September October November December"
).split()
DATE_FORMATS = ("mdy", "dmy", "ymd", "md", "dm", "ym", "my", "d", "m", "y")
NUMBER = re.compile(r"^\s*(-?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?\s*$")
ORDINAL_TEXT = re.compile(r"^\s*(\d{1,3}(?:,\d{3})+|\d+)(?:st|nd|rd|th)?\s*$", re.IGNORECASE)
PHONE = re.compile(r"^\s*([-+\d().\s]*\d)\s*(?:(?:x|ext\.?)\s*(\d+))?\s*$", re.IGNORECASE)
BEEP = "[beep]"


def spoken(text, interpret_as, date_format, language):
    """The words a `<say-as>` speaks for `text`; the text as written where none apply."""
    if interpret_as in SPELLED:
        return " ".join("".join(text.split()))
    if interpret_as == "expletive":
        return BEEP
    if not (language or "en").lower().startswith("en"):
        return text
    read = READERS.get(interpret_as)
    found = read(text, (date_format or "").lower(), language.lower()) if read else None
    return text if found is None else found


def cardinal(number):
    """An integer in words: 1234 -> "one thousand two hundred thirty-four"."""
    if number < 0:
        return "minus " + cardinal(-number)
    if number < 20:
        return ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return TENS[tens] + (f"-{ONES[ones]}" if ones else "")
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return f"{ONES[hundreds]} hundred" + (f" {cardinal(rest)}" if rest else "")
    scale, name = next((s, n) for s, n in SCALES if number >= s)
    head, rest = divmod(number, scale)
    return f"{cardinal(head)} {name}" + (f" {cardinal(rest)}" if rest else "")


def ordinal(number):
    """An integer as an ordinal in words: 3 -> "third", 1234 -> "... thirty-fourth"."""
    words = cardinal(number)
    cut = max(words.rfind(" "), words.rfind("-")) + 1
    head, last = words[:cut], words[cut:]
    if last in ORDINALS:
        return head + ORDINALS[last]
    return head + (last[:-1] + "ieth" if last.endswith("y") else last + "th")


def year(number):
    """A year as it is said: "twenty twenty-six", "two thousand five", "nineteen oh five"."""
    if not 1000 <= number <= 9999 or 2000 <= number <= 2009 or number % 1000 == 0:
        return cardinal(number)
    century, rest = divmod(number, 100)
    if rest == 0:
        return f"{cardinal(century)} hundred"
    return f"{cardinal(century)} " + (f"oh {ONES[rest]}" if rest < 10 else cardinal(rest))


def _cardinal(text, _format, _language):
    match = NUMBER.match(text)
    if match is None:
        return None
    sign, whole, fraction = match.groups()
    words = cardinal(int(whole.replace(",", "")))
    if fraction:
        words += " point " + " ".join(ONES[int(digit)] for digit in fraction)
    return ("minus " if sign else "") + words


def _ordinal(text, _format, _language):
    match = ORDINAL_TEXT.match(text)
    return ordinal(int(match.group(1).replace(",", ""))) if match else None


def _date(text, date_format, _language):
    compact = text.strip()
    if date_format == "yyyymmdd" or (
        not date_format and len(compact) == 8 and re.fullmatch(r"[\d?]{8}", compact)
    ):
        fields = {"y": compact[:4], "m": compact[4:6], "d": compact[6:8]}
        fields = {k: v for k, v in fields.items() if "?" not in v}  # ???? skips the year
        if len(compact) != 8 or not all(v.isdigit() for v in fields.values()):
            return None
    elif date_format in DATE_FORMATS:
        parts = [p for p in re.split(r"[-/.\s]+", compact) if p]
        if len(parts) != len(date_format) or not all(p.isdigit() for p in parts):
            return None
        fields = dict(zip(date_format, parts, strict=True))
    else:
        return None  # Polly asks for a format; without one the text is read as written
    return _date_words({k: int(v) for k, v in fields.items()})


def _date_words(fields):
    month, day, when = fields.get("m"), fields.get("d"), fields.get("y")
    if (month is not None and not 1 <= month <= 12) or (day is not None and not 1 <= day <= 31):
        return None
    said = " ".join(w for w in (month and MONTHS[month - 1], day and ordinal(day)) if w)
    if when is not None:
        said += (", " if day else " ") + year(when) if said else year(when)
    return said or None


def _telephone(text, _format, language):
    match = PHONE.match(text)
    if match is None:
        return None
    written, extension = match.groups()
    digits = re.sub(r"\D", "", written)
    if len(digits) == 10:
        groups = [digits[:3], digits[3:6], digits[6:]]
    elif len(digits) == 11 and digits[0] == "1":
        groups = ["1", digits[1:4], digits[4:7], digits[7:]]
    elif len(digits) == 7:
        groups = [digits[:3], digits[3:]]
    else:
        groups = [g for g in re.split(r"\D+", written) if g]
    uk = language.startswith("en-gb")
    said = ", ".join(_group(group, uk) for group in groups)
    if extension:
        said += ", extension " + " ".join(extension)
    return said


def _group(digits, uk):
    """One group of a phone number, digit by digit; in UK English, "double 5", "triple 4"."""
    if not uk:
        return " ".join(digits)
    said = []
    for run in re.finditer(r"(\d)\1*", digits):
        length, digit = len(run.group()), run.group(1)
        said.append({2: f"double {digit}", 3: f"triple {digit}"}.get(length, " ".join(run.group())))
    return " ".join(said)


READERS = {
    "cardinal": _cardinal,
    "number": _cardinal,
    "ordinal": _ordinal,
    "date": _date,
    "telephone": _telephone,
}
