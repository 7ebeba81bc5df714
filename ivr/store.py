"""The SQL store: accounts, payments, credits, call state and lockouts. The only SQL in ivr.

Amounts are kept as integer fen (exact on every database) and handed out as Decimal yuan.
Times are integer Unix seconds, which every database compares the same way.
"""

import datetime as dt
import threading
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from ivr.money import from_fen
from ivr.money import to_fen

metadata = sa.MetaData()

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("id_number", sa.String(18), nullable=False, unique=True),
    sa.Column("card_number", sa.String(19), unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("pin_hash", sa.String(200), nullable=False),
    sa.Column("region", sa.String(40), nullable=False),
    sa.Column("birth_date", sa.Date, nullable=False),
    sa.Column("category", sa.String(20), nullable=False),
    sa.Column("balance_fen", sa.BigInteger, nullable=False),
)

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Index("payments_by_account", "account_id", "period"),
)

credits = sa.Table(
    "credits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Index("credits_by_account", "account_id", "period"),
)

# Calls that Twilio reported ended: a replayed request of one is refused what it asks for.
ended_calls = sa.Table(
    "ended_calls",
    metadata,
    sa.Column("call_sid", sa.String(64), primary_key=True),
    sa.Column("ended_at", sa.BigInteger, nullable=False),
)

