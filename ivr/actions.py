"""The only code the flow may name: identify, verify the PIN, and read out the account.

Each action is `(env, call, value) -> Outcome`: `env` is the request's types.Env, `call` the
call's state (actions own who the caller is; the dialog owns where the call is).
"""

import datetime as dt
import math

from ivr import identity
from ivr import regions as regions_module
from ivr.prompts import Phrase
from ivr.prompts import Ref
from ivr.prompts import other_language
from ivr.spoken import Value
from ivr.types import Actions
from ivr.types import Outcome

log = identity.logger(__name__)
PAGE_SIZE = 3
PROMPTS = (
    "invalid_number", "invalid_id", "pin_format", "wrong_pin", "lock_minutes", "balance_date",
    "balance",
    "balance_resident",
    "history_intro", "history_more_intro", "history_line", "history_line_base",
    "history_line_shares", "history_line_resident",
    "history_none", "history_retiree", "history_end",
    "status_paid", "status_pending", "status_overdue", "credit_latest", "credit_none",
    "credit_resident", "rule_fixed_monthly", "rule_fixed_monthly_tiered", "rule_fixed_yearly",
    "rule_fixed_yearly_tiered", "rule_fixed_monthly_shape", "rule_fixed_monthly_by_age",
    "rule_fixed_monthly_no_age", "rule_pension_share", "rule_employee", "channels",
    "resident_payment", "agent_hours", "queue_wait", "queue_next", "queue_position",
    "wrong_old_pin", "weak_pin", "pin_from_account", "same_pin", "pin_mismatch", "pin_changed",
    "pin_not_changed",
    "card_reported_lost", "card_already_lost", "card_none", "card_lost_call",
    "card_found", "card_not_lost",
)  # fmt: skip
WITHHELD_CALLER = "withheld"  # the one caller every withheld From counts as
CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "CST")  # agents keep Beijing time, no DST
ID_LENGTH = 18  # GB 11643; card serials are 9 characters, so 18 keyed is an ID (domain §2.6)
# Residents pay in the autumn for the next insured year (年度): from September the collection
# under way is for next year's cover (国办发〔2024〕38号 as quoted in domain-review-3.md (b)).
COLLECTION_FROM_MONTH = 9


def _say(key, **params):
    return (Phrase.of(key, **params),)


def switch_language(env, call, _):
    call.lang = other_language(call.lang)
    return Outcome()


def _pend(env, call, kind, number, account):
    """Remember which account (or unknown number) the PIN will be checked against.

    A known account is counted as one subject whichever number named it, so three wrong
    PINs by ID lock the card route too; an unknown number is its own subject, locked the same
    way. Only a keyed hash and the last 4 are kept.
    """
    secret = env.settings.secret_key
    call.route = kind
    if account is None:
        call.subject = identity.subject(kind, number, secret)
    else:
        call.subject = identity.subject("account", account.id_number, secret)
    call.pending_account_id = account.id if account else None
    call.last4 = number[-4:]
    call.account_id = None
    _, locked_until = env.store.lockout(call.subject)
    if identity.is_locked(locked_until, env.now):
        log.info("identification refused: %s is locked", identity.mask(number))
        return _locked(env, locked_until)
    return Outcome()


def _locked(env, until):
    """The number is locked: say how long is left of it, as the store has it; the call ends.

    A later call hears the minutes still to wait, rounded up, not the lock's whole length.
    """
    if until is None:  # the lock was lifted in between: its whole length is the most it is
        minutes = env.settings.lockout_minutes
    else:
        minutes = max(1, math.ceil((until - env.now).total_seconds() / 60))
    return Outcome(
        ok=False, goto="locked", phrases=_say("lock_minutes", minutes=Value("minutes", minutes))
    )


def identify_by_number(env, call, keyed):
    """One entry for an ID or a card number, told apart by form and checksum (no menu).

    18 characters failing the GB 11643 check are a mistyped ID, never a card (card serials
    are 9), whether or not such a card exists, so the answer tells a guesser nothing: the
    caller keys it again, before any PIN, so a typo locks nothing.
    """
    try:
        kind, number = identity.classify_number(keyed)
    except identity.IdentityError:
        kind = None
    if len(keyed.strip()) == ID_LENGTH and kind != "id":
        return Outcome(ok=False, phrases=_say("invalid_id"))
    if kind is None:  # the length message is for wrong lengths only
        return Outcome(ok=False, phrases=_say("invalid_number"))
    account = env.store.find_account(kind, number)
    if account is None and kind == "id" and number.isdigit():
        card = env.store.find_account("card", number)  # an 18-digit card that checks as an ID
        if card is not None:
            kind, account = "card", card
    return _pend(env, call, kind, number, account)


