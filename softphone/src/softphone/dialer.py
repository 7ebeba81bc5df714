"""Send webhooks as Twilio does: signed with X-Twilio-Signature, 15 s limit, redirects followed."""

import io
import os
import re
import sys
import wave
from urllib.parse import unquote
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import mutagen
import requests
from requests.utils import requote_uri
from twilio.request_validator import RequestValidator

from softphone import codes
from softphone.interpreter import FetchError
from softphone.interpreter import Reply

TIMEOUT = 15  # Twilio waits 15 s in all for a webhook's answer (error 11205)
CONNECT_TIMEOUT = 10
# With no auth token configured, requests are still signed, with this placeholder,
# so an app that checks signatures fails loudly (403) instead of silently.
PLACEHOLDER_TOKEN = "softphone-no-auth-token"


def signed(method, url, params, token):
    """Return the URL to request and the headers, signed exactly as Twilio signs.

    The URL is signed as it goes out: percent-encoded (a non-ASCII path or query is sent
    encoded, so an app validates what it received) and, over HTTPS, without the default
    port (Twilio signs voice webhooks without :443; twilio's validator tries both forms).
    """
    url = requote_uri(url)
    if method == "GET":
        if params:
            joiner = "&" if urlsplit(url).query else "?"
            url = url + joiner + urlencode(params)
        params = {}
    signature = RequestValidator(token or PLACEHOLDER_TOKEN).compute_signature(
        without_default_port(url), params
    )
    return url, {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1 (softphone)"}


def without_default_port(url):
    """The URL without :443 on https (Twilio's voice signature leaves it out)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.port == 443:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]))
    return url


def http_fetch(token=None, timeout=TIMEOUT):
    """Return a fetch function that sends real HTTP requests."""
    session = requests.Session()

    def fetch(method, url, params, extra_headers=None):
        url, headers = signed(method, url, params, token)
        headers = {**headers, **(extra_headers or {})}  # e.g. a <Play>'s revalidation
        data = params if method == "POST" else None
        try:
            response = session.request(
                method, url, data=data, headers=headers, timeout=(CONNECT_TIMEOUT, timeout)
            )
        except requests.Timeout:
            raise FetchError(11205, f"no answer from {url} within {timeout} s") from None
        except requests.RequestException as error:
            raise FetchError(11200, f"HTTP retrieval failure for {url}: {reason(error)}") from None
        return Reply(
            response.status_code,
            response.headers.get("Content-Type", ""),
            response.content,
            response.url,
            dict(response.headers),
        )

    return fetch


def reason(error):
    """Why a request failed, in a few words: "Connection refused", else the error's kind."""
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(error))
    return f"{type(error).__name__}: {found.group(1).strip()}" if found else type(error).__name__


def app_fetch(app, token=None):
    """Return a fetch function that calls any WSGI app in-process, with no server and no Flask."""
    config = getattr(app, "config", None) or {}
    token = token if token is not None else config.get("TWILIO_AUTH_TOKEN")

    def fetch(method, url, params, extra_headers=None):
        url, headers = signed(method, url, params, token)
        headers = {**headers, **(extra_headers or {})}  # e.g. a <Play>'s revalidation
        body = urlencode(params).encode() if method == "POST" else b""
        status, response_headers, content = call_wsgi(app, method, url, headers, body)
        return Reply(
            status, response_headers.get("Content-Type", ""), content, url, response_headers
        )

    return fetch


def call_wsgi(app, method, url, headers, body):
    """Send one request to a WSGI app as a server would; return status, headers and body."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(parts.path, "latin-1") or "/",
        "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname or "localhost",
        "SERVER_PORT": str(parts.port or (443 if secure else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": parts.netloc,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if method == "POST":
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started["status"], started["headers"] = status, response_headers
        return lambda data: None  # the legacy write() callable; no app of ours uses it

    chunks = app(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return int(started["status"].split()[0]), dict(started["headers"]), content


def duration_of(body):
    """Return the seconds of audio in a file's bytes, reading its headers: no decoder needed.

    WAV through the standard library; MP3, AIFF and the rest through mutagen, which reads
    lengths from frame headers, so a machine without ffmpeg measures them too. None: the
    bytes are no audio either knows.
    """
    try:
        with wave.open(io.BytesIO(body)) as audio:
            return audio.getnframes() / audio.getframerate()
    except (wave.Error, EOFError):
        pass
    try:
        audio = mutagen.File(io.BytesIO(body))
    except mutagen.MutagenError:
        return None
    length = getattr(getattr(audio, "info", None), "length", None)
    return float(length) if length else None


def measurer(fetch):
    """Return url -> seconds, fetching each audio file once with GET, as Twilio does.

    A file that cannot be fetched raises FetchError 11200; one that is no audio (by its
    Content-Type, or bytes no reader knows) raises 13420, Play's Invalid Content-Type. The
    call shows it as a warning and plays nothing (Twilio logs the error and goes on).
    """
    cache = {}

    def measure(url):
        if url not in cache:
            cache[url] = _measure(fetch, url)
        if isinstance(cache[url], FetchError):
            raise cache[url]
        return cache[url]

    return measure


def _measure(fetch, url):
    try:
        reply = fetch("GET", url, {})
    except FetchError as error:
        return error
    if not 200 <= reply.status < 300:
        return FetchError(codes.HTTP_RETRIEVAL, f"the audio {url} answered HTTP {reply.status}")
    kind = (reply.content_type or "").split(";")[0].strip().lower()
    seconds = duration_of(reply.body) if kind.startswith("audio/") else None
    if seconds is None:
        what = f"is {kind or 'untyped'}" if not kind.startswith("audio/") else "is not audio"
        return FetchError(codes.PLAY_TYPE, f"the audio {url} {what}: nothing plays")
    return seconds


def default_token():
    """The auth token to sign with: TWILIO_AUTH_TOKEN from the environment, if any."""
    return os.environ.get("TWILIO_AUTH_TOKEN") or None
