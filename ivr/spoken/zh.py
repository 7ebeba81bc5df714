"""Mandarin for the ear: 一千二百三十四元五角六分, 二〇二五年三月, 幺二三三三."""

from ivr.money import to_fen

DIGITS = "零一二三四五六七八九"
YEAR_DIGITS = "〇一二三四五六七八九"
# Read digit strings (ID, card, phone numbers) with 幺 for 1 and 叉 for X, as operators do.
CODE_DIGITS = dict(zip("0123456789Xx", "零幺二三四五六七八九叉叉", strict=True))
PLACES = ("", "十", "百", "千")
SECTIONS = ("", "万", "亿", "万亿")


def _section(value):
    """Read 1..9999 with 零 for inner zeros: 1009 -> 一千零九."""
    out = []
    pending_zero = False
    for place in range(3, -1, -1):
        digit = value // 10**place % 10
        if digit == 0:
            pending_zero = bool(out)
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        word = DIGITS[digit]
        # 两 heads a section before 千 or 百 (两千, 一万零两百); inside it stays 二
        # (一千二百, 二十二), as the design's 一千二百三十四 reads.
        if digit == 2 and (place == 3 or (place == 2 and (not out or out[-1] == "零"))):
            word = "两"
        out.append(word + PLACES[place])
    return "".join(out)


def number(value):
    """Read a whole number: 1010 -> 一千零一十, 12000 -> 一万两千, 12 -> 十二."""
    value = int(value)
    if value < 0:
        return "负" + number(-value)
    if value == 0:
        return "零"
    sections = []
    while value:
        sections.append(value % 10000)
        value //= 10000
    out = ""
    for index in range(len(sections) - 1, -1, -1):
        part = sections[index]
        if part == 0:
            continue
        text = _section(part)
        if out and part < 1000:
            text = "零" + text
        if text == "二" and index > 0:
            text = "两"
        out += text + SECTIONS[index]
    # 10-19 at the head drop the 一: 十二, not 一十二.
    if out.startswith("一十"):
        out = out[1:]
    return out


def _small(digit):
    """A single digit before a unit: 两 for 2 (两角, 两分)."""
    return "两" if digit == 2 else DIGITS[digit]


def amount(value):
    """Read yuan as 元角分: Decimal("1234.56") -> 一千二百三十四元五角六分."""
    fen = to_fen(value)
    sign = "负" if fen < 0 else ""
    fen = abs(fen)
    yuan, jiao, cents = fen // 100, fen // 10 % 10, fen % 10
    out = ""
    if yuan:
        out = ("两" if yuan == 2 else number(yuan)) + "元"
    if jiao:
        out += _small(jiao) + "角"
    elif cents and yuan:
        out += "零"
    if cents:
        # After 零 the digit is read plainly (…元零二分); alone it is 两分.
        out += (DIGITS[cents] if out.endswith("零") else _small(cents)) + "分"
    return sign + (out or "零元")


def year(value):
    """Read a year digit by digit: 2025 -> 二〇二五年."""
    return "".join(YEAR_DIGITS[int(c)] for c in str(value)) + "年"


def month(period):
    """Read a "YYYY-MM" period: "2025-03" -> 二〇二五年三月."""
    year_text, month_text = period.split("-")
    return year(year_text) + number(int(month_text)) + "月"


def date(day):
    """Read a date: 2026-11-18 -> 二〇二六年十一月十八日."""
    return f"{year(day.year)}{number(day.month)}月{number(day.day)}日"


def digits(text):
    """Read a code one character at a time: "0021" -> 零零二幺, "X" -> 叉."""
    return "".join(CODE_DIGITS[c] for c in text if c in CODE_DIGITS)


def count(value):
    """Read a small count before a measure word: 2 -> 两, 3 -> 三."""
    return "两" if value == 2 else number(value)


def tries(value):
    """Read how many tries are left; the prompt says the measure word (次)."""
    return count(value)


def minutes(value):
    """Read a number of minutes; the prompt says the measure word (分钟)."""
    return count(value)


def _period(moment):
    """The part of the day a time falls in, as callers say it: 上午, 中午, 下午, 晚上."""
    if moment.hour < 12:
        return "上午"
    if moment.hour < 13:
        return "中午"
    return "下午" if moment.hour < 19 else "晚上"


def clock(moment):
    """Read a time of day on the 12-hour clock: 09:00 -> 上午九点, 13:30 -> 下午一点半."""
    return _period(moment) + _clock12(moment)


def _clock12(moment):
    hour = moment.hour % 12 or 12
    text = ("两" if hour == 2 else number(hour)) + "点"  # 两点, as a clock says it
    if moment.minute == 30:
        return text + "半"
    if moment.minute:
        return text + number(moment.minute) + "分"
    return text


def hours(spans):
    """Read opening hours: 上午九点到中午十二点、下午一点到五点 (one 下午 for a span within it)."""
    out = []
    for start, end in spans:
        same = _period(start) == _period(end)
        out.append(f"{clock(start)}到{_clock12(end) if same else clock(end)}")
    return "、".join(out)
