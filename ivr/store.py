"""The SQL store: accounts, payments, credits, call state and lockouts. The only SQL in ivr.

Amounts are kept as integer fen (exact on every database) and handed out as Decimal yuan.
Times are integer Unix seconds, which every database compares the same way.
"""

import contextlib
import datetime as dt
import heapq
import itertools
import logging
import math
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import SQLAlchemyError

from ivr import deadline as webhook
from ivr import identity
from ivr.identity import MaskNumbers
from ivr.money import from_fen
from ivr.money import to_fen

log = identity.logger(__name__)

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

# A payment's contribution base and the employer's share (an employee's record shows both,
# where the data has them): a table of its own, as the schema has no migrations, one row per
# payment that has them. The personal share is the payment's own amount.
payment_shares = sa.Table(
    "payment_shares",
    metadata,
    sa.Column("payment_id", sa.ForeignKey("payments.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("base_fen", sa.BigInteger, nullable=False),
    sa.Column("employer_fen", sa.BigInteger),  # None: the data gives no employer's share
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

# An import is written here first, in short transactions, then moved into the tables above in
# one set-based transaction: the write lock is held for that move only, never for the file.
staged_accounts = sa.Table(
    "import_accounts",
    metadata,
    sa.Column("batch", sa.String(32), nullable=False, index=True),
    # The accounts' own columns, without their key and uniqueness: a batch is checked already.
    *(
        sa.Column(column.name, column.type, nullable=column.nullable)
        for column in accounts.columns
        if column.name != "id"
    ),
)

staged_entries = sa.Table(
    "import_entries",
    metadata,
    sa.Column("batch", sa.String(32), nullable=False, index=True),
    sa.Column("seq", sa.Integer, nullable=False),  # keeps the file's order
    sa.Column("kind", sa.String(8), nullable=False),  # payment | credit
    sa.Column("id_number", sa.String(18), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20)),
)

# The shares of a staged payment, by its entry's seq (a table of its own, like the above).
staged_shares = sa.Table(
    "import_shares",
    metadata,
    sa.Column("batch", sa.String(32), nullable=False, index=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("base_fen", sa.BigInteger, nullable=False),
    sa.Column("employer_fen", sa.BigInteger),
)

# A new name for the phrases table: its ids are now keyed with the secret and its rows expire,
# and a store made before keeps its old `phrases` table untouched (the schema has no migrations).
phrases = sa.Table(
    "phrase_recipes",
    metadata,
    sa.Column("phrase_id", sa.String(32), primary_key=True),  # keyed hash of the recipe
    sa.Column("lang", sa.String(8), nullable=False),
    sa.Column("clips", sa.Text, nullable=False),  # clip keys, space separated
    sa.Column("used_at", sa.BigInteger, nullable=False),  # last spoken: old ones are purged
)

# Cards reported lost on the line, by card number (not account row): a re-import of the
# accounts keeps them lost. A table of its own, as the schema has no migrations; a service
# window reports the card found (store.report_card_found), which deletes its row. A report
# lapses by itself after its hold (the region's card_hold_days): from then on it is read as
# lifted, and a new report replaces it.
lost_cards = sa.Table(
    "lost_cards",
    metadata,
    sa.Column("card_number", sa.String(19), primary_key=True),
    sa.Column("reported_at", sa.BigInteger, nullable=False),
)

# The reads a call makes, built once with bound parameters: SQLAlchemy then compiles each
# once and a request only binds values (building a SELECT anew cost twice what running it did).
ACCOUNT_BY = {
    "row": sa.select(accounts).where(accounts.c.id == sa.bindparam("key")),
    "id": sa.select(accounts).where(accounts.c.id_number == sa.bindparam("key")),
    "card": sa.select(accounts).where(accounts.c.card_number == sa.bindparam("key")),
}
PAYMENTS_PAGE = (
    sa.select(payments, payment_shares.c.base_fen, payment_shares.c.employer_fen)
    .select_from(payments.outerjoin(payment_shares, payment_shares.c.payment_id == payments.c.id))
    .where(payments.c.account_id == sa.bindparam("account_id"))
    .order_by(payments.c.period.desc(), payments.c.id.desc())
    .offset(sa.bindparam("offset"))
    .limit(sa.bindparam("limit"))
)
LATEST_CREDIT = (
    sa.select(credits)
    .where(credits.c.account_id == sa.bindparam("account_id"))
    .order_by(credits.c.period.desc(), credits.c.id.desc())
    .limit(1)
)
CARD_LOST = sa.select(lost_cards.c.card_number).where(
    lost_cards.c.card_number == sa.bindparam("card_number"),
    lost_cards.c.reported_at > sa.bindparam("lapsed_before"),
)
CALL_ENDED = sa.select(ended_calls.c.call_sid).where(
    ended_calls.c.call_sid == sa.bindparam("call_sid")
)
PHRASE = sa.select(phrases).where(phrases.c.phrase_id == sa.bindparam("phrase_id"))
LOCKOUT = sa.select(lockouts).where(lockouts.c.subject == sa.bindparam("subject"))
# The reads `Store._fetch` runs, compiled for the database as the store is made.
READS = (*ACCOUNT_BY.values(), PAYMENTS_PAGE, LATEST_CREDIT, CARD_LOST, CALL_ENDED)

# Accounts per staging transaction of an import: each holds the write lock for a moment only.
IMPORT_BATCH = 1000
# Seconds any store call may wait (connect, statement, lock) before the caller hears "busy".
DEFAULT_TIMEOUT = 5
# Store calls one process runs at once; one more is refused at once (the caller hears the busy
# message) rather than queued, so a hung store holds at most this many of a worker's threads
# and the others stay free for menu steps, which need no store. Keep it under gunicorn's threads.
DEFAULT_CONCURRENCY = 12


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
    """A payment or a credit: its month, amount and (for payments) status.

    A payment's `amount` is the personal share; `base` (the contribution base) and
    `employer` (the employer's share) are there where the data gives them.
    """

    period: str
    amount: Decimal
    status: str | None = None
    base: Decimal | None = None
    employer: Decimal | None = None


def epoch(moment):
    """Turn an aware datetime into Unix seconds."""
    return int(moment.timestamp())


def _lapsed_before(now, hold):
    """The Unix second at or before which a report made has lapsed by `now`."""
    return epoch(now) - int(hold.total_seconds())


def from_epoch(seconds):
    """Turn Unix seconds back into an aware UTC datetime (None stays None)."""
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


class Store:
    """One database, reached through a SQLAlchemy engine; `prepare` makes the schema at start."""

    def __init__(self, url, timeout=DEFAULT_TIMEOUT, concurrency=DEFAULT_CONCURRENCY):
        """`timeout` (seconds) bounds every wait: connecting, a statement, a lock, the pool.

        Twilio gives a webhook 15 s; a store that hangs must fail well before, so the caller
        hears our busy message instead of Twilio's application error. Inside a webhook the
        wait is also cut to what is left of the webhook's own deadline (ivr.deadline).
        """
        self.url = url
        self.timeout = timeout
        self.concurrency = concurrency
        self.gate = threading.BoundedSemaphore(concurrency)
        # hide_parameters: a failed query must not put an ID number into an error message.
        options = {"hide_parameters": True}
        backend = sa.make_url(url).get_backend_name()
        if backend == "postgresql":
            # A server that restarted left dead connections in the pool: test each one out.
            # (A SQLite file has no server to lose, and the ping would double every read.)
            options["pool_pre_ping"] = True
            options["pool_timeout"] = timeout
            options["connect_args"] = {
                "connect_timeout": max(1, round(timeout)),
                "options": f"-c statement_timeout={round(timeout * 1000)}"
                f" -c lock_timeout={round(timeout * 1000)}",
                # A server that stops acknowledging (a cut network) drops the connection
                # instead of holding the request; the two above need a server that answers.
                "tcp_user_timeout": round(timeout * 1000),
            }
        elif backend == "sqlite":
            options["connect_args"] = {"timeout": timeout}
            if sa.make_url(url).database not in (None, "", ":memory:"):  # memory has no queue
                options["pool_timeout"] = timeout
        self.engine = sa.create_engine(url, **options)
        self.watchdog = backend == "postgresql"  # a network can be slow; a file cannot
        self.sqlite = backend == "sqlite"  # a lock's wait is set per call (busy_timeout)
        # A read is one statement: on PostgreSQL it runs in autocommit, saving the BEGIN and
        # ROLLBACK round trips (SQLite's driver begins no transaction for a SELECT anyway).
        self.reads_autocommit = backend == "postgresql"
        if self.watchdog:
            _Deadline.guard_pings(self.engine.dialect)
            sa.event.listen(self.engine, "do_connect", _Deadline.bound_reconnect)
        if self.sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas(timeout))
        _refuse_row_logging()
        self._ready = False
        self._reads = {statement: _Read(statement, self.engine.dialect) for statement in READS}

    def _fetch(self, statement, params, many=False):
        """Run one of the call's reads (a constant above) and return its row(s) as dicts.

        On a pooled DBAPI connection: the SQL, its parameters' order and the columns'
        conversions are SQLAlchemy's, compiled once, but a request skips its Connection and
        Result objects, which cost more than the query at this size. Bounded like any call.
        """
        read = self._reads[statement]
        self._admit()
        try:
            self._make_schema_once()
            seconds = self._seconds()
            deadline = _Deadline(seconds) if self.watchdog else None
            wait = seconds if self.sqlite else None
            with _Checkout(self.engine, deadline, self.reads_autocommit, wait) as connection:
                cursor = connection.cursor()
                try:
                    cursor.execute(read.sql, read.arguments(params))
                    rows = cursor.fetchall() if many else cursor.fetchmany(1)
                finally:
                    cursor.close()
        except (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error) as error:
            raise StoreError(f"store failed: {type(error).__name__}") from error
        finally:
            self.gate.release()
        found = [read.mapping(row) for row in rows]
        return found if many else (found[0] if found else None)

    def begin(self):
        """Open a transaction (making the schema first if start-up could not)."""
        self._admit()
        try:
            self._make_schema_once()
            return self._transaction(release=self.gate.release)
        except BaseException:
            self.gate.release()
            raise

    def prepare(self):
        """At start-up: make or check the schema and delete what a killed import staged.

        Done here, bounded like any call, never under a lock on a request's first use: a
        store that stalled then held every thread of a worker, menus included. Staged rows
        are personal data; an import still running elsewhere finds its batch gone and
        fails whole (replace_accounts), so nothing is half imported.
        """
        self._admit()
        try:
            self._make_schema_once()
            with self._transaction() as conn:
                conn.execute(sa.delete(staged_shares))
                conn.execute(sa.delete(staged_entries))
                conn.execute(sa.delete(staged_accounts))
        finally:
            self.gate.release()
            # No connection is kept from start-up: gunicorn forks its workers from here.
            self.engine.dispose()

    def _admit(self):
        """Take a place among the store calls this process runs, or raise StoreError at once."""
        if not self.gate.acquire(blocking=False):
            raise StoreError(f"store busy: {self.concurrency} calls already wait on it")

    def _seconds(self):
        """How long this call may wait: the timeout, cut to what the webhook has left."""
        try:
            return webhook.left(self.timeout)
        except webhook.Expired as error:
            raise StoreError("store call skipped: the webhook's deadline has passed") from error

    def _transaction(self, release=None):
        seconds = self._seconds()
        return _Transaction(
            self.engine,
            seconds if self.watchdog else None,
            wait=seconds if self.sqlite else None,
            release=release,
        )

    def _make_schema_once(self):
        """Create the schema if it is not known to exist, under this call's own deadline.

        No lock: threads that find it missing each try, each bounded, none waiting on another.
        """
        if self._ready:
            return
        with self._transaction() as conn:
            metadata.create_all(conn)
        self._ready = True

    # accounts

    def find_account(self, kind, number):
        """Return the account with this ID or card number, or None."""
        return _account(self._fetch(ACCOUNT_BY["id" if kind == "id" else "card"], {"key": number}))

    def get_account(self, account_id):
        """Return an account by its id, or None."""
        return _account(self._fetch(ACCOUNT_BY["row"], {"key": account_id}))

    def ping(self):
        """Ask the database one trivial question; raise StoreError when it cannot answer."""
        with self.begin() as conn:
            conn.execute(sa.text("SELECT 1"))

    def count_accounts(self):
        """Return how many accounts the store holds."""
        with self.begin() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(accounts)).scalar_one()

    def payments(self, account_id, offset, limit):
        """Return payments newest first, a page at a time."""
        page = {"account_id": account_id, "offset": offset, "limit": limit}
        rows = self._fetch(PAYMENTS_PAGE, page, many=True)
        return [
            Entry(
                row["period"],
                from_fen(row["amount_fen"]),
                row["status"],
                _yuan(row["base_fen"]),
                _yuan(row["employer_fen"]),
            )
            for row in rows
        ]

    def latest_credit(self, account_id):
        """Return the newest credit to an account, or None."""
        row = self._fetch(LATEST_CREDIT, {"account_id": account_id})
        return None if row is None else Entry(row["period"], from_fen(row["amount_fen"]))

    def card_holders(self, cards):
        """Return {card number: ID number} for those of these cards that accounts hold."""
        cards, found = list(cards), {}
        for start in range(0, len(cards), IMPORT_BATCH):
            chunk = cards[start : start + IMPORT_BATCH]
            query = sa.select(accounts.c.card_number, accounts.c.id_number).where(
                accounts.c.card_number.in_(chunk)
            )
            with self.begin() as conn:
                found.update((card, id_number) for card, id_number in conn.execute(query))
        return found

    def replace_accounts(self, rows, progress=None):
        """Insert or update accounts with their payments and credits, all or nothing.

        Each row is a dict with the account columns plus "payments" and "credits" lists of
        Entry; an account's payments and credits are replaced by the file's. The rows are
        staged in batches of IMPORT_BATCH, each its own short transaction, then moved in one
        transaction of a few set-based statements, so calls wait for the move only.
        `progress(n)` is told as each batch is staged.
        """
        batch = uuid.uuid4().hex
        try:
            seq = with_shares = 0
            for start in range(0, len(rows), IMPORT_BATCH):
                chunk = rows[start : start + IMPORT_BATCH]
                staged, entries, shares = [], [], []
                for row in chunk:
                    values = {k: v for k, v in row.items() if k not in ("payments", "credits")}
                    values["balance_fen"] = to_fen(values.pop("balance"))
                    staged.append(values | {"batch": batch})
                    for kind, items in (("payment", row["payments"]), ("credit", row["credits"])):
                        for entry in items:
                            seq += 1
                            entries.append(_staged_entry(batch, seq, kind, row, entry))
                            if entry.base is not None:
                                shares.append(_staged_shares(batch, seq, entry))
                with self.begin() as conn:
                    conn.execute(sa.insert(staged_accounts), staged)
                    if entries:
                        conn.execute(sa.insert(staged_entries), entries)
                    if shares:
                        conn.execute(sa.insert(staged_shares), shares)
                with_shares += len(shares)
                if progress:
                    progress(len(chunk))
            with self.begin() as conn:
                _move_staged(conn, batch, (len(rows), seq, with_shares))
        finally:
            with self.begin() as conn:
                for table in (staged_accounts, staged_entries, staged_shares):
                    conn.execute(sa.delete(table).where(table.c.batch == batch))

    # self-service

    def set_pin_hash(self, account_id, pin_hash, expected=None):
        """Replace an account's PIN hash in one statement; return whether it was replaced.

        With `expected`, only while the hash is still that one (compare and set): of two
        changes made against the same PIN, the second finds it gone and changes nothing.
        """
        statement = sa.update(accounts).where(accounts.c.id == account_id)
        if expected is not None:
            statement = statement.where(accounts.c.pin_hash == expected)
        with self.begin() as conn:
            result = conn.execute(statement.values(pin_hash=pin_hash))
        return result.rowcount == 1

    def report_card_lost(self, card_number, now, hold):
        """Mark a card lost for `hold` (a timedelta); return False when a report still holds.

        One statement, no race: a report that has lapsed is replaced by this one.
        """
        row = lost_cards.c
        statement = (
            self._insert(lost_cards)
            .values(card_number=card_number, reported_at=epoch(now))
            .on_conflict_do_update(
                index_elements=[row.card_number],
                set_={"reported_at": epoch(now)},
                where=row.reported_at <= _lapsed_before(now, hold),
            )
            .returning(row.card_number)  # a row only when this report inserted or renewed it
        )
        with self.begin() as conn:
            return conn.execute(statement).first() is not None

    def card_lost(self, card_number, now, hold):
        """Return whether a card is reported lost: reported less than `hold` before `now`."""
        params = {"card_number": card_number, "lapsed_before": _lapsed_before(now, hold)}
        return self._fetch(CARD_LOST, params) is not None

    def report_card_found(self, card_number):
        """A service window saw the card: it identifies its holder again."""
        with self.begin() as conn:
            conn.execute(sa.delete(lost_cards).where(lost_cards.c.card_number == card_number))

    # calls

    def end_call(self, call_sid, now):
        """Remember that a call ended (a second report of it changes nothing)."""
        with self.begin() as conn:
            known = conn.execute(CALL_ENDED, {"call_sid": call_sid}).first()
            if known is None:
                conn.execute(sa.insert(ended_calls).values(call_sid=call_sid, ended_at=epoch(now)))

    def call_ended(self, call_sid):
        """Return whether Twilio reported this call ended."""
        return self._fetch(CALL_ENDED, {"call_sid": call_sid}) is not None

    def purge_calls(self, before):
        """Forget calls that ended before a moment (their sealed states have expired)."""
        with self.begin() as conn:
            conn.execute(sa.delete(ended_calls).where(ended_calls.c.ended_at < epoch(before)))

    # assembled audio

    def save_phrase(self, phrase_id, lang, clips, now):
        """Keep the recipe of an assembled phrase, so any worker can assemble it again.

        Saying it again refreshes `used_at`, so a phrase still being spoken is never purged.
        """
        values = {"phrase_id": phrase_id, "lang": lang, "clips": " ".join(clips)}
        values["used_at"] = epoch(now)
        statement = self._insert(phrases).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[phrases.c.phrase_id], set_={"used_at": epoch(now)}
        )
        with self.begin() as conn:
            conn.execute(statement)

    def load_phrase(self, phrase_id):
        """Return (lang, clips) of an assembled phrase, or None."""
        with self.begin() as conn:
            row = conn.execute(PHRASE, {"phrase_id": phrase_id}).first()
        return None if row is None else (row.lang, row.clips.split(" "))

    def purge_phrases(self, before):
        """Forget the recipes of phrases last spoken before a moment."""
        with self.begin() as conn:
            conn.execute(sa.delete(phrases).where(phrases.c.used_at < epoch(before)))

    # lockouts: one row per keyed hash of an account, an unknown number, or a caller

    def lockout(self, subject):
        """Return (failures, locked_until) for a subject."""
        with self.begin() as conn:
            row = conn.execute(LOCKOUT, {"subject": subject}).first()
        if row is None:
            return 0, None
        return row.failures, from_epoch(row.locked_until)

    def count_attempt(self, subject, now, limit, lock):
        """Count one attempt BEFORE it is checked; return the count so far, or None if locked.

        One statement (INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING, the same on SQLite
        and PostgreSQL) reads and bumps the count, so parallel guesses cannot all see the same
        count: at most `limit` attempts are let through until the lock ends. The attempt that
        reaches the limit sets the lock (for `lock`, a timedelta) at once; a success clears it.
        An expired lock starts a fresh count, and so does a count whose last attempt is older
        than the lock would last: wrong PINs weeks apart never add up to a lock.
        """
        at, until = epoch(now), epoch(now + lock)
        row = lockouts.c
        expired = sa.and_(row.locked_until.is_not(None), row.locked_until <= at)
        window = int(lock.total_seconds())
        stale = sa.and_(row.locked_until.is_(None), row.updated_at <= at - window)
        count = sa.case((sa.or_(expired, stale), 1), else_=row.failures + 1)
        statement = (
            self._insert(lockouts)
            .values(
                subject=subject,
                failures=1,
                locked_until=until if limit <= 1 else None,
                updated_at=at,
            )
            .on_conflict_do_update(
                index_elements=[row.subject],
                set_={
                    "failures": count,
                    "locked_until": sa.case(
                        (count >= limit, sa.literal(until, sa.BigInteger)),
                        else_=sa.null(),
                    ),
                    "updated_at": at,
                },
                where=sa.or_(row.locked_until.is_(None), row.locked_until <= at),
            )
            .returning(row.failures)
        )
        with self.begin() as conn:
            return conn.execute(statement).scalar()

    def uncount_attempt(self, subject, unlock=False):
        """Give back an attempt that was counted but not checked (or checked and right).

        `unlock` when that attempt was the one that set the lock.
        """
        values = {"failures": lockouts.c.failures - 1}
        if unlock:
            values["locked_until"] = None
        with self.begin() as conn:
            conn.execute(
                sa.update(lockouts)
                .where(lockouts.c.subject == subject, lockouts.c.failures > 0)
                .values(**values)
            )

    def clear_lockout(self, subject):
        """Forget a subject's failures: the right PIN was given."""
        with self.begin() as conn:
            conn.execute(sa.delete(lockouts).where(lockouts.c.subject == subject))

    def purge_lockouts(self, before, now):
        """Forget counts not touched since `before` whose lock (if any) has ended.

        Each call with a wrong PIN leaves a row for its CallSid; nothing else removes it.
        """
        row = lockouts.c
        ended = sa.or_(row.locked_until.is_(None), row.locked_until <= epoch(now))
        with self.begin() as conn:
            conn.execute(sa.delete(lockouts).where(row.updated_at < epoch(before), ended))

    def _insert(self, table):
        """An INSERT that knows ON CONFLICT: both dialects spell it the same way."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)


class _Watchdog:
    """One thread per process that fires the deadlines whose time is up. A store call arms
    a deadline here rather than starting a timer thread of its own, which cost more than a
    read. A deadline called off stays queued and is skipped when its time comes."""

    GRAIN = 0.05  # seconds a deadline may fire late, so that a busy line's deadlines fire together

    def __init__(self):
        self._forget()
        os.register_at_fork(after_in_child=self._forget)  # a forked worker has no thread yet

    def _forget(self):
        self.wake = threading.Condition()
        self.queue = []  # (when, sequence, deadline), earliest first
        self.sequence = itertools.count()
        self.thread = None

    def arm(self, deadline):
        with self.wake:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="store-deadlines")
                self.thread.daemon = True
                self.thread.start()
            when = time.monotonic() + deadline.seconds
            heapq.heappush(self.queue, (when, next(self.sequence), deadline))
            if self.queue[0][2] is deadline:
                self.wake.notify()

    def _run(self):
        while True:
            with self.wake:
                now = time.monotonic()
                due = []
                while self.queue and self.queue[0][0] <= now:
                    due.append(heapq.heappop(self.queue)[2])
                if not due:
                    self.wake.wait(self.queue[0][0] - now + self.GRAIN if self.queue else None)
            for deadline in due:
                try:
                    deadline.expire()
                except Exception:  # one deadline's failure must not end every other's watch
                    log.exception("a store deadline could not cut its connection")


class _Deadline:
    """A watchdog on one store call's connection: when time is up, cut its socket.

    The server-side timeouts need a server that answers; a network that delivers its bytes
    late would hold a webhook past Twilio's 15 s. Shutting the socket down makes the driver
    fail at once, and the caller hears the busy message.
    """

    watched = threading.local()  # the store call whose connection the pool hands out now
    watchdog = _Watchdog()

    def __init__(self, seconds):
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.connection = None
        self.expired = False
        self.done = False  # the connection is being given back: never cut it from now on
        self.lock = threading.Lock()

    def expire(self):
        with self.lock:
            if self.done:
                return
            self.expired = True
            self.cut()

    def stop(self):
        """Call it off before the connection goes back to the pool: once this returns, no
        cut can land on a connection another request may already be using."""
        with self.lock:
            self.done = True

    def watch(self, dbapi_connection):
        self.connection = dbapi_connection
        if self.expired:
            self.cut()

    def cut(self):
        try:
            sock = socket.socket(fileno=os.dup(self.connection.pgconn.socket))
        except Exception:  # no connection yet, or one already closed or lost: nothing to cut
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    @classmethod
    def bound_reconnect(cls, dialect, _record, _cargs, cparams):
        """Connect within what the store call has left: after the deadline cut a stalled
        pool ping, the pool's reconnect must not wait a whole timeout of its own again."""
        deadline = getattr(cls.watched, "deadline", None)
        if deadline is None:
            return None
        left = deadline.at - time.monotonic()
        if deadline.expired or left <= 0:
            raise dialect.loaded_dbapi.OperationalError("no time left to reconnect")
        cparams["connect_timeout"] = max(2, math.ceil(left))  # libpq's least useful value
        return None

    @classmethod
    def guard_pings(cls, dialect):
        """Let the deadline of the store call asking for a connection cover the pool's ping."""
        ping = dialect.do_ping

        def do_ping(dbapi_connection):
            deadline = getattr(cls.watched, "deadline", None)
            if deadline is not None:
                deadline.watch(dbapi_connection)
            return ping(dbapi_connection)

        dialect.do_ping = do_ping