def _caller_subjects(env, call):
    """What counts one caller's wrong PINs across numbers: the call, and a real From number."""
    secret = env.settings.secret_key
    subjects = [identity.subject("call", call.call_sid, secret)] if call.call_sid else []
    # A withheld or anonymous From names no one, so all such callers count as one: one of
    # them can no longer walk numbers call after call with a fresh count each time.
    number = identity.caller_number(env.caller) or WITHHELD_CALLER
    subjects.append(identity.subject("caller", number, secret))
    return subjects


def verify_pin(env, call, keyed):
    """Check the PIN; an unknown number fails exactly as a wrong PIN does, lockout included.

    Every attempt is counted before the hash is compared (store.count_attempt), for the
    account and for the caller, so no number of parallel guesses gets more than the limit
    checked. A caller with too many wrong PINs across numbers is told so and the call ends.
    """
    if call.account_id:  # a repeated request after success: carry on
        return Outcome()
    if not call.subject:  # a PIN with no number to check it against (a stale request)
        return Outcome(ok=False, goto="unidentified")
    try:
        identity.check_pin_format(keyed)
    except identity.IdentityError:
        return _short_pin(env, call, call.subject)
    settings, store = env.settings, env.store
    account = store.get_account(call.pending_account_id) if call.pending_account_id else None
    if (
        call.route == "card"
        and account is not None
        and store.card_lost(account.card_number, env.now, _card_hold(env, account))
    ):
        # A lost card identifies no one, whatever PIN follows: none is checked or counted,
        # so the words never confirm a right one to whoever holds the card.
        call.subject, call.pending_account_id = None, None
        log.info("card ending %s is reported lost: no PIN checked", call.last4)
        return Outcome(ok=False, goto="card_lost")
    refused, counted, failures = _count_attempt(env, call, call.subject)
    if refused:
        return refused
    decoy = identity.decoy_hash(settings.pin_hash_cost)
    matches = identity.verify_pin(keyed, account.pin_hash if account else decoy)
    if matches and account:
        store.clear_lockout(call.subject)
        _give_back(store, counted, settings.max_caller_pin_failures)
        call.subject, call.pending_account_id = None, None
        call.account_id = account.id
        log.info("caller verified for account ending %s", call.last4)
        return Outcome()
    log.info(
        "PIN rejected for number ending %s (%d of %d)", call.last4, failures, settings.max_pin_tries
    )
    return _wrong(env, call.subject, counted, failures, _say("wrong_pin"))


def _count_attempt(env, call, subject):
    """Count one PIN attempt for the caller and for the number, before any PIN is compared.

    Return (refused, counted, failures): `refused` is the Outcome when no attempt may be made
    (this caller has had too many wrong PINs, or the number is locked; nothing then stays
    counted), `counted` the caller's (subject, count) pairs and `failures` the number's count,
    each with this attempt.
    """
    settings, store = env.settings, env.store
    lock = dt.timedelta(minutes=settings.lockout_minutes)
    caller_limit = settings.max_caller_pin_failures
    counted = []
    for caller in _caller_subjects(env, call):
        count = store.count_attempt(caller, env.now, caller_limit, lock)
        if count is None:
            _give_back(store, counted, caller_limit)
            log.info("PIN refused: this caller has had too many wrong PINs")
            return Outcome(ok=False, goto="too_many"), [], None
        counted.append((caller, count))
    failures = store.count_attempt(subject, env.now, settings.max_pin_tries, lock)
    if failures is None:  # locked: nothing is checked, so the caller's counters are given back
        _give_back(store, counted, caller_limit)
        return _locked(env, store.lockout(subject)[1]), [], None
    return None, counted, failures


def _left(settings, counted, failures):
    """The wrong PINs the number and the caller still allow after these counts: the fewer.

    The caller's cap counts earlier calls too, so it may be the smaller budget.
    """
    caller_limit = settings.max_caller_pin_failures
    return min([settings.max_pin_tries - failures, *(caller_limit - n for _, n in counted)])


