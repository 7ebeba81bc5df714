"""The shapes the dialog, the actions and the hotline share, so none of them imports another."""

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """What an action made of its input: accepted, refused (with why), or a named outcome.

    `page` moves the caller to another page of a paged answer (history); only the dialog
    writes it into the call. `last` says the answer has no further page to offer. `left` is
    how many tries the action's own budgets still allow (the account's lock, the caller's
    cap): the dialog announces the smaller of it and the node's, so no try is promised twice.
    """

    ok: bool = True
    phrases: tuple = ()
    goto: str | None = None
    page: int | None = None
    last: bool = False
    left: int | None = None


@dataclass(frozen=True)
class Gather:
    """Input the line waits for at a node."""

    node: str
    timeout: int
    num_digits: int | None
    secret: bool = False
    finish_on_key: str = "#"


@dataclass(frozen=True)
class Turn:
    """What the caller hears, then: wait for keys, join a queue, or hang up.

    `trace` names the nodes entered, keys taken and failure exits of this turn, for coverage.
    """

    phrases: tuple = ()
    gather: Gather | None = None
    queue: str | None = None
    hangup: bool = False
    lang: str = "zh"
    trace: tuple = ()


@dataclass(frozen=True)
class Speech:
    """One phrase as the caller will hear it: its text, in play mode its audio's path, and
    its language (which voice says it: the language offer is in the other language)."""

    text: str
    path: str | None = None
    lang: str | None = None  # None: the turn's language


@dataclass(frozen=True)
class Spoken:
    """What the line answers one request with: the turn, its speeches, and the sealed state
    the caller's next request must bring back (None when the call ends here)."""

    turn: Turn
    speeches: tuple
    state: str | None = None


@dataclass(frozen=True)
class Settings:
    """The operator's settings that the line's behaviour depends on."""

    secret_key: str
    default_lang: str = "zh"
    max_pin_tries: int = 3
    lockout_minutes: int = 30
    max_caller_pin_failures: int = 5  # wrong PINs one caller may give across numbers
    resident_premium: str = "400"
    pin_hash_cost: int = 2**14  # scrypt N of a PIN the caller sets on the line

    @classmethod
    def from_config(cls, config):
        return cls(
            secret_key=config["SECRET_KEY"],
            default_lang=config["IVR_DEFAULT_LANG"],
            max_pin_tries=config["IVR_MAX_PIN_TRIES"],
            lockout_minutes=config["IVR_LOCKOUT_MINUTES"],
            max_caller_pin_failures=config["IVR_MAX_CALLER_PIN_FAILURES"],
            resident_premium=config["IVR_RESIDENT_PREMIUM"],
            pin_hash_cost=config["IVR_PIN_HASH_COST"],
        )


@dataclass(frozen=True)
class Env:
    """What an action reaches during one request: the store, the regions, the settings, the time."""

    store: object
    regions: object
    settings: Settings
    now: dt.datetime
    caller: str | None = None  # the request's From, as Twilio sent it


class Actions:
    """The named actions a flow may run, each with the outcome names it may return.

    Built explicitly and handed to the hotline; a name added twice is refused, never replaced.
    """

    def __init__(self, prompts=()):
        self.prompts = tuple(prompts)  # the prompt keys the actions speak
        self._functions = {}
        self._outcomes = {}

    def add(self, name, function, outcomes=()):
        if name in self._functions:
            raise ValueError(f"action {name!r} is registered twice")
        self._functions[name] = function
        self._outcomes[name] = tuple(outcomes)
        return self

    def outcomes(self):
        """Each action name with its outcomes, for the flow validator."""
        return dict(self._outcomes)

    def run(self, name, env, call, value):
        return self._functions[name](env, call, value)

    def __contains__(self, name):
        return name in self._functions
