"""A deadline per webhook, not per store call (issue #20, point 1): however many waits a
webhook meets below it, the caller hears the busy message inside Twilio's 15 s. In-process,
on each store; test_faults holds the same promise through gunicorn and a stalling proxy."""

import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa
from softphone.phone import Phone

from ivr import create_app
from ivr.hotline import WEBHOOK_DEADLINE
from tests.conftest import TOKEN
from tests.databases import BACKENDS
from tests.databases import database_url
from tests.test_security import answer_within

BUSY = "系统繁忙，请稍后再拨。再见。"
PIN_PROMPT = "请输入查询密码"
TWILIO_LIMIT = 15  # seconds Twilio waits for a webhook before its own error
# A store timeout past Twilio's own limit: only the webhook's deadline can keep the promise.
LONG_DB_TIMEOUT = 20
DEADLINE = 2  # the webhook's deadline in these tests (the default is WEBHOOK_DEADLINE)


@pytest.fixture(params=BACKENDS)
def fresh_url(request, tmp_path):
    with database_url(request.param, tmp_path) as url:
        yield url


def hold_write_lock(url):
    """Hold the store's lock as another writer would; return what releases it."""
    if url.startswith("sqlite"):  # SQLite's one write lock, held by another connection
        holder = sqlite3.connect(sa.make_url(url).database, check_same_thread=False)
        holder.execute("PRAGMA journal_mode=WAL")  # as the line's own connections run
        holder.execute("BEGIN IMMEDIATE")
        return holder.close
    engine = sa.create_engine(url)  # another session holding the lockouts table
    holder = engine.connect()
    holder.execute(sa.text("LOCK TABLE lockouts IN ACCESS EXCLUSIVE MODE"))

    def release():
        holder.rollback()
        holder.close()
        engine.dispose()

    return release


def test_the_default_deadline_leaves_room_for_the_busy_message():
    assert WEBHOOK_DEADLINE + 3 <= TWILIO_LIMIT


def test_a_store_timeout_past_15_s_still_answers_busy_by_the_webhooks_deadline(fresh_url, make_app):
    app = make_app(DATABASE_URL=fresh_url, IVR_DB_TIMEOUT=LONG_DB_TIMEOUT)
    app.extensions["ivr"].deadline = DEADLINE
    phone = Phone.for_app(app, token=TOKEN)
    phone.dial().press("1").enter("11010519491231002*#")  # the PIN writes its count
    assert PIN_PROMPT in phone.heard
    release = hold_write_lock(fresh_url)
    try:
        took = answer_within(TWILIO_LIMIT, lambda: phone.enter("000000#"))
    finally:
        release()
    assert BUSY in phone.heard
    assert took < DEADLINE + 2  # the webhook's deadline, not the store's 20 s


def test_a_schema_that_cannot_be_made_holds_no_caller_behind_another(tmp_path):
    """The schema was made under a lock on first use: with the store locked, the callers
    of a worker got their busy message one store timeout after another (5, 10, 15 … s)."""
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    release = hold_write_lock(url)  # a fresh file: the schema cannot be made now
    try:
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": url,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "SECRET_KEY": "test-secret",
                "IVR_DB_TIMEOUT": 1,
                "IVR_AUDIO_CACHE": str(tmp_path / "phrases"),
            }
        )  # start-up tried to make it, waited its timeout, and went on
        phones = [Phone.for_app(app, token=TOKEN).dial().press("1") for _ in range(6)]
        took = [None] * len(phones)

        def number(index):
            started = time.monotonic()
            phones[index].enter("11010519491231002*#")  # the first step that needs the store
            took[index] = time.monotonic() - started

        callers = [threading.Thread(target=number, args=(i,), daemon=True) for i in range(6)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(TWILIO_LIMIT)
    finally:
        release()
    assert all(BUSY in phone.heard for phone in phones)
    assert max(took) < 3  # each waited its own timeout (1 s), none behind another's
    again = Phone.for_app(app, token=TOKEN).dial().press("1")
    again.enter("11010519491231002*#")  # the lock gone, the schema is made: an unknown number
    assert PIN_PROMPT in again.heard
    app.extensions["ivr"].store.engine.dispose()
