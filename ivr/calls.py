"""Per-call state keyed by CallSid, kept in the store so any worker can take the next request."""

import datetime as dt
from dataclasses import asdict
from dataclasses import dataclass

from ivr.store import epoch

# Rows untouched this long belong to calls that ended without a status callback.
CALL_RETENTION = dt.timedelta(hours=6)


@dataclass
class CallState:
    """What the line remembers between two requests of one call. No PIN, no full number.

    The dialog owns where the call is (node, tries, page, intent); the actions own who the
    caller is (subject, pending_account_id, last4, account_id) and the language.
    """

    call_sid: str
    lang: str
    line: str
    node: str | None = None
    tries: int = 0
    page: int = 0
    intent: str | None = None
    subject: str | None = None
    pending_account_id: int | None = None
    last4: str | None = None
    account_id: int | None = None
    started_at: int = 0
    updated_at: int = 0
    ended_at: int | None = None


def new_call(call_sid, lang, line, now):
    """Start the state of a call that has just rung."""
    return CallState(
        call_sid=call_sid, lang=lang, line=line, started_at=epoch(now), updated_at=epoch(now)
    )


def load_call(store, call_sid):
    """Return the stored call, or None for an unknown (or missing) CallSid."""
    if not call_sid:
        return None
    row = store.load_call(call_sid)
    return None if row is None else CallState(**row)


def save_call(store, call, now):
    """Store the call's state; a request without a CallSid keeps nothing."""
    if not call.call_sid:
        return
    call.updated_at = epoch(now)
    store.save_call(asdict(call))


def end_call(store, call_sid, now):
    """Close a call when Twilio reports it over, and drop old rows."""
    if call_sid:
        store.end_call(call_sid, now)
    store.purge_calls(now - CALL_RETENTION)
