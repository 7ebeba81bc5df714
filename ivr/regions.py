"""Regions of the line: area codes, agent hours and days, card rules and credit rules (data)."""

import datetime as dt
import functools
import logging
import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import chinese_calendar

REGIONS_FILE = Path(__file__).with_name("regions.toml")
CREDIT_KINDS = ("fixed_monthly", "fixed_yearly", "pension_share")
NOT_A_DIGIT = re.compile(r"\D")
HOTLINE = "12333"  # 人社's line: the 社保卡 and, on this line, 医保 queries
MEDICAL_LINE = "12393"  # the 医保 line (NHSA's 医疗保障服务热线)
NEUTRAL = "-"  # the region key of a line whose area code is not in the table
log = logging.getLogger(__name__)


class RegionError(ValueError):
    """A regions table that cannot be used, naming the region and field."""


@dataclass(frozen=True)
class CreditRule:
    """How a region credits a retiree's personal account; a figure only with its source.

    With no `amount` the line says the rule's shape (monthly; by age or not) and who publishes
    the figure. `by_age`: True (age tiers), False (none), None (the source does not say).
    """

    kind: str
    amount: Decimal | None = None
    older_age: int | None = None
    older_amount: Decimal | None = None
    percent: Decimal | None = None
    month: int = 1  # fixed_yearly: the month the yearly sum is credited (a 医保年度's first)
    by_age: bool | None = None
    source: str = ""


@dataclass(frozen=True)
class Region:
    key: str
    area_codes: tuple[str, ...]
    agent_hours: tuple[tuple[dt.time, dt.time], ...]
    credit: CreditRule
    card_hold_days: int  # how long a 12333 临时挂失 holds before it lapses

    @property
    def area_code(self):
        """The region's main area code (its capital's)."""
        return self.area_codes[0] if self.area_codes else ""


@dataclass(frozen=True)
class Line:
    """The line a caller dialled: a region's (or no known region's) 12333 or 12393."""

    region: Region
    number: str = HOTLINE

    @property
    def key(self):
        """The line's key as a call keeps it: beijing, beijing/12393, -, -/12393."""
        return self.region.key + ("" if self.number == HOTLINE else f"/{self.number}")

    @property
    def known(self):
        return self.region.key != NEUTRAL

    @property
    def suffix(self):
        """How the line's own prompts are named: welcome, welcome_12393, welcome_neutral..."""
        return ("" if self.known else "_neutral") + (
            "" if self.number == HOTLINE else f"_{self.number}"
        )


@dataclass(frozen=True)
class Regions:
    default: str
    by_key: dict
    neutral: Region  # the hours and rules of a line whose area code is not in the table

    def __getitem__(self, key):
        """A region by its key, or the region of a line's key (beijing/12393 -> beijing)."""
        return self.line(key).region if ("/" in key or key == NEUTRAL) else self.by_key[key]

    def __contains__(self, key):
        return key in self.by_key

    def line(self, key):
        """The Line a call's line key names."""
        region, _, number = key.partition("/")
        found = self.neutral if region == NEUTRAL else self.by_key[region]
        return Line(found, number or HOTLINE)

    @functools.cached_property
    def by_area_code(self):
        """Area code -> region."""
        return {code: region for region in self.by_key.values() for code in region.area_codes}

    def for_dialled(self, number):
        """Pick the line from the dialled number: 0991-12333 is Urumqi's, 010-12393 Beijing's 医保.

        Plain 12333 (or 12393), or a number that is not code + line (a Twilio number), is the
        configured default region's line. An area code not in the table is a neutral line (no
        region's name in its greeting), with a log line so a deployment can add its code.
        """
        digits = NOT_A_DIGIT.sub("", str(number or ""))
        if digits.startswith("86") and len(digits) > 7:
            digits = "0" + digits[2:]  # +86 991 12333 -> 0991 12333
        line = next((n for n in (HOTLINE, MEDICAL_LINE) if digits.endswith(n)), None)
        if line is None:
            log.info(
                "dialled a number that is not code + %s: the line is %s", HOTLINE, self.default
            )
            return Line(self.by_key[self.default])
        code = digits[: -len(line)]
        if not code:
            return Line(self.by_key[self.default], line)
        region = self.by_area_code.get(code)
        if region is None:
            log.info("dialled area code %s: not in the regions table; a neutral greeting", code)
            return Line(self.neutral, line)
        return Line(region, line)


