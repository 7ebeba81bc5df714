"""The same store on a real PostgreSQL server: DATABASE_URL is all that changes."""

import uuid

import pytest
import sqlalchemy as sa

from ivr.accounts import import_accounts
from ivr.softphone.phone import Phone
from tests.conftest import ACCOUNTS
from tests.conftest import TOKEN

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

pytestmark = pytest.mark.postgres


@pytest.fixture
def database():
    """A fresh database on the local server, dropped afterwards."""
    engine = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            name = f"ivr_test_{uuid.uuid4().hex[:8]}"
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        engine.dispose()
        pytest.skip(f"no PostgreSQL server on 127.0.0.1:5432 ({type(error).__name__})")
    yield SERVER.rsplit("/", 1)[0] + "/" + name
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    engine.dispose()


def test_whole_call_on_postgresql(database, make_app):
    app = make_app(DATABASE_URL=database)
    hotline = app.extensions["ivr"]
    import_accounts({"accounts": ACCOUNTS}, hotline.regions, hotline.store)  # idempotent
    phone = Phone.for_app(app, token=TOKEN)
    phone.dial().press("2").press("1").enter("440305199002200139#").enter("246810#")
    assert "二〇二六年十月，个人缴费一百六十二元五角，处理中。" in phone.heard
    phone.dial().press("1").press("1").enter("11010519491231002*#")
    phone.enter("000000#").enter("000001#").enter("000002#")
    assert "密码错误次数过多" in phone.heard
