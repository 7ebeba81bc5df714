"""English for the ear: "1,234 yuan and 56 fen", "March twenty twenty-five", "1 2 3 4"."""

import calendar
import re

from ivr.money import to_fen


def number(value):
    """Write a whole number with thousands separators, which TTS reads as words."""
    return f"{int(value):,}"


def amount(value):
    """Read yuan and fen: Decimal("1234.56") -> "1,234 yuan and 56 fen"."""
    fen = to_fen(value)
    sign = "minus " if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    parts = []
    if yuan or not cents:
        parts.append(f"{yuan:,} yuan")
    if cents:
        parts.append(f"{cents} fen")
    return sign + " and ".join(parts)


def _tens(value):
    """Two digits as in a year: 26 -> "twenty-six", 5 -> "oh five"."""
    if value < 10:
        return f"oh {ONES[value]}"
    return words_for(value).replace(" ", "-")


def year(value):
    """Read a year as Americans say it: 2026 -> "twenty twenty-six", 2005 -> "two thousand five"."""
    value = int(value)
    head, tail = divmod(value, 100)
    if 2000 <= value < 2010 or tail == 0 and value % 1000 == 0:
        return words_for(value)
    if tail == 0:
        return f"{words_for(head)} hundred"
    return f"{words_for(head)} {_tens(tail)}"


def month(period):
    """Read a "YYYY-MM" period: "2025-03" -> "March twenty twenty-five"."""
    year_text, month_text = period.split("-")
    return f"{calendar.month_name[int(month_text)]} {year(year_text)}"


ORDINALS = (
    "_ first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"
).split()


def ordinal(value):
    """A day of the month in words: 3 -> "third", 21 -> "twenty-first", 30 -> "thirtieth"."""
    if value <= 20:
        return ORDINALS[value]
    tens, ones = divmod(value, 10)
    if not ones:
        return TENS[tens][:-1] + "ieth"
    return f"{TENS[tens]}-{ORDINALS[ones]}"


def date(day):
    """Read a date: 2026-11-18 -> "November eighteenth, twenty twenty-six"."""
    return f"{calendar.month_name[day.month]} {ordinal(day.day)}, {year(day.year)}"


def digits(text):
    """Read a code one character at a time: "002X" -> "0 0 2 X"."""
    return " ".join(c.upper() for c in text if c.isdigit() or c in "Xx")


def count(value):
    """Read a small count."""
    return str(int(value))


def tries(value):
    """Read how many tries are left, with the noun that agrees: "1 try", "2 tries"."""
    return f"{int(value)} {'try' if int(value) == 1 else 'tries'}"


def minutes(value):
    """Read a number of minutes, with the noun that agrees: "1 minute", "30 minutes"."""
    return f"{int(value)} {'minute' if int(value) == 1 else 'minutes'}"


def clock(moment):
    """Read a time of day: 09:00 -> "9 am", 12:00 -> "noon", 13:30 -> "1:30 pm"."""
    if (moment.hour, moment.minute) == (12, 0):
        return "noon"
    hour = moment.hour % 12 or 12
    suffix = "am" if moment.hour < 12 else "pm"
    minutes = f":{moment.minute:02d}" if moment.minute else ""
    return f"{hour}{minutes} {suffix}"


def hours(spans):
    """Read opening hours: "9 am to noon and 1 pm to 5 pm"."""
    return " and ".join(f"{clock(start)} to {clock(end)}" for start, end in spans)


ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
NUMBER = re.compile(r"\d{1,2}:\d{2}|\d[\d,]*")


def words_for(value):
    """Write a whole number in words: 1234 -> "one thousand two hundred thirty four"."""
    if value < 20:
        return ONES[value]
    if value < 100:
        tens, ones = divmod(value, 10)
        return TENS[tens] + (" " + ONES[ones] if ones else "")
    for scale, name in SCALES:
        if value >= scale:
            head, rest = divmod(value, scale)
            return f"{words_for(head)} {name}" + (f" {words_for(rest)}" if rest else "")
    raise ValueError(value)


def words(text):
    """Spell out the numbers of a spoken text, for assembling it from word clips.

    "1,234 yuan 56 fen" -> "one thousand two hundred thirty four yuan fifty six fen";
    a time "1:30" -> "one thirty".
    """

    def spell(match):
        token = match.group()
        if ":" in token:
            hour, minute = (int(part) for part in token.split(":"))
            return words_for(hour) + (" oh " if minute < 10 else " ") + words_for(minute)
        return words_for(int(token.replace(",", "")))

    # Hyphenated words ("twenty-six") are said as their parts, one clip each.
    return NUMBER.sub(spell, text).replace("-", " ")
