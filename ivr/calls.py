"""Per-call state, sealed into the URL the caller's next request comes back on.

Twilio posts each input to the action URL of the Gather it answers, so the state a call
needs next can travel in that URL: encrypted and authenticated (AES-GCM, keyed from
SECRET_KEY), bound to the CallSid, expiring with Twilio's longest call, padded to one
length. A menu step then touches no database, any worker on any host can take it, and a
restart loses nothing. Only the end of a call is kept in the store, so that a replayed
request of an ended call is refused what it asked for.
"""

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import operator
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Twilio ends a call after 4 hours by default; a sealed state lives no longer than that.
MAX_CALL = dt.timedelta(hours=4)
STATE_PARAM = "s"  # the query parameter of an action URL that carries the sealed state
NONCE_BYTES = 12
# Every state is sealed at this length (AES-GCM keeps the plaintext's length): an unknown
# number's state ({"pending_account_id": null}) and a known one's (a row id) must give URLs
# of one length, or the URL tells which numbers exist. The longest real state is ~310 bytes.
SEALED_LENGTH = 512


@dataclass
class CallState:
    """What the line remembers between two requests of one call. No PIN, no full number.

    The dialog owns where the call is (node, tries, page, intent); the actions own who the
    caller is (subject, pending_account_id, last4, account_id, route) and the language, and a
    PIN change under way (pin_checked: the old PIN was right; new_pin_hash: the new PIN,
    hashed as the store keeps it, until the caller confirms).
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
    route: str | None = None  # "id" or "card": what the caller keyed to be identified
    pin_checked: bool = False
    new_pin_hash: str | None = None
    last_page: bool = False  # the answer spoken last had no further page (its retry says so)
    keyed: bool = False  # a failed try at this node had keys: its end is not "no input"

    @property
    def knows_the_caller(self):
        """Whether the call holds anything about who is calling (a number, an account, or the
        last 4 of one: a lost-card report un-identifies a call that still speaks them)."""
        return bool(self.subject or self.account_id or self.last4)


FIELDS = tuple(f.name for f in dataclasses.fields(CallState) if f.name != "call_sid")
sealed_values = operator.attrgetter(*FIELDS)  # a call's state as a tuple, in FIELDS order


def new_call(call_sid, lang, line, now):
    """Start the state of a call that has just rung."""
    return CallState(call_sid=call_sid, lang=lang, line=line, started_at=int(now.timestamp()))


class Sealer:
    """Seal a call's state into a URL-safe token, and open it again for the same call only."""

    def __init__(self, secret_key):
        key = hashlib.sha256(b"ivr call state\0" + secret_key.encode()).digest()
        self.aead = AESGCM(key)

    def seal(self, call):
        """Return the call's state as a token readable by no one but this line."""
        plain = json.dumps(sealed_values(call), separators=(",", ":"))
        plain += " " * (-len(plain) % SEALED_LENGTH)  # JSON ignores trailing blanks
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.aead.encrypt(nonce, plain.encode(), call.call_sid.encode())
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def open(self, token, call_sid, now):
        """Return the state a token holds, or None: forged, another call's, or expired."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
            plain = self.aead.decrypt(nonce, sealed, call_sid.encode())
            values = json.loads(plain)
            if not isinstance(values, list) or len(values) != len(FIELDS):
                return None
            call = CallState(call_sid, *values)
        except (ValueError, TypeError, InvalidTag):
            return None
        if now.timestamp() - call.started_at > MAX_CALL.total_seconds():
            return None
        return call
