"""The only code the flow may name: identify, verify the PIN, and read out the account.

Each action is `(env, call, value) -> Outcome`: `env` is the request's types.Env, `call` the
call's state (actions own who the caller is; the dialog owns where the call is).
"""

import datetime as dt

from ivr import identity
from ivr import regions as regions_module
from ivr.prompts import Phrase
from ivr.prompts import Ref
from ivr.spoken import Value
from ivr.types import Actions
from ivr.types import Outcome

log = identity.logger(__name__)
PAGE_SIZE = 3
PROMPTS = (
    "invalid_id", "invalid_card", "pin_format", "wrong_pin", "balance", "balance_resident",
    "history_intro", "history_more_intro", "history_line", "history_none", "history_end",
    "status_paid", "status_pending", "status_overdue", "credit_latest", "credit_none",
    "credit_resident", "rule_fixed_monthly", "rule_fixed_monthly_tiered", "rule_fixed_yearly",
    "rule_fixed_yearly_tiered", "rule_pension_share", "rule_employee", "channels", "agent_hours",
)  # fmt: skip
CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "CST")  # agents keep Beijing time, no DST


def _say(key, **params):
    return (Phrase.of(key, **params),)


def switch_language(env, call, _):
    call.lang = "en" if call.lang == "zh" else "zh"
    return Outcome()


def _pend(env, call, kind, number):
    """Remember which account (or unknown number) the PIN will be checked against.

    A known account is counted as one subject whichever number named it, so three wrong
    PINs by ID lock the card route too; an unknown number is its own subject, locked the same
    way. Only a keyed hash and the last 4 are kept.
    """
    account = env.store.find_account(kind, number)
    secret = env.settings.secret_key
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
        return Outcome(ok=False, goto="locked")
    return Outcome()


def identify_by_id(env, call, keyed):
    try:
        number = identity.normalize_id(keyed)
    except identity.IdentityError:
        return Outcome(ok=False, phrases=_say("invalid_id"))
    return _pend(env, call, "id", number)


def identify_by_card(env, call, keyed):
    try:
        number = identity.normalize_card(keyed)
    except identity.IdentityError:
        return Outcome(ok=False, phrases=_say("invalid_card"))
    return _pend(env, call, "card", number)


def _caller_subjects(env, call):
    """What counts one caller's wrong PINs across numbers: the call, and a real From number."""
    secret = env.settings.secret_key
    subjects = [identity.subject("call", call.call_sid, secret)] if call.call_sid else []
    number = identity.caller_number(env.caller)
    if number:
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
        return Outcome(ok=False, phrases=_say("pin_format"))
    settings, store = env.settings, env.store
    lock = dt.timedelta(minutes=settings.lockout_minutes)
    caller_limit = settings.max_caller_pin_failures
    counted = []  # (subject, count) of the caller's counters taken for this attempt
    for subject in _caller_subjects(env, call):
        count = store.count_attempt(subject, env.now, caller_limit, lock)
        if count is None:
            _give_back(store, counted, caller_limit)
            log.info("PIN refused: this caller has had too many wrong PINs")
            return Outcome(ok=False, goto="too_many")
        counted.append((subject, count))
    max_tries = settings.max_pin_tries
    failures = store.count_attempt(call.subject, env.now, max_tries, lock)
    if failures is None:  # locked: nothing is checked, so the caller's counters are given back
        _give_back(store, counted, caller_limit)
        return Outcome(ok=False, goto="locked")
    account = store.get_account(call.pending_account_id) if call.pending_account_id else None
    matches = identity.verify_pin(keyed, account.pin_hash if account else identity.DECOY_HASH)
    if matches and account:
        store.clear_lockout(call.subject)
        _give_back(store, counted, caller_limit)
        call.account_id, call.subject, call.pending_account_id = account.id, None, None
        log.info("caller verified for account ending %s", call.last4)
        return Outcome()
    log.info("PIN rejected for number ending %s (%d of %d)", call.last4, failures, max_tries)
    if any(count >= caller_limit for _, count in counted):
        log.info("caller ended: %d wrong PINs across numbers", caller_limit)
        return Outcome(ok=False, goto="too_many")
    if failures >= max_tries:
        return Outcome(ok=False, goto="locked")
    return Outcome(ok=False, phrases=_say("wrong_pin", tries=Value("count", max_tries - failures)))


def _give_back(store, counted, limit):
    """Give back the caller's counted attempts when no PIN was wrong."""
    for subject, count in counted:
        store.uncount_attempt(subject, unlock=count >= limit)


def _account(env, call):
    account = env.store.get_account(call.account_id)
    if account is None:
        raise LookupError("the identified account is gone")
    return account


def balance(env, call, _):
    account = _account(env, call)
    if account.category == "resident":
        return Outcome(phrases=_say("balance_resident"))
    return Outcome(phrases=_say("balance", amount=Value("amount", account.balance)))


def history(env, call, page):
    """Read three payments, newest first; a page past the end says there are no more."""
    account = _account(env, call)
    entries = env.store.payments(account.id, page * PAGE_SIZE, PAGE_SIZE + 1)
    if not entries:
        if page == 0:
            return Outcome(phrases=_say("history_none"))
        return Outcome(phrases=_say("history_end"), page=page - 1)  # "1" repeats the last page
    phrases = list(_say("history_intro" if page == 0 else "history_more_intro"))
    for entry in entries[:PAGE_SIZE]:
        status = Ref(f"status_{entry.status}")
        phrases += _say(
            "history_line",
            month=Value("month", entry.period),
            amount=Value("amount", entry.amount),
            status=status,
        )
    if len(entries) <= PAGE_SIZE:
        phrases += _say("history_end")
    return Outcome(phrases=tuple(phrases))


def _rule(env, account):
    """Say how the account's region credits a retiree's personal account."""
    region = env.regions[account.region]
    rule = region.credit
    name = Ref(f"region_{region.key}")
    if rule.kind == "pension_share":
        return _say(
            "rule_pension_share",
            region=name,
            percent=Value("number", rule.percent),
            amount=Value("amount", rule.monthly_share()),
        )
    period = "monthly" if rule.kind == "fixed_monthly" else "yearly"
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
    premium = env.settings.resident_premium
    return Outcome(
        phrases=_say(
            "channels",
            year=Value("year", env.settings.resident_premium_year),
            amount=Value("amount", premium),
        )
    )


def agents_open(env, call, _):
    region = env.regions[call.line]
    if regions_module.agents_open(region, env.now.astimezone(CHINA_TIME)):
        return Outcome()
    return Outcome(ok=False, goto="closed")


def agent_hours(env, call, _):
    region = env.regions[call.line]
    return Outcome(phrases=_say("agent_hours", hours=Value("hours", region.agent_hours)))


def registry():
    """Return every action the flow may name, with the outcomes each may return."""
    return (
        Actions(prompts=PROMPTS)
        .add("switch_language", switch_language)
        .add("identify_by_id", identify_by_id, outcomes=("locked",))
        .add("identify_by_card", identify_by_card, outcomes=("locked",))
        .add("verify_pin", verify_pin, outcomes=("locked", "unidentified", "too_many"))
        .add("balance", balance)
        .add("history", history)
        .add("credit", credit)
        .add("channels", channels)
        .add("agents_open", agents_open, outcomes=("closed",))
        .add("agent_hours", agent_hours)
    )
