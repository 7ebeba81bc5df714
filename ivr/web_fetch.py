"""Fetch another app's TwiML for the web dialer (IVR_DIAL_ANY_URL=1) without lending it our trust.

Anyone's browser chooses the URL, so the server must not become their way in: requests are
signed with a token of the dialer's own (public, shown on the page), never the operator's;
no connection after the first request (an HTTP redirect, a <Redirect>, an action, a <Play>)
may reach a private, loopback or link-local address unless its host is the dialled host or
this line's configured public host; and a body that is not TwiML is never shown as it came.
The address is checked on the socket itself, once connected and before a byte is sent, so a
name that resolves one way for a check and another way for the connection gains nothing,
and a URL is read by the HTTP client's own parser (urllib3's), never by a second one. A
fetch ends after Twilio's 15 s in all, however slowly the other app drips its answer, and
reads at most 64 KiB of TwiML (Twilio's limit) or 8 MiB of audio.
"""

import hashlib
import hmac
import ipaddress
import socket
import threading
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter
from softphone.interpreter import FetchError
from softphone.interpreter import Reply
from urllib3.connection import HTTPConnection
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from softphone import dialer

MAX_REDIRECTS = 10
REDIRECTS = (301, 302, 303, 307)  # the ones Twilio follows (error 11216 lists them)
MAX_AUDIO = 8 * 1024 * 1024  # a prompt's audio; more is not a phone call
MAX_TWIML = 64 * 1024  # Twilio's limit for a TwiML document; more costs memory, not words
PLAIN_NOTICE = (
    "[This URL answered text/plain ({size} bytes). Twilio would read it aloud; the web dialer "
    "does not show another server's text.]"
)


class Refused(OSError):
    """A connection reached an address the call may not reach."""


def dial_token(secret_key):
    """The token the dialer signs other apps' requests with: public, stable, not the operator's."""
    digest = hmac.new(str(secret_key).encode(), b"ivr web dialer: dial any URL", hashlib.sha256)
    return "dialer-" + digest.hexdigest()[:32]


def origin(url):
    """`(host, port)` of a URL as the HTTP client reads it, the port filled in from the scheme."""
    parts = parse_url(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.host or "").lower().strip("[]"), port


def is_private(address):
    """Whether an IP address is not on the public internet."""
    parsed = ipaddress.ip_address(address.split("%")[0])
    if parsed.version == 6 and parsed.ipv4_mapped:
        parsed = parsed.ipv4_mapped
    return not parsed.is_global


class Watch:
    """The sockets of one fetch: each checked once connected, all cut when time is up."""

    def __init__(self, trusted):
        self.trusted = trusted  # hosts whose private addresses the call may reach
        self.sockets = []
        self.timed_out = False
        self.refused = None  # why a connection was refused, for the caller's error
        self.lock = threading.Lock()

    def connected(self, host, port, sock):
        """Refuse the socket if it reached a private address the call may not reach."""
        address = sock.getpeername()[0]
        if is_private(address) and ((host or "").lower().strip("[]"), port) not in self.trusted:
            sock.close()
            self.refused = f"refused {host}: a private address"
            raise Refused(self.refused)
        with self.lock:
            if self.timed_out:
                sock.close()
                raise TimeoutError("the fetch ran out of time")
            self.sockets.append(sock)

    def cut(self):
        """Time is up: wake whatever waits on a socket of this fetch."""
        with self.lock:
            self.timed_out = True
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def watched_session(watch):
    """A requests session whose every connection reports to `watch` before it is used."""

    def connection(base):
        class Connection(base):
            def _new_conn(self):
                sock = super()._new_conn()
                watch.connected(self.host, self.port, sock)
                return sock

        return Connection

    class HTTPPool(HTTPConnectionPool):
        ConnectionCls = connection(HTTPConnection)

    class HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = connection(HTTPSConnection)

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": HTTPPool, "https": HTTPSPool}

    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: the peer must be the host
    for scheme in ("http://", "https://"):
        session.mount(scheme, Adapter(max_retries=0))
    return session


