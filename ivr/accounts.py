"""The account import format, the demo seed, and the `flask accounts` commands."""

import datetime as dt
import json
import os
import re
import tomllib
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from decimal import InvalidOperation
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from ivr import identity
from ivr.store import Entry
from ivr.store import StoreError
from ivr.store import accounts as accounts_table

DEMO_FILE = Path(__file__).with_name("demo_accounts.toml")
CATEGORIES = ("employee", "retiree", "resident")
STATUSES = ("paid", "pending", "overdue")
# [0-9], not \d, which also takes full-width and other scripts' digits.
PERIOD = re.compile(r"([0-9]{4})-([0-9]{2})")
AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")
FIRST_YEAR = 1900  # no payment or credit is older; year 0000 is a typo
NAME_LENGTH = accounts_table.c.name.type.length
CHUNK = 256  # rows checked and hashed at a time (a bad row stops the import within a chunk)


class ImportError_(ValueError):  # noqa: N801 - "ImportError" is a builtin
    """A row of an import file that cannot be taken, named by its index and field."""


def _amount(value, where):
    if isinstance(value, str) and value.strip().startswith("-"):
        raise ImportError_(f"{where}: amount must not be negative, got {value!r}")
    if not isinstance(value, str) or not AMOUNT.fullmatch(value.strip()):
        raise ImportError_(
            f'{where}: amount must be a decimal string like "1234.56", got {value!r}'
        )
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        raise ImportError_(f"{where}: {value!r} is not an amount") from None


def _period(value, where):
    match = PERIOD.fullmatch(str(value))
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ImportError_(f"{where}: period must be YYYY-MM, got {value!r}")
    if int(match.group(1)) < FIRST_YEAR:
        raise ImportError_(f"{where}: period year must be {FIRST_YEAR} or later, got {value!r}")
    return value


def _shares(item, amount, category, at):
    """A payment's contribution base and employer's share, where given: (base, employer).

    Optional, exact decimals like `amount` (the personal share). An employer's share comes
    with the base it is a share of; neither share exceeds the base; a resident's yearly
    payment has neither.
    """
    base, employer = item.get("base"), item.get("employer")
    if base is None and employer is None:
        return None, None
    if category == "resident":
        raise ImportError_(f"{at}: a resident's payment has no base or employer's share")
    if base is None:
        raise ImportError_(f"{at}: employer: needs the base it is a share of")
    base = _amount(base, f"{at}: base")
    if base == 0:
        raise ImportError_(f"{at}: base must be more than 0")
    if amount > base:
        raise ImportError_(f"{at}: amount (the personal share) must not exceed base")
    if employer is not None:
        employer = _amount(employer, f"{at}: employer")
        if employer > base:
            raise ImportError_(f"{at}: employer must not exceed base")
    return base, employer


