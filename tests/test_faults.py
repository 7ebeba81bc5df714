"""The line under load and faults (issue #11): many calls at once, killed workers, a store
that drops away or answers slowly. All over real HTTP through gunicorn, on loopback."""

import functools
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from softphone.phone import Phone

from ivr import identity
from ivr.accounts import parse_account
from ivr.regions import load_regions
from ivr.spoken import en
from ivr.spoken import zh
from ivr.store import Store
from ivr.store import ended_calls
from tests.conftest import TEST_SCRYPT_N
from tests.conftest import TOKEN
from tests.conftest import account
from tests.databases import BACKENDS
from tests.databases import POSTGRES_SERVER
from tests.databases import database_url
from tests.databases import postgres_database
from tests.served import served_app
from tests.tcp_proxy import TcpProxy

CALLERS = 200
BUSY = "系统繁忙，请稍后再拨。再见。"
PIN_PROMPT = "请输入查询密码"
TWILIO_LIMIT = 15  # seconds Twilio waits for a webhook before its own error
SECRET = "faults-test-secret"


def caller_account(index):
    """The index-th caller's own account: a distinct ID number, PIN and balance."""
    body = f"11010519600101{index:03d}"  # Beijing, born 1960-01-01, sequence `index`
    id_number = body + identity.id_check_character(body)
    balance = Decimal(1000 + 7 * index) + Decimal(index % 90 + 10) / 100
    pin = f"{(index * 7919) % 1_000_000:06d}"
    return account(id_number, pin, "beijing", "employee", str(balance))


CALLER_ACCOUNTS = [caller_account(index) for index in range(CALLERS)]


@pytest.fixture(scope="module")
def caller_rows():
    """The callers' accounts checked and hashed once at the test cost (as `account_rows`)."""
    regions = load_regions()
    return [
        parse_account(row, index, regions, cost=TEST_SCRYPT_N)
        for index, row in enumerate(CALLER_ACCOUNTS)
    ]


def stocked(url, rows):
    """Put these accounts into the store at `url`, as an import would."""
    store = Store(url)
    store.replace_accounts(rows)
    store.engine.dispose()


# gunicorn closes a connection idle 2 s by default: a caller's next request, sent on it as it
# closes, then dies unanswered (RemoteDisconnected), a race of the transport, not of the
# line. Served as behind a load balancer, the server keeps connections longer than its
# client does. (No control socket: several servers run at once, each test its own.)
GUNICORN = "--keep-alive 75 --no-control-socket"


def settings_for(url, **more):
    return {
        "DATABASE_URL": url,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "SECRET_KEY": SECRET,
        "GUNICORN_CMD_ARGS": GUNICORN,
        **more,
    }


def new_phone(base_url, caller="+8613800138000"):
    """A phone over HTTP that, like Twilio, reports the call's end to the status callback."""
    return Phone.for_url(
        base_url + "/voice",
        token=TOKEN,
        caller=caller,
        status_callback=base_url + "/voice/status",
    )


def faults(phone):
    """What Twilio would have logged as errors on this call (a 5xx, a timeout, bad TwiML)."""
    return [event.data for event in phone.events if event.kind == "error"]


def balance_words(row, lang):
    """The words a caller hears for their own balance."""
    amount = Decimal(row["balance"])
    return f"余额是{zh.amount(amount)}。" if lang == "zh" else f"balance is {en.amount(amount)}."


# 1. Two hundred calls at once, each through every step to its own balance.


def call_steps(phone, row, lang):
    """The steps of a balance call, each a request; both kinds take six, for the barrier."""
    number = row["id_number"].replace("X", "*") + "#"
    language = ("9", "9") if lang == "zh" else ("9",)  # to English and back, or to English
    keys = (*language, "1", number, row["pin"] + "#")
    steps = [phone.dial, *(lambda k=k: phone.press(k) for k in keys)]
    if lang == "en":
        steps.append(lambda: phone.press("1"))  # hear it again
    return steps


def first_failure(futures):
    """Raise what made the first caller fail (the others only saw the barrier break)."""
    errors = [f.exception(timeout=120) for f in futures]
    for error in errors:
        if error is not None and not isinstance(error, threading.BrokenBarrierError):
            raise error
    return None