def _wrong(env, subject, counted, failures, phrases):
    """A wrong PIN, counted: the caller's end or the lock if it reached one, else the tries left."""
    settings = env.settings
    if any(count >= settings.max_caller_pin_failures for _, count in counted):
        log.info("caller ended: %d wrong PINs across numbers", settings.max_caller_pin_failures)
        return Outcome(ok=False, goto="too_many")
    if failures >= settings.max_pin_tries:
        return _locked(env, env.store.lockout(subject)[1])
    return Outcome(ok=False, phrases=phrases, left=_left(settings, counted, failures))


def _short_pin(env, call, subject):
    """A PIN that is not 6 digits: none is compared or counted, but the entry's try is used.

    The caller hears how many tries are left, the smallest budget as after a wrong PIN: the
    number's and the caller's are read by counting an attempt and giving it back, so a count
    the store would start afresh (an old one, an ended lock) reads as it will be.
    """
    refused, counted, failures = _count_attempt(env, call, subject)
    if refused:
        return refused
    _give_back(env.store, counted, env.settings.max_caller_pin_failures)
    env.store.uncount_attempt(subject, unlock=failures >= env.settings.max_pin_tries)
    uncounted = [(caller, count - 1) for caller, count in counted]
    left = _left(env.settings, uncounted, failures - 1)
    return Outcome(ok=False, phrases=_say("pin_format"), left=left)


def _give_back(store, counted, limit):
    """Give back the caller's counted attempts when no PIN was wrong."""
    for subject, count in counted:
        store.uncount_attempt(subject, unlock=count >= limit)


def _account(env, call):
    account = env.store.get_account(call.account_id)
    if account is None:
        raise LookupError("the identified account is gone")
    return account


def _today(env):
    """The date in China, which the caller's statements and the insured year follow."""
    return env.now.astimezone(CHINA_TIME).date()


def balance(env, call, _):
    """The balance the store holds now, dated (截至…), as a statement is."""
    account = _account(env, call)
    if account.category == "resident":
        return Outcome(phrases=_say("balance_resident"))
    return Outcome(
        phrases=_say("balance_date", date=Value("date", _today(env)))
        + _say("balance", amount=Value("amount", account.balance))
    )


def insured_year(period):
    """The 年度 a resident's payment in "YYYY-MM" was for: the next year from September on."""
    year, month = (int(part) for part in period.split("-"))
    return year + 1 if month >= COLLECTION_FROM_MONTH else year


def history(env, call, page):
    """Read three payments, newest first; a page past the end says there are no more.

    On the last page the answer is `last`, so the caller is not offered earlier records.
    """
    account = _account(env, call)
    entries = env.store.payments(account.id, page * PAGE_SIZE, PAGE_SIZE + 1)
    if not entries:
        if page == 0 and account.category == "retiree":
            # 社会保险法 第二十七条: retirees with enough years no longer pay.
            return Outcome(phrases=_say("history_retiree"), last=True)
        if page == 0:
            return Outcome(phrases=_say("history_none"), last=True)
        # "1" repeats the last page
        return Outcome(phrases=_say("history_end"), page=page - 1, last=True)
    phrases = list(_say("history_intro" if page == 0 else "history_more_intro"))
    for entry in entries[:PAGE_SIZE]:
        status = Ref(f"status_{entry.status}")
        if account.category == "resident":  # residents think in the insured year paid for
            phrases += _say(
                "history_line_resident",
                year=Value("year", insured_year(entry.period)),
                month=Value("month", entry.period),
                amount=Value("amount", entry.amount),
                status=status,
            )
            continue
        key, values = _history_line(entry)
        phrases += _say(key, **values, status=status)
    if len(entries) <= PAGE_SIZE:
        return Outcome(phrases=tuple(phrases + list(_say("history_end"))), last=True)
    return Outcome(phrases=tuple(phrases))


def _history_line(entry):
    """An employee's payment: its month and personal share, and the contribution base and
    the employer's share where the data has them. Returns (prompt key, its values)."""
    values = {"month": Value("month", entry.period), "amount": Value("amount", entry.amount)}
    if entry.base is None:
        return "history_line", values
    values["base"] = Value("amount", entry.base)
    if entry.employer is None:
        return "history_line_base", values
    return "history_line_shares", values | {"employer": Value("amount", entry.employer)}