lockouts = sa.Table(
    "lockouts",
    metadata,
    sa.Column("subject", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("locked_until", sa.BigInteger),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

phrases = sa.Table(
    "phrases",
    metadata,
    sa.Column("phrase_id", sa.String(32), primary_key=True),  # content hash of the recipe
    sa.Column("lang", sa.String(8), nullable=False),
    sa.Column("clips", sa.Text, nullable=False),  # clip keys, space separated
)


class StoreError(RuntimeError):
    """The store cannot answer (down, unreachable, broken)."""


@dataclass(frozen=True)
class Account:
    id: int
    id_number: str
    card_number: str | None
    name: str
    pin_hash: str
    region: str
    birth_date: dt.date
    category: str
    balance: Decimal


@dataclass(frozen=True)
class Entry:
    """A payment or a credit: its month, amount and (for payments) status."""

    period: str
    amount: Decimal
    status: str | None = None


def epoch(moment):
    """Turn an aware datetime into Unix seconds."""
    return int(moment.timestamp())


def from_epoch(seconds):
    """Turn Unix seconds back into an aware UTC datetime (None stays None)."""
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


class Store:
    """One database, reached through a SQLAlchemy engine; the schema is made on first use."""

    def __init__(self, url):
        self.url = url
        # hide_parameters: a failed query must not put an ID number into an error message.
        self.engine = sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._ready = False
        self._lock = threading.Lock()

    def begin(self):
        """Open a transaction, creating the schema the first time."""
        if not self._ready:
            with self._lock:
                if not self._ready:
                    try:
                        metadata.create_all(self.engine)
                    except SQLAlchemyError as error:
                        raise StoreError(f"store unavailable: {type(error).__name__}") from error
                    self._ready = True
        return _Transaction(self.engine)

    # accounts

    def find_account(self, kind, number):
        """Return the account with this ID or card number, or None."""
        column = accounts.c.id_number if kind == "id" else accounts.c.card_number
        with self.begin() as conn:
            row = conn.execute(sa.select(accounts).where(column == number)).first()
        return _account(row)

    def get_account(self, account_id):
        """Return an account by its id, or None."""
        with self.begin() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.id == account_id)).first()
        return _account(row)

    def count_accounts(self):
        """Return how many accounts the store holds."""
        with self.begin() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(accounts)).scalar_one()

    def payments(self, account_id, offset, limit):
        """Return payments newest first, a page at a time."""
        query = (
            sa.select(payments)
            .where(payments.c.account_id == account_id)
            .order_by(payments.c.period.desc(), payments.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        with self.begin() as conn:
            rows = conn.execute(query).all()
        return [Entry(row.period, from_fen(row.amount_fen), row.status) for row in rows]

    def latest_credit(self, account_id):
        """Return the newest credit to an account, or None."""
        query = (
            sa.select(credits)
            .where(credits.c.account_id == account_id)
            .order_by(credits.c.period.desc(), credits.c.id.desc())
            .limit(1)
        )
        with self.begin() as conn:
            row = conn.execute(query).first()
        return None if row is None else Entry(row.period, from_fen(row.amount_fen))

    def replace_accounts(self, rows):
        """Insert or update accounts with their payments and credits, all or nothing.

        Each row is a dict with the account columns plus "payments" and "credits" lists of
        Entry; an account's payments and credits are replaced by the file's.
        """
        with self.begin() as conn:
            for row in rows:
                values = {k: v for k, v in row.items() if k not in ("payments", "credits")}
                values["balance_fen"] = to_fen(values.pop("balance"))
                found = conn.execute(
                    sa.select(accounts.c.id).where(accounts.c.id_number == values["id_number"])
                ).scalar()
                if found is None:
                    found = conn.execute(sa.insert(accounts).values(**values)).inserted_primary_key[
                        0
                    ]
                else:
                    conn.execute(sa.update(accounts).where(accounts.c.id == found).values(**values))
                for table, entries in ((payments, row["payments"]), (credits, row["credits"])):
                    conn.execute(sa.delete(table).where(table.c.account_id == found))
                    if entries:
                        conn.execute(sa.insert(table), [_entry(table, found, e) for e in entries])

    # calls

    def end_call(self, call_sid, now):
        """Remember that a call ended (a second report of it changes nothing)."""
        with self.begin() as conn:
            known = conn.execute(
                sa.select(ended_calls.c.call_sid).where(ended_calls.c.call_sid == call_sid)
            ).first()
            if known is None:
                conn.execute(sa.insert(ended_calls).values(call_sid=call_sid, ended_at=epoch(now)))

    def call_ended(self, call_sid):
        """Return whether Twilio reported this call ended."""
        with self.begin() as conn:
            found = conn.execute(
                sa.select(ended_calls.c.call_sid).where(ended_calls.c.call_sid == call_sid)
            ).first()
        return found is not None

    def purge_calls(self, before):
        """Forget calls that ended before a moment (their sealed states have expired)."""
        with self.begin() as conn:
            conn.execute(sa.delete(ended_calls).where(ended_calls.c.ended_at < epoch(before)))

    # assembled audio

    def save_phrase(self, phrase_id, lang, clips):
        """Keep the recipe of an assembled phrase, so any worker can assemble it again."""
        with self.begin() as conn:
            found = conn.execute(
                sa.select(phrases.c.phrase_id).where(phrases.c.phrase_id == phrase_id)
            ).first()
            if found is None:
                conn.execute(
                    sa.insert(phrases).values(phrase_id=phrase_id, lang=lang, clips=" ".join(clips))
                )

    def load_phrase(self, phrase_id):
        """Return (lang, clips) of an assembled phrase, or None."""
        with self.begin() as conn:
            row = conn.execute(sa.select(phrases).where(phrases.c.phrase_id == phrase_id)).first()
        return None if row is None else (row.lang, row.clips.split(" "))

    # lockouts

    def lockout(self, subject):
        """Return (failures, locked_until) for an identifier's keyed hash."""
        with self.begin() as conn:
            row = conn.execute(sa.select(lockouts).where(lockouts.c.subject == subject)).first()
        if row is None:
            return 0, None
        return row.failures, from_epoch(row.locked_until)

    def save_lockout(self, subject, failures, locked_until, now):
        """Record an identifier's failure count and lock end; zero failures clears it."""
        with self.begin() as conn:
            conn.execute(sa.delete(lockouts).where(lockouts.c.subject == subject))
            if failures:
                until = None if locked_until is None else epoch(locked_until)
                conn.execute(
                    sa.insert(lockouts).values(
                        subject=subject,
                        failures=failures,
                        locked_until=until,
                        updated_at=epoch(now),
                    )
                )


class _Transaction:
    """`with store.begin() as conn`: commit on success, and turn driver errors into StoreError."""

    def __init__(self, engine):
        self.engine = engine
        self.context = None

    def __enter__(self):
        try:
            self.context = self.engine.begin()
            return self.context.__enter__()
        except SQLAlchemyError as error:
            raise StoreError(f"store unavailable: {type(error).__name__}") from error

    def __exit__(self, kind, error, trace):
        try:
            self.context.__exit__(kind, error, trace)
        except SQLAlchemyError as failure:
            raise StoreError(f"store failed: {type(failure).__name__}") from failure
        if isinstance(error, SQLAlchemyError):
            raise StoreError(f"store failed: {type(error).__name__}") from error
        return False


def _sqlite_pragmas(connection, _record):
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _account(row):
    if row is None:
        return None
    values = dict(row._mapping)
    values["balance"] = from_fen(values.pop("balance_fen"))
    return Account(**values)


def _entry(table, account_id, entry):
    values = {"account_id": account_id, "period": entry.period, "amount_fen": to_fen(entry.amount)}
    if table is payments:
        values["status"] = entry.status
    return values
