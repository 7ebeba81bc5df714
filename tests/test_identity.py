import datetime as dt
import statistics
import time

import pytest
from softphone.phone import Phone

from ivr import identity
from tests.conftest import TOKEN


@pytest.mark.parametrize(
    "number",
    (
        "11010519491231002X",
        "110105194806150149",
        "310101194903010318",
        "31010119480720004X",
        "440305199002200139",
        "65010219850101006X",
        "650102195809120210",  # valid, though python-stdnum refuses its area code
    ),
)
def test_valid_id_numbers(number):
    assert identity.normalize_id(number) == number


def test_x_keyed_as_star_or_lower_case():
    assert identity.normalize_id("11010519491231002*") == "11010519491231002X"
    assert identity.normalize_id("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "reason"),
    (
        ("110105194912310021", "check character"),
        ("11010519491231002", "18 characters"),
        ("1101051949123100211", "18 characters"),
        ("1101051949123100X1", "only the last character"),
        ("110105194913310028", "not a real date"),
        ("110105189912310021", "out of range"),
        ("110105209912310021", "out of range"),
        ("", "18 characters"),
    ),
)
def test_invalid_id_numbers(number, reason):
    with pytest.raises(identity.IdentityError, match=reason):
        identity.normalize_id(number)


def test_check_character_from_the_standard():
    assert identity.id_check_character("11010519491231002") == "X"


@pytest.mark.parametrize(
    ("card", "ok"),
    (
        ("123456789", True),
        ("1" * 19, True),
        ("12345678", False),
        ("1" * 20, False),
        ("12345678a", False),
    ),
)
def test_card_numbers(card, ok):
    if ok:
        assert identity.normalize_card(card) == card
    else:
        with pytest.raises(identity.IdentityError):
            identity.normalize_card(card)


def test_pin_hash_is_salted_and_slow_and_verifies():
    first, second = identity.hash_pin("123456"), identity.hash_pin("123456")
    assert first != second
    assert "123456" not in first
    assert first.startswith("scrypt$16384$8$1$")
    assert identity.verify_pin("123456", first)
    assert not identity.verify_pin("123457", first)
    assert not identity.verify_pin("123456", "garbage")


def test_the_decoy_costs_what_a_real_pin_costs():
    """Unknown numbers are checked against the decoy: it must be a production-cost hash."""
    cost = identity.hash_pin("000000").split("$")[:4]
    assert identity.DECOY_HASH.split("$")[:4] == cost
    assert identity.verify_pin("000000", identity.DECOY_HASH)
    assert not identity.verify_pin("123456", identity.DECOY_HASH)


def test_the_decoy_follows_the_configured_cost():
    for n in (2**4, 2**12, identity.SCRYPT_N):
        decoy = identity.decoy_hash(n)
        assert decoy.split("$")[:4] == ["scrypt", str(n), "8", "1"]
        assert identity.verify_pin("000000", decoy)


KNOWN_ID, UNKNOWN_ID = "11010519491231002X", "110105194806150149"  # the second has no account


def pin_seconds(app, id_number):
    """The time the line takes to refuse a wrong PIN after this number."""
    phone = Phone.for_app(app, token=TOKEN)
    phone.dial().press("1").enter(id_number.replace("X", "*") + "#")
    started = time.perf_counter()
    phone.enter("975310#")
    taken = time.perf_counter() - started
    assert "号码或密码不正确" in phone.heard
    return taken


def test_known_and_unknown_numbers_take_the_same_time_at_another_cost(make_app):
    """At IVR_PIN_HASH_COST=4096 the decoy once cost 2**14 (36 ms against 11 ms)."""
    cost = 2**12
    app = make_app(IVR_PIN_HASH_COST=cost, IVR_MAX_PIN_TRIES=100, IVR_MAX_CALLER_PIN_FAILURES=100)
    store = app.extensions["ivr"].store
    known = store.find_account("id", KNOWN_ID)
    store.set_pin_hash(known.id, identity.hash_pin("123456", n=cost))  # imported at this cost
    assert store.find_account("id", UNKNOWN_ID) is None
    pin_seconds(app, UNKNOWN_ID)  # warm up both paths once
    # Turn about, so a busy moment of the shared machine weighs on both the same.
    unknown, known = [], []
    for _ in range(9):
        unknown.append(pin_seconds(app, UNKNOWN_ID))
        known.append(pin_seconds(app, KNOWN_ID))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2, f"an unknown number takes {ratio:.1f}x a known one's time"


def test_pin_format():
    identity.check_pin_format("000000")
    for pin in ("12345", "1234567", "12345a", ""):
        with pytest.raises(identity.IdentityError):
            identity.check_pin_format(pin)


@pytest.mark.parametrize(
    ("pin", "from_account"),
    (
        ("123456", False),  # easy, whoever keys it
        ("121212", False),
        ("900220", True),  # born 1990-02-20
        ("199002", True),
        ("200139", True),  # six digits in a row of the ID
        ("440300", True),  # of the card
        ("258147", None),  # neither: taken
    ),
)
def test_a_new_pin_from_the_account_is_told_apart_from_an_easy_one(pin, from_account):
    numbers, born = ("440305199002200139", "440300003"), dt.date(1990, 2, 20)
    if from_account is None:
        identity.check_new_pin(pin, numbers, born)
        return
    with pytest.raises(identity.IdentityError) as refused:
        identity.check_new_pin(pin, numbers, born)
    assert isinstance(refused.value, identity.PinFromAccount) == from_account


NOW = dt.datetime(2026, 11, 18, 3, 0, tzinfo=dt.UTC)


def test_lock_runs_until_its_end():
    until = NOW + dt.timedelta(minutes=30)
    assert identity.is_locked(until, NOW + dt.timedelta(minutes=29, seconds=59))
    assert not identity.is_locked(until, NOW + dt.timedelta(minutes=30))
    assert not identity.is_locked(None, NOW)


def test_subject_hides_the_number_and_depends_on_the_key():
    subject = identity.subject("id", "11010519491231002X", "key")
    assert "1101" not in subject
    assert subject != identity.subject("id", "11010519491231002X", "other")
    assert subject != identity.subject("card", "11010519491231002X", "key")


@pytest.mark.parametrize(
    ("text", "masked"),
    (
        ("11010519491231002X", "**************002X"),
        ("id 11010519491231002X and card 650100004", "id **************002X and card *****0004"),
        ("month 2025-03, 4 tries", "month 2025-03, 4 tries"),
    ),
)
def test_masking(text, masked):
    assert identity.mask_text(text) == masked


def test_mask_keeps_last_four():
    assert identity.mask("650100004") == "*****0004"
    assert identity.mask(None) == ""
