"""The number's settings, as Twilio's console keeps them beside a phone number.

One set of names serves the command line (`--method GET`) and a scenario's `dial:`
(`method: GET`), so a call made by hand, saved, and replayed in a test rings the app the same way.
"""

import secrets
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import fields
from dataclasses import replace

from softphone.hold import DIAL_ANSWERS

METHODS = ("POST", "GET")
DEFAULT_TO = "12333"
# A test number block of Chinese mobiles; the last four digits are drawn per call (see caller).
CALLER_PREFIX = "+861380013"


def default_caller():
    """A fresh caller number per call, so no two calls share an app's per-caller limits."""
    return CALLER_PREFIX + f"{secrets.randbelow(10_000):04d}"


@dataclass(frozen=True)
class Number:
    """How a call reaches the app: the Voice URL's method, callbacks, and who answers."""

    to: str = DEFAULT_TO
    caller: str | None = None  # the From number; None: a fresh one per call
    method: str = "POST"
    status_callback: str | None = None
    fallback_url: str | None = None
    answer: str | None = None  # what a <Dial>ed number does (DialCallStatus)
    agent_after: float | None = None  # seconds until an agent takes a queued caller

    def call_options(self):
        """The Call's keyword arguments for these settings."""
        options = {k: v for k, v in asdict(self).items() if v is not None}
        options["caller"] = self.caller or default_caller()
        return options

    def as_dial(self):
        """The settings as a scenario's `dial:` writes them (defaults left out)."""
        written = {}
        for name, value in asdict(self).items():
            default = NUMBER_DEFAULTS[name]
            if value is not None and value != default:
                written[DIAL_NAMES.get(name, name)] = value
        return written


NUMBER_DEFAULTS = {f.name: f.default for f in fields(Number)}
DIAL_NAMES = {"caller": "from"}  # the scenario's word for an attribute, where they differ


def from_dial(dial, base=None):
    """The settings a scenario's `dial:` names (checked against the schema), over `base`'s.

    `base` is what the command line gave; a scenario's own `dial:` wins where it names one.
    """
    given = {
        name: dial[DIAL_NAMES.get(name, name)]
        for name in NUMBER_DEFAULTS
        if DIAL_NAMES.get(name, name) in dial
    }
    if "to" in given:
        given["to"] = str(given["to"])
    if "agent_after" in given:
        given["agent_after"] = float(given["agent_after"])
    return replace(base or Number(), **given)


def add_arguments(parser):
    """Add the number's settings to a command's parser."""
    parser.add_argument("--to", default=DEFAULT_TO, help="the dialled number, e.g. 0991-12333")
    parser.add_argument(
        "--from",
        dest="caller",
        help=f"the caller ID (default: a new {CALLER_PREFIX}NNNN for each call)",
    )
    parser.add_argument(
        "--method", default="POST", choices=METHODS, help="how the Voice URL is requested (POST)"
    )
    parser.add_argument("--status-callback", help="URL to POST when the call ends")
    parser.add_argument("--fallback-url", help="URL to POST when a webhook fails")
    parser.add_argument(
        "--agent-after",
        type=float,
        metavar="SECONDS",
        help="an agent answers a caller waiting in a queue after this long (default: never)",
    )
    parser.add_argument(
        "--answer",
        choices=DIAL_ANSWERS,
        help="what a <Dial>ed number does (DialCallStatus; default: no-answer)",
    )


def from_args(args):
    """The settings the command line gave."""
    return Number(**{name: getattr(args, name) for name in NUMBER_DEFAULTS})
