"""Regions of the line: area codes, agent hours and personal-account credit rules (data)."""

import datetime as dt
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

REGIONS_FILE = Path(__file__).with_name("regions.toml")
CREDIT_KINDS = ("fixed_monthly", "fixed_yearly", "pension_share")


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

    def monthly_share(self):
        """Return the pension-share credit for one month, to the fen."""
        return (self.average_pension * self.percent / 100).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Region:
    key: str
    area_code: str
    agent_hours: tuple[tuple[dt.time, dt.time], ...]
    credit: CreditRule


@dataclass(frozen=True)
class Regions:
    default: str
    by_key: dict

    def __getitem__(self, key):
        return self.by_key[key]

    def __contains__(self, key):
        return key in self.by_key

    def for_dialled(self, number):
        """Pick the line's region from the dialled number: 0991-12333 is Urumqi."""
        digits = "".join(c for c in str(number or "") if c.isdigit())
        if digits.startswith("86") and len(digits) > 7:
            digits = "0" + digits[2:]  # +86 991 12333 -> 0991 12333
        for region in self.by_key.values():
            if digits == region.area_code + "12333":
                return region
        return self.by_key[self.default]


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
    fields = {"older_age": data.get("older_age")}
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


def load_regions(path=REGIONS_FILE):
    """Load and check the regions table."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    regions = {}
    for key, row in data.get("regions", {}).items():
        regions[key] = Region(
            key=key,
            area_code=str(row["area_code"]),
            agent_hours=_hours(row["agent_hours"], key),
            credit=_credit(row.get("credit", {}), key),
        )
    if data.get("default") not in regions:
        raise RegionError(f"default region {data.get('default')!r} is not in the table")
    return Regions(default=data["default"], by_key=regions)


def agents_open(region, now):
    """Return whether agents answer at `now` (local time): workdays, within the region's hours."""
    if now.weekday() >= 5:
        return False
    moment = now.time()
    return any(start <= moment < end for start, end in region.agent_hours)