def _rule(env, account):
    """Say how the account's region credits a retiree's personal account.

    A figure only where regions.toml has one with its source; otherwise the rule's shape.
    """
    region = env.regions[account.region]
    rule = region.credit
    name = Ref(f"region_{region.key}")
    if rule.kind == "pension_share":
        return _say("rule_pension_share", region=name, percent=Value("number", rule.percent))
    period = "monthly" if rule.kind == "fixed_monthly" else "yearly"
    if rule.amount is None:
        shape = {True: "by_age", False: "no_age", None: "shape"}[rule.by_age]
        return _say(f"rule_fixed_{period}_{shape}", region=name)
    if rule.older_age is None:
        return _say(f"rule_fixed_{period}", region=name, amount=Value("amount", rule.amount))
    return _say(
        f"rule_fixed_{period}_tiered",
        region=name,
        amount=Value("amount", rule.amount),
        age=Value("number", rule.older_age),
        older_amount=Value("amount", rule.older_amount),
    )


def credit(env, call, _):
    account = _account(env, call)
    if account.category == "resident":
        return Outcome(phrases=_say("credit_resident"))
    latest = env.store.latest_credit(account.id)
    if latest is None:
        phrases = _say("credit_none")
    else:
        phrases = _say(
            "credit_latest",
            month=Value("month", latest.period),
            amount=Value("amount", latest.amount),
        )
    if account.category == "employee":
        return Outcome(phrases=phrases + _say("rule_employee"))
    return Outcome(phrases=phrases + _rule(env, account))


def channels(env, call, _):
    return Outcome(phrases=_say("channels"))


def resident_payment(env, call, _):
    """The residents' payment for the 年度 now being collected, dated by the clock."""
    today = _today(env)
    year = insured_year(f"{today.year}-{today.month:02d}")
    return Outcome(
        phrases=_say(
            "resident_payment",
            year=Value("year", year),
            collected=Value("year", year - 1),
            amount=Value("amount", env.settings.resident_premium),
        )
    )


def check_old_pin(env, call, keyed):
    """Before a PIN change: the current PIN again, counted as the PIN check counts it.

    A wrong one counts toward the account's lock and the caller's cap, and the caller hears
    the smallest of the entry's, the account's and the caller's tries left.
    """
    call.pin_checked, call.new_pin_hash = False, None
    account = _account(env, call)
    settings, store = env.settings, env.store
    subject = identity.subject("account", account.id_number, settings.secret_key)
    try:
        identity.check_pin_format(keyed)
    except identity.IdentityError:
        outcome = _short_pin(env, call, subject)
    else:
        refused, counted, failures = _count_attempt(env, call, subject)
        if not refused and identity.verify_pin(keyed, account.pin_hash):
            store.clear_lockout(subject)
            _give_back(store, counted, settings.max_caller_pin_failures)
            call.pin_checked = True
            return Outcome()
        outcome = refused or _wrong(env, subject, counted, failures, _say("wrong_old_pin"))
    if outcome.goto:
        log.info("PIN change: too many wrong PINs for account ending %s", call.last4)
        call.account_id = None  # locked, or the call ends: it no longer holds the account
    return outcome


def new_pin(env, call, keyed):
    """The new PIN, first time: six digits, not easy to guess, not the old one; kept hashed."""
    call.new_pin_hash = None
    if not call.pin_checked:  # a replayed request that skipped the old PIN
        return Outcome(ok=False)
    try:
        identity.check_pin_format(keyed)
    except identity.IdentityError:  # the entry's try is used: the dialog says what is left
        return Outcome(ok=False, phrases=_say("pin_format"), left=math.inf)
    account = _account(env, call)
    try:
        numbers = (account.id_number, account.card_number)
        identity.check_new_pin(keyed, numbers, account.birth_date)
    except identity.PinFromAccount:
        return Outcome(ok=False, phrases=_say("pin_from_account"))
    except identity.IdentityError:
        return Outcome(ok=False, phrases=_say("weak_pin"))
    if identity.verify_pin(keyed, account.pin_hash):
        return Outcome(ok=False, phrases=_say("same_pin"))
    # Salted after the PIN it replaces: the change lands only if that PIN still holds.
    salt = identity.salt_after(account.pin_hash, env.settings.secret_key)
    call.new_pin_hash = identity.hash_pin(keyed, n=env.settings.pin_hash_cost, salt=salt)
    return Outcome()


def repeat_pin(env, call, keyed):
    """The new PIN again: it must match the first, else the caller sets it afresh."""
    if call.new_pin_hash and identity.verify_pin(keyed, call.new_pin_hash):
        return Outcome()
    call.new_pin_hash = None
    return Outcome(ok=False, phrases=_say("pin_mismatch"), goto="mismatch")


