import datetime as dt

import pytest

from ivr import create_app
from ivr.accounts import import_accounts
from ivr.softphone.phone import Phone
from ivr.store import get_store

TOKEN = "test-auth-token"
# A Wednesday, 11:00 in Beijing time: agents answer in every region.
OFFICE_HOURS = dt.datetime(2026, 11, 18, 3, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the tests move by hand, for lockouts and agent hours."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += dt.timedelta(**delta)


def account(id_number, pin, region, category, balance, card=None, payments=(), credits=()):
    """One account in the import format."""
    return {
        "id_number": id_number,
        "card_number": card,
        "name": "测试",
        "pin": pin,
        "region": region,
        "category": category,
        "balance": balance,
        "payments": [{"period": p, "amount": a, "status": s} for p, a, s in payments],
        "credits": [{"period": p, "amount": a} for p, a in credits],
    }


# The accounts the call tests dial, imported the way an operator would.
ACCOUNTS = [
    account(
        "11010519491231002X", "123456", "beijing", "retiree", "1234.56", card="110000001",
        credits=[("2026-09", "110.00"), ("2026-10", "110.00")],
    ),
    account(
        "310101194903010318", "654321", "shanghai", "retiree", "16409.02",
        credits=[("2026-01", "1890.00")],
    ),
    account(
        "440305199002200139", "246810", "shenzhen", "employee", "3287.40", card="440300003",
        payments=[
            ("2026-04", "150.00", "paid"), ("2026-05", "150.00", "paid"),
            ("2026-06", "160.00", "paid"), ("2026-07", "160.00", "paid"),
            ("2026-08", "160.00", "overdue"), ("2026-09", "160.00", "paid"),
            ("2026-10", "162.50", "pending"),
        ],
        credits=[("2026-09", "160.00")],
    ),
    account(
        "650102198707040387", "135790", "urumqi", "resident", "0.00",
        payments=[("2025-10", "400.00", "paid")],
    ),
    account("650102195809120210", "888888", "urumqi", "retiree", "12000.00"),
]  # fmt: skip


@pytest.fixture
def clock():
    return Clock(OFFICE_HOURS)


@pytest.fixture
def make_app(tmp_path, clock):
    """Build a test app (settings overridable) holding the test accounts."""

    def make(**settings):
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.sqlite3'}",
                "TWILIO_AUTH_TOKEN": TOKEN,
                "SECRET_KEY": "test-secret",
                "IVR_AUDIO_CACHE": str(tmp_path / "phrases"),
                "IVR_CLOCK": clock,
                **settings,
            }
        )
        with app.app_context():
            import_accounts({"accounts": ACCOUNTS}, app.extensions["ivr"].regions, get_store())
        return app

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def phone(app):
    """The softphone bound to the app in-process, signing with the real validator."""
    return Phone.for_app(app, token=TOKEN)
