import datetime as dt

import pytest
from softphone.phone import Phone
from softphone.runner import Targets

from ivr import create_app
from ivr import identity
from ivr.accounts import demo_document
from ivr.accounts import parse_account
from ivr.regions import load_regions
from tests.databases import BACKENDS
from tests.databases import DATABASES
from tests.databases import database_url

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


# The test accounts' PINs are hashed at a low scrypt cost, once per run: a test checks a PIN
# in a millisecond. (A PIN hashed at production cost still verifies at production cost.)
TEST_SCRYPT_N = 2**4


@pytest.fixture(scope="session")
def account_rows():
    """The test accounts checked and hashed once, ready for the store (as data.sql would be)."""
    regions = load_regions()
    rows = [parse_account(row, index, regions) for index, row in enumerate(ACCOUNTS)]
    for row, raw in zip(rows, ACCOUNTS, strict=True):
        row["pin_hash"] = identity.hash_pin(raw["pin"], n=TEST_SCRYPT_N)
    return rows


@pytest.fixture
def clock():
    return Clock(OFFICE_HOURS)


@pytest.fixture
def make_app(tmp_path, clock, account_rows):
    """Build a test app (settings overridable) holding the test accounts, on its own SQLite."""
    built = []

    def make(**settings):
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": f"sqlite:///{tmp_path / f'ivr{len(built)}.sqlite3'}",
                "TWILIO_AUTH_TOKEN": TOKEN,
                "SECRET_KEY": "test-secret",
                "IVR_AUDIO_CACHE": str(tmp_path / "phrases"),
                # What the tests import is hashed at the test cost too (test_security checks
                # that the configured cost is the one used).
                "IVR_PIN_HASH_COST": TEST_SCRYPT_N,
                **settings,
            },
            clock=clock,
        )
        app.extensions["ivr"].store.replace_accounts(account_rows)
        built.append(app)
        return app

    yield make
    for app in built:
        app.extensions["ivr"].store.engine.dispose()


@pytest.fixture(scope="session")
def demo_rows():
    """The demo accounts as `flask accounts seed` loads them, their PINs hashed cheaply once."""
    regions = load_regions()
    document = demo_document(regions, OFFICE_HOURS.date())
    rows = [parse_account(row, index, regions) for index, row in enumerate(document["accounts"])]
    for row, raw in zip(rows, document["accounts"], strict=True):
        row["pin_hash"] = identity.hash_pin(raw["pin"], n=TEST_SCRYPT_N)
    return rows


@pytest.fixture
def demo_app(make_app, demo_rows):
    """The app holding the demo accounts."""
    app = make_app()
    app.extensions["ivr"].store.replace_accounts(demo_rows)
    return app


@pytest.fixture
def softphone_target(demo_app):
    """The line's own scenarios (tests/calls/*.call.yaml, collected by the softphone's pytest
    plugin) dial the demo accounts in-process, each on a fresh store."""
    return Targets(app=demo_app, token=TOKEN)


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each store the line runs on: SQLite, and PostgreSQL where a server answers."""
    return request.param


@pytest.fixture
def app_on_each_store(make_app, backend, tmp_path):
    """The test app on a fresh database of each backend (for the tests that must hold on both)."""
    with database_url(backend, tmp_path) as url:
        yield make_app(DATABASE_URL=url)


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


def pytest_sessionfinish(session):
    """Drop the PostgreSQL databases this process lent to tests, once they have all run."""
    DATABASES.close()