def _hours(text, key):
    spans = []
    for span in text.split(","):
        try:
            start, end = (dt.time.fromisoformat(part.strip()) for part in span.split("-"))
        except ValueError:
            raise RegionError(
                f"region {key}: agent_hours {text!r} is not HH:MM-HH:MM,..."
            ) from None
        spans.append((start, end))
    return tuple(spans)


def _credit(data, key):
    kind = data.get("kind")
    if kind not in CREDIT_KINDS:
        raise RegionError(f"region {key}: credit.kind must be one of {', '.join(CREDIT_KINDS)}")
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        raise RegionError(f"region {key}: credit.source must say where the rule comes from")
    fields = {"older_age": data.get("older_age"), "source": source, "by_age": data.get("by_age")}
    for name in ("amount", "older_amount", "percent"):
        if name in data:
            fields[name] = Decimal(str(data[name]))
    if "month" in data:
        fields["month"] = data["month"]
    rule = CreditRule(kind=kind, **fields)
    if kind == "pension_share" and rule.percent is None:
        raise RegionError(f"region {key}: credit.percent is required for {kind}")
    if kind == "fixed_yearly" and rule.amount is None:
        raise RegionError(f"region {key}: credit.amount is required for {kind}")
    if (rule.older_age is None) != (rule.older_amount is None):
        raise RegionError(f"region {key}: older_age and older_amount go together")
    if rule.older_age is not None and rule.amount is None:
        raise RegionError(f"region {key}: older_amount needs an amount")
    if not 1 <= rule.month <= 12:
        raise RegionError(f"region {key}: credit.month must be 1 to 12")
    return rule


def _area_codes(row, key):
    codes = row.get("area_codes")
    if not isinstance(codes, list) or not codes:
        raise RegionError(f'region {key}: area_codes must be a list like ["0991"]')
    for code in codes:
        if not (isinstance(code, str) and code.isdigit() and code.startswith("0")):
            raise RegionError(f"region {key}: area code {code!r} is not 0 and digits")
    return tuple(codes)


def _region(key, row, defaults, codes):
    hours = row.get("agent_hours", defaults.get("agent_hours"))
    if hours is None:
        raise RegionError(f"region {key}: agent_hours is required (or in [defaults])")
    days = row.get("card_hold_days", defaults.get("card_hold_days"))
    if not isinstance(days, int) or days < 1:
        raise RegionError(f"region {key}: card_hold_days must be a whole number of days")
    return Region(
        key=key,
        area_codes=codes,
        agent_hours=_hours(hours, key),
        credit=_credit(row.get("credit", defaults.get("credit", {})), key),
        card_hold_days=days,
    )


def load_regions(path=REGIONS_FILE):
    """Load and check the regions table; a region without hours, card rules or a credit rule
    takes the defaults (the national rule)."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    defaults = data.get("defaults", {})
    regions, claimed = {}, {}
    for key, row in data.get("regions", {}).items():
        region = _region(key, row, defaults, _area_codes(row, key))
        for code in region.area_codes:
            if code in claimed:
                raise RegionError(f"region {key}: area code {code} is already {claimed[code]}'s")
            claimed[code] = key
        regions[key] = region
    if data.get("default") not in regions:
        raise RegionError(f"default region {data.get('default')!r} is not in the table")
    neutral = _region(NEUTRAL, {}, defaults, ())
    return Regions(default=data["default"], by_key=regions, neutral=neutral)


def working_day(day):
    """Return whether `day` is a working day in China: public holidays off, 调休 days on.

    From the chinesecalendar package (the State Council's yearly notices); for a year it does
    not cover yet, Monday to Friday, with a log line to upgrade it.
    """
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        log.warning("chinesecalendar has no holidays for %s: upgrade it", day.year)
        return day.weekday() < 5


def agents_open(region, now):
    """Return whether agents answer at `now` (local time): working days, in the region's hours."""
    if not working_day(now.date()):
        return False
    moment = now.time()
    return any(start <= moment < end for start, end in region.agent_hours)