def parse_account(row, index, regions, cost=identity.SCRYPT_N):
    """Check one account of an import file and return it ready for the store, PIN hashed.

    `cost` is the scrypt N the PIN is hashed with (IVR_PIN_HASH_COST).
    """
    where = f"accounts[{index}]"
    if not isinstance(row, dict):
        raise ImportError_(f"{where}: must be an object")
    try:
        id_number = identity.normalize_id(str(row.get("id_number", "")))
    except identity.IdentityError as error:
        raise ImportError_(f"{where}: id_number: {error}") from None
    card = row.get("card_number")
    if card not in (None, ""):
        try:
            card = identity.normalize_card(str(card))
        except identity.IdentityError as error:
            raise ImportError_(f"{where}: card_number: {error}") from None
    else:
        card = None
    name = row.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ImportError_(f"{where}: name: required")
    # Checked here, alike for every store: SQLite would keep what PostgreSQL refuses.
    if len(name.strip()) > NAME_LENGTH:
        raise ImportError_(f"{where}: name: at most {NAME_LENGTH} characters")
    if any(unicodedata.category(character) == "Cc" for character in name):
        raise ImportError_(f"{where}: name: a control character (such as NUL) is not a name's")
    try:
        identity.check_pin_format(str(row.get("pin", "")))
    except identity.IdentityError as error:
        raise ImportError_(f"{where}: pin: {error}") from None
    region = row.get("region")
    if not isinstance(region, str) or region not in regions:
        known = ", ".join(sorted(regions.by_key))
        raise ImportError_(
            f"{where}: region: {region!r} is not a known region (ivr/regions.toml: {known})"
        )
    born = identity.birth_date(id_number)
    if row.get("birth_date") not in (None, "", born.isoformat()):
        raise ImportError_(
            f"{where}: birth_date: {row['birth_date']!r} differs from the ID number's"
        )
    if row.get("category") not in CATEGORIES:
        raise ImportError_(f"{where}: category: must be one of {', '.join(CATEGORIES)}")
    balance = _amount(row.get("balance"), f"{where}: balance")
    payments = []
    for number, item in enumerate(row.get("payments") or []):
        at = f"{where}: payments[{number}]"
        if not isinstance(item, dict) or item.get("status") not in STATUSES:
            raise ImportError_(f"{at}: status must be one of {', '.join(STATUSES)}")
        period = _period(item.get("period"), at)
        amount = _amount(item.get("amount"), at)
        base, employer = _shares(item, amount, row["category"], at)
        payments.append(Entry(period, amount, item["status"], base, employer))
    credits = []
    for number, item in enumerate(row.get("credits") or []):
        at = f"{where}: credits[{number}]"
        if not isinstance(item, dict):
            raise ImportError_(f"{at}: must be an object")
        credits.append(Entry(_period(item.get("period"), at), _amount(item.get("amount"), at)))
    return {
        "id_number": id_number,
        "card_number": card,
        "name": name.strip(),
        "pin_hash": identity.hash_pin(str(row["pin"]), n=cost),
        "region": row["region"],
        "birth_date": born,
        "category": row["category"],
        "balance": balance,
        "payments": payments,
        "credits": credits,
    }


def parse_file(document, regions, store, cost=identity.SCRYPT_N, progress=None):
    """Check a whole import document and hash its PINs; raise on the first bad row.

    All of this happens before anything is written or locked. Hashing takes most of the time
    (about 30 ms a PIN at the default cost), so rows are hashed on every core, a chunk at a
    time, and `progress(n)` is told as each chunk is done.
    """
    if not isinstance(document, dict) or not isinstance(document.get("accounts"), list):
        raise ImportError_('the file must be {"accounts": [...]}')
    raw_rows = document["accounts"]
    rows = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # scrypt frees the GIL
        for start in range(0, len(raw_rows), CHUNK):
            chunk = raw_rows[start : start + CHUNK]
            indexes = range(start, start + len(chunk))
            rows += pool.map(
                lambda row, index: parse_account(row, index, regions, cost), chunk, indexes
            )
            if progress:
                progress(len(chunk))
    seen_ids, seen_cards = {}, {}
    for index, row in enumerate(rows):
        if row["id_number"] in seen_ids:
            raise ImportError_(
                f"accounts[{index}]: id_number: the same as accounts[{seen_ids[row['id_number']]}]"
            )
        seen_ids[row["id_number"]] = index
        card = row["card_number"]
        if card:
            if card in seen_cards:
                raise ImportError_(
                    f"accounts[{index}]: card_number: the same as accounts[{seen_cards[card]}]"
                )
            seen_cards[card] = index
    holders = store.card_holders(seen_cards)
    for card, index in sorted(seen_cards.items(), key=lambda item: item[1]):
        if card in holders and holders[card] != rows[index]["id_number"]:
            raise ImportError_(f"accounts[{index}]: card_number: already another account's")
    return rows


def import_accounts(document, regions, store, cost=identity.SCRYPT_N, checked=None, written=None):
    """Import a document atomically; return how many accounts it holds.

    `checked(n)` and `written(n)` report progress: rows checked and hashed, rows staged.
    """
    rows = parse_file(document, regions, store, cost, checked)
    store.replace_accounts(rows, written)
    return len(rows)


def _months_back(today, count):
    """Return the `count` months before today's, oldest first, as YYYY-MM."""
    year, month = today.year, today.month
    periods = []
    for _ in range(count):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        periods.append(f"{year:04d}-{month:02d}")
    return periods[::-1]