# The heaviest tests of the suite (about 10 s of CPU each), and the one whose workers must
# boot again in time: one after the other on one pytest-xdist worker, so none of them runs
# beside another.
@pytest.mark.xdist_group("load")
@pytest.mark.parametrize("backend", BACKENDS)
def test_two_hundred_calls_at_once_each_hear_their_own_balance(backend, tmp_path, caller_rows):
    with database_url(backend, tmp_path) as url:
        stocked(url, caller_rows)
        with served_app(settings_for(url), workers=4, threads=4) as base_url:
            step_together = threading.Barrier(CALLERS, timeout=60)

            def call(index):
                lang = "zh" if index % 2 else "en"
                # Two hundred people, each from their own phone: one number's PIN attempts
                # are limited as one caller's, however many calls it makes at once.
                phone = new_phone(base_url, caller=f"+86139{index:08d}")
                try:
                    for step in call_steps(phone, CALLER_ACCOUNTS[index], lang):
                        step_together.wait()  # every caller makes this step at the same time
                        step()
                    heard = phone.heard
                    phone.hangup()
                    return phone, lang, heard
                except BaseException:
                    step_together.abort()  # the others stop waiting for this caller
                    raise

            started = time.monotonic()
            with ThreadPoolExecutor(CALLERS) as pool:
                futures = [pool.submit(call, index) for index in range(CALLERS)]
                calls = [first_failure(futures) or future.result() for future in futures]
            took = time.monotonic() - started
        for index, (phone, lang, heard) in enumerate(calls):
            own = balance_words(CALLER_ACCOUNTS[index], lang)
            assert faults(phone) == [], f"caller {index}"
            assert own in heard, f"caller {index}"
            told = [s for s in phone.transcript.splitlines() if "余额是" in s or "balance is" in s]
            assert all(own in said for said in told), f"caller {index} heard {told}"
        # No call lost: every call's end reached the store through the status callback.
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            recorded = set(conn.execute(sa.select(ended_calls.c.call_sid)).scalars())
        engine.dispose()
        assert recorded == {phone.call.call_sid for phone, _, _ in calls}
        print(f"{CALLERS} calls on {backend} in {took:.1f} s")


# 2. A worker killed between two steps of a call.


