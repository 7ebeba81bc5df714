"""The hot path's shortcuts give exactly what the long way gives.

A turn's TwiML is built once per shape and filled per call: it must equal the document
twilio's builder makes for that call. A webhook's form is split by our own loop: it must equal
parse_qsl. The call's reads run compiled SQL on a DBAPI connection: they must return what
SQLAlchemy Core reads from the same database, typed the same way.
"""

import datetime as dt
import threading
import time
from decimal import Decimal
from urllib.parse import parse_qsl

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder

from ivr import store as sql
from ivr import twiml
from ivr.types import Gather
from ivr.types import Speech
from ivr.types import Turn
from ivr.voice import WebhookRequest
from ivr.voice import form_fields
from tests.test_webhooks import VALIDATOR
from tests.test_webhooks import post

LANGS = st.sampled_from((None, "zh", "en"))
TURNS = st.one_of(
    st.builds(
        Turn,
        lang=st.sampled_from(("zh", "en")),
        gather=st.builds(
            Gather,
            node=st.sampled_from(("main", "pin", "balance")),
            timeout=st.integers(1, 10),
            num_digits=st.one_of(st.none(), st.just(1)),
            secret=st.booleans(),
        ),
    ),
    st.builds(Turn, lang=st.just("zh"), queue=st.just("agents")),
    st.builds(Turn, lang=st.just("en"), hangup=st.just(True)),
)
SPEECHES = st.lists(
    st.one_of(
        # Said: any text, escaped. (An empty one is <Say></Say> here and <Say /> from the
        # builder: the same XML, and a prompt Twilio refuses either way.)
        st.builds(Speech, text=st.text(min_size=1), lang=LANGS),
        st.builds(Speech, text=st.text(), path=st.text(min_size=1).map("/audio/".__add__)),
    ),
    max_size=4,
)


def node_url(node):
    return f"/voice/node/{node}?s=SEALED-STATE"


@given(
    turn=TURNS,
    speeches=SPEECHES,
    origin=st.sampled_from(("", "https://ivr.example")),
    state=st.text(alphabet="AZaz09-_", min_size=1),
)
def test_a_template_filled_is_the_document_twilios_builder_makes(turn, speeches, origin, state):
    slots = tuple((speech.lang, speech.path is not None) for speech in speeches)
    template = twiml.template(turn, slots, node_url, state_mark="SEALED-STATE")
    words = [origin + speech.path if speech.path else speech.text for speech in speeches]
    built = twiml.render(
        turn, speeches, lambda node: node_url(node).replace("SEALED-STATE", state), origin
    )
    assert twiml.fill(template, words, state) == built


FORM_TEXT = st.lists(
    st.sampled_from(
        ("a", "=", "&", "+", "%", "%2B", "%E4", "%FF", "%26", "%3D", "%3d", "%25", "2", "你")
    ),
    max_size=20,
).map("".join)


@given(body=st.one_of(FORM_TEXT, st.lists(st.tuples(st.text(), st.text())).map(
    lambda pairs: "&".join(f"{name}={value}" for name, value in pairs)
)))  # fmt: skip
def test_a_form_is_split_as_werkzeugs_parser_splits_it(body):
    # werkzeug's own reading of an urlencoded form (FormDataParser._parse_urlencoded)
    assert form_fields(body) == parse_qsl(body, keep_blank_values=True, errors="werkzeug.url_quote")


def test_a_twilio_form_with_a_plus_number_and_a_blank_field(client):
    response = post(
        client, "/voice", {"CallSid": "CA" + "3" * 32, "To": "+86-10-12333", "FromCity": ""}
    )
    assert response.status_code == 200
    assert "北京" in response.get_data(as_text=True)  # "+86-10-…" arrived decoded: Beijing's line


def test_a_form_read_after_its_body_is_still_the_form():
    fields = {"CallSid": "CA" + "3" * 32, "To": "+8612333"}
    request = WebhookRequest(EnvironBuilder(method="POST", data=fields).get_environ())
    assert request.get_data()  # as a middleware that logs bodies would, before the view
    assert request.form.to_dict() == fields


