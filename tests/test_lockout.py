"""The PIN lockout as a guesser meets it: parallel guesses, both routes, unknown numbers.

The parallel test serves the app under gunicorn with several workers over real HTTP, on SQLite
and on PostgreSQL, since the race lives between processes and inside the database.
"""

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from softphone.phone import Phone

from ivr import actions
from ivr import identity
from ivr.calls import new_call
from ivr.store import Store
from ivr.types import Env
from tests.conftest import TOKEN
from tests.databases import database_url
from tests.served import served_app

BEIJING_ID, BEIJING_CARD, BEIJING_PIN = "11010519491231002X", "110000001", "123456"
UNKNOWN_CARD = "990000001"  # no account has it; same last 4 as Beijing's card
SECRET = "lockout-test-secret"
WRONG_PIN = "号码或密码不正确"
TRIES_LEFT = ("您还可以尝试两次", "您还可以尝试一次")
LOCKED = "密码错误次数过多，该账户的电话查询已暂停，请三十分钟后再拨。"
ENDED = "密码错误次数过多，为保护账户安全，现在不能继续查询"
GUESSERS = 60


@pytest.fixture
def store_url(backend, tmp_path, account_rows):
    """A fresh database of each backend, holding the test accounts."""
    with database_url(backend, tmp_path) as url:
        store = Store(url)
        store.replace_accounts(account_rows)
        store.engine.dispose()
        yield url


def by_id(phone, number=BEIJING_ID):
    return phone.dial().press("1").enter(number.replace("X", "*") + "#")


def by_card(phone, number=BEIJING_CARD):
    return phone.dial().press("1").enter(number + "#")


@pytest.mark.xdist_group("load")  # 60 callers on 4 gunicorn workers: never beside the others
def test_parallel_wrong_pins_check_at_most_the_limit(store_url):
    settings = {
        "DATABASE_URL": store_url,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "SECRET_KEY": SECRET,
        "IVR_MAX_CALLER_PIN_FAILURES": 1000,  # this test is about the account's own count
    }
    with served_app(settings, workers=4, threads=4) as base_url:
        ready = threading.Barrier(GUESSERS, timeout=60)

        def guess(index):
            phone = by_id(Phone.for_url(base_url + "/voice", token=TOKEN))
            assert "请输入查询密码" in phone.heard
            ready.wait()  # every caller at the PIN prompt, then all guess at once
            return phone.enter(f"{index:06d}#").heard  # 000000 … 000059: all wrong

        with ThreadPoolExecutor(GUESSERS) as pool:
            answers = list(pool.map(guess, range(GUESSERS), timeout=120))
        told_tries = [a for a in answers if WRONG_PIN in a]
        told_locked = [a for a in answers if LOCKED in a and WRONG_PIN not in a]
        # The first two checked hear how many tries are left, the third is locked out, and
        # every other guess is refused unchecked: 3 checked in all.
        assert sorted(t for a in told_tries for t in TRIES_LEFT if t in a) == sorted(TRIES_LEFT)
        assert len(told_locked) == GUESSERS - 2
        store = Store(store_url)
        subject = identity.subject("account", BEIJING_ID, SECRET)
        assert store.lockout(subject)[0] == 3
        store.engine.dispose()
        # The right PIN afterwards, by either route, is refused.
        for dial in (by_id, by_card):
            phone = dial(Phone.for_url(base_url + "/voice", token=TOKEN))
            if not phone.ended and LOCKED not in phone.heard:
                phone.enter(BEIJING_PIN + "#")
            assert LOCKED in phone.heard
            assert "余额是" not in phone.transcript  # no balance read out


@pytest.mark.parametrize(("first", "then"), ((by_id, by_card), (by_card, by_id)))
def test_the_lock_is_the_accounts_whatever_route(store_url, make_app, first, then):
    phone = Phone.for_app(make_app(DATABASE_URL=store_url), token=TOKEN)
    first(phone).enter("000000#").enter("000001#").enter("000002#")
    assert LOCKED in phone.heard
    then(phone)  # the other number of the same account: locked as soon as it is keyed
    assert LOCKED in phone.heard
    assert "请输入查询密码" not in phone.heard


def test_a_later_call_hears_the_minutes_left_of_the_lock(make_app, clock):
    """The lock's end is read from the store: a call 12½ minutes on hears 18 minutes left."""
    phone = Phone.for_app(make_app(), token=TOKEN)
    phone.dial().press("1").enter(BEIJING_ID.replace("X", "*") + "#")
    phone.enter("000000#").enter("000001#").enter("000002#")
    assert LOCKED in phone.heard
    clock.advance(minutes=12, seconds=30)
    phone.dial().press("1").enter(BEIJING_CARD + "#")
    assert phone.heard.startswith("密码错误次数过多，该账户的电话查询已暂停，请十八分钟后再拨。")
    assert "三十" not in phone.heard
    assert phone.ended
    clock.advance(minutes=17)  # its last minute: "一分钟", never "零分钟"
    phone.dial().press("1").enter(BEIJING_CARD + "#")
    assert phone.heard.startswith("密码错误次数过多，该账户的电话查询已暂停，请一分钟后再拨。")