def child_pids(parent):
    """The pids of a process's children, read from /proc (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def gunicorn_master(base_url):
    """The gunicorn master this test process started for `base_url`."""
    bind = base_url.removeprefix("http://").encode()
    for pid in child_pids(os.getpid()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if bind in command:
            return pid
    raise AssertionError(f"no gunicorn master of ours binds {bind}")


def dead(pid):
    """Whether a process has exited (gone, or a zombie its parent has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def living(pids):
    """The processes that have not exited (a killed worker stays a zombie until reaped)."""
    return {pid for pid in pids if not dead(pid)}


def kill_workers(master, base_url):
    """SIGKILL every worker (no clean-up runs) and wait until they are dead; return their pids.

    The kill lands between two steps, while the caller listens to a prompt: by the next key
    the worker is gone and its kept-alive connection closed (a request caught in flight by
    the kill is a transport failure, Twilio's to retry, not the line's).
    """
    workers = child_pids(master)
    assert workers, "gunicorn has no workers"
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not all(dead(pid) for pid in workers) or open_to(base_url):
        assert time.monotonic() < deadline, "killed workers still running"
        time.sleep(0.01)
    return set(workers)


def open_to(base_url):
    """Whether a client's connection to the server is still open as the client sees it.

    A dead worker's end is closed at once, but on a busy machine the kernel may pass the
    close on to the client's end a moment later: a request sent meanwhile is reset.
    """
    port = f"{int(base_url.rsplit(':', 1)[1]):04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    # Fields: slot, local address, remote address, state (01 is ESTABLISHED), ...
    return any(f[2].endswith(":" + port) and f[3] == "01" for f in map(str.split, lines))


@pytest.mark.xdist_group("load")
def test_workers_killed_between_steps_the_call_goes_on(tmp_path, account_rows):
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    stocked(url, account_rows)
    with served_app(settings_for(url), workers=2, threads=2) as base_url:
        master = gunicorn_master(base_url)
        phone = new_phone(base_url)
        phone.dial().press("1")
        killed = kill_workers(master, base_url)  # between two menu steps
        phone.press("1").enter("11010519491231002*#")
        assert PIN_PROMPT in phone.heard
        assert killed.isdisjoint(living(child_pids(master)))  # new workers answered
        kill_workers(master, base_url)  # between the number and the PIN
        phone.enter("123456#")
        assert "余额是一千二百三十四元五角六分。" in phone.heard
        assert faults(phone) == []


# 3 and 4. The store behind a proxy that the tests cut and slow down (PostgreSQL only).


@pytest.fixture
def proxied_store(account_rows):
    """A fresh PostgreSQL database holding the test accounts, reached through a TcpProxy."""
    with postgres_database() as url:
        stocked(url, account_rows)
        server = sa.make_url(POSTGRES_SERVER)
        with TcpProxy(server.host or "127.0.0.1", server.port or 5432) as proxy:
            proxied = sa.make_url(url).set(host="127.0.0.1", port=proxy.port)
            yield proxy, proxied.render_as_string(hide_password=False)


def to_pin(phone):
    return phone.dial().press("1").enter("11010519491231002*#")


def timed(action):
    started = time.monotonic()
    action()
    return time.monotonic() - started


@pytest.mark.postgres
def test_store_cut_mid_call_answers_busy_and_the_line_recovers(proxied_store):
    proxy, url = proxied_store
    with served_app(settings_for(url, IVR_DB_TIMEOUT=2), workers=2, threads=2) as base_url:
        for _ in range(4):  # every worker's pool holds a connection through the proxy
            assert "余额是" in to_pin(new_phone(base_url)).enter("123456#").heard
        phone = new_phone(base_url).dial().press("1")  # the menus need no store
        proxy.cut()
        took = timed(lambda: phone.enter("11010519491231002*#"))  # the number needs it
        assert BUSY in phone.heard
        assert phone.ended
        assert faults(phone) == []  # a 200 with TwiML: Twilio logged no error
        assert took < 5
        proxy.restore()
        for _ in range(4):  # the first call after, whichever worker takes it, gets through
            again = to_pin(new_phone(base_url)).enter("123456#")
            assert "余额是一千二百三十四元五角六分。" in again.heard
            assert faults(again) == []


@pytest.mark.postgres
def test_a_slow_store_answers_busy_well_inside_15_s(proxied_store):
    proxy, url = proxied_store
    # One worker, so the connection its pool keeps from the first call is surely the one
    # that turns slow: the server answers at once, its bytes are late on the way.
    with served_app(settings_for(url, IVR_DB_TIMEOUT=2), workers=1, threads=2) as base_url:
        assert "余额是" in to_pin(new_phone(base_url)).enter("123456#").heard
        phone = new_phone(base_url).dial().press("1")
        proxy.slow(30)  # far beyond IVR_DB_TIMEOUT, and beyond Twilio's 15 s
        took = timed(lambda: phone.enter("11010519491231002*#"))
        assert faults(phone) == []  # no timeout (11205) and no error
        assert BUSY in phone.heard
        assert took < 10
        proxy.restore()
        again = to_pin(new_phone(base_url)).enter("123456#")
        assert "余额是一千二百三十四元五角六分。" in again.heard


# 5. Issue #20: the whole webhook inside its deadline, and menus never behind the store.


@pytest.mark.postgres
def test_a_warm_worker_on_a_stalled_store_waits_one_timeout_not_two(proxied_store):
    """The deadline cut the pool's ping, then the reconnect waited a timeout of its own."""
    proxy, url = proxied_store
    timeout = 3
    with served_app(settings_for(url, IVR_DB_TIMEOUT=timeout), workers=1, threads=2) as base_url:
        assert "余额是" in to_pin(new_phone(base_url)).enter("123456#").heard  # a warm pool
        # No status callback: Twilio posts it apart, and it is a webhook of its own.
        phone = Phone.for_url(base_url + "/voice", token=TOKEN).dial().press("1")
        proxy.slow(30)  # the ping's answer is late, and so would be a new connection's
        took = timed(lambda: phone.enter("11010519491231002*#"))
        assert BUSY in phone.heard
        assert faults(phone) == []
        assert took < timeout + 1.5  # one timeout (twice it was 6 s)


@pytest.mark.postgres
def test_menus_find_a_thread_while_the_store_holds_the_others(proxied_store):
    """Past as many store-bound requests as a worker has threads, menu steps waited for a
    thread as long as the store held them; now a process runs IVR_STORE_CONCURRENCY store
    calls at most and answers busy at once past that, so threads stay free for menus."""
    proxy, url = proxied_store
    timeout = 4
    settings = settings_for(url, IVR_DB_TIMEOUT=timeout, IVR_STORE_CONCURRENCY=2)
    with served_app(settings, workers=1, threads=4) as base_url:
        assert "余额是" in to_pin(new_phone(base_url)).enter("123456#").heard
        dial = functools.partial(Phone.for_url, base_url + "/voice", token=TOKEN)
        waiting = [dial().dial().press("1") for _ in range(6)]
        menus = [dial().dial() for _ in range(3)]
        proxy.slow(30)
        with ThreadPoolExecutor(len(waiting)) as pool:
            numbers = [
                pool.submit(timed, lambda p=p: p.enter("11010519491231002*#")) for p in waiting
            ]
            time.sleep(0.5)  # the store-bound requests are in, holding what they can
            menu_took = [timed(lambda p=p: p.press("1")) for p in menus]
            number_took = [future.result(timeout=TWILIO_LIMIT) for future in numbers]
        assert all(p.heard and BUSY not in p.heard and faults(p) == [] for p in menus)
        assert max(menu_took) < 2  # not behind the store's 4 s
        assert all(BUSY in p.heard and faults(p) == [] for p in waiting)
        assert max(number_took) < TWILIO_LIMIT
