"""`flask accounts import` and `seed`: the documented format, all or nothing, idempotent."""

import json
import random
from decimal import Decimal

import pytest
from flask import current_app
from softphone.phone import Phone

from ivr import identity
from ivr.spoken import zh
from tests.conftest import TEST_SCRYPT_N
from tests.conftest import TOKEN
from tests.conftest import account


@pytest.fixture
def app(app_on_each_store):
    """The import tests hold on SQLite and on PostgreSQL alike."""
    return app_on_each_store


def write(tmp_path, document, name="accounts.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return str(path)


def random_id(rng):
    """A valid ID number for a random person born 1940-2000."""
    body = f"{rng.choice(['110105', '310101', '650102', '440305'])}"
    body += f"{rng.randint(1940, 2000):04d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body += f"{rng.randint(0, 999):03d}"
    return body + identity.id_check_character(body)


def random_amount(rng):
    """An amount with awkward zeros: 0.0x, x00x.x0, and so on."""
    yuan = rng.choice([0, 2, 10, 20, 100, 1005, 2000, 10200, rng.randint(0, 999_999)])
    return f"{yuan}.{rng.randint(0, 99):02d}"


def test_import_then_dial_random_accounts(app, runner, tmp_path):
    """Money reading and history order are right for accounts the code has never seen."""
    rng = random.Random(12333)
    rows = []
    for _ in range(4):
        periods = sorted({f"20{rng.randint(10, 26)}-{rng.randint(1, 12):02d}" for _ in range(5)})
        rng.shuffle(periods)  # the file's order must not matter
        payments = [(p, random_amount(rng), "paid") for p in periods]
        rows.append(
            account(
                random_id(rng),
                f"{rng.randint(0, 999999):06d}",
                "urumqi",
                "employee",
                random_amount(rng),
                payments=payments,
            )
        )
    result = runner.invoke(args=["accounts", "import", write(tmp_path, {"accounts": rows})])
    assert result.exit_code == 0, result.output
    assert "Imported 4 accounts." in result.output
    for row in rows:
        phone = Phone.for_app(app, token=TOKEN)
        keyed = row["id_number"].replace("X", "*")
        phone.dial().press("1").enter(keyed + "#").enter(row["pin"] + "#")
        assert f"余额是{zh.amount(Decimal(row['balance']))}。" in phone.heard
        phone.press("*").press("2")
        newest = sorted(row["payments"], key=lambda p: p["period"], reverse=True)[:3]
        expected = [
            f"{zh.month(p['period'])}，个人缴费{zh.amount(Decimal(p['amount']))}" for p in newest
        ]
        positions = [phone.heard.index(text) for text in expected]
        assert positions == sorted(positions)


def test_import_is_idempotent_and_replaces_history(app, runner, tmp_path):
    row = account(
        "650102198707040387",
        "111111",
        "urumqi",
        "employee",
        "10.00",
        payments=[("2026-01", "1.00", "paid")],
    )
    path = write(tmp_path, {"accounts": [row]})
    assert runner.invoke(args=["accounts", "import", path]).exit_code == 0
    assert runner.invoke(args=["accounts", "import", path]).exit_code == 0
    with app.app_context():
        store = current_app.extensions["ivr"].store
        found = store.find_account("id", "650102198707040387")
        assert found.balance == Decimal("10.00")
        assert store.payments(found.id, 0, 10) == [store.payments(found.id, 0, 10)[0]]
        assert identity.verify_pin("111111", found.pin_hash)
        assert "111111" not in found.pin_hash


NEW_EMPLOYEE_ID = "650102198005050038"
# Where the data has them, a payment's contribution base and the employer's share are heard
# with the personal share (issue #21, point 12); a payment without them is heard as before.
WITH_SHARES = [
    {"period": "2026-08", "amount": "160.00", "status": "paid"},
    {"period": "2026-09", "amount": "160.00", "status": "paid", "base": "8000.00"},
    {"period": "2026-10", "amount": "162.50", "status": "pending", "base": "8125.00"}
    | {"employer": "650.01"},
]


@pytest.mark.parametrize(
    ("lang", "lines"),
    (
        (
            "zh",
            (
                "二〇二六年十月，缴费基数八千一百二十五元，个人缴费一百六十二元五角，"
                "单位缴费六百五十元零一分，未到账。",
                "二〇二六年九月，缴费基数八千元，个人缴费一百六十元，已到账。",
                "二〇二六年八月，个人缴费一百六十元，已到账。",
            ),
        ),
        (
            "en",
            (
                "October twenty twenty-six: contribution base, 8,125 yuan, your own share,"
                " 162 yuan and 50 fen, your employer's share, 650 yuan and 1 fen,"
                " not yet received.",
                "September twenty twenty-six: contribution base, 8,000 yuan, your own share,"
                " 160 yuan, received.",
                "August twenty twenty-six: your own share, 160 yuan, received.",
            ),
        ),
    ),
)
def test_a_payments_base_and_both_shares_are_imported_exactly_and_heard(
    app, runner, tmp_path, lang, lines
):
    row = account(NEW_EMPLOYEE_ID, "258147", "urumqi", "employee", "10.00")
    row["payments"] = WITH_SHARES
    result = runner.invoke(args=["accounts", "import", write(tmp_path, {"accounts": [row]})])
    assert result.exit_code == 0, result.output
    store = app.extensions["ivr"].store
    found = store.find_account("id", NEW_EMPLOYEE_ID)
    newest = store.payments(found.id, 0, 1)[0]
    assert (newest.amount, newest.base, newest.employer) == (
        Decimal("162.50"),
        Decimal("8125.00"),
        Decimal("650.01"),
    )
    phone = Phone.for_app(app, token=TOKEN).dial()
    if lang == "en":
        phone.press("9")
    phone.press("2").enter(NEW_EMPLOYEE_ID + "#").enter("258147#")
    heard = phone.heard.split("\n")
    assert [line for line in heard if line in lines] == list(lines)  # newest first
    # Imported again without them: the shares go with the payments they belonged to.
    row["payments"] = [{k: v for k, v in p.items() if k in ("period", "amount", "status")}
                       for p in WITH_SHARES]  # fmt: skip
    assert (
        runner.invoke(args=["accounts", "import", write(tmp_path, {"accounts": [row]})]).exit_code
        == 0
    )
    assert [(p.base, p.employer) for p in store.payments(found.id, 0, 5)] == [(None, None)] * 3


def test_amounts_are_stored_exactly(app, runner, tmp_path):
    row = account("650102198707040387", "111111", "urumqi", "employee", "9999999999.99")
    assert (
        runner.invoke(args=["accounts", "import", write(tmp_path, {"accounts": [row]})]).exit_code
        == 0
    )
    with app.app_context():
        assert current_app.extensions["ivr"].store.find_account(
            "id", row["id_number"]
        ).balance == Decimal("9999999999.99")


@pytest.mark.parametrize(
    ("change", "message"),
    (
        ({"id_number": "110105194912310021"}, "accounts[1]: id_number: the check character"),
        ({"card_number": "12ab"}, "accounts[1]: card_number: a card number has 9 to 19 digits"),
        ({"pin": "12345"}, "accounts[1]: pin: a query PIN has exactly 6 digits"),
        ({"region": "atlantis"}, "accounts[1]: region: 'atlantis' is not a known region"),
        ({"region": None}, "accounts[1]: region: None is not a known region"),
        ({"region": ["dali"]}, "accounts[1]: region: ['dali'] is not a known region"),
        ({"category": "alien"}, "accounts[1]: category: must be one of"),
        ({"balance": 12.5}, "accounts[1]: balance: amount must be a decimal string"),
        ({"balance": "1.005"}, "accounts[1]: balance: amount must be a decimal string"),
        ({"name": ""}, "accounts[1]: name: required"),
        ({"birth_date": "1950-01-01"}, "accounts[1]: birth_date: '1950-01-01' differs"),
        ({"payments": [{"period": "2025-13", "amount": "1.00", "status": "paid"}]}, "accounts[1]: payments[0]: period must be YYYY-MM"),
        ({"payments": [{"period": "2025-03", "amount": "1.00", "status": "lost"}]}, "accounts[1]: payments[0]: status must be one of"),
        ({"credits": [{"period": "2025-03", "amount": "abc"}]}, "accounts[1]: credits[0]: amount must be"),
        ({"id_number": "11010519491231002X"}, "accounts[1]: id_number: the same as accounts[0]"),
        # A payment's contribution base and employer's share (issue #21, point 12)
        ({"payments": [{"period": "2025-10", "amount": "400.00", "status": "paid", "base": "8000.00"}]}, "accounts[1]: payments[0]: a resident's payment has no base or employer's share"),
        ({"category": "employee", "payments": [{"period": "2025-10", "amount": "160.00", "status": "paid", "employer": "480.00"}]}, "accounts[1]: payments[0]: employer: needs the base it is a share of"),
        ({"category": "employee", "payments": [{"period": "2025-10", "amount": "160.00", "status": "paid", "base": 8000}]}, "accounts[1]: payments[0]: base: amount must be a decimal string"),
        ({"category": "employee", "payments": [{"period": "2025-10", "amount": "160.00", "status": "paid", "base": "8000.00", "employer": "480.001"}]}, "accounts[1]: payments[0]: employer: amount must be a decimal string"),
        ({"category": "employee", "payments": [{"period": "2025-10", "amount": "0.00", "status": "paid", "base": "0.00"}]}, "accounts[1]: payments[0]: base must be more than 0"),
        ({"category": "employee", "payments": [{"period": "2025-10", "amount": "160.01", "status": "paid", "base": "160.00"}]}, "accounts[1]: payments[0]: amount (the personal share) must not exceed base"),
        ({"category": "employee", "payments": [{"period": "2025-10", "amount": "160.00", "status": "paid", "base": "8000.00", "employer": "8000.01"}]}, "accounts[1]: payments[0]: employer must not exceed base"),
    ),
)  # fmt: skip
def test_a_bad_row_is_named_and_nothing_is_written(app, runner, tmp_path, change, message):
    good = account("650102198707040387", "111111", "urumqi", "resident", "0.00")
    first = account("11010519491231002X", "999999", "beijing", "retiree", "1.00")
    bad = {**good, **change}
    result = runner.invoke(args=["accounts", "import", write(tmp_path, {"accounts": [first, bad]})])
    assert result.exit_code == 1
    assert message in result.output
    assert "Nothing was imported." in result.output
    with app.app_context():
        # The Beijing account kept its PIN from the fixture: the file's first row was not written.
        assert identity.verify_pin(
            "123456",
            current_app.extensions["ivr"].store.find_account("id", "11010519491231002X").pin_hash,
        )


def test_a_card_number_of_another_account_is_refused(runner, tmp_path):
    row = account("650102198707040387", "111111", "urumqi", "resident", "0.00", card="110000001")
    result = runner.invoke(args=["accounts", "import", write(tmp_path, {"accounts": [row]})])
    assert "accounts[0]: card_number: already another account's" in result.output


@pytest.mark.parametrize(
    ("text", "message"), (("{", "is not JSON"), ("[]", 'the file must be {"accounts": [...]}'))
)
def test_not_an_import_file(runner, tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(args=["accounts", "import", str(path)])
    assert result.exit_code == 1
    assert message in result.output


def test_seed_prints_accounts_ready_to_dial(app, runner, tmp_path):
    result = runner.invoke(args=["accounts", "seed"])
    assert result.exit_code == 0
    assert "11010519491231002X  110000001  123456" in result.output
    assert "Key an ID's final X as * on the phone." in result.output
    phone = Phone.for_app(app, token=TOKEN)
    phone.dial().press("1").enter("11010519491231002*#").enter("123456#")
    assert "余额是一千二百三十四元五角六分" in phone.heard
    phone.press("*").press("3")
    assert "划入金额一百一十元" in phone.heard  # born 1949: over 70, Beijing's older rate


def test_seed_if_empty_leaves_a_store_alone(runner):
    result = runner.invoke(args=["accounts", "seed", "--if-empty"])
    assert "already has accounts; not seeding" in result.output


def test_seed_fills_an_empty_store(tmp_path):
    from ivr import create_app

    settings = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/new.sqlite3",
        "IVR_PIN_HASH_COST": TEST_SCRYPT_N,
    }
    app = create_app({"TESTING": True, **settings})
    result = app.test_cli_runner().invoke(args=["accounts", "seed", "--if-empty"])
    assert "Demo accounts" in result.output
    with app.app_context():
        assert current_app.extensions["ivr"].store.count_accounts() == 6


DALI_RETIREE = account(
    "532901195003150017", "753159", "dali", "retiree", "2468.10", card="532900007",
    credits=[("2026-09", "62.40"), ("2026-10", "62.40")],
)  # fmt: skip


@pytest.mark.parametrize(
    ("lang", "credit", "rule"),
    (
        (
            "zh",
            "您的个人账户最近一次划入是二〇二六年十月，划入金额六十二元四角。",
            # No source gives 大理's figure: the national rule's shape, and who publishes it
            "大理州退休人员的个人账户由统筹基金按月定额划入，标准按门诊共济改革那一年本地区"
            "基本养老金平均水平的百分之二左右确定，具体金额由当地医保部门公布。",
        ),
        (
            "en",
            "The latest credit to your personal account was for October twenty twenty-six:"
            " 62 yuan and 40 fen.",
            "In Dali, retirees' accounts receive a fixed sum each month from the pooled fund, set"
            " at about 2 percent of the region's average basic pension in the year of the"
            " outpatient-pooling reform. The local medical insurance office publishes the amount.",
        ),
    ),
)
def test_a_dali_retiree_is_imported_and_hears_dalis_credit_rule(
    runner, phone, tmp_path, lang, credit, rule
):
    """Issue #12: an account from 大理 could not even be loaded."""
    result = runner.invoke(
        args=["accounts", "import", write(tmp_path, {"accounts": [DALI_RETIREE]})]
    )
    assert result.exit_code == 0, result.output
    phone.dial(to="0872-12333")
    assert "欢迎致电大理州幺二三三三" in phone.heard  # the dialled area code picks the line
    if lang == "en":
        phone.press("9")
    phone.press("3").enter("532900007#").enter("753159#")
    assert credit in phone.heard
    assert rule in phone.heard