def test_tries_are_counted_per_account_not_per_route(store_url, make_app):
    phone = Phone.for_app(make_app(DATABASE_URL=store_url), token=TOKEN)
    by_id(phone).enter("000000#").enter("000001#")
    assert "您还可以尝试一次" in phone.heard
    by_card(phone).enter("000002#")  # a third wrong PIN, by the other route: locked
    assert LOCKED in phone.heard


def test_wrong_pins_a_lockout_apart_never_add_up(make_app, clock):
    phone = Phone.for_app(make_app(), token=TOKEN)
    by_id(phone).enter("000000#").enter("000001#")
    assert "您还可以尝试一次" in phone.heard
    clock.advance(minutes=31)  # longer than a lock would last: the count starts afresh
    by_id(phone).enter("000002#")
    assert "您还可以尝试两次" in phone.heard
    assert LOCKED not in phone.heard


def test_an_unknown_number_locks_by_itself_and_sounds_like_a_real_one(store_url, make_app):
    # Six wrong PINs from one phone: the caller's own limit is not what this test is about.
    app = make_app(DATABASE_URL=store_url, IVR_MAX_CALLER_PIN_FAILURES=100)
    phone = Phone.for_app(app, token=TOKEN)
    heard = []
    for number in (UNKNOWN_CARD, BEIJING_CARD):
        by_card(phone, number).enter("000000#").enter("000001#").enter("000002#")
        by_card(phone, number)
        heard.append(phone.transcript)
    assert heard[0] == heard[1]  # word for word: which number exists is not told
    assert LOCKED in heard[0]
    # The real account was locked by its own guesses only: an unknown number's lock is its own.
    phone = Phone.for_app(app, token=TOKEN)
    by_card(phone, UNKNOWN_CARD)
    assert LOCKED in phone.heard
    by_id(phone, "310101194903010318").enter("654321#")
    assert "余额是一万六千四百零九元零二分" in phone.heard


def test_a_caller_walking_numbers_is_cut_off(store_url, make_app):
    phone = Phone.for_app(make_app(DATABASE_URL=store_url), token=TOKEN)
    phone.dial().press("1").enter("990000001#").enter("000000#").enter("000001#")
    phone.press("*#").press("2").enter("990000002#").enter("000000#").enter("000001#")
    assert "您还可以尝试一次" in phone.heard  # four wrong PINs, two numbers: still talking
    phone.press("*#").press("2").enter("990000003#").enter("000000#")
    assert ENDED in phone.heard  # the fifth ends the call, politely
    assert phone.ended


def test_the_callers_count_follows_a_real_from_number_across_calls(make_app, clock):
    hotline = make_app(IVR_MAX_CALLER_PIN_FAILURES=3).extensions["ivr"]

    def guess(call_sid, caller, card):
        env = Env(hotline.store, hotline.regions, hotline.settings, clock(), caller=caller)
        call = new_call(call_sid, "zh", "urumqi", clock())
        assert actions.identify_by_number(env, call, card).ok
        return actions.verify_pin(env, call, "000000").goto

    caller = "+8613912345678"
    assert [guess(f"CA{n}", caller, f"99000000{n}") for n in range(3)] == [None, None, "too_many"]
    assert guess("CA9", caller, "990000009") == "too_many"  # a new call from the same phone
    # A withheld caller ID names nobody, so every withheld caller counts as one: a guesser
    # hiding the number gets no fresh count with each call.
    hidden = ("+266696687", "anonymous", "", None, "+266696687")
    withheld = [guess(f"CB{n}", From, f"99000001{n}") for n, From in enumerate(hidden)]
    assert withheld == [None, None, "too_many", "too_many", "too_many"]


def test_old_counts_are_purged_but_running_locks_kept(make_app, clock):
    store = make_app().extensions["ivr"].store
    lock = dt.timedelta(minutes=30)
    for _ in range(3):
        store.count_attempt("locked", clock(), 3, lock)
    store.count_attempt("counted", clock(), 3, lock)
    clock.advance(minutes=10)
    store.purge_lockouts(before=clock(), now=clock())
    assert store.lockout("counted") == (0, None)
    assert store.lockout("locked")[0] == 3
    clock.advance(minutes=30)
    store.purge_lockouts(before=clock(), now=clock())
    assert store.lockout("locked") == (0, None)