def guarded_fetch(dialled_url, public_url, token):
    """Return a fetch function for another app: signed with `token`, kept off private addresses.

    The dialled URL itself may be private (the operator allowed dialling any URL, e.g. an app
    on the developer's own machine); its host and the line's configured public host
    (IVR_PUBLIC_URL, never the Host a client sent) are the only hosts whose private
    addresses the call may reach afterwards. Twilio follows 3xx redirects; so does this, hop
    by hop, each connection checked.
    """
    trusted = {origin(dialled_url)} | ({origin(public_url)} if public_url else set())

    def check(url):
        try:
            parts = parse_url(url)
        except LocationParseError:
            raise FetchError(11200, "refused a URL that does not parse") from None
        if parts.scheme not in ("http", "https"):
            raise FetchError(11200, f"refused {parts.scheme or 'a'} URL: only http and https")
        if parts.auth is not None or "\\" in url or not parts.host:
            raise FetchError(11200, "refused a URL with a user name, a backslash or no host")

    def fetch(method, url, params):
        watch = Watch(trusted)
        session = watched_session(watch)
        timer = threading.Timer(dialer.TIMEOUT, watch.cut)
        timer.daemon = True
        timer.start()
        try:
            return follow(session, watch, method, url, params)
        finally:
            timer.cancel()
            session.close()

    def follow(session, watch, method, url, params):
        for _ in range(MAX_REDIRECTS + 1):
            check(url)
            signed_url, headers = dialer.signed(method, url, params, token)
            data = params if method == "POST" else None
            try:
                response = session.request(
                    method,
                    signed_url,
                    data=data,
                    headers=headers,
                    timeout=(dialer.CONNECT_TIMEOUT, dialer.TIMEOUT),
                    allow_redirects=False,
                    stream=True,
                )
                body = read(response)
            except requests.RequestException as error:
                if watch.refused:
                    raise FetchError(11200, watch.refused) from None
                if not (watch.timed_out or isinstance(error, requests.Timeout)):
                    message = f"HTTP retrieval failure for {url}: {type(error).__name__}"
                    raise FetchError(11200, message) from None
            if watch.timed_out:  # a cut read may also end as if the body were whole
                raise FetchError(11205, f"no answer from {url} within {dialer.TIMEOUT} s")
            if 300 <= response.status_code < 400:
                url, method, params = redirected(response, signed_url, method, params)
                continue
            content_type = response.headers.get("Content-Type", "")
            if content_type.split(";")[0].strip().lower() == "text/plain":
                body = PLAIN_NOTICE.format(size=len(body)).encode()
            return Reply(response.status_code, content_type, body, url)
        raise FetchError(11200, f"more than {MAX_REDIRECTS} redirects from {url}")

    return fetch


def redirected(response, url, method, params):
    """The next request after a 3xx: Twilio follows 301, 302, 303 and 307 only (else 11216).

    Which method Twilio uses after a 301 or 302 to a POST is not documented; this does as
    browsers and requests do (GET, no body), and keeps the method for 307.
    """
    location = response.headers.get("Location")
    if response.status_code not in REDIRECTS or not location:
        raise FetchError(11216, f"HTTP invalid redirect ({response.status_code}) from {url}")
    if response.status_code != 307 and method == "POST":
        method, params = "GET", {}
    return urljoin(url, location), method, params


def read(response):
    """The body: at most 8 MiB of audio, at most 64 KiB of anything else (TwiML)."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    limit = MAX_AUDIO if kind.startswith("audio/") else MAX_TWIML
    body = b""
    for chunk in response.iter_content(16 * 1024):
        body += chunk
        if len(body) > limit:
            response.close()
            raise FetchError(11200, f"the answer is larger than {limit // 1024} KiB")
    return body