def test_repeated_fields_are_checked_as_twilio_signs_them(client):
    fields = MultiDict([("CallSid", "CA" + "3" * 32), ("To", "12333"), ("X", "b"), ("X", "a")])
    assert post(client, "/voice", fields).status_code == 200
    signature = VALIDATOR.compute_signature("http://localhost/voice", fields)
    fields.setlist("X", ["a"])  # one of the values dropped on the way
    response = client.post("/voice", data=fields, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_a_webhook_sets_no_cookie(client):
    response = post(client, "/voice", {"CallSid": "CA" + "3" * 32, "To": "12333"})
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def core_row(store, table, **where):
    """A row read the long way: SQLAlchemy Core, typed by it."""
    query = sa.select(table).where(*(table.c[name] == value for name, value in where.items()))
    with store.begin() as conn:
        return dict(conn.execute(query).one()._mapping)


def test_the_calls_reads_return_what_the_store_holds(app_on_each_store, clock):
    store = app_on_each_store.extensions["ivr"].store
    by_id = store.find_account("id", "440305199002200139")
    assert by_id.birth_date == dt.date(1990, 2, 20)
    assert by_id.balance == Decimal("3287.40")
    row = core_row(store, sql.accounts, id_number="440305199002200139")
    assert {**row, "balance": by_id.balance} == {**by_id.__dict__, "balance_fen": 328740}
    assert store.find_account("card", "440300003") == by_id == store.get_account(by_id.id)
    assert store.find_account("id", "110105194912310021") is None
    assert store.get_account(10**6) is None

    page = store.payments(by_id.id, offset=1, limit=3)
    assert [(p.period, p.amount, p.status) for p in page] == [
        ("2026-09", Decimal("160.00"), "paid"),
        ("2026-08", Decimal("160.00"), "overdue"),
        ("2026-07", Decimal("160.00"), "paid"),
    ]
    assert store.latest_credit(by_id.id) == sql.Entry("2026-09", Decimal("160.00"))
    assert store.latest_credit(store.find_account("id", "650102195809120210").id) is None

    week = dt.timedelta(days=7)
    assert not store.card_lost("440300003", clock(), week)
    store.report_card_lost("440300003", clock(), week)
    assert store.card_lost("440300003", clock(), week)

    sid = "CA" + "4" * 32
    assert not store.call_ended(sid)
    store.end_call(sid, clock())
    assert store.call_ended(sid)
    with store.engine.connect() as conn:  # a read (autocommit on PostgreSQL) gave it back as lent
        assert getattr(conn.connection.dbapi_connection, "autocommit", False) is False


def test_a_read_on_a_store_that_is_gone_is_a_store_error(tmp_path):
    store = sql.Store(f"sqlite:///{tmp_path / 'missing' / 'store.sqlite3'}")
    with pytest.raises(sql.StoreError):
        store.call_ended("CA" + "5" * 32)


def test_a_read_refuses_a_parameter_it_would_pass_unconverted():
    born = sa.select(sql.accounts).where(sql.accounts.c.birth_date == sa.bindparam("born"))
    with pytest.raises(TypeError, match="born"):
        sql._Read(born, sqlite.dialect())  # SQLite keeps a date as text: it needs converting


def test_deadlines_fire_from_one_thread_and_one_called_off_never_does():
    due, called_off = sql._Deadline(0.05), sql._Deadline(0.05)
    for deadline in (due, called_off):
        sql._Deadline.watchdog.arm(deadline)
    called_off.stop()  # its connection goes back to the pool: it must never be cut now
    waited = time.monotonic()
    while not due.expired and time.monotonic() - waited < 5:
        time.sleep(0.01)
    assert due.expired
    assert not called_off.expired
    assert [t.name for t in threading.enumerate()].count("store-deadlines") == 1


def test_a_deadline_on_a_lost_connection_leaves_the_watch_running():
    class Lost:
        @property
        def pgconn(self):
            raise psycopg.OperationalError("the connection is lost")  # as psycopg says it

    lost, later = sql._Deadline(0.02), sql._Deadline(0.1)
    lost.watch(Lost())  # the pool's ping failed on it: there is no socket left to cut
    for deadline in (lost, later):
        sql._Deadline.watchdog.arm(deadline)
    waited = time.monotonic()
    while not later.expired and time.monotonic() - waited < 5:
        time.sleep(0.01)
    assert lost.expired
    assert later.expired  # the watch went on after the lost one


@pytest.mark.parametrize(
    ("length", "encoding"),
    (("\xb2", None), ("abc", None), ("9", "chunked")),
)
def test_a_junk_or_chunked_length_still_gets_twiml(make_app, length, encoding):
    client = make_app(TWILIO_AUTH_TOKEN=None).test_client()
    environ = {"CONTENT_LENGTH": length} | (
        {"HTTP_TRANSFER_ENCODING": encoding} if encoding else {}
    )
    response = client.post(
        "/voice",
        data="CallSid=CA1&To=12333",
        content_type="application/x-www-form-urlencoded",
        environ_overrides=environ,
    )
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert "<Response>" in response.get_data(as_text=True)
