"""Budgets for the web dialer: how often one client may start calls or try PINs.

The dialer is a phone anyone's browser can use, so without a budget it is a PIN checker
that never tires (two guesses per number lock nothing). Budgets live in this process, as
the dialer's calls do; the line's own lockout still counts every wrong PIN in the store.
"""

import datetime as dt
import math
import threading
from collections import deque

WINDOW = dt.timedelta(minutes=1)
MAX_CLIENTS = 10_000  # addresses remembered at once; the quietest are forgotten first


class Budget:
    """At most `limit` uses per client in any minute (a sliding window)."""

    def __init__(self, limit):
        self.limit = limit
        self.uses = {}
        self.lock = threading.Lock()

    def take(self, client, now):
        """Spend one use; return 0 if allowed, else the seconds until the next is."""
        with self.lock:
            uses = self.uses.setdefault(client, deque())
            while uses and now - uses[0] >= WINDOW:
                uses.popleft()
            if len(uses) >= self.limit:
                return max(1, math.ceil((uses[0] + WINDOW - now).total_seconds()))
            uses.append(now)
            self.forget(now)
            return 0

    def forget(self, now):
        """Drop clients with nothing in the window, and the oldest when too many are kept."""
        if len(self.uses) <= MAX_CLIENTS:
            return
        for client in [c for c, uses in self.uses.items() if not uses or now - uses[-1] >= WINDOW]:
            del self.uses[client]
        while len(self.uses) > MAX_CLIENTS:
            del self.uses[next(iter(self.uses))]