def _connect(connect, deadline, dbapi_of):
    """Return `connect()`; under a deadline, its clock runs from before the pool's checkout
    (which may ping the server) and it watches the connection, or stops on a failure."""
    if deadline is None:
        return connect()
    _Deadline.watchdog.arm(deadline)
    _Deadline.watched.deadline = deadline
    try:
        connection = connect()
        deadline.watch(dbapi_of(connection))
        return connection
    except BaseException:
        deadline.stop()
        raise
    finally:
        _Deadline.watched.deadline = None


class _Read:
    """A SELECT compiled once for a database: its SQL, parameter order and column conversions."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        for bind in compiled.binds.values():  # the driver gets the parameters as they are
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                raise TypeError(f"a read's parameter needs SQLAlchemy's conversion: {bind.key}")
        self.sql = str(compiled)
        self.order = compiled.positiontup if dialect.positional else None
        self.defaults = compiled.params  # values the statement holds itself (a LIMIT 1)
        columns = list(statement.selected_columns)
        self.names = tuple(column.name for column in columns)
        # e.g. SQLite keeps a date as text: the Date type turns it back into a date.
        self.converters = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )

    def arguments(self, params):
        """The parameters as the driver takes them: in order, or by name."""
        params = {**self.defaults, **params}
        return params if self.order is None else tuple(params[name] for name in self.order)

    def mapping(self, row):
        """A fetched row as {column: value}, each value converted as SQLAlchemy would."""
        return {
            name: value if convert is None or value is None else convert(value)
            for name, convert, value in zip(self.names, self.converters, row, strict=True)
        }


class _Checkout:
    """`with _Checkout(engine, deadline) as connection`: a pooled DBAPI connection, given back
    afterwards with its read ended (rolled back, or out of autocommit); one the driver found
    broken, or the deadline cut, is dropped. In autocommit (psycopg's switch, which sends
    nothing) a read sends no BEGIN or ROLLBACK."""

    def __init__(self, engine, deadline=None, autocommit=False, wait=None):
        self.engine, self.deadline, self.autocommit = engine, deadline, autocommit
        self.wait = wait  # SQLite: seconds a lock may be waited for
        self.connection = None

    def __enter__(self):
        self.connection = _connect(
            self.engine.raw_connection, self.deadline, lambda pooled: pooled.dbapi_connection
        )
        try:
            if self.wait is not None:
                _sqlite_wait(self.connection.dbapi_connection, self.connection.info, self.wait)
            if self.autocommit:
                self.connection.dbapi_connection.autocommit = True
        except self.engine.dialect.loaded_dbapi.Error:
            _give_back(self.connection, self.deadline, broken=True)
            raise
        return self.connection

    def __exit__(self, kind, error, trace):
        broken = error is not None and self._is_disconnect(error)
        try:
            if not broken:
                self._end_read()
        except self.engine.dialect.loaded_dbapi.Error:
            broken = True  # the read is over either way: drop the connection, never lend it
        finally:
            _give_back(self.connection, self.deadline, broken)
        return False

    def _end_read(self):
        """End the read while still watched: roll its transaction back, or leave autocommit
        as the pool lends connections."""
        if self.autocommit:
            self.connection.dbapi_connection.autocommit = False
        else:
            self.connection.rollback()

    def _is_disconnect(self, error):
        dbapi = self.engine.dialect.loaded_dbapi
        return isinstance(error, dbapi.Error) and self.engine.dialect.is_disconnect(
            error, self.connection.dbapi_connection, None
        )


class _Transaction:
    """`with store.begin() as conn`: commit on success, and turn driver errors into StoreError.

    Under a deadline the commit is watched too; the watch ends before the connection goes
    back to the pool, and a connection it cut is dropped instead.
    """

    def __init__(self, engine, deadline=None, wait=None, release=None):
        self.engine = engine
        self.conn = self.transaction = None
        self.deadline = _Deadline(deadline) if deadline else None
        self.wait = wait  # SQLite: seconds a lock may be waited for
        self.release = release  # gives back the store call's place, once the call is over

    def __enter__(self):
        try:
            self.conn = _connect(
                self.engine.connect, self.deadline, lambda conn: conn.connection.dbapi_connection
            )
            if self.wait is not None:
                fairy = self.conn.connection
                _sqlite_wait(fairy.dbapi_connection, fairy.info, self.wait)
            self.transaction = self.conn.begin()
            return self.conn
        except (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error) as error:
            if self.conn is not None:
                _give_back(self.conn, self.deadline)
            self._release()
            raise StoreError(f"store unavailable: {type(error).__name__}") from error
        except BaseException:
            self._release()
            raise

    def _release(self):
        if self.release is not None:
            self.release()
            self.release = None

    def __exit__(self, kind, error, trace):
        try:
            try:
                if error is None:
                    self.transaction.commit()
                else:
                    self.transaction.rollback()
            finally:
                try:
                    _give_back(self.conn, self.deadline)
                finally:
                    self._release()
        except SQLAlchemyError as failure:
            raise StoreError(f"store failed: {type(failure).__name__}") from failure
        if isinstance(error, SQLAlchemyError):
            raise StoreError(f"store failed: {type(error).__name__}") from error
        return False


def _give_back(connection, deadline, broken=False):
    """Give a connection back to the pool once its deadline is called off; drop it instead
    when the deadline cut it or the driver found it broken."""
    if deadline:
        deadline.stop()
    if broken or (deadline is not None and deadline.expired):
        connection.invalidate()
    connection.close()


def _sqlite_wait(dbapi_connection, info, seconds):
    """Let this call wait for a lock `seconds` at most (SQLite's busy timeout, per connection)."""
    wait = round(seconds * 1000)
    if info.get("busy_ms") != wait:
        dbapi_connection.execute(f"PRAGMA busy_timeout={wait}")
        info["busy_ms"] = wait


def _sqlite_pragmas(timeout):
    def on_connect(connection, record):
        record.info["busy_ms"] = round(timeout * 1000)
        cursor = connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode a commit need not wait for the disk (only a checkpoint does); an
        # application crash loses nothing, a power cut at most the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={round(timeout * 1000)}")
        cursor.close()

    return on_connect


class _NoRows(logging.Filter):
    """Drop SQLAlchemy's DEBUG lines that print result rows; mask numbers in the rest.

    At DEBUG, sqlalchemy.engine logs every fetched row (names, hashes, balances) whatever
    hide_parameters says; an operator turning on SQL echo must not get personal data.
    """

    def filter(self, record):
        if isinstance(record.msg, str) and record.msg.startswith("Row "):
            return False
        return MaskNumbers().filter(record)


def _refuse_row_logging():
    engine_log = logging.getLogger("sqlalchemy.engine.Engine")
    if not any(isinstance(f, _NoRows) for f in engine_log.filters):
        engine_log.addFilter(_NoRows())


def _account(row):
    if row is None:
        return None
    values = dict(row)
    values["balance"] = from_fen(values.pop("balance_fen"))
    return Account(**values)


def _staged_entry(batch, seq, kind, row, entry):
    values = {"batch": batch, "seq": seq, "kind": kind, "id_number": row["id_number"]}
    return values | {
        "period": entry.period,
        "amount_fen": to_fen(entry.amount),
        "status": entry.status,
    }


def _staged_shares(batch, seq, entry):
    employer = None if entry.employer is None else to_fen(entry.employer)
    return {"batch": batch, "seq": seq, "base_fen": to_fen(entry.base), "employer_fen": employer}


def _yuan(fen):
    """Fen from the store as yuan, or None where the store holds none."""
    return None if fen is None else from_fen(fen)


ACCOUNT_VALUES = ("card_number", "name", "pin_hash", "region", "birth_date", "category")
ACCOUNT_VALUES += ("balance_fen",)


def _move_staged(conn, batch, staged_counts):
    """Move one staged import into the live tables: a few set-based statements.

    First check the batch is whole (`staged_counts`: its accounts, entries and shares): a
    start-up meanwhile (Store.prepare) deletes staging.
    """
    staged, entries = staged_accounts, staged_entries
    mine = staged.c.batch == batch
    counts = tuple(
        conn.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.batch == batch)
        ).scalar_one()
        for table in (staged, entries, staged_shares)
    )
    if counts != tuple(staged_counts):
        raise StoreError(
            "the import's staged rows were cleaned by a start-up meanwhile: run it again"
        )
    conn.execute(
        sa.update(accounts)
        .where(accounts.c.id_number == staged.c.id_number, mine)
        .values({name: staged.c[name] for name in ACCOUNT_VALUES})
    )
    new = sa.select(staged.c.id_number, *(staged.c[name] for name in ACCOUNT_VALUES)).where(
        mine, staged.c.id_number.not_in(sa.select(accounts.c.id_number))
    )
    conn.execute(sa.insert(accounts).from_select(["id_number", *ACCOUNT_VALUES], new))
    imported = (
        sa.select(accounts.c.id)
        .join(staged, staged.c.id_number == accounts.c.id_number)
        .where(mine)
    )
    if conn.dialect.name == "postgresql":  # one import's move at a time picks ids (below)
        conn.execute(sa.text("LOCK TABLE payments IN SHARE ROW EXCLUSIVE MODE"))
    replaced = sa.select(payments.c.id).where(payments.c.account_id.in_(imported))
    conn.execute(sa.delete(payment_shares).where(payment_shares.c.payment_id.in_(replaced)))
    # A payment's id is chosen here, past every id in use, as its entry's seq further on, so
    # that its shares, staged by seq, name it in one more set-based statement.
    first = conn.execute(sa.select(sa.func.coalesce(sa.func.max(payments.c.id), 0))).scalar_one()
    for table, kind in ((payments, "payment"), (credits, "credit")):
        conn.execute(sa.delete(table).where(table.c.account_id.in_(imported)))
        columns = ["account_id", "period", "amount_fen"]
        chosen = [accounts.c.id, entries.c.period, entries.c.amount_fen]
        if table is payments:
            columns += ["status", "id"]
            chosen += [entries.c.status, entries.c.seq + first]
        rows = (
            sa.select(*chosen)
            .join(accounts, accounts.c.id_number == entries.c.id_number)
            .where(entries.c.batch == batch, entries.c.kind == kind)
            .order_by(entries.c.seq)
        )
        conn.execute(sa.insert(table).from_select(columns, rows))
    shares = sa.select(
        staged_shares.c.seq + first, staged_shares.c.base_fen, staged_shares.c.employer_fen
    ).where(staged_shares.c.batch == batch)
    conn.execute(
        sa.insert(payment_shares).from_select(["payment_id", "base_fen", "employer_fen"], shares)
    )
