"""Fetch another app's TwiML for the web dialer (IVR_DIAL_ANY_URL=1) without lending it our trust.

Anyone's browser chooses the URL, so the server must not become their way in: requests are
signed with a token of the dialer's own (public, shown on the page), never the operator's;
no request after the first (an HTTP redirect, a <Redirect>, an action, a <Play>) may go to a
private, loopback or link-local address unless it is the dialled host or this app; and a body
that is not TwiML is never shown as it came.
"""

import hashlib
import hmac
import ipaddress
import socket
from urllib.parse import urljoin
from urllib.parse import urlsplit

import requests
from softphone.interpreter import FetchError
from softphone.interpreter import Reply

from softphone import dialer

MAX_REDIRECTS = 10
REDIRECTS = (301, 302, 303, 307)  # the ones Twilio follows (error 11216 lists them)
MAX_BYTES = 8 * 1024 * 1024  # a TwiML document or a prompt's audio; more is not a phone call
PLAIN_NOTICE = (
    "[This URL answered text/plain ({size} bytes). Twilio would read it aloud; the web dialer "
    "does not show another server's text.]"
)


def dial_token(secret_key):
    """The token the dialer signs other apps' requests with: public, stable, not the operator's."""
    digest = hmac.new(str(secret_key).encode(), b"ivr web dialer: dial any URL", hashlib.sha256)
    return "dialer-" + digest.hexdigest()[:32]


def origin(url):
    """`(host, port)` of a URL, the port filled in from the scheme."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.hostname or "").lower(), port


def is_private(host):
    """Whether a host name resolves to any address that is not on the public internet."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False  # it will not connect either; requests reports that as 11200
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            return True
    return False


def guarded_fetch(dialled_url, app_url, token):
    """Return a fetch function for another app: signed with `token`, kept off private addresses.

    The dialled URL itself may be private (the operator allowed dialling any URL, e.g. an app
    on the developer's own machine); its host and this app's are the only private hosts the
    call may reach afterwards. Twilio follows 3xx redirects; so does this, hop by hop, checking
    each (the address is resolved again when connecting, so a name that changes its address
    between the two could slip through: a residual risk, documented in the README).
    """
    trusted = {origin(dialled_url), origin(app_url)}
    session = requests.Session()

    def check(url):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(11200, f"refused {parts.scheme or 'a'} URL: only http and https")
        if origin(url) not in trusted and is_private(parts.hostname or ""):
            raise FetchError(11200, f"refused {parts.hostname}: a private address")

    def fetch(method, url, params):
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
            except requests.Timeout:
                raise FetchError(11205, f"no answer from {url} within {dialer.TIMEOUT} s") from None
            except requests.RequestException as error:
                message = f"HTTP retrieval failure for {url}: {type(error).__name__}"
                raise FetchError(11200, message) from None
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
    """The body, at most MAX_BYTES of it."""
    body = b""
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > MAX_BYTES:
            response.close()
            raise requests.RequestException("the answer is larger than 8 MiB")
    return body