def _age(born, on):
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _retiree_credits(regions, region, born, periods, own=None):
    """Credits a retiree gets under the region's rule, month by month (or once a year).

    Where the rule gives no figure, the person's own made-up monthly sum (`own`) is used.
    """
    rule = regions[region].credit
    entries = []
    for period in periods:
        year, month = map(int, period.split("-"))
        older = rule.older_age is not None and _age(born, dt.date(year, month, 1)) >= rule.older_age
        amount = (rule.older_amount if older else rule.amount) or own
        if rule.kind != "fixed_yearly":
            entries.append({"period": period, "amount": str(amount)})
        elif month == rule.month:  # credited once, in the first month of the 医保年度
            entries.append({"period": period, "amount": str(amount)})
    return entries


def demo_document(regions, today):
    """Return the demo accounts: valid IDs (one ending in X) across the seed regions."""
    months = _months_back(today, 14)
    people = tomllib.loads(DEMO_FILE.read_text(encoding="utf-8"))["people"]
    accounts = []
    for person in people:
        row, id_number = dict(person), person["id_number"]
        category, region = person["category"], person["region"]
        born = identity.birth_date(id_number)
        if category == "employee":
            base, personal = row.pop("monthly_base"), row.pop("monthly_personal")
            employer = row.pop("monthly_employer")
            shares = {"amount": personal, "base": base, "employer": employer}
            row["payments"] = [{"period": p, "status": "paid", **shares} for p in months]
            row["payments"][-1]["status"] = "pending"
            # The personal share is what the personal account is credited, once received.
            row["credits"] = [
                {"period": p["period"], "amount": personal} for p in row["payments"][:-1]
            ]
        elif category == "resident":
            row["payments"] = [
                {"period": f"{today.year - 3}-10", "amount": "380.00", "status": "paid"},
                {"period": f"{today.year - 2}-10", "amount": "400.00", "status": "paid"},
                {"period": f"{today.year - 1}-10", "amount": "400.00", "status": "paid"},
            ]
        else:
            own = row.pop("monthly_credit", None)
            row["credits"] = _retiree_credits(regions, region, born, months, own)
        accounts.append(row)
    return {"accounts": accounts}


@click.group("accounts", cls=AppGroup)
def accounts_cli():
    """Manage the mock account store."""


@accounts_cli.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
def import_command(file):
    """Import accounts from a JSON file (idempotent; all or nothing)."""
    try:
        document = json.load(file)
    except json.JSONDecodeError as error:
        raise click.ClickException(f"{file.name} is not JSON: {error}") from None
    hotline = current_app.extensions["ivr"]
    cost = current_app.config["IVR_PIN_HASH_COST"]
    total = len(document.get("accounts") or []) if isinstance(document, dict) else 0
    try:
        with (
            click.progressbar(length=total, label="Checking and hashing PINs") as checked,
            click.progressbar(length=total, label="Writing") as written,
        ):
            count = import_accounts(
                document, hotline.regions, hotline.store, cost, checked.update, written.update
            )
    except ImportError_ as error:
        raise click.ClickException(f"{error}. Nothing was imported.") from None
    except StoreError as error:
        raise click.ClickException(f"{error}. Nothing was imported.") from None
    click.echo(f"Imported {count} accounts.")


@accounts_cli.command("seed")
@click.option("--if-empty", is_flag=True, help="Only seed a store that has no accounts.")
def seed_command(if_empty):
    """Load the demo accounts and print them with their PINs, ready to dial."""
    hotline = current_app.extensions["ivr"]
    store = hotline.store
    if if_empty and store.count_accounts():
        click.echo("The store already has accounts; not seeding.")
        return
    document = demo_document(hotline.regions, hotline.clock().date())
    import_accounts(document, hotline.regions, store, current_app.config["IVR_PIN_HASH_COST"])
    click.echo("Demo accounts (mock data, not real people):")
    click.echo(f"  {'ID number':<20}{'card':<11}{'PIN':<8}{'region':<10}category")
    for row in document["accounts"]:
        click.echo(
            f"  {row['id_number']:<20}{row['card_number']:<11}{row['pin']:<8}"
            f"{row['region']:<10}{row['category']}"
        )
    click.echo("Key an ID's final X as * on the phone.")


def init_app(app):
    app.cli.add_command(accounts_cli)