def change_pin(env, call, _):
    """The caller confirmed: the new PIN replaces the old in one compare-and-set statement.

    Only if the PIN is still the one this call's new PIN was made to replace: of two calls
    confirming different new PINs at once, one holds and the other hears it did not change.
    """
    new_hash = call.new_pin_hash
    call.pin_checked, call.new_pin_hash = False, None
    if not new_hash:
        return Outcome(phrases=_say("pin_not_changed"))
    account = _account(env, call)
    current = account.pin_hash
    if not (
        identity.replaces(new_hash, current, env.settings.secret_key)
        and env.store.set_pin_hash(account.id, new_hash, expected=current)
    ):
        log.info("PIN change for account ending %s lost to another change", call.last4)
        return Outcome(phrases=_say("pin_not_changed"))
    log.info("query PIN changed for account ending %s", call.last4)
    return Outcome(phrases=_say("pin_changed"))


def _card_hold(env, account):
    """How long a temporary loss report of the account's card holds: its region's days."""
    return dt.timedelta(days=env.regions[account.region].card_hold_days)


def report_lost_card(env, call, _):
    """A temporary loss report: the card identifies no one until it is lifted or lapses.

    Nor this call, if the card is what identified it: the caller keys the ID number next.
    It lapses by itself after the region's card_hold_days (the sources found: 7 days).
    """
    account = _account(env, call)
    if not account.card_number:
        return Outcome(phrases=_say("card_none"))
    last4 = Value("digits", account.card_number[-4:])
    if env.store.report_card_lost(account.card_number, env.now, _card_hold(env, account)):
        log.info("card ending %s reported lost", account.card_number[-4:])
        days = Value("count", env.regions[account.region].card_hold_days)
        phrases = _say("card_reported_lost", card=last4, days=days)
    else:
        phrases = _say("card_already_lost", card=last4)
    if call.route == "card":
        call.account_id = None
        phrases += _say("card_lost_call")
    return Outcome(phrases=phrases)


def lift_card_report(env, call, _):
    """Lift a temporary loss report by phone (the caller found the card): it identifies again."""
    account = _account(env, call)
    if not account.card_number:
        return Outcome(phrases=_say("card_none"))
    last4 = Value("digits", account.card_number[-4:])
    if not env.store.card_lost(account.card_number, env.now, _card_hold(env, account)):
        return Outcome(phrases=_say("card_not_lost", card=last4))  # never, or lapsed
    env.store.report_card_found(account.card_number)
    log.info("card ending %s: loss report lifted", account.card_number[-4:])
    return Outcome(phrases=_say("card_found", card=last4))


def agents_open(env, call, _):
    region = env.regions[call.line]
    if regions_module.agents_open(region, env.now.astimezone(CHINA_TIME)):
        return Outcome()
    return Outcome(ok=False, goto="closed")


def agent_hours(env, call, _):
    region = env.regions[call.line]
    return Outcome(phrases=_say("agent_hours", hours=Value("hours", region.agent_hours)))


def queue_wait(env, call, position):
    """On hold, between the music: the agents are busy, and the caller's place in the queue
    (Twilio's QueuePosition, 1 for the next to be answered) when the request gives one."""
    if position is None:
        return Outcome(phrases=_say("queue_wait"))
    if position == 1:
        return Outcome(phrases=_say("queue_next"))
    return Outcome(phrases=_say("queue_position", position=Value("number", position)))


def registry():
    """Return every action the flow may name, with the outcomes each may return."""
    return (
        Actions(prompts=PROMPTS)
        .add("switch_language", switch_language)
        .add("identify_by_number", identify_by_number, outcomes=("locked",))
        .add("verify_pin", verify_pin, outcomes=("locked", "unidentified", "too_many", "card_lost"))
        .add("balance", balance)
        .add("history", history)
        .add("credit", credit)
        .add("channels", channels)
        .add("resident_payment", resident_payment)
        .add("check_old_pin", check_old_pin, outcomes=("locked", "too_many"))
        .add("new_pin", new_pin)
        .add("repeat_pin", repeat_pin, outcomes=("mismatch",))
        .add("change_pin", change_pin)
        .add("report_lost_card", report_lost_card)
        .add("lift_card_report", lift_card_report)
        .add("agents_open", agents_open, outcomes=("closed",))
        .add("agent_hours", agent_hours)
        .add("queue_wait", queue_wait)  # not the flow's: the queue's waitUrl (Hotline.hold)
    )
