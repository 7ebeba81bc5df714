"""The time one webhook has left: every wait below it (the store, the PIN-hash queue) is cut
to it, so a caller hears the busy message inside Twilio's 15 s however many waits there are.

    with deadline.within(10):
        ...  # deadline.left(5) is at most 5, and never more than what remains of the 10 s
"""

import contextlib
import threading
import time


class Expired(RuntimeError):
    """The webhook's time is up: nothing more may wait."""


_current = threading.local()


@contextlib.contextmanager
def within(seconds):
    """Run the block under a deadline `seconds` from now (an outer, earlier one still holds)."""
    outer = getattr(_current, "at", None)
    at = time.monotonic() + seconds
    _current.at = at if outer is None else min(outer, at)
    try:
        yield
    finally:
        _current.at = outer


def left(cap=None):
    """Seconds a wait may take: `cap` (None: no bound), or less when the webhook's is nearer.

    Raises Expired when nothing is left, so a step past its deadline never starts a wait.
    """
    at = getattr(_current, "at", None)
    if at is None:
        return cap
    remaining = at - time.monotonic()
    if remaining <= 0:
        raise Expired("the webhook's deadline has passed")
    return remaining if cap is None else min(cap, remaining)


def active():
    """Whether a webhook's deadline runs in this thread."""
    return getattr(_current, "at", None) is not None
