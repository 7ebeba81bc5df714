"""What the softphone dials: a URL over HTTP, or a WSGI app in-process, with the app's hooks.

The softphone knows nothing of any particular app. An app that wants more than Twilio would
give it (its own speech for recordings, the words of its audio files, its flow for coverage)
hands them over as `Hooks`, set as the `softphone_hooks` attribute of its WSGI object.
"""

import importlib
import inspect
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from softphone import dialer

LOCAL_URL = "http://localhost/voice"  # the Voice URL of an app dialled in-process


@dataclass(frozen=True)
class Hooks:
    """What an app may hand the softphone; every hook is optional."""

    # (text, language) -> pydub AudioSegment: speak a <Say> for --record.
    speak: Callable | None = None
    # audio URL -> the words it says, or None: show a <Play> as words.
    words: Callable | None = None
    # () -> the app's call flow as data, for path coverage (format: see the coverage module).
    flow: Callable | None = None


@dataclass(frozen=True)
class Target:
    """Where calls go: how requests are sent, the Voice URL, and the app's hooks."""

    fetch: Callable
    url: str
    hooks: Hooks = field(default_factory=Hooks)
    in_process: bool = False

    @property
    def measure(self):
        """url -> seconds of audio, fetched once per URL as Twilio caches it."""
        return dialer.measurer(self.fetch)


def over_http(url, token=None):
    """A target reached over real HTTP, signed with `token`."""
    return Target(dialer.http_fetch(token), url)


def in_process(app, token=None, url=LOCAL_URL):
    """A target that is a WSGI app in this process (Flask's test client), with its hooks."""
    hooks = getattr(app, "softphone_hooks", None) or Hooks()
    return Target(dialer.app_fetch(app, token), url, hooks, in_process=True)


def load_app(spec=None, quiet=False):
    """Import the app named `module:attribute`, as `flask --app` does (default: app:app).

    $SOFTPHONE_APP names another. A callable that is not a WSGI app yet (a factory) is called.
    `quiet` keeps the app's start-up log (warnings meant for its operator) off the terminal.
    """
    spec = spec or os.environ.get("SOFTPHONE_APP") or "app:app"
    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `flask --app` does: the app lives where you stand
    if quiet:
        logging.disable(logging.WARNING)
    try:
        module = importlib.import_module(module_name)
        app = getattr(module, attribute or "app")
        if _is_factory(app):
            app = app()
    finally:
        if quiet:
            logging.disable(logging.NOTSET)
    return app


def _is_factory(app):
    """A callable that takes no arguments makes the app; a WSGI app takes (environ, start)."""
    if hasattr(app, "wsgi_app") or not callable(app):
        return False
    try:
        parameters = inspect.signature(app).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return not [p for p in parameters if p.kind in positional and p.default is p.empty]
