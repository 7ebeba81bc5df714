"""Regions of the line: area codes, agent hours and personal-account credit rules (data)."""

import datetime as dt
import functools
import logging
import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

REGIONS_FILE = Path(__file__).with_name("regions.toml")
CREDIT_KINDS = ("fixed_monthly", "fixed_yearly", "pension_share")
SOURCES = ("seed", "seed_shape", "national")  # where an example figure comes from
NOT_A_DIGIT = re.compile(r"\D")
HOTLINE = "12333"
log = logging.getLogger(__name__)


class RegionError(ValueError):
    """A regions table that cannot be used, naming the region and field."""


@dataclass(frozen=True)
class CreditRule:
    kind: str
    amount: Decimal | None = None
    older_age: int | None = None
    older_amount: Decimal | None = None
    percent: Decimal | None = None
    average_pension: Decimal | None = None
    source: str = "national"

    def monthly_share(self):
        """Return the pension-share credit for one month, to the fen."""
        return (self.average_pension * self.percent / 100).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Region:
    key: str
    area_codes: tuple[str, ...]
    agent_hours: tuple[tuple[dt.time, dt.time], ...]
    credit: CreditRule

    @property
    def area_code(self):
        """The region's main area code (its capital's)."""
        return self.area_codes[0]


@dataclass(frozen=True)
class Regions:
    default: str
    by_key: dict

    def __getitem__(self, key):
        return self.by_key[key]

    def __contains__(self, key):
        return key in self.by_key

    @functools.cached_property
    def by_area_code(self):
        """Area code -> region."""
        return {code: region for region in self.by_key.values() for code in region.area_codes}

    def for_dialled(self, number):
        """Pick the line's region from the dialled number: 0991-12333 is Urumqi.

        Plain 12333 is the configured default; any other number (an unknown area code, a
        Twilio number) is the default too, with a log line so a deployment can add its code.
        """
        digits = NOT_A_DIGIT.sub("", str(number or ""))
        if digits.startswith("86") and len(digits) > 7:
            digits = "0" + digits[2:]  # +86 991 12333 -> 0991 12333
        if digits == HOTLINE:
            return self.by_key[self.default]
        code = digits[: -len(HOTLINE)] if digits.endswith(HOTLINE) else None
        region = self.by_area_code.get(code)
        if region is None:
            shown = f"area code {code}" if code else f"a number that is not code + {HOTLINE}"
            log.info("dialled %s: not in the regions table; the line is %s", shown, self.default)
            return self.by_key[self.default]
        return region


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
    source = data.get("source", "national")
    if source not in SOURCES:
        raise RegionError(f"region {key}: credit.source must be one of {', '.join(SOURCES)}")
    fields = {"older_age": data.get("older_age"), "source": source}
    for name in ("amount", "older_amount", "percent", "average_pension"):
        if name in data:
            fields[name] = Decimal(str(data[name]))
    rule = CreditRule(kind=kind, **fields)
    needed = ("percent", "average_pension") if kind == "pension_share" else ("amount",)
    for name in needed:
        if getattr(rule, name) is None:
            raise RegionError(f"region {key}: credit.{name} is required for {kind}")
    if (rule.older_age is None) != (rule.older_amount is None):
        raise RegionError(f"region {key}: older_age and older_amount go together")
    return rule


def _area_codes(row, key):
    codes = row.get("area_codes")
    if not isinstance(codes, list) or not codes:
        raise RegionError(f'region {key}: area_codes must be a list like ["0991"]')
    for code in codes:
        if not (isinstance(code, str) and code.isdigit() and code.startswith("0")):
            raise RegionError(f"region {key}: area code {code!r} is not 0 and digits")
    return tuple(codes)


def load_regions(path=REGIONS_FILE):
    """Load and check the regions table; a region without hours or a credit rule takes the
    defaults (the national rule)."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    defaults = data.get("defaults", {})
    regions, claimed = {}, {}
    for key, row in data.get("regions", {}).items():
        hours = row.get("agent_hours", defaults.get("agent_hours"))
        if hours is None:
            raise RegionError(f"region {key}: agent_hours is required (or in [defaults])")
        region = Region(
            key=key,
            area_codes=_area_codes(row, key),
            agent_hours=_hours(hours, key),
            credit=_credit(row.get("credit", defaults.get("credit", {})), key),
        )
        for code in region.area_codes:
            if code in claimed:
                raise RegionError(f"region {key}: area code {code} is already {claimed[code]}'s")
            claimed[code] = key
        regions[key] = region
    if data.get("default") not in regions:
        raise RegionError(f"default region {data.get('default')!r} is not in the table")
    return Regions(default=data["default"], by_key=regions)


def agents_open(region, now):
    """Return whether agents answer at `now` (local time): workdays, within the region's hours."""
    if now.weekday() >= 5:
        return False
    moment = now.time()
    return any(start <= moment < end for start, end in region.agent_hours)
