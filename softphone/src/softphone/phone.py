"""A phone for scripts and tests: dial, press keys, and read what the caller heard."""

from softphone import dialer
from softphone.interpreter import Call
from softphone.interpreter import Keys


class Phone:
    """Dial a TwiML app and talk to it the way a caller does.

        phone.dial().press("9").press("1").press("1").enter("11010519491231002*#")
        phone.enter("123456#")
        assert "1,234 yuan 56 fen" in phone.heard

    Args:
        fetch: how requests reach the app (dialer.app_fetch or dialer.http_fetch).
        url: the Voice URL to dial.
    """

    def __init__(self, fetch, url, **call_options):
        self.fetch, self.url, self.call_options = fetch, url, call_options
        self.call = None
        self.mark = 0

    @classmethod
    def for_app(cls, app, url="http://localhost/voice", token=None, **call_options):
        """A phone wired to a Flask app in-process, signing with the app's auth token."""
        fetch = dialer.app_fetch(app, token)
        return cls(fetch, url, measure=dialer.measurer(fetch), **call_options)

    @classmethod
    def for_url(cls, url, token=None, **call_options):
        """A phone that dials a URL over real HTTP."""
        fetch = dialer.http_fetch(token)
        return cls(fetch, url, measure=dialer.measurer(fetch), **call_options)

    def dial(self, to="12333", **options):
        """Ring the line and listen until it waits for keys (or ends)."""
        self.call = Call(self.url, self.fetch, to=to, **{**self.call_options, **options})
        self.mark = 0
        self.call.start()
        return self

    def press(self, keys, at=None):
        """Press keys at the waiting prompt: "1", "110105194912310021#"; `at` barges in."""
        return self._answer(Keys.parse(keys) if at is None else Keys(keys=keys, at=at))

    enter = press

    def wait(self):
        """Press nothing and let the prompt time out."""
        return self._answer(Keys())

    def speak(self, text):
        """Say words at the waiting prompt, for a <Gather input="speech">."""
        return self._answer(Keys(speech=text))

    def hangup(self):
        self.mark = self.call.mark()
        self.call.hangup()
        return self

    def _answer(self, keys):
        if self.call is None:
            raise RuntimeError("dial first")
        if self.call.ended:
            raise AssertionError(f"the call has ended; it last said: {self.heard!r}")
        self.mark = self.call.mark()
        self.call.send(keys)
        return self

    @property
    def heard(self):
        """Everything said since the last key press (or since dialing), as one text."""
        return "\n".join(self.call.heard(self.mark))

    @property
    def transcript(self):
        """Everything said on the call."""
        return "\n".join(self.call.heard())

    @property
    def events(self):
        return self.call.events

    @property
    def ended(self):
        return self.call.ended

    def last(self, kind):
        """Return the last event of a kind (say, gather, keys, transfer, error...), or None."""
        return next((e for e in reversed(self.call.events) if e.kind == kind), None)
