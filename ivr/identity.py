"""Who a caller is: ID-number checksum, card-number format, PIN hashes, lockouts, masking."""

import base64
import datetime as dt
import functools
import hashlib
import hmac
import logging
import re
import secrets
import threading
import traceback

from ivr import deadline

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
# [0-9], not \d: \d also matches full-width and other scripts' digits, which no phone can key.
CARD_PATTERN = re.compile(r"[0-9]{9,19}")
PIN_PATTERN = re.compile(r"[0-9]{6}")
# scrypt at n=2**14, r=8 costs ~16 MiB and tens of milliseconds: slow for a guesser, fine per call.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1


class IdentityError(ValueError):
    """An identifier or PIN that cannot be right, with the reason in plain words."""


class PinFromAccount(IdentityError):
    """A new PIN taken from the account itself: its birth date, or its ID or card number."""


def id_check_character(body):
    """Return the GB 11643 (ISO 7064 MOD 11-2) check character for 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(body, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def normalize_id(keyed):
    """Turn what a caller keyed (X as `*`) or a file holds into an 18-character ID, or raise.

    Only the checksum and the birth date are checked, never the area code: area codes are
    those at issue time, and a table check refuses real retirees (see domain-12333.md).
    """
    number = keyed.strip().upper().replace("*", "X")
    if len(number) != 18:
        raise IdentityError("an ID number has 18 characters")
    if not number.isascii():
        raise IdentityError("an ID number has only the digits 0-9 and X")
    body, check = number[:17], number[17]
    if not body.isdigit() or not (check.isdigit() or check == "X"):
        raise IdentityError("only the last character of an ID number may be X")
    try:
        birth = dt.date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        raise IdentityError("the birth date in the ID number is not a real date") from None
    if birth.year < 1900 or birth > dt.date.today():
        raise IdentityError("the birth date in the ID number is out of range")
    if id_check_character(body) != check:
        raise IdentityError("the check character of the ID number is wrong")
    return number


def birth_date(id_number):
    """Return the birth date held in a valid ID number."""
    return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def normalize_card(keyed):
    """Return a social-security card number (9 to 19 digits, keyed as digits only), or raise."""
    number = keyed.strip()
    if not CARD_PATTERN.fullmatch(number):
        raise IdentityError("a card number has 9 to 19 digits")
    return number


def classify_number(keyed):
    """Tell what a caller keyed apart by form and checksum: ("id" | "card", number), or raise.

    18 characters with a valid GB 11643 check character is an ID number; 9 to 19 digits
    otherwise is a card number (an 18-digit card that also checks as an ID is looked up as
    both by the caller of this).
    """
    if len(keyed.strip()) == 18:
        try:
            return "id", normalize_id(keyed)
        except IdentityError:
            pass
    return "card", normalize_card(keyed)


def check_new_pin(pin, numbers=(), born=None):
    """Refuse a new PIN that is easy to guess, or that comes from the account itself.

    Easy: one digit repeated, a run up or down (wrapping, 789012), a pattern repeated
    (121212, 123123), pairs (112233), a mirror (123321), two digits only (112112). From the
    account: six digits in a row of its ID or card number (`numbers`), or the birth date
    (`born`) as people write it (YYMMDD, DDMMYY, MMDDYY, YYYYMM, MMYYYY); those raise
    PinFromAccount, so the caller can be told which rule the PIN broke.
    """
    check_pin_format(pin)
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:], strict=False)}
    easy = (
        (len(steps) == 1 and steps <= {0, 1, 9})
        or pin == pin[:2] * 3
        or pin == pin[:3] * 2
        or pin[0::2] == pin[1::2]
        or pin == pin[::-1]
        or len(set(pin)) <= 2
    )
    if easy:
        raise IdentityError("a PIN of repeated digits, a run or a pattern is easy to guess")
    if any(pin in number for number in numbers if number):
        raise PinFromAccount("a PIN taken from the ID or card number is easy to guess")
    if born is not None and pin in birth_date_forms(born):
        raise PinFromAccount("a PIN made of the birth date is easy to guess")


def birth_date_forms(born):
    """The six-digit ways a birth date is written."""
    y4, y2 = f"{born.year:04d}", f"{born.year % 100:02d}"
    m, d = f"{born.month:02d}", f"{born.day:02d}"
    return {y2 + m + d, d + m + y2, m + d + y2, y4 + m, m + y4}


def check_pin_format(pin):
    """Raise unless the PIN is exactly six digits."""
    if not PIN_PATTERN.fullmatch(pin or ""):
        raise IdentityError("a query PIN has exactly 6 digits")


def hash_pin(pin, n=SCRYPT_N, salt=None):
    """Return a salted scrypt hash of a PIN, self-describing so the cost can change later.

    `salt` (16 bytes) is random unless given (see salt_after).
    """
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    encoded = [base64.b64encode(part).decode() for part in (salt, digest)]
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${encoded[0]}${encoded[1]}"


def salt_after(previous_hash, key):
    """The salt of a new PIN's hash, derived from the hash it replaces (keyed, unique like it):
    a change then says which PIN it was checked against, so it lands only if that one holds."""
    return hmac.new(key.encode(), previous_hash.encode(), hashlib.sha256).digest()[:16]


def replaces(new_hash, previous_hash, key):
    """Whether a new PIN's hash was made to replace this one (see salt_after)."""
    try:
        salt = base64.b64decode(new_hash.split("$")[4])
    except (IndexError, ValueError):
        return False
    return hmac.compare_digest(salt, salt_after(previous_hash, key))


