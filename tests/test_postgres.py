"""The same store on a real PostgreSQL server: DATABASE_URL is all that changes."""

import pytest
from softphone.phone import Phone

from ivr.accounts import import_accounts
from tests.conftest import ACCOUNTS
from tests.conftest import TOKEN
from tests.databases import postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def database():
    """A fresh database on the local server (or IVR_TEST_POSTGRES_URL's), dropped afterwards."""
    with postgres_database() as url:
        yield url


def test_whole_call_on_postgresql(database, make_app):
    app = make_app(DATABASE_URL=database)
    hotline = app.extensions["ivr"]
    import_accounts({"accounts": ACCOUNTS}, hotline.regions, hotline.store)  # idempotent
    phone = Phone.for_app(app, token=TOKEN)
    phone.dial().press("2").enter("440305199002200139#").enter("246810#")
    assert "二〇二六年十月，个人缴费一百六十二元五角，未到账。" in phone.heard
    phone.dial().press("1").enter("11010519491231002*#")
    phone.enter("000000#").enter("000001#").enter("000002#")
    assert "密码错误次数过多" in phone.heard
    assert phone.ended  # a lock ends the call