# One PIN hash at a time in a process. A flood of PIN entries then waits here, holding a
# thread but no CPU, and the process's other threads keep answering menu steps.
HASHING = threading.BoundedSemaphore(1)


def verify_pin(pin, stored):
    """Return whether a PIN matches its stored hash, in constant time."""
    try:
        _, n, r, p, salt, digest = stored.split("$")
        salt, digest = base64.b64decode(salt), base64.b64decode(digest)
        # The queue is waited for no longer than the webhook has left (ivr.deadline).
        if not HASHING.acquire(timeout=deadline.left()):
            raise deadline.Expired("no time left to check a PIN")
        try:
            candidate = hashlib.scrypt(
                pin.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(digest)
            )
        finally:
            HASHING.release()
    except (ValueError, AttributeError):
        return False
    return hmac.compare_digest(candidate, digest)


# A real hash to check against when no account matches, so that unknown numbers
# cost the same time as wrong PINs and timing does not reveal which accounts exist: "000000"
# at the production cost, written out so that no process (a CLI, each worker) pays for
# hashing it as it starts. test_identity checks it is what it says.
DECOY_HASH = (
    "scrypt$16384$8$1$rWwJXiXDVnnRsURiTaL2uw==$nVzNocb0xPGuyTGpv7KLf8Swfavj7pXZrh+myFFd1Vo="
)


@functools.lru_cache(maxsize=8)
def decoy_hash(n=SCRYPT_N):
    """Return the decoy at scrypt cost `n`, so an unknown number costs what a known one does.

    At another cost than the default (IVR_PIN_HASH_COST) a fixed decoy would answer in
    another time than the accounts hashed at that cost: a timing oracle for which exist.
    """
    return DECOY_HASH if n == SCRYPT_N else hash_pin("000000", n=n)


def subject(kind, number, key):
    """Name what a lockout counts, without storing it: a keyed hash of kind and value.

    `kind` is "account" (a known account, whichever number named it: one lock for both
    routes), "id" or "card" (an unknown number, locked by itself just like a real one, so the
    answers never reveal which numbers exist), or "call" / "caller" (a caller's wrong PINs
    across numbers).
    """
    message = f"{kind}:{number}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def is_locked(locked_until, now):
    """Return whether a lockout is still running."""
    return locked_until is not None and now < locked_until


# What Twilio sends as From when the caller ID is withheld: the words, or (on older calls)
# the words spelled on a keypad. None of these names one caller, so none is counted.
WITHHELD = {"266696687", "7378742833", "2562533", "8656696", "86282452253"}
PHONE_NUMBER = re.compile(r"\+?([0-9]{7,15})")


def caller_number(from_):
    """Return a caller's number when From is a real phone number, else None."""
    match = PHONE_NUMBER.fullmatch((from_ or "").strip())
    if match is None or match.group(1) in WITHHELD:
        return None
    return match.group(1)


def mask(number):
    """Show only the last 4 characters of an ID or card number: ****002X."""
    text = str(number or "")
    return "*" * max(len(text) - 4, 0) + text[-4:]


LONG_NUMBER = re.compile(r"\d{5,}[\dXx*]*|\d[\dXx*]{8,}")


def mask_text(text):
    """Mask every long run of digits in free text (log lines) to its last 4."""
    return LONG_NUMBER.sub(lambda match: mask(match.group()), text)


class MaskNumbers(logging.Filter):
    """Mask long digit runs in a log record, its arguments and its traceback.

    A traceback can quote a number (a database error echoes its query), so the record's
    exception is formatted here, masked, and kept as text.
    """

    def filter(self, record):
        record.msg = mask_text(record.getMessage())
        record.args = None
        if record.exc_info:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_text = mask_text(text)
            record.exc_info = None
        return True


def logger(name):
    """Return a module's logger, with numbers masked in everything it writes."""
    log = logging.getLogger(name)
    if not any(isinstance(f, MaskNumbers) for f in log.filters):
        log.addFilter(MaskNumbers())
    return log
